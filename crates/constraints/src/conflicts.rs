//! Conflicting rule values on regorus' virtual machine.
//!
//! A complete rule or a function whose definitions yield different values for one input is an
//! error in OPA (`complete rules must not produce multiple outputs`, `functions must not produce
//! multiple outputs for same inputs`), which Gatekeeper reports as the constraint's evaluation
//! error, and so does regorus' interpreter. regorus' RVM answers "undefined" instead and goes
//! on, which can admit what Gatekeeper denies. So before a template goes to the RVM, each such
//! rule whose definitions do not all yield one constant is rewritten to compute what OPA
//! computes, every value of every definition, and to stop on two:
//!
//! ```text
//! f(__podsec_arg0) := __podsec_value {
//!     __podsec_values := {v | x := __podsec_arg0; <body 1>; v := <value 1>} | {v | ...}
//!     __podsec_single(__podsec_values)
//!     __podsec_value := __podsec_values[_]
//! }
//! ```
//!
//! `__podsec_single` fails the evaluation with one of the RVM's hard errors (a regex over its
//! size limit, which regorus raises even where builtin errors are otherwise undefined) when
//! there are two values; the review then goes to the interpreter, which answers as OPA does.

use std::collections::HashMap;

use regorus::unstable::{Expr, NodeRef, Parser, Query, Rule, RuleHead, Source};

/// Prefixes of the names the rewrite introduces (`__podsec_v` covers `__podsec_value(s)`); a
/// module already using them is left to the interpreter.
const RESERVED: [&str; 3] = ["__podsec_arg", "__podsec_single", "__podsec_v"];

/// A pattern over regorus' regex size limit: compiling it is a hard error on the RVM.
const HARD_ERROR_PATTERN: &str = "(?:a{1000}){1000}";

/// The module as the RVM must run it (unchanged when no rule can conflict), or `None` when it
/// has a form the rewrite does not cover, which keeps the template on the interpreter.
pub(crate) fn for_machine(file: &str, module: &str, v1: bool) -> Option<String> {
    // An object comprehension with a repeated key is an error on the interpreter (and OPA),
    // the last value on the RVM; see the others' own docs.
    if RESERVED.iter().any(|name| module.contains(name))
        || has_object_comprehension(module)
        || binds_input_or_data(module)
    {
        return None;
    }
    let source = Source::from_contents(file.into(), module.to_string()).ok()?;
    let mut parser = Parser::new(&source).ok()?;
    if v1 {
        parser.enable_rego_v1().ok()?;
    }
    let parsed = parser.parse().ok()?;
    // `import rego.v1` makes a v0 module v1 syntax.
    let v1 = v1 || parsed.rego_v1;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(String, Option<usize>), usize> = HashMap::new();
    for rule in &parsed.policy {
        let Rule::Spec { span, head, bodies } = rule.as_ref() else {
            continue; // `default` values apply only when nothing else is defined
        };
        let (refr, args, assign) = match head {
            RuleHead::Set { .. } => continue,
            RuleHead::Compr { refr, assign, .. } => (refr, None, assign),
            RuleHead::Func {
                refr, args, assign, ..
            } => (refr, Some(args), assign),
        };
        // `x[k] = v` (two keys' rules may yield one key with different values) and dotted
        // heads are not rewritten.
        let Expr::Var { span: name, .. } = refr.as_ref() else {
            return None;
        };
        // The RVM reads the real `input` and `data` where a v0 module names an argument so.
        if args
            .into_iter()
            .flatten()
            .any(|a| matches!(a.as_ref(), Expr::Var { span, .. } if matches!(span.text(), "input" | "data")))
        {
            return None;
        }
        let key = (name.text().to_string(), args.map(Vec::len));
        let at = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group {
                name: key.0.clone(),
                arity: key.1,
                definitions: Vec::new(),
            });
            groups.len() - 1
        });
        let (start, end) = widened(module, span.start, span.end);
        groups[at].definitions.push(Definition {
            start,
            end,
            args: args.map(|a| a.iter().collect()).unwrap_or_default(),
            value: assign.as_ref().map(|a| &a.value),
            bodies: bodies
                .iter()
                .map(|b| Body {
                    is_else: b.is_else,
                    value: b.assign.as_ref().map(|a| &a.value),
                    query: &b.query,
                })
                .collect(),
        });
    }
    let mut removed: Vec<(usize, usize)> = Vec::new();
    let mut added = String::new();
    for group in groups.iter().filter(|g| !g.yields_one_constant()) {
        added.push_str(&group.rewritten(module, v1)?);
        removed.extend(group.definitions.iter().map(|d| (d.start, d.end)));
    }
    if removed.is_empty() {
        return Some(module.to_string());
    }
    let mut out = module.to_string();
    removed.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
    for (start, end) in removed {
        out.replace_range(start..end, "");
    }
    let body = if v1 { "if {" } else { "{" };
    out.push_str(&format!(
        "\n__podsec_single(values) {body}\n  count(values) < 2\n}}\n\
         __podsec_single(values) {body}\n  count(values) > 1\n  regex.match(\"{HARD_ERROR_PATTERN}\", \"\")\n}}\n"
    ));
    out.push_str(&added);
    Some(out)
}

