//! Kubernetes' CEL libraries (k8s.io/apiserver/pkg/cel/library) on top of cel-go's standard
//! library and its strings, lists and math extensions, which the `cel` crate provides: the
//! list functions (`isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf`), `sets.*`, and
//! the regex functions `find` and `findAll` (quantities, semantic versions, IP addresses and
//! CIDRs are in `cel_quantity`, `cel_semver` and `cel_net`). The Kubernetes URL functions are
//! not declared: a template calling them is refused when it is loaded ([`UNSUPPORTED`]), never
//! evaluated wrong.

use std::cmp::Ordering;

use cel::common::traits::Iterable;
use cel::common::types::{
    CelBool, CelInt, CelList, CelString, DYN_TYPE, INT_TYPE, LIST_TYPE, STRING_TYPE,
};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

/// Kubernetes library functions this build does not declare, by name.
pub(crate) const UNSUPPORTED: &[&str] = &[
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
];

pub(crate) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload("isSorted", "list.isSorted()", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "list.sum()", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "list.min()", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "list.max()", LIST_TYPE, vec![], max)?;
    env.add_member_overload(
        "indexOf",
        "list.indexOf(dyn)",
        LIST_TYPE,
        vec![DYN_TYPE],
        index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "list.lastIndexOf(dyn)",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of,
    )?;
    for (name, op) in [
        (
            "sets.contains",
            sets_contains as cel::common::functions::Function,
        ),
        ("sets.equivalent", sets_equivalent),
        ("sets.intersects", sets_intersects),
    ] {
        env.add_overload(
            name,
            &format!("{name}(list, list)"),
            vec![LIST_TYPE, LIST_TYPE],
            op,
        )?;
    }
    env.add_member_overload(
        "find",
        "string.find(string)",
        STRING_TYPE,
        vec![STRING_TYPE],
        find,
    )?;
    env.add_member_overload(
        "findAll",
        "string.findAll(string)",
        STRING_TYPE,
        vec![STRING_TYPE],
        find_all,
    )?;
    env.add_member_overload(
        "findAll",
        "string.findAll(string, int)",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        find_all_limited,
    )?;
    Ok(())
}

/// The `index`th argument; the overload's declaration guarantees it, so a missing one is an
/// error, not a panic.
fn arg<'a, 'b, 'v>(
    args: &'a [CowVal<'b, 'v>],
    index: usize,
) -> Result<&'a (dyn Val + 'v), ExecutionError> {
    args.get(index).map(|v| v.as_ref()).ok_or_else(|| {
        ExecutionError::function_error("call", format!("argument {index} is missing"))
    })
}

pub(crate) fn function_error(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// `isGreaterThan`, `isLessThan` or `compareTo`'s answer for `ordering` (quantities, semvers).
pub(crate) fn comparison<'b, 'v>(
    function: &str,
    ordering: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    match function {
        "isGreaterThan" => owned(CelBool::from(ordering == Ordering::Greater)),
        "isLessThan" => owned(CelBool::from(ordering == Ordering::Less)),
        _ => owned(CelInt::from(ordering as i64)),
    }
}

fn elements<'b, 'v>(
    function: &str,
    list: &'b (dyn Val + 'v),
) -> Result<Vec<&'b (dyn Val + 'v)>, ExecutionError> {
    let iterable: &(dyn Iterable + 'v) = list
        .as_iterable()
        .ok_or_else(|| function_error(function, "not a list"))?;
    let mut out = Vec::new();
    let mut it = iterable.iter();
    while let Some(v) = it.next() {
        out.push(v);
    }
    Ok(out)
}

fn compare(function: &str, a: &dyn Val, b: &dyn Val) -> Result<Ordering, ExecutionError> {
    a.as_comparer()
        .ok_or_else(|| {
            function_error(
                function,
                format!("{} values cannot be ordered", a.get_type().name()),
            )
        })?
        .compare(b)
}

pub(crate) fn owned<'b, 'v>(value: impl Val + 'v) -> Result<CowVal<'b, 'v>, ExecutionError> {
    Ok(CowVal::Owned(Box::new(value)))
}

fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = elements("isSorted", arg(&args, 0)?)?;
    for pair in list.windows(2) {
        if compare("isSorted", pair[0], pair[1])? == Ordering::Greater {
            return owned(CelBool::from(false));
        }
    }
    owned(CelBool::from(true))
}

fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = elements("sum", arg(&args, 0)?)?;
    let Some((first, rest)) = list.split_first() else {
        // Kubernetes: the sum of an empty list is the zero of its element type; untyped here.
        return owned(CelInt::from(0));
    };
    let mut total: Box<dyn Val + 'v> = first.clone_as_boxed();
    for v in rest {
        let next = total
            .as_adder()
            .ok_or_else(|| {
                function_error(
                    "sum",
                    format!("{} values cannot be added", total.get_type().name()),
                )
            })?
            .add(*v)?
            .into_owned();
        total = next;
    }
    Ok(CowVal::Owned(total))
}

fn extreme<'b, 'v>(
    function: &str,
    args: Vec<CowVal<'b, 'v>>,
    keep: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = elements(function, arg(&args, 0)?)?;
    let Some((first, rest)) = list.split_first() else {
        return Err(function_error(function, "the list is empty"));
    };
    let mut best = *first;
    for v in rest {
        if compare(function, *v, best)? == keep {
            best = *v;
        }
    }
    Ok(CowVal::Owned(best.clone_as_boxed()))
}

fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("min", args, Ordering::Less)
}

fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("max", args, Ordering::Greater)
}

fn index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = elements("indexOf", arg(&args, 0)?)?;
    let needle = arg(&args, 1)?;
    let found = list.iter().position(|v| v.equals(needle));
    owned(CelInt::from(found.map_or(-1, |i| i as i64)))
}

fn last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = elements("lastIndexOf", arg(&args, 0)?)?;
    let needle = arg(&args, 1)?;
    let found = list.iter().rposition(|v| v.equals(needle));
    owned(CelInt::from(found.map_or(-1, |i| i as i64)))
}

fn contains_all(function: &str, outer: &dyn Val, inner: &dyn Val) -> Result<bool, ExecutionError> {
    let outer = elements(function, outer)?;
    Ok(elements(function, inner)?
        .iter()
        .all(|v| outer.iter().any(|o| o.equals(*v))))
}

fn sets_contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let yes = contains_all("sets.contains", arg(&args, 0)?, arg(&args, 1)?)?;
    owned(CelBool::from(yes))
}

fn sets_equivalent<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let yes = contains_all("sets.equivalent", arg(&args, 0)?, arg(&args, 1)?)?
        && contains_all("sets.equivalent", arg(&args, 1)?, arg(&args, 0)?)?;
    owned(CelBool::from(yes))
}

fn sets_intersects<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let first = elements("sets.intersects", arg(&args, 0)?)?;
    let second = elements("sets.intersects", arg(&args, 1)?)?;
    let yes = first.iter().any(|a| second.iter().any(|b| a.equals(*b)));
    owned(CelBool::from(yes))
}

fn text<'a>(function: &str, value: &'a dyn Val) -> Result<&'a str, ExecutionError> {
    value
        .downcast_ref::<CelString>()
        .map(|s| s.inner())
        .ok_or_else(|| function_error(function, "expected a string"))
}

fn regex(function: &str, pattern: &str) -> Result<regex::Regex, ExecutionError> {
    regex::Regex::new(pattern).map_err(|e| function_error(function, e))
}

fn find<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let subject = text("find", arg(&args, 0)?)?;
    let re = regex("find", text("find", arg(&args, 1)?)?)?;
    let found = re.find(subject).map_or("", |m| m.as_str());
    owned(CelString::from(found.to_string()))
}

fn all_matches<'b, 'v>(
    args: &[CowVal<'b, 'v>],
    limit: Option<i64>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let subject = text("findAll", arg(args, 0)?)?;
    let re = regex("findAll", text("findAll", arg(args, 1)?)?)?;
    // A negative limit means all matches, as in Go's FindAllString.
    let limit = limit
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX);
    let found: Vec<Box<dyn Val + 'v>> = re
        .find_iter(subject)
        .take(limit)
        .map(|m| Box::new(CelString::from(m.as_str().to_string())) as Box<dyn Val + 'v>)
        .collect();
    owned(CelList::from(found))
}

fn find_all<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    all_matches(&args, None)
}

fn find_all_limited<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let limit = arg(&args, 2)?
        .downcast_ref::<CelInt>()
        .map(|n| *n.inner())
        .ok_or_else(|| function_error("findAll", "expected an int limit"))?;
    all_matches(&args, Some(limit))
}
