//! The API server's defaulting that can change a Pod Security verdict.
//!
//! Admission sees objects after kube-apiserver has applied its defaults, so offline input
//! (manifests, snapshots) must get the same defaults before evaluation, or podsec would
//! disagree with a cluster. Only defaults that can change a verdict or a message are applied:
//!
//! - a volume with no source becomes `emptyDir: {}` (`SetDefaults_Volume`), which restricted
//!   allows; without it the volume would be reported as type "unknown";
//! - in a Pod (not a pod template, since Kubernetes 1.28) with `hostNetwork: true`, each port of
//!   the containers and init containers without a `hostPort` gets `hostPort = containerPort`
//!   (`SetDefaults_Pod`), which the `hostPorts` check then reports.

use crate::pod::{PodSpec, VolumeSource, VolumeType};

/// What the pod spec came from: the API server defaults Pods and pod templates differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecOwner {
    Pod,
    Template,
}

/// Applies the verdict-changing API-server defaults to `spec` in place.
pub fn apply_api_server_defaults(spec: &mut PodSpec, owner: SpecOwner) {
    for volume in &mut spec.volumes {
        if volume.source.is_none() {
            volume.source = Some(VolumeSource::Other(VolumeType::EmptyDir));
        }
    }
    if owner == SpecOwner::Pod && spec.host_network {
        for container in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut())
        {
            for port in &mut container.ports {
                if port.host_port == 0 {
                    port.host_port = port.container_port;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(json: serde_json::Value) -> PodSpec {
        serde_json::from_value(json).expect("valid spec")
    }

    #[test]
    fn sourceless_volume_becomes_empty_dir() {
        let mut s = spec(
            json!({"volumes": [{"name": "a"}, {"name": "b", "hostPath": {"path": "/"}}, {"name": "c", "emptyDir": null}]}),
        );
        apply_api_server_defaults(&mut s, SpecOwner::Template);
        assert_eq!(
            s.volumes[0].source,
            Some(VolumeSource::Other(VolumeType::EmptyDir))
        );
        assert_eq!(
            s.volumes[1].source,
            Some(VolumeSource::HostPath { path: "/".into() })
        );
        assert_eq!(
            s.volumes[2].source,
            Some(VolumeSource::Other(VolumeType::EmptyDir))
        );
    }

    #[test]
    fn host_network_pods_get_host_ports_but_templates_do_not() {
        let json = json!({"hostNetwork": true,
            "initContainers": [{"name": "i", "ports": [{"containerPort": 53}]}],
            "containers": [{"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 8081}]}],
            "ephemeralContainers": [{"name": "e", "ports": [{"containerPort": 90}]}]});
        let mut pod = spec(json.clone());
        apply_api_server_defaults(&mut pod, SpecOwner::Pod);
        assert_eq!(pod.init_containers[0].ports[0].host_port, 53);
        assert_eq!(pod.containers[0].ports[0].host_port, 80);
        assert_eq!(pod.containers[0].ports[1].host_port, 8081);
        assert_eq!(pod.ephemeral_containers[0].ports[0].host_port, 0);
        let mut template = spec(json);
        apply_api_server_defaults(&mut template, SpecOwner::Template);
        assert_eq!(template.containers[0].ports[0].host_port, 0);
    }
}
