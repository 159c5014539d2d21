//! What the analysis runs over: namespaces, peers (workloads or pods) and policies, read from
//! decoded Kubernetes objects.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::policy::NetworkPolicy;
use crate::selector::Labels;
use crate::NetpolError;

/// The label every namespace carries (immutable, set by the API server).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

const WORKLOAD_KINDS: [&str; 7] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

/// How pods are grouped into peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    /// A workload is one peer; a pod with a controller is its controller.
    #[default]
    Workloads,
    /// Every pod is its own peer (workloads' templates stand for one pod each).
    Pods,
}

/// A container port as the destination declares it (for named ports).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub name: String,
    pub port: u16,
    pub protocol: crate::Protocol,
}

/// A group of pods that policies see as one: a workload or a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub kind: String,
    pub labels: Labels,
    pub ports: Vec<ContainerPort>,
    /// Label sets of other pods of this owner that differ from `labels`.
    pub(crate) label_variants: Vec<Labels>,
}

impl Workload {
    /// `namespace/name[Kind]`, as the list format names peers.
    pub fn id(&self) -> String {
        format!("{}/{}[{}]", self.namespace, self.name, self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
}

/// Namespaces, workloads and policies: the input of every analysis.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub namespaces: BTreeMap<String, Namespace>,
    pub workloads: Vec<Workload>,
    pub policies: Vec<NetworkPolicy>,
}

impl Topology {
    /// Builds the topology from objects (each with apiVersion and kind; `*List` objects give
    /// their items). Objects of other kinds are ignored. Any policy the API server would refuse
    /// fails the whole build: an analysis of a half-read policy set would be wrong.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value>,
        granularity: Granularity,
    ) -> Result<Topology, Vec<NetpolError>> {
        let mut builder = Builder {
            granularity,
            topology: Topology::default(),
            errors: Vec::new(),
            index: BTreeMap::new(),
        };
        for object in objects {
            builder.add(object, None);
        }
        builder.finish()
    }

    pub fn namespace_labels(&self, name: &str) -> Option<&Labels> {
        self.namespaces.get(name).map(|n| &n.labels)
    }
}

