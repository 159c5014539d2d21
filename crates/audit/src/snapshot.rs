//! Reading a cluster snapshot (what `kubectl get … -A -o json` prints) as a stream: objects are
//! handed over one at a time and dropped, so memory does not grow with the snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Read};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Mutex};

use crate::json_stream::Piece;
use podsec_manifest::{decode_workload_json, Format, Object, ObjectError, Workload, WorkloadKind};
use podsec_policy::psp::PodSecurityPolicy;
use podsec_policy::rbac::{Binding, Role};
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

/// Who wrote the objects being read, which decides how carefully they are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// What the API server stored (`kubectl get -o json`, a live listing): valid by
    /// construction, decoded straight into the typed model.
    #[default]
    Cluster,
    /// Manifests a person wrote (`podsec check`): checked as the API server checks a request
    /// (duplicate keys, nesting depth, unknown or removed apiVersions), errors naming the
    /// object and field with the line in the file.
    Authored,
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

/// The pod-bearing kind an `apiVersion` and `kind` name, if any; a wrong apiVersion for one
/// takes the slow path, which reports it.
fn workload_kind(api_version: &str, kind: &str) -> Option<WorkloadKind> {
    WorkloadKind::resolve(api_version, kind).ok().flatten()
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
    if header.kind.is_empty() || header.api_version.is_empty() {
        return Err(SnapshotError {
            object: "object".into(),
            message: "no apiVersion or kind: not a Kubernetes object; snapshots are what `kubectl get … -o json` prints".into(),
            ends_stream: false,
        });
    }
    let name = match header.metadata.name.as_str() {
        "" => "(no name)",
        name => name,
    };
    let id = if header.metadata.namespace.is_empty() {
        format!("{} {name}", header.kind)
    } else {
        format!("{} {}/{name}", header.kind, header.metadata.namespace)
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
        (kind, _) => match WorkloadKind::resolve(&header.api_version, kind)
            .map_err(|e| err(e.to_string()))?
        {
            Some(kind) => {
                let w = decode_workload_json(kind, json).map_err(|e| {
                    // The decoder names the object too; once is enough.
                    let message = e.to_string();
                    let own = format!("{} {}: ", header.kind, header.metadata.name);
                    err(message.strip_prefix(&own).unwrap_or(&message).to_string())
                })?;
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
    read_json_at(reader, Origin::Cluster, &mut |_, o| visit(o));
}

/// [`read_json`], with each object's line (where it starts in the stream) and its origin.
pub fn read_json_at<R: Read + Send>(
    reader: R,
    origin: Origin,
    visit: &mut dyn FnMut(usize, &Decoded),
) {
    pipeline(
        origin,
        move |batcher| crate::json_stream::split(reader, &mut |piece| batcher.push_json(piece)),
        visit,
    );
}

/// Streams the objects of a YAML snapshot: every document, and a `*List`'s items one by one
/// (see `yaml_stream`). Decoded on worker threads and handed over in order, on this thread.
pub fn read_yaml<R: BufRead + Send>(reader: R, visit: &mut dyn FnMut(&Decoded)) {
    read_yaml_at(reader, Origin::Cluster, &mut |_, o| visit(o));
}

/// [`read_yaml`], with each object's line (where it starts in the stream) and its origin.
pub fn read_yaml_at<R: BufRead + Send>(
    reader: R,
    origin: Origin,
    visit: &mut dyn FnMut(usize, &Decoded),
) {
    pipeline(
        origin,
        move |batcher| crate::yaml_stream::split(reader, &mut |piece| batcher.push_yaml(piece)),
        visit,
    );
}

/// Streams objects that `produce` hands to its emitter, each a JSON object with `apiVersion`
/// and `kind` (a live listing, page by page), decoded on worker threads and visited in order
/// on this thread, as a snapshot file is. Returns what `produce` returned.
pub fn read_objects(
    produce: impl FnOnce(&mut dyn FnMut(&str)) -> Result<(), String> + Send,
    visit: &mut dyn FnMut(&Decoded),
) -> Result<(), String> {
    let produced = pipeline(
        Origin::Cluster,
        move |batcher| {
            produce(&mut |json: &str| {
                batcher.push_json(Piece::Object {
                    json: json.as_bytes(),
                    line: 0,
                    type_meta: None,
                })
            })
        },
        &mut |_, o| visit(o),
    );
    produced.unwrap_or_else(|| Err("internal error: the listing stopped unexpectedly".into()))
}

/// Collects split objects into batches and queues them for the workers.
struct Batcher {
    batch: Batch,
    queue: mpsc::SyncSender<Batch>,
}

impl Batcher {
    fn push_json(&mut self, piece: Piece<'_>) {
        self.batch.push_json(piece);
        self.send_if_full();
    }

    fn push_yaml(&mut self, piece: crate::yaml_stream::Piece) {
        self.batch.push_yaml(piece);
        self.send_if_full();
    }

    fn send_if_full(&mut self) {
        // Pieces without text (list elements that are not objects) count too.
        if self.batch.text.len() >= BATCH_BYTES || self.batch.pieces.len() >= BATCH_PIECES {
            let next = Batch {
                number: self.batch.number + 1,
                origin: self.batch.origin,
                ..Batch::default()
            };
            // A closed queue means the consumer is gone: nothing left to do.
            let _ = self.queue.send(std::mem::replace(&mut self.batch, next));
        }
    }
}

/// Splits on one thread (`produce`), decodes batches on workers, visits in order here.
fn pipeline<T: Send>(
    origin: Origin,
    produce: impl FnOnce(&mut Batcher) -> T + Send,
    visit: &mut dyn FnMut(usize, &Decoded),
) -> Option<T> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (batches, batch_queue) = mpsc::sync_channel::<Batch>(workers);
    let batch_queue = Mutex::new(batch_queue);
    let (decoded, decoded_queue) = mpsc::sync_channel::<DecodedBatch>(workers);
    // Decoded batches go back to the worker that allocated them to be freed there: cheaper
    // for the allocator, and it keeps this thread (the bottleneck) to aggregation.
    let (recycle, recycled): (Vec<_>, Vec<_>) = (0..workers)
        .map(|_| mpsc::channel::<Vec<(usize, Decoded)>>())
        .unzip();
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut batcher = Batcher {
                batch: Batch {
                    origin,
                    ..Batch::default()
                },
                queue: batches,
            };
            let result = produce(&mut batcher);
            let _ = batcher.queue.send(batcher.batch);
            result
        });
        for (worker, recycled) in recycled.into_iter().enumerate() {
            let decoded = decoded.clone();
            let queue = &batch_queue;
            scope.spawn(move || {
                // A worker waits for its own batches to come back before taking another, so
                // what it has allocated stays bounded however long the snapshot is. It never
                // waits while holding an undecoded batch: the batches before its oldest one
                // are all being decoded, so that one always comes back.
                let mut outstanding = 0usize;
                loop {
                    while let Ok(done) = recycled.try_recv() {
                        drop(done);
                        outstanding -= 1;
                    }
                    if outstanding >= BATCHES_PER_WORKER {
                        match recycled.recv() {
                            Ok(done) => drop(done),
                            Err(_) => return,
                        }
                        outstanding -= 1;
                    }
                    let next = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let Ok(batch) = next else { return };
                    let number = batch.number;
                    // A decoder bug must not stall the pipeline (the batch would never come)
                    // nor lose the objects after it: it becomes an error in its place.
                    let objects = std::panic::catch_unwind(AssertUnwindSafe(|| batch.decode()))
                        .unwrap_or_else(|_| {
                            vec![(0, Err(SnapshotError {
                                object: format!("batch {number} of the snapshot"),
                                message: "internal error: decoding panicked; please report it with the input".into(),
                                ends_stream: false,
                            }))]
                        });
                    let objects = DecodedBatch {
                        number,
                        worker,
                        objects,
                    };
                    if decoded.send(objects).is_err() {
                        return;
                    }
                    outstanding += 1;
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
                for (line, object) in &batch.objects {
                    visit(*line, object);
                }
                // A worker that has finished drops nothing more: then it is dropped here.
                let _ = recycle[batch.worker].send(batch.objects);
                next += 1;
            }
        }
        producer.join().ok()
    })
}

