//! The Pod Security Standards checks and the evaluator that applies them per level and version,
//! as upstream `pod-security-admission/policy` does.
//!
//! Each check lives in its own module, named after the control, with its versioned rules
//! (`VERSIONS`) and its own tests, and is registered by one row of the `registry!` invocation
//! below; everything else (the ID enum, the per-level lists, the newest known version) is
//! derived from those rows, as upstream's `registry.go` derives it from the `Check`s. (The
//! module's `mod` line stays outside the macro so that rustfmt still sees the file; a module
//! without a row fails the build, its `VERSIONS` being dead code.) The evaluator picks, for a
//! given minor version, the newest version of every check that exists at that minor;
//! restricted runs the baseline checks it does not override.

use std::fmt;

use crate::level::{Level, LevelVersion, Version};
use crate::pod::{ObjectMeta, PodSpec};

mod allow_privilege_escalation;
mod app_armor_profile;
mod capabilities_baseline;

/// The capabilities baseline lets containers add (the same in every version).
pub const BASELINE_CAPABILITIES: &[&str] = capabilities_baseline::ALLOWED_1_0;
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

/// A check's verdict when it forbids the pod: upstream's reason and detail, plus the field
/// paths (relative to the pod: `spec.…`, `metadata.…`) of the offending or missing values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden {
    pub reason: String,
    pub detail: String,
    pub fields: Vec<String>,
}

type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Forbidden>;

/// One version of a check (upstream's `VersionedCheck`): applies from `minimum_minor` until
/// the next version of the check.
struct VersionedCheck {
    minimum_minor: u32,
    check: CheckFn,
    /// Baseline checks this restricted check replaces while this version applies.
    overrides: &'static [CheckId],
}

impl VersionedCheck {
    /// The rule `check`, from `v1.<minimum_minor>` until the check's next version.
    const fn since(minimum_minor: u32, check: CheckFn) -> Self {
        VersionedCheck {
            minimum_minor,
            check,
            overrides: &[],
        }
    }

    /// This version, replacing the given baseline checks while it applies (restricted checks
    /// only; the registry tests hold them to that).
    const fn overriding(self, overrides: &'static [CheckId]) -> Self {
        VersionedCheck {
            minimum_minor: self.minimum_minor,
            check: self.check,
            overrides,
        }
    }
}

/// A registered check (upstream's `Check`): its ID, which carries its level, and its versions,
/// oldest first.
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

