//! The Pod Security Standards checks and the evaluator that applies them per level and version,
//! as upstream `pod-security-admission/policy` does.
//!
//! Each check lives in its own module, named after the control, with its versioned rules and
//! its own tests. The evaluator picks, for a given minor version, the newest version of every
//! check that exists at that minor; restricted runs the baseline checks it does not override.

use std::fmt;

use crate::level::{Level, LevelVersion};
use crate::pod::{ObjectMeta, PodSpec};

mod allow_privilege_escalation;
mod app_armor_profile;
mod capabilities_baseline;
mod capabilities_restricted;
mod host_namespaces;
mod host_path_volumes;
mod host_ports;
mod host_probes_and_host_lifecycle;
mod privileged;
mod proc_mount_baseline;
mod proc_mount_restricted;
mod restricted_volumes;
mod run_as_non_root;
mod run_as_user;
mod se_linux_options;
mod seccomp_profile_baseline;
mod seccomp_profile_restricted;
mod sysctls;
mod windows_host_process;

/// What the newest version of the checks allows, for tools that reason about policies rather
/// than pods (the PodSecurityPolicy → Pod Security Standards migration).
pub mod allowed {
    /// A capability baseline lets containers add.
    pub fn baseline_capability(name: &str) -> bool {
        super::capabilities_baseline::ALLOWED_1_0.contains(&name)
    }

    /// A volume type (its `spec.volumes[*]` field name) restricted allows.
    pub fn restricted_volume(field_name: &str) -> bool {
        crate::pod::VolumeType::from_field_name(field_name)
            .is_some_and(|t| super::restricted_volumes::ALLOWED.contains(&t))
    }

    /// An SELinux type baseline allows.
    pub fn se_linux_type(name: &str) -> bool {
        super::se_linux_options::ALLOWED_TYPES_LATEST.contains(&name)
    }

    /// A sysctl baseline allows.
    pub fn safe_sysctl(name: &str) -> bool {
        super::sysctls::SAFE_LATEST
            .iter()
            .any(|set| set.contains(&name))
    }
}

#[cfg(test)]
pub(crate) mod testing;

/// The newest policy minor version any check defines (`v1.37`, from `sysctls`).
pub const NEWEST_MINOR: u32 = 37;

/// A check's verdict when it forbids the pod: upstream's reason and detail, plus the field
/// paths (relative to the pod: `spec.…`, `metadata.…`) of the offending or missing values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    pub reason: String,
    pub detail: String,
    pub fields: Vec<String>,
}

type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Forbidden>;

/// One version of a check: applies from `minimum_minor` until the next version of the check.
struct VersionedCheck {
    minimum_minor: u32,
    check: CheckFn,
    /// Baseline checks this restricted check replaces while this version applies.
    overrides: &'static [CheckId],
}

struct Check {
    id: CheckId,
    versions: &'static [VersionedCheck],
}

impl Check {
    fn at(&self, minor: u32) -> Option<&VersionedCheck> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.minimum_minor <= minor)
    }
}

macro_rules! check_ids {
    ($($variant:ident => $id:literal, $level:ident, $hint:literal;)*) => {
        /// Upstream's check IDs, in upstream casing.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckId { $($variant),* }

        impl CheckId {
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant),*];

            /// The upstream ID (`capabilities_restricted`).
            pub fn as_str(self) -> &'static str {
                match self { $(CheckId::$variant => $id),* }
            }

            /// The level that introduces the check.
            pub fn level(self) -> Level {
                match self { $(CheckId::$variant => Level::$level),* }
            }

            /// One line telling the pod's author how to comply (podsec's addition, never part of
            /// upstream's messages).
            pub fn fix_hint(self) -> &'static str {
                match self { $(CheckId::$variant => $hint),* }
            }

            pub fn parse(id: &str) -> Option<CheckId> {
                match id { $($id => Some(CheckId::$variant),)* _ => None }
            }
        }
    };
}

