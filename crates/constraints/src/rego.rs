//! A template's Rego, checked as Gatekeeper checks it and compiled once with regorus.
//!
//! Each template gets its own regorus engine, so its package needs no rewriting to stay apart
//! from other templates; its libraries keep their `lib.*` packages inside that engine.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::VmError;
use regorus::rvm::{Program, RegoVM};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{CompiledPolicy, Value as RegoValue};
use serde_json::Value;

use crate::negation::hoist_negated_call_arguments;
use crate::template::{RegoSource, TemplateError};

/// A template's compiled Rego.
pub(crate) struct RegoProgram {
    /// `data.<package>.violation`.
    entrypoint: String,
    compiled: Compiled,
}

enum Compiled {
    /// Templates that never read `data.inventory`: compiled once, evaluation only sets input.
    Policy(CompiledPolicy),
    /// The same, compiled further to regorus' virtual machine (about 3x the interpreter), its
    /// rules rewritten so that a conflict stops it (see [`crate::conflicts`]); the interpreter
    /// answers the reviews the machine stops on.
    Machine {
        machine: VmPool,
        interpreter: CompiledPolicy,
    },
    /// Templates that read `data.inventory`: the engine is kept and the inventory added per
    /// evaluation.
    WithInventory(Box<regorus::Engine>),
}

/// A template's RVM program, with idle machines kept for reuse (one per concurrent review).
struct VmPool {
    program: Arc<Program>,
    compiled: CompiledPolicy,
    idle: Mutex<Vec<RegoVM>>,
}

impl VmPool {
    fn new(compiled: &CompiledPolicy, entrypoint: &str) -> Option<VmPool> {
        let program = Compiler::compile_from_policy(compiled, &[entrypoint]).ok()?;
        Some(VmPool {
            program,
            compiled: compiled.clone(),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn evaluate(&self, entrypoint: &str, input: RegoValue) -> Result<RegoValue, VmError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut vm = match taken {
            Some(vm) => vm,
            None => {
                let mut vm = RegoVM::new_with_policy(self.compiled.clone());
                vm.set_execution_timer_config(Some(evaluation_limit()));
                // Its default stops at 25,000 instructions, which a large pod can reach (an
                // error, so a denial): the time limit bounds an evaluation instead.
                vm.set_max_instructions(usize::MAX);
                vm.load_program(Arc::clone(&self.program));
                vm.set_data(RegoValue::new_object())?;
                vm
            }
        };
        vm.set_input(input);
        let result = vm.execute_entry_point_by_name(entrypoint);
        if let Ok(mut idle) = self.idle.lock() {
            // Bounded by the number of threads evaluating at once.
            if idle.len() < 64 {
                idle.push(vm);
            }
        }
        result
    }
}

impl std::fmt::Debug for RegoProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoProgram")
            .field("entrypoint", &self.entrypoint)
            .field("uses_inventory", &self.uses_inventory())
            .finish()
    }
}

/// What one evaluation returned: the `violation` set's `{msg, details}` entries.
pub(crate) struct RegoViolation {
    pub msg: String,
    pub details: Value,
}

