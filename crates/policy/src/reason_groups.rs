//! Upstream's grouping of the pods a namespace relabel would reject: by their forbidden
//! reasons, each group with a count and its byte-wise smallest pod name. The webhook's
//! relabel dry run and `podsec audit --what-if` both write their warnings with it.

use std::collections::HashMap;

use crate::LevelVersion;

/// Pods that violate a level, grouped as upstream groups them for a namespace relabel: by
/// forbidden reasons, with a count and the byte-wise smallest pod name. Memory grows with the
/// number of distinct reason lists, not with the number of pods.
#[derive(Debug, Clone, Default)]
pub struct ReasonGroups {
    groups: Vec<(String, String, usize)>,
    index: HashMap<String, usize>,
}

impl ReasonGroups {
    pub fn add(&mut self, reason: String, pod_name: &str) {
        match self.index.get(&reason) {
            Some(&g) => {
                let group = &mut self.groups[g];
                if pod_name < group.1.as_str() {
                    group.1 = pod_name.to_string();
                }
                group.2 += 1;
            }
            None => {
                self.index.insert(reason.clone(), self.groups.len());
                self.groups.push((reason, pod_name.to_string(), 1));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Pods counted.
    pub fn pods(&self) -> usize {
        self.groups.iter().map(|g| g.2).sum()
    }

    /// Upstream's warnings: the header line, then the sorted `name (and N other pods): reasons`.
    pub fn warnings(&self, namespace: &str, enforce: LevelVersion) -> Vec<String> {
        if self.groups.is_empty() {
            return Vec::new();
        }
        let mut lines: Vec<String> = self
            .groups
            .iter()
            .map(|(reason, name, count)| match count {
                1 => format!("{name}: {reason}"),
                2 => format!("{name} (and 1 other pod): {reason}"),
                n => format!("{name} (and {} other pods): {reason}", n - 1),
            })
            .collect();
        lines.sort();
        let mut out = vec![format!(
            "existing pods in namespace {} violate the new PodSecurity enforce level {}",
            crate::go_quote(namespace),
            crate::go_quote(&enforce.to_string())
        )];
        out.extend(lines);
        out
    }
}
