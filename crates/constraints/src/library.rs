//! A set of templates and constraints, and the review of one object against all of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::constraint::{Constraint, EnforcementAction, EnforcementPoint};
use crate::inventory::Inventory;
use crate::review::Review;
use crate::template::{Engine, EnginePreference, Program, Template};
use crate::{api_group, CONSTRAINTS_GROUP, TEMPLATES_GROUP};

/// One violation of one constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub constraint_kind: String,
    pub constraint_name: String,
    /// The template's message (or the evaluation error, worded as Gatekeeper words it).
    pub message: String,
    pub details: Value,
    pub action: EnforcementAction,
    /// Whether this is an evaluation or match error rather than a failed rule.
    pub error: bool,
}

impl Violation {
    /// Gatekeeper's deny/warn line: `[<constraint name>] <msg>`.
    pub fn line(&self) -> String {
        format!("[{}] {}", self.constraint_name, self.message)
    }
}

/// A template or constraint that could not be loaded, named so a user can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct LoadError {
    /// `ConstraintTemplate <name>` or `<Kind> <name>`.
    pub object: String,
    pub message: String,
}

/// What one constraint's evaluation cost and found, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct Evaluated<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub engine: Engine,
    pub elapsed: Duration,
    pub violations: usize,
    pub error: bool,
}

/// Templates by kind and their constraints, sorted as Gatekeeper sorts results (kind, name).
#[derive(Debug, Default, Clone)]
pub struct Library {
    templates: BTreeMap<String, Arc<Template>>,
    constraints: BTreeMap<(String, String), Arc<Constraint>>,
    preference: EnginePreference,
}

impl Library {
    pub fn new(preference: EnginePreference) -> Library {
        Library {
            preference,
            ..Library::default()
        }
    }

    pub fn is_template(object: &Value) -> bool {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        api_group(api_version) == TEMPLATES_GROUP
    }

    pub fn is_constraint(object: &Value) -> bool {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        api_group(api_version) == CONSTRAINTS_GROUP
    }

    /// Loads every template, then every constraint, among `objects`; the others are ignored.
    /// What fails to load is returned and left out; the rest still load.
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a Value> + Clone,
        preference: EnginePreference,
    ) -> (Library, Vec<LoadError>) {
        let mut library = Library::new(preference);
        let mut errors = Vec::new();
        for object in objects
            .clone()
            .into_iter()
            .filter(|o| Library::is_template(o))
        {
            if let Err(e) = library.add_template(object) {
                errors.push(e);
            }
        }
        for object in objects.into_iter().filter(|o| Library::is_constraint(o)) {
            if let Err(e) = library.add_constraint(object) {
                errors.push(e);
            }
        }
        (library, errors)
    }

    /// Compiles and adds a template (replacing one of the same kind, and dropping its
    /// constraints, which must be added again against the new schema).
    pub fn add_template(&mut self, object: &Value) -> Result<&Template, LoadError> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let template = Template::from_json(object, self.preference).map_err(|e| LoadError {
            object: format!("ConstraintTemplate {name}"),
            message: e.to_string(),
        })?;
        let kind = template.kind().to_string();
        if let Some(existing) = self.templates.get(&kind) {
            if existing.name() != template.name() {
                return Err(LoadError {
                    object: format!("ConstraintTemplate {name}"),
                    message: format!(
                        "kind {kind} is already defined by ConstraintTemplate {}",
                        existing.name()
                    ),
                });
            }
        }
        self.constraints.retain(|(k, _), _| *k != kind);
        let template = Arc::new(template);
        self.templates.insert(kind, Arc::clone(&template));
        Ok(self
            .templates
            .get(template.kind())
            .map(Arc::as_ref)
            .unwrap_or_else(|| unreachable!("inserted above")))
    }

    pub fn add_constraint(&mut self, object: &Value) -> Result<&Constraint, LoadError> {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let label = format!("{kind} {name}");
        let Some(template) = self.templates.get(kind) else {
            return Err(LoadError {
                object: label,
                message: format!(
                    "no ConstraintTemplate defines kind {kind:?}; load its template first"
                ),
            });
        };
        let constraint = Constraint::from_json(object, template).map_err(|e| LoadError {
            object: label,
            message: e.to_string(),
        })?;
        let key = (constraint.kind().to_string(), constraint.name().to_string());
        let constraint = self
            .constraints
            .entry(key)
            .insert_entry(Arc::new(constraint));
        Ok(constraint.into_mut())
    }

    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.templates.values().map(Arc::as_ref)
    }

    pub fn template(&self, kind: &str) -> Option<&Template> {
        self.templates.get(kind).map(Arc::as_ref)
    }

    /// Constraints in Gatekeeper's order: by kind, then name.
    pub fn constraints(&self) -> impl Iterator<Item = &Constraint> {
        self.constraints.values().map(Arc::as_ref)
    }

    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    /// Every violation of every constraint that matches the review, in Gatekeeper's order.
    pub fn review(
        &self,
        review: &Review,
        inventory: &Inventory,
        point: EnforcementPoint,
    ) -> Vec<Violation> {
        self.review_observed(review, inventory, point, &mut |_| {})
    }

    /// [`Library::review`], reporting each evaluated constraint to `observe`.
    pub fn review_observed(
        &self,
        review: &Review,
        inventory: &Inventory,
        point: EnforcementPoint,
        observe: &mut dyn FnMut(Evaluated<'_>),
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        for constraint in self.constraints.values() {
            let Some(action) = constraint.action_at(point) else {
                continue;
            };
            let Some(template) = self.templates.get(constraint.kind()) else {
                continue;
            };
            if point == EnforcementPoint::Validation
                && !template.handles_operation(review.operation())
            {
                continue;
            }
            let violation = |message: String, details: Value, error: bool| Violation {
                constraint_kind: constraint.kind().to_string(),
                constraint_name: constraint.name().to_string(),
                message,
                details,
                action,
                error,
            };
            match constraint.matcher().matches(review) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    out.push(violation(
                        format!("unable to match constraints: {e}"),
                        Value::Null,
                        true,
                    ));
                    continue;
                }
            }
            let started = Instant::now();
            let before = out.len();
            let mut failed = false;
            match template.program() {
                Program::Rego(program) => {
                    let input = rego_object([
                        ("review", review.rego_review().clone()),
                        ("parameters", constraint.parameters_rego().clone()),
                    ]);
                    match program.evaluate(input, || inventory.rego()) {
                        Ok(found) => out.extend(
                            found
                                .into_iter()
                                .map(|v| violation(v.msg, v.details, false)),
                        ),
                        Err(e) => {
                            failed = true;
                            out.push(violation(e, Value::Null, true));
                        }
                    }
                }
                Program::Cel(program) => {
                    let found = program.evaluate(
                        review.cel_activation(),
                        constraint.parameters_cel(),
                        constraint.object_cel(),
                        constraint.cel_values(),
                    );
                    out.extend(
                        found
                            .into_iter()
                            .map(|v| violation(v.msg, Value::Null, false)),
                    );
                }
            }
            observe(Evaluated {
                kind: constraint.kind(),
                name: constraint.name(),
                engine: template.engine(),
                elapsed: started.elapsed(),
                violations: out.len() - before,
                error: failed,
            });
        }
        out
    }
}

