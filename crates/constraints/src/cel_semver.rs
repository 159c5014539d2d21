//! Kubernetes' CEL semver library: `semver('1.2.3')` (strict Semantic Versioning 2.0.0),
//! `semver(' v1.2', true)` (normalized: a leading `v` dropped, missing minor and patch added,
//! leading zeros removed), `isSemver`, `major`/`minor`/`patch`, and comparisons by
//! precedence (build metadata ignored).

use std::any::Any;
use std::cmp::Ordering;

use cel::common::types::{CelBool, CelInt, CelString, Type, BOOL_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

use crate::cel_k8s::{comparison, function_error as error, owned};

static SEMVER: Type = Type::new_unspecified_type("kubernetes.Semver");
const SEMVER_TYPE: Type = Type::new_unspecified_type("kubernetes.Semver");

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Semver(semver::Version);

impl Semver {
    fn parse(text: &str, normalize: bool) -> Result<Semver, String> {
        let normalized;
        let text = if normalize {
            normalized = normalized_version(text);
            normalized.as_str()
        } else {
            text
        };
        semver::Version::parse(text)
            .map(Semver)
            .map_err(|e| format!("{text:?} is not a semantic version: {e}"))
    }
}

/// `v1.02` → `1.2.0`: what Kubernetes' `semver(s, true)` accepts before parsing.
fn normalized_version(text: &str) -> String {
    let text = text.strip_prefix('v').unwrap_or(text);
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let mut parts: Vec<String> = core
        .split('.')
        .map(|p| {
            let trimmed = p.trim_start_matches('0');
            if trimmed.is_empty() && !p.is_empty() {
                "0".to_string()
            } else {
                trimmed.to_string()
            }
        })
        .collect();
    while parts.len() < 3 {
        parts.push("0".into());
    }
    format!("{}{rest}", parts.join("."))
}

impl Val for Semver {
    fn get_type(&self) -> &Type {
        <Self as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        &SEMVER
    }

    fn equals(&self, other: &dyn Val) -> bool {
        other
            .downcast_ref::<Semver>()
            .is_some_and(|o| self.0.cmp_precedence(&o.0) == Ordering::Equal)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for Semver {}

pub(crate) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload("semver", "semver(string)", vec![STRING_TYPE], semver)?;
    env.add_overload(
        "semver",
        "semver(string, bool)",
        vec![STRING_TYPE, BOOL_TYPE],
        semver,
    )?;
    env.add_overload("isSemver", "isSemver(string)", vec![STRING_TYPE], is_semver)?;
    env.add_overload(
        "isSemver",
        "isSemver(string, bool)",
        vec![STRING_TYPE, BOOL_TYPE],
        is_semver,
    )?;
    for (name, op) in [
        ("major", major as cel::common::functions::Function),
        ("minor", minor),
        ("patch", patch),
    ] {
        env.add_member_overload(
            name,
            &format!("kubernetes.Semver.{name}()"),
            SEMVER_TYPE,
            vec![],
            op,
        )?;
    }
    for (name, op) in [
        (
            "isGreaterThan",
            is_greater_than as cel::common::functions::Function,
        ),
        ("isLessThan", is_less_than),
        ("compareTo", compare_to),
    ] {
        env.add_member_overload(
            name,
            &format!("kubernetes.Semver.{name}(kubernetes.Semver)"),
            SEMVER_TYPE,
            vec![SEMVER_TYPE],
            op,
        )?;
    }
    Ok(())
}

/// The string to parse and whether to normalize it first.
fn source<'a>(
    function: &str,
    args: &'a [CowVal<'_, '_>],
) -> Result<(&'a str, bool), ExecutionError> {
    let text = args
        .first()
        .and_then(|v| v.downcast_ref::<CelString>())
        .map(|s| s.inner())
        .ok_or_else(|| error(function, "expected a string"))?;
    let normalize = args
        .get(1)
        .and_then(|v| v.downcast_ref::<CelBool>())
        .is_some_and(|b| *b.inner());
    Ok((text, normalize))
}

fn version(
    function: &str,
    args: &[CowVal<'_, '_>],
    index: usize,
) -> Result<Semver, ExecutionError> {
    args.get(index)
        .and_then(|v| v.downcast_ref::<Semver>())
        .cloned()
        .ok_or_else(|| error(function, "expected a semver"))
}

fn semver<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (text, normalize) = source("semver", &args)?;
    owned(Semver::parse(text, normalize).map_err(|e| error("semver", e))?)
}

fn is_semver<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (text, normalize) = source("isSemver", &args)?;
    owned(CelBool::from(Semver::parse(text, normalize).is_ok()))
}

fn part(function: &str, value: u64) -> Result<CelInt, ExecutionError> {
    i64::try_from(value)
        .map(CelInt::from)
        .map_err(|_| error(function, "the version number overflows int"))
}

fn major<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(part("major", version("major", &args, 0)?.0.major)?)
}

fn minor<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(part("minor", version("minor", &args, 0)?.0.minor)?)
}

fn patch<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(part("patch", version("patch", &args, 0)?.0.patch)?)
}

fn ordering(function: &str, args: &[CowVal<'_, '_>]) -> Result<Ordering, ExecutionError> {
    Ok(version(function, args, 0)?
        .0
        .cmp_precedence(&version(function, args, 1)?.0))
}

fn is_greater_than<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    comparison("isGreaterThan", ordering("isGreaterThan", &args)?)
}

fn is_less_than<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    comparison("isLessThan", ordering("isLessThan", &args)?)
}

fn compare_to<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    comparison("compareTo", ordering("compareTo", &args)?)
}

#[cfg(test)]
mod tests {
    use super::{normalized_version, Semver};

    #[test]
    fn strict_unless_normalized() {
        assert!(Semver::parse("1.2.3-rc.1+build", false).is_ok());
        for bad in ["v1.2.3", "1.2", "01.2.3", "1.2.3.4", ""] {
            assert!(Semver::parse(bad, false).is_err(), "{bad:?}");
        }
        assert_eq!(normalized_version("v1.02"), "1.2.0");
        assert_eq!(normalized_version("1"), "1.0.0");
        assert_eq!(normalized_version("v01.0.3-rc.1"), "1.0.3-rc.1");
        assert!(Semver::parse("v1.2", true).is_ok());
    }
}
