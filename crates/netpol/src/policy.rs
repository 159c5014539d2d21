//! NetworkPolicy (`networking.k8s.io/v1`), read and validated as the API server would.

use serde_json::Value;

use crate::ipblock::{Cidr, Range};
use crate::ports::{Protocol, MAX_PORT};
use crate::selector::Selector;
use crate::Problem;

/// A direction of traffic a policy can isolate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

/// One entry of `from` / `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSelector {
    /// `podSelector` and/or `namespaceSelector`: both present means both must hold. An absent
    /// `namespaceSelector` means the policy's own namespace; an absent `podSelector` all pods.
    Pods {
        pods: Option<Selector>,
        namespaces: Option<Selector>,
    },
    IpBlock {
        cidr: String,
        /// The IPv4 addresses of the block minus its excepts; `None` for an IPv6 block.
        v4: Option<Range>,
        except: Vec<Range>,
    },
}

/// A rule port: a number (with an optional `endPort`), a name, or none (all ports of the
/// protocol).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortRef {
    All,
    Number { port: u16, end: u16 },
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RulePort {
    pub protocol: Protocol,
    pub port: PortRef,
}

/// One ingress or egress rule. `peers: None` = every peer (also outside the cluster);
/// `ports: None` = every port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub peers: Option<Vec<PeerSelector>>,
    pub ports: Option<Vec<RulePort>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: Selector,
    /// Whether the policy isolates the pods it selects in each direction (policyTypes, after
    /// defaulting).
    pub isolates_ingress: bool,
    pub isolates_egress: bool,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

impl NetworkPolicy {
    pub fn isolates(&self, direction: Direction) -> bool {
        match direction {
            Direction::Ingress => self.isolates_ingress,
            Direction::Egress => self.isolates_egress,
        }
    }

    pub fn rules(&self, direction: Direction) -> &[Rule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Reads a NetworkPolicy object. Every problem found is returned, each naming its field.
    pub fn parse(object: &Value, default_namespace: &str) -> Result<NetworkPolicy, Vec<Problem>> {
        let mut problems = Vec::new();
        let meta = object.get("metadata");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            problems.push(Problem::new(
                "metadata.name",
                "a NetworkPolicy needs a name",
            ));
        }
        let namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(default_namespace)
            .to_string();
        let empty = Value::Null;
        let spec = object.get("spec").unwrap_or(&empty);
        if !spec.is_object() {
            problems.push(Problem::new(
                "spec",
                "a NetworkPolicy needs a spec (an object)",
            ));
        }
        let pod_selector = match spec.get("podSelector") {
            Some(v) => Selector::parse(v, "spec.podSelector", &mut problems),
            // Required by the API; kubectl and the server default it to {} on create.
            None => Selector::default(),
        };
        let ingress = rules(spec.get("ingress"), Direction::Ingress, &mut problems);
        let egress = rules(spec.get("egress"), Direction::Egress, &mut problems);
        let (isolates_ingress, isolates_egress) = match spec.get("policyTypes") {
            None | Some(Value::Null) => (true, spec.get("egress").is_some_and(|e| !e.is_null())),
            Some(Value::Array(types)) => {
                let (mut i, mut e) = (false, false);
                for (n, t) in types.iter().enumerate() {
                    let at = format!("spec.policyTypes[{n}]");
                    match t.as_str() {
                        Some("Ingress") if !i => i = true,
                        Some("Egress") if !e => e = true,
                        Some("Ingress" | "Egress") => {
                            problems.push(Problem::new(&at, "duplicate value"))
                        }
                        _ => problems.push(Problem::new(
                            &at,
                            &format!(
                                "unsupported value {t}: supported values: \"Ingress\", \"Egress\""
                            ),
                        )),
                    }
                }
                // An empty list is defaulted like an absent one.
                if types.is_empty() {
                    (true, spec.get("egress").is_some_and(|e| !e.is_null()))
                } else {
                    (i, e)
                }
            }
            Some(_) => {
                problems.push(Problem::new("spec.policyTypes", "must be a list"));
                (true, false)
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(NetworkPolicy {
            namespace,
            name,
            pod_selector,
            isolates_ingress,
            isolates_egress,
            ingress,
            egress,
        })
    }
}

fn rules(value: Option<&Value>, direction: Direction, problems: &mut Vec<Problem>) -> Vec<Rule> {
    let field = match direction {
        Direction::Ingress => "spec.ingress",
        Direction::Egress => "spec.egress",
    };
    let peers_key = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{field}[{i}]");
                if !item.is_object() {
                    problems.push(Problem::new(&at, "must be a rule (an object)"));
                }
                let peers = match item.get(peers_key) {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(list)) if list.is_empty() => None,
                    Some(Value::Array(list)) => Some(
                        list.iter()
                            .enumerate()
                            .filter_map(|(j, p)| {
                                peer(p, &format!("{at}.{peers_key}[{j}]"), problems)
                            })
                            .collect(),
                    ),
                    Some(_) => {
                        problems.push(Problem::new(&format!("{at}.{peers_key}"), "must be a list"));
                        None
                    }
                };
                let ports = match item.get("ports") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(list)) if list.is_empty() => None,
                    Some(Value::Array(list)) => Some(
                        list.iter()
                            .enumerate()
                            .filter_map(|(j, p)| port(p, &format!("{at}.ports[{j}]"), problems))
                            .collect(),
                    ),
                    Some(_) => {
                        problems.push(Problem::new(&format!("{at}.ports"), "must be a list"));
                        None
                    }
                };
                Rule { peers, ports }
            })
            .collect(),
        Some(_) => {
            problems.push(Problem::new(field, "must be a list of rules"));
            Vec::new()
        }
    }
}

