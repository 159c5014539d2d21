//! What to change in a pod-bearing object so that its pod passes a level: the safe settings
//! only, at the right place (pod-level settings once for the pod, container settings per
//! container), never overriding a value the author set.

use podsec_policy::pss::BASELINE_CAPABILITIES;
use podsec_policy::Level;
use serde_json::{json, Map, Value};

/// A step in a path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub type Path = Vec<Seg>;

/// One change to an object. Paths are from the object's root.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Adds `key: value` to the mapping at `at`, which does not have `key`.
    Add { at: Path, key: String, value: Value },
    /// Appends `value` to the list at `at`.
    Append { at: Path, value: Value },
    /// Removes item `index` of the list at `at`.
    Remove { at: Path, index: usize },
}

/// How far a fix may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `podsec fix`: add missing settings and complete `capabilities.drop` with ALL; remove
    /// capabilities the level forbids only when `remove_capabilities` is set.
    Fix { remove_capabilities: bool },
    /// The mutating webhook: only add settings that are absent; never touch a value set.
    Defaults,
}

/// The edits that bring the pod at `spec_path` of `object` to `level`, as far as `mode` allows.
pub fn plan(object: &Value, spec_path: &[Seg], level: Level, mode: Mode) -> Vec<Edit> {
    let Some(spec) = lookup(object, spec_path).filter(|s| s.is_object()) else {
        return Vec::new();
    };
    let windows = spec
        .pointer("/os/name")
        .and_then(Value::as_str)
        .is_some_and(|os| os == "windows");
    let containers = containers(spec, spec_path);
    let mut edits = Vec::new();
    let mut pod_settings = Map::new();

    if level == Level::Restricted {
        // Pod level, once: every container inherits these unless it sets its own.
        let pod_sc = spec.get("securityContext");
        if pod_sc.and_then(|sc| sc.get("runAsNonRoot")).is_none()
            && !containers
                .iter()
                .all(|(_, c)| c.pointer("/securityContext/runAsNonRoot").is_some())
        {
            pod_settings.insert("runAsNonRoot".into(), Value::Bool(true));
        }
        // Windows pods cannot set seccomp or Linux security settings (the API refuses them),
        // and restricted exempts them.
        if !windows {
            if pod_sc.and_then(|sc| sc.get("seccompProfile")).is_none()
                && !containers
                    .iter()
                    .all(|(_, c)| c.pointer("/securityContext/seccompProfile").is_some())
            {
                pod_settings.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
            }
            for (path, container) in &containers {
                let mut sc = Map::new();
                // The API server refuses allowPrivilegeEscalation: false next to privileged
                // or an added SYS_ADMIN; such a container cannot pass restricted anyway.
                let privileged = container.pointer("/securityContext/privileged")
                    == Some(&Value::Bool(true))
                    || container
                        .pointer("/securityContext/capabilities/add")
                        .and_then(Value::as_array)
                        .is_some_and(|add| {
                            add.iter().any(|c| c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN")
                        });
                if !privileged {
                    sc.insert("allowPrivilegeEscalation".into(), Value::Bool(false));
                }
                let drop = container.pointer("/securityContext/capabilities/drop");
                match drop {
                    None => {
                        sc.insert("capabilities".into(), json!({"drop": ["ALL"]}));
                    }
                    Some(Value::Array(list))
                        if mode != Mode::Defaults && !list.iter().any(|d| d == "ALL") =>
                    {
                        let mut at = path.clone();
                        at.extend(keys(&["securityContext", "capabilities", "drop"]));
                        edits.push(Edit::Append {
                            at,
                            value: json!("ALL"),
                        });
                    }
                    Some(_) => {}
                }
                merge_missing(
                    container,
                    path,
                    "securityContext",
                    Value::Object(sc),
                    &mut edits,
                );
                remove_capabilities(container, path, mode, &["NET_BIND_SERVICE"], &mut edits);
            }
        }
    } else if level == Level::Baseline {
        if mode == Mode::Defaults && !windows {
            // The one safe default baseline leaves open: the container runtime's seccomp
            // profile, for pods where no container chose one.
            let pod_sc = spec.get("securityContext");
            if pod_sc.and_then(|sc| sc.get("seccompProfile")).is_none()
                && containers
                    .iter()
                    .all(|(_, c)| c.pointer("/securityContext/seccompProfile").is_none())
            {
                pod_settings.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
            }
        }
        for (path, container) in &containers {
            remove_capabilities(container, path, mode, BASELINE_CAPABILITIES, &mut edits);
        }
    }
    if !pod_settings.is_empty() {
        let mut pod_edits = Vec::new();
        merge_missing(
            spec,
            spec_path,
            "securityContext",
            Value::Object(pod_settings),
            &mut pod_edits,
        );
        // Pod settings first: they read best above the containers' changes in a diff.
        pod_edits.extend(edits);
        edits = pod_edits;
    }
    edits
}

/// Removes added capabilities outside `allowed` (only in `Fix { remove_capabilities: true }`).
fn remove_capabilities(
    container: &Value,
    path: &[Seg],
    mode: Mode,
    allowed: &[&str],
    edits: &mut Vec<Edit>,
) {
    if mode
        != (Mode::Fix {
            remove_capabilities: true,
        })
    {
        return;
    }
    let Some(Value::Array(add)) = container.pointer("/securityContext/capabilities/add") else {
        return;
    };
    let mut at = path.to_vec();
    at.extend(keys(&["securityContext", "capabilities", "add"]));
    // From the last, so that each index still names its item when applied in order.
    for (index, cap) in add.iter().enumerate().rev() {
        if !cap.as_str().is_some_and(|c| allowed.contains(&c)) {
            edits.push(Edit::Remove {
                at: at.clone(),
                index,
            });
        }
    }
}

fn keys(names: &[&str]) -> Vec<Seg> {
    names.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

/// Every container of the pod with its path: containers, init containers, ephemeral ones.
fn containers<'v>(spec: &'v Value, spec_path: &[Seg]) -> Vec<(Path, &'v Value)> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(Value::Array(items)) = spec.get(list) {
            for (i, c) in items.iter().enumerate().filter(|(_, c)| c.is_object()) {
                let mut path = spec_path.to_vec();
                path.push(Seg::Key(list.into()));
                path.push(Seg::Index(i));
                out.push((path, c));
            }
        }
    }
    out
}