check_ids! {
    AppArmorProfile => "appArmorProfile", Baseline,
        "remove the Unconfined AppArmor profile; use RuntimeDefault or a Localhost profile";
    CapabilitiesBaseline => "capabilities_baseline", Baseline,
        "add only default capabilities (e.g. NET_BIND_SERVICE, CHOWN) in securityContext.capabilities.add";
    HostNamespaces => "hostNamespaces", Baseline,
        "remove hostNetwork, hostPID and hostIPC (or set them to false)";
    HostPathVolumes => "hostPathVolumes", Baseline,
        "replace hostPath volumes with emptyDir, configMap, secret or a persistentVolumeClaim";
    HostPorts => "hostPorts", Baseline,
        "remove hostPort from container ports; expose the pod through a Service instead";
    HostProbesAndHostLifecycle => "hostProbesAndHostLifecycle", Baseline,
        "remove host from httpGet/tcpSocket probes and lifecycle handlers; they must target the pod";
    Privileged => "privileged", Baseline,
        "remove securityContext.privileged or set it to false";
    ProcMount => "procMount", Baseline,
        "remove securityContext.procMount or set it to Default";
    SeLinuxOptions => "seLinuxOptions", Baseline,
        "remove seLinuxOptions.user and .role, and use an allowed type such as container_t";
    SeccompProfileBaseline => "seccompProfile_baseline", Baseline,
        "set seccompProfile.type to RuntimeDefault or Localhost instead of Unconfined";
    Sysctls => "sysctls", Baseline,
        "remove unsafe sysctls from spec.securityContext.sysctls";
    WindowsHostProcess => "windowsHostProcess", Baseline,
        "remove securityContext.windowsOptions.hostProcess or set it to false";
    AllowPrivilegeEscalation => "allowPrivilegeEscalation", Restricted,
        "set securityContext.allowPrivilegeEscalation: false in every container";
    CapabilitiesRestricted => "capabilities_restricted", Restricted,
        "set securityContext.capabilities.drop: [\"ALL\"] and add nothing but NET_BIND_SERVICE";
    ProcMountRestricted => "procMount_restricted", Restricted,
        "remove securityContext.procMount or set it to Default";
    RestrictedVolumes => "restrictedVolumes", Restricted,
        "use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret volumes";
    RunAsNonRoot => "runAsNonRoot", Restricted,
        "set securityContext.runAsNonRoot: true on the pod (or every container)";
    RunAsUser => "runAsUser", Restricted,
        "set runAsUser to a non-zero UID, or remove it and set runAsNonRoot: true";
    SeccompProfileRestricted => "seccompProfile_restricted", Restricted,
        "set securityContext.seccompProfile.type: RuntimeDefault on the pod (or every container)";
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Baseline checks, sorted byte-wise by ID as upstream orders them.
const BASELINE: &[Check] = &[
    app_armor_profile::CHECK,
    capabilities_baseline::CHECK,
    host_namespaces::CHECK,
    host_path_volumes::CHECK,
    host_ports::CHECK,
    host_probes_and_host_lifecycle::CHECK,
    privileged::CHECK,
    proc_mount_baseline::CHECK,
    se_linux_options::CHECK,
    seccomp_profile_baseline::CHECK,
    sysctls::CHECK,
    windows_host_process::CHECK,
];

/// Restricted-only checks, sorted byte-wise by ID; they run after the baseline checks.
const RESTRICTED: &[Check] = &[
    allow_privilege_escalation::CHECK,
    capabilities_restricted::CHECK,
    proc_mount_restricted::CHECK,
    restricted_volumes::CHECK,
    run_as_non_root::CHECK,
    run_as_user::CHECK,
    seccomp_profile_restricted::CHECK,
];

/// A check that forbade the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub check: CheckId,
    /// Upstream's reason, e.g. `allowPrivilegeEscalation != false`.
    pub reason: String,
    /// Upstream's detail, e.g. `container "web" must set securityContext.allowPrivilegeEscalation=false`.
    pub detail: String,
    /// Field paths of the offending (or missing) values, relative to the pod.
    pub fields: Vec<String>,
}

