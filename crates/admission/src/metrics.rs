//! The metric events of admission, under upstream PSA's names and labels. The server turns
//! them into Prometheus counters.

use podsec_policy::{Level, LevelVersion, Version};

/// The request labels every upstream metric carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestLabels<'a> {
    /// `create`, `update`, …
    pub operation: &'static str,
    /// `pod`, `namespace` or `controller`.
    pub resource: &'static str,
    pub subresource: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricDecision {
    Allow,
    Deny,
}

impl MetricDecision {
    pub fn label(self) -> &'static str {
        match self {
            MetricDecision::Allow => "allow",
            MetricDecision::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Enforce,
    Audit,
    Warn,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
            Mode::Warn => "warn",
        }
    }
}

/// Upstream's `policy_version` label: `latest` for latest and privileged, the version if not
/// newer than the newest podsec knows, else `future`.
pub fn policy_version_label(policy: LevelVersion) -> String {
    match policy.version {
        Version::Latest => "latest".into(),
        _ if policy.level == Level::Privileged => "latest".into(),
        Version::Minor(m) if m <= podsec_policy::pss::NEWEST_MINOR => policy.version.to_string(),
        Version::Minor(_) => "future".into(),
    }
}

/// Receives admission's metric events.
pub trait Recorder: Send + Sync {
    fn evaluation(
        &self,
        decision: MetricDecision,
        policy: LevelVersion,
        mode: Mode,
        request: RequestLabels<'_>,
    );
    fn exemption(&self, request: RequestLabels<'_>);
    fn error(&self, fatal: bool, request: RequestLabels<'_>);
    /// One Gatekeeper constraint evaluated on one request.
    fn constraint(&self, _evaluated: &podsec_constraints::Evaluated<'_>) {}
}

/// A recorder that drops everything, for callers without metrics (the CLI).
pub struct NoMetrics;

impl Recorder for NoMetrics {
    fn evaluation(&self, _: MetricDecision, _: LevelVersion, _: Mode, _: RequestLabels<'_>) {}
    fn exemption(&self, _: RequestLabels<'_>) {}
    fn error(&self, _: bool, _: RequestLabels<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_labels() {
        let lv = |l, v| LevelVersion::new(l, v);
        assert_eq!(
            policy_version_label(lv(Level::Restricted, Version::Latest)),
            "latest"
        );
        assert_eq!(
            policy_version_label(lv(Level::Privileged, Version::Minor(3))),
            "latest"
        );
        assert_eq!(
            policy_version_label(lv(Level::Baseline, Version::Minor(30))),
            "v1.30"
        );
        assert_eq!(
            policy_version_label(lv(Level::Baseline, Version::Minor(99))),
            "future"
        );
    }
}
