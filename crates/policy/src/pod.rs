//! The parts of a Pod (or pod template) that pod security decisions read.
//!
//! Fields are named as in the Kubernetes v1 API and decoded with serde. Unknown fields are
//! ignored, but a known field with the wrong JSON type is an error, as it is for the API server.
//! `null` is accepted wherever the API server accepts it and means "unset".

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Decodes `null` as the type's default, as Go's JSON decoder leaves a field untouched on null.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Object metadata of a pod or pod template.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub generate_name: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub uid: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// The name an object goes by before the API server names it: `name`, else
    /// `generateName` (a pod of a controller, in a request or a template), else empty.
    pub fn name_or_generate_name(&self) -> &str {
        if self.name.is_empty() {
            &self.generate_name
        } else {
            &self.name
        }
    }

    /// The owner that manages the object (`controller: true`), as garbage collection and
    /// workload grouping follow it.
    pub fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|o| o.controller == Some(true))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(default, deserialize_with = "null_as_default")]
    pub api_version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
}

/// `spec` of a Pod, or of a pod template.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: Vec<Volume>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_containers: Vec<Container>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ephemeral_containers: Vec<Container>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_network: bool,
    #[serde(rename = "hostPID", default, deserialize_with = "null_as_default")]
    pub host_pid: bool,
    #[serde(rename = "hostIPC", default, deserialize_with = "null_as_default")]
    pub host_ipc: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<PodOs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

impl PodSpec {
    /// True when the pod declares `spec.os.name: windows`.
    pub fn is_windows(&self) -> bool {
        self.os.as_ref().is_some_and(|os| os.name == "windows")
    }

    /// True when the pod explicitly opts into a user namespace (`hostUsers: false`).
    pub fn uses_user_namespace(&self) -> bool {
        self.host_users == Some(false)
    }

    /// Every container with the field path of its entry, in upstream PSA's visiting order:
    /// init containers, regular containers, then ephemeral containers.
    pub fn containers_with_paths(&self) -> impl Iterator<Item = (ContainerPath, &Container)> {
        let tag = |kind: ContainerKind| move |(index, c)| (ContainerPath { kind, index }, c);
        self.init_containers
            .iter()
            .enumerate()
            .map(tag(ContainerKind::Init))
            .chain(
                self.containers
                    .iter()
                    .enumerate()
                    .map(tag(ContainerKind::Regular)),
            )
            .chain(
                self.ephemeral_containers
                    .iter()
                    .enumerate()
                    .map(tag(ContainerKind::Ephemeral)),
            )
    }
}

/// Which container list a container sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    Regular,
    Ephemeral,
}

/// The position of a container in a pod spec, printable as a field path
/// (`spec.initContainers[0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerPath {
    pub kind: ContainerKind,
    pub index: usize,
}

impl ContainerPath {
    pub fn field(&self, rest: &str) -> String {
        let list = match self.kind {
            ContainerKind::Init => "initContainers",
            ContainerKind::Regular => "containers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        };
        if rest.is_empty() {
            format!("spec.{list}[{}]", self.index)
        } else {
            format!("spec.{list}[{}].{rest}", self.index)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct PodOs {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<i64>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supplemental_groups: Vec<i64>,
    #[serde(
        rename = "seLinuxOptions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub se_linux_options: Option<SeLinuxOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_armor_profile: Option<AppArmorProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_options: Option<WindowsOptions>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sysctls: Vec<Sysctl>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_mount: Option<String>,
    #[serde(
        rename = "seLinuxOptions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub se_linux_options: Option<SeLinuxOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_armor_profile: Option<AppArmorProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_options: Option<WindowsOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Capabilities {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub add: Vec<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub drop: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SeLinuxOptions {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub role: String,
    #[serde(
        rename = "type",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub level: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localhost_profile: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppArmorProfile {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localhost_profile: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowsOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_process: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Sysctl {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

/// A container of any kind (init, regular or ephemeral).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ContainerPort>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default, deserialize_with = "null_as_default")]
    pub container_port: i32,
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub mount_path: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub read_only: bool,
}

/// A probe; only the fields that can point at another host matter here.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HostTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<HostTarget>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<Probe>,
}

/// The `host` of an `httpGet` or `tcpSocket` action.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct HostTarget {
    #[serde(default, deserialize_with = "null_as_default")]
    pub host: String,
}

/// A volume: its name and which source it uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volume {
    pub name: String,
    /// The source, or `None` when no source is set (the API server then defaults it to
    /// `emptyDir`; see [`crate::defaults`]).
    pub source: Option<VolumeSource>,
}

impl Serialize for Volume {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        if let Some(source) = &self.source {
            let field = source.volume_type().field_name();
            match source {
                VolumeSource::HostPath { path } => {
                    map.serialize_entry(field, &BTreeMap::from([("path", path)]))?
                }
                VolumeSource::FlexVolume { driver } | VolumeSource::Csi { driver } => {
                    map.serialize_entry(field, &BTreeMap::from([("driver", driver)]))?
                }
                VolumeSource::Other(_) => {
                    map.serialize_entry(field, &BTreeMap::<String, String>::new())?
                }
            }
        }
        map.end()
    }
}

/// The source of a volume, with the details that policies read.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSource {
    HostPath {
        path: String,
    },
    FlexVolume {
        driver: String,
    },
    Csi {
        driver: String,
    },
    /// Any other source, by its field name in the v1 API (`emptyDir`, `nfs`, ...).
    Other(VolumeType),
}

impl VolumeSource {
    pub fn volume_type(&self) -> VolumeType {
        match self {
            VolumeSource::HostPath { .. } => VolumeType::HostPath,
            VolumeSource::FlexVolume { .. } => VolumeType::FlexVolume,
            VolumeSource::Csi { .. } => VolumeType::Csi,
            VolumeSource::Other(t) => *t,
        }
    }
}

macro_rules! volume_types {
    ($($variant:ident => $field:literal),* $(,)?) => {
        /// Every volume source of the v1 API, named by its field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum VolumeType { $($variant),* }

        impl VolumeType {
            pub const ALL: &'static [VolumeType] = &[$(VolumeType::$variant),*];

            /// The field name in `spec.volumes[*]` (`hostPath`, `emptyDir`, ...).
            pub fn field_name(self) -> &'static str {
                match self { $(VolumeType::$variant => $field),* }
            }

            pub fn from_field_name(name: &str) -> Option<VolumeType> {
                match name { $($field => Some(VolumeType::$variant),)* _ => None }
            }
        }
    };
}

