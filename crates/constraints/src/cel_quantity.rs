//! Kubernetes' CEL quantity library (`quantity('500m')`, `isQuantity`, comparisons and
//! arithmetic), over quantities parsed as `resource.Quantity` parses them: a signed decimal,
//! then a binary (`Ki` … `Ei`), decimal SI (`n` … `E`) or exponent (`e3`) suffix. Values are
//! exact: a mantissa and a power of ten (binary suffixes multiplied in).

use std::any::Any;
use std::cmp::Ordering;

use cel::common::types::{CelBool, CelDouble, CelInt, CelString, Type, INT_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

use crate::cel_k8s::{comparison, function_error as error, owned};

static QUANTITY: Type = Type::new_unspecified_type("kubernetes.Quantity");
const QUANTITY_TYPE: Type = Type::new_unspecified_type("kubernetes.Quantity");

/// `mantissa × 10^exponent`, with no trailing zeros in the mantissa (so equal values are equal
/// structs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quantity {
    mantissa: i128,
    exponent: i32,
}

impl Quantity {
    fn new(mut mantissa: i128, mut exponent: i32) -> Quantity {
        if mantissa == 0 {
            return Quantity {
                mantissa: 0,
                exponent: 0,
            };
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Quantity { mantissa, exponent }
    }

    /// Parses as Kubernetes' `resource.ParseQuantity` accepts.
    pub(crate) fn parse(text: &str) -> Result<Quantity, String> {
        let invalid = || {
            format!("{text:?} is not a quantity: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        };
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (number, suffix) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        let mut mantissa: i128 = 0;
        for digit in whole.bytes().chain(fraction.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(digit - b'0')))
                .ok_or_else(|| format!("{text:?}: the quantity is too large"))?;
        }
        let mut exponent = -i32::try_from(fraction.len()).map_err(|_| invalid())?;
        let binary = |power: u32| -> Result<i128, String> {
            mantissa
                .checked_mul(1i128 << (10 * power))
                .ok_or_else(|| format!("{text:?}: the quantity is too large"))
        };
        match suffix {
            "" => {}
            "Ki" => mantissa = binary(1)?,
            "Mi" => mantissa = binary(2)?,
            "Gi" => mantissa = binary(3)?,
            "Ti" => mantissa = binary(4)?,
            "Pi" => mantissa = binary(5)?,
            "Ei" => mantissa = binary(6)?,
            "n" => exponent -= 9,
            "u" => exponent -= 6,
            "m" => exponent -= 3,
            "k" => exponent += 3,
            "M" => exponent += 6,
            "G" => exponent += 9,
            "T" => exponent += 12,
            "P" => exponent += 15,
            "E" => exponent += 18,
            _ => {
                let power = suffix
                    .strip_prefix(['e', 'E'])
                    .filter(|p| {
                        let digits = p.strip_prefix(['+', '-']).unwrap_or(p);
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|p| p.parse::<i32>().ok())
                    .filter(|p| p.abs() <= 1000)
                    .ok_or_else(invalid)?;
                exponent += power;
            }
        }
        Ok(Quantity::new(
            if negative { -mantissa } else { mantissa },
            exponent,
        ))
    }

    fn sign(self) -> i64 {
        self.mantissa.signum() as i64
    }

    /// `self` with its mantissa scaled to `exponent` (lower than its own), if that fits.
    fn scaled_to(self, exponent: i32) -> Option<i128> {
        let steps = u32::try_from(self.exponent - exponent).ok()?;
        10i128
            .checked_pow(steps)
            .and_then(|f| self.mantissa.checked_mul(f))
    }

    fn compare(self, other: Quantity) -> Ordering {
        match self.sign().cmp(&other.sign()) {
            Ordering::Equal if self.mantissa == 0 => return Ordering::Equal,
            Ordering::Equal => {}
            unequal => return unequal,
        }
        let low = self.exponent.min(other.exponent);
        let magnitude = match (self.scaled_to(low), other.scaled_to(low)) {
            (Some(a), Some(b)) => return a.cmp(&b),
            // Only the one with the higher exponent can overflow: its magnitude is the larger.
            (None, _) => Ordering::Greater,
            (_, None) => Ordering::Less,
        };
        if self.sign() < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }

    fn add(self, other: Quantity) -> Result<Quantity, String> {
        let low = self.exponent.min(other.exponent);
        match (self.scaled_to(low), other.scaled_to(low)) {
            (Some(a), Some(b)) => a
                .checked_add(b)
                .map(|m| Quantity::new(m, low))
                .ok_or_else(|| "the sum overflows".to_string()),
            _ => Err("the sum overflows".into()),
        }
    }

    fn negated(self) -> Result<Quantity, String> {
        self.mantissa
            .checked_neg()
            .map(|m| Quantity::new(m, self.exponent))
            .ok_or_else(|| "the difference overflows".to_string())
    }

    fn as_integer(self) -> Option<i64> {
        if self.exponent < 0 {
            return None;
        }
        self.scaled_to(0).and_then(|v| i64::try_from(v).ok())
    }

    fn as_float(self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent)
    }
}

impl Val for Quantity {
    fn get_type(&self) -> &Type {
        <Self as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        &QUANTITY
    }

