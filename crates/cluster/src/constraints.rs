//! Gatekeeper templates and constraints from files and directories, reloaded when a file
//! changes. A reload that fails (a broken template, a constraint without its template) keeps
//! the last good set in force and says what failed: enforcing half a policy set would admit
//! what the other half denies.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use podsec_admission::{ConstraintSet, ConstraintSource};
use podsec_constraints::{EnginePreference, Inventory, Library};
use podsec_manifest::{decode, Format, Limits};
use serde_json::Value;

use crate::files::{is_manifest, list_dir};

/// What a (re)load found.
#[derive(Debug, Clone, Default)]
pub struct ConstraintsReport {
    pub templates: usize,
    pub constraints: usize,
    /// Objects in the inventory (`data.inventory`).
    pub inventory: usize,
    /// What could not be loaded; when not empty, the set was not (re)placed.
    pub errors: Vec<String>,
}

pub struct ConstraintsDir {
    paths: Vec<PathBuf>,
    inventory_dir: Option<PathBuf>,
    preference: EnginePreference,
    current: RwLock<Arc<ConstraintSet>>,
    fingerprint: Mutex<u64>,
}

/// The first load failed: podsec does not start with a partial policy set.
#[derive(Debug, thiserror::Error)]
#[error("--constraints: {} problem(s) loading templates and constraints:\n  {}", .0.len(), .0.join("\n  "))]
pub struct ConstraintsError(pub Vec<String>);

impl ConstraintsDir {
    /// Loads the templates and constraints under `paths` (files or directories); objects in
    /// `inventory_dir` (the state directory) are the inventory.
    pub fn open(
        paths: &[PathBuf],
        inventory_dir: Option<&Path>,
        preference: EnginePreference,
    ) -> Result<(Arc<ConstraintsDir>, ConstraintsReport), ConstraintsError> {
        let files = files(paths, inventory_dir);
        let print = fingerprint(&files);
        let (set, report) = load(paths, inventory_dir, preference);
        let Some(set) = set else {
            return Err(ConstraintsError(report.errors));
        };
        let source = ConstraintsDir {
            paths: paths.to_vec(),
            inventory_dir: inventory_dir.map(Path::to_path_buf),
            preference,
            current: RwLock::new(Arc::new(set)),
            fingerprint: Mutex::new(print),
        };
        Ok((Arc::new(source), report))
    }

    /// Reloads if a file changed; `None` when nothing did. A failed reload leaves the last
    /// good set in force.
    pub fn reload_if_changed(&self) -> Option<ConstraintsReport> {
        let print = fingerprint(&files(&self.paths, self.inventory_dir.as_deref()));
        {
            let mut current = self.fingerprint.lock().unwrap_or_else(|p| p.into_inner());
            if *current == print {
                return None;
            }
            *current = print;
        }
        let (set, report) = load(&self.paths, self.inventory_dir.as_deref(), self.preference);
        if let Some(set) = set {
            let mut slot = self.current.write().unwrap_or_else(|p| p.into_inner());
            *slot = Arc::new(set);
        }
        Some(report)
    }

