//! `restrictedVolumes` (restricted): only volume types that cannot reach the node or the
//! network directly. Replaces `hostPathVolumes` under restricted.

use super::{CheckId, Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec, VolumeType};
use crate::text::{join_quote, pluralize, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] =
    &[VersionedCheck::since(0, restricted_volumes_1_0).overriding(&[CheckId::HostPathVolumes])];

/// Volume types restricted allows.
pub const ALLOWED: &[VolumeType] = &[
    VolumeType::ConfigMap,
    VolumeType::Csi,
    VolumeType::DownwardApi,
    VolumeType::EmptyDir,
    VolumeType::Ephemeral,
    VolumeType::Image,
    VolumeType::PersistentVolumeClaim,
    VolumeType::Projected,
    VolumeType::Secret,
];

/// The name upstream prints for a forbidden type. Upstream has its own spelling for CephFS
/// (`cephfs`), and prints `unknown` for sources it does not list.
fn printed_name(t: Option<VolumeType>) -> &'static str {
    match t {
        Some(
            t @ (VolumeType::HostPath
            | VolumeType::GcePersistentDisk
            | VolumeType::AwsElasticBlockStore
            | VolumeType::GitRepo
            | VolumeType::Nfs
            | VolumeType::Iscsi
            | VolumeType::Glusterfs
            | VolumeType::Rbd
            | VolumeType::FlexVolume
            | VolumeType::Cinder
            | VolumeType::Cephfs
            | VolumeType::Flocker
            | VolumeType::Fc
            | VolumeType::AzureFile
            | VolumeType::VsphereVolume
            | VolumeType::Quobyte
            | VolumeType::AzureDisk
            | VolumeType::PhotonPersistentDisk
            | VolumeType::PortworxVolume
            | VolumeType::ScaleIo
            | VolumeType::Storageos),
        ) => t.field_name(),
        _ => "unknown",
    }
}

fn restricted_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut names = Vec::new();
    let mut types = SortedSet::new();
    let mut fields = Vec::new();
    for (i, v) in spec.volumes.iter().enumerate() {
        let volume_type = v.source.as_ref().map(|s| s.volume_type());
        if volume_type.is_some_and(|t| ALLOWED.contains(&t)) {
            continue;
        }
        names.push(v.name.as_str());
        types.insert(printed_name(volume_type).to_string());
        fields.push(match volume_type {
            Some(t) => format!("spec.volumes[{i}].{}", t.field_name()),
            None => format!("spec.volumes[{i}]"),
        });
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "restricted volume types".into(),
        detail: format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names),
            pluralize("uses", "use", names.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn allows_the_allowed_types() {
        let volumes: Vec<_> = ALLOWED
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"name": format!("v{i}"), t.field_name(): {}}))
            .collect();
        assert_allowed(
            restricted_volumes_1_0,
            json!({"spec": {"volumes": volumes}}),
        );
    }

    #[test]
    fn every_forbidden_type_is_named_as_upstream_names_it() {
        let cases = [
            ("hostPath", "hostPath"),
            ("gcePersistentDisk", "gcePersistentDisk"),
            ("awsElasticBlockStore", "awsElasticBlockStore"),
            ("gitRepo", "gitRepo"),
            ("nfs", "nfs"),
            ("iscsi", "iscsi"),
            ("glusterfs", "glusterfs"),
            ("rbd", "rbd"),
            ("flexVolume", "flexVolume"),
            ("cinder", "cinder"),
            ("cephfs", "cephfs"),
            ("flocker", "flocker"),
            ("fc", "fc"),
            ("azureFile", "azureFile"),
            ("vsphereVolume", "vsphereVolume"),
            ("quobyte", "quobyte"),
            ("azureDisk", "azureDisk"),
            ("photonPersistentDisk", "photonPersistentDisk"),
            ("portworxVolume", "portworxVolume"),
            ("scaleIO", "scaleIO"),
            ("storageos", "storageos"),
        ];
        for (field, printed) in cases {
            assert_forbidden(
                restricted_volumes_1_0,
                json!({"spec": {"volumes": [{"name": "a", field: {}}]}}),
                "restricted volume types",
                &format!(r#"volume "a" uses restricted volume type "{printed}""#),
            );
        }
    }

    #[test]
    fn a_volume_without_source_is_unknown_before_defaulting() {
        let f = assert_forbidden(
            restricted_volumes_1_0,
            json!({"spec": {"volumes": [{"name": "a"}]}}),
            "restricted volume types",
            r#"volume "a" uses restricted volume type "unknown""#,
        );
        assert_eq!(f.fields, ["spec.volumes[0]"]);
    }

    #[test]
    fn several_volumes_and_types() {
        let f = assert_forbidden(
            restricted_volumes_1_0,
            json!({"spec": {"volumes": [
                {"name": "b", "nfs": {}}, {"name": "ok", "secret": {}}, {"name": "a", "hostPath": {"path": "/"}},
                {"name": "c", "nfs": {}}]}}),
            "restricted volume types",
            r#"volumes "b", "a", "c" use restricted volume types "hostPath", "nfs""#,
        );
        assert_eq!(f.fields[1], "spec.volumes[2].hostPath");
        assert_forbidden(
            restricted_volumes_1_0,
            json!({"spec": {"volumes": [{"name": "b", "nfs": {}}, {"name": "c", "nfs": {}}]}}),
            "restricted volume types",
            r#"volumes "b", "c" use restricted volume type "nfs""#,
        );
    }

    #[test]
    fn allowed_restricted_and_unknown_together() {
        let allowed = [
            "emptyDir",
            "secret",
            "persistentVolumeClaim",
            "downwardAPI",
            "configMap",
            "projected",
            "csi",
            "ephemeral",
            "image",
        ];
        let restricted = [
            "hostPath",
            "gcePersistentDisk",
            "awsElasticBlockStore",
            "gitRepo",
            "nfs",
            "iscsi",
            "glusterfs",
            "rbd",
            "flexVolume",
            "cinder",
            "cephfs",
            "flocker",
            "fc",
            "azureFile",
            "vsphereVolume",
            "quobyte",
            "azureDisk",
            "photonPersistentDisk",
            "portworxVolume",
            "scaleIO",
            "storageos",
        ];
        let mut volumes = Vec::new();
        for (i, t) in allowed.into_iter().enumerate() {
            volumes.push(json!({"name": format!("a{}", i + 1), t: {}}));
        }
        for (i, t) in restricted.into_iter().enumerate() {
            volumes.push(json!({"name": format!("b{}", i + 1), t: {}}));
        }
        volumes.push(json!({"name": "c1"}));
        let f = assert_forbidden(
            restricted_volumes_1_0,
            json!({"spec": {"volumes": volumes}}),
            "restricted volume types",
            r#"volumes "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11", "b12", "b13", "b14", "b15", "b16", "b17", "b18", "b19", "b20", "b21", "c1" use restricted volume types "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "iscsi", "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "unknown", "vsphereVolume""#,
        );
        assert_eq!(f.fields.len(), 22);
        assert_eq!(f.fields[0], "spec.volumes[9].hostPath");
    }
}
