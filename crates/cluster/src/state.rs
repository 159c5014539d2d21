//! An in-memory snapshot of cluster state, built from manifests. The directory source keeps
//! one and swaps it on change; it answers [`ClusterView`] queries directly.

use std::collections::HashMap;
use std::sync::Arc;

use podsec_admission::{
    BoxFuture, ExistingPod, NamespaceGetter, NamespaceMeta, PodLister, PspSource, ViewError,
};
use podsec_manifest::{classify, decode, Format, Limits, Object, ObjectsOnly, WorkloadKind};
use podsec_policy::psp::selection::PspState;
use podsec_policy::psp::PodSecurityPolicy;
use podsec_policy::rbac::{Binding, Rbac, Role};
use serde_json::Value;

use crate::files::ManifestFile;

/// Namespaces, pods, PodSecurityPolicies and RBAC objects, indexed for admission lookups.
#[derive(Default, Clone)]
pub struct ClusterState {
    namespaces: HashMap<String, NamespaceMeta>,
    pods: HashMap<String, Arc<Vec<ExistingPod>>>,
    pub psps: Vec<PodSecurityPolicy>,
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<Role>,
    pub role_bindings: Vec<Binding>,
    pub cluster_role_bindings: Vec<Binding>,
    psp_state: Arc<PspState>,
    /// PodSecurityExceptions, indexed by namespace.
    exceptions: Arc<podsec_exceptions::ExceptionSet>,
}

/// The kinds read besides Namespaces and Pods, by apiVersion and kind.
enum Extra {
    Psp,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
}

fn extra_kind(value: &Value) -> Option<Extra> {
    let api_version = value.get("apiVersion")?.as_str()?;
    let kind = value.get("kind")?.as_str()?;
    let rbac = matches!(
        api_version,
        "rbac.authorization.k8s.io/v1" | "rbac.authorization.k8s.io/v1beta1"
    );
    Some(match kind {
        "PodSecurityPolicy" if matches!(api_version, "policy/v1beta1" | "extensions/v1beta1") => {
            Extra::Psp
        }
        "Role" if rbac => Extra::Role,
        "ClusterRole" if rbac => Extra::ClusterRole,
        "RoleBinding" if rbac => Extra::RoleBinding,
        "ClusterRoleBinding" if rbac => Extra::ClusterRoleBinding,
        _ => return None,
    })
}

