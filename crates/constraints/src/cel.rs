//! A template's `K8sNativeValidation` code: CEL compiled once, evaluated as Gatekeeper's k8scel
//! driver evaluates it (ValidatingAdmissionPolicy semantics, plus `variables.params` and
//! `variables.anyObject`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use cel::common::types::{CelBool, CelString};
use cel::common::value::Val;
use cel::{Context, Env, ExecutionError, Program};
use serde_json::Value;

use crate::cel_value::CelData;
use crate::template::TemplateError;

/// Names Gatekeeper reserves for its own variables.
const RESERVED_VARIABLES: [&str; 2] = ["params", "anyObject"];
const RESERVED_PREFIX: &str = "gatekeeper_internal_";

pub(crate) struct CelProgram {
    /// Tells this program's cached constraint values from another's (a reloaded template's).
    id: u64,
    variables: Vec<Variable>,
    validations: Vec<Validation>,
    match_conditions: Vec<(String, Compiled)>,
    fail_closed: bool,
    /// Some expression reads the `variables` map as a whole.
    needs_map: bool,
    /// Some expression reads the top-level `params` (the constraint object).
    reads_constraint: bool,
}

struct Variable {
    name: String,
    /// The identifier `variables.<name>` was rewritten to.
    binding: String,
    /// The identifier `has(variables.<name>)` was rewritten to.
    has_binding: String,
    /// Some expression tests `has(variables.<name>)`.
    tested: bool,
    expression: Compiled,
    /// Reads only the constraint (its parameters) and other such variables: the same for every
    /// review, so computed once per constraint.
    per_constraint: bool,
    /// Reads only the review (the object, the request, …): its expression's text, under which
    /// the review keeps its value for every template that defines the variable the same way
    /// (gatekeeper-library's `containers`, `initContainers`, `isUpdate`, …).
    per_review: Option<Arc<str>>,
}

/// Names bound per review: a variable that reads one differs from review to review.
fn is_review_name(name: &str) -> bool {
    matches!(
        name,
        "object" | "oldObject" | "request" | "namespaceObject" | "authorizer"
    ) || name == ANY_OBJECT_BINDING
        || name == HAS_ANY_OBJECT
}

/// A constraint's values of a template's [`Variable::per_constraint`] variables, computed on
/// its first evaluation (each variable's result, `None` for the others).
#[derive(Default)]
pub(crate) struct ConstraintValues(Mutex<Option<(u64, Values)>>);

/// Per variable: its result when computed per constraint, else `None`.
type Values = Arc<[Option<Result<CelData, String>>]>;

impl std::fmt::Debug for ConstraintValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConstraintValues")
    }
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
/// matches evaluates under (the values are converted once; binding them again is cheap).
pub(crate) struct Activation {
    scope: Context<'static, 'static>,
    /// The object, or the old object on DELETE (for templates that read the `variables` map).
    any_object: CelData,
    /// [`Variable::per_review`] values computed so far, by expression.
    shared: Mutex<HashMap<Arc<str>, Result<CelData, String>>>,
}

impl Activation {
    /// The review's value of a [`Variable::per_review`] expression, computed on first use.
    fn shared_value(
        &self,
        key: &Arc<str>,
        compute: impl FnOnce() -> Result<Box<dyn Val>, String>,
    ) -> Result<Box<dyn Val>, String> {
        let copy = |found: &Result<CelData, String>| {
            found.as_ref().map(CelData::to_val).map_err(String::clone)
        };
        if let Some(found) = self
            .shared
            .lock()
            .ok()
            .as_ref()
            .and_then(|m| m.get(key).map(copy))
        {
            return found;
        }
        let result = compute();
        if let Ok(mut shared) = self.shared.lock() {
            let stored = result
                .as_ref()
                .map(|v| CelData::from_val(v.clone_as_boxed()))
                .map_err(String::clone);
            shared.insert(Arc::clone(key), stored);
        }
        result
    }

