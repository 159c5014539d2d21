//! The per-field strategies of a PodSecurityPolicy (`pkg/security/podsecuritypolicy/*`).
//!
//! Every strategy has the plugin's shape, the [`Strategy`] trait: built from its part of the
//! policy (by its own constructor, failing with a [`StrategyError`] as the plugin's factory
//! did), it generates the default a pod is given and validates the value a pod has. The
//! provider decides where in the pod each value lives and when a default applies.

use std::collections::BTreeSet;
use std::convert::Infallible;

use super::field::{BadValue, FieldError};
use super::model::{
    GroupStrategyOptions, IdRange, RunAsUserStrategyOptions, SeLinuxStrategyOptions,
};
use crate::pod::{Capabilities, SeLinuxOptions};

/// A PodSecurityPolicy strategy, as the plugin's `user.RunAsUserStrategy`,
/// `group.GroupStrategy`, `selinux.SELinuxStrategy`, `capabilities.Strategy`,
/// `apparmor.Strategy`, `seccomp.Strategy` and `sysctl.SysctlsStrategy` each were.
pub(super) trait Strategy {
    /// The pod's value the strategy judges, borrowed from the pod.
    type Value<'a>;
    /// What the strategy sets on a pod that lacks the value.
    type Generated;

    /// The plugin's `Generate`: the default for a pod whose current value is `current`, or
    /// `None` when the strategy sets nothing.
    fn generate(&self, current: Self::Value<'_>) -> Option<Self::Generated>;

    /// The plugin's `Validate`: the field errors for `value`, reported at `path`.
    fn validate(&self, path: &str, value: Self::Value<'_>) -> Vec<FieldError>;
}

/// Why a strategy cannot be built from a policy: the plugin's factory errors, in its words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum StrategyError {
    /// A rule the strategy does not know; `strategy` is the plugin's name for it (`FSGroup`).
    #[error("Unrecognized {strategy} strategy type {rule}")]
    UnknownRule {
        strategy: &'static str,
        rule: String,
    },
    /// runAsUser `MustRunAs` without ranges.
    #[error("MustRunAs requires at least one range")]
    UserRangesMissing,
    /// A group `MustRunAs` or `MayRunAs` (the `rule`) without ranges.
    #[error("ranges must be supplied for {rule}")]
    GroupRangesMissing { rule: &'static str },
    /// seLinux `MustRunAs` without `seLinuxOptions`.
    #[error("MustRunAs requires SELinuxOptions")]
    SeLinuxOptionsMissing,
}

/// `%v` of `[]IDRange`: `[{1000 2000} {3000 3000}]`.
pub(super) fn ranges_text(ranges: &[IdRange]) -> String {
    let items: Vec<String> = ranges
        .iter()
        .map(|r| format!("{{{} {}}}", r.min, r.max))
        .collect();
    format!("[{}]", items.join(" "))
}

/// `%#v` of a `[]int64`.
pub(super) fn int64_slice(values: &[i64]) -> BadValue {
    if values.is_empty() {
        // Webhook input cannot tell nil from empty (omitempty); upstream sees nil.
        BadValue::Raw("[]int64(nil)".into())
    } else {
        let items: Vec<String> = values.iter().map(ToString::to_string).collect();
        BadValue::Raw(format!("[]int64{{{}}}", items.join(", ")))
    }
}

/// `%#v` of a `[]core.Capability`.
pub(super) fn capability_slice(values: &[String]) -> BadValue {
    if values.is_empty() {
        BadValue::Raw("[]core.Capability(nil)".into())
    } else {
        let items: Vec<String> = values.iter().map(|v| crate::text::go_quote(v)).collect();
        BadValue::Raw(format!("[]core.Capability{{{}}}", items.join(", ")))
    }
}

fn in_ranges(id: i64, ranges: &[IdRange]) -> bool {
    ranges.iter().any(|r| id >= r.min && id <= r.max)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UserRule {
    MustRunAs,
    MustRunAsNonRoot,
    RunAsAny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupRule {
    MustRunAs,
    MayRunAs,
    RunAsAny,
}

/// A group strategy (fsGroup, supplementalGroups, runAsGroup).
#[derive(Debug, Clone)]
pub(super) struct GroupStrategy {
    pub rule: GroupRule,
    pub ranges: Vec<IdRange>,
}

impl GroupStrategy {
    /// The plugin's `create*GroupStrategy`; `what` names the field in errors (`FSGroup`).
    pub fn build(
        options: &GroupStrategyOptions,
        what: &'static str,
    ) -> Result<GroupStrategy, StrategyError> {
        let rule = match options.rule.as_str() {
            "MustRunAs" => GroupRule::MustRunAs,
            "MayRunAs" => GroupRule::MayRunAs,
            "RunAsAny" => GroupRule::RunAsAny,
            other => {
                return Err(StrategyError::UnknownRule {
                    strategy: what,
                    rule: other.to_string(),
                })
            }
        };
        if rule != GroupRule::RunAsAny && options.ranges.is_empty() {
            let rule = if rule == GroupRule::MustRunAs {
                "MustRunAs"
            } else {
                "MayRunAs"
            };
            return Err(StrategyError::GroupRangesMissing { rule });
        }
        Ok(GroupStrategy {
            rule,
            ranges: options.ranges.clone(),
        })
    }

    pub fn run_as_any() -> GroupStrategy {
        GroupStrategy {
            rule: GroupRule::RunAsAny,
            ranges: Vec::new(),
        }
    }
}

impl Strategy for GroupStrategy {
    /// The pod's groups (none, or one for fsGroup and runAsGroup).
    type Value<'a> = &'a [i64];
    type Generated = i64;

    /// `GenerateSingle`: the default for fsGroup and runAsGroup, and the one group
    /// supplementalGroups gets.
    fn generate(&self, _current: Self::Value<'_>) -> Option<i64> {
        match self.rule {
            GroupRule::MustRunAs => self.ranges.first().map(|r| r.min),
            _ => None,
        }
    }

    fn validate(&self, path: &str, groups: Self::Value<'_>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self.rule {
            GroupRule::RunAsAny => return errors,
            GroupRule::MustRunAs if groups.is_empty() => {
                errors.push(FieldError::invalid(
                    path,
                    int64_slice(groups),
                    "unable to validate empty groups against required ranges",
                ));
            }
            _ => {}
        }
        for g in groups {
            if !in_ranges(*g, &self.ranges) {
                errors.push(FieldError::invalid(
                    path,
                    int64_slice(groups),
                    format!(
                        "group {g} must be in the ranges: {}",
                        ranges_text(&self.ranges)
                    ),
                ));
            }
        }
        errors
    }
}

/// The runAsUser strategy.
#[derive(Debug, Clone)]
pub(super) struct UserStrategy {
    pub rule: UserRule,
    pub ranges: Vec<IdRange>,
}

impl UserStrategy {
    /// The plugin's `createUserStrategy`.
    pub fn build(options: &RunAsUserStrategyOptions) -> Result<UserStrategy, StrategyError> {
        let rule = match options.rule.as_str() {
            "MustRunAs" => UserRule::MustRunAs,
            "MustRunAsNonRoot" => UserRule::MustRunAsNonRoot,
            "RunAsAny" => UserRule::RunAsAny,
            other => {
                return Err(StrategyError::UnknownRule {
                    strategy: "RunAsUser",
                    rule: other.to_string(),
                })
            }
        };
        if rule == UserRule::MustRunAs && options.ranges.is_empty() {
            return Err(StrategyError::UserRangesMissing);
        }
        Ok(UserStrategy {
            rule,
            ranges: options.ranges.clone(),
        })
    }
}

impl Strategy for UserStrategy {
    /// The container's effective `(runAsNonRoot, runAsUser)`.
    type Value<'a> = (Option<bool>, Option<i64>);
    type Generated = i64;

    fn generate(&self, _current: Self::Value<'_>) -> Option<i64> {
        match self.rule {
            UserRule::MustRunAs => self.ranges.first().map(|r| r.min),
            _ => None,
        }
    }

    /// `sc_path` is the container's `securityContext` path.
    fn validate(&self, sc_path: &str, value: Self::Value<'_>) -> Vec<FieldError> {
        let (run_as_non_root, run_as_user) = value;
        match self.rule {
            UserRule::RunAsAny => Vec::new(),
            UserRule::MustRunAs => match run_as_user {
                None => vec![FieldError::required(format!("{sc_path}.runAsUser"), "")],
                Some(u) if !in_ranges(u, &self.ranges) => vec![FieldError::invalid(
                    format!("{sc_path}.runAsUser"),
                    BadValue::Int(u),
                    format!("must be in the ranges: {}", ranges_text(&self.ranges)),
                )],
                Some(_) => Vec::new(),
            },
            UserRule::MustRunAsNonRoot => {
                if run_as_non_root.is_none() && run_as_user.is_none() {
                    vec![FieldError::required(
                        format!("{sc_path}.runAsNonRoot"),
                        "must be true",
                    )]
                } else if run_as_non_root == Some(false) {
                    vec![FieldError::invalid(
                        format!("{sc_path}.runAsNonRoot"),
                        BadValue::Bool(false),
                        "must be true",
                    )]
                } else if run_as_user == Some(0) {
                    vec![FieldError::invalid(
                        format!("{sc_path}.runAsUser"),
                        BadValue::Int(0),
                        "running with the root UID is forbidden",
                    )]
                } else {
                    Vec::new()
                }
            }
        }
    }
}

/// The SELinux strategy: `None` is RunAsAny, `Some(options)` MustRunAs.
#[derive(Debug, Clone)]
pub(super) struct SeLinuxStrategy {
    pub must_run_as: Option<SeLinuxOptions>,
}

impl SeLinuxStrategy {
    /// The plugin's `createSELinuxStrategy`.
    pub fn build(options: &SeLinuxStrategyOptions) -> Result<SeLinuxStrategy, StrategyError> {
        match options.rule.as_str() {
            "RunAsAny" => Ok(SeLinuxStrategy { must_run_as: None }),
            "MustRunAs" => match &options.se_linux_options {
                Some(o) => Ok(SeLinuxStrategy {
                    must_run_as: Some(o.clone()),
                }),
                None => Err(StrategyError::SeLinuxOptionsMissing),
            },
            other => Err(StrategyError::UnknownRule {
                strategy: "SELinuxContext",
                rule: other.to_string(),
            }),
        }
    }
}

impl Strategy for SeLinuxStrategy {
    type Value<'a> = Option<&'a SeLinuxOptions>;
    type Generated = SeLinuxOptions;

    fn generate(&self, _current: Self::Value<'_>) -> Option<SeLinuxOptions> {
        self.must_run_as.clone()
    }

    fn validate(&self, path: &str, options: Self::Value<'_>) -> Vec<FieldError> {
        let Some(want) = &self.must_run_as else {
            return Vec::new();
        };
        let Some(got) = options else {
            return vec![FieldError::required(path, "")];
        };
        let mut errors = Vec::new();
        if !equal_levels(&want.level, &got.level) {
            errors.push(FieldError::invalid(
                format!("{path}.level"),
                BadValue::Str(got.level.clone()),
                format!("must be {}", want.level),
            ));
        }
        for (name, w, g) in [
            ("role", &want.role, &got.role),
            ("type", &want.type_, &got.type_),
            ("user", &want.user, &got.user),
        ] {
            if w != g {
                errors.push(FieldError::invalid(
                    format!("{path}.{name}"),
                    BadValue::Str(g.clone()),
                    format!("must be {w}"),
                ));
            }
        }
        errors
    }
}

/// MCS levels are equal if identical, or with the same sensitivity and category set.
fn equal_levels(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (Some((sa, ca)), Some((sb, cb))) = (a.split_once(':'), b.split_once(':')) else {
        return false;
    };
    if sa != sb {
        return false;
    }
    let mut ca: Vec<&str> = ca.split(',').collect();
    let mut cb: Vec<&str> = cb.split(',').collect();
    ca.sort_unstable();
    cb.sort_unstable();
    ca == cb
}

/// The capabilities strategy.
#[derive(Debug, Clone)]
pub(super) struct CapabilitiesStrategy {
    pub default_add: Vec<String>,
    pub required_drop: Vec<String>,
    pub allowed: Vec<String>,
}

impl CapabilitiesStrategy {
    /// The plugin's `createCapabilitiesStrategy`.
    pub fn new(
        default_add: &[String],
        required_drop: &[String],
        allowed: &[String],
    ) -> CapabilitiesStrategy {
        CapabilitiesStrategy {
            default_add: default_add.to_vec(),
            required_drop: required_drop.to_vec(),
            allowed: allowed.to_vec(),
        }
    }
}

impl Strategy for CapabilitiesStrategy {
    type Value<'a> = Option<&'a Capabilities>;
    type Generated = Capabilities;

    /// The container's capabilities after defaulting, or `None` to leave them as they are.
    fn generate(&self, current: Self::Value<'_>) -> Option<Capabilities> {
        let (add, drop) = current
            .map(|c| (c.add.as_slice(), c.drop.as_slice()))
            .unwrap_or_default();
        let add_set: BTreeSet<&str> = add.iter().map(String::as_str).collect();
        let drop_set: BTreeSet<&str> = drop.iter().map(String::as_str).collect();
        let mut combined_add: BTreeSet<&str> = self
            .default_add
            .iter()
            .map(String::as_str)
            .filter(|c| !drop_set.contains(c))
            .collect();
        combined_add.extend(add_set.iter().copied());
        let mut combined_drop: BTreeSet<&str> =
            self.required_drop.iter().map(String::as_str).collect();
        combined_drop.extend(drop_set.iter().copied());
        if combined_add.len() == add_set.len() && combined_drop.len() == drop_set.len() {
            return None;
        }
        Some(Capabilities {
            add: combined_add.into_iter().map(String::from).collect(),
            drop: combined_drop.into_iter().map(String::from).collect(),
        })
    }

    fn validate(&self, path: &str, caps: Self::Value<'_>) -> Vec<FieldError> {
        let Some(caps) = caps else {
            if self.default_add.is_empty() && self.required_drop.is_empty() {
                return Vec::new();
            }
            return vec![FieldError::invalid(
                path,
                BadValue::Null,
                "required capabilities are not set on the securityContext",
            )];
        };
        if self.allowed.iter().any(|c| c == "*") {
            return Vec::new();
        }
        let mut errors = Vec::new();
        for c in &caps.add {
            if !self.default_add.contains(c) && !self.allowed.contains(c) {
                errors.push(FieldError::invalid(
                    format!("{path}.add"),
                    BadValue::Str(c.clone()),
                    "capability may not be added",
                ));
            }
        }
        for r in &self.required_drop {
            if !caps.drop.contains(r) {
                errors.push(FieldError::invalid(
                    format!("{path}.drop"),
                    capability_slice(&caps.drop),
                    format!("{r} is required to be dropped but was not found"),
                ));
            }
        }
        errors
    }
}

/// The AppArmor strategy, from the PSP's annotations.
#[derive(Debug, Clone, Default)]
pub(super) struct AppArmorStrategy {
    pub default_profile: String,
    /// `None`: no allowed-profiles annotation (anything goes).
    pub allowed: Option<BTreeSet<String>>,
    pub allowed_text: String,
}

pub(super) const APPARMOR_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
pub(super) const SECCOMP_POD: &str = "seccomp.security.alpha.kubernetes.io/pod";
pub(super) const SECCOMP_CONTAINER_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

impl AppArmorStrategy {
    /// The plugin's `createAppArmorStrategy`, from the allowed-profiles and default-profile
    /// annotations.
    pub fn new(allowed: Option<&str>, default_profile: Option<&str>) -> AppArmorStrategy {
        AppArmorStrategy {
            default_profile: default_profile.unwrap_or("").to_string(),
            allowed: allowed.map(|a| a.split(',').map(String::from).collect()),
            allowed_text: allowed.unwrap_or("").to_string(),
        }
    }
}

impl Strategy for AppArmorStrategy {
    /// The container's profile annotation (empty when unset).
    type Value<'a> = &'a str;
    type Generated = String;

    fn generate(&self, current: Self::Value<'_>) -> Option<String> {
        (current.is_empty() && !self.default_profile.is_empty())
            .then(|| self.default_profile.clone())
    }

    fn validate(&self, path: &str, profile: Self::Value<'_>) -> Vec<FieldError> {
        let Some(allowed) = &self.allowed else {
            return Vec::new();
        };
        if profile.is_empty() {
            return (!allowed.is_empty())
                .then(|| FieldError::forbidden(path, "AppArmor profile must be set"))
                .into_iter()
                .collect();
        }
        (!allowed.contains(profile))
            .then(|| {
                FieldError::forbidden(
                    path,
                    format!(
                        "{profile} is not an allowed profile. Allowed values: {}",
                        crate::text::go_quote(&self.allowed_text)
                    ),
                )
            })
            .into_iter()
            .collect()
    }
}

/// The seccomp strategy, from the PSP's annotations (with the 1.19+ fields).
#[derive(Debug, Clone, Default)]
pub(super) struct SeccompStrategy {
    pub default_profile: String,
    pub allow_any: bool,
    pub allowed: BTreeSet<String>,
    pub allowed_text: String,
}

impl SeccompStrategy {
    /// The plugin's `createSeccompStrategy`, from the allowed-profiles and default-profile
    /// annotations.
    pub fn new(allowed: Option<&str>, default_profile: Option<&str>) -> SeccompStrategy {
        let mut s = SeccompStrategy {
            default_profile: default_profile.unwrap_or("").to_string(),
            ..Default::default()
        };
        if let Some(list) = allowed {
            s.allowed_text = list.to_string();
            for p in list.split(',') {
                if p == "*" {
                    s.allow_any = true;
                    continue;
                }
                // Since 1.19.4/1.20 docker/default and runtime/default are interchangeable.
                if p == "docker/default" || p == "runtime/default" {
                    s.allowed.insert("docker/default".into());
                    s.allowed.insert("runtime/default".into());
                }
                s.allowed.insert(p.to_string());
            }
        }
        s
    }

    fn profile_allowed(&self, p: &str) -> bool {
        (self.allowed.is_empty() && p.is_empty()) || self.allow_any || self.allowed.contains(p)
    }
}

impl Strategy for SeccompStrategy {
    /// The profile in effect, as an annotation value (empty when unset).
    type Value<'a> = &'a str;
    type Generated = String;

    fn generate(&self, current: Self::Value<'_>) -> Option<String> {
        (current.is_empty() && !self.default_profile.is_empty())
            .then(|| self.default_profile.clone())
    }

    fn validate(&self, path: &str, profile: Self::Value<'_>) -> Vec<FieldError> {
        if !self.allow_any && self.allowed.is_empty() && !profile.is_empty() {
            return vec![FieldError::forbidden(path, "seccomp may not be set")];
        }
        (!self.profile_allowed(profile))
            .then(|| {
                FieldError::forbidden(
                    path,
                    format!(
                        "{profile} is not an allowed seccomp profile. Valid values are {}",
                        self.allowed_text
                    ),
                )
            })
            .into_iter()
            .collect()
    }
}

/// `SeccompAnnotationForField`: the annotation value a `seccompProfile` field stands for.
pub(super) fn seccomp_annotation_for_field(profile: &crate::pod::SeccompProfile) -> String {
    match profile.type_.as_str() {
        "Unconfined" => "unconfined".into(),
        "RuntimeDefault" => "runtime/default".into(),
        "Localhost" => match profile.localhost_profile.as_deref() {
            Some(p) if !p.is_empty() => format!("localhost/{p}"),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// The sysctl strategy.
#[derive(Debug, Clone, Default)]
pub(super) struct SysctlStrategy {
    pub allowed_unsafe: Vec<String>,
    pub forbidden: Vec<String>,
}

/// Sysctls the kubelet allows without `allowedUnsafeSysctls` (the PSP plugin's safe list).
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];

fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl SysctlStrategy {
    /// The plugin's `createSysctlsStrategy`.
    pub fn new(allowed_unsafe: &[String], forbidden: &[String]) -> SysctlStrategy {
        SysctlStrategy {
            allowed_unsafe: allowed_unsafe.to_vec(),
            forbidden: forbidden.to_vec(),
        }
    }
}

impl Strategy for SysctlStrategy {
    /// One sysctl's name.
    type Value<'a> = &'a str;
    /// Sysctls are never defaulted.
    type Generated = Infallible;

    fn generate(&self, _current: Self::Value<'_>) -> Option<Infallible> {
        None
    }

    fn validate(&self, path: &str, name: Self::Value<'_>) -> Vec<FieldError> {
        if self.forbidden.iter().any(|p| pattern_matches(p, name)) {
            return vec![FieldError::forbidden(
                path,
                format!("sysctl {} is not allowed", crate::text::go_quote(name)),
            )];
        }
        if SAFE_SYSCTLS.contains(&name)
            || self.allowed_unsafe.iter().any(|p| pattern_matches(p, name))
        {
            return Vec::new();
        }
        vec![FieldError::forbidden(
            path,
            format!(
                "unsafe sysctl {} is not allowed",
                crate::text::go_quote(name)
            ),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(errors: Vec<FieldError>) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn groups_validate_like_the_plugin() {
        let must = GroupStrategy {
            rule: GroupRule::MustRunAs,
            ranges: vec![IdRange { min: 1, max: 65535 }],
        };
        let e = must.validate("spec.securityContext.fsGroup", &[]);
        assert_eq!(e[0].to_string(), "spec.securityContext.fsGroup: Invalid value: []int64(nil): unable to validate empty groups against required ranges");
        let e = must.validate("spec.securityContext.supplementalGroups", &[0, 5, 70000]);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].to_string(), "spec.securityContext.supplementalGroups: Invalid value: []int64{0, 5, 70000}: group 0 must be in the ranges: [{1 65535}]");
        let may = GroupStrategy {
            rule: GroupRule::MayRunAs,
            ranges: vec![IdRange { min: 1, max: 2 }],
        };
        assert!(may.validate("p", &[]).is_empty());
        let e = GroupStrategy::build(
            &GroupStrategyOptions {
                rule: "MustRunAs".into(),
                ranges: vec![],
            },
            "FSGroup",
        )
        .expect_err("no ranges");
        assert_eq!(e, StrategyError::GroupRangesMissing { rule: "MustRunAs" });
        assert_eq!(e.to_string(), "ranges must be supplied for MustRunAs");
        let e = GroupStrategy::build(
            &GroupStrategyOptions {
                rule: "Bogus".into(),
                ranges: vec![],
            },
            "FSGroup",
        )
        .expect_err("unknown rule");
        assert_eq!(e.to_string(), "Unrecognized FSGroup strategy type Bogus");
        assert_eq!(must.generate(&[]), Some(1));
        assert_eq!(may.generate(&[]), None);
    }

    #[test]
    fn factory_errors_keep_the_plugins_texts() {
        let user = |rule: &str| {
            UserStrategy::build(&RunAsUserStrategyOptions {
                rule: rule.into(),
                ranges: vec![],
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            user("MustRunAs"),
            Err("MustRunAs requires at least one range".into())
        );
        assert_eq!(
            user("Nope"),
            Err("Unrecognized RunAsUser strategy type Nope".into())
        );
        assert_eq!(user("MustRunAsNonRoot"), Ok(()));
        let selinux = |rule: &str| {
            SeLinuxStrategy::build(&SeLinuxStrategyOptions {
                rule: rule.into(),
                se_linux_options: None,
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            selinux("MustRunAs"),
            Err("MustRunAs requires SELinuxOptions".into())
        );
        assert_eq!(
            selinux("Nope"),
            Err("Unrecognized SELinuxContext strategy type Nope".into())
        );
        assert_eq!(selinux("RunAsAny"), Ok(()));
    }

    #[test]
    fn users_validate_like_the_plugin() {
        let u = UserStrategy {
            rule: UserRule::MustRunAs,
            ranges: vec![
                IdRange {
                    min: 1000,
                    max: 2000,
                },
                IdRange {
                    min: 3000,
                    max: 3000,
                },
            ],
        };
        assert_eq!(u.validate("spec.initContainers[0].securityContext", (None, Some(0)))[0].to_string(),
            "spec.initContainers[0].securityContext.runAsUser: Invalid value: 0: must be in the ranges: [{1000 2000} {3000 3000}]");
        assert_eq!(
            u.validate("s", (None, None))[0].to_string(),
            "s.runAsUser: Required value"
        );
        let nr = UserStrategy {
            rule: UserRule::MustRunAsNonRoot,
            ranges: vec![],
        };
        assert_eq!(
            nr.validate("s", (None, None))[0].to_string(),
            "s.runAsNonRoot: Required value: must be true"
        );
        assert_eq!(
            nr.validate("s", (Some(false), Some(0)))[0].to_string(),
            "s.runAsNonRoot: Invalid value: false: must be true"
        );
        assert_eq!(
            nr.validate("s", (Some(true), Some(0)))[0].to_string(),
            "s.runAsUser: Invalid value: 0: running with the root UID is forbidden"
        );
        assert!(nr.validate("s", (None, Some(1000))).is_empty());
        assert_eq!(u.generate((None, None)), Some(1000));
        assert_eq!(nr.generate((None, None)), None);
    }

    #[test]
    fn selinux_levels_compare_as_sets() {
        assert!(equal_levels("s0:c1,c2", "s0:c2,c1"));
        assert!(!equal_levels("s0:c1,c2", "s1:c1,c2"));
        assert!(!equal_levels("s0:c0, c1", "s0:c0,c1"));
        let s = SeLinuxStrategy {
            must_run_as: Some(SeLinuxOptions {
                user: "u".into(),
                role: "r".into(),
                type_: "t".into(),
                level: "s0".into(),
            }),
        };
        assert_eq!(
            s.validate("spec.securityContext.seLinuxOptions", None)[0].to_string(),
            "spec.securityContext.seLinuxOptions: Required value"
        );
        let got = SeLinuxOptions {
            user: "x".into(),
            role: "r".into(),
            type_: "t".into(),
            level: "s1".into(),
        };
        assert_eq!(
            texts(s.validate("p", Some(&got))),
            [
                r#"p.level: Invalid value: "s1": must be s0"#,
                r#"p.user: Invalid value: "x": must be u"#
            ]
        );
    }

    #[test]
    fn capabilities_default_and_validate() {
        let s = CapabilitiesStrategy {
            default_add: vec!["NET_BIND_SERVICE".into()],
            required_drop: vec!["ALL".into()],
            allowed: vec![],
        };
        let generated = s.generate(None).expect("changed");
        assert_eq!(
            (generated.add, generated.drop),
            (
                vec!["NET_BIND_SERVICE".to_string()],
                vec!["ALL".to_string()]
            )
        );
        let already = crate::pod::Capabilities {
            add: vec!["NET_BIND_SERVICE".into()],
            drop: vec!["ALL".into()],
        };
        assert!(s.generate(Some(&already)).is_none());
        assert_eq!(
            s.validate("c", None)[0].to_string(),
            r#"c: Invalid value: "null": required capabilities are not set on the securityContext"#
        );
        let caps = crate::pod::Capabilities {
            add: vec!["SYS_ADMIN".into()],
            drop: vec!["NET_RAW".into()],
        };
        assert_eq!(
            texts(s.validate("c", Some(&caps))),
            [
                r#"c.add: Invalid value: "SYS_ADMIN": capability may not be added"#,
                r#"c.drop: Invalid value: []core.Capability{"NET_RAW"}: ALL is required to be dropped but was not found"#
            ]
        );
    }

    #[test]
    fn seccomp_and_apparmor_messages() {
        let s = SeccompStrategy::new(Some("docker/default"), None);
        assert!(
            s.validate("p", "runtime/default").is_empty(),
            "docker/default and runtime/default are one profile"
        );
        assert_eq!(
            texts(s.validate("p", "")),
            ["p: Forbidden:  is not an allowed seccomp profile. Valid values are docker/default"]
        );
        let none = SeccompStrategy::new(None, None);
        assert_eq!(
            texts(none.validate("p", "unconfined")),
            ["p: Forbidden: seccomp may not be set"]
        );
        assert!(none.validate("p", "").is_empty());
        assert!(SeccompStrategy::new(Some("*"), None)
            .validate("p", "unconfined")
            .is_empty());
        let defaulting = SeccompStrategy::new(None, Some("runtime/default"));
        assert_eq!(defaulting.generate(""), Some("runtime/default".into()));
        assert_eq!(defaulting.generate("unconfined"), None);
        assert_eq!(none.generate(""), None);

        let a = AppArmorStrategy::new(Some("runtime/default"), None);
        let path = "pod.metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]";
        assert_eq!(
            texts(a.validate(path, "")),
            ["pod.metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: Forbidden: AppArmor profile must be set"]
        );
        assert_eq!(
            texts(a.validate(path, "unconfined")),
            [
                r#"pod.metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: Forbidden: unconfined is not an allowed profile. Allowed values: "runtime/default""#
            ]
        );
        assert!(a.validate(path, "runtime/default").is_empty());
        assert!(AppArmorStrategy::new(None, None)
            .validate(path, "unconfined")
            .is_empty());
        let defaulting = AppArmorStrategy::new(None, Some("runtime/default"));
        assert_eq!(defaulting.generate(""), Some("runtime/default".into()));
        assert_eq!(defaulting.generate("localhost/x"), None);
        assert_eq!(a.generate(""), None);
    }

    #[test]
    fn sysctls_forbidden_beats_safe() {
        let s = SysctlStrategy::new(
            &["kernel.msg*".to_string()],
            &["kernel.shm_rmid_forced".to_string()],
        );
        assert_eq!(
            texts(s.validate(
                "pod.spec.securityContext.sysctls[0]",
                "kernel.shm_rmid_forced"
            )),
            [
                r#"pod.spec.securityContext.sysctls[0]: Forbidden: sysctl "kernel.shm_rmid_forced" is not allowed"#
            ]
        );
        assert!(s.validate("p", "kernel.msgmax").is_empty());
        assert!(s.validate("p", "net.ipv4.tcp_syncookies").is_empty());
        assert_eq!(
            texts(s.validate("pod.spec.securityContext.sysctls[2]", "net.core.somaxconn")),
            [
                r#"pod.spec.securityContext.sysctls[2]: Forbidden: unsafe sysctl "net.core.somaxconn" is not allowed"#
            ]
        );
        assert_eq!(s.generate("net.core.somaxconn"), None);
    }
}
