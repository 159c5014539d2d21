//! `hostNamespaces` (baseline): no host network, PID or IPC namespace.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec};

pub(super) const VERSIONS: &[VersionedCheck] = &[VersionedCheck::since(0, host_namespaces_1_0)];

fn host_namespaces_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut items = Vec::new();
    let mut fields = Vec::new();
    for (set, item, field) in [
        (spec.host_network, "hostNetwork=true", "spec.hostNetwork"),
        (spec.host_pid, "hostPID=true", "spec.hostPID"),
        (spec.host_ipc, "hostIPC=true", "spec.hostIPC"),
    ] {
        if set {
            items.push(item);
            fields.push(field.to_string());
        }
    }
    (!items.is_empty()).then(|| Forbidden {
        reason: "host namespaces".into(),
        detail: items.join(", "),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pss::testing::{assert_allowed, assert_forbidden};
    use serde_json::json;

    #[test]
    fn allows_pod_namespaces() {
        assert_allowed(
            host_namespaces_1_0,
            json!({"spec": {"hostNetwork": false, "containers": [{"name": "a"}]}}),
        );
    }

    #[test]
    fn lists_each_host_namespace_in_fixed_order() {
        assert_forbidden(
            host_namespaces_1_0,
            json!({"spec": {"hostIPC": true}}),
            "host namespaces",
            "hostIPC=true",
        );
        assert_forbidden(
            host_namespaces_1_0,
            json!({"spec": {"hostNetwork": true}}),
            "host namespaces",
            "hostNetwork=true",
        );
        assert_forbidden(
            host_namespaces_1_0,
            json!({"spec": {"hostPID": true}}),
            "host namespaces",
            "hostPID=true",
        );
        let f = assert_forbidden(
            host_namespaces_1_0,
            json!({"spec": {"hostIPC": true, "hostPID": true, "hostNetwork": true}}),
            "host namespaces",
            "hostNetwork=true, hostPID=true, hostIPC=true",
        );
        assert_eq!(
            f.fields,
            ["spec.hostNetwork", "spec.hostPID", "spec.hostIPC"]
        );
    }
}
