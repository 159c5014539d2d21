//! `audit --network`: what the NetworkPolicies leave open, as a section of the audit report.

use std::collections::BTreeMap;

use podsec_netpol::{gaps, Gap, Granularity, Topology};
use serde::Serialize;
use serde_json::Value;

/// One NetworkPolicy gap.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetworkFinding {
    /// `no-default-deny-ingress`, `unprotected-egress`, `policy-selects-nothing`, …
    pub gap: String,
    pub namespace: String,
    /// The namespace, `ns/name[Kind]`, or `NetworkPolicy ns/name`.
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// The network section of an audit.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetworkAudit {
    pub workloads: usize,
    pub policies: usize,
    /// Findings per gap kind.
    pub by_gap: BTreeMap<String, usize>,
    pub findings: Vec<NetworkFinding>,
}

impl NetworkFinding {
    fn from_gap(g: &Gap) -> NetworkFinding {
        NetworkFinding {
            gap: g.kind.id().to_string(),
            namespace: g.namespace.clone(),
            subject: g.subject.clone(),
            field: g.field.clone(),
            message: g.message.clone(),
        }
    }
}

/// The gaps of the snapshot's NetworkPolicies. A policy the API server would refuse fails the
/// section, with every reason (nothing is computed from a half-read policy set).
pub fn network_audit(objects: &[Value]) -> Result<NetworkAudit, Vec<String>> {
    let topology = Topology::from_objects(objects, Granularity::Workloads)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let found = gaps(&topology);
    let mut by_gap = BTreeMap::new();
    for g in &found {
        *by_gap.entry(g.kind.id().to_string()).or_insert(0) += 1;
    }
    Ok(NetworkAudit {
        workloads: topology.workloads.len(),
        policies: topology.policies.len(),
        by_gap,
        findings: found.iter().map(NetworkFinding::from_gap).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_gaps_by_kind_and_refuses_invalid_policies() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x"}, "spec": {"containers": []}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "x"}, "spec": {"podSelector": {}}}),
        ];
        let audit = network_audit(&objects).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((audit.workloads, audit.policies), (1, 1));
        assert_eq!(audit.by_gap.get("no-default-deny-egress"), Some(&1));
        assert_eq!(audit.by_gap.get("no-default-deny-ingress"), None);
        assert!(audit
            .findings
            .iter()
            .any(|f| f.gap == "unprotected-egress" && f.subject == "x/a[Pod]"));
        let bad = [
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "b"}, "spec": {"podSelector": {}, "ingress": [{"from": [{}]}]}}),
        ];
        let errors = network_audit(&bad).err().unwrap_or_default();
        assert!(
            errors.len() == 1 && errors[0].contains("NetworkPolicy default/b"),
            "{errors:?}"
        );
    }
}