struct Builder {
    granularity: Granularity,
    topology: Topology,
    errors: Vec<NetpolError>,
    /// Workload id → index, to merge the pods of one owner.
    index: BTreeMap<(String, String, String), usize>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn labels_at(v: Option<&Value>) -> Labels {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn ports_of(pod_spec: Option<&Value>) -> Vec<ContainerPort> {
    let mut out = Vec::new();
    let containers = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    for container in containers.into_iter().flatten() {
        for port in container
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let number = port
                .get("containerPort")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok());
            let protocol = port
                .get("protocol")
                .and_then(Value::as_str)
                .map_or(Some(crate::Protocol::Tcp), crate::Protocol::parse);
            if let (Some(port_number), Some(protocol)) = (number, protocol) {
                out.push(ContainerPort {
                    name: port
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    port: port_number,
                    protocol,
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

impl Builder {
    fn add(&mut self, object: &Value, list_kind: Option<&str>) {
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .or(list_kind)
            .unwrap_or_default();
        if let Some(items) = object.get("items").and_then(Value::as_array) {
            if kind.ends_with("List") {
                let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
                for item in items {
                    self.add(item, item_kind);
                }
                return;
            }
        }
        let namespace = str_at(object, &["metadata", "namespace"])
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        let name = str_at(object, &["metadata", "name"])
            .unwrap_or_default()
            .to_string();
        match kind {
            "Namespace" => {
                let mut labels = labels_at(object.pointer("/metadata/labels"));
                labels.insert(NAMESPACE_NAME_LABEL.into(), name.clone());
                if self.topology.namespaces.contains_key(&name) {
                    self.errors.push(NetpolError::Duplicate {
                        kind: "Namespace",
                        name,
                    });
                    return;
                }
                self.topology
                    .namespaces
                    .insert(name.clone(), Namespace { name, labels });
            }
            "NetworkPolicy" => match NetworkPolicy::parse(object, "default") {
                Ok(policy) if self.topology.policies.iter().any(|p| p.id() == policy.id()) => {
                    self.errors.push(NetpolError::Duplicate {
                        kind: "NetworkPolicy",
                        name: policy.id(),
                    });
                }
                Ok(policy) => self.topology.policies.push(policy),
                Err(problems) => self.errors.push(NetpolError::InvalidPolicy {
                    policy: format!("{namespace}/{name}"),
                    problems,
                }),
            },
            "Pod" => {
                let labels = labels_at(object.pointer("/metadata/labels"));
                let ports = ports_of(object.get("spec"));
                let owner = object
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .and_then(|refs| {
                        // A static pod's "controller" is its node: the pod stays itself.
                        refs.iter().find(|r| {
                            r.get("controller").and_then(Value::as_bool) == Some(true)
                                && r.get("kind").and_then(Value::as_str) != Some("Node")
                        })
                    });
                let (peer_name, peer_kind) = match (self.granularity, owner) {
                    (Granularity::Workloads, Some(owner)) => (
                        owner
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        owner
                            .get("kind")
                            .and_then(Value::as_str)
                            .filter(|k| !k.is_empty())
                            .unwrap_or("Pod")
                            .to_string(),
                    ),
                    _ => (name, "Pod".to_string()),
                };
                self.workload(namespace, peer_name, peer_kind, labels, ports);
            }
            k if WORKLOAD_KINDS.contains(&k) => {
                let template = if k == "CronJob" {
                    object.pointer("/spec/jobTemplate/spec/template")
                } else {
                    object.pointer("/spec/template")
                };
                let labels = labels_at(template.and_then(|t| t.pointer("/metadata/labels")));
                let ports = ports_of(template.and_then(|t| t.get("spec")));
                self.workload(namespace, name, k.to_string(), labels, ports);
            }
            _ => {}
        }
    }

    fn workload(
        &mut self,
        namespace: String,
        name: String,
        kind: String,
        labels: Labels,
        ports: Vec<ContainerPort>,
    ) {
        let key = (namespace.clone(), name.clone(), kind.clone());
        if let Some(&i) = self.index.get(&key) {
            // Another pod of the same owner: it offers the union of the ports.
            let w = &mut self.topology.workloads[i];
            w.ports.extend(ports);
            w.ports.sort();
            w.ports.dedup();
            if labels != w.labels && !w.label_variants.contains(&labels) {
                w.label_variants.push(labels);
            }
            return;
        }
        self.index.insert(key, self.topology.workloads.len());
        self.topology.workloads.push(Workload {
            namespace,
            name,
            kind,
            labels,
            ports,
            label_variants: Vec::new(),
        });
    }

    fn finish(mut self) -> Result<Topology, Vec<NetpolError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        // Namespaces that pods or policies live in but no object defines carry only their name.
        let used: Vec<String> = self
            .topology
            .workloads
            .iter()
            .map(|w| w.namespace.clone())
            .chain(self.topology.policies.iter().map(|p| p.namespace.clone()))
            .collect();
        for name in used {
            self.topology
                .namespaces
                .entry(name.clone())
                .or_insert_with(|| Namespace {
                    labels: Labels::from([(NAMESPACE_NAME_LABEL.to_string(), name.clone())]),
                    name,
                });
        }
        self.topology.workloads.sort_by_key(Workload::id);
        let gaps = label_gaps(&self.topology);
        if !gaps.is_empty() {
            return Err(gaps);
        }
        Ok(self.topology)
    }
}

/// Pods of one owner whose labels differ where some policy's selector looks: the owner cannot
/// stand for its pods, so the analysis refuses (use `--pods`, or make the labels agree).
fn label_gaps(topology: &Topology) -> Vec<NetpolError> {
    let mut out = Vec::new();
    for w in topology
        .workloads
        .iter()
        .filter(|w| !w.label_variants.is_empty())
    {
        let ns_labels = topology.namespace_labels(&w.namespace);
        let mut selectors: Vec<(&NetworkPolicy, &crate::selector::Selector)> = Vec::new();
        for policy in &topology.policies {
            if policy.namespace == w.namespace {
                selectors.push((policy, &policy.pod_selector));
            }
            for direction in [crate::Direction::Ingress, crate::Direction::Egress] {
                for rule in policy.rules(direction) {
                    for peer in rule.peers.iter().flatten() {
                        if let crate::policy::PeerSelector::Pods {
                            pods: Some(pods),
                            namespaces,
                        } = peer
                        {
                            let in_scope = match namespaces {
                                None => policy.namespace == w.namespace,
                                Some(sel) => ns_labels.is_some_and(|l| sel.matches(l)),
                            };
                            if in_scope {
                                selectors.push((policy, pods));
                            }
                        }
                    }
                }
            }
        }
        if let Some((policy, _)) = selectors.iter().find(|(_, sel)| {
            let first = sel.matches(&w.labels);
            w.label_variants.iter().any(|v| sel.matches(v) != first)
        }) {
            out.push(NetpolError::LabelGap {
                workload: w.id(),
                policy: policy.id(),
            });
        }
    }
    out
}
