//! Strict field checking: what `kubectl apply --validate=strict` refuses and the API server
//! otherwise drops silently — unknown fields and wrongly typed values — in pod-bearing
//! objects, found with the Kubernetes OpenAPI schema, with a "did you mean" for typos and for
//! security fields at the wrong level (pod vs container `securityContext`).
//!
//! The schema is k8s-openapi's (its `schemars` form of the Kubernetes OpenAPI definitions,
//! v1.37), not a field list of podsec's. Pure: no I/O.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// One field the API server would not take as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// `spec.template.spec.securityContext.privileged`.
    pub path: String,
    /// `unknown field "spec.template.spec.securityContext.privileged"`.
    pub message: String,
    /// Where the field probably belongs (a path), when a likely place exists.
    pub suggestion: Option<String>,
}

impl std::fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean {s}?)")?;
        }
        Ok(())
    }
}

/// The Kubernetes version whose schema is used.
pub const SCHEMA_VERSION: &str = "v1.37";

struct Schemas {
    /// Definitions by name (`io.k8s.api.core.v1.PodSpec`).
    definitions: Map<String, Value>,
    /// The root schema of each (apiVersion, kind).
    roots: BTreeMap<(&'static str, &'static str), Value>,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as core};
        let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
        let mut roots = BTreeMap::new();
        macro_rules! root {
            ($api:expr, $kind:expr, $ty:ty) => {
                roots.insert(($api, $kind), generator.subschema_for::<$ty>().to_value());
            };
        }
        root!("v1", "Pod", core::Pod);
        root!("v1", "PodTemplate", core::PodTemplate);
        root!("v1", "ReplicationController", core::ReplicationController);
        root!("apps/v1", "ReplicaSet", apps::ReplicaSet);
        root!("apps/v1", "Deployment", apps::Deployment);
        root!("apps/v1", "StatefulSet", apps::StatefulSet);
        root!("apps/v1", "DaemonSet", apps::DaemonSet);
        root!("batch/v1", "Job", batch::Job);
        root!("batch/v1", "CronJob", batch::CronJob);
        let definitions = generator
            .take_definitions(true)
            .into_iter()
            .collect::<Map<String, Value>>();
        Schemas { definitions, roots }
    })
}

/// Whether objects of this apiVersion and kind are checked.
pub fn knows(api_version: &str, kind: &str) -> bool {
    schemas().roots.contains_key(&(api_version, kind))
}

/// The unknown fields and wrongly typed values of `object` (an object of a pod-bearing kind;
/// other kinds give nothing).
pub fn check(object: &Value) -> Vec<FieldIssue> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let s = schemas();
    let Some(root) = s.roots.get(&(api_version, kind)) else {
        return Vec::new();
    };
    let mut walk = Walk {
        schemas: s,
        root: object,
        issues: Vec::new(),
    };
    walk.value(object, root, &mut Vec::new());
    walk.issues
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn path_text(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

struct Walk<'s> {
    schemas: &'s Schemas,
    root: &'s Value,
    issues: Vec<FieldIssue>,
}

