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
    fn psp_state(&self) -> Result<Arc<podsec_policy::psp::selection::PspState>, ViewError> {
        Err(ViewError(
            "this cluster state source holds no PodSecurityPolicies or RBAC objects; give them as a directory (--state DIR)".into(),
        ))
    }

    /// One page of everything a cluster audit reads (namespaces, service accounts, pods and
    /// their controllers, PodSecurityPolicies, RBAC), each object as JSON with its
    /// `apiVersion` and `kind`. Start with `None`; pass each page's `next` back until it is
    /// `None`. A page is bounded, so a whole cluster is read in constant memory.
    fn snapshot_page<'a>(
        &'a self,
        cursor: Option<SnapshotCursor>,
    ) -> BoxFuture<'a, Result<SnapshotPage, ViewError>> {
        let _ = cursor;
        Box::pin(async {
            Err(ViewError(
                "this cluster state source cannot list a snapshot; give the manifests' files or directory to read them directly".into(),
            ))
        })
    }
}

/// Where a snapshot listing goes on: a source's own position, passed back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCursor {
    /// Which of the source's resources is being listed.
    pub resource: usize,
    /// The source's continuation within it (the API server's `continue` token).
    pub token: Option<String>,
}

/// A page of a snapshot listing.
#[derive(Debug, Clone, Default)]
pub struct SnapshotPage {
    /// Objects as JSON, each with `apiVersion` and `kind`.
    pub objects: Vec<String>,
    pub next: Option<SnapshotCursor>,
}
