//! Reading Gatekeeper templates and constraints from files (`--constraints`).

use std::path::Path;

use anyhow::Context as _;
use podsec_cluster::files::read_paths;
use podsec_constraints::{EnginePreference, Library};
use podsec_manifest::{decode, Format, Limits};
use serde_json::Value;

/// Which engine runs templates that carry both Rego and CEL.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// As Gatekeeper: CEL when the template has it.
    #[default]
    Auto,
    Rego,
    Cel,
}

impl From<EngineChoice> for EnginePreference {
    fn from(choice: EngineChoice) -> EnginePreference {
        match choice {
            EngineChoice::Auto => EnginePreference::Gatekeeper,
            EngineChoice::Rego => EnginePreference::Rego,
            EngineChoice::Cel => EnginePreference::Cel,
        }
    }
}

/// Every document of a YAML or JSON file (a `*List` gives its items), with errors naming the
/// file and line.
pub fn read_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    documents(&path.display().to_string(), &bytes)
}

pub fn documents(name: &str, bytes: &[u8]) -> anyhow::Result<Vec<Value>> {
    let text = String::from_utf8_lossy(bytes);
    let format = Format::detect(Some(name), &text);
    let mut out = Vec::new();
    for doc in decode(bytes, format, &Limits::default()) {
        match doc {
            Ok(located) => out.push(located.value),
            Err(e) => anyhow::bail!("{name}: {e}"),
        }
    }
    Ok(out)
}

/// Loads the templates and constraints under `paths` (files or directories). Any file that
/// cannot be read, or object that cannot be loaded, is an error naming it: enforcing part of
/// a policy set silently would admit what the rest denies.
pub fn load(paths: &[String], preference: EnginePreference) -> anyhow::Result<Library> {
    let (files, file_errors) = read_paths(paths);
    if let Some(e) = file_errors.first() {
        anyhow::bail!("--constraints: {}: {}", e.name, e.message);
    }
    let mut objects = Vec::new();
    for file in &files {
        let name = file.format_hint.as_deref().unwrap_or(&file.name);
        objects.extend(
            documents(name, &file.bytes)
                .with_context(|| "--constraints".to_string())?
                .into_iter()
                .filter(|o| Library::is_template(o) || Library::is_constraint(o)),
        );
    }
    let (library, errors) = Library::from_objects(objects.iter(), preference);
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "--constraints {}: {} could not be loaded:\n  {}",
            paths.join(","),
            if errors.len() == 1 {
                "1 object"
            } else {
                "some objects"
            },
            lines.join("\n  ")
        );
    }
    if library.templates().next().is_none() {
        anyhow::bail!(
            "--constraints {}: no ConstraintTemplate found (apiVersion templates.gatekeeper.sh/v1)",
            paths.join(",")
        );
    }
    Ok(library)
}