fn peer(value: &Value, at: &str, problems: &mut Vec<Problem>) -> Option<PeerSelector> {
    let present = |key: &str| value.get(key).is_some_and(|v| !v.is_null());
    let selectors = present("podSelector") || present("namespaceSelector");
    let block = present("ipBlock");
    if selectors && block {
        problems.push(Problem::new(
            at,
            "may not specify more than 1 peer type: ipBlock cannot be combined with podSelector or namespaceSelector in one peer (use separate peers for OR)",
        ));
        return None;
    }
    if !selectors && !block {
        problems.push(Problem::new(
            at,
            "must specify a peer: one of podSelector, namespaceSelector or ipBlock (an empty peer {} is refused; omit `from`/`to` to allow every peer)",
        ));
        return None;
    }
    if selectors {
        let pods = value
            .get("podSelector")
            .filter(|v| !v.is_null())
            .map(|v| Selector::parse(v, &format!("{at}.podSelector"), problems));
        let namespaces = value
            .get("namespaceSelector")
            .filter(|v| !v.is_null())
            .map(|v| Selector::parse(v, &format!("{at}.namespaceSelector"), problems));
        return Some(PeerSelector::Pods { pods, namespaces });
    }
    let block = value.get("ipBlock").unwrap_or(&Value::Null);
    let cidr_text = block
        .get("cidr")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(cidr) = Cidr::parse(cidr_text) else {
        problems.push(Problem::new(
            &format!("{at}.ipBlock.cidr"),
            &format!("invalid CIDR address {cidr_text:?}: must be an IP block such as 10.0.0.0/8"),
        ));
        return None;
    };
    let mut except = Vec::new();
    if let Some(list) = block.get("except").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else {
            problems.push(Problem::new(
                &format!("{at}.ipBlock.except"),
                "must be a list of CIDRs",
            ));
            return None;
        };
        for (k, e) in list.iter().enumerate() {
            let field = format!("{at}.ipBlock.except[{k}]");
            let text = e.as_str().unwrap_or_default();
            match Cidr::parse(text) {
                None => problems.push(Problem::new(
                    &field,
                    &format!("invalid CIDR address {text:?}"),
                )),
                Some(inner) if !cidr.strictly_contains(&inner) => problems.push(Problem::new(
                    &field,
                    &format!("{text} must be a strict subset of `cidr` {cidr_text}"),
                )),
                Some(inner) => except.extend(inner.v4_range()),
            }
        }
    }
    Some(PeerSelector::IpBlock {
        cidr: cidr_text.to_string(),
        v4: cidr.v4_range(),
        except,
    })
}