struct Group<'a> {
    name: String,
    arity: Option<usize>,
    definitions: Vec<Definition<'a>>,
}

struct Definition<'a> {
    /// Where it is written, from [`widened`].
    start: usize,
    end: usize,
    args: Vec<&'a NodeRef<Expr>>,
    value: Option<&'a NodeRef<Expr>>,
    bodies: Vec<Body<'a>>,
}

struct Body<'a> {
    is_else: bool,
    /// An `else` body's own value.
    value: Option<&'a NodeRef<Expr>>,
    query: &'a NodeRef<Query>,
}

impl Group<'_> {
    /// Every definition and `else` yields the same constant (or none: `true`); the RVM stops at
    /// the first that succeeds, which then agrees with OPA.
    fn yields_one_constant(&self) -> bool {
        let absent = regorus::Value::Bool(true);
        let mut seen: Option<&regorus::Value> = None;
        for definition in &self.definitions {
            let values = std::iter::once(definition.value).chain(
                definition
                    .bodies
                    .iter()
                    .filter(|b| b.is_else)
                    .map(|b| b.value),
            );
            for value in values {
                // By value: `"true"` is not `true`, `` `a\n` `` is not `"a\n"`.
                let constant = match value.map(|v| scalar(v)) {
                    None => &absent,
                    Some(Some(value)) => value,
                    Some(None) => return false,
                };
                if *seen.get_or_insert(constant) != constant {
                    return false;
                }
            }
        }
        true
    }

    /// The group as one definition collecting every value; `None` for forms not covered
    /// (`else` chains, patterns other than variables and scalars in arguments).
    fn rewritten(&self, module: &str, v1: bool) -> Option<String> {
        let arity = self.arity.unwrap_or(0);
        let params: Vec<String> = (0..arity).map(|j| format!("__podsec_arg{j}")).collect();
        let mut comprehensions = Vec::new();
        for definition in &self.definitions {
            let mut bindings = Vec::new();
            let mut bound: Vec<&str> = Vec::new();
            for (arg, param) in definition.args.iter().zip(&params) {
                match arg.as_ref() {
                    Expr::Var { span, .. } if span.text() == "_" => {}
                    Expr::Var { span, .. } => {
                        if bound.contains(&span.text()) {
                            return None;
                        }
                        bound.push(span.text());
                        bindings.push(format!("{} := {param}", span.text()));
                    }
                    e if scalar(e).is_some() => {
                        let literal = text(module, e.span().start, e.span().end)?;
                        bindings.push(format!("{param} == {literal}"));
                    }
                    _ => return None,
                }
            }
            if definition.bodies.iter().any(|b| b.is_else) {
                return None;
            }
            let value = match definition.value {
                Some(v) => text(module, v.span().start, v.span().end)?,
                None => "true",
            };
            let queries: Vec<String> = if definition.bodies.is_empty() {
                vec!["true".to_string()]
            } else {
                definition
                    .bodies
                    .iter()
                    .map(|body| query_text(module, body.query))
                    .collect::<Option<_>>()?
            };
            for query in queries {
                let mut lines = bindings.clone();
                lines.push(query);
                lines.push(format!("__podsec_v := ({value})"));
                // `;` too: a line that starts with `-` or `(` would continue the one before.
                comprehensions.push(format!("{{__podsec_v |\n{}\n}}", lines.join(";\n")));
            }
        }
        let head = match self.arity {
            Some(_) => format!("{}({})", self.name, params.join(", ")),
            None => self.name.clone(),
        };
        let keyword = if v1 { " if" } else { "" };
        Some(format!(
            "\n{head} := __podsec_value{keyword} {{\n  __podsec_values := {}\n  __podsec_single(__podsec_values)\n  __podsec_value := __podsec_values[_]\n}}\n",
            comprehensions.join(" | ")
        ))
    }
}

