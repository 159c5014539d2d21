//! The directory source: cluster state from a directory of manifests, reloaded when any file
//! under it changes (including a ConfigMap volume's symlink swap).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use podsec_admission::{
    BoxFuture, ExistingPod, NamespaceGetter, NamespaceMeta, PodLister, PspSource, ViewError,
};

use crate::files::{list_dir, FileError, ManifestFile};
use crate::state::{ClusterState, LoadError};

/// What a (re)load found.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub namespaces: usize,
    pub pods: usize,
    pub errors: Vec<LoadError>,
}

pub struct DirSource {
    dir: PathBuf,
    state: RwLock<Arc<ClusterState>>,
    fingerprint: Mutex<u64>,
}

/// The directory itself cannot be read (problems with the files in it are [`LoadError`]s).
/// The I/O error is the source: print the chain (`{:#}`, [`crate::error_chain`]) to see it.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the state directory {dir}")]
pub struct DirError {
    pub dir: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A hash of every manifest file's path, size and modification time.
fn fingerprint(dir: &Path) -> (u64, Vec<PathBuf>, Vec<FileError>) {
    let mut errors = Vec::new();
    let files = list_dir(dir, &mut errors);
    let mut h = DefaultHasher::new();
    for f in &files {
        f.hash(&mut h);
        if let Ok(meta) = std::fs::metadata(f) {
            meta.len().hash(&mut h);
            if let Ok(t) = meta.modified() {
                t.hash(&mut h);
            }
        }
    }
    (h.finish(), files, errors)
}

fn load(files: &[PathBuf], mut file_errors: Vec<FileError>) -> (ClusterState, LoadReport) {
    let mut contents = Vec::new();
    for f in files {
        let name = f.display().to_string();
        match std::fs::read(f) {
            Ok(bytes) => contents.push(ManifestFile {
                format_hint: Some(name.clone()),
                name,
                bytes,
            }),
            Err(e) => file_errors.push(FileError {
                name,
                message: format!("cannot read file: {e}"),
            }),
        }
    }
    let (state, mut errors) = ClusterState::from_files(&contents);
    errors.extend(file_errors.into_iter().map(|e| LoadError {
        file: e.name,
        line: None,
        message: e.message,
        unreadable: true,
    }));
    let report = LoadReport {
        namespaces: state.namespace_count(),
        pods: state.pod_count(),
        errors,
    };
    (state, report)
}

impl DirSource {
    /// Loads `dir` once. Fails only if the directory itself cannot be read.
    pub fn open(dir: &Path) -> Result<(Arc<DirSource>, LoadReport), DirError> {
        if let Err(source) = std::fs::read_dir(dir) {
            return Err(DirError {
                dir: dir.to_path_buf(),
                source,
            });
        }
        let (print, files, file_errors) = fingerprint(dir);
        let (state, report) = load(&files, file_errors);
        let source = DirSource {
            dir: dir.to_path_buf(),
            state: RwLock::new(Arc::new(state)),
            fingerprint: Mutex::new(print),
        };
        Ok((Arc::new(source), report))
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<ClusterState> {
        match self.state.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads if any file changed; returns what the new load found.
    pub fn reload_if_changed(&self) -> Option<LoadReport> {
        let (print, files, file_errors) = fingerprint(&self.dir);
        {
            let mut current = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
            if *current == print {
                return None;
            }
            *current = print;
        }
        let (state, report) = load(&files, file_errors);
        let mut slot = self.state.write().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(state);
        Some(report)
    }

    /// Polls for changes every `interval`, calling `on_reload` after each reload.
    pub fn watch(
        self: Arc<Self>,
        interval: Duration,
        on_reload: impl Fn(&LoadReport) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let source = Arc::clone(&self);
                let outcome = tokio::task::spawn_blocking(move || source.reload_if_changed()).await;
                if let Ok(Some(report)) = outcome {
                    on_reload(&report);
                }
            }
        })
    }
}

impl NamespaceGetter for DirSource {
    fn namespace<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<NamespaceMeta>, ViewError>> {
        let found = self.snapshot().get_namespace(name).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}

impl PodLister for DirSource {
    fn pods<'a>(
        &'a self,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Arc<Vec<ExistingPod>>, ViewError>> {
        let pods = self.snapshot().pods_in(namespace);
        Box::pin(std::future::ready(Ok(pods)))
    }
}

impl podsec_admission::ExceptionSource for ClusterState {
    fn exceptions(&self) -> Option<Arc<podsec_exceptions::ExceptionSet>> {
        Some(ClusterState::exceptions(self))
    }
}

impl podsec_admission::ExceptionSource for DirSource {
    fn exceptions(&self) -> Option<Arc<podsec_exceptions::ExceptionSet>> {
        Some(self.snapshot().exceptions())
    }
}

impl PspSource for DirSource {
    fn psp_state(&self) -> Result<Arc<podsec_policy::psp::selection::PspState>, ViewError> {
        Ok(self.snapshot().psp_state())
    }
}
