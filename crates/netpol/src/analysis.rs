//! Connectivity between every pair of peers, computed per equivalence class.
//!
//! Two workloads fall in one class when every selector of every policy (the policies' own pod
//! selectors and their rules' peers) treats them alike and their named ports resolve alike:
//! then they reach, and are reached by, exactly the same peers on the same ports. The class
//! matrix is computed once; the pair list expands it in output order.

use std::collections::HashMap;

use crate::ipblock::{cut, Range};
use crate::policy::{Direction, NetworkPolicy, PeerSelector, PortRef, Rule, RulePort};
use crate::ports::{Connections, PortSet};
use crate::selector::Selector;
use crate::topology::{Topology, Workload};

/// A source or destination of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// An index into the topology's workloads.
    Workload(usize),
    /// Addresses outside the cluster.
    External(Range),
}

/// One line of the connectivity list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'c> {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub src_name: &'c str,
    pub dst_name: &'c str,
    pub connections: &'c Connections,
}

/// Which workloads a selector slot matches: indices, sorted.
type Members = Vec<u32>;

/// The peers of a rule, as slots and IP blocks.
#[derive(Debug, Clone)]
pub(crate) enum RulePeers {
    All,
    Some {
        slots: Vec<usize>,
        blocks: Vec<(Range, Vec<Range>)>,
    },
}

/// A rule of a policy, with its peers reduced to slots.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub policy: usize,
    pub direction: Direction,
    pub index: usize,
    pub peers: RulePeers,
}

/// Policies reduced to selector slots: what the per-class computation and explanations share.
pub(crate) struct Compiled<'t> {
    pub topology: &'t Topology,
    /// Members of each slot (a selector applied in a namespace scope).
    pub slots: Vec<Members>,
    /// The slot of each policy's podSelector.
    pub policy_slot: Vec<usize>,
    pub rules: Vec<CompiledRule>,
    /// (name, protocol) of every named port some rule uses.
    pub named_ports: Vec<(String, crate::Protocol)>,
}

fn pod_slot_key(namespaces: &[usize], selector: &Selector) -> String {
    format!("{namespaces:?}|{selector:?}")
}

