//! What admission needs to know about the cluster, behind one small trait. Two real sources
//! implement it (in `podsec-cluster`): a directory of manifests and the live API.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use podsec_policy::{ObjectMeta, PodSpec};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A namespace's name and labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceMeta {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A pod that exists in the cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExistingPod {
    pub meta: ObjectMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ViewError(pub String);

/// The cluster state admission decisions read.
pub trait ClusterView: Send + Sync {
    /// The namespace, or `None` if it does not exist.
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>>;

    /// The pods of a namespace, for the dry run of a new enforce level. Shared, so a source
    /// that already holds them in memory hands them over without copying.
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>>;

    /// PodSecurityPolicies and the RBAC objects that grant their `use`. Sources without them
    /// say so.
    fn psp_state(&self) -> Result<Arc<crate::psp::PspState>, ViewError> {
        Err(ViewError(
            "this cluster state source holds no PodSecurityPolicies or RBAC objects; give them as a directory (--state DIR)".into(),
        ))
    }
}
