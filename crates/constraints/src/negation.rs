//! OPA's treatment of `not f(x.y)`: its compiler pulls dynamic call arguments out of the
//! negation (`__local0__ = x.y; not f(__local0__)`, the `RewriteDynamicTerms` stage, see
//! open-policy-agent/opa#1877), so an undefined argument makes the whole line undefined and the
//! rule fails. regorus evaluates the argument inside the `not`, where undefined makes the
//! negation succeed. Gatekeeper's library relies on OPA's behaviour (k8spspallowedusers:
//! `not accept_value(rule, value, params.ranges)` with no `ranges` for `RunAsAny`), so before
//! a template reaches regorus its negated calls are rewritten the way OPA rewrites them.

use regorus::unstable::{Expr, Literal, LiteralStmt, NodeRef, Parser, Query, Rule, Source};

/// The module with every `not <call>(...)` argument that is a reference, call or comprehension
/// bound to a fresh variable just before the negation, on the same line.
pub(crate) fn hoist_negated_call_arguments(
    file: &str,
    module: &str,
    v1: bool,
) -> Result<String, String> {
    let source =
        Source::from_contents(file.into(), module.to_string()).map_err(|e| e.to_string())?;
    let mut parser = Parser::new(&source).map_err(|e| e.to_string())?;
    if v1 {
        parser.enable_rego_v1().map_err(|e| e.to_string())?;
    }
    let parsed = parser.parse().map_err(|e| e.to_string())?;
    let mut edits = Vec::new();
    for rule in &parsed.policy {
        if let Rule::Spec { bodies, .. } = rule.as_ref() {
            for body in bodies {
                visit_query(&body.query, &mut edits);
            }
        }
    }
    if edits.is_empty() {
        return Ok(module.to_string());
    }
    let bytes = module.as_bytes();
    let mut out = module.to_string();
    // Apply from the end so earlier offsets stay valid.
    edits.sort_by_key(|e| std::cmp::Reverse(e.literal_start));
    for (counter, edit) in edits.into_iter().enumerate() {
        // Only where a statement can begin (after `{`, `;` or a line break): a v1 one-line
        // `if` body has no room for a second statement, and is left as it is.
        let before = bytes[..edit.literal_start]
            .iter()
            .rev()
            .find(|b| !matches!(b, b' ' | b'\t'))
            .copied();
        if !matches!(before, Some(b'{' | b';' | b'\n' | b'\r')) {
            continue;
        }
        let mut literal = out[edit.literal_start..edit.literal_end].to_string();
        let mut bindings = String::new();
        for (index, (start, end)) in edit.arguments.iter().enumerate().rev() {
            let name = format!("__podsec_not_{counter}_{index}");
            let (start, end) = (start - edit.literal_start, end - edit.literal_start);
            let argument = literal[start..end].to_string();
            literal.replace_range(start..end, &name);
            bindings.insert_str(0, &format!("{name} = {argument}; "));
        }
        out.replace_range(
            edit.literal_start..edit.literal_end,
            &format!("{bindings}{literal}"),
        );
    }
    Ok(out)
}

struct Edit {
    literal_start: usize,
    literal_end: usize,
    /// Byte ranges of the arguments to hoist.
    arguments: Vec<(usize, usize)>,
}

fn visit_query(query: &NodeRef<Query>, edits: &mut Vec<Edit>) {
    for stmt in &query.stmts {
        visit_stmt(stmt, edits);
    }
}

fn visit_stmt(stmt: &LiteralStmt, edits: &mut Vec<Edit>) {
    match &stmt.literal {
        Literal::NotExpr { span, expr } => {
            if let Expr::Call { params, .. } = expr.as_ref() {
                let arguments: Vec<(usize, usize)> = params
                    .iter()
                    .filter(|p| is_dynamic(p))
                    .map(|p| (p.span().start as usize, p.span().end as usize))
                    .collect();
                // `with` applies to the whole line in OPA too; leave those alone.
                if !arguments.is_empty() && stmt.with_mods.is_empty() {
                    edits.push(Edit {
                        literal_start: span.start as usize,
                        literal_end: span.end as usize,
                        arguments,
                    });
                }
            }
            visit_expr(expr, edits);
        }
        Literal::Expr { expr, .. } => visit_expr(expr, edits),
        Literal::SomeIn {
            key,
            value,
            collection,
            ..
        } => {
            if let Some(key) = key {
                visit_expr(key, edits);
            }
            visit_expr(value, edits);
            visit_expr(collection, edits);
        }
        Literal::Every { domain, query, .. } => {
            visit_expr(domain, edits);
            visit_query(query, edits);
        }
        Literal::SomeVars { .. } => {}
    }
}

