//! `podsec fix` and the webhook's secure defaults: the settings a pod lacks to pass a Pod
//! Security level, added where they belong, and written back into the manifest as its author
//! wrote it.
//!
//! [`plan`] decides the edits on the object as JSON; [`text`] writes them into YAML or JSON
//! text without moving anything else; [`fix_object`] judges the result with the PSS engine, so
//! what is reported as unfixable is exactly what still fails. Pure: no I/O.

pub mod plan;
pub mod text;
pub mod tree;

use podsec_manifest::{classify, Object, ObjectError, Workload, WorkloadKind};
use podsec_policy::{evaluate, LevelVersion, Violation};
use serde_json::Value;

pub use plan::{apply, json_patch, Edit, Mode, Seg};
pub use text::{TextEdit, TextError};

/// The fix of one pod-bearing object.
#[derive(Debug, Clone)]
pub struct ObjectFix {
    pub kind: WorkloadKind,
    pub name: String,
    pub namespace: Option<String>,
    /// Paths are from the object's root.
    pub edits: Vec<Edit>,
    /// What the pod still fails at the level once fixed (the checks a fix cannot satisfy
    /// safely), with upstream's reasons; paths relative to the pod.
    pub unfixable: Vec<Unfixable>,
}

/// A violation no safe fix removes, and what would admit it.
#[derive(Debug, Clone)]
pub struct Unfixable {
    pub violation: Violation,
    /// The checks a PodSecurityException must waive (at restricted, a hostPath volume or an
    /// added capability also fails the baseline check it replaces).
    pub waive: Vec<podsec_policy::CheckId>,
    /// The highest namespace level that admits it.
    pub level: podsec_policy::Level,
}

impl Unfixable {
    /// `a PodSecurityException waiving X for this workload, or namespace level L`.
    pub fn what_admits(&self) -> String {
        let checks: Vec<&str> = self.waive.iter().map(|c| c.as_str()).collect();
        format!(
            "a PodSecurityException waiving {} for this workload, or namespace level {}",
            checks.join(" and "),
            self.level.as_str()
        )
    }
}

/// The path of the pod spec in an object of `kind`.
fn spec_path(kind: WorkloadKind) -> Vec<Seg> {
    let mut path: Vec<Seg> = kind
        .template_path()
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| Seg::Key(s.to_string()))
        .collect();
    path.push(Seg::Key("spec".into()));
    path
}

/// Fixes one object: `None` when it carries no pod; an error when it cannot be decoded (as
/// `check` reports it).
pub fn fix_object(
    object: &Value,
    lv: LevelVersion,
    mode: Mode,
) -> Option<Result<ObjectFix, ObjectError>> {
    let workload = match classify(object.clone()) {
        Ok(Object::Workload(w)) => w,
        Ok(_) => return None,
        Err(e) => return Some(Err(e)),
    };
    let path = spec_path(workload.kind);
    let edits = plan::plan(object, &path, lv.level, mode);
    let mut fixed = object.clone();
    apply(&mut fixed, &edits);
    let judged: Workload = match classify(fixed) {
        Ok(Object::Workload(w)) => *w,
        Ok(_) => *workload.clone(),
        Err(e) => return Some(Err(e)),
    };
    let remaining = evaluate(lv, &judged.pod_meta, &judged.pod_spec).violations;
    // What baseline says about the same pod: a restricted violation on a field baseline also
    // refuses needs both waived, and no namespace level short of privileged admits it.
    let baseline = if lv.level == podsec_policy::Level::Restricted && !remaining.is_empty() {
        let at = LevelVersion::new(podsec_policy::Level::Baseline, lv.version);
        evaluate(at, &judged.pod_meta, &judged.pod_spec).violations
    } else {
        Vec::new()
    };
    let unfixable = remaining
        .into_iter()
        .map(|violation| {
            let mut waive = vec![violation.check];
            let mut level = match lv.level {
                podsec_policy::Level::Restricted => podsec_policy::Level::Baseline,
                _ => podsec_policy::Level::Privileged,
            };
            for b in &baseline {
                if b.fields.iter().any(|f| violation.fields.contains(f))
                    || b.check == violation.check
                {
                    level = podsec_policy::Level::Privileged;
                    if !waive.contains(&b.check) {
                        waive.push(b.check);
                    }
                }
            }
            Unfixable {
                violation,
                waive,
                level,
            }
        })
        .collect();
    Some(Ok(ObjectFix {
        kind: workload.kind,
        name: workload.meta.name_or_generate_name().to_string(),
        namespace: (!workload.meta.namespace.is_empty()).then(|| workload.meta.namespace.clone()),
        edits,
        unfixable,
    }))
}

/// The objects of one decoded document: itself, or a List's items (with their paths).
pub fn objects_of(document: &Value) -> Vec<(Vec<Seg>, &Value)> {
    let is_list = document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"));
    match (is_list, document.get("items")) {
        (true, Some(Value::Array(items))) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (vec![Seg::Key("items".into()), Seg::Index(i)], item))
            .collect(),
        _ => vec![(Vec::new(), document)],
    }
}

/// Prefixes every edit's path (an object inside a List).
pub fn rebase(edits: Vec<Edit>, prefix: &[Seg]) -> Vec<Edit> {
    let join = |at: Vec<Seg>| -> Vec<Seg> { prefix.iter().cloned().chain(at).collect() };
    edits
        .into_iter()
        .map(|e| match e {
            Edit::Add { at, key, value } => Edit::Add {
                at: join(at),
                key,
                value,
            },
            Edit::Append { at, value } => Edit::Append {
                at: join(at),
                value,
            },
            Edit::Remove { at, index } => Edit::Remove {
                at: join(at),
                index,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests;