impl RegoProgram {
    pub fn compile(kind: &str, source: RegoSource) -> Result<RegoProgram, TemplateError> {
        check_nesting(&source.module, "rego")?;
        for (index, lib) in source.libs.iter().enumerate() {
            check_nesting(lib, &format!("libs[{index}]"))?;
        }
        let references = check_references(&source.module, "rego")?;
        if !defines_violation(&source.module) {
            return Err(TemplateError::Rego(
                "the module must define a `violation` rule (violation[{\"msg\": msg}] { ... })"
                    .into(),
            ));
        }
        let mut uses_inventory = references.inventory;
        let mut engine = new_engine(source.v1);
        let file = format!("{kind}.rego");
        let module = hoist_negated_call_arguments(&file, &source.module, source.v1)
            .map_err(TemplateError::Rego)?;
        let package = engine
            .add_policy(file.clone(), module.clone())
            .map_err(|e| TemplateError::Rego(e.to_string()))?;
        // (file, module as OPA's compiler would rewrite it) for the module, then each lib.
        let mut modules = vec![(file, module)];
        let mut packages = vec![package.clone()];
        for (index, lib) in source.libs.iter().enumerate() {
            let refs = check_references(lib, &format!("libs[{index}]"))?;
            uses_inventory |= refs.inventory;
            let file = format!("{kind}.lib{index}.rego");
            let lib = hoist_negated_call_arguments(&file, lib, source.v1)
                .map_err(|e| TemplateError::Rego(format!("libs[{index}]: {e}")))?;
            let lib_package = engine
                .add_policy(file.clone(), lib.clone())
                .map_err(|e| TemplateError::Rego(format!("libs[{index}]: {e}")))?;
            modules.push((file, lib));
            packages.push(lib_package.clone());
            if !lib_package.starts_with("data.lib.") {
                return Err(TemplateError::Rego(format!(
                    "libs[{index}]: package {} must be under `lib` (package lib.<name>)",
                    lib_package.trim_start_matches("data.")
                )));
            }
        }
        if package.starts_with("data.lib.") || package == "data.lib" {
            return Err(TemplateError::Rego(format!(
                "the template's package {} must not be under `lib`, which is for libs",
                package.trim_start_matches("data.")
            )));
        }
        let entrypoint = format!("{package}.violation");
        let compiled = if uses_inventory {
            // An empty inventory still has to resolve, as Gatekeeper's empty cache does.
            engine
                .add_data(empty_inventory())
                .map_err(|e| TemplateError::Rego(e.to_string()))?;
            // Compile once to surface errors now, keep the engine for per-request data.
            engine
                .compile_with_entrypoint(&entrypoint.as_str().into())
                .map_err(|e| TemplateError::Rego(e.to_string()))?;
            Compiled::WithInventory(Box::new(engine))
        } else {
            let compiled = engine
                .compile_with_entrypoint(&entrypoint.as_str().into())
                .map_err(|e| TemplateError::Rego(e.to_string()))?;
            // A policy the rewrite does not cover, or the RVM compiler refuses, stays interpreted.
            match machine(&modules, &packages, source.v1, &compiled, &entrypoint) {
                Some(machine) => Compiled::Machine {
                    machine,
                    interpreter: compiled,
                },
                None => Compiled::Policy(compiled),
            }
        };
        Ok(RegoProgram {
            entrypoint,
            compiled,
        })
    }

    /// Whether the template runs on regorus' virtual machine (else its interpreter).
    #[cfg(test)]
    pub fn on_machine(&self) -> bool {
        matches!(self.compiled, Compiled::Machine { .. })
    }

    pub fn uses_inventory(&self) -> bool {
        matches!(self.compiled, Compiled::WithInventory(_))
    }

    /// Evaluates `violation` for one input (`{review, parameters}`); `inventory` is read only by
    /// templates that reference it.
    pub fn evaluate(
        &self,
        input: RegoValue,
        inventory: impl FnOnce() -> RegoValue,
    ) -> Result<Vec<RegoViolation>, String> {
        let result = match &self.compiled {
            Compiled::Policy(compiled) => compiled.eval_with_input(input),
            Compiled::Machine {
                machine,
                interpreter,
            } => match machine.evaluate(&self.entrypoint, input.clone()) {
                Ok(result) => return violations(&result),
                Err(e @ VmError::TimeLimitExceeded { .. }) => return Err(e.to_string()),
                // A conflict, or anything else the machine stops on: OPA's answer.
                Err(_) => interpreter.eval_with_input(input),
            },
            Compiled::WithInventory(engine) => {
                let mut engine = engine.clone();
                engine.set_input(input);
                let data = crate::library::rego_object([("inventory", inventory())]);
                match engine.add_data(data) {
                    Ok(()) => engine.eval_rule(self.entrypoint.clone()),
                    Err(e) => Err(e),
                }
            }
        }
        .map_err(|e| e.to_string())?;
        violations(&result)
    }
}

/// The template's modules as the RVM runs them, compiled for it; `None` keeps the template on
/// the interpreter.
fn machine(
    modules: &[(String, String)],
    packages: &[String],
    v1: bool,
    compiled: &CompiledPolicy,
    entrypoint: &str,
) -> Option<VmPool> {
    // The rewrite sees one module at a time: a package split across modules is not covered.
    let mut distinct = packages.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != packages.len() {
        return None;
    }
    let rewritten: Vec<String> = modules
        .iter()
        .map(|(file, module)| crate::conflicts::for_machine(file, module, v1))
        .collect::<Option<_>>()?;
    if modules.iter().zip(&rewritten).all(|((_, m), r)| m == r) {
        return VmPool::new(compiled, entrypoint);
    }
    let mut engine = new_engine(v1);
    for ((file, _), module) in modules.iter().zip(rewritten) {
        engine.add_policy(file.clone(), module).ok()?;
    }
    let compiled = engine.compile_with_entrypoint(&entrypoint.into()).ok()?;
    VmPool::new(&compiled, entrypoint)
}