    /// `request` is the AdmissionRequest without its objects, as ValidatingAdmissionPolicy's
    /// `request` variable; `object` is null on DELETE.
    pub fn new(
        object: CelData,
        old_object: CelData,
        request: CelData,
        namespace_object: CelData,
        any_object: CelData,
    ) -> Activation {
        let mut scope = Context::with_env(Arc::clone(&ENV));
        scope.add_variable_as_val("object", object.into_val());
        scope.add_variable_as_val("oldObject", old_object.into_val());
        scope.add_variable_as_val("request", request.into_val());
        scope.add_variable_as_val("namespaceObject", namespace_object.into_val());
        scope.add_variable_as_val(ANY_OBJECT_BINDING, any_object.to_val());
        // Always computed, whatever the template.
        for name in [HAS_PARAMS, HAS_ANY_OBJECT] {
            scope.add_variable_as_val(name, Box::new(CelBool::from(true)));
        }
        Activation {
            scope,
            any_object,
            shared: Mutex::new(HashMap::new()),
        }
    }
}

/// The standard library with cel-go's strings, lists and math extensions and Kubernetes'
/// libraries, declared once: the environment never changes afterwards.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // cel-go keeps the last of duplicate map keys in a literal.
    env.set_error_on_duplicate_map_keys(false);
    for extension in EXTENSIONS {
        // Fixed, distinct overloads declared into a fresh environment: a test checks each
        // registers. Were one to collide, its functions would stay undeclared and calls to
        // them fail as undeclared references (fail closed), never run something else.
        let _ = env.add_extension(extension);
    }
    Arc::new(env)
});

type Extension = fn(&mut Env) -> Result<(), cel::DeclarationError>;

const EXTENSIONS: [Extension; 7] = [
    cel::extensions::strings,
    cel::extensions::lists,
    cel::extensions::math,
    crate::cel_k8s::extension,
    crate::cel_quantity::extension,
    crate::cel_semver::extension,
    crate::cel_net::extension,
];

/// Leads the error of a call to a function no library declares: Gatekeeper refuses such a
/// template, so the error fails closed whatever the failurePolicy.
const UNDECLARED_FUNCTION: &str = "undeclared function: ";

fn evaluate(program: &Program, scope: &Context<'_, 'static>) -> Result<Box<dyn Val>, String> {
    cel::Value::resolve_val(program.expression(), scope)
        .map(|value| value.into_owned())
        .map_err(|e: ExecutionError| match &e {
            ExecutionError::UndeclaredReference(name)
                if program.references().has_function(name.as_str()) =>
            {
                format!("{UNDECLARED_FUNCTION}{name}() is not a function of CEL or of Kubernetes' CEL libraries that podsec knows")
            }
            _ => e.to_string(),
        })
}

