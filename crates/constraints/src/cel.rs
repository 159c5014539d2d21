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
    /// Some expression reads the `variables` map as a whole.
    needs_map: bool,
    /// Some expression reads the top-level `params` (the constraint object).
    reads_constraint: bool,
}

struct Compiled {
    source: String,
    program: Program,
    /// Still reads the `variables` map (a form the rewrite to identifiers cannot express).
    needs_map: bool,
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

/// The objects one evaluation sees, bound once per review in a scope every CEL template it
/// matches evaluates under (binding converts a value deeply, so it is done once).
pub(crate) struct Activation {
    scope: Context<'static>,
    /// The object, or the old object on DELETE (for templates that read the `variables` map).
    any_object: CelValue,
}

impl Activation {
    /// `request` is the AdmissionRequest without its objects, as ValidatingAdmissionPolicy's
    /// `request` variable; `object` is null on DELETE.
    pub fn new(
        object: CelValue,
        old_object: CelValue,
        request: CelValue,
        namespace_object: CelValue,
        any_object: CelValue,
    ) -> Activation {
        let mut scope = functions().new_inner_scope();
        scope.add_variable_from_value("object", object);
        scope.add_variable_from_value("oldObject", old_object);
        scope.add_variable_from_value("request", request);
        scope.add_variable_from_value("namespaceObject", namespace_object);
        scope.add_variable_from_value(format!("{VARIABLE_PREFIX}anyObject"), any_object.clone());
        Activation { scope, any_object }
    }
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
        let programs = variables
            .iter()
            .map(|(_, c)| c)
            .chain(match_conditions.iter().map(|(_, c)| c))
            .chain(
                validations
                    .iter()
                    .flat_map(|v| std::iter::once(&v.expression).chain(&v.message_expression)),
            );
        let (mut needs_map, mut reads_constraint) = (false, false);
        for compiled in programs {
            needs_map |= compiled.needs_map;
            reads_constraint |= compiled.program.references().has_variable("params");
        }
        Ok(CelProgram {
            variables,
            validations,
            match_conditions,
            fail_closed,
            needs_map,
            reads_constraint,
        })
    }

    /// Evaluates the validations with the constraint's parameters.
    pub fn evaluate(
        &self,
        activation: &Activation,
        parameters: &CelValue,
        constraint: &CelValue,
    ) -> Vec<CelViolation> {
        let mut scope = activation.scope.new_inner_scope();
        if self.reads_constraint {
            scope.add_variable_from_value("params", constraint.clone());
        }
        scope.add_variable_from_value(format!("{VARIABLE_PREFIX}params"), parameters.clone());
        scope.add_variable_from_value(format!("{HAS_PREFIX}params"), CelValue::Bool(true));
        scope.add_variable_from_value(format!("{HAS_PREFIX}anyObject"), CelValue::Bool(true));
        let mut variables: HashMap<Key, CelValue> = HashMap::new();
        if self.needs_map {
            variables.insert(key("params"), parameters.clone());
            variables.insert(key("anyObject"), activation.any_object.clone());
        }
        // Variables are computed in order, each seeing the ones before it; one that fails is
        // left unbound and its error reported only if a validation needs it.
        let mut failed: Vec<(String, String)> = Vec::new();
        for (name, expression) in &self.variables {
            if self.needs_map {
                scope.add_variable_from_value("variables", map(&variables));
            }
            match expression.program.execute(&scope) {
                Ok(value) => {
                    if self.needs_map {
                        variables.insert(key(name), value.clone());
                    }
                    scope.add_variable_from_value(format!("{VARIABLE_PREFIX}{name}"), value);
                    scope.add_variable_from_value(
                        format!("{HAS_PREFIX}{name}"),
                        CelValue::Bool(true),
                    );
                }
                Err(e) => {
                    scope.add_variable_from_value(
                        format!("{HAS_PREFIX}{name}"),
                        CelValue::Bool(false),
                    );
                    failed.push((name.clone(), e.to_string()))
                }
            }
        }
        if self.needs_map {
            scope.add_variable_from_value("variables", map(&variables));
        }
        let error = |source: &str, e: String| -> Vec<CelViolation> {
            if !self.fail_closed {
                return Vec::new();
            }
            let cause = failed
                .iter()
                .find(|(name, _)| {
                    e.contains(name.as_str()) || source.contains(&format!("variables.{name}"))
                })
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

/// Deeper than this, an expression is refused before it is parsed (deep nesting is where
/// parsers spend exponential time or stack; no real template comes close).
const MAX_NESTING: usize = 24;

fn compile(source: &str, field: &str) -> Result<Compiled, TemplateError> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(TemplateError::Cel(format!(
                "{field}: brackets nested deeper than {MAX_NESTING} levels"
            )));
        }
    }
    // `variables.x` becomes the identifier `__podsec_var_x`: each variable is then bound once,
    // instead of a `variables` map rebuilt (and converted) after every variable.
    let program = match Program::compile(&rewrite_variables(source)) {
        Ok(program) if !program.references().has_variable("variables") => program,
        // Forms the rewrite cannot express (`has(variables.x)`, `variables["x"]`) keep the
        // map, which is then built for this template.
        _ => Program::compile(source).map_err(|e| TemplateError::Cel(format!("{field}: {e}")))?,
    };
    let needs_map = program.references().has_variable("variables");
    Ok(Compiled {
        source: source.to_string(),
        program,
        needs_map,
    })
}