/// One evaluation of one template may take this long; then it is an error (a violation,
/// fail closed), so a template that loops cannot hold a request until the API server's timeout.
pub(crate) const EVALUATION_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

fn evaluation_limit() -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit: EVALUATION_LIMIT,
        check_interval: NonZeroU32::MIN.saturating_add(255),
    }
}

/// regorus runs a compiled policy on a fresh engine that takes its time limit from a
/// process-wide fallback, not from the engine it was compiled on: set it, once.
fn install_evaluation_limit() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        regorus::utils::limits::set_fallback_execution_timer_config(Some(evaluation_limit()))
    });
}

fn new_engine(v1: bool) -> regorus::Engine {
    install_evaluation_limit();
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(evaluation_limit());
    engine.set_rego_v0(!v1);
    // OPA's non-strict mode: a builtin error makes its expression undefined, not the query fail.
    engine.set_strict_builtin_errors(false);
    engine
}

fn empty_inventory() -> RegoValue {
    RegoValue::from(serde_json::json!({"inventory": {"cluster": {}, "namespace": {}}}))
}

/// The `violation` set's entries: identical entries collapse (it is a set), an entry without a
/// `msg` is dropped, a `msg` that is not a string is an error — as Gatekeeper's driver does.
fn violations(result: &RegoValue) -> Result<Vec<RegoViolation>, String> {
    let entries: Vec<&RegoValue> = match result {
        RegoValue::Undefined | RegoValue::Null => return Ok(Vec::new()),
        RegoValue::Set(set) => set.iter().collect(),
        RegoValue::Array(items) => items.iter().collect(),
        other => {
            return Err(format!(
                "violation must be a set of objects, got {}",
                type_name(other)
            ))
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let RegoValue::Object(fields) = entry else {
            return Err(format!(
                "violation entries must be objects, got {}",
                type_name(entry)
            ));
        };
        let msg = match fields.get(&RegoValue::from("msg")) {
            None => continue,
            Some(RegoValue::String(msg)) => msg.to_string(),
            Some(other) => {
                return Err(format!(
                    "violation msg must be a string, got {}",
                    type_name(other)
                ))
            }
        };
        let details = fields
            .get(&RegoValue::from("details"))
            .and_then(|d| serde_json::to_value(d).ok())
            .unwrap_or(Value::Null);
        out.push(RegoViolation { msg, details });
    }
    Ok(out)
}

fn type_name(value: &RegoValue) -> &'static str {
    match value {
        RegoValue::Null => "null",
        RegoValue::Bool(_) => "boolean",
        RegoValue::Number(_) => "number",
        RegoValue::String(_) => "string",
        RegoValue::Array(_) => "array",
        RegoValue::Set(_) => "set",
        RegoValue::Object(_) => "object",
        RegoValue::Undefined => "undefined",
    }
}

fn defines_violation(module: &str) -> bool {
    let code = strip_comments_and_strings(module);
    code.lines().any(|line| {
        let line = line.trim_start();
        line.strip_prefix("violation")
            .and_then(|rest| rest.trim_start().chars().next())
            .is_some_and(|c| matches!(c, '[' | '{' | 'c' | 'i' | '='))
    })
}

#[derive(Debug, Default)]
struct References {
    inventory: bool,
}

