//! Label selectors (`matchLabels`, `matchExpressions`) validated as the API server validates them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Problem;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A label selector. The empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: Vec<(String, String)>,
    requirements: Vec<Requirement>,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
            && self.requirements.iter().all(|r| match r {
                Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
                Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
                Requirement::Exists(k) => labels.contains_key(k),
                Requirement::DoesNotExist(k) => !labels.contains_key(k),
            })
    }

    /// Parses a selector at `field`, adding every problem the API server would refuse.
    pub fn parse(value: &Value, field: &str, problems: &mut Vec<Problem>) -> Selector {
        let mut out = Selector::default();
        let Some(map) = value.as_object() else {
            if !value.is_null() {
                problems.push(Problem::new(field, "must be a label selector (an object)"));
            }
            return out;
        };
        for key in map.keys() {
            if key != "matchLabels" && key != "matchExpressions" {
                problems.push(Problem::new(
                    &format!("{field}.{key}"),
                    "unknown field (a selector has matchLabels and matchExpressions)",
                ));
            }
        }
        match map.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (k, v) in labels {
                    let at = format!("{field}.matchLabels");
                    check_key(k, &at, problems);
                    match v.as_str() {
                        Some(v) => {
                            check_value(v, &format!("{at}[{k}]"), problems);
                            out.labels.push((k.clone(), v.to_string()));
                        }
                        None => {
                            problems.push(Problem::new(&format!("{at}[{k}]"), "must be a string"))
                        }
                    }
                }
            }
            Some(_) => problems.push(Problem::new(
                &format!("{field}.matchLabels"),
                "must be a map of strings",
            )),
        }
        match map.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{field}.matchExpressions[{i}]");
                    if let Some(r) = requirement(item, &at, problems) {
                        out.requirements.push(r);
                    }
                }
            }
            Some(_) => problems.push(Problem::new(
                &format!("{field}.matchExpressions"),
                "must be a list",
            )),
        }
        out
    }
}

fn requirement(item: &Value, at: &str, problems: &mut Vec<Problem>) -> Option<Requirement> {
    let key = item.get("key").and_then(Value::as_str).unwrap_or_default();
    check_key(key, &format!("{at}.key"), problems);
    let values: Vec<String> = match item.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vs)) => vs
            .iter()
            .enumerate()
            .filter_map(|(j, v)| match v.as_str() {
                Some(s) => {
                    check_value(s, &format!("{at}.values[{j}]"), problems);
                    Some(s.to_string())
                }
                None => {
                    problems.push(Problem::new(
                        &format!("{at}.values[{j}]"),
                        "must be a string",
                    ));
                    None
                }
            })
            .collect(),
        Some(_) => {
            problems.push(Problem::new(
                &format!("{at}.values"),
                "must be a list of strings",
            ));
            Vec::new()
        }
    };
    let operator = item
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = key.to_string();
    match operator {
        "In" | "NotIn" => {
            if values.is_empty() {
                problems.push(Problem::new(
                    &format!("{at}.values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
            Some(if operator == "In" {
                Requirement::In(key, values)
            } else {
                Requirement::NotIn(key, values)
            })
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                problems.push(Problem::new(
                    &format!("{at}.values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
            Some(if operator == "Exists" {
                Requirement::Exists(key)
            } else {
                Requirement::DoesNotExist(key)
            })
        }
        other => {
            problems.push(Problem::new(
                &format!("{at}.operator"),
                &format!(
                    "not a valid selector operator: {other:?} (In, NotIn, Exists, DoesNotExist)"
                ),
            ));
            None
        }
    }
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters.
fn check_key(key: &str, at: &str, problems: &mut Vec<Problem>) {
    let valid = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_name_part(name),
        None => is_name_part(key),
    };
    if !valid {
        problems.push(Problem::new(
            at,
            &format!(
                "invalid label key {key:?}: a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/'"
            ),
        ));
    }
}

fn check_value(value: &str, at: &str, problems: &mut Vec<Problem>) {
    if !value.is_empty() && !is_name_part(value) {
        problems.push(Problem::new(
            at,
            &format!(
                "invalid label value {value:?}: at most 63 characters, alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric character"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(v: Value) -> (Selector, Vec<Problem>) {
        let mut problems = Vec::new();
        let s = Selector::parse(&v, "spec.podSelector", &mut problems);
        (s, problems)
    }

    #[test]
    fn match_labels_and_every_operator() {
        let (s, p) = parse(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }));
        assert!(p.is_empty(), "{p:?}");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "a"), ("team", "x")])));
        assert!(s.matches(&labels(&[
            ("app", "web"),
            ("tier", "b"),
            ("team", "x"),
            ("env", "dev")
        ])));
        // NotIn also holds when the key is absent; each other clause can fail on its own.
        assert!(!s.matches(&labels(&[("app", "api"), ("tier", "a"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "c"), ("team", "x")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "a"),
            ("team", "x"),
            ("env", "prod")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "a"),
            ("team", "x"),
            ("legacy", "")
        ])));
    }

    #[test]
    fn empty_selector_matches_everything() {
        let (s, p) = parse(json!({}));
        assert!(p.is_empty() && s.is_empty());
        assert!(s.matches(&Labels::new()));
    }

    #[test]
    fn refuses_what_the_api_server_refuses() {
        for bad in [
            json!({"matchLabels": {"app@b": "x"}}),
            json!({"matchLabels": {"app": "-x"}}),
            json!({"matchLabels": {"Example.com/app": "x"}}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
        ] {
            let (_, p) = parse(bad.clone());
            assert!(!p.is_empty(), "{bad} was accepted");
        }
        let (_, p) = parse(json!({"matchLabels": {"example.com/app": "x", "a.b_c-d": ""}}));
        assert!(p.is_empty(), "{p:?}");
    }
}