    /// Polls for changes every `interval`, calling `on_reload` after each reload attempt.
    pub fn watch(
        self: Arc<Self>,
        interval: Duration,
        on_reload: impl Fn(&ConstraintsReport) + Send + 'static,
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

impl ConstraintSource for ConstraintsDir {
    fn constraints(&self) -> Option<Arc<ConstraintSet>> {
        let slot = self.current.read().unwrap_or_else(|p| p.into_inner());
        Some(Arc::clone(&slot))
    }
}

fn files(paths: &[PathBuf], inventory_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    for path in paths.iter().map(PathBuf::as_path).chain(inventory_dir) {
        if path.is_dir() {
            out.extend(list_dir(path, &mut ignored));
        } else if path.exists() || is_manifest(path) {
            out.push(path.to_path_buf());
        }
    }
    out
}

/// A hash of every file's path, size and modification time.
fn fingerprint(files: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        if let Ok(meta) = std::fs::metadata(f) {
            meta.len().hash(&mut h);
            if let Ok(t) = meta.modified() {
                t.hash(&mut h);
            }
        }
    }
    h.finish()
}

fn documents(path: &Path, errors: &mut Vec<String>) -> Vec<Value> {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            errors.push(format!("{name}: cannot read file: {e}"));
            return Vec::new();
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let format = Format::detect(Some(&name), &text);
    let mut out = Vec::new();
    for doc in decode(&bytes, format, &Limits::default()) {
        match doc {
            Ok(located) => out.push(located.value),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    out
}

fn load(
    paths: &[PathBuf],
    inventory_dir: Option<&Path>,
    preference: EnginePreference,
) -> (Option<ConstraintSet>, ConstraintsReport) {
    let mut errors = Vec::new();
    let mut objects = Vec::new();
    for file in files(paths, None) {
        objects.extend(
            documents(&file, &mut errors)
                .into_iter()
                .filter(|o| Library::is_template(o) || Library::is_constraint(o)),
        );
    }
    let (library, load_errors) = Library::from_objects(objects.iter(), preference);
    errors.extend(load_errors.iter().map(ToString::to_string));
    if library.templates().next().is_none() && errors.is_empty() {
        errors.push(format!(
            "no ConstraintTemplate under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The inventory is advisory data: an unreadable state file is reported, not fatal. It is
    // read only when a template reads `data.inventory` (10,000 namespaces cost ~35 MiB).
    let mut inventory_errors = Vec::new();
    let inventory_dir = inventory_dir.filter(|_| library.templates().any(|t| t.uses_inventory()));
    let inventory_objects: Vec<Value> = inventory_dir
        .map(|dir| files(&[dir.to_path_buf()], None))
        .unwrap_or_default()
        .iter()
        .flat_map(|f| documents(f, &mut inventory_errors))
        .filter(|o| !Library::is_template(o) && !Library::is_constraint(o))
        .collect();
    let inventory = Inventory::from_objects(inventory_objects.iter());
    finish(library, inventory, errors)
}

/// The set and its report; no set when anything failed to load.
pub(crate) fn finish(
    library: Library,
    inventory: Inventory,
    errors: Vec<String>,
) -> (Option<ConstraintSet>, ConstraintsReport) {
    let report = ConstraintsReport {
        templates: library.templates().count(),
        constraints: library.constraints().count(),
        inventory: inventory.len(),
        errors: errors.clone(),
    };
    if !errors.is_empty() {
        return (None, report);
    }
    (Some(ConstraintSet { library, inventory }), report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sdenyall
spec:
  crd:
    spec:
      names:
        kind: K8sDenyAll
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sdenyall
      violation[{"msg": "denied"}] { true }
"#;

    const CONSTRAINT: &str = r#"apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sDenyAll
metadata:
  name: deny-all
"#;

    fn names(source: &ConstraintsDir) -> Vec<String> {
        source
            .constraints()
            .map(|set| {
                set.library
                    .constraints()
                    .map(|c| c.name().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_broken_reload_keeps_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"))
        };
        write("template.yaml", TEMPLATE);
        write("constraint.yaml", CONSTRAINT);
        let opened = ConstraintsDir::open(
            &[dir.path().to_path_buf()],
            None,
            EnginePreference::Gatekeeper,
        );
        let (source, report) = opened.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((report.templates, report.constraints), (1, 1));
        assert_eq!(names(&source), ["deny-all"]);
        assert!(source.reload_if_changed().is_none());

        write("template.yaml", &TEMPLATE.replace("{ true }", "{ true "));
        let report = source.reload_if_changed().unwrap_or_default();
        assert_eq!(
            report.errors.len(),
            2,
            "the template and its constraint: {:?}",
            report.errors
        );
        assert!(
            report.errors[0].contains("ConstraintTemplate k8sdenyall"),
            "{:?}",
            report.errors
        );
        assert_eq!(names(&source), ["deny-all"], "the last good set stays");

        write("template.yaml", TEMPLATE);
        write(
            "constraint.yaml",
            &CONSTRAINT.replace("deny-all", "deny-everything"),
        );
        let report = source.reload_if_changed().unwrap_or_default();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(names(&source), ["deny-everything"]);
    }

    #[test]
    fn a_broken_first_load_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("c.yaml"), CONSTRAINT).unwrap_or_else(|e| panic!("{e}"));
        let err = ConstraintsDir::open(
            &[dir.path().to_path_buf()],
            None,
            EnginePreference::Gatekeeper,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("K8sDenyAll deny-all: no ConstraintTemplate defines kind"),
            "{err}"
        );
    }
}
