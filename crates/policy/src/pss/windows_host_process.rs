//! `windowsHostProcess` (baseline): no Windows HostProcess containers.

use super::{Forbidden, VersionedCheck};
use crate::pod::{ObjectMeta, PodSpec, WindowsOptions};
use crate::text::containers_phrase;

pub(super) const VERSIONS: &[VersionedCheck] =
    &[VersionedCheck::since(0, windows_host_process_1_0)];

fn host_process(options: Option<&WindowsOptions>) -> bool {
    options.and_then(|o| o.host_process) == Some(true)
}

fn windows_host_process_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut fields = Vec::new();
    let mut names = Vec::new();
    for (path, c) in spec.containers_with_paths() {
        if host_process(
            c.security_context
                .as_ref()
                .and_then(|sc| sc.windows_options.as_ref()),
        ) {
            names.push(c.name.as_str());
            fields.push(path.field("securityContext.windowsOptions.hostProcess"));
        }
    }
    let mut setters = Vec::new();
    if host_process(
        spec.security_context
            .as_ref()
            .and_then(|sc| sc.windows_options.as_ref()),
    ) {
        setters.push("pod".to_string());
        fields.insert(
            0,
            "spec.securityContext.windowsOptions.hostProcess".to_string(),
        );
    }
    if !names.is_empty() {
        setters.push(containers_phrase(&names));
    }
    (!setters.is_empty()).then(|| Forbidden {
        reason: "hostProcess".into(),
        detail: format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
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
    fn allows_unset_and_false() {
        assert_allowed(
            windows_host_process_1_0,
            json!({"spec": {
            "securityContext": {"windowsOptions": {"hostProcess": false}},
            "containers": [{"name": "a", "securityContext": {"windowsOptions": {"runAsUserName": "x"}}}]}}),
        );
    }

    #[test]
    fn pod_and_containers() {
        assert_forbidden(
            windows_host_process_1_0,
            json!({"spec": {"securityContext": {"windowsOptions": {"hostProcess": true}}}}),
            "hostProcess",
            "pod must not set securityContext.windowsOptions.hostProcess=true",
        );
        assert_forbidden(
            windows_host_process_1_0,
            json!({"spec": {"containers": [{"name": "a", "securityContext": {"windowsOptions": {"hostProcess": true}}}]}}),
            "hostProcess",
            r#"container "a" must not set securityContext.windowsOptions.hostProcess=true"#,
        );
        let f = assert_forbidden(
            windows_host_process_1_0,
            json!({"spec": {
                "securityContext": {"windowsOptions": {"hostProcess": true}},
                "containers": [
                    {"name": "a", "securityContext": {"windowsOptions": {"hostProcess": true}}},
                    {"name": "b", "securityContext": {"windowsOptions": {"hostProcess": true}}}]}}),
            "hostProcess",
            r#"pod and containers "a", "b" must not set securityContext.windowsOptions.hostProcess=true"#,
        );
        assert_eq!(
            f.fields[0],
            "spec.securityContext.windowsOptions.hostProcess"
        );
    }

    #[test]
    fn only_explicit_true_counts() {
        assert_forbidden(
            windows_host_process_1_0,
            json!({"spec": {
                "securityContext": {"windowsOptions": {"hostProcess": true}},
                "containers": [
                    {"name": "a"},
                    {"name": "b", "securityContext": {}},
                    {"name": "c", "securityContext": {"windowsOptions": {}}},
                    {"name": "d", "securityContext": {"windowsOptions": {"hostProcess": false}}},
                    {"name": "e", "securityContext": {"windowsOptions": {"hostProcess": true}}},
                    {"name": "f", "securityContext": {"windowsOptions": {"hostProcess": true}}}]}}),
            "hostProcess",
            r#"pod and containers "e", "f" must not set securityContext.windowsOptions.hostProcess=true"#,
        );
    }
}
