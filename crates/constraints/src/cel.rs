//! A template's `K8sNativeValidation` code: CEL compiled once, evaluated as Gatekeeper's k8scel
//! driver evaluates it (ValidatingAdmissionPolicy semantics, plus `variables.params` and
//! `variables.anyObject`).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use kube_cel::cel::extractors::This;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, Program, Value as CelValue};
use kube_cel::KubeCelExt;
use serde_json::Value;

use crate::template::TemplateError;

/// Names Gatekeeper reserves for its own variables.
const RESERVED_VARIABLES: [&str; 2] = ["params", "anyObject"];
const RESERVED_PREFIX: &str = "gatekeeper_internal_";

pub(crate) struct CelProgram {
    variables: Vec<(String, Compiled)>,
    validations: Vec<Validation>,
    match_conditions: Vec<(String, Compiled)>,
    fail_closed: bool,
}

struct Compiled {
    source: String,
    program: Program,
}

struct Validation {
    expression: Compiled,
    message: Option<String>,
    message_expression: Option<Compiled>,
}

impl std::fmt::Debug for CelProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelProgram")
            .field("variables", &self.variables.len())
            .field("validations", &self.validations.len())
            .finish()
    }
}

/// A failed validation or an evaluation error (already worded as Gatekeeper words it).
pub(crate) struct CelViolation {
    pub msg: String,
}

/// The objects one evaluation sees, converted to CEL values once per review and shared by every
/// CEL template it matches.
pub(crate) struct Activation {
    pub object: CelValue,
    pub old_object: CelValue,
    pub request: CelValue,
    pub namespace_object: CelValue,
    /// The object, or the old object on DELETE.
    pub any_object: CelValue,
}

/// Kubernetes' CEL libraries (strings, lists, sets, regex, …) on top of the standard ones,
/// registered once: the registry never changes afterwards.
fn functions() -> &'static Context<'static> {
    static FUNCTIONS: OnceLock<Context<'static>> = OnceLock::new();
    FUNCTIONS.get_or_init(|| {
        let mut context = Context::default().with_all();
        // `dyn(x)` only widens a static type; this interpreter is dynamically typed.
        context.add_function("dyn", dyn_value);
        context
    })
}

fn dyn_value(This(value): This<CelValue>) -> kube_cel::cel::ResolveResult {
    Ok(value)
}