volume_types! {
    HostPath => "hostPath",
    EmptyDir => "emptyDir",
    GcePersistentDisk => "gcePersistentDisk",
    AwsElasticBlockStore => "awsElasticBlockStore",
    GitRepo => "gitRepo",
    Secret => "secret",
    Nfs => "nfs",
    Iscsi => "iscsi",
    Glusterfs => "glusterfs",
    PersistentVolumeClaim => "persistentVolumeClaim",
    Rbd => "rbd",
    FlexVolume => "flexVolume",
    Cinder => "cinder",
    Cephfs => "cephfs",
    Flocker => "flocker",
    DownwardApi => "downwardAPI",
    Fc => "fc",
    AzureFile => "azureFile",
    ConfigMap => "configMap",
    VsphereVolume => "vsphereVolume",
    Quobyte => "quobyte",
    AzureDisk => "azureDisk",
    PhotonPersistentDisk => "photonPersistentDisk",
    Projected => "projected",
    PortworxVolume => "portworxVolume",
    ScaleIo => "scaleIO",
    Storageos => "storageos",
    Csi => "csi",
    Ephemeral => "ephemeral",
    Image => "image",
}

impl<'de> Deserialize<'de> for Volume {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(VolumeVisitor)
    }
}

struct VolumeVisitor;

#[derive(Deserialize)]
struct PathSource {
    #[serde(default, deserialize_with = "null_as_default")]
    path: String,
}

#[derive(Deserialize)]
struct DriverSource {
    #[serde(default, deserialize_with = "null_as_default")]
    driver: String,
}

impl<'de> serde::de::Visitor<'de> for VolumeVisitor {
    type Value = Volume;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a volume object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Volume, A::Error> {
        use serde::de::Error;
        let mut name: Option<String> = None;
        let mut source: Option<VolumeSource> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "name" {
                if name.is_some() {
                    return Err(A::Error::duplicate_field("name"));
                }
                name = Some(map.next_value::<Option<String>>()?.unwrap_or_default());
                continue;
            }
            let Some(volume_type) = VolumeType::from_field_name(&key) else {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            };
            // A null source is an unset pointer in Go: not a source at all.
            let found = match volume_type {
                VolumeType::HostPath => map
                    .next_value::<Option<PathSource>>()?
                    .map(|s| VolumeSource::HostPath { path: s.path }),
                VolumeType::FlexVolume => map
                    .next_value::<Option<DriverSource>>()?
                    .map(|s| VolumeSource::FlexVolume { driver: s.driver }),
                VolumeType::Csi => map
                    .next_value::<Option<DriverSource>>()?
                    .map(|s| VolumeSource::Csi { driver: s.driver }),
                other => map
                    .next_value::<Option<serde::de::IgnoredAny>>()?
                    .map(|_| VolumeSource::Other(other)),
            };
            if let Some(found) = found {
                if let Some(previous) = &source {
                    return Err(A::Error::custom(format_args!(
                        "may not specify more than 1 volume type (found {} and {})",
                        previous.volume_type().field_name(),
                        found.volume_type().field_name()
                    )));
                }
                source = Some(found);
            }
        }
        Ok(Volume {
            name: name.unwrap_or_default(),
            source,
        })
    }
}