impl<'t> Compiled<'t> {
    pub fn new(topology: &'t Topology) -> Compiled<'t> {
        // Workloads by namespace, so namespace-scoped selectors look at their namespace only.
        let namespace_names: Vec<&String> = topology.namespaces.keys().collect();
        let namespace_index: HashMap<&str, usize> = namespace_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut by_namespace: Vec<Vec<u32>> = vec![Vec::new(); namespace_names.len()];
        for (i, w) in topology.workloads.iter().enumerate() {
            if let (Some(&ns), Ok(i)) =
                (namespace_index.get(w.namespace.as_str()), u32::try_from(i))
            {
                by_namespace[ns].push(i);
            }
        }
        let mut compiled = Compiled {
            topology,
            slots: Vec::new(),
            policy_slot: Vec::new(),
            rules: Vec::new(),
            named_ports: Vec::new(),
        };
        let mut slot_ids: HashMap<String, usize> = HashMap::new();
        let mut slot = |namespaces: Vec<usize>,
                        selector: Option<&Selector>,
                        slots: &mut Vec<Members>|
         -> usize {
            let all = Selector::default();
            let selector = selector.unwrap_or(&all);
            let key = pod_slot_key(&namespaces, selector);
            if let Some(&id) = slot_ids.get(&key) {
                return id;
            }
            let mut members: Members = namespaces
                .iter()
                .flat_map(|&ns| by_namespace[ns].iter().copied())
                .filter(|&w| selector.matches(&topology.workloads[w as usize].labels))
                .collect();
            members.sort_unstable();
            slots.push(members);
            slot_ids.insert(key, slots.len() - 1);
            slots.len() - 1
        };
        let mut named = std::collections::BTreeSet::new();
        for (p, policy) in topology.policies.iter().enumerate() {
            let own: Vec<usize> = namespace_index
                .get(policy.namespace.as_str())
                .copied()
                .into_iter()
                .collect();
            let id = slot(own.clone(), Some(&policy.pod_selector), &mut compiled.slots);
            compiled.policy_slot.push(id);
            for direction in [Direction::Ingress, Direction::Egress] {
                for (index, rule) in policy.rules(direction).iter().enumerate() {
                    for port in rule.ports.iter().flatten() {
                        if let PortRef::Named(name) = &port.port {
                            named.insert((name.clone(), port.protocol));
                        }
                    }
                    let peers = match &rule.peers {
                        None => RulePeers::All,
                        Some(list) => {
                            let mut slots = Vec::new();
                            let mut blocks = Vec::new();
                            for peer in list {
                                match peer {
                                    PeerSelector::Pods { pods, namespaces } => {
                                        let scope: Vec<usize> = match namespaces {
                                            None => own.clone(),
                                            Some(sel) => namespace_names
                                                .iter()
                                                .enumerate()
                                                .filter(|(_, n)| {
                                                    topology
                                                        .namespace_labels(n)
                                                        .is_some_and(|l| sel.matches(l))
                                                })
                                                .map(|(i, _)| i)
                                                .collect(),
                                        };
                                        slots.push(slot(scope, pods.as_ref(), &mut compiled.slots));
                                    }
                                    PeerSelector::IpBlock {
                                        v4: Some(v4),
                                        except,
                                        ..
                                    } => {
                                        blocks.push((*v4, except.clone()));
                                    }
                                    PeerSelector::IpBlock { v4: None, .. } => {}
                                }
                            }
                            RulePeers::Some { slots, blocks }
                        }
                    };
                    compiled.rules.push(CompiledRule {
                        policy: p,
                        direction,
                        index,
                        peers,
                    });
                }
            }
        }
        compiled.named_ports = named.into_iter().collect();
        compiled
    }

    pub fn in_slot(&self, slot: usize, workload: usize) -> bool {
        u32::try_from(workload).is_ok_and(|w| self.slots[slot].binary_search(&w).is_ok())
    }

    pub fn selects(&self, policy: usize, workload: usize) -> bool {
        self.in_slot(self.policy_slot[policy], workload)
    }

    pub fn policy(&self, rule: &CompiledRule) -> &NetworkPolicy {
        &self.topology.policies[rule.policy]
    }

    pub fn rule(&self, rule: &CompiledRule) -> &Rule {
        &self.policy(rule).rules(rule.direction)[rule.index]
    }

    /// Whether a rule's peers include the endpoint.
    pub fn rule_admits(&self, rule: &CompiledRule, peer: Endpoint) -> bool {
        match (&rule.peers, peer) {
            (RulePeers::All, _) => true,
            (RulePeers::Some { slots, .. }, Endpoint::Workload(w)) => {
                slots.iter().any(|&s| self.in_slot(s, w))
            }
            (RulePeers::Some { blocks, .. }, Endpoint::External(range)) => {
                blocks.iter().any(|(cidr, except)| {
                    cidr.contains(&range) && !except.iter().any(|e| e.contains(&range))
                })
            }
        }
    }

    /// The connections a rule's ports allow to `destination` (named ports resolve on the
    /// destination workload's container ports; on an external address they resolve to nothing).
    pub fn rule_ports(&self, rule: &CompiledRule, destination: Endpoint) -> Connections {
        let Some(ports) = &self.rule(rule).ports else {
            return Connections::all();
        };
        let mut out = Connections::none();
        for port in ports {
            out.add(&self.port_connections(port, destination));
        }
        out
    }

    fn port_connections(&self, port: &RulePort, destination: Endpoint) -> Connections {
        let set = match &port.port {
            PortRef::All => PortSet::all(),
            PortRef::Number { port, end } => PortSet::range(*port, *end),
            PortRef::Named(name) => match destination {
                Endpoint::Workload(w) => self.topology.workloads[w]
                    .ports
                    .iter()
                    .filter(|p| p.name == *name && p.protocol == port.protocol)
                    .fold(PortSet::default(), |acc, p| {
                        acc.union(&PortSet::range(p.port, p.port))
                    }),
                Endpoint::External(_) => PortSet::default(),
            },
        };
        Connections::of(port.protocol, set)
    }

    /// Whether some policy isolates the workload in the direction.
    pub fn isolated(&self, workload: usize, direction: Direction) -> bool {
        self.topology
            .policies
            .iter()
            .enumerate()
            .any(|(p, policy)| policy.isolates(direction) && self.selects(p, workload))
    }

    /// The rules that apply to the workload's traffic in the direction (those of the policies
    /// that select it and isolate it in that direction), or `None` when no policy isolates it.
    pub fn applicable(&self, workload: usize, direction: Direction) -> Option<Vec<usize>> {
        if !self.isolated(workload, direction) {
            return None;
        }
        Some(
            self.rules
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.direction == direction
                        && self.topology.policies[r.policy].isolates(direction)
                        && self.selects(r.policy, workload)
                })
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// What one side allows, given the rules that apply to it (`None`: not isolated).
    fn side(&self, rules: Option<&[usize]>, peer: Endpoint, destination: Endpoint) -> Connections {
        let Some(rules) = rules else {
            return Connections::all();
        };
        let mut out = Connections::none();
        for &r in rules {
            let rule = &self.rules[r];
            if self.rule_admits(rule, peer) {
                out.add(&self.rule_ports(rule, destination));
                if out.is_all() {
                    break;
                }
            }
        }
        out
    }

    /// What the workload's side allows for traffic with `peer` in `direction` (egress: the
    /// workload sends to `peer`; ingress: it receives from `peer`).
    pub fn side_allows(
        &self,
        workload: usize,
        direction: Direction,
        peer: Endpoint,
    ) -> Connections {
        let rules = self.applicable(workload, direction);
        let destination = match direction {
            Direction::Ingress => Endpoint::Workload(workload),
            Direction::Egress => peer,
        };
        self.side(rules.as_deref(), peer, destination)
    }

    /// The connections from `src` to `dst` (egress of the source ∩ ingress of the
    /// destination), given the rules that apply to each side.
    fn between(
        &self,
        src: Endpoint,
        src_egress: Option<&[usize]>,
        dst: Endpoint,
        dst_ingress: Option<&[usize]>,
    ) -> Connections {
        let egress = self.side(src_egress, dst, dst);
        if egress.is_empty() {
            return egress;
        }
        let ingress = self.side(dst_ingress, src, dst);
        egress.intersect(&ingress)
    }

    /// The connections from `src` to `dst`, computed directly (the class matrix must agree).
    #[cfg(test)]
    pub fn connections(&self, src: Endpoint, dst: Endpoint) -> Connections {
        let egress = match src {
            Endpoint::Workload(s) => self.applicable(s, Direction::Egress),
            Endpoint::External(_) => None,
        };
        let ingress = match dst {
            Endpoint::Workload(d) => self.applicable(d, Direction::Ingress),
            Endpoint::External(_) => None,
        };
        self.between(src, egress.as_deref(), dst, ingress.as_deref())
    }

    /// The ipBlock boundaries of the rules of one direction (for cutting the external space).
    pub fn blocks(topology: &Topology, direction: Direction) -> Vec<Range> {
        let mut out = Vec::new();
        for policy in &topology.policies {
            for rule in policy.rules(direction) {
                for peer in rule.peers.iter().flatten() {
                    if let PeerSelector::IpBlock {
                        v4: Some(v4),
                        except,
                        ..
                    } = peer
                    {
                        out.push(*v4);
                        out.extend(except.iter().copied());
                    }
                }
            }
        }
        out
    }
}

/// The connectivity of a topology: every ordered pair of peers and what it allows.
pub struct Connectivity<'t> {
    compiled: Compiled<'t>,
    /// Class of each workload.
    class_of: Vec<u32>,
    /// Distinct connection sets; the matrices hold indices into it.
    interned: Vec<Connections>,
    classes: usize,
    /// class × class → interned connections.
    matrix: Vec<u32>,
    /// External sources (ingress cuts) and destinations (egress cuts).
    sources: Vec<Range>,
    destinations: Vec<Range>,
    /// source range × class, and class × destination range.
    from_external: Vec<u32>,
    to_external: Vec<u32>,
    workload_names: Vec<String>,
}

