//! Reading a cluster snapshot (what `kubectl get … -A -o json` prints) as a stream: objects are
//! handed over one at a time and dropped, so memory does not grow with the snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use podsec_admission::rbac::{Binding, Role};
use podsec_manifest::{decode_workload_json, Workload, WorkloadKind};
use podsec_policy::psp::PodSecurityPolicy;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One object of a snapshot, decoded for what audit and migration need.
#[derive(Debug, Clone)]
pub enum SnapshotObject {
    Namespace {
        name: String,
        labels: BTreeMap<String, String>,
    },
    /// A Pod.
    Pod(Box<Workload>),
    /// A pod controller (Deployment, ReplicaSet, …, CronJob) with its template.
    Controller(Box<Workload>),
    Psp(Box<PodSecurityPolicy>),
    Role(Role),
    ClusterRole(Role),
    RoleBinding(Binding),
    ClusterRoleBinding(Binding),
    ServiceAccount {
        namespace: String,
        name: String,
    },
    Other {
        api_version: String,
        kind: String,
    },
}

/// An object that could not be used, or a stream that broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError {
    /// `Kind namespace/name`, or the stream position for syntax errors.
    pub object: String,
    pub message: String,
    /// Nothing after this error was read (a syntax error, an unreadable file): the results
    /// cover only part of the snapshot.
    pub ends_stream: bool,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}

#[derive(Deserialize, Default)]
struct Header {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: HeaderMeta,
}

#[derive(Deserialize, Default)]
struct HeaderMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Decodes one object of the snapshot from its JSON text.
pub fn classify(json: &str) -> Result<SnapshotObject, SnapshotError> {
    let header: Header = serde_json::from_str(json).map_err(|e| SnapshotError {
        object: "object".into(),
        message: e.to_string(),
        ends_stream: false,
    })?;
    let id = if header.metadata.namespace.is_empty() {
        format!("{} {}", header.kind, header.metadata.name)
    } else {
        format!(
            "{} {}/{}",
            header.kind, header.metadata.namespace, header.metadata.name
        )
    };
    let err = |message: String| SnapshotError {
        object: id.clone(),
        message,
        ends_stream: false,
    };
    let (group, _) = header
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", &header.api_version));
    let rbac = group == "rbac.authorization.k8s.io";
    Ok(match (header.kind.as_str(), group) {
        ("Namespace", "") => SnapshotObject::Namespace {
            name: header.metadata.name,
            labels: header.metadata.labels.unwrap_or_default(),
        },
        ("ServiceAccount", "") => SnapshotObject::ServiceAccount {
            namespace: header.metadata.namespace,
            name: header.metadata.name,
        },
        ("PodSecurityPolicy", "policy" | "extensions") => SnapshotObject::Psp(Box::new(
            serde_json::from_str(json).map_err(|e| err(e.to_string()))?,
        )),
        ("Role", _) if rbac => {
            SnapshotObject::Role(serde_json::from_str(json).map_err(|e| err(e.to_string()))?)
        }
        ("ClusterRole", _) if rbac => {
            SnapshotObject::ClusterRole(serde_json::from_str(json).map_err(|e| err(e.to_string()))?)
        }
        ("RoleBinding", _) if rbac => {
            SnapshotObject::RoleBinding(serde_json::from_str(json).map_err(|e| err(e.to_string()))?)
        }
        ("ClusterRoleBinding", _) if rbac => SnapshotObject::ClusterRoleBinding(
            serde_json::from_str(json).map_err(|e| err(e.to_string()))?,
        ),
        (kind, _) => match WorkloadKind::from_kind(kind).filter(|k| k.group_version().0 == group) {
            Some(kind) => {
                let w = decode_workload_json(kind, json).map_err(|e| err(e.to_string()))?;
                if kind == WorkloadKind::Pod {
                    SnapshotObject::Pod(Box::new(w))
                } else {
                    SnapshotObject::Controller(Box::new(w))
                }
            }
            None => SnapshotObject::Other {
                api_version: header.api_version,
                kind: header.kind,
            },
        },
    })
}

