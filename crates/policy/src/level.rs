//! Pod Security Standards levels and policy versions, parsed as upstream PSA parses them.

use std::fmt;

/// A Pod Security Standards level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Privileged, Level::Baseline, Level::Restricted];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// Parses a level label value. Like upstream, an invalid value yields the error text and
    /// leaves the caller to choose the fallback (enforce fails closed, audit and warn fail open).
    pub fn parse(value: &str) -> Result<Level, ParseError> {
        match value {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err(ParseError::Level),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy version: `v1.N` or `latest`. `latest` is newer than every numbered version.
///
/// Which checks a version selects is the check registry's business: `effective_minor`, which
/// clamps `latest` and future versions to the newest known one, is defined with the registry in
/// `pss`, so this module depends on no check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Minor(u32),
    Latest,
}

impl Version {
    /// Parses `latest` or `v1.N` (no leading zeros), the only forms upstream accepts.
    pub fn parse(value: &str) -> Result<Version, ParseError> {
        if value == "latest" {
            return Ok(Version::Latest);
        }
        let minor = value.strip_prefix("v1.").ok_or(ParseError::Version)?;
        let well_formed = !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
            && (minor == "0" || !minor.starts_with('0'));
        if !well_formed {
            return Err(ParseError::Version);
        }
        // Upstream's strconv.Atoi fails on overflow; so do we.
        minor
            .parse::<u32>()
            .map(Version::Minor)
            .map_err(|_| ParseError::Version)
    }

    pub fn is_latest(self) -> bool {
        self == Version::Latest
    }

    /// Upstream's `Older`: true when `self` is strictly older than `other`.
    pub fn older(self, other: Version) -> bool {
        match (self, other) {
            (Version::Latest, _) => false,
            (_, Version::Latest) => true,
            (Version::Minor(a), Version::Minor(b)) => a < b,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Minor(m) => write!(f, "v1.{m}"),
            Version::Latest => f.write_str("latest"),
        }
    }
}

/// A level at a version, printed as upstream prints it (`restricted:v1.30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    pub fn new(level: Level, version: Version) -> Self {
        LevelVersion { level, version }
    }

    /// Upstream's `Equivalent`: all privileged policies are equivalent regardless of version.
    pub fn equivalent(&self, other: &LevelVersion) -> bool {
        (self.level == Level::Privileged && other.level == Level::Privileged) || self == other
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// Why a level or version label value was rejected; the texts are upstream's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("must be one of privileged, baseline, restricted")]
    Level,
    #[error("must be \"latest\" or \"v1.x\"")]
    Version,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_like_upstream() {
        assert_eq!(Version::parse("latest"), Ok(Version::Latest));
        assert_eq!(Version::parse("v1.0"), Ok(Version::Minor(0)));
        assert_eq!(Version::parse("v1.37"), Ok(Version::Minor(37)));
        assert_eq!(Version::parse("v1.99"), Ok(Version::Minor(99)));
        for bad in [
            "",
            "v1",
            "v1.",
            "v1.01",
            "1.2",
            "v2.0",
            "v1.2.3",
            "V1.2",
            "v1.-1",
            "v1.+1",
            "v1.99999999999999999999",
            " v1.2",
            "Latest",
        ] {
            assert_eq!(Version::parse(bad), Err(ParseError::Version), "{bad:?}");
        }
        assert_eq!(
            ParseError::Version.to_string(),
            r#"must be "latest" or "v1.x""#
        );
    }

    #[test]
    fn parses_levels_like_upstream() {
        assert_eq!(Level::parse("baseline"), Ok(Level::Baseline));
        assert_eq!(Level::parse("Baseline"), Err(ParseError::Level));
        assert_eq!(
            ParseError::Level.to_string(),
            "must be one of privileged, baseline, restricted"
        );
    }

    #[test]
    fn future_versions_print_as_given() {
        let lv = LevelVersion::new(Level::Restricted, Version::Minor(99));
        assert_eq!(lv.to_string(), "restricted:v1.99");
    }

    #[test]
    fn latest_is_newer_than_everything() {
        assert!(Version::Minor(1000).older(Version::Latest));
        assert!(!Version::Latest.older(Version::Minor(1000)));
        assert!(!Version::Latest.older(Version::Latest));
        assert!(Version::Minor(1).older(Version::Minor(2)));
    }
}
