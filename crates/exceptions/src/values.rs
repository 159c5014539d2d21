//! The values a waiver may be narrowed to, per check, and whether an offending field's value is
//! among them. Checks whose violations carry no value to narrow (privileged,
//! allowPrivilegeEscalation, runAsNonRoot, …) are waived whole or not at all.

use podsec_policy::CheckId;
use serde_json::Value;

/// A step of a field path (`spec.volumes[0].hostPath`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Splits a violation's field path into steps; bracketed non-numbers are map keys (annotation
/// names contain dots and slashes).
pub fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']').unwrap_or(inner.len());
            let key = &inner[..end];
            out.push(match key.parse::<usize>() {
                Ok(i) => Segment::Index(i),
                Err(_) => Segment::Key(key.to_string()),
            });
            rest = inner.get(end + 1..).unwrap_or("");
            rest = rest.strip_prefix('.').unwrap_or(rest);
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        out.push(Segment::Key(rest[..end].to_string()));
        rest = &rest[end..];
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    out
}

pub fn lookup<'v>(root: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, s| match s {
        Segment::Key(k) => v.get(k.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Path prefixes, by whole path components (`/var/log` allows `/var/log/pods`, not `/var/logs`).
    HostPaths(Vec<String>),
    /// hostNetwork, hostPID, hostIPC.
    HostNamespaces(Vec<String>),
    HostPorts(Vec<u64>),
    /// Capability names without `CAP_`, upper case.
    Capabilities(Vec<String>),
    Sysctls(Vec<String>),
    /// Volume source fields (`hostPath`, `nfs`, …).
    VolumeTypes(Vec<String>),
    /// Seccomp or AppArmor profile types (`Unconfined`, `Localhost`), matched ignoring case
    /// (the deprecated annotations spell them `unconfined`, `localhost/…`).
    Profiles(Vec<String>),
    /// `type:spc_t`, `user:system_u`, `role:…`.
    SeLinux(Vec<(String, String)>),
    /// `Unmasked`.
    ProcMount(Vec<String>),
}

const NAMESPACES: [&str; 3] = ["hostNetwork", "hostPID", "hostIPC"];

/// Parses the `allow` list of a waiver of `check`.
pub fn check_allow(check: CheckId, values: &Value) -> Result<Allowed, String> {
    let Some(items) = values.as_array().filter(|a| !a.is_empty()) else {
        return Err("must be a non-empty list (omit allow to waive the check whole)".into());
    };
    let texts = || -> Result<Vec<String>, String> {
        items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("{other} is not a value")),
            })
            .collect()
    };
    let each = |f: &dyn Fn(&str) -> Result<String, String>| -> Result<Vec<String>, String> {
        texts()?.iter().map(|t| f(t)).collect()
    };
    Ok(match check {
        CheckId::HostPathVolumes => Allowed::HostPaths(each(&|p| {
            if p.starts_with('/') {
                Ok(p.trim_end_matches('/').to_string())
            } else {
                Err(format!("{p:?}: a hostPath prefix is an absolute path"))
            }
        })?),
        CheckId::HostNamespaces => Allowed::HostNamespaces(each(&|n| {
            if NAMESPACES.contains(&n) {
                Ok(n.to_string())
            } else {
                Err(format!(
                    "{n:?}: host namespaces are hostNetwork, hostPID, hostIPC"
                ))
            }
        })?),
        CheckId::HostPorts => Allowed::HostPorts(
            texts()?
                .iter()
                .map(|p| match p.parse::<u64>() {
                    Ok(n) if (1..=65535).contains(&n) => Ok(n),
                    _ => Err(format!("{p:?}: a host port is a number from 1 to 65535")),
                })
                .collect::<Result<_, _>>()?,
        ),
        CheckId::CapabilitiesBaseline | CheckId::CapabilitiesRestricted => {
            Allowed::Capabilities(each(&|c| {
                let name = normalize_capability(c);
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
                {
                    Ok(name)
                } else {
                    Err(format!("{c:?}: a capability name such as NET_ADMIN"))
                }
            })?)
        }
        CheckId::Sysctls => Allowed::Sysctls(each(&|s| {
            if s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
            {
                Ok(s.to_string())
            } else {
                Err(format!("{s:?}: a sysctl name such as net.core.somaxconn"))
            }
        })?),
        CheckId::RestrictedVolumes => Allowed::VolumeTypes(each(&|t| {
            if podsec_policy::pod::VolumeType::from_field_name(t).is_some() {
                Ok(t.to_string())
            } else {
                Err(format!("{t:?}: a volume type as its field is named (hostPath, nfs, gcePersistentDisk, …)"))
            }
        })?),
        // seccompProfile_restricted also fails containers that set no profile, which its
        // violation does not list when another container sets one: it is waived whole only.
        CheckId::SeccompProfileBaseline | CheckId::AppArmorProfile => Allowed::Profiles(texts()?),
        CheckId::SeLinuxOptions => Allowed::SeLinux(
            texts()?
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((k @ ("type" | "user" | "role"), v)) if !v.is_empty() => {
                        Ok((k.to_string(), v.to_string()))
                    }
                    _ => Err(format!("{t:?}: write type:NAME, user:NAME or role:NAME")),
                })
                .collect::<Result<_, _>>()?,
        ),
        CheckId::ProcMount | CheckId::ProcMountRestricted => Allowed::ProcMount(each(&|p| {
            if p == "Unmasked" {
                Ok(p.to_string())
            } else {
                Err(format!(
                    "{p:?}: the only procMount a check forbids is Unmasked"
                ))
            }
        })?),
        other => {
            return Err(format!(
                "{other} has no values to narrow: waive it whole (no allow) or not at all"
            ))
        }
    })
}

