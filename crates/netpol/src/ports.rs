//! Sets of allowed connections: per protocol, merged ranges of ports.

use std::fmt;

/// The transport protocols a NetworkPolicy port names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    // Declaration order is the output order of the connection text (SCTP, TCP, UDP).
    Sctp,
    Tcp,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Sctp, Protocol::Tcp, Protocol::Udp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Sctp => "SCTP",
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }

    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

pub const MIN_PORT: u16 = 1;
pub const MAX_PORT: u16 = 65535;

/// Ports of one protocol: sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSet(Vec<(u16, u16)>);

impl PortSet {
    pub fn all() -> PortSet {
        PortSet(vec![(MIN_PORT, MAX_PORT)])
    }

    pub fn range(from: u16, to: u16) -> PortSet {
        if from > to {
            return PortSet::default();
        }
        PortSet(vec![(from, to)])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_all(&self) -> bool {
        self.0 == [(MIN_PORT, MAX_PORT)]
    }

    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|&(a, b)| a <= port && port <= b)
    }

    pub fn union(&self, other: &PortSet) -> PortSet {
        let mut all: Vec<(u16, u16)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match out.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        PortSet(out)
    }

    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a1, b1) = self.0[i];
            let (a2, b2) = other.0[j];
            let (a, b) = (a1.max(a2), b1.min(b2));
            if a <= b {
                out.push((a, b));
            }
            if b1 < b2 {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortSet(out)
    }

    /// The ports in `self` and not in `other`.
    pub fn minus(&self, other: &PortSet) -> PortSet {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let mut start = u32::from(a);
            let end = u32::from(b);
            for &(c, d) in &other.0 {
                let (c, d) = (u32::from(c), u32::from(d));
                if d < start || c > end {
                    continue;
                }
                if c > start {
                    out.push((start, c - 1));
                }
                start = d + 1;
            }
            if start <= end {
                out.push((start, end));
            }
        }
        PortSet(
            out.into_iter()
                .filter_map(|(a, b)| Some((u16::try_from(a).ok()?, u16::try_from(b).ok()?)))
                .collect(),
        )
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// Allowed connections: a port set per protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Connections([PortSet; 3]);

impl Connections {
    pub fn none() -> Connections {
        Connections::default()
    }

    pub fn all() -> Connections {
        Connections([PortSet::all(), PortSet::all(), PortSet::all()])
    }

    pub fn of(protocol: Protocol, ports: PortSet) -> Connections {
        let mut out = Connections::none();
        out.0[protocol.index()] = ports;
        out
    }

    pub fn ports(&self, protocol: Protocol) -> &PortSet {
        &self.0[protocol.index()]
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(PortSet::is_empty)
    }

    pub fn is_all(&self) -> bool {
        self.0.iter().all(PortSet::is_all)
    }

    pub fn allows(&self, protocol: Protocol, port: u16) -> bool {
        self.ports(protocol).contains(port)
    }

    pub fn add(&mut self, other: &Connections) {
        for p in Protocol::ALL {
            let i = p.index();
            if !other.0[i].is_empty() {
                self.0[i] = self.0[i].union(&other.0[i]);
            }
        }
    }

    pub fn union(&self, other: &Connections) -> Connections {
        let mut out = self.clone();
        out.add(other);
        out
    }

    pub fn intersect(&self, other: &Connections) -> Connections {
        Connections(Protocol::ALL.map(|p| self.ports(p).intersect(other.ports(p))))
    }

    pub fn minus(&self, other: &Connections) -> Connections {
        Connections(Protocol::ALL.map(|p| self.ports(p).minus(other.ports(p))))
    }
}

/// The connection text of the list and diff formats: `All Connections`, `No Connections`, or
/// the protocols in the order SCTP, TCP, UDP with their ranges (`TCP 8080-8082,UDP 53`).
impl fmt::Display for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("All Connections");
        }
        if self.is_empty() {
            return f.write_str("No Connections");
        }
        let mut first = true;
        for p in Protocol::ALL {
            let ports = self.ports(p);
            if ports.is_empty() {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{} {ports}", p.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u16, u16)]) -> PortSet {
        ranges.iter().fold(PortSet::default(), |acc, &(a, b)| {
            acc.union(&PortSet::range(a, b))
        })
    }

    #[test]
    fn union_merges_overlapping_and_adjacent_ranges() {
        assert_eq!(
            set(&[(80, 80), (81, 90), (100, 200), (150, 300)]).ranges(),
            &[(80, 90), (100, 300)]
        );
        assert_eq!(set(&[(1, 65535), (80, 80)]), PortSet::all());
    }

    #[test]
    fn intersection_and_difference() {
        let a = set(&[(1, 100), (200, 300)]);
        let b = set(&[(50, 250)]);
        assert_eq!(a.intersect(&b).ranges(), &[(50, 100), (200, 250)]);
        assert_eq!(a.minus(&b).ranges(), &[(1, 49), (251, 300)]);
        assert_eq!(
            PortSet::all()
                .minus(&set(&[(1, 1), (65535, 65535)]))
                .ranges(),
            &[(2, 65534)]
        );
    }

    #[test]
    fn text_orders_protocols_sctp_tcp_udp() {
        let mut c = Connections::of(Protocol::Udp, set(&[(9091, 9091)]));
        c.add(&Connections::of(Protocol::Tcp, set(&[(8081, 8082)])));
        assert_eq!(c.to_string(), "TCP 8081-8082,UDP 9091");
        c.add(&Connections::of(Protocol::Sctp, set(&[(7, 7)])));
        assert_eq!(c.to_string(), "SCTP 7,TCP 8081-8082,UDP 9091");
        assert_eq!(Connections::all().to_string(), "All Connections");
        assert_eq!(Connections::none().to_string(), "No Connections");
        let two = Connections::of(Protocol::Tcp, set(&[(8080, 8080), (9090, 9090)]));
        assert_eq!(two.to_string(), "TCP 8080,9090");
    }
}
