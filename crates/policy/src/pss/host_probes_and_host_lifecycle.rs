//! `hostProbesAndHostLifecycle` (baseline, from v1.34): probes and lifecycle handlers must not
//! target another host.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec, Probe};
use crate::text::{join_quote, pluralize, SortedSet};

pub(super) const VERSIONS: &[VersionedCheck] = &[VersionedCheck::since(
    34,
    host_probes_and_host_lifecycle_1_34,
)];

fn host_probes_and_host_lifecycle_1_34(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    // Both are sets upstream, so containers are listed sorted and de-duplicated here.
    let mut containers = SortedSet::new();
    let mut hosts = SortedSet::new();
    let mut fields = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        let lifecycle = c.lifecycle.as_ref();
        let handlers = [
            ("livenessProbe", c.liveness_probe.as_ref()),
            ("readinessProbe", c.readiness_probe.as_ref()),
            ("startupProbe", c.startup_probe.as_ref()),
            (
                "lifecycle.postStart",
                lifecycle.and_then(|l| l.post_start.as_ref()),
            ),
            (
                "lifecycle.preStop",
                lifecycle.and_then(|l| l.pre_stop.as_ref()),
            ),
        ];
        for (name, handler) in handlers {
            let Some(Probe {
                http_get,
                tcp_socket,
            }) = handler
            else {
                continue;
            };
            for (action, target) in [("httpGet", http_get), ("tcpSocket", tcp_socket)] {
                if let Some(target) = target.as_ref().filter(|t| !t.host.is_empty()) {
                    containers.insert(c.name.clone());
                    hosts.insert(target.host.clone());
                    fields.push(path.field(&format!("{name}.{action}.host")));
                }
            }
        }
    }
    (!containers.is_empty()).then(|| Forbidden {
        reason: "probe or lifecycle host".into(),
        detail: format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", containers.len()),
            join_quote(&containers),
            pluralize("uses", "use", containers.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
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
    fn allows_probes_without_host() {
        assert_allowed(
            host_probes_and_host_lifecycle_1_34,
            json!({"spec": {"containers": [{
            "name": "a",
            "livenessProbe": {"httpGet": {"port": 80}},
            "readinessProbe": {"tcpSocket": {"port": 80, "host": ""}},
            "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}}]}}),
        );
    }

    #[test]
    fn one_probe_host() {
        let f = assert_forbidden(
            host_probes_and_host_lifecycle_1_34,
            json!({"spec": {"containers": [{"name": "a", "livenessProbe": {"httpGet": {"host": "1.2.3.4"}}}]}}),
            "probe or lifecycle host",
            r#"container "a" uses probe or lifecycle host "1.2.3.4""#,
        );
        assert_eq!(f.fields, ["spec.containers[0].livenessProbe.httpGet.host"]);
    }

    #[test]
    fn containers_and_hosts_are_sorted_sets() {
        assert_forbidden(
            host_probes_and_host_lifecycle_1_34,
            json!({"spec": {
                "containers": [
                    {"name": "z", "startupProbe": {"tcpSocket": {"host": "b.example"}},
                     "lifecycle": {"postStart": {"httpGet": {"host": "a.example"}}}},
                    {"name": "m", "readinessProbe": {"httpGet": {"host": "a.example"}}}],
                "ephemeralContainers": [{"name": "a", "lifecycle": {"preStop": {"tcpSocket": {"host": "c.example"}}}}]}}),
            "probe or lifecycle host",
            r#"containers "a", "m", "z" use probe or lifecycle hosts "a.example", "b.example", "c.example""#,
        );
    }

    #[test]
    fn allows_handlers_with_unset_host() {
        assert_allowed(
            host_probes_and_host_lifecycle_1_34,
            json!({"spec": {"containers": [{
                "name": "a",
                "livenessProbe": {"httpGet": {}},
                "readinessProbe": {"tcpSocket": {}},
                "lifecycle": {"postStart": {"httpGet": {}}}}]}}),
        );
    }

    #[test]
    fn every_handler_and_container_kind_is_checked() {
        let cases = [
            (
                json!({"containers": [{"name": "a",
                    "livenessProbe": {"httpGet": {"host": "127.0.0.1"}},
                    "readinessProbe": {"tcpSocket": {"host": "::1"}},
                    "startupProbe": {"httpGet": {"host": "localhost"}}}]}),
                r#"container "a" uses probe or lifecycle hosts "127.0.0.1", "::1", "localhost""#,
            ),
            (
                json!({"containers": [{"name": "a", "livenessProbe": {"httpGet": {"host": "invalid.host"}}}]}),
                r#"container "a" uses probe or lifecycle host "invalid.host""#,
            ),
            (
                json!({"containers": [{"name": "b", "readinessProbe": {"tcpSocket": {"host": "invalid.host"}}}]}),
                r#"container "b" uses probe or lifecycle host "invalid.host""#,
            ),
            (
                json!({"containers": [{"name": "c", "startupProbe": {"httpGet": {"host": "invalid.host"}}}]}),
                r#"container "c" uses probe or lifecycle host "invalid.host""#,
            ),
            (
                json!({"containers": [{"name": "d", "lifecycle": {"postStart": {"tcpSocket": {"host": "invalid.host"}}}}]}),
                r#"container "d" uses probe or lifecycle host "invalid.host""#,
            ),
            (
                json!({"containers": [{"name": "e", "lifecycle": {"preStop": {"httpGet": {"host": "another.invalid.host"}}}}]}),
                r#"container "e" uses probe or lifecycle host "another.invalid.host""#,
            ),
            (
                json!({"containers": [
                    {"name": "valid"},
                    {"name": "invalid1", "livenessProbe": {"httpGet": {"host": "a.com"}}},
                    {"name": "invalid2", "lifecycle": {"preStop": {"tcpSocket": {"host": "b.com"}}},
                     "startupProbe": {"httpGet": {"host": "a.com"}}}]}),
                r#"containers "invalid1", "invalid2" use probe or lifecycle hosts "a.com", "b.com""#,
            ),
            (
                json!({"containers": [{"name": "a", "livenessProbe": {"httpGet": {"host": "8.8.8.8"}}}]}),
                r#"container "a" uses probe or lifecycle host "8.8.8.8""#,
            ),
            (
                json!({"containers": [{"name": "a", "livenessProbe": {"tcpSocket": {"host": "2001:4860:4860::8888"}}}]}),
                r#"container "a" uses probe or lifecycle host "2001:4860:4860::8888""#,
            ),
            (
                json!({"initContainers": [{"name": "init", "livenessProbe": {"httpGet": {"host": "invalid.init.host"}}}]}),
                r#"container "init" uses probe or lifecycle host "invalid.init.host""#,
            ),
        ];
        for (spec, detail) in cases {
            assert_forbidden(
                host_probes_and_host_lifecycle_1_34,
                json!({ "spec": spec }),
                "probe or lifecycle host",
                detail,
            );
        }
    }

    #[test]
    fn applies_from_1_34_and_at_latest() {
        use crate::level::{Level, LevelVersion, Version};
        use crate::pss::{evaluate, testing::pod, CheckId};
        let (meta, spec) = pod(json!({"spec": {"containers": [
            {"name": "a", "startupProbe": {"httpGet": {"host": "localhost"}}}]}}));
        let at =
            |version: Version| evaluate(LevelVersion::new(Level::Baseline, version), &meta, &spec);
        assert!(at(Version::Minor(33)).allowed());
        for version in [Version::Minor(34), Version::Latest] {
            let checks: Vec<CheckId> = at(version).violations.iter().map(|v| v.check).collect();
            assert_eq!(checks, [CheckId::HostProbesAndHostLifecycle]);
        }
    }
}