impl<'s> Walk<'s> {
    /// The schema behind `$ref` and single-element `allOf` wrappers, with its definition name.
    fn resolve(&self, mut schema: &'s Value) -> (&'s Value, Option<&'s str>) {
        let mut name = None;
        for _ in 0..16 {
            if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
                let n = r.rsplit('/').next().unwrap_or(r);
                match self.schemas.definitions.get(n) {
                    Some(def) => {
                        name = Some(n);
                        schema = def;
                        continue;
                    }
                    None => return (schema, name),
                }
            }
            match schema.get("allOf").and_then(Value::as_array) {
                Some(all) if all.len() == 1 => schema = &all[0],
                _ => return (schema, name),
            }
        }
        (schema, name)
    }

    fn value(&mut self, value: &'s Value, schema: &'s Value, path: &mut Vec<Step>) {
        let (schema, name) = self.resolve(schema);
        // Null is an absent optional field to the API server.
        if value.is_null() || schema.get("x-kubernetes-preserve-unknown-fields").is_some() {
            return;
        }
        if schema.get("x-kubernetes-int-or-string").is_some() {
            if !(value.is_string() || value.is_i64() || value.is_u64()) {
                self.mistyped(value, "an integer or a string", path);
            }
            return;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                let Value::Object(map) = value else {
                    return self.mistyped(value, "a map", path);
                };
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                if properties.is_none() && additional.is_none() {
                    return;
                }
                for (key, child) in map {
                    path.push(Step::Key(key.clone()));
                    match (properties.and_then(|p| p.get(key)), additional) {
                        (Some(field), _) | (None, Some(field)) => self.value(child, field, path),
                        (None, None) => self.unknown(key, schema, name, path),
                    }
                    path.pop();
                }
            }
            Some("array") => {
                let Value::Array(items) = value else {
                    return self.mistyped(value, "a list", path);
                };
                if let Some(item) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        path.push(Step::Index(i));
                        self.value(v, item, path);
                        path.pop();
                    }
                }
            }
            Some("string") if !value.is_string() => self.mistyped(value, "a string", path),
            Some("boolean") if !value.is_boolean() => self.mistyped(value, "a boolean", path),
            Some("integer") if !(value.is_i64() || value.is_u64()) => {
                self.mistyped(value, "an integer", path)
            }
            Some("number") if !value.is_number() => self.mistyped(value, "a number", path),
            _ => {}
        }
    }

    fn mistyped(&mut self, value: &Value, expected: &str, path: &[Step]) {
        let found = match value {
            Value::String(s) => format!("a string ({})", Value::String(s.clone())),
            Value::Bool(b) => format!("a boolean ({b})"),
            Value::Number(n) => format!("a number ({n})"),
            Value::Array(_) => "a list".into(),
            Value::Object(_) => "a map".into(),
            Value::Null => "null".into(),
        };
        let at = path_text(path);
        self.issues.push(FieldIssue {
            message: format!("{at}: expected {expected}, found {found}"),
            path: at,
            suggestion: None,
        });
    }

    fn unknown(&mut self, key: &str, schema: &'s Value, name: Option<&str>, path: &[Step]) {
        let at = path_text(path);
        let parent = &path[..path.len().saturating_sub(1)];
        let suggestion = self
            .typo(key, schema)
            .map(|k| {
                let mut p = parent.to_vec();
                p.push(Step::Key(k));
                path_text(&p)
            })
            .or_else(|| self.misplaced(key, schema, name, parent));
        self.issues.push(FieldIssue {
            message: format!("unknown field {}", Value::String(at.clone())),
            path: at,
            suggestion,
        });
    }

    /// A field of the same mapping spelled alike: another case, or one or two letters off.
    fn typo(&self, key: &str, schema: &Value) -> Option<String> {
        let properties = schema.get("properties")?.as_object()?;
        if let Some(k) = properties.keys().find(|k| k.eq_ignore_ascii_case(key)) {
            return Some(k.clone());
        }
        let limit = if key.len() >= 8 { 2 } else { 1 };
        properties
            .keys()
            .map(|k| (distance(key, k), k))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, k)| k.clone())
    }

    /// Where a field of this name exists near here: the container's securityContext for a
    /// pod-level one and back, or one mapping down (`seccompProfile` under a container belongs
    /// in its `securityContext`).
    fn misplaced(
        &self,
        key: &str,
        schema: &'s Value,
        name: Option<&str>,
        parent: &[Step],
    ) -> Option<String> {
        let has = |def: &str| {
            self.schemas
                .definitions
                .get(def)
                .and_then(|d| d.get("properties"))
                .and_then(|p| p.get(key))
                .is_some()
        };
        let join = |base: &[Step], keys: &[&str]| {
            let mut p = base.to_vec();
            p.extend(keys.iter().map(|k| Step::Key((*k).to_string())));
            path_text(&p)
        };
        match name {
            Some("io.k8s.api.core.v1.PodSecurityContext")
                if has("io.k8s.api.core.v1.SecurityContext") =>
            {
                // parent = …spec.securityContext: the pod spec is one up.
                let spec = &parent[..parent.len().saturating_sub(1)];
                let containers = self
                    .lookup(spec)
                    .and_then(|s| s.get("containers"))
                    .and_then(Value::as_array);
                let mut p = spec.to_vec();
                p.push(Step::Key("containers".into()));
                p.push(Step::Index(0));
                p.push(Step::Key("securityContext".into()));
                p.push(Step::Key(key.into()));
                let first = path_text(&p);
                return Some(match containers.map_or(0, Vec::len) {
                    0 | 1 => first,
                    n => format!("{first}, and in each of the {n} containers"),
                });
            }
            Some("io.k8s.api.core.v1.SecurityContext")
                if has("io.k8s.api.core.v1.PodSecurityContext") =>
            {
                // parent = …spec.containers[i].securityContext.
                let spec = &parent[..parent.len().saturating_sub(3)];
                return Some(join(spec, &["securityContext", key]));
            }
            _ => {}
        }
        // One mapping down: the first property whose schema has the key, securityContext first.
        let properties = schema.get("properties")?.as_object()?;
        let mut candidates: Vec<&String> = properties
            .iter()
            .filter(|(_, field)| {
                let (s, _) = self.resolve(field);
                s.get("properties").and_then(|p| p.get(key)).is_some()
            })
            .map(|(k, _)| k)
            .collect();
        candidates.sort_by_key(|k| (k.as_str() != "securityContext", k.len()));
        candidates.first().map(|k| join(parent, &[k.as_str(), key]))
    }

    fn lookup(&self, path: &[Step]) -> Option<&'s Value> {
        path.iter().try_fold(self.root, |v, s| match s {
            Step::Key(k) => v.get(k),
            Step::Index(i) => v.get(i),
        })
    }
}

/// Levenshtein distance (ASCII-insensitive to nothing: field names are case-sensitive).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