/// Declares the checks, one row each:
///
/// `Variant => "upstreamID", Level, module, "fix hint";`
///
/// `module` is the check's module, which defines `pub(super) const VERSIONS: &[VersionedCheck]`.
/// From the rows come [`CheckId`] and its tables, and `REGISTRY`. Rows are in
/// evaluation order: the baseline checks, then the restricted ones, each level's sorted
/// byte-wise by ID as upstream orders them (`CheckId`'s `Ord` follows the rows; the tests below
/// hold the registry to this order).
macro_rules! registry {
    ($($variant:ident => $id:literal, $level:ident, $module:ident, $hint:literal;)*) => {
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
            pub const fn level(self) -> Level {
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

        /// Every registered check, in evaluation order.
        const REGISTRY: &[Check] = &[
            $(Check { id: CheckId::$variant, versions: $module::VERSIONS }),*
        ];
    };
}

registry! {
    // Baseline.
    AppArmorProfile => "appArmorProfile", Baseline, app_armor_profile,
        "remove the Unconfined AppArmor profile; use RuntimeDefault or a Localhost profile";
    CapabilitiesBaseline => "capabilities_baseline", Baseline, capabilities_baseline,
        "add only default capabilities (e.g. NET_BIND_SERVICE, CHOWN) in securityContext.capabilities.add";
    HostNamespaces => "hostNamespaces", Baseline, host_namespaces,
        "remove hostNetwork, hostPID and hostIPC (or set them to false)";
    HostPathVolumes => "hostPathVolumes", Baseline, host_path_volumes,
        "replace hostPath volumes with emptyDir, configMap, secret or a persistentVolumeClaim";
    HostPorts => "hostPorts", Baseline, host_ports,
        "remove hostPort from container ports; expose the pod through a Service instead";
    HostProbesAndHostLifecycle => "hostProbesAndHostLifecycle", Baseline, host_probes_and_host_lifecycle,
        "remove host from httpGet/tcpSocket probes and lifecycle handlers; they must target the pod";
    Privileged => "privileged", Baseline, privileged,
        "remove securityContext.privileged or set it to false";
    ProcMount => "procMount", Baseline, proc_mount_baseline,
        "remove securityContext.procMount or set it to Default";
    SeLinuxOptions => "seLinuxOptions", Baseline, se_linux_options,
        "remove seLinuxOptions.user and .role, and use an allowed type such as container_t";
    SeccompProfileBaseline => "seccompProfile_baseline", Baseline, seccomp_profile_baseline,
        "set seccompProfile.type to RuntimeDefault or Localhost instead of Unconfined";
    Sysctls => "sysctls", Baseline, sysctls,
        "remove unsafe sysctls from spec.securityContext.sysctls";
    WindowsHostProcess => "windowsHostProcess", Baseline, windows_host_process,
        "remove securityContext.windowsOptions.hostProcess or set it to false";
    // Restricted.
    AllowPrivilegeEscalation => "allowPrivilegeEscalation", Restricted, allow_privilege_escalation,
        "set securityContext.allowPrivilegeEscalation: false in every container";
    CapabilitiesRestricted => "capabilities_restricted", Restricted, capabilities_restricted,
        "set securityContext.capabilities.drop: [\"ALL\"] and add nothing but NET_BIND_SERVICE";
    ProcMountRestricted => "procMount_restricted", Restricted, proc_mount_restricted,
        "remove securityContext.procMount or set it to Default";
    RestrictedVolumes => "restrictedVolumes", Restricted, restricted_volumes,
        "use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or secret volumes";
    RunAsNonRoot => "runAsNonRoot", Restricted, run_as_non_root,
        "set securityContext.runAsNonRoot: true on the pod (or every container)";
    RunAsUser => "runAsUser", Restricted, run_as_user,
        "set runAsUser to a non-zero UID, or remove it and set runAsNonRoot: true";
    SeccompProfileRestricted => "seccompProfile_restricted", Restricted, seccomp_profile_restricted,
        "set securityContext.seccompProfile.type: RuntimeDefault on the pod (or every container)";
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many rows lead the registry with baseline checks.
const BASELINE_LEN: usize = {
    let mut n = 0;
    while n < REGISTRY.len() && matches!(REGISTRY[n].id.level(), Level::Baseline) {
        n += 1;
    }
    n
};

/// Baseline checks, sorted byte-wise by ID as upstream orders them.
const BASELINE: &[Check] = REGISTRY.split_at(BASELINE_LEN).0;

/// Restricted-only checks, sorted byte-wise by ID; they run after the baseline checks.
const RESTRICTED: &[Check] = REGISTRY.split_at(BASELINE_LEN).1;

/// The newest policy minor version any check's versions mention, derived from the registry as
/// upstream's registry derives its `maxVersion`. Newer versions, and `latest`, evaluate as
/// this one ([`Version::effective_minor`]).
pub const NEWEST_MINOR: u32 = {
    let mut newest = 0;
    let mut i = 0;
    while i < REGISTRY.len() {
        let versions = REGISTRY[i].versions;
        let mut j = 0;
        while j < versions.len() {
            if versions[j].minimum_minor > newest {
                newest = versions[j].minimum_minor;
            }
            j += 1;
        }
        i += 1;
    }
    newest
};

// The clamp lives with the registry that knows the newest version, so that `level.rs`, where
// `Version` is defined, depends on no check (upstream likewise clamps in the evaluator).
impl Version {
    /// The version whose checks apply: `latest` and anything newer than the newest known
    /// version ([`NEWEST_MINOR`]) evaluate as the newest known version.
    pub fn effective_minor(self) -> u32 {
        match self {
            Version::Minor(m) if m <= NEWEST_MINOR => m,
            _ => NEWEST_MINOR,
        }
    }
}

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

    #[test]
    fn registry_rows_are_grouped_by_level_in_upstream_byte_order() {
        let registered: Vec<CheckId> = REGISTRY.iter().map(|c| c.id).collect();
        assert_eq!(
            registered,
            CheckId::ALL,
            "CheckId's order is the registry's"
        );
        assert_eq!(BASELINE.len() + RESTRICTED.len(), REGISTRY.len());
        for (list, level) in [(BASELINE, Level::Baseline), (RESTRICTED, Level::Restricted)] {
            assert!(
                list.iter().all(|c| c.id.level() == level),
                "{level} rows must be together, baseline first"
            );
            let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(ids, sorted, "{level} rows in byte order of ID, each once");
        }
        for &id in CheckId::ALL {
            assert_eq!(CheckId::parse(id.as_str()), Some(id));
            assert!(!id.fix_hint().is_empty(), "{id}");
        }
    }

    // Upstream's `validateChecks`, plus the override rule.
    #[test]
    fn versions_strictly_increase_and_only_restricted_checks_override_baseline_ones() {
        for check in REGISTRY {
            assert!(!check.versions.is_empty(), "{}: no versions", check.id);
            assert!(
                check
                    .versions
                    .windows(2)
                    .all(|w| w[0].minimum_minor < w[1].minimum_minor),
                "{}: versions must strictly increase",
                check.id
            );
            for v in check.versions {
                assert!(v.minimum_minor <= NEWEST_MINOR);
                for o in v.overrides {
                    assert_eq!(check.id.level(), Level::Restricted, "{}", check.id);
                    assert_eq!(o.level(), Level::Baseline, "{} overrides {o}", check.id);
                }
            }
        }
        let newest = REGISTRY
            .iter()
            .flat_map(|c| c.versions.iter().map(|v| v.minimum_minor))
            .max();
        assert_eq!(newest, Some(NEWEST_MINOR));
    }

    #[test]
    fn future_and_latest_versions_clamp_to_newest() {
        assert_eq!(Version::Minor(3).effective_minor(), 3);
        assert_eq!(Version::Minor(NEWEST_MINOR).effective_minor(), NEWEST_MINOR);
        for later in [NEWEST_MINOR + 1, u32::MAX] {
            assert_eq!(Version::Minor(later).effective_minor(), NEWEST_MINOR);
        }
        assert_eq!(Version::Latest.effective_minor(), NEWEST_MINOR);
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
        // The newest version today; `latest` follows whatever the registry's newest is.
        assert_eq!(
            ids(Restricted, Version::Minor(37)),
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
        for level in Level::ALL {
            let newest = ids(level, Version::Minor(NEWEST_MINOR));
            assert_eq!(ids(level, Version::Latest), newest, "{level}");
            assert_eq!(ids(level, Version::Minor(NEWEST_MINOR + 1)), newest);
        }
        assert!(ids(Baseline, Version::Minor(33))
            .iter()
            .all(|id| *id != "hostProbesAndHostLifecycle"));
        assert!(ids(Baseline, Version::Minor(34)).contains(&"hostProbesAndHostLifecycle"));
    }

    // Derived from the rows, so registering a check needs no edit here: every check runs at its
    // level from its first version on and never before, and the baseline ones stay at `latest`.
    #[test]
    fn every_registered_check_runs_from_its_first_version() {
        for check in REGISTRY {
            let (id, level) = (check.id, check.id.level());
            let first = check.versions[0].minimum_minor;
            assert!(
                check_ids(LevelVersion::new(level, Version::Minor(first))).contains(&id),
                "{id} at v1.{first}"
            );
            if let Some(before) = first.checked_sub(1) {
                for any in Level::ALL {
                    let lv = LevelVersion::new(any, Version::Minor(before));
                    assert!(!check_ids(lv).contains(&id), "{id} before v1.{first}");
                }
            }
            let baseline = LevelVersion::new(Level::Baseline, Version::Latest);
            assert_eq!(
                check_ids(baseline).contains(&id),
                level == Level::Baseline,
                "{id} at baseline:latest"
            );
        }
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