/// A body's statements as written (comments between them included); `true` when empty.
fn query_text(module: &str, query: &NodeRef<Query>) -> Option<String> {
    match (query.stmts.first(), query.stmts.last()) {
        (Some(first), Some(last)) => {
            text(module, first.span.start, last.span.end).map(str::to_string)
        }
        _ => Some("true".to_string()),
    }
}

/// A literal's value (a string, number, boolean or null).
fn scalar(expr: &Expr) -> Option<&regorus::Value> {
    match expr {
        Expr::String { value, .. }
        | Expr::RawString { value, .. }
        | Expr::Number { value, .. }
        | Expr::Bool { value, .. }
        | Expr::Null { value, .. } => Some(value),
        _ => None,
    }
}

/// The source of a span, as [`widened`].
fn text(module: &str, start: u32, end: u32) -> Option<&str> {
    let (start, end) = widened(module, start, end);
    module.get(start..end)
}

/// A span with the quotes of a string literal at either edge (regorus' string spans hold only
/// the contents, so a rule or statement ending in a string ends before its closing quote): a
/// quote just outside an expression can only be its own.
fn widened(module: &str, start: u32, end: u32) -> (usize, usize) {
    let (mut start, mut end) = (start as usize, end as usize);
    let bytes = module.as_bytes();
    if start > 0 && matches!(bytes.get(start - 1), Some(b'"' | b'`')) {
        start -= 1;
    }
    if matches!(bytes.get(end), Some(b'"' | b'`')) {
        end += 1;
    }
    (start, end)
}

/// Whether a v0 module binds `input` or `data` as a local (`input := …`, `some data`): the
/// interpreter then reads the local, as OPA does, the RVM the real document.
fn binds_input_or_data(module: &str) -> bool {
    let code = crate::rego::strip_comments_and_strings(module);
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let word_at = |at: usize, word: &str| {
        code[at..].starts_with(word)
            && !code[..at].ends_with(|c: char| is_ident(c) || c == '.')
            && !code[at + word.len()..].starts_with(is_ident)
    };
    code.char_indices().any(|(at, _)| {
        if word_at(at, "input") || word_at(at, "data") {
            let len = if code[at..].starts_with("input") {
                5
            } else {
                4
            };
            return code[at + len..].trim_start().starts_with(":=");
        }
        if word_at(at, "some") {
            let declared = code[at + 4..].split(['\n', ';']).next().unwrap_or_default();
            let declared = declared.split(" in ").next().unwrap_or_default();
            return declared
                .split(|c: char| !is_ident(c))
                .any(|w| w == "input" || w == "data");
        }
        false
    })
}

