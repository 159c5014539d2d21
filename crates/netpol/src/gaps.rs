//! What the policies leave open or get wrong: namespaces without a default deny, workloads no
//! policy isolates, policies and peers that select nothing, named ports that resolve nowhere.

use crate::analysis::{Compiled, Endpoint, RulePeers};
use crate::policy::{Direction, PeerSelector, PortRef};
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GapKind {
    /// No policy of the namespace selects all its pods for the direction.
    NoDefaultDeny(Direction),
    /// No policy isolates the workload in the direction: all traffic is allowed.
    Unprotected(Direction),
    /// A policy whose podSelector matches no workload.
    SelectsNothing,
    /// A rule peer whose selectors match no workload.
    PeerMatchesNothing,
    /// A named port no workload the rule applies to declares.
    NamedPortUnresolved,
}

impl GapKind {
    /// A stable identifier, for reports (rule ids).
    pub fn id(self) -> &'static str {
        match self {
            GapKind::NoDefaultDeny(Direction::Ingress) => "no-default-deny-ingress",
            GapKind::NoDefaultDeny(Direction::Egress) => "no-default-deny-egress",
            GapKind::Unprotected(Direction::Ingress) => "unprotected-ingress",
            GapKind::Unprotected(Direction::Egress) => "unprotected-egress",
            GapKind::SelectsNothing => "policy-selects-nothing",
            GapKind::PeerMatchesNothing => "peer-matches-nothing",
            GapKind::NamedPortUnresolved => "named-port-unresolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gap {
    pub kind: GapKind,
    pub namespace: String,
    /// What the finding is about: a namespace, `ns/name[Kind]` or `NetworkPolicy ns/name`.
    pub subject: String,
    /// The policy field, for findings about a policy.
    pub field: Option<String>,
    pub message: String,
}

/// Every gap in the topology, sorted by kind, namespace and subject.
pub fn gaps(topology: &Topology) -> Vec<Gap> {
    let compiled = Compiled::new(topology);
    let mut out = Vec::new();
    for (ns, _) in topology.namespaces.iter() {
        for direction in [Direction::Ingress, Direction::Egress] {
            let covered = topology
                .policies
                .iter()
                .any(|p| p.namespace == *ns && p.pod_selector.is_empty() && p.isolates(direction));
            if !covered {
                out.push(Gap {
                    kind: GapKind::NoDefaultDeny(direction),
                    namespace: ns.clone(),
                    subject: ns.clone(),
                    field: None,
                    message: format!(
                        "namespace {ns} has no default-deny {d} policy (podSelector: {{}}, policyTypes: [{d}]): pods no other policy selects accept all {d} traffic",
                        d = direction.as_str()
                    ),
                });
            }
        }
    }
    for (w, workload) in topology.workloads.iter().enumerate() {
        for direction in [Direction::Ingress, Direction::Egress] {
            if !compiled.isolated(w, direction) {
                out.push(Gap {
                    kind: GapKind::Unprotected(direction),
                    namespace: workload.namespace.clone(),
                    subject: workload.id(),
                    field: None,
                    message: format!(
                        "{} is not protected on {}: no NetworkPolicy selects it for that direction",
                        workload.id(),
                        direction.as_str()
                    ),
                });
            }
        }
    }
    for (p, policy) in topology.policies.iter().enumerate() {
        if compiled.slots[compiled.policy_slot[p]].is_empty() {
            out.push(Gap {
                kind: GapKind::SelectsNothing,
                namespace: policy.namespace.clone(),
                subject: format!("NetworkPolicy {}", policy.id()),
                field: Some("spec.podSelector".into()),
                message: format!("NetworkPolicy {} selects no workload: its podSelector matches nothing in namespace {}", policy.id(), policy.namespace),
            });
        }
    }
    let selected: Vec<Vec<usize>> = (0..topology.policies.len())
        .map(|p| {
            compiled.slots[compiled.policy_slot[p]]
                .iter()
                .map(|&w| w as usize)
                .collect()
        })
        .collect();
    for rule in &compiled.rules {
        let policy = compiled.policy(rule);
        let spec = compiled.rule(rule);
        let (section, peers_key) = match rule.direction {
            Direction::Ingress => ("ingress", "from"),
            Direction::Egress => ("egress", "to"),
        };
        let at = format!("spec.{section}[{}]", rule.index);
        if let (RulePeers::Some { slots, .. }, Some(list)) = (&rule.peers, &spec.peers) {
            let mut slot_iter = slots.iter();
            for (j, peer) in list.iter().enumerate() {
                if matches!(peer, PeerSelector::Pods { .. }) {
                    let Some(&slot) = slot_iter.next() else { break };
                    if compiled.slots[slot].is_empty() {
                        out.push(Gap {
                            kind: GapKind::PeerMatchesNothing,
                            namespace: policy.namespace.clone(),
                            subject: format!("NetworkPolicy {}", policy.id()),
                            field: Some(format!("{at}.{peers_key}[{j}]")),
                            message: format!(
                                "NetworkPolicy {}: {at}.{peers_key}[{j}] matches no workload",
                                policy.id()
                            ),
                        });
                    }
                }
            }
        }
        // Named ports resolve on the destination: the policy's pods for ingress, the rule's
        // peers for egress.
        let destinations: Vec<usize> = match rule.direction {
            Direction::Ingress => selected[rule.policy].clone(),
            Direction::Egress => (0..topology.workloads.len())
                .filter(|&w| compiled.rule_admits(rule, Endpoint::Workload(w)))
                .collect(),
        };
        for (j, port) in spec.ports.iter().flatten().enumerate() {
            let PortRef::Named(name) = &port.port else {
                continue;
            };
            let resolves = destinations.iter().any(|&w| {
                topology.workloads[w]
                    .ports
                    .iter()
                    .any(|p| p.name == *name && p.protocol == port.protocol)
            });
            if !resolves {
                out.push(Gap {
                    kind: GapKind::NamedPortUnresolved,
                    namespace: policy.namespace.clone(),
                    subject: format!("NetworkPolicy {}", policy.id()),
                    field: Some(format!("{at}.ports[{j}]")),
                    message: format!(
                        "NetworkPolicy {}: named port {name:?} ({}) is declared by no destination workload of {at}: the rule allows nothing on it",
                        policy.id(),
                        port.protocol.as_str()
                    ),
                });
            }
        }
    }
    out.sort();
    out
}