impl CelProgram {
    pub fn compile(source: &Value) -> Result<CelProgram, TemplateError> {
        let mut variables = Vec::new();
        for (index, entry) in list(source, "variables")?.iter().enumerate() {
            let field = format!("variables[{index}]");
            let name = string(entry, "name", &field)?;
            if RESERVED_VARIABLES.contains(&name.as_str()) || name.starts_with(RESERVED_PREFIX) {
                return Err(TemplateError::Cel(format!(
                    "{field}.name {name:?} is reserved by Gatekeeper; rename the variable"
                )));
            }
            let expression = compile(&string(entry, "expression", &field)?, &field)?;
            variables.push((name, expression));
        }
        let mut validations = Vec::new();
        for (index, entry) in list(source, "validations")?.iter().enumerate() {
            let field = format!("validations[{index}]");
            let expression = compile(&string(entry, "expression", &field)?, &field)?;
            let message = entry
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string);
            let message_expression = match entry.get("messageExpression").and_then(Value::as_str) {
                Some(src) => Some(compile(src, &format!("{field}.messageExpression"))?),
                None => None,
            };
            validations.push(Validation {
                expression,
                message,
                message_expression,
            });
        }
        let mut match_conditions = Vec::new();
        let conditions = match source.get("matchConditions") {
            Some(_) => list(source, "matchConditions")?,
            None => list(source, "matchCondition")?,
        };
        for (index, entry) in conditions.iter().enumerate() {
            let field = format!("matchConditions[{index}]");
            let name = string(entry, "name", &field).unwrap_or_else(|_| field.clone());
            match_conditions.push((
                name,
                compile(&string(entry, "expression", &field)?, &field)?,
            ));
        }
        let fail_closed = match source.get("failurePolicy").and_then(Value::as_str) {
            None | Some("Fail") => true,
            Some("Ignore") => false,
            Some(other) => {
                return Err(TemplateError::Cel(format!(
                    "failurePolicy {other:?} is not Fail or Ignore"
                )))
            }
        };
        Ok(CelProgram {
            variables,
            validations,
            match_conditions,
            fail_closed,
        })
    }

    /// Evaluates the validations with the constraint's parameters.
    pub fn evaluate(
        &self,
        activation: &Activation,
        parameters: &CelValue,
        constraint: &CelValue,
    ) -> Vec<CelViolation> {
        let mut scope = functions().new_inner_scope();
        scope.add_variable_from_value("object", activation.object.clone());
        scope.add_variable_from_value("oldObject", activation.old_object.clone());
        scope.add_variable_from_value("request", activation.request.clone());
        scope.add_variable_from_value("namespaceObject", activation.namespace_object.clone());
        scope.add_variable_from_value("params", constraint.clone());
        let mut variables: HashMap<Key, CelValue> = HashMap::new();
        variables.insert(key("params"), parameters.clone());
        variables.insert(key("anyObject"), activation.any_object.clone());
        // Variables are computed in order, each seeing the ones before it; one that fails is
        // left out and its error reported only if a validation needs it.
        let mut failed: Vec<(String, String)> = Vec::new();
        for (name, expression) in &self.variables {
            scope.add_variable_from_value("variables", map(&variables));
            match expression.program.execute(&scope) {
                Ok(value) => {
                    variables.insert(key(name), value);
                }
                Err(e) => failed.push((name.clone(), e.to_string())),
            }
        }
        scope.add_variable_from_value("variables", map(&variables));
        let error = |source: &str, e: String| -> Vec<CelViolation> {
            if !self.fail_closed {
                return Vec::new();
            }
            let cause = failed
                .iter()
                .find(|(name, _)| e.contains(name.as_str()))
                .map(|(name, err)| format!("variables.{name}: {err}"))
                .unwrap_or(e);
            vec![CelViolation {
                msg: format!("expression '{}' resulted in error: {cause}", source.trim()),
            }]
        };
        for (_, condition) in &self.match_conditions {
            match condition.program.execute(&scope) {
                Ok(CelValue::Bool(true)) => {}
                Ok(CelValue::Bool(false)) => return Vec::new(),
                Ok(other) => return error(&condition.source, not_bool(&other)),
                Err(e) => return error(&condition.source, e.to_string()),
            }
        }
        let mut out = Vec::new();
        for validation in &self.validations {
            match validation.expression.program.execute(&scope) {
                Ok(CelValue::Bool(true)) => {}
                Ok(CelValue::Bool(false)) => out.push(CelViolation {
                    msg: validation.message(&scope),
                }),
                Ok(other) => out.extend(error(&validation.expression.source, not_bool(&other))),
                Err(e) => out.extend(error(&validation.expression.source, e.to_string())),
            }
        }
        out
    }
}

impl Validation {
    /// messageExpression, else message, else `failed expression: <expr>` (VAP's wording).
    fn message(&self, scope: &Context<'_>) -> String {
        if let Some(expression) = &self.message_expression {
            if let Ok(CelValue::String(msg)) = expression.program.execute(scope) {
                if !msg.trim().is_empty() {
                    return msg.to_string();
                }
            }
        }
        match &self.message {
            Some(message) if !message.is_empty() => message.clone(),
            _ => format!("failed expression: {}", self.expression.source.trim()),
        }
    }
}

fn not_bool(value: &CelValue) -> String {
    format!("expected a bool, got {}", value.type_of())
}

fn key(name: &str) -> Key {
    Key::String(Arc::new(name.to_string()))
}

fn map(entries: &HashMap<Key, CelValue>) -> CelValue {
    CelValue::Map(Map {
        map: Arc::new(entries.clone()),
    })
}

