//! `hostPorts` (baseline): containers must not bind host ports.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};
use crate::text::{containers_phrase, pluralize, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[VersionedCheck::since(0, host_ports_1_0)];

fn host_ports_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut names = Vec::new();
    // Upstream collects the ports as strings, so they sort as strings: "8080" < "9".
    let mut ports = SortedSet::new();
    let mut fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        let mut uses_host_port = false;
        for (i, p) in c.ports.iter().enumerate() {
            if p.host_port != 0 {
                uses_host_port = true;
                ports.insert(p.host_port.to_string());
                fields.push(path.field(&format!("ports[{i}].hostPort")));
            }
        }
        if uses_host_port {
            names.push(c.name.as_str());
        }
    }
    (!names.is_empty()).then(|| Forbidden {
        reason: "hostPort".into(),
        detail: format!(
            "{} {} {} {}",
            containers_phrase(&names),
            pluralize("uses", "use", names.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.into_iter().collect::<Vec<_>>().join(", ")
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
    fn allows_container_ports_and_zero_host_ports() {
        assert_allowed(
            host_ports_1_0,
            json!({"spec": {"containers": [
            {"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 0}]}]}}),
        );
    }

    #[test]
    fn one_container_one_port() {
        assert_forbidden(
            host_ports_1_0,
            json!({"spec": {"containers": [{"name": "a", "ports": [{"hostPort": 10}]}]}}),
            "hostPort",
            r#"container "a" uses hostPort 10"#,
        );
    }

    #[test]
    fn ports_are_distinct_and_sorted_as_strings() {
        let f = assert_forbidden(
            host_ports_1_0,
            json!({"spec": {
                "initContainers": [{"name": "i", "ports": [{"hostPort": 9}]}],
                "containers": [
                    {"name": "a", "ports": [{"hostPort": 8080}, {"containerPort": 1}]},
                    {"name": "b"},
                    {"name": "c", "ports": [{"hostPort": 9}, {"hostPort": 10}]}]}}),
            "hostPort",
            r#"containers "i", "a", "c" use hostPorts 10, 8080, 9"#,
        );
        assert_eq!(
            f.fields,
            [
                "spec.initContainers[0].ports[0].hostPort",
                "spec.containers[0].ports[0].hostPort",
                "spec.containers[2].ports[0].hostPort",
                "spec.containers[2].ports[1].hostPort",
            ]
        );
    }

    #[test]
    fn one_port_shared_by_two_containers_is_singular() {
        assert_forbidden(
            host_ports_1_0,
            json!({"spec": {"containers": [
                {"name": "a", "ports": [{"hostPort": 80}]}, {"name": "b", "ports": [{"hostPort": 80}]}]}}),
            "hostPort",
            r#"containers "a", "b" use hostPort 80"#,
        );
    }

    #[test]
    fn zero_host_ports_beside_real_ones_are_ignored() {
        assert_forbidden(
            host_ports_1_0,
            json!({"spec": {"containers": [
                {"name": "a", "ports": [{"hostPort": 0}]},
                {"name": "b", "ports": [{"hostPort": 0}, {"hostPort": 20}]}]}}),
            "hostPort",
            r#"container "b" uses hostPort 20"#,
        );
        assert_forbidden(
            host_ports_1_0,
            json!({"spec": {"containers": [
                {"name": "a", "ports": [{"hostPort": 0}]},
                {"name": "b", "ports": [{"hostPort": 0}, {"hostPort": 10}, {"hostPort": 20}]},
                {"name": "c", "ports": [{"hostPort": 0}, {"hostPort": 10}, {"hostPort": 30}]}]}}),
            "hostPort",
            r#"containers "b", "c" use hostPorts 10, 20, 30"#,
        );
    }
}