/// The minimal edits that add what `wanted` has and `parent[key]` lacks, recursively; values
/// present are left as they are (even when they differ: never override the author).
fn merge_missing(
    parent: &Value,
    parent_path: &[Seg],
    key: &str,
    wanted: Value,
    edits: &mut Vec<Edit>,
) {
    match parent.get(key) {
        None => edits.push(Edit::Add {
            at: parent_path.to_vec(),
            key: key.to_string(),
            value: wanted,
        }),
        Some(current @ Value::Object(_)) => {
            if let Value::Object(wanted) = wanted {
                let mut path = parent_path.to_vec();
                path.push(Seg::Key(key.to_string()));
                for (k, v) in wanted {
                    merge_missing(current, &path, &k, v, edits);
                }
            }
        }
        // Set to something else (null, a scalar where a mapping belongs): the author's value
        // stands, and the evaluation after the fix reports what remains.
        Some(_) => {}
    }
}

fn lookup<'v>(value: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(i),
    })
}

fn lookup_mut<'v>(value: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k),
        Seg::Index(i) => v.get_mut(i),
    })
}

/// Applies the edits to the object as JSON (what the fixed manifest decodes to).
pub fn apply(object: &mut Value, edits: &[Edit]) {
    for edit in edits {
        match edit {
            Edit::Add { at, key, value } => {
                if let Some(Value::Object(map)) = lookup_mut(object, at) {
                    map.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            Edit::Append { at, value } => {
                if let Some(Value::Array(list)) = lookup_mut(object, at) {
                    list.push(value.clone());
                }
            }
            Edit::Remove { at, index } => {
                if let Some(Value::Array(list)) = lookup_mut(object, at) {
                    if *index < list.len() {
                        list.remove(*index);
                    }
                }
            }
        }
    }
}

/// The edits as an RFC 6902 JSON patch (what a mutating webhook answers).
pub fn json_patch(edits: &[Edit]) -> Value {
    let pointer = |path: &[Seg]| -> String {
        path.iter()
            .map(|s| match s {
                Seg::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
                Seg::Index(i) => format!("/{i}"),
            })
            .collect()
    };
    Value::Array(
        edits
            .iter()
            .map(|e| match e {
                Edit::Add { at, key, value } => {
                    let mut path = at.clone();
                    path.push(Seg::Key(key.clone()));
                    json!({"op": "add", "path": pointer(&path), "value": value})
                }
                Edit::Append { at, value } => {
                    json!({"op": "add", "path": format!("{}/-", pointer(at)), "value": value})
                }
                Edit::Remove { at, index } => {
                    let mut path = at.clone();
                    path.push(Seg::Index(*index));
                    json!({"op": "remove", "path": pointer(&path)})
                }
            })
            .collect(),
    )
}
