//! gator's `Suite` files (`test.gatekeeper.sh/v1alpha1`): which template, constraint and
//! objects each test uses, and what each case asserts. Paths are left to the caller to read.

use regex::Regex;
use serde_json::Value;

use crate::library::Violation;

pub const SUITE_API_VERSION: &str = "test.gatekeeper.sh/v1alpha1";

#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub tests: Vec<Test>,
}

#[derive(Debug, Clone)]
pub struct Test {
    pub name: String,
    /// Path of the template file, relative to the suite file.
    pub template: String,
    /// Path of the constraint file, relative to the suite file.
    pub constraint: String,
    pub cases: Vec<Case>,
    /// The constraint must fail its template's parameters schema.
    pub invalid: bool,
    pub skip: bool,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub object: String,
    pub inventory: Vec<String>,
    pub assertions: Vec<Assertion>,
    pub skip: bool,
}

/// How many violations a case expects: `yes` (at least one), `no`, or exactly N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Some,
    None,
    Exactly(usize),
}

#[derive(Debug, Clone)]
pub struct Assertion {
    pub violations: Expected,
    /// Only violations whose message this (unanchored) regex finds are counted.
    pub message: Option<Regex>,
}

/// An assertion's outcome: how many violations counted, and why it failed if it did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub counted: usize,
    pub failure: Option<String>,
}

impl Suite {
    pub fn is_suite(document: &Value) -> bool {
        document.get("kind").and_then(Value::as_str) == Some("Suite")
            && document.get("apiVersion").and_then(Value::as_str) == Some(SUITE_API_VERSION)
    }

    pub fn from_json(document: &Value) -> Result<Suite, String> {
        let name = document
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut tests = Vec::new();
        for (index, raw) in list(document.get("tests"), "tests")?.iter().enumerate() {
            let at = format!("tests[{index}]");
            let mut cases = Vec::new();
            for (c, raw_case) in list(raw.get("cases"), &format!("{at}.cases"))?
                .iter()
                .enumerate()
            {
                cases.push(Case::from_json(raw_case, &format!("{at}.cases[{c}]"))?);
            }
            tests.push(Test {
                name: text(raw, "name"),
                template: text(raw, "template"),
                constraint: text(raw, "constraint"),
                cases,
                invalid: flag(raw, "invalid"),
                skip: flag(raw, "skip"),
            });
        }
        Ok(Suite { name, tests })
    }
}

impl Case {
    fn from_json(raw: &Value, at: &str) -> Result<Case, String> {
        let inventory = list(raw.get("inventory"), &format!("{at}.inventory"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{at}.inventory: must be a list of paths"))
            })
            .collect::<Result<_, _>>()?;
        let mut assertions = Vec::new();
        for (index, a) in list(raw.get("assertions"), &format!("{at}.assertions"))?
            .iter()
            .enumerate()
        {
            assertions.push(Assertion::from_json(
                a,
                &format!("{at}.assertions[{index}]"),
            )?);
        }
        Ok(Case {
            name: text(raw, "name"),
            object: text(raw, "object"),
            inventory,
            assertions,
            skip: flag(raw, "skip"),
        })
    }
}

impl Assertion {
    fn from_json(raw: &Value, at: &str) -> Result<Assertion, String> {
        let violations = match raw.get("violations") {
            None | Some(Value::Null) => Expected::Some,
            // Suites are YAML 1.2 for gator, but a YAML 1.1 reader turns yes/no into booleans.
            Some(Value::Bool(true)) => Expected::Some,
            Some(Value::Bool(false)) => Expected::None,
            Some(Value::String(s)) if s == "yes" => Expected::Some,
            Some(Value::String(s)) if s == "no" => Expected::None,
            Some(Value::String(s)) => match s.parse::<usize>() {
                Ok(n) => Expected::Exactly(n),
                Err(_) => return Err(format!("{at}.violations: {s:?} is not yes, no or a count")),
            },
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => Expected::Exactly(n),
                None => return Err(format!("{at}.violations: {n} is not a count")),
            },
            Some(other) => {
                return Err(format!(
                    "{at}.violations: {other} is not yes, no or a count"
                ))
            }
        };
        let message = match raw.get("message").and_then(Value::as_str) {
            Some(pattern) => {
                Some(Regex::new(pattern).map_err(|e| format!("{at}.message: invalid regex: {e}"))?)
            }
            None => None,
        };
        Ok(Assertion {
            violations,
            message,
        })
    }

    /// Counts the violations this assertion looks at and compares with what it expects.
    pub fn check(&self, violations: &[Violation]) -> Outcome {
        let counted = violations
            .iter()
            .filter(|v| {
                self.message
                    .as_ref()
                    .is_none_or(|re| re.is_match(&v.message))
            })
            .count();
        let about = match &self.message {
            Some(re) => format!(" matching {:?}", re.as_str()),
            None => String::new(),
        };
        let failure = match self.violations {
            Expected::Some if counted == 0 => {
                Some(format!("got 0 violations{about} but want at least 1"))
            }
            Expected::None if counted > 0 => {
                Some(format!("got {counted} violations{about} but want none"))
            }
            Expected::Exactly(n) if counted != n => Some(format!(
                "got {counted} violations{about} but want exactly {n}"
            )),
            _ => None,
        };
        Outcome { counted, failure }
    }
}

fn list<'a>(raw: Option<&'a Value>, at: &str) -> Result<&'a [Value], String> {
    match raw {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{at}: must be a list")),
    }
}

fn text(raw: &Value, key: &str) -> String {
    raw.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn flag(raw: &Value, key: &str) -> bool {
    raw.get(key).and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EnforcementAction;
    use serde_json::json;

    fn violation(message: &str) -> Violation {
        Violation {
            constraint_kind: "K".into(),
            constraint_name: "c".into(),
            message: message.into(),
            details: Value::Null,
            action: EnforcementAction::Deny,
            error: false,
        }
    }

    fn assertion(raw: Value) -> Assertion {
        Assertion::from_json(&raw, "a").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn yes_no_and_counts() {
        let two = [violation("a"), violation("b")];
        assert!(assertion(json!({"violations": "yes"}))
            .check(&two)
            .failure
            .is_none());
        assert!(assertion(json!({"violations": true}))
            .check(&[])
            .failure
            .is_some());
        assert!(assertion(json!({"violations": "no"}))
            .check(&two)
            .failure
            .is_some());
        assert!(assertion(json!({"violations": 2}))
            .check(&two)
            .failure
            .is_none());
        assert!(assertion(json!({"violations": 1}))
            .check(&two)
            .failure
            .is_some());
        assert!(assertion(json!({})).check(&two).failure.is_none());
    }

    #[test]
    fn messages_filter_unanchored() {
        let found = [
            violation("container nginx is privileged"),
            violation("other"),
        ];
        let outcome = assertion(json!({"violations": 1, "message": "nginx"})).check(&found);
        assert_eq!(outcome.counted, 1);
        assert!(outcome.failure.is_none());
        assert!(assertion(json!({"violations": "no", "message": "^nginx"}))
            .check(&found)
            .failure
            .is_none());
        assert!(Assertion::from_json(&json!({"message": "("}), "a").is_err());
    }
}