/// A document of the state that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    /// The document or file could not be read at all, as opposed to an object that was read
    /// and is unusable as the API server would find it (a binding to a missing role, a
    /// policy the plugin skips): commands that answer from this state must not go on.
    pub unreadable: bool,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl ClusterState {
    /// Builds the state from manifest files: Namespaces and Pods are kept, other kinds are
    /// ignored. Bad documents are reported and skipped; the rest still loads.
    pub fn from_files(files: &[ManifestFile]) -> (ClusterState, Vec<LoadError>) {
        let mut state = ClusterState::default();
        let mut errors = Vec::new();
        let mut exceptions = Vec::new();
        let limits = Limits::default();
        for file in files {
            let head =
                String::from_utf8_lossy(&file.bytes[..file.bytes.len().min(64)]).into_owned();
            let format = Format::detect(file.format_hint.as_deref(), &head);
            for doc in decode(&file.bytes, format, &limits) {
                let located = match doc {
                    Ok(l) => l,
                    Err(e) => {
                        errors.push(LoadError {
                            file: file.name.clone(),
                            line: Some(e.line),
                            message: e.message,
                            unreadable: true,
                        });
                        continue;
                    }
                };
                if podsec_exceptions::Exception::is_exception(&located.value) {
                    // A bad exception is skipped and counted, never half-applied: a waiver
                    // read wrongly could admit more than its author meant.
                    match podsec_exceptions::Exception::parse(&located.value, "default") {
                        Ok(e) => exceptions.push(e),
                        Err(e) => errors.push(LoadError {
                            file: file.name.clone(),
                            line: Some(located.line),
                            message: e.to_string(),
                            unreadable: true,
                        }),
                    }
                    continue;
                }
                if let Some(extra) = extra_kind(&located.value) {
                    if let Err(e) = state.add_extra(extra, located.value) {
                        errors.push(LoadError {
                            file: file.name.clone(),
                            line: Some(located.line),
                            message: e,
                            unreadable: true,
                        });
                    }
                    continue;
                }
                match classify(located.value) {
                    Ok(Object::Namespace(ns)) if ns.name.is_empty() => errors.push(LoadError {
                        file: file.name.clone(),
                        line: Some(located.line),
                        message: "a Namespace without metadata.name; give it one or remove it"
                            .into(),
                        unreadable: true,
                    }),
                    Ok(Object::Namespace(ns)) => state.add_namespace(NamespaceMeta {
                        name: ns.name,
                        labels: ns.labels,
                    }),
                    Ok(Object::Workload(w)) if w.kind == WorkloadKind::Pod => {
                        let namespace = w.meta.namespace.clone();
                        state.add_pod(
                            &namespace,
                            ExistingPod {
                                meta: w.pod_meta,
                                spec: w.pod_spec,
                            },
                        );
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(LoadError {
                        file: file.name.clone(),
                        line: Some(located.line),
                        message: e.to_string(),
                        unreadable: true,
                    }),
                }
            }
        }
        state.build_psp_state();
        state.exceptions = Arc::new(podsec_exceptions::ExceptionSet::new(exceptions));
        for p in &state.psp_state.rbac_problems {
            errors.push(LoadError {
                file: p.binding.clone(),
                line: None,
                message: p.message.clone(),
                unreadable: false,
            });
        }
        for p in &state.psp_state.skipped {
            errors.push(LoadError {
                file: format!("PodSecurityPolicy/{}", p.name),
                line: None,
                message: format!("unusable, skipped as the plugin did: {}", p.message),
                unreadable: false,
            });
        }
        (state, errors)
    }

    fn add_extra(&mut self, kind: Extra, value: Value) -> Result<(), String> {
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let decode_err = |what: &str, e: serde_json::Error| format!("{what} {name}: {e}");
        match kind {
            Extra::Psp => self
                .psps
                .push(decode_extra(value).map_err(|e| decode_err("PodSecurityPolicy", e))?),
            Extra::Role => self
                .roles
                .push(decode_extra(value).map_err(|e| decode_err("Role", e))?),
            Extra::ClusterRole => self
                .cluster_roles
                .push(decode_extra(value).map_err(|e| decode_err("ClusterRole", e))?),
            Extra::RoleBinding => self
                .role_bindings
                .push(decode_extra(value).map_err(|e| decode_err("RoleBinding", e))?),
            Extra::ClusterRoleBinding => self
                .cluster_role_bindings
                .push(decode_extra(value).map_err(|e| decode_err("ClusterRoleBinding", e))?),
        }
        Ok(())
    }

    /// Compiles the PodSecurityPolicies and RBAC objects (call after adding them).
    pub fn build_psp_state(&mut self) {
        let (rbac, problems) = Rbac::build(
            &self.roles,
            &self.cluster_roles,
            &self.role_bindings,
            &self.cluster_role_bindings,
        );
        self.psp_state = Arc::new(PspState::new(&self.psps, rbac, problems));
    }

    pub fn psp_state(&self) -> Arc<PspState> {
        Arc::clone(&self.psp_state)
    }

    /// The PodSecurityExceptions of the state.
    pub fn exceptions(&self) -> Arc<podsec_exceptions::ExceptionSet> {
        Arc::clone(&self.exceptions)
    }

    pub fn add_namespace(&mut self, namespace: NamespaceMeta) {
        self.namespaces.insert(namespace.name.clone(), namespace);
    }

    /// Adds a pod; a pod without a namespace goes to `default`, as `kubectl apply` would.
    pub fn add_pod(&mut self, namespace: &str, pod: ExistingPod) {
        let namespace = if namespace.is_empty() {
            "default"
        } else {
            namespace
        };
        Arc::make_mut(self.pods.entry(namespace.to_string()).or_default()).push(pod);
    }

    pub fn namespace_count(&self) -> usize {
        self.namespaces.len()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.values().map(|p| p.len()).sum()
    }

    pub fn get_namespace(&self, name: &str) -> Option<&NamespaceMeta> {
        self.namespaces.get(name)
    }

    pub fn pods_in(&self, namespace: &str) -> Arc<Vec<ExistingPod>> {
        self.pods.get(namespace).cloned().unwrap_or_default()
    }
}

impl NamespaceGetter for ClusterState {
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>> {
        let found = self.get_namespace(name).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

impl PodLister for ClusterState {
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>> {
        let pods = self.pods_in(namespace);
        Box::pin(std::future::ready(Ok(pods)))
    }
}

impl PspSource for ClusterState {
    fn psp_state(&self) -> Result<Arc<PspState>, ViewError> {
        Ok(ClusterState::psp_state(self))
    }
}

/// Decodes a PodSecurityPolicy or RBAC object strictly: a list where an object belongs is an
/// error, as the API server would have said.
fn decode_extra<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(ObjectsOnly(value))
}
