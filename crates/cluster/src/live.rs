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
pub use podsec_admission::error_chain;
use podsec_admission::{
    BoxFuture, ExistingPod, NamespaceGetter, NamespaceMeta, PodLister, SnapshotCursor,
    SnapshotLister, SnapshotPage, ViewError,
};
use podsec_manifest::WorkloadKind;
use podsec_policy::{ObjectMeta, PodSpec};
use serde::Deserialize;

/// Pods listed per request; the API server pages through larger namespaces.
const PAGE_SIZE: usize = 500;

/// Cluster state from the Kubernetes API.
#[derive(Clone)]
pub struct LiveCluster {
    client: Client,
    /// The API server's URL, for messages; empty when not known.
    server: Arc<str>,
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
                        tracing::warn!(error = %error_chain(&e), "namespace watch error; retrying with backoff");
                    }
                });
                futures_util::future::join(mark_ready, watch).await;
            }
        };
        (
            LiveCluster {
                client,
                server: Arc::from(""),
                namespaces: reader,
                ready,
            },
            driver,
        )
    }

    /// Names the API server in error messages (see [`Connection::server`]).
    pub fn with_server(mut self, server: &str) -> LiveCluster {
        self.server = Arc::from(server);
        self
    }

    /// `the API server https://…`, for messages.
    fn server_label(&self) -> String {
        match &*self.server {
            "" => "the API server".to_string(),
            url => format!("the API server {url}"),
        }
    }

    /// A failed request as the user needs it: what podsec was doing, against which API
    /// server, and every cause. kube-rs's own message stops at `ServiceError: client error
    /// (Connect)`, with neither the URL nor why.
    fn api_error(&self, doing: &str, e: kube::Error) -> ViewError {
        let server = self.server_label();
        let doing = match &e {
            kube::Error::Api(status) => {
                let hint = match status.code {
                    401 => "; the credentials were refused: check the kubeconfig's user, or the service account token",
                    403 => "; grant podsec's identity get, list and watch on it (see deploy/base/rbac.yaml)",
                    _ => "",
                };
                return ViewError::Unavailable(format!(
                    "{doing}: {server} answered {} {}: {}{hint}",
                    status.code, status.reason, status.message
                ));
            }
            kube::Error::Service(_) => format!(
                "{doing}: cannot get an answer from {server} (check that it is up and \
                 reachable from here and that its certificate and credentials are right: its \
                 URL is the kubeconfig's current cluster, or KUBERNETES_SERVICE_HOST in a pod)"
            ),
            _ => format!("{doing}: {server}"),
        };
        ViewError::source(doing, e)
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
            .map_err(|e| self.api_error(&format!("getting namespace {name}"), e))?;
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
            let page: PodPage = self.client.request(request).await.map_err(|e| {
                self.api_error(&format!("listing pods in namespace {namespace}"), e)
            })?;
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
        .map_err(|e| ViewError::Unavailable(e.to_string()))
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

impl NamespaceGetter for LiveCluster {
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>> {
        Box::pin(self.lookup_namespace(name))
    }
}

impl PodLister for LiveCluster {
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>> {
        Box::pin(async move { self.list_pods(namespace).await.map(Arc::new) })
    }
}

impl SnapshotLister for LiveCluster {
    fn snapshot_page<'a>(
        &'a self,
        cursor: Option<SnapshotCursor>,
    ) -> BoxFuture<'a, Result<SnapshotPage, ViewError>> {
        Box::pin(self.list_snapshot_page(cursor))
    }
}

/// Builds a Kubernetes client from a kubeconfig file (`--kubeconfig`), or, without one, from
/// the pod's service account (`--in-cluster`). Nothing is inferred: whoever asked for one
/// source hears about that source only, not about `~/.kube/config`.
pub async fn connect(kubeconfig: Option<&std::path::Path>) -> Result<Connection, ViewError> {
    connect_with(
        match kubeconfig {
            Some(path) => ClientConfig::File(path),
            None => ClientConfig::InCluster,
        },
        None,
    )
    .await
}

/// Where a client's configuration comes from.
#[derive(Debug, Clone, Copy)]
pub enum ClientConfig<'a> {
    /// This kubeconfig file.
    File(&'a std::path::Path),
    /// As kubectl finds it: the files of `KUBECONFIG` (merged), else `~/.kube/config`.
    Kubectl,
    /// The pod's service account.
    InCluster,
}

/// A client for the API server of `config`, in `context` (a kubeconfig's context; its
/// current one when `None`).
pub async fn connect_with(
    config: ClientConfig<'_>,
    context: Option<&str>,
) -> Result<Connection, ViewError> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    let mut config = match config {
        ClientConfig::File(path) => {
            let file =
                kube::config::Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(path, e))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| kubeconfig_error(path, e))?
        }
        ClientConfig::Kubectl => {
            let where_ = std::path::Path::new("$KUBECONFIG or ~/.kube/config");
            let file = kube::config::Kubeconfig::read().map_err(|e| kubeconfig_error(where_, e))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| kubeconfig_error(where_, e))?
        }
        ClientConfig::InCluster => kube::Config::incluster().map_err(in_cluster_error)?,
    };
    // kube-rs retries 429/503/504 up to 15 times with backoff growing to minutes: a namespace
    // GET on behalf of an admission request would hang far past the API server's webhook
    // timeout while the API is down. Requests fail at once instead; the namespace watcher has
    // its own backoff, and the decision fails as upstream's does (pods closed, controllers open).
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| {
        ViewError::Unavailable(format!(
            "cannot make a client for the API server {server}: {}",
            error_chain(&e)
        ))
    })?;
    Ok(Connection { client, server })
}