/// Whether the module has `{key: value | body}`: a `|` directly inside braces that hold a `:`
/// before it (a set comprehension's term has none at its own depth; `:=` comes after the `|`).
pub(crate) fn has_object_comprehension(module: &str) -> bool {
    let code = crate::rego::strip_comments_and_strings(module);
    // For each open bracket: whether it is a brace, and whether a `:` was seen directly in it.
    let mut open: Vec<(bool, bool)> = Vec::new();
    for c in code.chars() {
        match c {
            '{' => open.push((true, false)),
            '[' | '(' => open.push((false, false)),
            '}' | ']' | ')' => {
                open.pop();
            }
            ':' => {
                if let Some(top) = open.last_mut() {
                    top.1 = true;
                }
            }
            '|' if open.last() == Some(&(true, true)) => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(module: &str) -> String {
        for_machine("k.rego", module, false).unwrap_or_else(|| panic!("not covered: {module}"))
    }

    #[test]
    fn rules_with_one_constant_value_are_left_as_they_are() {
        let module = "package k
import future.keywords.in
has_field(o, f) = true { o[f] }
has_field(o, f) = true { o[f] == false }
default allow = false
allow { input.x }
violation[{\"msg\": m}] { some m in input.m }";
        assert_eq!(rewritten(module), module);
        // Constants compared by value: a string is not the boolean it spells.
        let module = "package k
enforced := \"true\" { input.strict }
enforced { input.host }";
        assert_ne!(rewritten(module), module);
    }

    #[test]
    fn each_definition_becomes_a_comprehension_over_its_arguments() {
        let module = "package k
accept(\"RunAsAny\", _)
accept(\"MustRunAsNonRoot\", user) := user != 0
msg(c) = m { m := sprintf(\"%v\", [c.name]) }
violation[{\"msg\": m}] { m := msg(input.c) }";
        let out = rewritten(module);
        assert!(!out.contains("accept(\"RunAsAny\", _)"), "{out}");
        for expected in [
            "accept(__podsec_arg0, __podsec_arg1) := __podsec_value {",
            "{__podsec_v |\n__podsec_arg0 == \"RunAsAny\";\ntrue;\n__podsec_v := (true)\n}",
            "{__podsec_v |\n__podsec_arg0 == \"MustRunAsNonRoot\";\nuser := __podsec_arg1;\ntrue;\n__podsec_v := (user != 0)\n}",
            "msg(__podsec_arg0) := __podsec_value {",
            "c := __podsec_arg0;\nm := sprintf(\"%v\", [c.name]);\n__podsec_v := (m)",
            "__podsec_single(__podsec_values)",
        ] {
            assert!(out.contains(expected), "{expected}\nin\n{out}");
        }
        let v1 = for_machine(
            "k.rego",
            "package k\nf(x) := x + 1 if { x > 0 }\nf(x) := x if { x < 0 }",
            true,
        );
        assert!(
            v1.as_deref()
                .is_some_and(|m| m.contains("f(__podsec_arg0) := __podsec_value if {")),
            "{v1:?}"
        );
    }

    #[test]
    fn forms_the_rewrite_does_not_cover_stay_on_the_interpreter() {
        for module in [
            // partial object rules, whose keys may collide
            "package k\nx[k] = \"a\" { k := \"p\" }",
            // object comprehensions, whose keys may repeat
            "package k\nm := {c.n: c.v | c := input.c[_]}",
            // else chains
            "package k\nf(v) = \"a\" { v == 1 } else = \"b\" { true }",
            // patterns in arguments
            "package k\nf([a, b]) = a { b }\nf(x) = 1 { x }",
            // a variable bound twice by the head
            "package k\nf(x, x) = x { true }\nf(x, y) = y { true }",
            // the rewrite's own names
            "package k\n__podsec_value := 1",
            // `input` and `data` as locals, which the RVM does not see
            "package k\nf(input) := input.a { true }\nf(input) := input.b { input.c }",
            "package k\nviolation[{\"msg\": \"x\"}] { input := {\"a\": 1}; input.a == 1 }",
            "package k\nviolation[{\"msg\": \"x\"}] { some data; data = 1 }",
        ] {
            assert_eq!(for_machine("k.rego", module, false), None, "{module}");
        }
    }

    #[test]
    fn object_comprehensions_are_told_from_sets_and_objects() {
        assert!(has_object_comprehension(
            "m := {c.name: c.x | c := input.c[_]}"
        ));
        assert!(!has_object_comprehension("s := {x | x := input.c[_]}"));
        assert!(!has_object_comprehension(
            "s := {{\"a\": x} | x := input.c[_]}"
        ));
        assert!(!has_object_comprehension("o := {\"a\": \"|\"}"));
    }

    /// gatekeeper-library's templates run on the machine, among them k8spspallowedusers, whose
    /// functions compute their messages.
    #[test]
    fn the_library_templates_are_covered() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/conformance/gatekeeper/pod-security-policy");
        let users = std::fs::read_to_string(root.join("users/template.yaml"))
            .unwrap_or_else(|e| panic!("the gatekeeper-library corpus is missing: {e}"));
        assert!(users.contains("get_user_violation(params, container) = msg"));
        let mut rewritten_any = false;
        let mut uncovered = Vec::new();
        for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry
                .unwrap_or_else(|e| panic!("{e}"))
                .path()
                .join("template.yaml");
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
            let limits = podsec_manifest::Limits::default();
            let template = podsec_manifest::decode(&bytes, podsec_manifest::Format::Yaml, &limits)
                .remove(0)
                .unwrap_or_else(|e| panic!("{e}"))
                .value;
            let target = &template["spec"]["targets"][0];
            let rego = target["code"]
                .as_array()
                .and_then(|code| code.iter().find(|c| c["engine"] == "Rego"))
                .map_or(&target["rego"], |code| &code["source"]["rego"]);
            let module = rego
                .as_str()
                .unwrap_or_else(|| panic!("{}: no rego", path.display()));
            match for_machine("t.rego", module, false) {
                Some(out) => rewritten_any |= out != module,
                None => uncovered.push(path.display().to_string()),
            }
        }
        assert!(rewritten_any);
        // The seccomp templates key containers by name in a partial object rule (and the old
        // one picks profiles with `else` chains).
        uncovered.sort();
        assert!(
            uncovered.len() == 2
                && uncovered[0].ends_with("/seccomp/template.yaml")
                && uncovered[1].ends_with("/seccompv2/template.yaml"),
            "{uncovered:?}"
        );
    }
}