fn as_bool(value: &dyn Val) -> Result<bool, String> {
    value
        .downcast_ref::<CelBool>()
        .map(|b| *b.inner())
        .ok_or_else(|| format!("expected a bool, got {}", value.get_type().name()))
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
            let references = expression.program.references();
            let referenced = references.variables();
            // Another variable that differs per review, or the review itself.
            let per_constraint = !expression.needs_map
                && !referenced.iter().any(|r| {
                    is_review_name(r)
                        || variables.iter().any(|v: &Variable| {
                            !v.per_constraint && (*r == v.binding || *r == v.has_binding)
                        })
                });
            // No parameters and no other variable (whose definition may differ elsewhere).
            let per_review = !expression.needs_map
                && !per_constraint
                && referenced
                    .iter()
                    .all(|r| is_review_name(r) || (*r != "params" && !r.starts_with("__podsec_")));
            variables.push(Variable {
                binding: format!("{VARIABLE_PREFIX}{name}"),
                has_binding: format!("{HAS_PREFIX}{name}"),
                tested: false,
                per_review: per_review.then(|| Arc::from(expression.source.as_str())),
                name,
                expression,
                per_constraint,
            });
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
            .map(|v| &v.expression)
            .chain(match_conditions.iter().map(|(_, c)| c))
            .chain(
                validations
                    .iter()
                    .flat_map(|v| std::iter::once(&v.expression).chain(&v.message_expression)),
            );
        let referenced: HashSet<String> = programs
            .flat_map(|c| {
                let references = c.program.references();
                let names: Vec<String> = references
                    .variables()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                names
            })
            .collect();
        for variable in &mut variables {
            variable.tested = referenced.contains(&variable.has_binding);
        }
        let needs_map = referenced.contains("variables");
        let reads_constraint = referenced.contains("params");
        static PROGRAMS: AtomicU64 = AtomicU64::new(0);
        Ok(CelProgram {
            id: PROGRAMS.fetch_add(1, Ordering::Relaxed),
            variables,
            validations,
            match_conditions,
            fail_closed,
            needs_map,
            reads_constraint,
        })
    }

    /// The constraint's values of the variables that read only it, computed once.
    fn constraint_values(
        &self,
        cache: &ConstraintValues,
        parameters: &CelData,
        constraint: &CelData,
    ) -> Values {
        if !self.variables.iter().any(|v| v.per_constraint) {
            return Arc::new([]);
        }
        if let Ok(cached) = cache.0.lock() {
            if let Some((id, values)) = cached.as_ref() {
                if *id == self.id {
                    return Arc::clone(values);
                }
            }
        }
        let mut scope = Context::with_env(Arc::clone(&ENV));
        scope.add_variable_as_val("params", constraint.to_val());
        scope.add_variable_as_val(PARAMS_BINDING, parameters.to_val());
        scope.add_variable_as_val(HAS_PARAMS, Box::new(CelBool::from(true)));
        let mut values = Vec::with_capacity(self.variables.len());
        for variable in &self.variables {
            if !variable.per_constraint {
                values.push(None);
                continue;
            }
            let result = evaluate(&variable.expression.program, &scope);
            if variable.tested {
                scope.add_variable_as_val(
                    variable.has_binding.as_str(),
                    Box::new(CelBool::from(result.is_ok())),
                );
            }
            if let Ok(value) = &result {
                scope.add_variable_as_val(variable.binding.as_str(), value.clone_as_boxed());
            }
            values.push(Some(result.map(CelData::from_val)));
        }
        let values: Values = values.into();
        if let Ok(mut cached) = cache.0.lock() {
            *cached = Some((self.id, Arc::clone(&values)));
        }
        values
    }

    /// Evaluates the validations with the constraint's parameters.
    pub fn evaluate(
        &self,
        activation: &Activation,
        parameters: &CelData,
        constraint: &CelData,
        cache: &ConstraintValues,
    ) -> Vec<CelViolation> {
        let fixed = self.constraint_values(cache, parameters, constraint);
        let mut scope = activation.scope.new_inner_scope();
        if self.reads_constraint {
            scope.add_variable_as_val("params", constraint.to_val());
        }
        scope.add_variable_as_val(PARAMS_BINDING, parameters.to_val());
        let mut variables: Vec<(String, Box<dyn Val>)> = Vec::new();
        if self.needs_map {
            variables.push(("params".into(), parameters.to_val()));
            variables.push(("anyObject".into(), activation.any_object.to_val()));
        }
        // Variables are computed in order, each seeing the ones before it; one that fails is
        // left unbound and its error reported only if a validation needs it.
        let mut failed: Vec<(String, String)> = Vec::new();
        for (index, variable) in self.variables.iter().enumerate() {
            if self.needs_map {
                scope.add_variable_as_val("variables", variables_map(&variables));
            }
            let result = match fixed.get(index).and_then(Option::as_ref) {
                Some(Ok(value)) => Ok(value.to_val()),
                Some(Err(e)) => Err(e.clone()),
                None => match &variable.per_review {
                    Some(key) => activation
                        .shared_value(key, || evaluate(&variable.expression.program, &scope)),
                    None => evaluate(&variable.expression.program, &scope),
                },
            };
            if variable.tested {
                scope.add_variable_as_val(
                    variable.has_binding.as_str(),
                    Box::new(CelBool::from(result.is_ok())),
                );
            }
            match result {
                Ok(value) => {
                    if self.needs_map {
                        variables.push((variable.name.clone(), value.clone_as_boxed()));
                    }
                    scope.add_variable_as_val(variable.binding.as_str(), value);
                }
                Err(e) => failed.push((variable.name.clone(), e)),
            }
        }
        if self.needs_map {
            scope.add_variable_as_val("variables", variables_map(&variables));
        }
        let error = |source: &str, e: String| -> Vec<CelViolation> {
            if !self.fail_closed && !e.starts_with(UNDECLARED_FUNCTION) {
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
            match evaluate(&condition.program, &scope).and_then(|v| as_bool(v.as_ref())) {
                Ok(true) => {}
                Ok(false) => return Vec::new(),
                Err(e) => return error(&condition.source, e),
            }
        }
        let mut out = Vec::new();
        for validation in &self.validations {
            match evaluate(&validation.expression.program, &scope).and_then(|v| as_bool(v.as_ref()))
            {
                Ok(true) => {}
                Ok(false) => out.push(CelViolation {
                    msg: validation.message(&scope),
                }),
                Err(e) => out.extend(error(&validation.expression.source, e)),
            }
        }
        out
    }
}