fn normalize_capability(c: &str) -> String {
    let upper = c.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

fn under(path: &str, prefix: &str) -> bool {
    // `..` could climb out of the prefix; the API server refuses such paths anyway.
    if path.split('/').any(|c| c == "..") {
        return false;
    }
    let path = path.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Allowed {
    /// Whether the offending value at `field` (of the pod as JSON) is among the allowed ones.
    pub fn covers(&self, pod: &Value, field: &[Segment]) -> bool {
        let value = lookup(pod, field);
        let last_key = field.iter().rev().find_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        });
        match self {
            Allowed::HostPaths(prefixes) => value
                .and_then(|v| v.get("path"))
                .and_then(Value::as_str)
                .is_some_and(|p| prefixes.iter().any(|prefix| under(p, prefix))),
            Allowed::HostNamespaces(names) => {
                last_key.is_some_and(|k| names.iter().any(|n| n == k))
            }
            Allowed::HostPorts(ports) => value
                .and_then(Value::as_u64)
                .is_some_and(|p| ports.contains(&p)),
            Allowed::Capabilities(caps) => value
                .and_then(Value::as_str)
                .is_some_and(|c| caps.contains(&normalize_capability(c))),
            Allowed::Sysctls(names) => value
                .and_then(Value::as_str)
                .is_some_and(|s| names.iter().any(|n| n == s)),
            Allowed::VolumeTypes(types) => {
                // `spec.volumes[i].hostPath`: the field names the type.
                matches!(field.last(), Some(Segment::Key(_)))
                    && last_key.is_some_and(|k| types.iter().any(|t| t == k))
            }
            Allowed::Profiles(profiles) => value.and_then(Value::as_str).is_some_and(|v| {
                let v = v.to_ascii_lowercase();
                profiles.iter().any(|p| {
                    let p = p.to_ascii_lowercase();
                    v == p || v.starts_with(&format!("{p}/"))
                })
            }),
            Allowed::SeLinux(options) => {
                let Some(k) = last_key else { return false };
                value
                    .and_then(Value::as_str)
                    .is_some_and(|v| options.iter().any(|(ok, ov)| ok == k && ov == v))
            }
            Allowed::ProcMount(values) => value
                .and_then(Value::as_str)
                .is_some_and(|v| values.iter().any(|a| a == v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allow(check: CheckId, values: Value) -> Allowed {
        check_allow(check, &values).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn field_paths_split_into_keys_and_indices() {
        assert_eq!(
            segments("spec.volumes[2].hostPath"),
            [
                Segment::Key("spec".into()),
                Segment::Key("volumes".into()),
                Segment::Index(2),
                Segment::Key("hostPath".into())
            ]
        );
        assert_eq!(
            segments("metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]"),
            [
                Segment::Key("metadata".into()),
                Segment::Key("annotations".into()),
                Segment::Key("container.apparmor.security.beta.kubernetes.io/app".into())
            ]
        );
    }

    #[test]
    fn each_check_with_values_allows_what_it_names_and_nothing_more() {
        let pod = json!({"spec": {
            "volumes": [{"name": "logs", "hostPath": {"path": "/var/log/pods"}}, {"name": "root", "hostPath": {"path": "/"}}, {"name": "logs2", "hostPath": {"path": "/var/logs"}}],
            "containers": [{"name": "c", "ports": [{"hostPort": 9100}, {"hostPort": 22}],
                "securityContext": {"capabilities": {"add": ["SYS_TIME", "NET_ADMIN"]}, "seccompProfile": {"type": "Unconfined"},
                    "seLinuxOptions": {"type": "spc_t", "user": "root_u"}, "procMount": "Unmasked"}}],
            "securityContext": {"sysctls": [{"name": "net.core.somaxconn"}, {"name": "kernel.msgmax"}]}
        }, "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}}});
        let cases: Vec<(CheckId, Value, &str, bool)> = vec![
            (
                CheckId::HostPathVolumes,
                json!(["/var/log"]),
                "spec.volumes[0].hostPath",
                true,
            ),
            (
                CheckId::HostPathVolumes,
                json!(["/var/log"]),
                "spec.volumes[1].hostPath",
                false,
            ),
            (
                CheckId::HostPathVolumes,
                json!(["/var/log"]),
                "spec.volumes[2].hostPath",
                false,
            ),
            (
                CheckId::HostPathVolumes,
                json!(["/"]),
                "spec.volumes[1].hostPath",
                true,
            ),
            (
                CheckId::HostNamespaces,
                json!(["hostNetwork"]),
                "spec.hostNetwork",
                true,
            ),
            (
                CheckId::HostNamespaces,
                json!(["hostNetwork"]),
                "spec.hostPID",
                false,
            ),
            (
                CheckId::HostPorts,
                json!([9100]),
                "spec.containers[0].ports[0].hostPort",
                true,
            ),
            (
                CheckId::HostPorts,
                json!(["9100"]),
                "spec.containers[0].ports[1].hostPort",
                false,
            ),
            (
                CheckId::CapabilitiesBaseline,
                json!(["CAP_SYS_TIME"]),
                "spec.containers[0].securityContext.capabilities.add[0]",
                true,
            ),
            (
                CheckId::CapabilitiesBaseline,
                json!(["SYS_TIME"]),
                "spec.containers[0].securityContext.capabilities.add[1]",
                false,
            ),
            (
                CheckId::CapabilitiesRestricted,
                json!(["SYS_TIME"]),
                "spec.containers[0].securityContext.capabilities.drop",
                false,
            ),
            (
                CheckId::Sysctls,
                json!(["net.core.somaxconn"]),
                "spec.securityContext.sysctls[0].name",
                true,
            ),
            (
                CheckId::Sysctls,
                json!(["net.core.somaxconn"]),
                "spec.securityContext.sysctls[1].name",
                false,
            ),
            (
                CheckId::RestrictedVolumes,
                json!(["hostPath"]),
                "spec.volumes[0].hostPath",
                true,
            ),
            (
                CheckId::RestrictedVolumes,
                json!(["nfs"]),
                "spec.volumes[0].hostPath",
                false,
            ),
            (
                CheckId::SeccompProfileBaseline,
                json!(["Unconfined"]),
                "spec.containers[0].securityContext.seccompProfile.type",
                true,
            ),
            (
                CheckId::AppArmorProfile,
                json!(["Unconfined"]),
                "metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]",
                true,
            ),
            (
                CheckId::SeLinuxOptions,
                json!(["type:spc_t"]),
                "spec.containers[0].securityContext.seLinuxOptions.type",
                true,
            ),
            (
                CheckId::SeLinuxOptions,
                json!(["type:spc_t"]),
                "spec.containers[0].securityContext.seLinuxOptions.user",
                false,
            ),
            (
                CheckId::ProcMount,
                json!(["Unmasked"]),
                "spec.containers[0].securityContext.procMount",
                true,
            ),
        ];
        for (check, values, field, expected) in cases {
            let allowed = allow(check, values.clone());
            assert_eq!(
                allowed.covers(&pod, &segments(field)),
                expected,
                "{check} {values} at {field}"
            );
        }
    }

    #[test]
    fn values_are_validated_per_check() {
        for (check, values) in [
            (CheckId::Privileged, json!([true])),
            (CheckId::RunAsNonRoot, json!(["x"])),
            (CheckId::HostPathVolumes, json!(["var/log"])),
            (CheckId::HostPorts, json!([0])),
            (CheckId::HostPorts, json!(["http"])),
            (CheckId::HostNamespaces, json!(["hostUsers"])),
            (CheckId::RestrictedVolumes, json!(["notAVolume"])),
            (CheckId::SeLinuxOptions, json!(["spc_t"])),
            (CheckId::ProcMount, json!(["Default"])),
            (CheckId::SeccompProfileRestricted, json!(["Unconfined"])),
            (CheckId::Sysctls, json!([])),
        ] {
            assert!(
                check_allow(check, &values).is_err(),
                "{check} {values} accepted"
            );
        }
    }
}
