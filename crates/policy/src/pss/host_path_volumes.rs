//! `hostPathVolumes` (baseline): no hostPath volumes.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec, VolumeSource};
use crate::text::{join_quote, pluralize};

pub(super) const VERSIONS: &[VersionedCheck] = &[VersionedCheck::since(0, host_path_volumes_1_0)];

fn host_path_volumes_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut names = Vec::new();
    let mut fields = Vec::new();
    for (i, v) in spec.volumes.iter().enumerate() {
        if matches!(v.source, Some(VolumeSource::HostPath { .. })) {
            names.push(v.name.as_str());
            fields.push(format!("spec.volumes[{i}].hostPath"));
        }
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "hostPath volumes".into(),
        detail: format!(
            "{} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names)
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
    fn allows_other_volumes() {
        assert_allowed(
            host_path_volumes_1_0,
            json!({"spec": {"volumes": [
            {"name": "a", "emptyDir": {}}, {"name": "b", "nfs": {"server": "x", "path": "/"}}]}}),
        );
    }

    #[test]
    fn names_host_path_volumes_in_spec_order() {
        assert_forbidden(
            host_path_volumes_1_0,
            json!({"spec": {"volumes": [{"name": "a", "hostPath": {"path": "/"}}]}}),
            "hostPath volumes",
            r#"volume "a""#,
        );
        let f = assert_forbidden(
            host_path_volumes_1_0,
            json!({"spec": {"volumes": [
                {"name": "z", "hostPath": {"path": "/a"}}, {"name": "e", "emptyDir": {}}, {"name": "b", "hostPath": {}}]}}),
            "hostPath volumes",
            r#"volumes "z", "b""#,
        );
        assert_eq!(
            f.fields,
            ["spec.volumes[0].hostPath", "spec.volumes[2].hostPath"]
        );
    }

    #[test]
    fn empty_host_path_sources_count() {
        assert_forbidden(
            host_path_volumes_1_0,
            json!({"spec": {"volumes": [
                {"name": "a", "hostPath": {}}, {"name": "b", "hostPath": {}}, {"name": "c", "emptyDir": {}}]}}),
            "hostPath volumes",
            r#"volumes "a", "b""#,
        );
    }
}