struct Interner {
    ids: HashMap<Connections, u32>,
    values: Vec<Connections>,
}

impl Interner {
    fn id(&mut self, c: Connections) -> u32 {
        if let Some(&id) = self.ids.get(&c) {
            return id;
        }
        let id = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(c.clone());
        self.ids.insert(c, id);
        id
    }
}

impl<'t> Connectivity<'t> {
    /// Computes connectivity with the external space cut by the topology's own ipBlocks.
    pub fn compute(topology: &'t Topology) -> Connectivity<'t> {
        Connectivity::compute_with_cuts(topology, &[], &[])
    }

    /// As `compute`, with the external space also cut at other blocks (a diff cuts both sides
    /// at the union of their blocks, so their ranges compare).
    pub fn compute_with_cuts(
        topology: &'t Topology,
        ingress_extra: &[Range],
        egress_extra: &[Range],
    ) -> Connectivity<'t> {
        let compiled = Compiled::new(topology);
        let n = topology.workloads.len();
        // Equivalence classes: the slots a workload is in plus how the named ports resolve.
        let mut membership: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (s, members) in compiled.slots.iter().enumerate() {
            for &w in members {
                membership[w as usize].push(u32::try_from(s).unwrap_or(u32::MAX));
            }
        }
        let mut class_ids: HashMap<(Vec<u32>, Vec<Vec<u16>>), u32> = HashMap::new();
        let mut representatives: Vec<usize> = Vec::new();
        let mut class_of = Vec::with_capacity(n);
        for (w, slots) in membership.into_iter().enumerate() {
            let resolved: Vec<Vec<u16>> = compiled
                .named_ports
                .iter()
                .map(|(name, protocol)| {
                    topology.workloads[w]
                        .ports
                        .iter()
                        .filter(|p| p.name == *name && p.protocol == *protocol)
                        .map(|p| p.port)
                        .collect()
                })
                .collect();
            let next = u32::try_from(representatives.len()).unwrap_or(u32::MAX);
            let id = *class_ids.entry((slots, resolved)).or_insert_with(|| {
                representatives.push(w);
                next
            });
            class_of.push(id);
        }
        let classes = representatives.len();
        let mut interner = Interner {
            ids: HashMap::new(),
            values: Vec::new(),
        };
        let egress: Vec<Option<Vec<usize>>> = representatives
            .iter()
            .map(|&w| compiled.applicable(w, Direction::Egress))
            .collect();
        let ingress: Vec<Option<Vec<usize>>> = representatives
            .iter()
            .map(|&w| compiled.applicable(w, Direction::Ingress))
            .collect();
        let mut matrix = Vec::with_capacity(classes * classes);
        for (s, &sw) in representatives.iter().enumerate() {
            for (d, &dw) in representatives.iter().enumerate() {
                let c = compiled.between(
                    Endpoint::Workload(sw),
                    egress[s].as_deref(),
                    Endpoint::Workload(dw),
                    ingress[d].as_deref(),
                );
                matrix.push(interner.id(c));
            }
        }
        let mut ingress_blocks = Compiled::blocks(topology, Direction::Ingress);
        ingress_blocks.extend_from_slice(ingress_extra);
        let mut egress_blocks = Compiled::blocks(topology, Direction::Egress);
        egress_blocks.extend_from_slice(egress_extra);
        let sources = cut(&ingress_blocks);
        let destinations = cut(&egress_blocks);
        let mut from_external = Vec::with_capacity(sources.len() * classes);
        for &r in &sources {
            for (d, &dw) in representatives.iter().enumerate() {
                let c = compiled.between(
                    Endpoint::External(r),
                    None,
                    Endpoint::Workload(dw),
                    ingress[d].as_deref(),
                );
                from_external.push(interner.id(c));
            }
        }
        let mut to_external = Vec::with_capacity(destinations.len() * classes);
        for (s, &sw) in representatives.iter().enumerate() {
            for &r in &destinations {
                let c = compiled.between(
                    Endpoint::Workload(sw),
                    egress[s].as_deref(),
                    Endpoint::External(r),
                    None,
                );
                to_external.push(interner.id(c));
            }
        }
        let workload_names = topology.workloads.iter().map(Workload::id).collect();
        Connectivity {
            compiled,
            class_of,
            interned: interner.values,
            classes,
            matrix,
            sources,
            destinations,
            from_external,
            to_external,
            workload_names,
        }
    }

