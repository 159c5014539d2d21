//! The live source: namespaces from a kube-rs metadata watcher (an in-memory reflector, with
//! a live GET when a namespace is not cached yet), pods from a paginated LIST when a namespace
//! relabel needs them, as the upstream webhook does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{self, reflector, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use podsec_admission::{
    BoxFuture, ClusterView, ExistingPod, NamespaceMeta, SnapshotCursor, SnapshotPage, ViewError,
};
use podsec_policy::{ObjectMeta, PodSpec};
use serde::Deserialize;

/// Pods listed per request; the API server pages through larger namespaces.
const PAGE_SIZE: usize = 500;

/// Cluster state from the Kubernetes API.
#[derive(Clone)]
pub struct LiveCluster {
    client: Client,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    ready: Arc<AtomicBool>,
}

impl LiveCluster {
    /// Starts watching namespace metadata. The returned future drives the watcher and must be
    /// spawned; [`LiveCluster::is_ready`] turns true after the first full list.
    pub fn start(
        client: Client,
    ) -> (
        LiveCluster,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        // Only labels matter: a metadata-only watch keeps the cache small.
        let api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
        let (reader, writer) = reflector::store();
        let ready = Arc::new(AtomicBool::new(false));
        let stream = reflector(writer, watcher(api, watcher::Config::default()))
            .default_backoff()
            .applied_objects();
        let driver = {
            let reader = reader.clone();
            let ready = Arc::clone(&ready);
            async move {
                let mark_ready = async {
                    if reader.wait_until_ready().await.is_ok() {
                        ready.store(true, Ordering::SeqCst);
                        tracing::info!(namespaces = reader.len(), "namespace cache synced");
                    }
                };
                let watch = stream.for_each(|event| async move {
                    if let Err(e) = event {
                        tracing::warn!(error = %e, "namespace watch error; retrying with backoff");
                    }
                });
                futures_util::future::join(mark_ready, watch).await;
            }
        };
        (
            LiveCluster {
                client,
                namespaces: reader,
                ready,
            },
            driver,
        )
    }

    /// True once the namespace cache has completed its first sync.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn cached_namespaces(&self) -> usize {
        self.namespaces.len()
    }

    async fn lookup_namespace(&self, name: &str) -> Result<Option<NamespaceMeta>, ViewError> {
        if let Some(ns) = self.namespaces.get(&ObjectRef::new(name)) {
            return Ok(Some(NamespaceMeta {
                name: name.to_string(),
                labels: ns.metadata.labels.clone().unwrap_or_default(),
            }));
        }
        // Not cached yet (just created, or the cache lags): ask the API server.
        let api: Api<Namespace> = Api::all(self.client.clone());
        let found = api
            .get_metadata_opt(name)
            .await
            .map_err(|e| ViewError(e.to_string()))?;
        Ok(found.map(|ns| NamespaceMeta {
            name: name.to_string(),
            labels: ns.metadata.labels.unwrap_or_default(),
        }))
    }

    async fn list_pods(&self, namespace: &str) -> Result<Vec<ExistingPod>, ViewError> {
        let mut pods = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let path = format!("/api/v1/namespaces/{}/pods", encode(namespace));
            let request = page_request(&path, token.as_deref())?;
            let page: PodPage = self
                .client
                .request(request)
                .await
                .map_err(|e| ViewError(e.to_string()))?;
            pods.extend(page.items.into_iter().map(|p| ExistingPod {
                meta: p.metadata,
                spec: p.spec,
            }));
            match page.metadata.continue_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(pods)
    }
}

#[derive(Deserialize)]
struct PodPage {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<PodItem>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
struct PodItem {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: PodSpec,
}

/// A GET of one page of a list: `PAGE_SIZE` objects, after `token` when continuing.
fn page_request(path: &str, token: Option<&str>) -> Result<http::Request<Vec<u8>>, ViewError> {
    let mut url = format!("{path}?limit={PAGE_SIZE}");
    if let Some(t) = token {
        url.push_str("&continue=");
        url.push_str(&encode(t));
    }
    http::Request::get(url)
        .body(Vec::new())
        .map_err(|e| ViewError(e.to_string()))
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ClusterView for LiveCluster {
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>> {
        Box::pin(self.lookup_namespace(name))
    }

    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>> {
        Box::pin(async move { self.list_pods(namespace).await.map(Arc::new) })
    }

    fn snapshot_page<'a>(
        &'a self,
        cursor: Option<SnapshotCursor>,
    ) -> BoxFuture<'a, Result<SnapshotPage, ViewError>> {
        Box::pin(self.list_snapshot_page(cursor))
    }
}