impl Validation {
    /// messageExpression, else message, else `failed expression: <expr>` (VAP's wording).
    fn message(&self, scope: &Context<'_, 'static>) -> String {
        if let Some(expression) = &self.message_expression {
            if let Ok(value) = evaluate(&expression.program, scope) {
                if let Some(msg) = value.downcast_ref::<CelString>() {
                    if !msg.inner().trim().is_empty() {
                        return msg.inner().to_string();
                    }
                }
            }
        }
        match &self.message {
            Some(message) if !message.is_empty() => message.clone(),
            _ => format!("failed expression: {}", self.expression.source.trim()),
        }
    }
}

/// The `variables` map, for the expressions that read it whole (`variables['x']`).
fn variables_map(entries: &[(String, Box<dyn Val>)]) -> Box<dyn Val> {
    let map: std::collections::HashMap<cel::common::types::CelMapKey<'static>, Box<dyn Val>> =
        entries
            .iter()
            .map(|(k, v)| (k.clone().into(), v.clone_as_boxed()))
            .collect();
    Box::new(cel::common::types::CelMap::from(map))
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
    let program = match ENV.compile(&rewrite_variables(source)) {
        Ok(program) if !program.references().has_variable("variables") => program,
        // Forms the rewrite cannot express (`has(variables.x)`, `variables["x"]`) keep the
        // map, which is then built for this template.
        _ => ENV
            .compile(source)
            .map_err(|e| TemplateError::Cel(format!("{field}: {e}")))?,
    };
    let references = program.references();
    let mut unsupported: Vec<&str> = references
        .functions()
        .into_iter()
        .filter(|f| crate::cel_k8s::UNSUPPORTED.contains(f))
        .collect();
    if !unsupported.is_empty() {
        unsupported.sort_unstable();
        return Err(TemplateError::Cel(format!(
            "{field}: {}() — Kubernetes' CEL URL library, which podsec does not evaluate yet; express the rule without it or in Rego",
            unsupported.join("(), ")
        )));
    }
    let needs_map = program.references().has_variable("variables");
    Ok(Compiled {
        source: source.to_string(),
        program,
        needs_map,
    })
}

const VARIABLE_PREFIX: &str = "__podsec_var_";
const PARAMS_BINDING: &str = "__podsec_var_params";
const ANY_OBJECT_BINDING: &str = "__podsec_var_anyObject";

