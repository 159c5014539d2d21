//! A namespace's Pod Security policy, read from its labels as upstream `PolicyToEvaluate` does.

use std::collections::BTreeMap;
use std::fmt;

use crate::level::{Level, LevelVersion, ParseError, Version};
use crate::text::go_quote;

pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

/// Every Pod Security Admission namespace label, in upstream's order of reporting.
pub const LABELS: [&str; 6] = [
    ENFORCE_LEVEL_LABEL,
    ENFORCE_VERSION_LABEL,
    AUDIT_LEVEL_LABEL,
    AUDIT_VERSION_LABEL,
    WARN_LEVEL_LABEL,
    WARN_VERSION_LABEL,
];

/// The three modes' policies for one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
}

impl Default for Policy {
    /// Upstream's defaults with no configuration: privileged, latest, in every mode.
    fn default() -> Self {
        let privileged = LevelVersion::new(Level::Privileged, Version::Latest);
        Policy {
            enforce: privileged,
            audit: privileged,
            warn: privileged,
        }
    }
}

/// A label whose value could not be parsed. Displays as upstream's field error:
/// `metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "x": must be one of …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    pub label: &'static str,
    pub value: String,
    pub error: ParseError,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metadata.labels[{}]: Invalid value: {}: {}",
            self.label,
            go_quote(&self.value),
            self.error
        )
    }
}

impl Policy {
    /// Reads the policy from namespace labels; missing labels take `defaults`. Invalid values
    /// are reported, and fall back as upstream does: enforce to restricted (fail closed),
    /// audit and warn to privileged (fail open), versions to latest. Without a warn label, a
    /// valid enforce level stricter than warn raises warn to it (and its version, unless a
    /// warn version is given).
    pub fn from_labels(
        labels: &BTreeMap<String, String>,
        defaults: Policy,
    ) -> (Policy, Vec<LabelError>) {
        let mut p = defaults;
        let mut errors = Vec::new();
        let mut error = |label: &'static str, value: &str, error: ParseError| {
            errors.push(LabelError {
                label,
                value: value.to_string(),
                error,
            });
        };
        let mut has_enforce_level = false;
        if let Some(value) = labels.get(ENFORCE_LEVEL_LABEL) {
            match Level::parse(value) {
                Ok(level) => {
                    p.enforce.level = level;
                    has_enforce_level = true;
                }
                Err(e) => {
                    p.enforce.level = Level::Restricted;
                    error(ENFORCE_LEVEL_LABEL, value, e);
                }
            }
        }
        let mut parse_version = |label: &'static str, target: &mut Version| {
            if let Some(value) = labels.get(label) {
                *target = Version::parse(value).unwrap_or_else(|e| {
                    error(label, value, e);
                    Version::Latest
                });
            }
        };
        parse_version(ENFORCE_VERSION_LABEL, &mut p.enforce.version);
        parse_version(AUDIT_VERSION_LABEL, &mut p.audit.version);
        parse_version(WARN_VERSION_LABEL, &mut p.warn.version);
        for (label, target) in [
            (AUDIT_LEVEL_LABEL, &mut p.audit.level),
            (WARN_LEVEL_LABEL, &mut p.warn.level),
        ] {
            if let Some(value) = labels.get(label) {
                *target = Level::parse(value).unwrap_or_else(|e| {
                    error(label, value, e);
                    Level::Privileged
                });
            }
        }
        let has_warn_level = labels.contains_key(WARN_LEVEL_LABEL);
        if !has_warn_level && has_enforce_level && p.enforce.level > p.warn.level {
            p.warn.level = p.enforce.level;
            if !labels.contains_key(WARN_VERSION_LABEL) {
                p.warn.version = p.enforce.version;
            }
        }
        // Upstream reports errors in label order: enforce, enforce-version, audit,
        // audit-version, warn, warn-version.
        errors.sort_by_key(|e| LABELS.iter().position(|l| *l == e.label));
        (p, errors)
    }

    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }

    /// Upstream `Equivalent`: every mode equivalent.
    pub fn equivalent(&self, other: &Policy) -> bool {
        self.enforce.equivalent(&other.enforce)
            && self.audit.equivalent(&other.audit)
            && self.warn.equivalent(&other.warn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn lv(level: Level, version: Version) -> LevelVersion {
        LevelVersion::new(level, version)
    }

    #[test]
    fn missing_labels_take_defaults() {
        let defaults = Policy {
            enforce: lv(Level::Baseline, Version::Minor(30)),
            ..Policy::default()
        };
        let (p, errors) = Policy::from_labels(&BTreeMap::new(), defaults);
        assert_eq!(p, defaults);
        assert!(errors.is_empty());
    }

    #[test]
    fn invalid_values_fail_closed_for_enforce_and_open_for_audit_and_warn() {
        let (p, errors) = Policy::from_labels(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "strict"),
                (ENFORCE_VERSION_LABEL, "1.25"),
                (AUDIT_LEVEL_LABEL, "x"),
                (WARN_LEVEL_LABEL, "y"),
                (WARN_VERSION_LABEL, "v1.x"),
            ]),
            Policy::default(),
        );
        assert_eq!(p.enforce, lv(Level::Restricted, Version::Latest));
        assert_eq!(p.audit.level, Level::Privileged);
        assert_eq!(p.warn, lv(Level::Privileged, Version::Latest));
        let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.25": must be "latest" or "v1.x""#,
                r#"metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "x": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "y": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v1.x": must be "latest" or "v1.x""#,
            ]
        );
    }

    #[test]
    fn warn_follows_a_stricter_valid_enforce() {
        let (p, _) = Policy::from_labels(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "restricted"),
                (ENFORCE_VERSION_LABEL, "v1.30"),
            ]),
            Policy::default(),
        );
        assert_eq!(p.warn, lv(Level::Restricted, Version::Minor(30)));
        let (p, _) = Policy::from_labels(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "baseline"),
                (WARN_VERSION_LABEL, "v1.20"),
            ]),
            Policy::default(),
        );
        assert_eq!(p.warn, lv(Level::Baseline, Version::Minor(20)));
        let (p, _) = Policy::from_labels(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "restricted"),
                (WARN_LEVEL_LABEL, "baseline"),
            ]),
            Policy::default(),
        );
        assert_eq!(p.warn.level, Level::Baseline);
        // An invalid enforce label (restricted by fallback) does not raise warn.
        let (p, _) = Policy::from_labels(
            &labels(&[(ENFORCE_LEVEL_LABEL, "bogus")]),
            Policy::default(),
        );
        assert_eq!(p.warn.level, Level::Privileged);
    }

    #[test]
    fn privileged_policies_are_equivalent_whatever_the_version() {
        let a = Policy::default();
        let mut b = Policy::default();
        b.enforce.version = Version::Minor(3);
        assert!(a.equivalent(&b));
        assert!(a.fully_privileged());
        b.audit.level = Level::Baseline;
        assert!(!a.equivalent(&b));
    }
}