struct DecodedBatch {
    number: u64,
    worker: usize,
    /// Each object with the line it starts on (0: not known, or from a listing).
    objects: Vec<(usize, Decoded)>,
}

/// About this much JSON text is decoded per batch.
const BATCH_BYTES: usize = 64 << 10;

/// At most this many pieces per batch.
const BATCH_PIECES: usize = 4096;

/// Decoded batches a worker may have handed over and not yet had back.
const BATCHES_PER_WORKER: usize = 4;

/// Consecutive pieces of the stream, their text copied out of the reader's buffer.
#[derive(Default)]
struct Batch {
    number: u64,
    origin: Origin,
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
    NotAList {
        line: usize,
        kind: String,
    },
    /// One YAML document or list item.
    Yaml {
        range: Range<usize>,
        line: usize,
    },
    TooLarge {
        line: usize,
    },
    Broken {
        message: String,
    },
}

impl Batch {
    fn push_yaml(&mut self, piece: crate::yaml_stream::Piece) {
        use crate::yaml_stream::Piece as Yaml;
        self.pieces.push(match piece {
            Yaml::Object(object) => {
                let start = self.text.len();
                self.text.extend_from_slice(&object.text);
                BatchPiece::Yaml {
                    range: start..self.text.len(),
                    line: object.line,
                }
            }
            Yaml::TooLarge { line } => BatchPiece::TooLarge { line },
            Yaml::NotAList { line, kind } => BatchPiece::NotAList { line, kind },
            Yaml::Broken { message } => BatchPiece::Broken { message },
        });
    }