fn is_port_name(name: &str) -> bool {
    // IANA_SVC_NAME: at most 15 characters, lowercase letters, digits and '-', at least one
    // letter, no '-' at either end and no "--".
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 15
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.iter().any(u8::is_ascii_lowercase)
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !name.contains("--")
}

fn port(value: &Value, at: &str, problems: &mut Vec<Problem>) -> Option<RulePort> {
    let protocol = match value.get("protocol") {
        None | Some(Value::Null) => Protocol::Tcp,
        Some(p) => match p.as_str().and_then(Protocol::parse) {
            Some(p) => p,
            None => {
                problems.push(Problem::new(
                    &format!("{at}.protocol"),
                    &format!("unsupported value {p}: supported values: \"TCP\", \"UDP\", \"SCTP\""),
                ));
                return None;
            }
        },
    };
    let end = value.get("endPort").filter(|v| !v.is_null());
    let port = match value.get("port") {
        None | Some(Value::Null) => {
            if end.is_some() {
                problems.push(Problem::new(
                    &format!("{at}.endPort"),
                    "may not be specified when `port` is not specified",
                ));
                return None;
            }
            PortRef::All
        }
        Some(Value::String(name)) => {
            // An int-or-string holding digits is a number.
            if let Ok(n) = name.parse::<i64>() {
                return numeric(n, end, protocol, at, problems);
            }
            if !is_port_name(name) {
                problems.push(Problem::new(
                    &format!("{at}.port"),
                    &format!("invalid port name {name:?}: at most 15 lowercase letters, digits and '-', with at least one letter"),
                ));
                return None;
            }
            if end.is_some() {
                problems.push(Problem::new(
                    &format!("{at}.endPort"),
                    "may not be specified when `port` is non-numeric",
                ));
                return None;
            }
            PortRef::Named(name.clone())
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) => return numeric(n, end, protocol, at, problems),
            None => {
                problems.push(Problem::new(
                    &format!("{at}.port"),
                    "must be an integer or a port name",
                ));
                return None;
            }
        },
        Some(_) => {
            problems.push(Problem::new(
                &format!("{at}.port"),
                "must be an integer or a port name",
            ));
            return None;
        }
    };
    Some(RulePort { protocol, port })
}

fn numeric(
    n: i64,
    end: Option<&Value>,
    protocol: Protocol,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<RulePort> {
    let Some(port) = u16::try_from(n).ok().filter(|p| *p >= 1) else {
        problems.push(Problem::new(
            &format!("{at}.port"),
            &format!("{n}: must be between 1 and {MAX_PORT}, inclusive"),
        ));
        return None;
    };
    let end = match end {
        None => port,
        Some(e) => match e.as_i64().and_then(|e| u16::try_from(e).ok()) {
            Some(e) if e >= port => e,
            Some(e) => {
                problems.push(Problem::new(
                    &format!("{at}.endPort"),
                    &format!("{e}: must be greater than or equal to `port` {port}"),
                ));
                return None;
            }
            None => {
                problems.push(Problem::new(
                    &format!("{at}.endPort"),
                    &format!("{e}: must be an integer between 1 and {MAX_PORT}"),
                ));
                return None;
            }
        },
    };
    Some(RulePort {
        protocol,
        port: PortRef::Number { port, end },
    })
}
