//! PodSecurityPolicy objects (`policy/v1beta1` and `extensions/v1beta1`), every field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::pod::ObjectMeta;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct PodSecurityPolicy {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PspSpec,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdRange {
    #[serde(default)]
    pub min: i64,
    #[serde(default)]
    pub max: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct PortRange {
    #[serde(default)]
    pub min: i32,
    #[serde(default)]
    pub max: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct RunAsUserStrategyOptions {
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub ranges: Vec<IdRange>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct GroupStrategyOptions {
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub ranges: Vec<IdRange>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeLinuxStrategyOptions {
    #[serde(default)]
    pub rule: String,
    #[serde(rename = "seLinuxOptions", default)]
    pub se_linux_options: Option<crate::pod::SeLinuxOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct AllowedHostPath {
    #[serde(rename = "pathPrefix", default)]
    pub path_prefix: String,
    #[serde(rename = "readOnly", default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct AllowedFlexVolume {
    #[serde(default)]
    pub driver: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct AllowedCsiDriver {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeClassStrategyOptions {
    #[serde(default)]
    pub allowed_runtime_class_names: Vec<String>,
    #[serde(default)]
    pub default_runtime_class_name: Option<String>,
}

/// `spec` of a PodSecurityPolicy. Field names as in the API.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PspSpec {
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub default_add_capabilities: Vec<String>,
    #[serde(default)]
    pub required_drop_capabilities: Vec<String>,
    #[serde(default)]
    pub allowed_capabilities: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub host_network: bool,
    #[serde(default)]
    pub host_ports: Vec<PortRange>,
    #[serde(rename = "hostPID", default)]
    pub host_pid: bool,
    #[serde(rename = "hostIPC", default)]
    pub host_ipc: bool,
    #[serde(rename = "seLinux", default)]
    pub se_linux: SeLinuxStrategyOptions,
    #[serde(default)]
    pub run_as_user: RunAsUserStrategyOptions,
    #[serde(default)]
    pub run_as_group: Option<GroupStrategyOptions>,
    #[serde(default)]
    pub supplemental_groups: GroupStrategyOptions,
    #[serde(default)]
    pub fs_group: GroupStrategyOptions,
    #[serde(default)]
    pub read_only_root_filesystem: bool,
    #[serde(default)]
    pub default_allow_privilege_escalation: Option<bool>,
    /// Defaults to true (`policy/v1beta1` defaulting), so `None` means allowed.
    #[serde(default)]
    pub allow_privilege_escalation: Option<bool>,
    #[serde(default)]
    pub allowed_host_paths: Vec<AllowedHostPath>,
    #[serde(default)]
    pub allowed_flex_volumes: Vec<AllowedFlexVolume>,
    #[serde(rename = "allowedCSIDrivers", default)]
    pub allowed_csi_drivers: Vec<AllowedCsiDriver>,
    #[serde(default)]
    pub allowed_unsafe_sysctls: Vec<String>,
    #[serde(default)]
    pub forbidden_sysctls: Vec<String>,
    #[serde(default)]
    pub allowed_proc_mount_types: Vec<String>,
    #[serde(default)]
    pub runtime_class: Option<RuntimeClassStrategyOptions>,
}

impl PspSpec {
    /// `allowPrivilegeEscalation` after API defaulting (true when unset).
    pub fn allows_privilege_escalation(&self) -> bool {
        self.allow_privilege_escalation.unwrap_or(true)
    }
}

/// The annotations a PSP reads on itself.
pub const SECCOMP_ALLOWED_ANNOTATION: &str =
    "seccomp.security.alpha.kubernetes.io/allowedProfileNames";
pub const SECCOMP_DEFAULT_ANNOTATION: &str =
    "seccomp.security.alpha.kubernetes.io/defaultProfileName";
pub const APPARMOR_ALLOWED_ANNOTATION: &str =
    "apparmor.security.beta.kubernetes.io/allowedProfileNames";
pub const APPARMOR_DEFAULT_ANNOTATION: &str =
    "apparmor.security.beta.kubernetes.io/defaultProfileName";

impl PodSecurityPolicy {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.annotations.get(key).map(String::as_str)
    }

    /// The row `kubectl get psp` printed: NAME PRIV CAPS SELINUX RUNASUSER FSGROUP SUPGROUP
    /// READONLYROOTFS VOLUMES.
    pub fn table_row(&self) -> [String; 9] {
        let s = &self.spec;
        [
            self.metadata.name.clone(),
            s.privileged.to_string(),
            s.allowed_capabilities.join(","),
            s.se_linux.rule.clone(),
            s.run_as_user.rule.clone(),
            s.fs_group.rule.clone(),
            s.supplemental_groups.rule.clone(),
            s.read_only_root_filesystem.to_string(),
            s.volumes.join(","),
        ]
    }
}

/// Renders rows like kubectl's table printer: columns separated by at least three spaces
/// (Go's tabwriter with minwidth 10, padding 3), the last column unpadded.
pub fn kubectl_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths = vec![0usize; columns];
    for (i, h) in header.iter().enumerate() {
        widths[i] = h.chars().count();
    }
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let width = (widths[i] + 3).max(10);
                out.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// Annotations as a sorted map (for callers that need them by key).
pub type Annotations = BTreeMap<String, String>;