    fn push_json(&mut self, piece: Piece<'_>) {
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
            Piece::NotAList { line, kind } => BatchPiece::NotAList { line, kind },
            Piece::Broken { message } => BatchPiece::Broken { message },
        });
    }

    fn decode(self) -> Vec<(usize, Decoded)> {
        let mut out = Vec::with_capacity(self.pieces.len());
        for piece in self.pieces {
            match piece {
                BatchPiece::Yaml { range, line } => {
                    decode_document(&self.text[range], Format::Yaml, line, self.origin, &mut out)
                }
                BatchPiece::Object { range, line, .. } if self.origin == Origin::Authored => {
                    decode_document(&self.text[range], Format::Json, line, self.origin, &mut out)
                }
                BatchPiece::Object {
                    range,
                    line,
                    workload,
                } => {
                    // Line 0: the object came from a listing, not a file.
                    let at_line = || match line {
                        0 => "object".to_string(),
                        _ => format!("object at line {line}"),
                    };
                    let decoded = match std::str::from_utf8(&self.text[range]) {
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
                    };
                    out.push((line, decoded));
                }
                BatchPiece::NotAnObject { line } => out.push((
                    line,
                    Err(SnapshotError {
                        object: format!("item at line {line}"),
                        message: "a list item that is not an object".into(),
                        ends_stream: false,
                    }),
                )),
                BatchPiece::NotAList { line, kind } => out.push((
                    line,
                    Err(SnapshotError {
                        object: format!("{kind} at line {line}"),
                        message: format!(
                            "a {kind} with a top-level `items` list: its items were read as a List's, the {kind} itself was not checked; remove the field (Kubernetes does not know it) or make the object a List"
                        ),
                        ends_stream: false,
                    }),
                )),
                BatchPiece::TooLarge { line } => out.push((
                    line,
                    Err(SnapshotError {
                        object: format!("object at line {line}"),
                        message: format!(
                            "document is larger than the {} MiB limit; split it into smaller documents",
                            crate::yaml_stream::MAX_OBJECT >> 20
                        ),
                        ends_stream: false,
                    }),
                )),
                BatchPiece::Broken { message } => out.push((
                    0,
                    Err(SnapshotError {
                        object: "snapshot".into(),
                        message,
                        ends_stream: true,
                    }),
                )),
            }
        }
        out
    }
}