/// Gatekeeper's rule: only `data.lib.*` and `data.inventory` may be referenced, and imports are
/// limited to those, `input` and `future.*` / `rego.v1`.
fn check_references(module: &str, what: &str) -> Result<References, TemplateError> {
    let code = strip_comments_and_strings(module);
    let mut refs = References::default();
    let bytes = code.as_bytes();
    let mut start = 0;
    while let Some(found) = code[start..].find("data") {
        let at = start + found;
        start = at + 4;
        let before_ok = at == 0 || !is_ident(bytes[at - 1]) && bytes[at - 1] != b'.';
        let after = code[at + 4..].trim_start_matches([' ', '\t']);
        let after_ok = after.starts_with('.') || after.starts_with('[');
        if !(before_ok && after_ok)
            || code
                .get(at + 4..at + 5)
                .is_some_and(|c| c.bytes().all(is_ident))
        {
            continue;
        }
        let path = after
            .trim_start_matches(['.', '['])
            .trim_start_matches(['"', ' ']);
        let segment: String = path
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        match segment.as_str() {
            "lib" => {}
            "inventory" => refs.inventory = true,
            _ => {
                return Err(TemplateError::Rego(format!(
                    "{what}: references data.{segment}; only data.lib.* and data.inventory are available to templates"
                )))
            }
        }
    }
    for line in code.lines() {
        let Some(import) = line.trim_start().strip_prefix("import ") else {
            continue;
        };
        let target = import.split_whitespace().next().unwrap_or("");
        let allowed = target == "input"
            || target.starts_with("input.")
            || target.starts_with("future.")
            || target == "rego.v1"
            || target.starts_with("data.lib.")
            || target == "data.inventory"
            || target.starts_with("data.inventory.");
        if !allowed {
            return Err(TemplateError::Rego(format!(
                "{what}: import {target} is not allowed; import only data.lib.*, data.inventory, input or future.*"
            )));
        }
    }
    Ok(refs)
}

/// Deeper than this, brackets are refused before regorus parses them: its parser takes
/// exponential time on deep unclosed nesting (a fuzzed template of 30 `[` ran for minutes), and
/// no real template comes close.
const MAX_NESTING: usize = 24;

