//! The minimal RFC 6902 JSON patch between two versions of a pod, touching only what
//! policies change (annotations, the spec): what a mutating webhook answers and what
//! `check --psp` reports as a policy's defaults.

use podsec_policy::{ObjectMeta, PodSpec};
use serde_json::Value;

/// Serializes the parts of a pod that policies change, as JSON for diffing.
fn pod_json(meta: &ObjectMeta, spec: &PodSpec) -> Value {
    let annotations = serde_json::to_value(&meta.annotations).unwrap_or(Value::Null);
    let spec = serde_json::to_value(spec).unwrap_or(Value::Null);
    let mut pod = serde_json::Map::new();
    if !meta.annotations.is_empty() {
        pod.insert(
            "metadata".into(),
            serde_json::json!({ "annotations": annotations }),
        );
    } else {
        pod.insert("metadata".into(), serde_json::json!({}));
    }
    pod.insert("spec".into(), spec);
    Value::Object(pod)
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn diff(path: &str, before: &Value, after: &Value, ops: &mut Vec<Value>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, vb) in b {
                let p = format!("{path}/{}", escape(k));
                match a.get(k) {
                    None => ops.push(serde_json::json!({"op": "add", "path": p, "value": vb})),
                    Some(va) => diff(&p, va, vb, ops),
                }
            }
            for k in a.keys() {
                if !b.contains_key(k) {
                    ops.push(serde_json::json!({"op": "remove", "path": format!("{path}/{}", escape(k))}));
                }
            }
        }
        (Value::Array(a), Value::Array(b))
            if a.len() == b.len() && a.iter().all(Value::is_object) =>
        {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}/{i}"), va, vb, ops);
            }
        }
        (a, b) if a != b => {
            ops.push(serde_json::json!({"op": "replace", "path": path, "value": b}))
        }
        _ => {}
    }
}

/// A minimal RFC 6902 patch turning `before` into `after`, touching only what policies
/// change (annotations, security contexts, runtime class); `None` when nothing changed.
pub fn patch(before: (&ObjectMeta, &PodSpec), after: (&ObjectMeta, &PodSpec)) -> Option<Value> {
    let mut ops = Vec::new();
    diff(
        "",
        &pod_json(before.0, before.1),
        &pod_json(after.0, after.1),
        &mut ops,
    );
    (!ops.is_empty()).then_some(Value::Array(ops))
}