/// Decodes one piece of the stream (a YAML document or list item, or a JSON object) that
/// starts at `line`, with podsec-manifest's decoder (duplicate keys and nesting refused, lines
/// counted): a `*List` gives its items. Authored objects are then classified as a request
/// is, cluster objects as the snapshot reader does.
fn decode_document(
    text: &[u8],
    format: Format,
    line: usize,
    origin: Origin,
    out: &mut Vec<(usize, Decoded)>,
) {
    let limits = podsec_manifest::Limits {
        // The splitter has bounded the piece already.
        max_document_bytes: usize::MAX,
        ..podsec_manifest::Limits::default()
    };
    let docs = podsec_manifest::decode(text, format, &limits);
    // A piece is one object unless it is a `*List` the splitter handed over whole; field
    // paths are then relative to an item, and the item's own line is the best there is.
    let one_object = docs.len() == 1;
    for doc in docs {
        let (at, decoded) = match doc {
            Ok(located) => {
                let at = line + located.line.saturating_sub(1);
                let decoded = match origin {
                    Origin::Authored => classify_authored(located.value).map_err(|e| {
                        // A wrong field: its own line, not the object's.
                        let field_at = e
                            .field()
                            .filter(|_| one_object)
                            .zip(std::str::from_utf8(text).ok())
                            .and_then(|(field, text)| {
                                podsec_manifest::field_line(text, format, field)
                            })
                            .map(|l| line + l - 1);
                        let error = SnapshotError {
                            object: String::new(),
                            message: e.to_string(),
                            ends_stream: false,
                        };
                        (field_at, error)
                    }),
                    Origin::Cluster => classify(&located.value.to_string()).map_err(|mut e| {
                        if e.object == "object" {
                            e.object = format!("object at line {at}");
                        }
                        (None, e)
                    }),
                };
                match decoded {
                    Ok(object) => (at, Ok(object)),
                    Err((field_at, e)) => (field_at.unwrap_or(at), Err(e)),
                }
            }
            Err(e) => {
                let at = line + e.line.saturating_sub(1);
                let object = match origin {
                    Origin::Authored => String::new(),
                    Origin::Cluster => format!("object at line {line}"),
                };
                let message = match origin {
                    Origin::Authored => e.message,
                    Origin::Cluster => format!("line {at}: {}", e.message),
                };
                (
                    at,
                    Err(SnapshotError {
                        object,
                        message,
                        ends_stream: false,
                    }),
                )
            }
        };
        out.push((at, decoded));
    }
}

/// An authored object as `podsec check` sees it: pod-bearing kinds decoded and defaulted,
/// Namespaces with their labels, everything else only counted.
/// An authored object, with its fields checked against the Kubernetes schema (what
/// `kubectl apply --validate=strict` would refuse).
fn classify_authored(value: serde_json::Value) -> Result<SnapshotObject, ObjectError> {
    let warnings = podsec_fields::check(&value);
    let with_warnings = |mut w: Box<podsec_manifest::Workload>| {
        w.field_warnings = warnings.iter().map(ToString::to_string).collect();
        w
    };
    Ok(match podsec_manifest::classify(value)? {
        Object::Workload(w) if w.kind == WorkloadKind::Pod => SnapshotObject::Pod(with_warnings(w)),
        Object::Workload(w) => SnapshotObject::Controller(with_warnings(w)),
        Object::Namespace(ns) => SnapshotObject::Namespace {
            name: ns.name,
            labels: ns.labels,
        },
        Object::Other { api_version, kind } => SnapshotObject::Other { api_version, kind },
    })
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
    fn objects_without_type_and_unnamed_objects_are_named_clearly() {
        let got = collect(
            r#"{"items":[{"metadata":{"name":"x"}},{"apiVersion":"v1","kind":"Pod","metadata":{}}]}"#,
        );
        let first = got[0].as_ref().expect_err("no kind");
        assert!(
            first.message.starts_with("no apiVersion or kind"),
            "{first}"
        );
        let second = got[1].as_ref().expect_err("no spec");
        assert_eq!(
            second.to_string(),
            "Pod (no name): spec: Required value: the object has no pod spec to evaluate"
        );
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