fn check_nesting(module: &str, what: &str) -> Result<(), TemplateError> {
    let code = strip_comments_and_strings(module);
    let mut depth = 0usize;
    for (line, text) in code.lines().enumerate() {
        for c in text.chars() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_NESTING {
                return Err(TemplateError::Rego(format!(
                    "{what}: line {}: brackets nested deeper than {MAX_NESTING} levels",
                    line + 1
                )));
            }
        }
    }
    Ok(())
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The module with comments removed and string contents blanked, so references are found only
/// in code. Raw strings (backticks) are blanked too.
pub(crate) fn strip_comments_and_strings(module: &str) -> String {
    let mut out = String::with_capacity(module.len());
    let mut chars = module.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push('"');
            }
            '`' => {
                out.push('`');
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                    if c == '\n' {
                        out.push('\n');
                    }
                }
                out.push('`');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(module: &str, libs: &[&str]) -> RegoSource {
        RegoSource {
            module: module.to_string(),
            libs: libs.iter().map(|l| l.to_string()).collect(),
            v1: false,
        }
    }

    #[test]
    fn only_lib_and_inventory_data_may_be_read() {
        let bad = "package k\nviolation[{\"msg\": m}] { m := data.kubernetes.x }";
        let err = RegoProgram::compile("K", source(bad, &[]))
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("data.kubernetes"));
        let ok = "package k\n# data.other in a comment\nviolation[{\"msg\": m}] { data.inventory.cluster[_]; m := \"data.x\" }";
        let program = RegoProgram::compile("K", source(ok, &[])).map_err(|e| e.to_string());
        assert!(program.is_ok_and(|p| p.uses_inventory()));
    }

    #[test]
    fn libs_live_under_lib() {
        let module = "package k\nviolation[{\"msg\": \"m\"}] { true }";
        let err = RegoProgram::compile("K", source(module, &["package helpers\nx := 1"]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must be under `lib`"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let module = format!(
            "package k\nviolation[{{\"msg\": \"m\"}}] {{\n{} x := 1\n}}",
            "[".repeat(30)
        );
        let started = std::time::Instant::now();
        let err = RegoProgram::compile("K", source(&module, &[]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("line 3: brackets nested deeper than 24 levels"),
            "{err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Brackets in strings and comments do not count.
        let quoted = format!(
            "package k\n# {}\nviolation[{{\"msg\": \"{}\"}}] {{ true }}",
            "[".repeat(40),
            "(".repeat(40)
        );
        assert!(RegoProgram::compile("K", source(&quoted, &[])).is_ok());
    }

    #[test]
    fn a_module_without_violation_is_refused() {
        let err = RegoProgram::compile("K", source("package k\ndeny[m] { m := 1 }", &[]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must define a `violation` rule"), "{err}");
    }

    #[test]
    fn violations_collapse_and_drop_entries_without_msg() {
        let module = r#"package k
violation[{"msg": "same"}] { true }
violation[{"msg": "same", "details": {}}] { false }
violation[{"details": {"no": "msg"}}] { true }
violation[{"msg": sprintf("%v", [input.parameters.n])}] { true }
"#;
        let program = RegoProgram::compile("K", source(module, &[]));
        let Ok(program) = program else {
            panic!("compile: {:?}", program.err())
        };
        let input = RegoValue::from(serde_json::json!({"review": {}, "parameters": {"n": 7}}));
        let found = program.evaluate(input, || RegoValue::Null);
        let mut msgs: Vec<String> = found
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.msg)
            .collect();
        msgs.sort();
        assert_eq!(msgs, ["7", "same"]);
    }

    #[test]
    fn an_evaluation_that_runs_too_long_is_stopped() {
        let module = "package k\nviolation[{\"msg\": \"m\"}] { x := numbers.range(1, 20000)[_]; y := numbers.range(1, 20000)[_]; x * y == -1 }";
        let program = RegoProgram::compile("K", source(module, &[]));
        let Ok(program) = program else {
            panic!("compile: {:?}", program.err())
        };
        assert!(program.on_machine(), "the limit holds on the RVM");
        let started = std::time::Instant::now();
        let found = program.evaluate(RegoValue::from(serde_json::json!({})), || RegoValue::Null);
        let elapsed = started.elapsed();
        let err = found.err().unwrap_or_default();
        assert!(
            err.contains("time limit") || err.contains("exceeded"),
            "400 million iterations finished within the limit? {err}"
        );
        assert!(elapsed < EVALUATION_LIMIT * 5, "stopped after {elapsed:?}");
    }

    /// Why rules that could conflict are rewritten before they reach regorus' faster virtual
    /// machine (RVM, about 3x): it answers an empty set where OPA and the interpreter fail with
    /// a conflict error, which would admit what Gatekeeper denies. This test notices when a
    /// regorus release changes that (then the rewrite in `conflicts.rs` may go).
    #[test]
    fn the_rvm_still_hides_conflict_errors() {
        let module = "package k\nmode := \"a\" { true }\nmode := \"b\" { true }\nviolation[{\"msg\": mode}] { true }";
        let entrypoint = "data.k.violation";
        let mut engine = new_engine(false);
        let added = engine.add_policy("k.rego".into(), module.into());
        assert!(added.is_ok(), "{added:?}");
        let compiled = engine.compile_with_entrypoint(&entrypoint.into());
        let Ok(compiled) = compiled else {
            panic!("compile: {:?}", compiled.err())
        };
        assert!(compiled.eval_with_input(RegoValue::new_object()).is_err());
        let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(
            &compiled,
            &[entrypoint],
        );
        let Ok(program) = program else {
            panic!("rvm compile: {:?}", program.err())
        };
        let mut vm = regorus::rvm::RegoVM::new_with_policy(compiled.clone());
        vm.load_program(program);
        let _ = vm.set_data(RegoValue::new_object());
        vm.set_input(RegoValue::new_object());
        let answer = vm.execute_entry_point_by_name(entrypoint);
        assert!(
            matches!(&answer, Ok(RegoValue::Set(s)) if s.is_empty()),
            "the RVM now answers {answer:?}: check it against the interpreter on the library and consider using it"
        );
    }

    /// Templates run on the RVM unless they have a form whose conflicts the rewrite does not
    /// expose; a conflict there is answered by the interpreter, as OPA answers it.
    #[test]
    fn conflicts_on_the_machine_are_answered_by_the_interpreter() {
        let compile = |module: &str| {
            let program = RegoProgram::compile("K", source(module, &[]));
            let Ok(program) = program else {
                panic!("compile: {:?}", program.err())
            };
            program
        };
        let messages = |program: &RegoProgram, input: serde_json::Value| {
            program
                .evaluate(RegoValue::from(input), || RegoValue::Null)
                .map(|found| found.into_iter().map(|v| v.msg).collect::<Vec<_>>())
        };
        let on_machine = [
            "package k
violation[{\"msg\": m}] { m := input.review.object.x[_] }",
            "package k
has_field(o, f) = true { o[f] }
has_field(o, f) = true { o[f] == false }
violation[{\"msg\": \"x\"}] { has_field(input.review.object, \"x\") }",
            "package k
default allow = false
allow { input.x }
limit := 3
violation[{\"msg\": \"x\"}] { not allow; limit > 2 }",
            "package k
mode := \"a\" { input.a }
mode := \"b\" { input.b }
violation[{\"msg\": mode}] { true }",
            "package k
name(o) = n { n := o.metadata.name }
name(o) = n { n := o.metadata.generateName }
violation[{\"msg\": m}] { m := name(input) }",
            "package k
x = input.a[_]
violation[{\"msg\": \"x\"}] { x }",
        ];
        for module in on_machine {
            assert!(compile(module).on_machine(), "{module}");
        }
        let mode = compile(on_machine[3]);
        assert_eq!(
            messages(&mode, json!({"a": true})),
            Ok(vec!["a".to_string()])
        );
        let err = messages(&mode, json!({"a": true, "b": true})).err();
        // The interpreter's words (the rule it conflicts with), not the machine's stop.
        assert!(
            err.as_deref()
                .unwrap_or_default()
                .contains("conflicts with rule"),
            "{err:?}"
        );
        let name = compile(on_machine[4]);
        assert_eq!(
            messages(&name, json!({"metadata": {"generateName": "g"}})),
            Ok(vec!["g".to_string()])
        );
        assert!(messages(
            &name,
            json!({"metadata": {"name": "n", "generateName": "g"}})
        )
        .is_err());
        let values = compile(on_machine[5]);
        assert_eq!(
            messages(&values, json!({"a": [true, true]})),
            Ok(vec!["x".to_string()])
        );
        assert!(messages(&values, json!({"a": [true, 1]})).is_err());

        // A conflict under `not`, in a comprehension or a library still stops the machine.
        for module in [
            "package k
f(x) = 1 { x.a }
f(x) = 2 { x.b }
violation[{\"msg\": \"none\"}] { not f(input) }",
            "package k
f(x) = 1 { x.a }
f(x) = 2 { x.b }
violation[{\"msg\": m}] { s := {v | v := f(input)}; m := sprintf(\"%v\", [s]) }",
        ] {
            let program = compile(module);
            assert!(program.on_machine(), "{module}");
            assert_eq!(
                messages(&program, json!({})).map(|m| m.len()),
                Ok(1),
                "{module}"
            );
            let err = messages(&program, json!({"a": true, "b": true})).err();
            assert!(
                err.is_some_and(|e| e.contains("multiple outputs")),
                "{module}"
            );
        }

        // A body whose first line starts with `-` stays a statement of its own, and a
        // definition ending in a string is removed whole.
        let minus = compile(
            "package k
f(x, n) := n { -1 < x }
f(x, n) := 0 { x == 0 }
violation[{\"msg\": sprintf(\"%v\", [v])}] { v := f(input.x, 3) }",
        );
        assert!(minus.on_machine());
        assert_eq!(messages(&minus, json!({"x": -5})), Ok(vec![]));
        assert_eq!(messages(&minus, json!({"x": 5})), Ok(vec!["3".to_string()]));
        let quoted = compile(
            "package k
level = \"high\" { input.strict }
level = \"low\"
violation[{\"msg\": level}] { true }",
        );
        assert!(quoted.on_machine());
        assert_eq!(messages(&quoted, json!({})), Ok(vec!["low".to_string()]));
        assert!(messages(&quoted, json!({"strict": true})).is_err());

        let interpreted = [
            "package k\nx[k] = \"a\" { k := \"p\" }\nx[j] = \"b\" { j := \"p\" }\nviolation[{\"msg\": m}] { m := x[\"p\"] }",
            "package k\nviolation[{\"msg\": \"bad\"}] { m := {c.n: c.v | c := input.c[_]}; m[_] == \"bad\" }",
            "package k
f(v) = \"a\" { v == 1 } else = \"b\" { true }
violation[{\"msg\": m}] { m := f(1) }",
        ];
        for module in interpreted {
            assert!(!compile(module).on_machine(), "{module}");
        }
        // The conflict the machine would hide is reported by the interpreter, fail closed.
        let conflicting = compile(interpreted[0]);
        let found = conflicting.evaluate(RegoValue::new_object(), || RegoValue::Null);
        assert!(found.is_err(), "{:?}", found.map(|v| v.len()));
    }

    #[test]
    fn a_non_string_msg_is_an_error() {
        let module = "package k\nviolation[{\"msg\": 3}] { true }";
        let program = RegoProgram::compile("K", source(module, &[]));
        let Ok(program) = program else {
            panic!("compile: {:?}", program.err())
        };
        let found = program.evaluate(RegoValue::from(serde_json::json!({})), || RegoValue::Null);
        assert!(found.err().unwrap_or_default().contains("must be a string"));
    }
}
