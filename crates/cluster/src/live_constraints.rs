//! Gatekeeper templates and constraints read from the Kubernetes API, as Gatekeeper reads them:
//! `constrainttemplates.templates.gatekeeper.sh`, then for each template the constraints of its
//! kind (`constraints.gatekeeper.sh/v1beta1`, resource = the kind in lowercase, the CRD
//! Gatekeeper generates). Re-listed every reload interval; a set that fails to load keeps the
//! last good one in force. `data.inventory` is filled from the cluster's objects (what podsec
//! lists for audits) only when some template reads it.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use podsec_admission::{ConstraintSet, ConstraintSource, ViewError};
use podsec_constraints::{EnginePreference, Inventory, Library};
use serde_json::Value;

use crate::constraints::{finish, ConstraintsError, ConstraintsReport};
use crate::live::LiveCluster;
use podsec_admission::SnapshotLister;

const TEMPLATES_PATH: &str = "/apis/templates.gatekeeper.sh/v1/constrainttemplates";
const TEMPLATES_API_VERSION: &str = "templates.gatekeeper.sh/v1";
const CONSTRAINTS_API_VERSION: &str = "constraints.gatekeeper.sh/v1beta1";

pub struct ConstraintsApi {
    cluster: LiveCluster,
    preference: EnginePreference,
    current: RwLock<Arc<ConstraintSet>>,
    /// What the last load saw (names and resourceVersions), to rebuild only on change.
    fingerprint: Mutex<String>,
}

impl ConstraintsApi {
    /// Lists templates and constraints. A cluster without Gatekeeper's CRDs has none: that
    /// is an empty set, not an error (constraints appear when templates are created).
    pub async fn open(
        cluster: LiveCluster,
        preference: EnginePreference,
    ) -> Result<(Arc<ConstraintsApi>, ConstraintsReport), ConstraintsError> {
        let objects = list(&cluster)
            .await
            .map_err(|e| ConstraintsError(vec![crate::error_chain(&e)]))?;
        let print = fingerprint(&objects);
        let (set, report) = build(&cluster, &objects, preference).await;
        let Some(set) = set else {
            return Err(ConstraintsError(report.errors));
        };
        let source = ConstraintsApi {
            cluster,
            preference,
            current: RwLock::new(Arc::new(set)),
            fingerprint: Mutex::new(print),
        };
        Ok((Arc::new(source), report))
    }

    /// Lists again; rebuilds when a template or constraint changed (or when a template reads
    /// the inventory, which changes with every object). `None` when nothing changed.
    pub async fn reload(&self) -> Option<ConstraintsReport> {
        let objects = match list(&self.cluster).await {
            Ok(objects) => objects,
            Err(e) => {
                return Some(ConstraintsReport {
                    errors: vec![crate::error_chain(&e)],
                    ..ConstraintsReport::default()
                })
            }
        };
        let print = fingerprint(&objects);
        let uses_inventory = {
            let slot = self.current.read().unwrap_or_else(|p| p.into_inner());
            let uses = slot.library.templates().any(|t| t.uses_inventory());
            uses
        };
        {
            let mut current = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
            if *current == print && !uses_inventory {
                return None;
            }
            *current = print;
        }
        let (set, report) = build(&self.cluster, &objects, self.preference).await;
        if let Some(set) = set {
            let mut slot = self.current.write().unwrap_or_else(|p| p.into_inner());
            *slot = Arc::new(set);
        }
        Some(report)
    }

    /// Re-lists every `interval`, calling `on_reload` after each reload attempt.
    pub fn watch(
        self: Arc<Self>,
        interval: Duration,
        on_reload: impl Fn(&ConstraintsReport) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Some(report) = self.reload().await {
                    on_reload(&report);
                }
            }
        })
    }
}

impl ConstraintSource for ConstraintsApi {
    fn constraints(&self) -> Option<Arc<ConstraintSet>> {
        let slot = self.current.read().unwrap_or_else(|p| p.into_inner());
        Some(Arc::clone(&slot))
    }
}

/// Templates, then the constraints of each template's kind.
async fn list(cluster: &LiveCluster) -> Result<Vec<Value>, ViewError> {
    let mut objects = cluster
        .list_all(TEMPLATES_PATH, TEMPLATES_API_VERSION, "ConstraintTemplate")
        .await?;
    let kinds: Vec<String> = objects
        .iter()
        .filter_map(|t| {
            t.pointer("/spec/crd/spec/names/kind")
                .and_then(Value::as_str)
        })
        .map(str::to_string)
        .collect();
    for kind in kinds {
        let path = format!(
            "/apis/{CONSTRAINTS_API_VERSION}/{}",
            kind.to_ascii_lowercase()
        );
        objects.extend(
            cluster
                .list_all(&path, CONSTRAINTS_API_VERSION, &kind)
                .await?,
        );
    }
    Ok(objects)
}

fn fingerprint(objects: &[Value]) -> String {
    let mut parts: Vec<String> = objects
        .iter()
        .map(|o| {
            let get = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default();
            format!(
                "{}/{}/{}/{}@{}",
                get("/kind"),
                get("/metadata/namespace"),
                get("/metadata/name"),
                get("/metadata/uid"),
                get("/metadata/resourceVersion")
            )
        })
        .collect();
    parts.sort();
    parts.join("\n")
}

async fn build(
    cluster: &LiveCluster,
    objects: &[Value],
    preference: EnginePreference,
) -> (Option<ConstraintSet>, ConstraintsReport) {
    let (library, load_errors) = Library::from_objects(objects.iter(), preference);
    let mut errors: Vec<String> = load_errors.iter().map(ToString::to_string).collect();
    let inventory = if library.templates().any(|t| t.uses_inventory()) {
        let mut listed = Vec::new();
        if let Err(e) = list_snapshot(cluster, &mut listed).await {
            // A template that reads the inventory would decide on a partial one.
            errors.push(format!(
                "cannot fill data.inventory: {}",
                crate::error_chain(&e)
            ));
        }
        Inventory::from_objects(listed.iter())
    } else {
        Inventory::default()
    };
    finish(library, inventory, errors)
}

/// Every object of the cluster snapshot (what `podsec audit` lists), for the inventory.
async fn list_snapshot(cluster: &LiveCluster, out: &mut Vec<Value>) -> Result<(), ViewError> {
    let mut cursor = None;
    loop {
        let page = cluster.snapshot_page(cursor).await?;
        out.extend(
            page.objects
                .iter()
                .filter_map(|json| serde_json::from_str::<Value>(json).ok()),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}