fn compile(source: &str, field: &str) -> Result<Compiled, TemplateError> {
    let program =
        Program::compile(source).map_err(|e| TemplateError::Cel(format!("{field}: {e}")))?;
    Ok(Compiled {
        source: source.to_string(),
        program,
    })
}

fn list<'a>(source: &'a Value, field: &str) -> Result<&'a [Value], TemplateError> {
    match source.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(TemplateError::Cel(format!("{field} must be a list"))),
    }
}

fn string(entry: &Value, key: &str, field: &str) -> Result<String, TemplateError> {
    entry
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| TemplateError::Cel(format!("{field}.{key} is missing")))
}

/// JSON to CEL: integers stay integers (CEL compares `int` and `double` differently).
pub(crate) fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                CelValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                CelValue::UInt(u)
            } else {
                CelValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(fields) => {
            let map: HashMap<Key, CelValue> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            CelValue::Map(Map { map: Arc::new(map) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn activation(object: Value) -> Activation {
        Activation {
            object: to_cel(&object),
            old_object: CelValue::Null,
            request: to_cel(&json!({"operation": "CREATE"})),
            namespace_object: CelValue::Null,
            any_object: to_cel(&object),
        }
    }

    fn run(source: Value, object: Value, parameters: Value) -> Vec<String> {
        let program = CelProgram::compile(&source);
        let Ok(program) = program else {
            panic!("compile: {:?}", program.err())
        };
        program
            .evaluate(&activation(object), &to_cel(&parameters), &CelValue::Null)
            .into_iter()
            .map(|v| v.msg)
            .collect()
    }

    #[test]
    fn variables_see_earlier_variables_and_params() {
        let source = json!({
            "variables": [
                {"name": "names", "expression": "variables.anyObject.spec.containers.map(c, c.name)"},
                {"name": "bad", "expression": "variables.names.filter(n, n in variables.params.denied)"}
            ],
            "validations": [{"expression": "size(variables.bad) == 0",
                              "messageExpression": "'denied: ' + variables.bad.join(', ')"}]
        });
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            run(source.clone(), pod.clone(), json!({"denied": ["b"]})),
            ["denied: b"]
        );
        assert!(run(source, pod, json!({"denied": ["c"]})).is_empty());
    }

    #[test]
    fn message_falls_back_to_message_then_the_expression() {
        let source = json!({"validations": [
            {"expression": "false", "message": "fixed"},
            {"expression": "1 == 2"}
        ]});
        assert_eq!(
            run(source, json!({}), json!({})),
            ["fixed", "failed expression: 1 == 2"]
        );
    }

    #[test]
    fn errors_fail_closed_unless_ignored() {
        let failing = json!({"validations": [{"expression": "object.spec.missing == 1"}]});
        let found = run(failing, json!({"spec": {}}), json!({}));
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("resulted in error"), "{found:?}");
        let ignored = json!({"failurePolicy": "Ignore",
                             "validations": [{"expression": "object.spec.missing == 1"}]});
        assert!(run(ignored, json!({"spec": {}}), json!({})).is_empty());
    }

    #[test]
    fn match_conditions_skip_objects() {
        let source = json!({
            "matchConditions": [{"name": "only-a", "expression": "object.metadata.name == 'a'"}],
            "validations": [{"expression": "false", "message": "no"}]
        });
        assert_eq!(
            run(
                source.clone(),
                json!({"metadata": {"name": "a"}}),
                json!({})
            ),
            ["no"]
        );
        assert!(run(source, json!({"metadata": {"name": "b"}}), json!({})).is_empty());
    }

    #[test]
    fn reserved_names_and_bad_syntax_are_template_errors() {
        let reserved = json!({"variables": [{"name": "params", "expression": "1"}]});
        assert!(CelProgram::compile(&reserved).is_err());
        let syntax = json!({"validations": [{"expression": "object.("}]});
        let err = CelProgram::compile(&syntax).err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("validations[0]"));
    }
}
