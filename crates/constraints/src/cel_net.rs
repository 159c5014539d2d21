//! Kubernetes' CEL IP and CIDR libraries: `ip('10.0.0.1')`, `isIP`, `ip.isCanonical`,
//! `family`, `isUnspecified`, `isLoopback`, `isLinkLocalMulticast`, `isLinkLocalUnicast`,
//! `isGlobalUnicast`; `cidr('10.0.0.0/8')`, `isCIDR`, `containsIP`, `containsCIDR`, `ip`,
//! `masked`, `prefixLength`; `string()` of both. As Kubernetes, IPv4-mapped IPv6 addresses and
//! zones are refused, and leading zeros in an IPv4 address too.

use std::any::Any;
use std::net::IpAddr;

use cel::common::types::{CelBool, CelInt, CelString, Type, STRING_TYPE};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

use crate::cel_k8s::{function_error as error, owned};

static IP: Type = Type::new_unspecified_type("net.IP");
const IP_TYPE: Type = Type::new_unspecified_type("net.IP");
static CIDR: Type = Type::new_unspecified_type("net.CIDR");
const CIDR_TYPE: Type = Type::new_unspecified_type("net.CIDR");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ip(IpAddr);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    address: IpAddr,
    length: u8,
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    if text.contains('%') {
        return Err(format!(
            "{text:?}: IP address with zone value is not allowed"
        ));
    }
    let address: IpAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address"))?;
    if let IpAddr::V6(v6) = address {
        if v6.to_ipv4_mapped().is_some() {
            return Err(format!("{text:?}: IPv4-mapped IPv6 address is not allowed"));
        }
    }
    Ok(address)
}

fn parse_cidr(text: &str) -> Result<Cidr, String> {
    let (address, length) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not a CIDR: no /prefix length"))?;
    let address = parse_ip(address)?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let length: u8 = length
        .parse()
        .ok()
        .filter(|l: &u8| {
            *l <= max
                && length.bytes().all(|b| b.is_ascii_digit())
                && (length == "0" || !length.starts_with('0'))
        })
        .ok_or_else(|| format!("{text:?} is not a CIDR: bad prefix length"))?;
    Ok(Cidr { address, length })
}

/// The address with all but its first `length` bits cleared.
fn mask(address: IpAddr, length: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

impl Cidr {
    fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.address.is_ipv4()
            && mask(address, self.length) == mask(self.address, self.length)
    }
}

impl Ip {
    fn is_link_local_multicast(&self) -> bool {
        match self.0 {
            IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
            IpAddr::V6(v6) => v6.segments()[0] & 0xff0f == 0xff02,
        }
    }

    fn is_link_local_unicast(&self) -> bool {
        match self.0 {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        }
    }

    /// Go's `IsGlobalUnicast`: anything but unspecified, loopback, multicast, link-local
    /// unicast and the IPv4 broadcast address (private ranges included).
    fn is_global_unicast(&self) -> bool {
        let broadcast = matches!(self.0, IpAddr::V4(v4) if v4.is_broadcast());
        !(self.0.is_unspecified()
            || self.0.is_loopback()
            || self.0.is_multicast()
            || self.is_link_local_unicast()
            || broadcast)
    }
}

macro_rules! static_val {
    ($ty:ty, $static:ident) => {
        impl Val for $ty {
            fn get_type(&self) -> &Type {
                <Self as Val>::cel_type()
            }

            fn cel_type() -> &'static Type {
                &$static
            }

            fn equals(&self, other: &dyn Val) -> bool {
                other.downcast_ref::<$ty>().is_some_and(|o| o == self)
            }

            fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
                Box::new(*self)
            }

            fn as_any(&self) -> Option<&dyn Any> {
                Some(self)
            }
        }

        impl StaticVal for $ty {}
    };
}

static_val!(Ip, IP);
static_val!(Cidr, CIDR);

type Function = cel::common::functions::Function;

pub(crate) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload("ip", "ip(string)", vec![STRING_TYPE], ip)?;
    env.add_overload("isIP", "isIP(string)", vec![STRING_TYPE], is_ip)?;
    env.add_overload(
        "ip.isCanonical",
        "ip.isCanonical(string)",
        vec![STRING_TYPE],
        is_canonical,
    )?;
    env.add_overload("cidr", "cidr(string)", vec![STRING_TYPE], cidr)?;
    env.add_overload("isCIDR", "isCIDR(string)", vec![STRING_TYPE], is_cidr)?;
    env.add_overload("string", "string(net.IP)", vec![IP_TYPE], to_string)?;
    env.add_overload("string", "string(net.CIDR)", vec![CIDR_TYPE], to_string)?;
    let ip_members: [(&str, Function); 6] = [
        ("family", family),
        ("isUnspecified", is_unspecified),
        ("isLoopback", is_loopback),
        ("isLinkLocalMulticast", is_link_local_multicast),
        ("isLinkLocalUnicast", is_link_local_unicast),
        ("isGlobalUnicast", is_global_unicast),
    ];
    for (name, op) in ip_members {
        env.add_member_overload(name, &format!("net.IP.{name}()"), IP_TYPE, vec![], op)?;
    }
    let cidr_members: [(&str, Vec<Type>, Function); 7] = [
        ("containsIP", vec![IP_TYPE], contains_ip),
        ("containsIP", vec![STRING_TYPE], contains_ip),
        ("containsCIDR", vec![CIDR_TYPE], contains_cidr),
        ("containsCIDR", vec![STRING_TYPE], contains_cidr),
        ("ip", vec![], cidr_ip),
        ("masked", vec![], masked),
        ("prefixLength", vec![], prefix_length),
    ];
    for (name, args, op) in cidr_members {
        let id = format!(
            "net.CIDR.{name}({})",
            args.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
        );
        env.add_member_overload(name, &id, CIDR_TYPE, args, op)?;
    }
    Ok(())
}

