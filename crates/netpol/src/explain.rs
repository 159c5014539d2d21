//! Why a connection is allowed or not: which policies select each side, which rules admit the
//! other side and on which ports.

use crate::analysis::{Compiled, Endpoint};
use crate::policy::Direction;
use crate::ports::Connections;
use crate::topology::Topology;

/// A rule that admits the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// `namespace/name` of the policy.
    pub policy: String,
    /// The rule's field path, e.g. `spec.ingress[1]`.
    pub rule: String,
    /// What the rule allows to the destination.
    pub allows: Connections,
}

/// One side of a connection: the source's egress or the destination's ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub direction: Direction,
    /// The policies that select this workload and isolate it in this direction (empty: open).
    pub isolating: Vec<String>,
    /// The rules of those policies whose peers include the other side.
    pub admitting: Vec<RuleMatch>,
    pub allows: Connections,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// `None` for an external source (its egress is not the cluster's to restrict).
    pub egress: Option<Side>,
    /// `None` for an external destination.
    pub ingress: Option<Side>,
    /// Egress ∩ ingress.
    pub allowed: Connections,
}

/// Explains traffic from `src` to `dst` in `topology`.
pub fn explain(topology: &Topology, src: Endpoint, dst: Endpoint) -> Explanation {
    let compiled = Compiled::new(topology);
    let side = |workload: usize, direction: Direction, peer: Endpoint| -> Side {
        let destination = match direction {
            Direction::Ingress => Endpoint::Workload(workload),
            Direction::Egress => peer,
        };
        let isolating = topology
            .policies
            .iter()
            .enumerate()
            .filter(|(p, policy)| policy.isolates(direction) && compiled.selects(*p, workload))
            .map(|(_, policy)| policy.id())
            .collect();
        let admitting = compiled
            .applicable(workload, direction)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| {
                let rule = &compiled.rules[r];
                compiled.rule_admits(rule, peer).then(|| RuleMatch {
                    policy: compiled.policy(rule).id(),
                    rule: format!(
                        "spec.{}[{}]",
                        match direction {
                            Direction::Ingress => "ingress",
                            Direction::Egress => "egress",
                        },
                        rule.index
                    ),
                    allows: compiled.rule_ports(rule, destination),
                })
            })
            .collect();
        Side {
            direction,
            isolating,
            admitting,
            allows: compiled.side_allows(workload, direction, peer),
        }
    };
    let egress = match src {
        Endpoint::Workload(s) => Some(side(s, Direction::Egress, dst)),
        Endpoint::External(_) => None,
    };
    let ingress = match dst {
        Endpoint::Workload(d) => Some(side(d, Direction::Ingress, src)),
        Endpoint::External(_) => None,
    };
    let all = Connections::all();
    let allowed = egress
        .as_ref()
        .map_or(&all, |s| &s.allows)
        .intersect(ingress.as_ref().map_or(&all, |s| &s.allows));
    Explanation {
        egress,
        ingress,
        allowed,
    }
}