/// A Rego object from a few fields; its maps are shared, so this costs a few pointers.
pub(crate) fn rego_object<const N: usize>(fields: [(&str, regorus::Value); N]) -> regorus::Value {
    let mut object = regorus::Value::new_object();
    if let Ok(map) = object.as_object_mut() {
        for (key, value) in fields {
            map.insert(regorus::Value::from(key), value);
        }
    }
    object
}

/// JSON as a Rego value, read in place (regorus' own conversion takes the JSON by value, which
/// here would mean copying the review first). Numbers as its JSON reader makes them.
pub(crate) fn rego_value(value: &Value) -> regorus::Value {
    match value {
        Value::Null => regorus::Value::Null,
        Value::Bool(b) => regorus::Value::from(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => regorus::Value::from(u),
            (None, Some(i), _) => regorus::Value::from(i),
            (None, None, Some(f)) => regorus::Value::from(f),
            (None, None, None) => regorus::Value::Null,
        },
        Value::String(s) => regorus::Value::from(s.as_str()),
        Value::Array(items) => {
            regorus::Value::from(items.iter().map(rego_value).collect::<Vec<_>>())
        }
        Value::Object(fields) => regorus::Value::from(
            fields
                .iter()
                .map(|(k, v)| (regorus::Value::from(k.as_str()), rego_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(kind: &str, rego: &str) -> Value {
        json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
            "metadata": {"name": kind.to_lowercase()},
            "spec": {"crd": {"spec": {"names": {"kind": kind}}},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]}})
    }

    fn constraint(kind: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind,
            "metadata": {"name": name}, "spec": spec})
    }

    fn pod(namespace: &str) -> Review {
        Review::from_object(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                   "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
            None,
        )
    }

    fn load(objects: &[Value]) -> Library {
        let (library, errors) = Library::from_objects(objects.iter(), EnginePreference::Gatekeeper);
        assert!(errors.is_empty(), "{errors:?}");
        library
    }

    #[test]
    fn inventory_lookups_see_synced_objects() {
        let rego = r#"package k8sinventory
violation[{"msg": msg}] {
  ns := input.review.object.metadata.namespace
  cm := data.inventory.namespace[ns]["v1"]["ConfigMap"]["policy"]
  cm.data.mode == "locked"
  msg := sprintf("namespace %v is locked", [ns])
}"#;
        let library = load(&[
            template("K8sInventory", rego),
            constraint("K8sInventory", "locked", json!({})),
        ]);
        let locked = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "policy", "namespace": "prod"}, "data": {"mode": "locked"}});
        let inventory = Inventory::from_objects([&locked]);
        let found = library.review(&pod("prod"), &inventory, EnforcementPoint::Audit);
        assert_eq!(
            found.iter().map(Violation::line).collect::<Vec<_>>(),
            ["[locked] namespace prod is locked"]
        );
        assert!(library
            .review(&pod("dev"), &inventory, EnforcementPoint::Audit)
            .is_empty());
        assert!(library
            .review(&pod("prod"), &Inventory::default(), EnforcementPoint::Audit)
            .is_empty());
    }

    #[test]
    fn a_rego_runtime_error_is_a_violation_carrying_it() {
        let rego = r#"package k8sconflict
mode := "a" { true }
mode := "b" { true }
violation[{"msg": mode}] { true }"#;
        let library = load(&[
            template("K8sConflict", rego),
            constraint("K8sConflict", "c", json!({})),
        ]);
        let found = library.review(
            &pod("default"),
            &Inventory::default(),
            EnforcementPoint::Validation,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].error);
        assert_eq!(found[0].action, EnforcementAction::Deny);
        assert!(!found[0].message.is_empty());
    }

    #[test]
    fn scoped_actions_apply_per_enforcement_point() {
        let rego = "package k8salways\nviolation[{\"msg\": \"always\"}] { true }";
        let spec = json!({"enforcementAction": "scoped", "scopedEnforcementActions": [
            {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
            {"action": "deny", "enforcementPoints": [{"name": "gator.gatekeeper.sh"}]},
            {"action": "dryrun", "enforcementPoints": [{"name": "gator.gatekeeper.sh"}]}]});
        let library = load(&[
            template("K8sAlways", rego),
            constraint("K8sAlways", "scoped", spec),
        ]);
        let action = |point| {
            library
                .review(&pod("default"), &Inventory::default(), point)
                .first()
                .map(|v| v.action)
        };
        assert_eq!(
            action(EnforcementPoint::Validation),
            Some(EnforcementAction::Warn)
        );
        assert_eq!(
            action(EnforcementPoint::Gator),
            Some(EnforcementAction::Deny)
        );
        assert_eq!(action(EnforcementPoint::Audit), None, "audit is not listed");
    }

    #[test]
    fn results_are_ordered_by_kind_then_name_and_only_matching_constraints_run() {
        let rego = |kind: &str| {
            format!(
                "package {}\nviolation[{{\"msg\": \"no\"}}] {{ true }}",
                kind.to_lowercase()
            )
        };
        let pods_only = json!({"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}});
        let services = json!({"match": {"kinds": [{"apiGroups": [""], "kinds": ["Service"]}]}});
        let library = load(&[
            template("K8sB", &rego("K8sB")),
            template("K8sA", &rego("K8sA")),
            constraint("K8sB", "z", pods_only.clone()),
            constraint("K8sB", "a", pods_only.clone()),
            constraint("K8sA", "m", pods_only),
            constraint("K8sA", "svc", services),
        ]);
        let mut evaluated = Vec::new();
        let found = library.review_observed(
            &pod("default"),
            &Inventory::default(),
            EnforcementPoint::Validation,
            &mut |e| evaluated.push(format!("{}/{}", e.kind, e.name)),
        );
        let lines: Vec<String> = found
            .iter()
            .map(|v| format!("{}/{}", v.constraint_kind, v.constraint_name))
            .collect();
        assert_eq!(lines, ["K8sA/m", "K8sB/a", "K8sB/z"]);
        assert_eq!(
            evaluated, lines,
            "the Service constraint is matched out before evaluation"
        );
    }

    #[test]
    fn operations_filter_only_at_the_webhook() {
        let t = json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
            "metadata": {"name": "k8sdeleteonly"},
            "spec": {"crd": {"spec": {"names": {"kind": "K8sDeleteOnly"}}},
                "targets": [{"target": "admission.k8s.gatekeeper.sh", "operations": ["DELETE"],
                    "rego": "package k\nviolation[{\"msg\": \"no\"}] { true }"}]}});
        let library = load(&[t, constraint("K8sDeleteOnly", "d", json!({}))]);
        let create = Review::from_request(
            json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "default", "operation": "CREATE", "object": {"metadata": {"name": "p"}}}),
            None,
        );
        let delete = Review::from_request(
            json!({"uid": "2", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "default", "operation": "DELETE", "oldObject": {"metadata": {"name": "p"}}}),
            None,
        );
        assert!(library
            .review(&create, &Inventory::default(), EnforcementPoint::Validation)
            .is_empty());
        assert_eq!(
            library
                .review(&delete, &Inventory::default(), EnforcementPoint::Validation)
                .len(),
            1
        );
        assert_eq!(
            library
                .review(&create, &Inventory::default(), EnforcementPoint::Audit)
                .len(),
            1
        );
    }
}