fn text<'a>(
    function: &str,
    args: &'a [CowVal<'_, '_>],
    index: usize,
) -> Result<&'a str, ExecutionError> {
    args.get(index)
        .and_then(|v| v.downcast_ref::<CelString>())
        .map(|s| s.inner())
        .ok_or_else(|| error(function, "expected a string"))
}

fn ip_arg(function: &str, args: &[CowVal<'_, '_>], index: usize) -> Result<IpAddr, ExecutionError> {
    let value = args
        .get(index)
        .ok_or_else(|| error(function, "expected an IP"))?;
    if let Some(ip) = value.downcast_ref::<Ip>() {
        return Ok(ip.0);
    }
    parse_ip(text(function, args, index)?).map_err(|e| error(function, e))
}

fn cidr_arg(function: &str, args: &[CowVal<'_, '_>], index: usize) -> Result<Cidr, ExecutionError> {
    let value = args
        .get(index)
        .ok_or_else(|| error(function, "expected a CIDR"))?;
    if let Some(cidr) = value.downcast_ref::<Cidr>() {
        return Ok(*cidr);
    }
    parse_cidr(text(function, args, index)?).map_err(|e| error(function, e))
}

fn ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(Ip(ip_arg("ip", &args, 0)?))
}

fn is_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(CelBool::from(parse_ip(text("isIP", &args, 0)?).is_ok()))
}

fn is_canonical<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let source = text("ip.isCanonical", &args, 0)?;
    let address = parse_ip(source).map_err(|e| error("ip.isCanonical", e))?;
    owned(CelBool::from(address.to_string() == source))
}

fn cidr<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(cidr_arg("cidr", &args, 0)?)
}

fn is_cidr<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(CelBool::from(parse_cidr(text("isCIDR", &args, 0)?).is_ok()))
}

fn to_string<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let value = args
        .first()
        .ok_or_else(|| error("string", "expected a value"))?;
    let text = if let Some(ip) = value.downcast_ref::<Ip>() {
        ip.0.to_string()
    } else if let Some(cidr) = value.downcast_ref::<Cidr>() {
        format!("{}/{}", cidr.address, cidr.length)
    } else {
        return Err(error("string", "expected an IP or a CIDR"));
    };
    owned(CelString::from(text))
}

fn ip_predicate<'b, 'v>(
    function: &str,
    args: &[CowVal<'b, 'v>],
    test: impl Fn(Ip) -> bool,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(CelBool::from(test(Ip(ip_arg(function, args, 0)?))))
}

fn family<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let address = ip_arg("family", &args, 0)?;
    owned(CelInt::from(if address.is_ipv4() { 4 } else { 6 }))
}

fn is_unspecified<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    ip_predicate("isUnspecified", &args, |ip| ip.0.is_unspecified())
}

fn is_loopback<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    ip_predicate("isLoopback", &args, |ip| ip.0.is_loopback())
}

fn is_link_local_multicast<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    ip_predicate("isLinkLocalMulticast", &args, |ip| {
        ip.is_link_local_multicast()
    })
}

fn is_link_local_unicast<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    ip_predicate("isLinkLocalUnicast", &args, |ip| ip.is_link_local_unicast())
}

fn is_global_unicast<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    ip_predicate("isGlobalUnicast", &args, |ip| ip.is_global_unicast())
}

fn contains_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let network = cidr_arg("containsIP", &args, 0)?;
    owned(CelBool::from(network.contains(ip_arg(
        "containsIP",
        &args,
        1,
    )?)))
}

fn contains_cidr<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let network = cidr_arg("containsCIDR", &args, 0)?;
    let other = cidr_arg("containsCIDR", &args, 1)?;
    owned(CelBool::from(
        other.length >= network.length && network.contains(other.address),
    ))
}

fn cidr_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(Ip(cidr_arg("ip", &args, 0)?.address))
}

fn masked<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let network = cidr_arg("masked", &args, 0)?;
    owned(Cidr {
        address: mask(network.address, network.length),
        length: network.length,
    })
}

fn prefix_length<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    owned(CelInt::from(i64::from(
        cidr_arg("prefixLength", &args, 0)?.length,
    )))
}