/// `has(variables.x)` becomes `__podsec_has_x`: whether `x` was computed (params and anyObject
/// always are).
const HAS_PREFIX: &str = "__podsec_has_";
const HAS_PARAMS: &str = "__podsec_has_params";
const HAS_ANY_OBJECT: &str = "__podsec_has_anyObject";

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn activation(object: Value) -> Activation {
        Activation::new(
            CelData::from_json(&object),
            CelData::null(),
            CelData::from_json(&json!({"operation": "CREATE"})),
            CelData::null(),
            CelData::from_json(&object),
        )
    }

    fn run(source: Value, object: Value, parameters: Value) -> Vec<String> {
        let program = CelProgram::compile(&source);
        let Ok(program) = program else {
            panic!("compile: {:?}", program.err())
        };
        program
            .evaluate(
                &activation(object),
                &CelData::from_json(&parameters),
                &CelData::null(),
                &ConstraintValues::default(),
            )
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
    fn variables_that_read_only_the_constraint_are_computed_once_per_constraint() {
        let source = json!({
            "variables": [
                {"name": "exempt", "expression": "has(variables.params.exempt) ? variables.params.exempt : []"},
                {"name": "names", "expression": "variables.anyObject.spec.containers.map(c, c.name)"},
                {"name": "prefixes", "expression": "variables.exempt.map(e, e + '-')"},
                {"name": "kept", "expression": "variables.names.filter(n, !variables.prefixes.exists(p, n.startsWith(p)))"},
                {"name": "hasNames", "expression": "has(variables.names) && params.metadata.name == 'c'"},
                {"name": "broken", "expression": "variables.params.missing.x"},
                {"name": "object", "expression": "variables.params.exempt.map(object, object)"}
            ],
            "validations": [{"expression": "size(variables.kept) == 0",
                              "messageExpression": "'kept: ' + variables.kept.join(', ')"},
                            {"expression": "variables.hasNames"},
                            {"expression": "has(variables.broken)", "message": "broken"}]
        });
        let Ok(program) = CelProgram::compile(&source) else {
            panic!("compile")
        };
        let per_constraint: Vec<&str> = program
            .variables
            .iter()
            .filter(|v| v.per_constraint)
            .map(|v| v.name.as_str())
            .collect();
        // `object` names an iteration variable there, but is taken for the review's object.
        assert_eq!(per_constraint, ["exempt", "prefixes", "broken"]);
        let values = ConstraintValues::default();
        let parameters = CelData::from_json(&json!({"exempt": ["sidecar"]}));
        let constraint = CelData::from_json(&json!({"metadata": {"name": "c"}}));
        let review = |names: &[&str]| {
            let containers: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
            let found = program.evaluate(
                &activation(json!({"spec": {"containers": containers}})),
                &parameters,
                &constraint,
                &values,
            );
            found.into_iter().map(|v| v.msg).collect::<Vec<_>>()
        };
        assert_eq!(review(&["sidecar-1", "app"]), ["kept: app", "broken"]);
        // The second review reuses the constraint's values and still sees its own object.
        assert_eq!(review(&["sidecar-2"]), ["broken"]);
        // Another program (a reloaded template) computes its own values.
        let Ok(reloaded) = CelProgram::compile(&json!({
            "variables": [{"name": "exempt", "expression": "['app']"}],
            "validations": [{"expression": "!('app' in variables.exempt)", "message": "reloaded"}]
        })) else {
            panic!("compile")
        };
        let found = reloaded.evaluate(&activation(json!({})), &parameters, &constraint, &values);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].msg, "reloaded");
    }

    #[test]
    fn variables_that_read_only_the_review_are_computed_once_per_review() {
        let template = |rule: &str| {
            json!({
                "variables": [
                    {"name": "containers", "expression": "has(variables.anyObject.spec.containers) ? variables.anyObject.spec.containers : []"},
                    {"name": "isUpdate", "expression": "request.operation == 'UPDATE'"},
                    {"name": "limit", "expression": "variables.params.limit"},
                    {"name": "names", "expression": "variables.containers.map(c, c.name)"}
                ],
                "validations": [{"expression": rule, "message": rule}]
            })
        };
        let compile = |rule: &str| match CelProgram::compile(&template(rule)) {
            Ok(program) => program,
            Err(e) => panic!("compile: {e}"),
        };
        let (few, named) = (
            compile("size(variables.names) <= variables.limit"),
            compile("!('debug' in variables.names)"),
        );
        let per_review: Vec<&str> = few
            .variables
            .iter()
            .filter(|v| v.per_review.is_some())
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(per_review, ["containers", "isUpdate"]);
        let values = (ConstraintValues::default(), ConstraintValues::default());
        let parameters = CelData::from_json(&json!({"limit": 1}));
        let review = |names: &[&str]| {
            let containers: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
            let activation = activation(json!({"spec": {"containers": containers}}));
            let mut found: Vec<String> = Vec::new();
            for (program, values) in [(&few, &values.0), (&named, &values.1)] {
                let violations =
                    program.evaluate(&activation, &parameters, &CelData::null(), values);
                found.extend(violations.into_iter().map(|v| v.msg));
            }
            let shared = activation.shared.lock().map(|m| m.len()).unwrap_or(0);
            (found, shared)
        };
        // Each review sees its own object; both templates' identical variables, one value each.
        assert_eq!(review(&["app"]), (vec![], 2));
        assert_eq!(
            review(&["app", "debug"]),
            (
                vec![
                    "size(variables.names) <= variables.limit".to_string(),
                    "!('debug' in variables.names)".to_string()
                ],
                2
            )
        );
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

    /// Each validation that fails reports its message: the messages are the failed checks.
    fn failing(expressions: &[&str], object: Value) -> Vec<String> {
        let validations: Vec<Value> = expressions
            .iter()
            .map(|e| json!({"expression": e, "message": e}))
            .collect();
        run(json!({ "validations": validations }), object, json!({}))
    }

    #[test]
    fn json_objects_behave_as_cel_maps() {
        let pod = json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
                         "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]},
                                                 {"name": "b"}],
                                  "initContainers": [{"name": "i"}]}});
        let holds = [
            "has(object.metadata.labels)",
            "!has(object.metadata.annotations)",
            "'app' in object.metadata.labels",
            "!('nope' in object.metadata.labels)",
            "size(object.metadata.labels) == 2",
            "object.metadata.labels.all(k, k in ['app', 'tier'])",
            "object.metadata.labels.exists(k, object.metadata.labels[k] == 'front')",
            "object.metadata.labels == {'tier': 'front', 'app': 'web'}",
            "object.metadata.labels != {'app': 'web'}",
            "(object.spec.containers + object.spec.initContainers).map(c, c.name) == ['a', 'b', 'i']",
            "object.spec.containers.filter(c, has(c.ports)).map(c, c.ports[0].containerPort) == [80]",
            "object.spec.containers[0] == object.spec.containers[0]",
            "object.spec.containers[0] != object.spec.containers[1]",
            "object.spec.containers[0].ports[0].containerPort == 80",
            "object.metadata.?annotations.orValue({}) == {}",
        ];
        assert!(
            failing(&holds, pod.clone()).is_empty(),
            "{:?}",
            failing(&holds, pod.clone())
        );
        let missing = failing(&["object.metadata.annotations.x == 'y'"], pod);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].contains("resulted in error"), "{missing:?}");
    }

    #[test]
    fn kubernetes_list_set_and_regex_functions() {
        let holds = [
            "[1, 2, 2, 3].isSorted() && !['b', 'a'].isSorted()",
            "[1, 2, 3].sum() == 6 && [1.5, 2.5].sum() == 4.0 && [].sum() == 0",
            "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3 && ['b', 'c', 'a'].max() == 'c'",
            "['a', 'b', 'a'].indexOf('a') == 0 && ['a', 'b', 'a'].lastIndexOf('a') == 2",
            "[1, 2].indexOf(3) == -1",
            "sets.contains([1, 2, 3], [3, 1]) && !sets.contains([1], [2])",
            "sets.equivalent([1, 2, 2], [2, 1]) && !sets.equivalent([1], [1, 2])",
            "sets.intersects([1, 2], [2, 3]) && !sets.intersects([1], [2])",
            "'abc 123 def 456'.find('[0-9]+') == '123' && 'abc'.find('[0-9]+') == ''",
            "'a1b22c333'.findAll('[0-9]+') == ['1', '22', '333']",
            "'a1b22c333'.findAll('[0-9]+', 2) == ['1', '22']",
            "'Hello'.lowerAscii() == 'hello' && ['a', 'b'].join('-') == 'a-b'",
            "'a,b'.split(',') == ['a', 'b'] && '  x '.trim() == 'x'",
            "quantity('1Gi').isGreaterThan(quantity('1G')) && quantity('500m').isLessThan(quantity('1'))",
            "quantity('1k') == quantity('1000') && quantity('1k').compareTo(quantity('2k')) == -1",
            "quantity('1.5').add(quantity('500m')) == quantity('2') && quantity('2').sub(1) == quantity('1')",
            "quantity('2Ki').asInteger() == 2048 && !quantity('1.5').isInteger() && quantity('-3').sign() == -1",
            "quantity('250m').asApproximateFloat() == 0.25",
            "isQuantity('100Mi') && !isQuantity('100MB')",
            "semver('1.10.0').isGreaterThan(semver('1.9.1')) && semver('1.0.0-rc.1').isLessThan(semver('1.0.0'))",
            "semver('v1.2', true) == semver('1.2.0') && semver('1.2.3+a') == semver('1.2.3+b')",
            "semver('2.3.4').major() == 2 && semver('2.3.4').minor() == 3 && semver('2.3.4').patch() == 4",
            "isSemver('1.2.3') && !isSemver('v1.2.3') && isSemver('v1.2.3', true)",
            "semver('1.0.0').compareTo(semver('1.0.1')) == -1",
            "ip('10.0.0.1').family() == 4 && ip('::1').family() == 6 && ip('::1').isLoopback()",
            "isIP('10.0.0.1') && !isIP('10.0.0.1/8') && !isIP('::ffff:10.0.0.1') && !isIP('010.0.0.1')",
            "ip.isCanonical('2001:db8::1') && !ip.isCanonical('2001:DB8::1')",
            "ip('169.254.1.1').isLinkLocalUnicast() && ip('fe80::1').isLinkLocalUnicast()",
            "ip('224.0.0.5').isLinkLocalMulticast() && ip('ff02::1').isLinkLocalMulticast()",
            "ip('10.1.2.3').isGlobalUnicast() && !ip('255.255.255.255').isGlobalUnicast() && ip('0.0.0.0').isUnspecified()",
            "cidr('10.0.0.0/8').containsIP(ip('10.1.2.3')) && cidr('10.0.0.0/8').containsIP('10.200.0.1')",
            "!cidr('10.0.0.0/8').containsIP('11.0.0.1') && !cidr('10.0.0.0/8').containsIP('::1')",
            "cidr('10.0.0.0/8').containsCIDR('10.1.0.0/16') && !cidr('10.1.0.0/16').containsCIDR('10.0.0.0/8')",
            "cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8') && cidr('10.1.2.3/8').ip() == ip('10.1.2.3')",
            "cidr('2001:db8::/32').prefixLength() == 32 && string(cidr('10.0.0.0/8')) == '10.0.0.0/8'",
            "string(ip('2001:db8:0:0:0:0:0:1')) == '2001:db8::1' && isCIDR('10.0.0.0/8') && !isCIDR('10.0.0.0/33')",
            "!isCIDR('10.0.0.0/+8') && sign(quantity('-1')) == -1 && !(1 in object)",
            "object != [] && object == {}",
        ];
        let failed = failing(&holds, json!({}));
        assert!(failed.is_empty(), "{failed:?}");
        let errors = failing(
            &[
                "[].min() == 0",
                "'x'.find('(') == ''",
                "quantity('10 MB') == quantity('1')",
                "quantity('1.5').asInteger() == 1",
            ],
            json!({}),
        );
        assert_eq!(errors.len(), 4);
        assert!(
            errors.iter().all(|e| e.contains("resulted in error")),
            "{errors:?}"
        );
    }

    #[test]
    fn an_undeclared_function_fails_closed_even_when_errors_are_ignored() {
        let source = json!({"failurePolicy": "Ignore",
                            "validations": [{"expression": "object.x.noSuchFunction() == 1"},
                                            {"expression": "object.missing == 1"}]});
        let found = run(source, json!({"x": "y"}), json!({}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("noSuchFunction() is not a function"),
            "{found:?}"
        );
    }

    #[test]
    fn every_extension_declares_its_functions() {
        let mut env = Env::stdlib();
        for extension in EXTENSIONS {
            assert_eq!(env.add_extension(extension), Ok(()));
        }
    }

    #[test]
    fn kubernetes_functions_podsec_lacks_are_refused_at_load() {
        let source = json!({"validations": [{"expression": "url(object.v).getHost() == 'x'"}]});
        let err = CelProgram::compile(&source)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("validations[0]: getHost(), url() — Kubernetes' CEL URL library"),
            "{err}"
        );
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