const VARIABLE_PREFIX: &str = "__podsec_var_";

/// `has(variables.x)` becomes `__podsec_has_x`: whether `x` was computed (params and anyObject
/// always are).
const HAS_PREFIX: &str = "__podsec_has_";

/// `has( variables.<name> )` at the start of `text`: the name and the length consumed.
fn has_variable_call(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix("has(")?;
    let trimmed = inner.trim_start();
    let after = trimmed.strip_prefix("variables.")?;
    let name_len = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 0 {
        return None;
    }
    let close = after[name_len..].trim_start().strip_prefix(')')?;
    Some((&after[..name_len], text.len() - close.len()))
}

/// `variables.<name>` → `__podsec_var_<name>`, outside string literals.
fn rewrite_variables(source: &str) -> String {
    const VARIABLES: &str = "variables.";
    let mut out = String::with_capacity(source.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut previous: Option<char> = None;
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
        } else if let Some((name, consumed)) = has_variable_call(rest)
            .filter(|_| !previous.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '.'))
        {
            out.push_str(HAS_PREFIX);
            out.push_str(name);
            rest = &rest[consumed..];
            previous = Some(')');
            continue;
        } else if rest.starts_with(VARIABLES)
            && !previous.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '.')
        {
            let after = &rest[VARIABLES.len()..];
            let name_len = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            if name_len > 0 {
                out.push_str(VARIABLE_PREFIX);
                out.push_str(&after[..name_len]);
                rest = &after[name_len..];
                previous = Some('_');
                continue;
            }
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
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
        Activation::new(
            to_cel(&object),
            CelValue::Null,
            to_cel(&json!({"operation": "CREATE"})),
            CelValue::Null,
            to_cel(&object),
        )
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
    fn variables_outside_strings_become_identifiers() {
        assert_eq!(
            rewrite_variables(r#"variables.a + 'variables.b' + x.variables.c + "\"variables.d""#),
            r#"__podsec_var_a + 'variables.b' + x.variables.c + "\"variables.d""#
        );
        assert_eq!(
            rewrite_variables("has( variables.a ) && has(variables.b.c) && xhas(variables.d)"),
            "__podsec_has_a && has(__podsec_var_b.c) && xhas(__podsec_var_d)"
        );
        let source = json!({
            "variables": [{"name": "a", "expression": "1"}, {"name": "broken", "expression": "object.missing"}],
            "validations": [{"expression": "!has(variables.a)", "message": "has a"},
                            {"expression": "has(variables.broken)", "message": "broken is absent"},
                            {"expression": "!has(variables.params)", "message": "params are present"}]
        });
        assert_eq!(
            run(source, json!({}), json!({})),
            ["has a", "broken is absent", "params are present"]
        );
        // Forms the rewrite cannot express keep the `variables` map.
        let source = json!({
            "variables": [{"name": "a", "expression": "2"}],
            "validations": [{"expression": "variables['a'] == 2", "message": "never"}]
        });
        assert!(run(source, json!({}), json!({})).is_empty());
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
