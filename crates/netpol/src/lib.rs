//! NetworkPolicy analysis: who can reach whom, through which policy, and what a change does.
//!
//! Pure: takes decoded Kubernetes objects, returns findings. The semantics are those of the
//! `networking.k8s.io/v1` API (isolation per direction, union of rules, egress of the source
//! and ingress of the destination); peers are workloads (or pods) and the pieces of the IPv4
//! space that the policies' ipBlocks cut out. Connectivity is computed per equivalence class
//! of peers (same selectors matched, same named ports), not per pair.

mod analysis;
mod diff;
mod explain;
mod gaps;
mod ipblock;
mod policy;
mod ports;
mod selector;
mod topology;

pub use analysis::{Connectivity, Endpoint, Line};
pub use diff::{diff, DiffKind, DiffLine};
pub use explain::{explain, Explanation, RuleMatch, Side};
pub use gaps::{gaps, Gap, GapKind};
pub use ipblock::{Cidr, Range};
pub use policy::{Direction, NetworkPolicy};
pub use ports::{Connections, PortSet, Protocol};
pub use selector::Labels;
pub use topology::{
    ContainerPort, Granularity, Namespace, Topology, Workload, NAMESPACE_NAME_LABEL,
};

/// One thing wrong with an object, at a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: &str, message: &str) -> Problem {
        Problem {
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetpolError {
    #[error(
        "NetworkPolicy {policy} would be refused by the API server: {}",
        join(problems)
    )]
    InvalidPolicy {
        policy: String,
        problems: Vec<Problem>,
    },
    #[error("{kind} {name} appears twice: only one object of a kind may have a given name; remove one of them")]
    Duplicate { kind: &'static str, name: String },
    #[error("the pods of {workload} have different labels and a selector of NetworkPolicy {policy} tells them apart: the workload cannot stand for its pods (make their labels agree, or analyse with --pods)")]
    LabelGap { workload: String, policy: String },
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