/// A client, and the URL of the API server it talks to (for messages and logs).
pub struct Connection {
    pub client: Client,
    pub server: String,
}

/// A kubeconfig problem in podsec's words: kube-rs prints the path Debug-quoted inside quotes
/// (`'"/x"'`) and says nothing of what to do.
fn kubeconfig_error(path: &std::path::Path, e: kube::config::KubeconfigError) -> ViewError {
    use kube::config::KubeconfigError as K;
    let path = path.display();
    ViewError::Unavailable(match e {
        K::ReadConfig(io, _) => format!(
            "cannot read --kubeconfig {path}: {io}; give the path of a kubeconfig file \
             (`kubectl config view --raw` prints the current one)"
        ),
        K::CurrentContextNotSet => format!(
            "--kubeconfig {path} sets no current-context; choose one with \
             `kubectl --kubeconfig {path} config use-context NAME`"
        ),
        other => format!("--kubeconfig {path}: {}", error_chain(&other)),
    })
}

/// Where a pod's service account is mounted.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// An in-cluster problem, naming the variable or file (kube-rs names neither: a missing
/// mount reads `failed to read the default namespace: No such file or directory (os error 2)`).
fn in_cluster_error(e: kube::config::InClusterError) -> ViewError {
    use kube::config::InClusterError as E;
    let mount = "the pod needs its service account token mounted \
                 (automountServiceAccountToken must not be false)";
    ViewError::Unavailable(match e {
        E::ReadEnvironmentVariable(_) => "--in-cluster: KUBERNETES_SERVICE_HOST and \
            KUBERNETES_SERVICE_PORT are not both set: podsec is not running in a pod; outside \
            a cluster, use --kubeconfig FILE"
            .into(),
        E::ReadDefaultNamespace(io) => {
            format!("--in-cluster: cannot read {SERVICE_ACCOUNT_DIR}/namespace: {io}; {mount}")
        }
        E::ReadCertificateBundle(io) => {
            format!("--in-cluster: cannot read {SERVICE_ACCOUNT_DIR}/ca.crt: {io}; {mount}")
        }
        other => format!("--in-cluster: {}", error_chain(&other)),
    })
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

/// A resource a cluster snapshot lists: (API path prefix, apiVersion, kind, plural).
type Listed = (String, &'static str, &'static str, &'static str);

/// The resources a cluster snapshot holds, in listing order: namespaces first (a pod is
/// judged at its namespace's labels), the pod-bearing kinds as the manifest crate knows them
/// (pod templates aside: nothing runs them), then the policies and their RBAC, then the
/// NetworkPolicies.
static SNAPSHOT_RESOURCES: std::sync::LazyLock<Vec<Listed>> = std::sync::LazyLock::new(|| {
    let core = |api_version: &'static str, kind: &'static str, plural: &'static str| -> Listed {
        let prefix = match api_version {
            "v1" => "/api/v1".to_string(),
            other => format!("/apis/{other}"),
        };
        (prefix, api_version, kind, plural)
    };
    let mut out = vec![
        core("v1", "Namespace", "namespaces"),
        core("v1", "ServiceAccount", "serviceaccounts"),
    ];
    out.extend(
        WorkloadKind::ALL
            .into_iter()
            .filter(|k| *k != WorkloadKind::PodTemplate)
            .map(|k| core(k.api_version(), k.as_str(), k.resource())),
    );
    let rbac = "rbac.authorization.k8s.io/v1";
    out.extend([
        core("policy/v1beta1", "PodSecurityPolicy", "podsecuritypolicies"),
        core(rbac, "Role", "roles"),
        core(rbac, "ClusterRole", "clusterroles"),
        core(rbac, "RoleBinding", "rolebindings"),
        core(rbac, "ClusterRoleBinding", "clusterrolebindings"),
        // For the NetworkPolicy analysis (`podsec netpol`, the audit's network section).
        core("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        // For the audit's exceptions section.
        core(
            "podsec.dev/v1alpha1",
            "PodSecurityException",
            "podsecurityexceptions",
        ),
    ]);
    out
});

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
            server: Arc::from(""),
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
                Err(e) => return Err(self.api_error(&format!("listing {plural}"), e)),
            };
            let page: RawPage = serde_json::from_str(&text).map_err(|e| {
                ViewError::Unavailable(format!(
                    "listing {plural}: the answer of {} is not a list: {e}",
                    self.server_label()
                ))
            })?;
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
    view: &dyn SnapshotLister,
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

#[derive(Deserialize)]
struct ValuePage {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

impl LiveCluster {
    /// Every object of a resource (`path` = `/apis/GROUP/VERSION/PLURAL`), a page at a time,
    /// each with its apiVersion and kind. A resource the server does not serve (its CRD is
    /// not installed) is empty.
    pub async fn list_all(
        &self,
        path: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<Vec<serde_json::Value>, ViewError> {
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let request = page_request(path, token.as_deref())?;
            let text = match self.client.request_text(request).await {
                Ok(t) => t,
                Err(kube::Error::Api(e)) if e.code == 404 => return Ok(out),
                Err(e) => return Err(self.api_error(&format!("listing {path}"), e)),
            };
            let page: ValuePage = serde_json::from_str(&text).map_err(|e| {
                ViewError::Unavailable(format!(
                    "listing {path}: the answer of {} is not a list: {e}",
                    self.server_label()
                ))
            })?;
            for mut item in page.items {
                if let Some(map) = item.as_object_mut() {
                    map.entry("apiVersion")
                        .or_insert_with(|| serde_json::Value::String(api_version.into()));
                    map.entry("kind")
                        .or_insert_with(|| serde_json::Value::String(kind.into()));
                }
                out.push(item);
            }
            match page.metadata.continue_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}