    fn equals(&self, other: &dyn Val) -> bool {
        other
            .downcast_ref::<Quantity>()
            .is_some_and(|o| self.compare(*o) == Ordering::Equal)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(*self)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for Quantity {}

pub(crate) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload("quantity", "quantity(string)", vec![STRING_TYPE], quantity)?;
    env.add_overload(
        "isQuantity",
        "isQuantity(string)",
        vec![STRING_TYPE],
        is_quantity,
    )?;
    let member = |env: &mut Env,
                  name: &str,
                  args: Vec<Type>,
                  op: cel::common::functions::Function|
     -> Result<(), DeclarationError> {
        let id = format!("kubernetes.Quantity.{name}({})", args.len());
        env.add_member_overload(name, &id, QUANTITY_TYPE, args, op)
    };
    member(env, "sign", vec![], sign)?;
    // Kubernetes declares `sign` as a global function too.
    env.add_overload(
        "sign",
        "sign(kubernetes.Quantity)",
        vec![QUANTITY_TYPE],
        sign,
    )?;
    member(env, "isInteger", vec![], is_integer)?;
    member(env, "asInteger", vec![], as_integer)?;
    member(env, "asApproximateFloat", vec![], as_approximate_float)?;
    member(env, "isGreaterThan", vec![QUANTITY_TYPE], is_greater_than)?;
    member(env, "isLessThan", vec![QUANTITY_TYPE], is_less_than)?;
    member(env, "compareTo", vec![QUANTITY_TYPE], compare_to)?;
    member(env, "add", vec![QUANTITY_TYPE], add)?;
    member(env, "sub", vec![QUANTITY_TYPE], sub)?;
    env.add_member_overload(
        "add",
        "kubernetes.Quantity.add(int)",
        QUANTITY_TYPE,
        vec![INT_TYPE],
        add,
    )?;
    env.add_member_overload(
        "sub",
        "kubernetes.Quantity.sub(int)",
        QUANTITY_TYPE,
        vec![INT_TYPE],
        sub,
    )?;
    Ok(())
}

fn nth<'a, 'b, 'v>(
    function: &str,
    args: &'a [CowVal<'b, 'v>],
    index: usize,
) -> Result<&'a (dyn Val + 'v), ExecutionError> {
    args.get(index)
        .map(|v| v.as_ref())
        .ok_or_else(|| error(function, format!("argument {index} is missing")))
}