/// Builds a Kubernetes client from a kubeconfig file, or, without one, from the environment
/// (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).
pub async fn connect(kubeconfig: Option<&std::path::Path>) -> Result<Client, ViewError> {
    let err = |e: &dyn std::fmt::Display| ViewError(e.to_string());
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path).map_err(|e| err(&e))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| err(&e))?
        }
        None => kube::Config::infer().await.map_err(|e| err(&e))?,
    };
    Client::try_from(config).map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("abc-1"), "abc-1");
        assert_eq!(encode("a+b/c="), "a%2Bb%2Fc%3D");
    }
}

/// The resources a cluster snapshot holds: (API path prefix, apiVersion, kind, plural).
const SNAPSHOT_RESOURCES: &[(&str, &str, &str, &str)] = &[
    ("/api/v1", "v1", "Namespace", "namespaces"),
    ("/api/v1", "v1", "ServiceAccount", "serviceaccounts"),
    ("/api/v1", "v1", "Pod", "pods"),
    (
        "/api/v1",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
    ),
    ("/apis/apps/v1", "apps/v1", "Deployment", "deployments"),
    ("/apis/apps/v1", "apps/v1", "ReplicaSet", "replicasets"),
    ("/apis/apps/v1", "apps/v1", "StatefulSet", "statefulsets"),
    ("/apis/apps/v1", "apps/v1", "DaemonSet", "daemonsets"),
    ("/apis/batch/v1", "batch/v1", "Job", "jobs"),
    ("/apis/batch/v1", "batch/v1", "CronJob", "cronjobs"),
    (
        "/apis/policy/v1beta1",
        "policy/v1beta1",
        "PodSecurityPolicy",
        "podsecuritypolicies",
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "Role",
        "roles",
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
];

#[derive(Deserialize)]
struct RawPage {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Box<serde_json::value::RawValue>>,
}

impl LiveCluster {
    /// A view for one-off reads (an audit): no namespace watch is started, so namespace
    /// lookups go to the API server.
    pub fn unwatched(client: Client) -> LiveCluster {
        let (reader, _writer) = reflector::store();
        LiveCluster {
            client,
            namespaces: reader,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// One page (up to `PAGE_SIZE` objects) of the snapshot resources, in order. Resources the
    /// server does not serve (PodSecurityPolicy since 1.25) are skipped.
    async fn list_snapshot_page(
        &self,
        cursor: Option<SnapshotCursor>,
    ) -> Result<SnapshotPage, ViewError> {
        let mut cursor = cursor.unwrap_or(SnapshotCursor {
            resource: 0,
            token: None,
        });
        while let Some((prefix, api_version, kind, plural)) =
            SNAPSHOT_RESOURCES.get(cursor.resource)
        {
            let request = page_request(&format!("{prefix}/{plural}"), cursor.token.as_deref())?;
            let text = match self.client.request_text(request).await {
                Ok(t) => t,
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    cursor = SnapshotCursor {
                        resource: cursor.resource + 1,
                        token: None,
                    };
                    continue;
                }
                Err(e) => return Err(ViewError(format!("listing {plural}: {e}"))),
            };
            let page: RawPage = serde_json::from_str(&text)
                .map_err(|e| ViewError(format!("listing {plural}: {e}")))?;
            let objects = page
                .items
                .iter()
                .map(|item| {
                    // Items of a list carry neither apiVersion nor kind; the reader needs both.
                    let body = item.get().trim_start().strip_prefix('{').unwrap_or("}");
                    let separator = if body.trim_start().starts_with('}') {
                        ""
                    } else {
                        ","
                    };
                    format!(
                        "{{\"apiVersion\":\"{api_version}\",\"kind\":\"{kind}\"{separator}{body}"
                    )
                })
                .collect();
            let next = match page.metadata.continue_token {
                Some(t) if !t.is_empty() => SnapshotCursor {
                    resource: cursor.resource,
                    token: Some(t),
                },
                _ => SnapshotCursor {
                    resource: cursor.resource + 1,
                    token: None,
                },
            };
            let next = (next.resource < SNAPSHOT_RESOURCES.len()).then_some(next);
            return Ok(SnapshotPage { objects, next });
        }
        Ok(SnapshotPage::default())
    }
}

/// Reads a whole snapshot through a cluster view, a page at a time, handing each object
/// (JSON, with its apiVersion and kind) to `visit`.
pub async fn fetch_snapshot(
    view: &dyn ClusterView,
    visit: &mut dyn FnMut(&str),
) -> Result<(), ViewError> {
    let mut cursor = None;
    loop {
        let page = view.snapshot_page(cursor).await?;
        for object in &page.objects {
            visit(object);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}