/// Finds comprehensions, whose bodies are queries with their own negations.
fn visit_expr(expr: &NodeRef<Expr>, edits: &mut Vec<Edit>) {
    match expr.as_ref() {
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            visit_expr(term, edits);
            visit_query(query, edits);
        }
        Expr::ObjectCompr {
            key, value, query, ..
        } => {
            visit_expr(key, edits);
            visit_expr(value, edits);
            visit_query(query, edits);
        }
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().for_each(|i| visit_expr(i, edits))
        }
        Expr::Object { fields, .. } => fields.iter().for_each(|(_, k, v)| {
            visit_expr(k, edits);
            visit_expr(v, edits);
        }),
        Expr::Call { fcn, params, .. } => {
            visit_expr(fcn, edits);
            params.iter().for_each(|p| visit_expr(p, edits));
        }
        Expr::UnaryExpr { expr, .. } => visit_expr(expr, edits),
        Expr::RefDot { refr, .. } => visit_expr(refr, edits),
        Expr::RefBrack { refr, index, .. } => {
            visit_expr(refr, edits);
            visit_expr(index, edits);
        }
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => {
            visit_expr(lhs, edits);
            visit_expr(rhs, edits);
        }
        Expr::Membership {
            key,
            value,
            collection,
            ..
        } => {
            if let Some(key) = key {
                visit_expr(key, edits);
            }
            visit_expr(value, edits);
            visit_expr(collection, edits);
        }
        _ => {}
    }
}

/// What OPA's rewrite pulls out of a call: references, nested calls, comprehensions.
fn is_dynamic(expr: &NodeRef<Expr>) -> bool {
    matches!(
        expr.as_ref(),
        Expr::RefDot { .. }
            | Expr::RefBrack { .. }
            | Expr::Call { .. }
            | Expr::ArrayCompr { .. }
            | Expr::SetCompr { .. }
            | Expr::ObjectCompr { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_arguments_move_out_of_the_negation() {
        let module = "package k\nv[m] {\n  x := 1\n  not f(x, input.a.b, \"s\")\n  m := 1\n}\nf(a, b, c) { false }\n";
        let out = hoist_negated_call_arguments("k.rego", module, false).unwrap_or_default();
        assert!(
            out.contains("  __podsec_not_0_0 = input.a.b; not f(x, __podsec_not_0_0, \"s\")\n"),
            "{out}"
        );
        assert_eq!(out.lines().count(), module.lines().count());
    }

    #[test]
    fn negations_without_dynamic_arguments_are_left_alone() {
        let module = "package k\nv[m] { not input.x; not f(1); m := 1 }\nf(a) { false }\n";
        assert_eq!(
            hoist_negated_call_arguments("k.rego", module, false)
                .ok()
                .as_deref(),
            Some(module)
        );
    }

    #[test]
    fn negations_inside_comprehensions_are_rewritten() {
        let module =
            "package k\nv[m] { m := [x | x := input.xs[_]; not f(x.y)] }\nf(a) { false }\n";
        let out = hoist_negated_call_arguments("k.rego", module, false).unwrap_or_default();
        assert!(
            out.contains("__podsec_not_0_0 = x.y; not f(__podsec_not_0_0)"),
            "{out}"
        );
    }

    /// The behaviour the rewrite exists for, end to end through regorus.
    #[test]
    fn an_undefined_argument_fails_the_rule_as_in_opa() {
        let module = "package k\nviolation[{\"msg\": \"m\"}] { not accept(\"RunAsAny\", input.missing) }\naccept(\"RunAsAny\", _)\n";
        let rewritten = hoist_negated_call_arguments("k.rego", module, false).unwrap_or_default();
        for (source, expected) in [(module, 1usize), (rewritten.as_str(), 0)] {
            let mut engine = regorus::Engine::new();
            engine.set_rego_v0(true);
            let added = engine.add_policy("k.rego".into(), source.to_string());
            assert!(added.is_ok(), "{added:?}");
            engine.set_input(regorus::Value::from(serde_json::json!({})));
            let result = engine.eval_rule("data.k.violation".into());
            let count = match result {
                Ok(regorus::Value::Set(set)) => set.len(),
                Ok(_) => 0,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(count, expected, "{source}");
        }
    }
}
