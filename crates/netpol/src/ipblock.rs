//! IP blocks and the external address ranges they cut the IPv4 space into.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A parsed CIDR. IPv6 blocks are valid policy but outside the IPv4 space the analysis
/// reports external peers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { first: u32, last: u32, prefix: u8 },
    V6 { first: u128, prefix: u8 },
}

impl Cidr {
    /// Parses `addr/prefix` as the API server does (host bits may be set; they are masked).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.split_once('/')?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        if let Ok(v4) = addr.parse::<Ipv4Addr>() {
            if prefix > 32 {
                return None;
            }
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            let first = u32::from(v4) & mask;
            return Some(Cidr::V4 {
                first,
                last: first | !mask,
                prefix,
            });
        }
        let v6 = addr.parse::<Ipv6Addr>().ok()?;
        if prefix > 128 {
            return None;
        }
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(prefix))
        };
        Some(Cidr::V6 {
            first: u128::from(v6) & mask,
            prefix,
        })
    }

    /// True when `inner` lies inside `self` with a longer prefix (what `except` must be).
    pub fn strictly_contains(&self, inner: &Cidr) -> bool {
        match (self, inner) {
            (
                Cidr::V4 {
                    first,
                    last,
                    prefix,
                    ..
                },
                Cidr::V4 {
                    first: f2,
                    prefix: p2,
                    ..
                },
            ) => p2 > prefix && first <= f2 && f2 <= last,
            (
                Cidr::V6 { first, prefix },
                Cidr::V6 {
                    first: f2,
                    prefix: p2,
                },
            ) => {
                let mask = if *prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(*prefix))
                };
                p2 > prefix && (f2 & mask) == *first
            }
            _ => false,
        }
    }

    /// The IPv4 addresses of this block, if it is one.
    pub fn v4_range(&self) -> Option<Range> {
        match *self {
            Cidr::V4 { first, last, .. } => Some(Range { first, last }),
            Cidr::V6 { .. } => None,
        }
    }
}

/// An inclusive range of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    pub first: u32,
    pub last: u32,
}

impl Range {
    pub const ALL: Range = Range {
        first: 0,
        last: u32::MAX,
    };

    pub fn contains(&self, other: &Range) -> bool {
        self.first <= other.first && other.last <= self.last
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}",
            Ipv4Addr::from(self.first),
            Ipv4Addr::from(self.last)
        )
    }
}

/// The pieces into which the given blocks cut the IPv4 space: every block boundary starts a
/// new piece, so each piece is wholly inside or wholly outside each block. Adjacent pieces are
/// kept apart even when they are treated alike (the list format names them so).
pub fn cut<'a>(blocks: impl IntoIterator<Item = &'a Range>) -> Vec<Range> {
    let mut starts: Vec<u64> = vec![0];
    for block in blocks {
        starts.push(u64::from(block.first));
        starts.push(u64::from(block.last) + 1);
    }
    starts.sort_unstable();
    starts.dedup();
    let end = u64::from(u32::MAX) + 1;
    starts.retain(|&s| s < end);
    let mut out = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let next = starts.get(i + 1).copied().unwrap_or(end);
        if let (Ok(first), Ok(last)) = (u32::try_from(start), u32::try_from(next - 1)) {
            out.push(Range { first, last });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Range {
        Cidr::parse(text)
            .and_then(|c| c.v4_range())
            .unwrap_or(Range { first: 1, last: 0 })
    }

    #[test]
    fn parses_v4_and_v6_and_masks_host_bits() {
        assert_eq!(v4("10.1.2.3/8").to_string(), "10.0.0.0-10.255.255.255");
        assert_eq!(v4("0.0.0.0/0"), Range::ALL);
        assert_eq!(v4("1.2.3.4/32").to_string(), "1.2.3.4-1.2.3.4");
        assert!(matches!(
            Cidr::parse("fd00::/8"),
            Some(Cidr::V6 { prefix: 8, .. })
        ));
        for bad in [
            "A",
            "10.0.0.0",
            "10.0.0/8",
            "10.0.0.0/33",
            "10.0.0.0/-1",
            "::/129",
            "10.0.0.0/",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn except_must_be_a_strict_subset() {
        let outer = Cidr::parse("10.0.0.0/8");
        let inside = Cidr::parse("10.1.0.0/16");
        let outside = Cidr::parse("11.0.0.0/16");
        let (Some(outer), Some(inside), Some(outside)) = (outer, inside, outside) else {
            panic!("test CIDRs parse");
        };
        assert!(outer.strictly_contains(&inside));
        assert!(!outer.strictly_contains(&outside));
        assert!(!outer.strictly_contains(&outer));
    }

    #[test]
    fn cuts_the_space_at_every_boundary() {
        let blocks = [v4("10.0.0.0/8"), v4("10.1.0.0/16")];
        let pieces: Vec<String> = cut(&blocks).iter().map(ToString::to_string).collect();
        assert_eq!(
            pieces,
            [
                "0.0.0.0-9.255.255.255",
                "10.0.0.0-10.0.255.255",
                "10.1.0.0-10.1.255.255",
                "10.2.0.0-10.255.255.255",
                "11.0.0.0-255.255.255.255"
            ]
        );
        assert_eq!(cut(&[]), vec![Range::ALL]);
        assert_eq!(cut(&[Range::ALL]), vec![Range::ALL]);
    }
}
