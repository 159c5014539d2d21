//! Cluster state for podsec, behind the admission crate's ports ([`podsec_admission::Cluster`]):
//! a directory of manifests ([`DirSource`], the default, reloaded on change) or the live API
//! ([`LiveCluster`], kube-rs watchers).

mod constraints;
mod dir;
pub mod files;
mod live;
mod live_constraints;
mod live_exceptions;
mod state;

pub use constraints::{ConstraintsDir, ConstraintsError, ConstraintsReport};
pub use dir::{DirError, DirSource, LoadReport};
pub use live::{
    connect, connect_with, error_chain, fetch_snapshot, ClientConfig, Connection, LiveCluster,
};
pub use live_constraints::ConstraintsApi;
pub use live_exceptions::{ExceptionsApi, ExceptionsReport};
pub use state::{ClusterState, LoadError};
