//! What a constraint is evaluated against: an AdmissionRequest (from the webhook), or one built
//! from an object as Gatekeeper's audit and gator build it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::cel::Activation;
use crate::cel_value::CelData;
use crate::library::rego_value;

/// One object under review, with the views each engine needs built at most once.
pub struct Review {
    /// The AdmissionRequest as JSON (`input.review` without `namespaceObject`).
    request: Value,
    namespace_object: Option<Value>,
    group: String,
    kind: String,
    namespace: String,
    operation: String,
    rego: OnceLock<regorus::Value>,
    cel: OnceLock<Activation>,
}

impl std::fmt::Debug for Review {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Review")
            .field("kind", &self.kind)
            .field("namespace", &self.namespace)
            .field("operation", &self.operation)
            .finish()
    }
}

impl Review {
    /// An AdmissionRequest as the API server sent it; `namespace_object` is the Namespace of a
    /// namespaced object, when known.
    pub fn from_request(request: Value, namespace_object: Option<Value>) -> Review {
        let text = |pointer: &str| {
            request
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let group = text("/kind/group");
        let kind = text("/kind/kind");
        let operation = text("/operation");
        let mut namespace = text("/namespace");
        if namespace.is_empty() {
            namespace = text("/object/metadata/namespace");
        }
        Review {
            group,
            kind,
            namespace,
            operation,
            request,
            namespace_object,
            rego: OnceLock::new(),
            cel: OnceLock::new(),
        }
    }

    /// An object reviewed outside admission (audit, gator, `podsec check`): no operation, no
    /// user, no old object — the request Gatekeeper's audit and gator build.
    pub fn from_object(object: Value, namespace_object: Option<Value>) -> Review {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (group, version) = match api_version.rsplit_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let meta = |field: &str| {
            object
                .pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut request = json!({
            "uid": "",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": "", "version": "", "resource": ""},
            "operation": "",
            "userInfo": {},
            "oldObject": null,
        });
        if let Value::Object(fields) = &mut request {
            let name = meta("name");
            if !name.is_empty() {
                fields.insert("name".into(), Value::String(name));
            }
            let namespace = meta("namespace");
            if !namespace.is_empty() {
                fields.insert("namespace".into(), Value::String(namespace));
            }
            fields.insert("object".into(), object);
        }
        Review::from_request(request, namespace_object)
    }

    /// An AdmissionReview document (gator accepts one as a case's object): its request.
    pub fn from_admission_review(review: &Value) -> Option<Review> {
        let request = review.get("request")?.clone();
        Some(Review::from_request(request, None))
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The object's namespace (`""` for cluster-scoped objects).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn operation(&self) -> &str {
        &self.operation
    }

    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }

    pub fn object(&self) -> Option<&Value> {
        self.request.get("object").filter(|o| !o.is_null())
    }

    pub fn old_object(&self) -> Option<&Value> {
        self.request.get("oldObject").filter(|o| !o.is_null())
    }

    pub fn namespace_object(&self) -> Option<&Value> {
        self.namespace_object.as_ref()
    }

    /// `input.review` for Rego: the request plus `namespaceObject`; on DELETE the object is the
    /// old object, as Gatekeeper's webhook sets it.
    pub(crate) fn rego_review(&self) -> &regorus::Value {
        self.rego.get_or_init(|| {
            let mut fields: BTreeMap<regorus::Value, regorus::Value> = match &self.request {
                Value::Object(fields) => fields
                    .iter()
                    .map(|(k, v)| (regorus::Value::from(k.as_str()), rego_value(v)))
                    .collect(),
                _ => BTreeMap::new(),
            };
            if self.operation == "DELETE" {
                if let Some(old) = self.old_object() {
                    fields.insert("object".into(), rego_value(old));
                }
            }
            fields.insert(
                "namespaceObject".into(),
                self.namespace_object
                    .as_ref()
                    .map_or(regorus::Value::Null, rego_value),
            );
            regorus::Value::from(fields)
        })
    }

    pub(crate) fn cel_activation(&self) -> &Activation {
        self.cel.get_or_init(|| {
            let cel = |v: Option<&Value>| v.map(CelData::from_json).unwrap_or_else(CelData::null);
            let object = cel(self.object());
            let old_object = cel(self.old_object());
            let deleting = self.operation == "DELETE";
            let any_object = if deleting {
                old_object.clone()
            } else {
                object.clone()
            };
            let request = match &self.request {
                Value::Object(fields) => {
                    let without_objects: Map<String, Value> = fields
                        .iter()
                        .filter(|(k, _)| k.as_str() != "object" && k.as_str() != "oldObject")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    CelData::from_json(&Value::Object(without_objects))
                }
                _ => CelData::null(),
            };
            Activation::new(
                if deleting { CelData::null() } else { object },
                old_object,
                request,
                cel(self.namespace_object.as_ref()),
                any_object,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rego_values_are_the_ones_regorus_reads_from_json() {
        let json = json!({
            "ints": [0, 1, -1, 9007199254740993_i64, u64::MAX, i64::MIN],
            "floats": [0.5, -2.25, 1e300, 3.0],
            "text": ["", "é ✓", "a\"b"],
            "nested": {"empty": {}, "list": [], "null": null, "flags": [true, false]}
        });
        assert_eq!(rego_value(&json), regorus::Value::from(json.clone()));
        let review = Review::from_object(json!({"kind": "Pod", "metadata": {"name": "p"}}), None);
        let expected = regorus::Value::from(json!({
            "uid": "", "kind": {"group": "", "version": "", "kind": "Pod"},
            "resource": {"group": "", "version": "", "resource": ""}, "operation": "",
            "userInfo": {}, "oldObject": null, "name": "p",
            "object": {"kind": "Pod", "metadata": {"name": "p"}}, "namespaceObject": null
        }));
        assert_eq!(review.rego_review(), &expected);
    }
}