/// Streams the objects of a JSON snapshot: a `*List` (its `items` one by one), a single
/// object, or several concatenated. A syntax error (a truncated file) ends the stream and is
/// reported last; everything before it has been handed over.
pub fn read_json<R: Read>(reader: R, visit: &mut dyn FnMut(Result<SnapshotObject, SnapshotError>)) {
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    loop {
        if let Err(e) = (TopLevel { visit: &mut *visit }).deserialize(&mut de) {
            let message = e.to_string();
            visit(Err(SnapshotError {
                object: "snapshot".into(),
                message,
                ends_stream: true,
            }));
            return;
        }
        match de.end() {
            Ok(()) => return,
            // More top-level values follow.
            Err(e) if e.to_string().starts_with("trailing characters") => continue,
            Err(e) => {
                visit(Err(SnapshotError {
                    object: "snapshot".into(),
                    message: e.to_string(),
                    ends_stream: true,
                }));
                return;
            }
        }
    }
}

struct TopLevel<'v> {
    visit: &'v mut dyn FnMut(Result<SnapshotObject, SnapshotError>),
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object or list")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = serde_json::Map::new();
        let mut had_items = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                had_items = true;
                map.next_value_seed(Items {
                    visit: &mut *self.visit,
                })?;
            } else {
                rest.insert(key, map.next_value()?);
            }
        }
        if !had_items {
            let text = serde_json::Value::Object(rest).to_string();
            (self.visit)(classify(&text));
        }
        Ok(())
    }
}

struct Items<'v> {
    visit: &'v mut dyn FnMut(Result<SnapshotObject, SnapshotError>),
}

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            (self.visit)(classify(raw.get()));
        }
        Ok(())
    }
}

/// Reads YAML (or JSON) manifests fully, then hands objects over in order.
pub fn read_documents(
    bytes: &[u8],
    name: &str,
    visit: &mut dyn FnMut(Result<SnapshotObject, SnapshotError>),
) {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned();
    let format = podsec_manifest::Format::detect(Some(name), &head);
    for doc in podsec_manifest::decode(bytes, format, &podsec_manifest::Limits::default()) {
        match doc {
            Ok(l) => visit(classify(&l.value.to_string())),
            Err(e) => visit(Err(SnapshotError {
                object: format!("{name}:{}", e.line),
                message: e.message,
                ends_stream: false,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(json: &str) -> Vec<Result<SnapshotObject, SnapshotError>> {
        let mut out = Vec::new();
        read_json(json.as_bytes(), &mut |o| out.push(o));
        out
    }

    #[test]
    fn streams_list_items_and_single_objects() {
        let list = r#"{"apiVersion":"v1","items":[
            {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a","labels":{"x":"y"}}},
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"a"},"spec":{"containers":[{"name":"c"}]}},
            {"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"rs","namespace":"a"},"spec":{"template":{"spec":{"containers":[{"name":"c"}]}}}},
            {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}],"kind":"List","metadata":{}}
            {"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa","namespace":"a"}}"#;
        let got = collect(list);
        assert_eq!(got.len(), 5);
        assert!(
            matches!(&got[0], Ok(SnapshotObject::Namespace { name, labels }) if name == "a" && labels.len() == 1)
        );
        assert!(matches!(&got[1], Ok(SnapshotObject::Pod(w)) if w.meta.name == "p"));
        assert!(
            matches!(&got[2], Ok(SnapshotObject::Controller(w)) if w.kind == WorkloadKind::ReplicaSet)
        );
        assert!(matches!(&got[3], Ok(SnapshotObject::Other { kind, .. }) if kind == "ConfigMap"));
        assert!(matches!(&got[4], Ok(SnapshotObject::ServiceAccount { name, .. }) if name == "sa"));
    }

    #[test]
    fn a_truncated_snapshot_keeps_what_came_before() {
        let got = collect(
            r#"{"items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Pod","metad"#,
        );
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        let e = got[1].as_ref().expect_err("truncated");
        assert!(e.message.contains("EOF"), "{e}");
    }

    #[test]
    fn bad_objects_are_reported_and_skipped() {
        let got = collect(
            r#"{"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n"},"spec":{"containers":{"x":1}}},
            {"apiVersion":"policy/v1beta1","kind":"PodSecurityPolicy","metadata":{"name":"bad"},"spec":{"privileged":"yes"}},
            {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ok"}}]}"#,
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().expect_err("bad pod").object, "Pod n/p");
        assert_eq!(
            got[1].as_ref().expect_err("bad psp").object,
            "PodSecurityPolicy bad"
        );
        assert!(got[2].is_ok());
    }
}
