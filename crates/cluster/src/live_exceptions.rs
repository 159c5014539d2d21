//! PodSecurityExceptions from the Kubernetes API (`podsecurityexceptions.podsec.dev`), re-listed
//! every reload interval. An exception that cannot be used is skipped and counted (the CRD's
//! schema refuses most at creation); a listing that fails keeps the last good set.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use podsec_admission::{ExceptionSource, ViewError};
use podsec_exceptions::{Exception, ExceptionSet};

use crate::live::LiveCluster;

const PATH: &str = "/apis/podsec.dev/v1alpha1/podsecurityexceptions";

/// What a listing found.
#[derive(Debug, Clone, Default)]
pub struct ExceptionsReport {
    pub exceptions: usize,
    /// Exceptions skipped (with why), or why the listing failed.
    pub errors: Vec<String>,
}

pub struct ExceptionsApi {
    cluster: LiveCluster,
    current: RwLock<Arc<ExceptionSet>>,
}

impl ExceptionsApi {
    /// Lists once; a cluster without the CRD has no exceptions.
    pub async fn open(
        cluster: LiveCluster,
    ) -> Result<(Arc<ExceptionsApi>, ExceptionsReport), ViewError> {
        let (set, report) = list(&cluster).await?;
        Ok((
            Arc::new(ExceptionsApi {
                cluster,
                current: RwLock::new(Arc::new(set)),
            }),
            report,
        ))
    }

    /// No exceptions until the first successful listing (by [`ExceptionsApi::watch`]).
    pub fn empty(cluster: LiveCluster) -> Arc<ExceptionsApi> {
        Arc::new(ExceptionsApi {
            cluster,
            current: RwLock::new(Arc::new(ExceptionSet::default())),
        })
    }

    pub async fn reload(&self) -> ExceptionsReport {
        match list(&self.cluster).await {
            Ok((set, report)) => {
                let mut slot = self.current.write().unwrap_or_else(|p| p.into_inner());
                *slot = Arc::new(set);
                report
            }
            Err(e) => ExceptionsReport {
                exceptions: 0,
                errors: vec![format!(
                    "listing PodSecurityExceptions failed; the previous set stays: {}",
                    crate::error_chain(&e)
                )],
            },
        }
    }

    pub fn watch(
        self: Arc<Self>,
        interval: Duration,
        on_reload: impl Fn(&ExceptionsReport) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let report = self.reload().await;
                on_reload(&report);
            }
        })
    }
}

impl ExceptionSource for ExceptionsApi {
    fn exceptions(&self) -> Option<Arc<ExceptionSet>> {
        let slot = self.current.read().unwrap_or_else(|p| p.into_inner());
        Some(Arc::clone(&slot))
    }
}

async fn list(cluster: &LiveCluster) -> Result<(ExceptionSet, ExceptionsReport), ViewError> {
    let objects = cluster
        .list_all(
            PATH,
            podsec_exceptions::API_VERSION,
            podsec_exceptions::KIND,
        )
        .await?;
    let mut report = ExceptionsReport::default();
    let mut exceptions = Vec::new();
    for o in &objects {
        match Exception::parse(o, "default") {
            Ok(e) => exceptions.push(e),
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    report.exceptions = exceptions.len();
    Ok((ExceptionSet::new(exceptions), report))
}
