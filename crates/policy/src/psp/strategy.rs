//! The per-field strategies of a PodSecurityPolicy (`pkg/security/podsecuritypolicy/*`).

use std::collections::BTreeSet;

use super::field::{BadValue, FieldError};
use super::model::{GroupStrategyOptions, IdRange, PspSpec};
use crate::pod::SeLinuxOptions;

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
    pub fn build(options: &GroupStrategyOptions, what: &str) -> Result<GroupStrategy, String> {
        let rule = match options.rule.as_str() {
            "MustRunAs" => GroupRule::MustRunAs,
            "MayRunAs" => GroupRule::MayRunAs,
            "RunAsAny" => GroupRule::RunAsAny,
            other => return Err(format!("Unrecognized {what} strategy type {other}")),
        };
        if rule != GroupRule::RunAsAny && options.ranges.is_empty() {
            let name = if rule == GroupRule::MustRunAs {
                "MustRunAs"
            } else {
                "MayRunAs"
            };
            return Err(format!("ranges must be supplied for {name}"));
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

    /// `GenerateSingle`: the default for fsGroup and runAsGroup.
    pub fn generate_single(&self) -> Option<i64> {
        match self.rule {
            GroupRule::MustRunAs => self.ranges.first().map(|r| r.min),
            _ => None,
        }
    }

    pub fn validate(&self, path: &str, groups: &[i64]) -> Vec<FieldError> {
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
    pub fn build(spec: &PspSpec) -> Result<UserStrategy, String> {
        let o = &spec.run_as_user;
        let rule = match o.rule.as_str() {
            "MustRunAs" => UserRule::MustRunAs,
            "MustRunAsNonRoot" => UserRule::MustRunAsNonRoot,
            "RunAsAny" => UserRule::RunAsAny,
            other => return Err(format!("Unrecognized RunAsUser strategy type {other}")),
        };
        if rule == UserRule::MustRunAs && o.ranges.is_empty() {
            return Err("MustRunAs requires at least one range".into());
        }
        Ok(UserStrategy {
            rule,
            ranges: o.ranges.clone(),
        })
    }

    pub fn generate(&self) -> Option<i64> {
        match self.rule {
            UserRule::MustRunAs => self.ranges.first().map(|r| r.min),
            _ => None,
        }
    }

    /// Validates the effective values; `sc_path` is the container's `securityContext` path.
    pub fn validate(
        &self,
        sc_path: &str,
        run_as_non_root: Option<bool>,
        run_as_user: Option<i64>,
    ) -> Vec<FieldError> {
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
    pub fn build(spec: &PspSpec) -> Result<SeLinuxStrategy, String> {
        match spec.se_linux.rule.as_str() {
            "RunAsAny" => Ok(SeLinuxStrategy { must_run_as: None }),
            "MustRunAs" => match &spec.se_linux.se_linux_options {
                Some(o) => Ok(SeLinuxStrategy {
                    must_run_as: Some(o.clone()),
                }),
                None => Err("MustRunAs requires SELinuxOptions".into()),
            },
            other => Err(format!("Unrecognized SELinuxContext strategy type {other}")),
        }
    }

    pub fn validate(&self, path: &str, options: Option<&SeLinuxOptions>) -> Vec<FieldError> {
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
    /// The container's capabilities after defaulting, or `None` to leave them as they are.
    pub fn generate(
        &self,
        current: Option<&crate::pod::Capabilities>,
    ) -> Option<crate::pod::Capabilities> {
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
        Some(crate::pod::Capabilities {
            add: combined_add.into_iter().map(String::from).collect(),
            drop: combined_drop.into_iter().map(String::from).collect(),
        })
    }

    pub fn validate(&self, path: &str, caps: Option<&crate::pod::Capabilities>) -> Vec<FieldError> {
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
    pub fn validate(&self, container: &str, profile: &str) -> Option<FieldError> {
        let allowed = self.allowed.as_ref()?;
        let path = format!("pod.metadata.annotations[{APPARMOR_PREFIX}{container}]");
        if profile.is_empty() {
            return (!allowed.is_empty())
                .then(|| FieldError::forbidden(path, "AppArmor profile must be set"));
        }
        (!allowed.contains(profile)).then(|| {
            FieldError::forbidden(
                path,
                format!(
                    "{profile} is not an allowed profile. Allowed values: {}",
                    crate::text::go_quote(&self.allowed_text)
                ),
            )
        })
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

    pub fn validate(&self, path: String, profile: &str) -> Option<FieldError> {
        if !self.allow_any && self.allowed.is_empty() && !profile.is_empty() {
            return Some(FieldError::forbidden(path, "seccomp may not be set"));
        }
        (!self.profile_allowed(profile)).then(|| {
            FieldError::forbidden(
                path,
                format!(
                    "{profile} is not an allowed seccomp profile. Valid values are {}",
                    self.allowed_text
                ),
            )
        })
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
    pub fn validate(&self, index: usize, name: &str) -> Option<FieldError> {
        let path = format!("pod.spec.securityContext.sysctls[{index}]");
        if self.forbidden.iter().any(|p| pattern_matches(p, name)) {
            return Some(FieldError::forbidden(
                path,
                format!("sysctl {} is not allowed", crate::text::go_quote(name)),
            ));
        }
        if SAFE_SYSCTLS.contains(&name)
            || self.allowed_unsafe.iter().any(|p| pattern_matches(p, name))
        {
            return None;
        }
        Some(FieldError::forbidden(
            path,
            format!(
                "unsafe sysctl {} is not allowed",
                crate::text::go_quote(name)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(GroupStrategy::build(
            &GroupStrategyOptions {
                rule: "MustRunAs".into(),
                ranges: vec![]
            },
            "FSGroup"
        )
        .is_err());
        assert_eq!(
            GroupStrategy::build(
                &GroupStrategyOptions {
                    rule: "Bogus".into(),
                    ranges: vec![]
                },
                "FSGroup"
            )
            .err()
            .as_deref(),
            Some("Unrecognized FSGroup strategy type Bogus")
        );
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
        assert_eq!(u.validate("spec.initContainers[0].securityContext", None, Some(0))[0].to_string(),
            "spec.initContainers[0].securityContext.runAsUser: Invalid value: 0: must be in the ranges: [{1000 2000} {3000 3000}]");
        assert_eq!(
            u.validate("s", None, None)[0].to_string(),
            "s.runAsUser: Required value"
        );
        let nr = UserStrategy {
            rule: UserRule::MustRunAsNonRoot,
            ranges: vec![],
        };
        assert_eq!(
            nr.validate("s", None, None)[0].to_string(),
            "s.runAsNonRoot: Required value: must be true"
        );
        assert_eq!(
            nr.validate("s", Some(false), Some(0))[0].to_string(),
            "s.runAsNonRoot: Invalid value: false: must be true"
        );
        assert_eq!(
            nr.validate("s", Some(true), Some(0))[0].to_string(),
            "s.runAsUser: Invalid value: 0: running with the root UID is forbidden"
        );
        assert!(nr.validate("s", None, Some(1000)).is_empty());
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
        let e: Vec<String> = s
            .validate("p", Some(&got))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
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
        let e: Vec<String> = s
            .validate("c", Some(&caps))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
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
            s.validate("p".into(), "runtime/default").is_none(),
            "docker/default and runtime/default are one profile"
        );
        assert_eq!(
            s.validate("p".into(), "").map(|e| e.to_string()).as_deref(),
            Some(
                "p: Forbidden:  is not an allowed seccomp profile. Valid values are docker/default"
            )
        );
        let none = SeccompStrategy::new(None, None);
        assert_eq!(
            none.validate("p".into(), "unconfined")
                .map(|e| e.to_string())
                .as_deref(),
            Some("p: Forbidden: seccomp may not be set")
        );
        assert!(none.validate("p".into(), "").is_none());
        assert!(SeccompStrategy::new(Some("*"), None)
            .validate("p".into(), "unconfined")
            .is_none());
        let a = AppArmorStrategy {
            default_profile: String::new(),
            allowed: Some(["runtime/default".to_string()].into()),
            allowed_text: "runtime/default".into(),
        };
        assert_eq!(a.validate("c", "").map(|e| e.to_string()).as_deref(), Some("pod.metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: Forbidden: AppArmor profile must be set"));
        assert_eq!(
            a.validate("c", "unconfined")
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                r#"pod.metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: Forbidden: unconfined is not an allowed profile. Allowed values: "runtime/default""#
            )
        );
    }

    #[test]
    fn sysctls_forbidden_beats_safe() {
        let s = SysctlStrategy {
            allowed_unsafe: vec!["kernel.msg*".into()],
            forbidden: vec!["kernel.shm_rmid_forced".into()],
        };
        assert_eq!(
            s.validate(0, "kernel.shm_rmid_forced")
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                r#"pod.spec.securityContext.sysctls[0]: Forbidden: sysctl "kernel.shm_rmid_forced" is not allowed"#
            )
        );
        assert!(s.validate(1, "kernel.msgmax").is_none());
        assert!(s.validate(1, "net.ipv4.tcp_syncookies").is_none());
        assert_eq!(
            s.validate(2, "net.core.somaxconn")
                .map(|e| e.to_string())
                .as_deref(),
            Some(
                r#"pod.spec.securityContext.sysctls[2]: Forbidden: unsafe sysctl "net.core.somaxconn" is not allowed"#
            )
        );
    }
}