/// The result of evaluating one pod at one level and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub level_version: LevelVersion,
    /// Failed checks, in upstream's order.
    pub violations: Vec<Violation>,
}

impl Evaluation {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Upstream `ForbiddenReason()`: the reasons joined with `", "`.
    pub fn forbidden_reason(&self) -> String {
        self.violations
            .iter()
            .map(|v| v.reason.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Upstream `ForbiddenDetail()`: `reason (detail)` items joined with `", "`.
    pub fn forbidden_detail(&self) -> String {
        let mut out = String::new();
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&v.reason);
            if !v.detail.is_empty() {
                out.push_str(" (");
                out.push_str(&v.detail);
                out.push(')');
            }
        }
        out
    }

    /// The enforce denial text: `violates PodSecurity "<level>:<version>": <details>`, or
    /// `None` when the pod is allowed.
    pub fn deny_message(&self) -> Option<String> {
        self.message("violates")
    }

    /// The audit and warn text: `would violate PodSecurity "<level>:<version>": <details>`.
    pub fn warning_message(&self) -> Option<String> {
        self.message("would violate")
    }

    fn message(&self, verb: &str) -> Option<String> {
        (!self.allowed()).then(|| {
            format!(
                "{verb} PodSecurity {}: {}",
                crate::text::go_quote(&self.level_version.to_string()),
                self.forbidden_detail()
            )
        })
    }
}

/// Evaluates a pod (or pod template) at a level and version, exactly as upstream PSA does.
/// `privileged` runs no checks; versions newer than the newest known one (and `latest`) use
/// the newest checks, while messages keep the version as given.
pub fn evaluate(level_version: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) -> Evaluation {
    let mut violations = Vec::new();
    for_each_check(
        BASELINE,
        RESTRICTED,
        level_version.level,
        level_version.version.effective_minor(),
        |id, versioned| {
            if let Some(f) = (versioned.check)(meta, spec) {
                violations.push(Violation {
                    check: id,
                    reason: f.reason,
                    detail: f.detail,
                    fields: f.fields,
                });
            }
        },
    );
    Evaluation {
        level_version,
        violations,
    }
}

/// The IDs of the checks that run at a level and version, in evaluation order.
pub fn check_ids(level_version: LevelVersion) -> Vec<CheckId> {
    let mut ids = Vec::new();
    for_each_check(
        BASELINE,
        RESTRICTED,
        level_version.level,
        level_version.version.effective_minor(),
        |id, _| ids.push(id),
    );
    ids
}

