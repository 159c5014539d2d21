//! Reading a cluster snapshot (what `kubectl get … -A -o json` prints) as a stream: objects are
//! handed over one at a time and dropped, so memory does not grow with the snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::sync::{mpsc, Mutex};

use crate::json_stream::Piece;
use podsec_admission::rbac::{Binding, Role};
use podsec_manifest::{decode_workload_json, Workload, WorkloadKind};
use podsec_policy::psp::PodSecurityPolicy;
use serde::Deserialize;

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

/// One object of a snapshot as read: decoded, or why not.
pub type Decoded = Result<SnapshotObject, SnapshotError>;

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

/// The pod-bearing kind an `apiVersion` and `kind` name, if any.
fn workload_kind(api_version: &str, kind: &str) -> Option<WorkloadKind> {
    let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    WorkloadKind::from_kind(kind).filter(|k| k.group_version().0 == group)
}

/// [`classify`], skipping the header when the kind is already known. Errors take the slow
/// path, which names the object.
fn classify_known(
    json: &str,
    workload: Option<WorkloadKind>,
) -> Result<SnapshotObject, SnapshotError> {
    match workload.map(|kind| (kind, decode_workload_json(kind, json))) {
        Some((WorkloadKind::Pod, Ok(w))) => Ok(SnapshotObject::Pod(Box::new(w))),
        Some((_, Ok(w))) => Ok(SnapshotObject::Controller(Box::new(w))),
        _ => classify(json),
    }
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
/// object, several concatenated, or an array of objects. A syntax error in the structure (a
/// truncated file) ends the stream and is reported last; everything before it has been handed
/// over. Objects are decoded on worker threads and handed over in order, on this thread.
pub fn read_json<R: Read + Send>(reader: R, visit: &mut dyn FnMut(&Decoded)) {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (batches, batch_queue) = mpsc::sync_channel::<Batch>(workers);
    let batch_queue = Mutex::new(batch_queue);
    let (decoded, decoded_queue) = mpsc::sync_channel::<DecodedBatch>(workers);
    // Decoded batches go back to the worker that allocated them to be freed there: cheaper
    // for the allocator, and it keeps this thread (the bottleneck) to aggregation.
    let (recycle, recycled): (Vec<_>, Vec<_>) = (0..workers)
        .map(|_| mpsc::channel::<Vec<Decoded>>())
        .unzip();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Batch::default();
            crate::json_stream::split(reader, &mut |piece| {
                batch.push(piece);
                if batch.text.len() >= BATCH_BYTES {
                    let next = Batch {
                        number: batch.number + 1,
                        ..Batch::default()
                    };
                    // A closed queue means the consumer is gone: nothing left to do.
                    let _ = batches.send(std::mem::replace(&mut batch, next));
                }
            });
            let _ = batches.send(batch);
        });
        for (worker, recycled) in recycled.into_iter().enumerate() {
            let decoded = decoded.clone();
            let queue = &batch_queue;
            scope.spawn(move || loop {
                while let Ok(done) = recycled.try_recv() {
                    drop(done);
                }
                let next = match queue.lock() {
                    Ok(q) => q.recv(),
                    Err(_) => return,
                };
                let Ok(batch) = next else { return };
                let objects = DecodedBatch {
                    number: batch.number,
                    worker,
                    objects: batch.decode(),
                };
                if decoded.send(objects).is_err() {
                    return;
                }
            });
        }
        drop(decoded);
        // Batches finish out of order; hand objects over in the snapshot's order.
        let mut waiting: BTreeMap<u64, DecodedBatch> = BTreeMap::new();
        let mut next = 0;
        for batch in decoded_queue {
            waiting.insert(batch.number, batch);
            while let Some(batch) = waiting.remove(&next) {
                batch.objects.iter().for_each(&mut *visit);
                // A worker that has finished drops nothing more: then it is dropped here.
                let _ = recycle[batch.worker].send(batch.objects);
                next += 1;
            }
        }
    });
}

struct DecodedBatch {
    number: u64,
    worker: usize,
    objects: Vec<Decoded>,
}

/// About this much JSON text is decoded per batch.
const BATCH_BYTES: usize = 64 << 10;

/// Consecutive pieces of the stream, their text copied out of the reader's buffer.
#[derive(Default)]
struct Batch {
    number: u64,
    text: Vec<u8>,
    pieces: Vec<BatchPiece>,
}

enum BatchPiece {
    Object {
        range: Range<usize>,
        line: usize,
        /// Known from the splitter: the object can be decoded without reading its header.
        workload: Option<WorkloadKind>,
    },
    NotAnObject {
        line: usize,
    },
    Broken {
        message: String,
    },
}

impl Batch {
    fn push(&mut self, piece: Piece<'_>) {
        self.pieces.push(match piece {
            Piece::Object {
                json,
                line,
                type_meta,
            } => {
                let start = self.text.len();
                self.text.extend_from_slice(json);
                BatchPiece::Object {
                    range: start..self.text.len(),
                    line,
                    workload: type_meta
                        .and_then(|(api_version, kind)| workload_kind(api_version, kind)),
                }
            }
            Piece::NotAnObject { line } => BatchPiece::NotAnObject { line },
            Piece::Broken { message } => BatchPiece::Broken { message },
        });
    }

    fn decode(self) -> Vec<Decoded> {
        self.pieces
            .into_iter()
            .map(|piece| match piece {
                BatchPiece::Object {
                    range,
                    line,
                    workload,
                } => {
                    let at_line = || format!("object at line {line}");
                    match std::str::from_utf8(&self.text[range]) {
                        Ok(text) => classify_known(text, workload).map_err(|mut e| {
                            if e.object == "object" {
                                e.object = at_line();
                            }
                            e
                        }),
                        Err(e) => Err(SnapshotError {
                            object: at_line(),
                            message: format!("not UTF-8: {e}"),
                            ends_stream: false,
                        }),
                    }
                }
                BatchPiece::NotAnObject { line } => Err(SnapshotError {
                    object: format!("item at line {line}"),
                    message: "a list item that is not an object".into(),
                    ends_stream: false,
                }),
                BatchPiece::Broken { message } => Err(SnapshotError {
                    object: "snapshot".into(),
                    message,
                    ends_stream: true,
                }),
            })
            .collect()
    }
}

/// Reads YAML (or JSON) manifests fully, then hands objects over in order.
pub fn read_documents(bytes: &[u8], name: &str, visit: &mut dyn FnMut(&Decoded)) {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned();
    let format = podsec_manifest::Format::detect(Some(name), &head);
    for doc in podsec_manifest::decode(bytes, format, &podsec_manifest::Limits::default()) {
        match doc {
            Ok(l) => visit(&classify(&l.value.to_string())),
            Err(e) => visit(&Err(SnapshotError {
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
        read_json(json.as_bytes(), &mut |o| out.push(o.clone()));
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