    pub fn topology(&self) -> &'t Topology {
        self.compiled.topology
    }

    /// How many equivalence classes the workloads fell into.
    pub fn class_count(&self) -> usize {
        self.classes
    }

    /// The external ranges as sources (cut by ingress ipBlocks) and as destinations.
    pub fn external_sources(&self) -> &[Range] {
        &self.sources
    }

    pub fn external_destinations(&self) -> &[Range] {
        &self.destinations
    }

    /// The list-format name of an endpoint.
    pub fn name(&self, endpoint: Endpoint) -> String {
        match endpoint {
            Endpoint::Workload(w) => self.workload_names[w].clone(),
            Endpoint::External(r) => format!("{r}[External]"),
        }
    }

    /// What `src` may open to `dst`. Pairs of one workload, or of two external ranges, are
    /// not analysed (`None`).
    pub fn get(&self, src: Endpoint, dst: Endpoint) -> Option<&Connections> {
        let id = match (src, dst) {
            (Endpoint::Workload(s), Endpoint::Workload(d)) if s != d => {
                self.matrix[self.class_of[s] as usize * self.classes + self.class_of[d] as usize]
            }
            (Endpoint::External(r), Endpoint::Workload(d)) => {
                let i = self.sources.binary_search(&r).ok()?;
                self.from_external[i * self.classes + self.class_of[d] as usize]
            }
            (Endpoint::Workload(s), Endpoint::External(r)) => {
                let i = self.destinations.binary_search(&r).ok()?;
                self.to_external[self.class_of[s] as usize * self.destinations.len() + i]
            }
            _ => return None,
        };
        self.interned.get(id as usize)
    }

    /// Visits every pair with some allowed traffic, sorted by source then destination name as
    /// byte strings (the list format's order). `focus` keeps only pairs touching that workload.
    pub fn visit(&self, focus: Option<usize>, visit: &mut dyn FnMut(Line<'_>)) {
        let mut srcs: Vec<(String, Endpoint)> = self.endpoints(&self.sources);
        let mut dsts: Vec<(String, Endpoint)> = self.endpoints(&self.destinations);
        srcs.sort();
        dsts.sort();
        for (src_name, src) in &srcs {
            for (dst_name, dst) in &dsts {
                if let Some(f) = focus {
                    if *src != Endpoint::Workload(f) && *dst != Endpoint::Workload(f) {
                        continue;
                    }
                }
                let Some(connections) = self.get(*src, *dst) else {
                    continue;
                };
                if connections.is_empty() {
                    continue;
                }
                visit(Line {
                    src: *src,
                    dst: *dst,
                    src_name,
                    dst_name,
                    connections,
                });
            }
        }
    }

    fn endpoints(&self, ranges: &[Range]) -> Vec<(String, Endpoint)> {
        (0..self.workload_names.len())
            .map(Endpoint::Workload)
            .chain(ranges.iter().map(|&r| Endpoint::External(r)))
            .map(|e| (self.name(e), e))
            .collect()
    }
}
