//! What a change of manifests does to connectivity: pairs whose allowed traffic changed,
//! appeared or disappeared.

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::{Compiled, Connectivity, Endpoint};
use crate::ipblock::Range;
use crate::policy::Direction;
use crate::ports::Connections;
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiffKind {
    Changed,
    Added,
    Removed,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Changed => "changed",
            DiffKind::Added => "added",
            DiffKind::Removed => "removed",
        }
    }
}

/// One changed pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: DiffKind,
    pub src: String,
    pub dst: String,
    pub old: Connections,
    pub new: Connections,
    /// Workloads of this pair that exist on one side only.
    pub new_or_lost: Vec<String>,
}

impl DiffLine {
    /// The `workloads-diff-info` text: `workload A [and B] added|removed`.
    pub fn info(&self) -> Option<String> {
        if self.new_or_lost.is_empty() {
            return None;
        }
        Some(format!(
            "workload {} {}",
            self.new_or_lost.join(" and "),
            self.kind.as_str()
        ))
    }
}

impl std::fmt::Display for DiffLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "diff-type: {}, source: {}, destination: {}, ref1: {}, ref2: {}",
            self.kind.as_str(),
            self.src,
            self.dst,
            self.old,
            self.new
        )?;
        if let Some(info) = self.info() {
            write!(f, ", workloads-diff-info: {info}")?;
        }
        Ok(())
    }
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Name {
    Workload(String),
    External(Range),
}

/// The connectivity diff of two topologies: changed lines first, then added, then removed,
/// each group in line order. External addresses are compared on the pieces cut by both sides'
/// ipBlocks, then touching pieces with the same peer and the same change are merged.
pub fn diff(old: &Topology, new: &Topology) -> Vec<DiffLine> {
    let ingress_new = Compiled::blocks(new, Direction::Ingress);
    let egress_new = Compiled::blocks(new, Direction::Egress);
    let ingress_old = Compiled::blocks(old, Direction::Ingress);
    let egress_old = Compiled::blocks(old, Direction::Egress);
    let before = Connectivity::compute_with_cuts(old, &ingress_new, &egress_new);
    let after = Connectivity::compute_with_cuts(new, &ingress_old, &egress_old);
    let collect = |c: &Connectivity<'_>| {
        let mut pairs: BTreeMap<(Name, Name), Connections> = BTreeMap::new();
        c.visit(None, &mut |line| {
            let name = |e: Endpoint, text: &str| match e {
                Endpoint::Workload(_) => Name::Workload(text.to_string()),
                Endpoint::External(r) => Name::External(r),
            };
            pairs.insert(
                (name(line.src, line.src_name), name(line.dst, line.dst_name)),
                line.connections.clone(),
            );
        });
        pairs
    };
    let (pairs_old, pairs_new) = (collect(&before), collect(&after));
    let workloads = |t: &Topology| -> BTreeSet<String> {
        t.workloads.iter().map(crate::Workload::id).collect()
    };
    let (workloads_old, workloads_new) = (workloads(old), workloads(new));
    let keys: BTreeSet<&(Name, Name)> = pairs_old.keys().chain(pairs_new.keys()).collect();
    let none = Connections::none();
    // Changes keyed so that external pieces with the same peer and change can be merged.
    let mut changes: BTreeMap<(u8, String, Connections, Connections), Vec<Range>> = BTreeMap::new();
    let mut lines = Vec::new();
    for key in keys {
        let a = pairs_old.get(key).unwrap_or(&none);
        let b = pairs_new.get(key).unwrap_or(&none);
        if a == b {
            continue;
        }
        match key {
            (Name::External(r), Name::Workload(w)) => {
                changes
                    .entry((0, w.clone(), a.clone(), b.clone()))
                    .or_default()
                    .push(*r);
            }
            (Name::Workload(w), Name::External(r)) => {
                changes
                    .entry((1, w.clone(), a.clone(), b.clone()))
                    .or_default()
                    .push(*r);
            }
            (Name::Workload(s), Name::Workload(d)) => {
                lines.push((s.clone(), d.clone(), a.clone(), b.clone()))
            }
            (Name::External(_), Name::External(_)) => {}
        }
    }
    for ((side, workload, a, b), mut ranges) in changes {
        ranges.sort();
        let mut merged: Vec<Range> = Vec::new();
        for r in ranges {
            match merged.last_mut() {
                Some(last) if u64::from(last.last) + 1 == u64::from(r.first) => last.last = r.last,
                _ => merged.push(r),
            }
        }
        for r in merged {
            let ext = format!("{r}[External]");
            if side == 0 {
                lines.push((ext, workload.clone(), a.clone(), b.clone()));
            } else {
                lines.push((workload.clone(), ext, a.clone(), b.clone()));
            }
        }
    }
    let mut out: Vec<DiffLine> = lines
        .into_iter()
        .map(|(src, dst, old, new)| {
            let kind = if old.is_empty() {
                DiffKind::Added
            } else if new.is_empty() {
                DiffKind::Removed
            } else {
                DiffKind::Changed
            };
            let other_side = match kind {
                DiffKind::Added => Some(&workloads_old),
                DiffKind::Removed => Some(&workloads_new),
                DiffKind::Changed => None,
            };
            let new_or_lost = other_side
                .map(|others| {
                    [&src, &dst]
                        .into_iter()
                        .filter(|n| !n.ends_with("[External]") && !others.contains(*n))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            DiffLine {
                kind,
                src,
                dst,
                old,
                new,
                new_or_lost,
            }
        })
        .collect();
    let mut keyed: Vec<(DiffKind, String, DiffLine)> =
        out.drain(..).map(|l| (l.kind, l.to_string(), l)).collect();
    keyed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    keyed.into_iter().map(|(_, _, l)| l).collect()
}