/// The quantity argument, or an int one taken as a quantity.
fn quantity_arg(
    function: &str,
    args: &[CowVal<'_, '_>],
    index: usize,
) -> Result<Quantity, ExecutionError> {
    let value = nth(function, args, index)?;
    if let Some(q) = value.downcast_ref::<Quantity>() {
        return Ok(*q);
    }
    value
        .downcast_ref::<CelInt>()
        .map(|i| Quantity::new(i128::from(*i.inner()), 0))
        .ok_or_else(|| error(function, "expected a quantity"))
}

fn text_arg<'a>(function: &str, value: &'a dyn Val) -> Result<&'a str, ExecutionError> {
    value
        .downcast_ref::<CelString>()
        .map(|s| s.inner())
        .ok_or_else(|| error(function, "expected a string"))
}

fn quantity<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = text_arg("quantity", nth("quantity", &args, 0)?)?;
    owned(Quantity::parse(text).map_err(|e| error("quantity", e))?)
}

fn is_quantity<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = text_arg("isQuantity", nth("isQuantity", &args, 0)?)?;
    owned(CelBool::from(Quantity::parse(text).is_ok()))
}

fn sign<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(CelInt::from(quantity_arg("sign", &args, 0)?.sign()))
}

fn is_integer<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let q = quantity_arg("isInteger", &args, 0)?;
    owned(CelBool::from(q.as_integer().is_some()))
}

fn as_integer<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let q = quantity_arg("asInteger", &args, 0)?;
    let value = q.as_integer().ok_or_else(|| {
        error(
            "asInteger",
            "cannot convert value to integer: it has a fraction or overflows int",
        )
    })?;
    owned(CelInt::from(value))
}

fn as_approximate_float<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let q = quantity_arg("asApproximateFloat", &args, 0)?;
    owned(CelDouble::from(q.as_float()))
}

fn ordering(function: &str, args: &[CowVal<'_, '_>]) -> Result<Ordering, ExecutionError> {
    Ok(quantity_arg(function, args, 0)?.compare(quantity_arg(function, args, 1)?))
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

fn add<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let sum = quantity_arg("add", &args, 0)?
        .add(quantity_arg("add", &args, 1)?)
        .map_err(|e| error("add", e))?;
    owned(sum)
}

fn sub<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let difference = quantity_arg("sub", &args, 0)?
        .add(
            quantity_arg("sub", &args, 1)?
                .negated()
                .map_err(|e| error("sub", e))?,
        )
        .map_err(|e| error("sub", e))?;
    owned(difference)
}

#[cfg(test)]
mod tests {
    use super::Quantity;
    use std::cmp::Ordering;

    #[test]
    fn parses_as_kubernetes_does() {
        let q = |s: &str| Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("500m"), q("0.5"));
        assert_eq!(q("1.5Gi"), q("1610612736"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E-3"), q("1m"));
        assert_eq!(q("+.5"), q("500m"));
        assert_eq!(q("-2"), Quantity::new(-2, 0));
        assert_eq!(q("5."), q("5"));
        for bad in [
            "", "k", "1.2.3", "1 k", "1kb", "1Ki2", "--1", "1e", "0x10", "1e+",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn compares_exactly_across_suffixes_and_signs() {
        let q = |s: &str| Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q("1Gi").compare(q("1G")), Ordering::Greater);
        assert_eq!(q("999m").compare(q("1")), Ordering::Less);
        assert_eq!(q("-1").compare(q("0")), Ordering::Less);
        assert_eq!(q("-2").compare(q("-1")), Ordering::Less);
        assert_eq!(q("1e30").compare(q("7Ei")), Ordering::Greater);
        assert_eq!(q("-1e30").compare(q("-7Ei")), Ordering::Less);
        assert_eq!(q("1e400").compare(q("1")), Ordering::Greater);
        assert_eq!(q("0").compare(q("0m")), Ordering::Equal);
        assert_eq!(q("1.5").add(q("500m")), Ok(q("2")));
        assert_eq!(q("2Ki").as_integer(), Some(2048));
        assert_eq!(q("1.5").as_integer(), None);
        assert_eq!(q("1e30").as_integer(), None);
    }
}
