//! What admission and audits read from the cluster, as narrow ports (upstream's
//! `NamespaceGetter`, `PodLister`, …): each consumer asks only for what it uses. Two real
//! sources implement them (in `podsec-cluster`): a directory of manifests and the live API.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use podsec_policy::psp::selection::PspState;
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

/// Why the cluster state could not answer: what was asked, and the cause when there is one.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The source failed (the API server did not answer, refused, …): `doing` says what was
    /// asked and what to do; the cause is kept.
    #[error("{doing}")]
    Source {
        doing: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The source answered with something unusable, or cannot answer this at all.
    #[error("{0}")]
    Unavailable(String),
}

impl ViewError {
    pub fn source(
        doing: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ViewError {
        ViewError::Source {
            doing: doing.into(),
            source: Box::new(source),
        }
    }
}

/// An error and its causes, `: `-separated, each cause once (a cause whose text its parent
/// already includes is not repeated): for logs, audit annotations and messages that are
/// strings.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Namespaces by name (upstream's `NamespaceGetter`).
pub trait NamespaceGetter: Send + Sync {
    /// The namespace, or `None` if it does not exist.
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>>;
}

/// The pods of a namespace, for the dry run of a new enforce level (upstream's `PodLister`).
pub trait PodLister: Send + Sync {
    /// Shared, so a source that already holds them in memory hands them over without copying.
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>>;
}

/// PodSecurityPolicies and the RBAC objects that grant their `use`.
pub trait PspSource: Send + Sync {
    fn psp_state(&self) -> Result<Arc<PspState>, ViewError>;
}

/// Everything a cluster audit reads (namespaces, service accounts, pods and their
/// controllers, PodSecurityPolicies, RBAC), a page at a time.
pub trait SnapshotLister: Send + Sync {
    /// One page, each object as JSON with its `apiVersion` and `kind`. Start with `None`;
    /// pass each page's `next` back until it is `None`. A page is bounded, so a whole cluster
    /// is read in constant memory.
    fn snapshot_page<'a>(
        &'a self,
        cursor: Option<SnapshotCursor>,
    ) -> BoxFuture<'a, Result<SnapshotPage, ViewError>>;
}

/// For cluster state without PodSecurityPolicies (the live API has none since 1.25): PSP
/// admission is refused with what to give instead.
pub struct NoPsp;

impl PspSource for NoPsp {
    fn psp_state(&self) -> Result<Arc<PspState>, ViewError> {
        Err(ViewError::Unavailable(
            "this cluster state source holds no PodSecurityPolicies or RBAC objects; give them as a directory (--state DIR, or --psp-state DIR with a live cluster)".into(),
        ))
    }
}

/// Gatekeeper templates and constraints in force, and the synced objects they may read.
#[derive(Debug, Default)]
pub struct ConstraintSet {
    pub library: podsec_constraints::Library,
    pub inventory: podsec_constraints::Inventory,
}

/// The constraints in force now (a source may swap them on reload); `None` when none are
/// configured, so requests skip the constraints engine entirely.
pub trait ConstraintSource: Send + Sync {
    fn constraints(&self) -> Option<Arc<ConstraintSet>>;
}

/// No Gatekeeper constraints.
pub struct NoConstraints;

impl ConstraintSource for NoConstraints {
    fn constraints(&self) -> Option<Arc<ConstraintSet>> {
        None
    }
}

/// A fixed set, as loaded once (tests, one-shot callers).
impl ConstraintSource for Arc<ConstraintSet> {
    fn constraints(&self) -> Option<Arc<ConstraintSet>> {
        Some(Arc::clone(self))
    }
}

/// PodSecurityExceptions in force, and the clock they are judged by.
pub trait ExceptionSource: Send + Sync {
    /// `None` when the source holds none (requests skip the lookup).
    fn exceptions(&self) -> Option<Arc<podsec_exceptions::ExceptionSet>>;

    /// Now, in Unix seconds (a source may be given another clock, as tests do).
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// No PodSecurityExceptions.
pub struct NoExceptions;

impl ExceptionSource for NoExceptions {
    fn exceptions(&self) -> Option<Arc<podsec_exceptions::ExceptionSet>> {
        None
    }
}

/// The cluster state an admission decision reads, port by port: each may come from another
/// source (namespaces and pods from the API, policies from a directory).
#[derive(Clone, Copy)]
pub struct Cluster<'a> {
    pub namespaces: &'a dyn NamespaceGetter,
    pub pods: &'a dyn PodLister,
    pub psp: &'a dyn PspSource,
    pub constraints: &'a dyn ConstraintSource,
    pub exceptions: &'a dyn ExceptionSource,
}

impl<'a> Cluster<'a> {
    /// Every port answered by one source, with no Gatekeeper constraints.
    pub fn of<S: NamespaceGetter + PodLister + PspSource>(source: &'a S) -> Cluster<'a> {
        Cluster {
            namespaces: source,
            pods: source,
            psp: source,
            constraints: &NoConstraints,
            exceptions: &NoExceptions,
        }
    }

    /// The same ports, with these exceptions.
    pub fn with_exceptions(self, exceptions: &'a dyn ExceptionSource) -> Cluster<'a> {
        Cluster { exceptions, ..self }
    }

    /// The same ports, with these constraints.
    pub fn with_constraints(self, constraints: &'a dyn ConstraintSource) -> Cluster<'a> {
        Cluster {
            constraints,
            ..self
        }
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
