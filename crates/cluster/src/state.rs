//! An in-memory snapshot of cluster state, built from manifests. The directory source keeps
//! one and swaps it on change; it answers [`ClusterView`] queries directly.

use std::collections::HashMap;
use std::sync::Arc;

use podsec_admission::{BoxFuture, ClusterView, ExistingPod, NamespaceMeta, ViewError};
use podsec_manifest::{classify, decode, Format, Limits, Object, WorkloadKind};

use crate::files::ManifestFile;

/// Namespaces and pods, indexed for admission lookups.
#[derive(Debug, Default, Clone)]
pub struct ClusterState {
    namespaces: HashMap<String, NamespaceMeta>,
    pods: HashMap<String, Arc<Vec<ExistingPod>>>,
}

/// A document of the state that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
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
                        });
                        continue;
                    }
                };
                match classify(located.value) {
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
                    }),
                }
            }
        }
        (state, errors)
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

impl ClusterView for ClusterState {
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>> {
        let found = self.get_namespace(name).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>> {
        let pods = self.pods_in(namespace);
        Box::pin(std::future::ready(Ok(pods)))
    }
}