/// Upstream `populate` + `EvaluatePod` for one level and minor, without allocating: at that
/// minor, each check's newest version; restricted runs the baseline checks it does not
/// override at that minor, then its own.
fn for_each_check(
    baseline: &'static [Check],
    restricted: &'static [Check],
    level: Level,
    minor: u32,
    mut visit: impl FnMut(CheckId, &'static VersionedCheck),
) {
    let active = |checks: &'static [Check]| {
        checks
            .iter()
            .filter_map(move |c| c.at(minor).map(|v| (c.id, v)))
    };
    match level {
        Level::Privileged => {}
        Level::Baseline => active(baseline).for_each(|(id, v)| visit(id, v)),
        Level::Restricted => {
            let overridden =
                |id: CheckId| active(restricted).any(|(_, v)| v.overrides.contains(&id));
            active(baseline)
                .filter(|(id, _)| !overridden(*id))
                .for_each(|(id, v)| visit(id, v));
            active(restricted).for_each(|(id, v)| visit(id, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Version;

    #[test]
    fn checks_are_listed_in_upstream_byte_order() {
        for list in [BASELINE, RESTRICTED] {
            let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            assert_eq!(ids, sorted);
        }
        assert!(BASELINE.iter().all(|c| c.id.level() == Level::Baseline));
        assert!(RESTRICTED.iter().all(|c| c.id.level() == Level::Restricted));
        assert_eq!(BASELINE.len() + RESTRICTED.len(), CheckId::ALL.len());
    }

    #[test]
    fn versions_strictly_increase_and_only_restricted_checks_override_baseline_ones() {
        for check in BASELINE.iter().chain(RESTRICTED) {
            assert!(check
                .versions
                .windows(2)
                .all(|w| w[0].minimum_minor < w[1].minimum_minor));
            for v in check.versions {
                assert!(v.minimum_minor <= NEWEST_MINOR);
                for o in v.overrides {
                    assert_eq!(check.id.level(), Level::Restricted);
                    assert_eq!(o.level(), Level::Baseline);
                }
            }
        }
        let newest = BASELINE
            .iter()
            .chain(RESTRICTED)
            .flat_map(|c| c.versions.iter().map(|v| v.minimum_minor))
            .max();
        assert_eq!(newest, Some(NEWEST_MINOR));
    }

    fn ids(level: Level, version: Version) -> Vec<&'static str> {
        check_ids(LevelVersion::new(level, version))
            .into_iter()
            .map(CheckId::as_str)
            .collect()
    }

    #[test]
    fn check_sets_per_version_match_upstream() {
        use Level::*;
        assert!(ids(Privileged, Version::Latest).is_empty());
        assert_eq!(
            ids(Baseline, Version::Minor(0)),
            [
                "appArmorProfile",
                "capabilities_baseline",
                "hostNamespaces",
                "hostPathVolumes",
                "hostPorts",
                "privileged",
                "procMount",
                "seLinuxOptions",
                "seccompProfile_baseline",
                "sysctls",
                "windowsHostProcess"
            ]
        );
        assert_eq!(
            ids(Restricted, Version::Minor(0)),
            [
                "appArmorProfile",
                "capabilities_baseline",
                "hostNamespaces",
                "hostPorts",
                "privileged",
                "procMount",
                "seLinuxOptions",
                "seccompProfile_baseline",
                "sysctls",
                "windowsHostProcess",
                "restrictedVolumes",
                "runAsNonRoot"
            ]
        );
        assert_eq!(
            ids(Restricted, Version::Minor(22)),
            [
                "appArmorProfile",
                "hostNamespaces",
                "hostPorts",
                "privileged",
                "procMount",
                "seLinuxOptions",
                "sysctls",
                "windowsHostProcess",
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "restrictedVolumes",
                "runAsNonRoot",
                "seccompProfile_restricted"
            ]
        );
        assert_eq!(
            ids(Restricted, Version::Latest),
            [
                "appArmorProfile",
                "hostNamespaces",
                "hostPorts",
                "hostProbesAndHostLifecycle",
                "privileged",
                "seLinuxOptions",
                "sysctls",
                "windowsHostProcess",
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "procMount_restricted",
                "restrictedVolumes",
                "runAsNonRoot",
                "runAsUser",
                "seccompProfile_restricted"
            ]
        );
        assert_eq!(
            ids(Restricted, Version::Minor(99)),
            ids(Restricted, Version::Latest)
        );
        assert!(ids(Baseline, Version::Minor(33))
            .iter()
            .all(|id| *id != "hostProbesAndHostLifecycle"));
        assert!(ids(Baseline, Version::Minor(34)).contains(&"hostProbesAndHostLifecycle"));
    }

    #[test]
    fn aggregates_messages_like_upstream() {
        let lv = LevelVersion::new(Level::Restricted, Version::Minor(99));
        let eval = Evaluation {
            level_version: lv,
            violations: vec![
                Violation {
                    check: CheckId::HostNamespaces,
                    reason: "host namespaces".into(),
                    detail: "hostNetwork=true".into(),
                    fields: vec![],
                },
                Violation {
                    check: CheckId::Privileged,
                    reason: "privileged".into(),
                    detail: String::new(),
                    fields: vec![],
                },
            ],
        };
        assert_eq!(eval.forbidden_reason(), "host namespaces, privileged");
        assert_eq!(
            eval.forbidden_detail(),
            "host namespaces (hostNetwork=true), privileged"
        );
        assert_eq!(
            eval.deny_message().as_deref(),
            Some(
                r#"violates PodSecurity "restricted:v1.99": host namespaces (hostNetwork=true), privileged"#
            )
        );
        assert_eq!(
            eval.warning_message().as_deref(),
            Some(
                r#"would violate PodSecurity "restricted:v1.99": host namespaces (hostNetwork=true), privileged"#
            )
        );
        let allowed = Evaluation {
            level_version: lv,
            violations: vec![],
        };
        assert!(allowed.allowed());
        assert_eq!(allowed.deny_message(), None);
    }

    // Upstream's registry tests run the selection on synthetic checks: baseline `a`..`d` and
    // restricted `e`..`i`. Real IDs stand in for them; they sort in the same order per level.
    fn allows_all(_: &ObjectMeta, _: &PodSpec) -> Option<Forbidden> {
        None
    }

    macro_rules! versions {
        ($($minor:literal $(=> $o:ident)?),*) => {
            &[$(VersionedCheck {
                minimum_minor: $minor,
                check: allows_all,
                overrides: &[$(CheckId::$o)?],
            }),*]
        };
    }

    const SYN_BASELINE: &[Check] = &[
        Check {
            id: CheckId::AppArmorProfile,
            versions: versions![0],
        },
        Check {
            id: CheckId::CapabilitiesBaseline,
            versions: versions![10],
        },
        Check {
            id: CheckId::HostNamespaces,
            versions: versions![0, 5, 10],
        },
        Check {
            id: CheckId::HostPathVolumes,
            versions: versions![11, 15, 20],
        },
    ];

    const SYN_RESTRICTED: &[Check] = &[
        Check {
            id: CheckId::AllowPrivilegeEscalation,
            versions: versions![0],
        },
        Check {
            id: CheckId::CapabilitiesRestricted,
            versions: versions![12, 16, 21],
        },
        Check {
            id: CheckId::ProcMountRestricted,
            versions: versions![10 => AppArmorProfile],
        },
        Check {
            id: CheckId::RestrictedVolumes,
            versions: versions![0 => CapabilitiesBaseline],
        },
        Check {
            id: CheckId::RunAsNonRoot,
            versions: versions![10 => HostNamespaces, 21 => HostPathVolumes],
        },
    ];

    #[track_caller]
    fn assert_selects(
        baseline: &'static [Check],
        restricted: &'static [Check],
        level: Level,
        version: &str,
        expected: &[&str],
    ) {
        let minor = Version::parse(version).unwrap().effective_minor();
        let mut selected = Vec::new();
        for_each_check(baseline, restricted, level, minor, |id, v| {
            selected.push((id, v))
        });
        let got: Vec<String> = selected
            .into_iter()
            .map(|(id, v)| {
                let name = match id {
                    CheckId::AppArmorProfile => "a",
                    CheckId::CapabilitiesBaseline => "b",
                    CheckId::HostNamespaces => "c",
                    CheckId::HostPathVolumes => "d",
                    CheckId::AllowPrivilegeEscalation => "e",
                    CheckId::CapabilitiesRestricted => "f",
                    CheckId::ProcMountRestricted => "g",
                    CheckId::RestrictedVolumes => "h",
                    CheckId::RunAsNonRoot => "i",
                    other => panic!("unexpected {other}"),
                };
                format!("{name}:v1.{}", v.minimum_minor)
            })
            .collect();
        assert_eq!(got, expected, "{level}:{version}");
    }

    #[test]
    fn selects_versions_and_overrides_like_upstream_registry() {
        use Level::*;
        let (b, r) = (SYN_BASELINE, SYN_RESTRICTED);
        assert_selects(b, r, Privileged, "v1.0", &[]);
        assert_selects(b, r, Privileged, "latest", &[]);
        assert_selects(b, r, Baseline, "v1.0", &["a:v1.0", "c:v1.0"]);
        assert_selects(b, r, Baseline, "v1.4", &["a:v1.0", "c:v1.0"]);
        assert_selects(b, r, Baseline, "v1.5", &["a:v1.0", "c:v1.5"]);
        assert_selects(b, r, Baseline, "v1.10", &["a:v1.0", "b:v1.10", "c:v1.10"]);
        let at_11 = ["a:v1.0", "b:v1.10", "c:v1.10", "d:v1.11"];
        assert_selects(b, r, Baseline, "v1.11", &at_11);
        let newest = ["a:v1.0", "b:v1.10", "c:v1.10", "d:v1.20"];
        assert_selects(b, r, Baseline, "latest", &newest);
        let early = ["a:v1.0", "c:v1.0", "e:v1.0", "h:v1.0"];
        assert_selects(b, r, Restricted, "v1.0", &early);
        assert_selects(b, r, Restricted, "v1.4", &early);
        let at_5 = ["a:v1.0", "c:v1.5", "e:v1.0", "h:v1.0"];
        assert_selects(b, r, Restricted, "v1.5", &at_5);
        let at_10 = ["e:v1.0", "g:v1.10", "h:v1.0", "i:v1.10"];
        assert_selects(b, r, Restricted, "v1.10", &at_10);
        let at_11 = ["d:v1.11", "e:v1.0", "g:v1.10", "h:v1.0", "i:v1.10"];
        assert_selects(b, r, Restricted, "v1.11", &at_11);
        // i's newest version overrides only d, so c comes back.
        let newest = [
            "c:v1.10", "e:v1.0", "f:v1.21", "g:v1.10", "h:v1.0", "i:v1.21",
        ];
        assert_selects(b, r, Restricted, "latest", &newest);
        assert_selects(b, r, Restricted, "v1.10000", &newest);
    }

    #[test]
    fn selects_with_only_one_level_registered() {
        use Level::*;
        // Upstream's restricted-only registry has e..h, without the multi-override `i`.
        let r: &'static [Check] = &SYN_RESTRICTED[..4];
        for version in ["v1.0", "v1.10", "latest"] {
            assert_selects(&[], r, Baseline, version, &[]);
        }
        assert_selects(&[], r, Restricted, "v1.0", &["e:v1.0", "h:v1.0"]);
        let at_10 = ["e:v1.0", "g:v1.10", "h:v1.0"];
        assert_selects(&[], r, Restricted, "v1.10", &at_10);
        let newest = ["e:v1.0", "f:v1.21", "g:v1.10", "h:v1.0"];
        assert_selects(&[], r, Restricted, "latest", &newest);
        assert_selects(&[], r, Restricted, "v1.10000", &newest);

        let b = SYN_BASELINE;
        let cases: [(&str, &[&str]); 6] = [
            ("v1.0", &["a:v1.0", "c:v1.0"]),
            ("v1.4", &["a:v1.0", "c:v1.0"]),
            ("v1.5", &["a:v1.0", "c:v1.5"]),
            ("v1.10", &["a:v1.0", "b:v1.10", "c:v1.10"]),
            ("v1.11", &["a:v1.0", "b:v1.10", "c:v1.10", "d:v1.11"]),
            ("latest", &["a:v1.0", "b:v1.10", "c:v1.10", "d:v1.20"]),
        ];
        for (version, expected) in cases {
            assert_selects(b, &[], Baseline, version, expected);
            assert_selects(b, &[], Restricted, version, expected);
        }
        for level in Level::ALL {
            assert_selects(&[], &[], level, "latest", &[]);
        }
    }
}
