//! Opt-in secure defaults (`POST /mutate` with the Pod Security Standards): a namespace
//! labelled `podsec.dev/default-security-context: restricted` (or `baseline`) gets the safe
//! settings its pods lack added as a minimal JSON patch; values the author set are never
//! changed. Validation then judges the mutated pod as usual.

use std::collections::BTreeMap;

use podsec_fix::{apply, fix_object, json_patch, Edit, Mode, Seg};
use podsec_policy::{Level, LevelVersion, Version};
use serde_json::value::RawValue;
use serde_json::Value;

/// The namespace label that asks for secure defaults, and its values.
pub const DEFAULTS_LABEL: &str = "podsec.dev/default-security-context";
/// Audit annotation listing what was defaulted (`field=value, …`).
pub const DEFAULTED_ANNOTATION: &str = "defaulted";

/// A pod with the defaults its namespace asks for.
pub(crate) struct Defaulted {
    /// The mutated pod, for validation.
    pub object: Box<RawValue>,
    /// The RFC 6902 patch from the pod as sent.
    pub patch: Value,
    /// `spec.securityContext.runAsNonRoot=true, …`
    pub summary: String,
}

/// The defaults for `pod` in a namespace with `labels`: `Ok(None)` when the namespace does
/// not ask for any or the pod lacks none; `Err` names a label value that cannot be used.
pub(crate) fn secure_defaults(
    labels: &BTreeMap<String, String>,
    pod: &RawValue,
) -> Result<Option<Defaulted>, String> {
    let level = match labels.get(DEFAULTS_LABEL).map(String::as_str) {
        None => return Ok(None),
        Some("restricted") => Level::Restricted,
        Some("baseline") => Level::Baseline,
        Some(other) => {
            return Err(format!(
                "invalid {DEFAULTS_LABEL} {}: must be restricted or baseline; no defaults applied",
                podsec_policy::go_quote(other)
            ))
        }
    };
    let Ok(object) = serde_json::from_str::<Value>(pod.get()) else {
        // Validation reports an undecodable pod.
        return Ok(None);
    };
    let fixed = match fix_object(
        &object,
        LevelVersion::new(level, Version::Latest),
        Mode::Defaults,
    ) {
        Some(Ok(fixed)) if !fixed.edits.is_empty() => fixed,
        _ => return Ok(None),
    };
    let mut mutated = object;
    apply(&mut mutated, &fixed.edits);
    let object = serde_json::value::to_raw_value(&mutated).map_err(|e| e.to_string())?;
    Ok(Some(Defaulted {
        object,
        patch: json_patch(&fixed.edits),
        summary: summary(&fixed.edits),
    }))
}

/// Every value added, as `path=value`.
fn summary(edits: &[Edit]) -> String {
    fn leaves(path: String, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    leaves(format!("{path}.{k}"), v, out);
                }
            }
            other => out.push(format!("{path}={other}")),
        }
    }
    let mut out = Vec::new();
    for edit in edits {
        if let Edit::Add { at, key, value } = edit {
            let mut path = at.clone();
            path.push(Seg::Key(key.clone()));
            leaves(podsec_fix::text::path_text(&path), value, &mut out);
        }
    }
    out.join(", ")
}
