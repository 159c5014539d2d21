//! Kubernetes objects that carry pods: which kinds do, where their pod template sits, and how
//! to decode it with an error that names the field at fault.

use std::collections::BTreeMap;
use std::fmt;

use crate::objects_only::{from_json_str, ObjectsOnly};
use podsec_policy::defaults::{apply_api_server_defaults, SpecOwner};
use podsec_policy::{ObjectMeta, PodSpec};
use serde::Deserialize;
use serde_json::Value;

/// The kinds whose objects hold a pod or a pod template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Pod,
    PodTemplate,
    ReplicationController,
    ReplicaSet,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 9] = [
        WorkloadKind::Pod,
        WorkloadKind::PodTemplate,
        WorkloadKind::ReplicationController,
        WorkloadKind::ReplicaSet,
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "Pod",
            WorkloadKind::PodTemplate => "PodTemplate",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }

    pub fn from_kind(kind: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The API group and the version Kubernetes serves this kind at today.
    pub fn group_version(self) -> (&'static str, &'static str) {
        match self {
            WorkloadKind::Pod | WorkloadKind::PodTemplate | WorkloadKind::ReplicationController => {
                ("", "v1")
            }
            WorkloadKind::ReplicaSet
            | WorkloadKind::Deployment
            | WorkloadKind::StatefulSet
            | WorkloadKind::DaemonSet => ("apps", "v1"),
            WorkloadKind::Job | WorkloadKind::CronJob => ("batch", "v1"),
        }
    }

    /// The API resource serving this kind (`deployments`), as in request URLs and
    /// AdmissionReview `resource` fields.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "pods",
            WorkloadKind::PodTemplate => "podtemplates",
            WorkloadKind::ReplicationController => "replicationcontrollers",
            WorkloadKind::ReplicaSet => "replicasets",
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
            WorkloadKind::Job => "jobs",
            WorkloadKind::CronJob => "cronjobs",
        }
    }

    /// The kind served at an API group's resource, if it is pod-bearing.
    pub fn from_resource(group: &str, resource: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL
            .into_iter()
            .find(|k| k.group_version().0 == group && k.resource() == resource)
    }

    /// The served apiVersion (`apps/v1`).
    pub fn api_version(self) -> &'static str {
        match self.group_version() {
            ("", _) => "v1",
            ("apps", _) => "apps/v1",
            _ => "batch/v1",
        }
    }

    /// Where the pod template sits in the object; paths of findings are prefixed with it.
    pub fn template_path(self) -> &'static str {
        match self {
            WorkloadKind::Pod => "",
            WorkloadKind::PodTemplate => "template",
            WorkloadKind::CronJob => "spec.jobTemplate.spec.template",
            _ => "spec.template",
        }
    }

    /// The pod-bearing kind an object of `api_version` and `kind` is: `None` for other kinds
    /// and for a same-named kind of a custom resource group (those have a dot, as the API
    /// server requires of CRDs: `batch.volcano.sh/v1alpha1` `Job` is not a `batch` Job). A
    /// pod-bearing kind under a built-in group or version that does not serve it (`apps/v1`
    /// `Pod`, `v1` `Deployment`, a removed version) is an error: the API server would refuse it,
    /// and skipping it would pass whatever it holds.
    pub fn resolve(api_version: &str, kind: &str) -> Result<Option<WorkloadKind>, ObjectError> {
        let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let custom_group = group.contains('.');
        let Some(workload_kind) = WorkloadKind::from_kind(kind) else {
            // Kinds are case-sensitive: the API server has no `pod` and would refuse it, so
            // skipping it as another kind would pass whatever it holds.
            return match WorkloadKind::ALL
                .into_iter()
                .find(|k| k.as_str().eq_ignore_ascii_case(kind))
            {
                Some(meant) if !custom_group => Err(ObjectError::MisspelledKind {
                    kind: kind.to_string(),
                    meant,
                }),
                _ => Ok(None),
            };
        };
        if api_version == workload_kind.api_version() {
            return Ok(Some(workload_kind));
        }
        if custom_group {
            return Ok(None);
        }
        Err(match workload_kind.removed_version(api_version) {
            Some(removed) => ObjectError::RemovedVersion {
                kind: workload_kind,
                api_version: api_version.to_string(),
                removed,
                current: workload_kind.api_version(),
            },
            None => ObjectError::UnknownVersion {
                kind: workload_kind,
                api_version: api_version.to_string(),
                current: workload_kind.api_version(),
            },
        })
    }

    /// The versions Kubernetes no longer serves, and the release that removed them.
    fn removed_version(self, api_version: &str) -> Option<&'static str> {
        use WorkloadKind::*;
        match (self, api_version) {
            (Deployment | DaemonSet | ReplicaSet, "extensions/v1beta1") => Some("1.16"),
            (Deployment | StatefulSet, "apps/v1beta1") => Some("1.16"),
            (Deployment | StatefulSet | DaemonSet | ReplicaSet, "apps/v1beta2") => Some("1.16"),
            (CronJob, "batch/v1beta1") => Some("1.25"),
            (CronJob, "batch/v2alpha1") => Some("1.21"),
            _ => None,
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object with a pod template, decoded and defaulted as the API server would.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// The object's own metadata (name, namespace, owners).
    pub meta: ObjectMeta,
    /// The pod's metadata: the object's own for a Pod, the template's otherwise.
    pub pod_meta: ObjectMeta,
    pub pod_spec: PodSpec,
    /// Fields the API server would refuse with strict field validation or drop silently
    /// (unknown fields, wrongly typed values): filled by readers of authored manifests.
    pub field_warnings: Vec<String>,
}

impl Workload {
    /// Rewrites a path relative to the pod (`spec.containers[0]…`) into one relative to this
    /// object (`spec.template.spec.containers[0]…`).
    pub fn object_path(&self, pod_path: &str) -> String {
        match self.kind.template_path() {
            "" => pod_path.to_string(),
            prefix => format!("{prefix}.{pod_path}"),
        }
    }
}

/// A Namespace object: its name and labels (which carry the Pod Security policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// What an object is, for pod security purposes.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Workload(Box<Workload>),
    Namespace(Namespace),
    /// Any other kind: not evaluated, only counted.
    Other {
        api_version: String,
        kind: String,
    },
}

/// Whether an error message (an [`ObjectError`]'s text) says the document is not a
/// Kubernetes object at all (no apiVersion or kind, or not a mapping): Helm values, a
/// package.json, a Chart.yaml.
pub fn is_not_kubernetes(message: &str) -> bool {
    message.ends_with(" is missing; every Kubernetes object needs apiVersion and kind")
        || message.starts_with("expected a Kubernetes object (a mapping with apiVersion and kind)")
}

/// Why an object could not be understood, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("expected a Kubernetes object (a mapping with apiVersion and kind), found {0}")]
    NotAnObject(&'static str),
    #[error("{0} is missing; every Kubernetes object needs apiVersion and kind")]
    Missing(&'static str),
    #[error("{field} must be a string, found {found}")]
    NotAString {
        field: &'static str,
        found: &'static str,
    },
    #[error("{kind} in apiVersion {api_version} is no longer served (removed in Kubernetes {removed}); use apiVersion {current}")]
    RemovedVersion {
        kind: WorkloadKind,
        api_version: String,
        removed: &'static str,
        current: &'static str,
    },
    #[error(
        "unknown apiVersion {api_version:?} for {kind}; Kubernetes serves {kind} as {current}"
    )]
    UnknownVersion {
        kind: WorkloadKind,
        api_version: String,
        current: &'static str,
    },
    #[error("unknown kind {kind:?}; kinds are case-sensitive: did you mean {meant}?")]
    MisspelledKind { kind: String, meant: WorkloadKind },
    #[error("{kind} {name}: {path}: {message}")]
    InvalidField {
        kind: &'static str,
        name: String,
        path: String,
        message: String,
        /// `path` as keys and indexes, to find the field's line in the source text (see
        /// [`crate::source::field_line`]).
        field: Vec<FieldKey>,
    },
    #[error("{kind} {name}: {path}: Required value: {why}")]
    Required {
        kind: WorkloadKind,
        name: String,
        path: String,
        why: &'static str,
    },
}

/// One step of a path into a document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKey {
    Key(String),
    Index(usize),
}

/// A serde_path_to_error path as keys and indexes; an unknown (non-string key) step ends it.
pub fn field_keys(path: &serde_path_to_error::Path) -> Vec<FieldKey> {
    use serde_path_to_error::Segment;
    path.iter()
        .map_while(|segment| match segment {
            Segment::Seq { index } => Some(FieldKey::Index(*index)),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                Some(FieldKey::Key(key.clone()))
            }
            Segment::Unknown => None,
        })
        .collect()
}

impl ObjectError {
    /// The field at fault, for errors about one field.
    pub fn field(&self) -> Option<&[FieldKey]> {
        match self {
            ObjectError::InvalidField { field, .. } if !field.is_empty() => Some(field),
            _ => None,
        }
    }
}

/// A serde_json message without its ` at line L column C`: the decoders here read a
/// re-serialized copy of the object (one line), whose positions mean nothing to the reader.
/// Callers report the line in the source instead.
pub(crate) fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if e.line() == 0 {
        return text;
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(stripped) => stripped.to_string(),
        None => text,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

fn string_field<'a>(
    map: &'a serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ObjectError> {
    match map.get(field) {
        None | Some(Value::Null) => Err(ObjectError::Missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(ObjectError::Missing(field)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ObjectError::NotAString {
            field,
            found: type_name(other),
        }),
    }
}

/// Classifies a decoded object and, for pod-bearing kinds, decodes and defaults its pod.
pub fn classify(value: Value) -> Result<Object, ObjectError> {
    let Value::Object(map) = &value else {
        return Err(ObjectError::NotAnObject(type_name(&value)));
    };
    let api_version = string_field(map, "apiVersion")?;
    let kind = string_field(map, "kind")?;

    if kind == "Namespace" && api_version == "v1" {
        let meta = decode_meta(&value, "Namespace")?;
        return Ok(Object::Namespace(Namespace {
            name: meta.name,
            labels: meta.labels,
        }));
    }

    let Some(workload_kind) = WorkloadKind::resolve(api_version, kind)? else {
        return Ok(Object::Other {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    };
    decode_workload(workload_kind, value).map(|w| Object::Workload(Box::new(w)))
}

// Typed views of the pod-bearing kinds. Unknown fields are ignored; a known field of the
// wrong type fails with its path.

#[derive(Deserialize)]
struct MetaOnly {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
}

#[derive(Deserialize)]
struct TemplateSpec {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    spec: Option<PodSpec>,
}

#[derive(Deserialize)]
struct WithTemplate {
    #[serde(default)]
    template: Option<TemplateSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CronJobSpec {
    #[serde(default)]
    job_template: Option<JobTemplate>,
}

#[derive(Deserialize)]
struct JobTemplate {
    #[serde(default)]
    spec: Option<WithTemplate>,
}

/// A Pod.
#[derive(Deserialize)]
struct PodObject {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    spec: Option<PodSpec>,
}

/// A PodTemplate.
#[derive(Deserialize)]
struct PodTemplateObject {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    template: Option<TemplateSpec>,
}

/// A controller with `spec.template`.
#[derive(Deserialize)]
struct ControllerObject {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    spec: Option<WithTemplate>,
}

/// A CronJob: `spec.jobTemplate.spec.template`.
#[derive(Deserialize)]
struct CronJobObject {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    spec: Option<CronJobSpec>,
}

type PathError = serde_path_to_error::Error<serde_json::Error>;

fn invalid(kind: &'static str, name: &str, err: PathError, prefix: &str) -> ObjectError {
    let inner = err.path().to_string();
    let path = match (prefix, inner.as_str()) {
        ("", ".") => "(root)".to_string(),
        ("", p) => p.to_string(),
        (pre, ".") => pre.to_string(),
        (pre, p) => format!("{pre}.{p}"),
    };
    let field = field_keys(err.path());
    ObjectError::InvalidField {
        kind,
        name: clipped(name, MAX_NAME),
        path,
        message: clipped(&without_position(err.inner()), MAX_MESSAGE),
        field,
    }
}

/// The longest name Kubernetes accepts (a DNS subdomain); longer ones are cut in messages.
const MAX_NAME: usize = 253;
/// Decoder messages quote the offending value; a huge one is cut.
const MAX_MESSAGE: usize = 1_000;

/// `text` up to `max` characters, or its start and how long it was: an error about a
/// megabyte-long value need not repeat it.
fn clipped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
        None => text.to_string(),
    }
}

fn decode_meta(value: &Value, kind: &'static str) -> Result<ObjectMeta, ObjectError> {
    let meta: MetaOnly = serde_path_to_error::deserialize(ObjectsOnly(value))
        .map_err(|e| invalid(kind, "", e, ""))?;
    Ok(meta.metadata.unwrap_or_default())
}

fn decode_workload(kind: WorkloadKind, value: Value) -> Result<Workload, ObjectError> {
    // Value -> text is cheap next to YAML parsing, and lets offline input and admission
    // requests share one decoder.
    let text = value.to_string();
    decode_workload_json(kind, &text)
}

/// Decodes `json` in one pass; only when that fails is it decoded again, tracking field paths,
/// to say where the problem is.
fn decode_typed<T: serde::de::DeserializeOwned>(
    kind: WorkloadKind,
    json: &str,
) -> Result<T, ObjectError> {
    match from_json_str::<T>(json) {
        Ok(value) => Ok(value),
        Err(plain) => {
            let name = serde_json::from_str::<MetaOnlyJson>(json)
                .ok()
                .and_then(|m| m.metadata)
                .map(|m| {
                    if m.name.is_empty() {
                        m.generate_name
                    } else {
                        m.name
                    }
                })
                .unwrap_or_default();
            let mut de = serde_json::Deserializer::from_str(json);
            match serde_path_to_error::deserialize::<_, T>(ObjectsOnly(&mut de)) {
                Err(e) => Err(invalid(kind.as_str(), &name, e, "")),
                Ok(_) => Err(ObjectError::InvalidField {
                    kind: kind.as_str(),
                    name,
                    path: "(root)".into(),
                    message: without_position(&plain),
                    field: Vec::new(),
                }),
            }
        }
    }
}

#[derive(Deserialize)]
struct MetaOnlyJson {
    #[serde(default)]
    metadata: Option<NameOnly>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameOnly {
    #[serde(default)]
    name: String,
    #[serde(default)]
    generate_name: String,
}

/// Decodes a pod-bearing object of a known kind from JSON (an AdmissionReview's `object`, or
/// a manifest), and applies the API server's verdict-changing defaults.
pub fn decode_workload_json(kind: WorkloadKind, json: &str) -> Result<Workload, ObjectError> {
    let (meta, pod_meta, pod_spec) = match kind {
        WorkloadKind::Pod => {
            let p: PodObject = decode_typed(kind, json)?;
            let meta = p.metadata.unwrap_or_default();
            (meta.clone(), Some(meta), p.spec)
        }
        WorkloadKind::PodTemplate => {
            let p: PodTemplateObject = decode_typed(kind, json)?;
            let (m, s) = p.template.map(|t| (t.metadata, t.spec)).unwrap_or_default();
            (p.metadata.unwrap_or_default(), m, s)
        }
        WorkloadKind::CronJob => {
            let c: CronJobObject = decode_typed(kind, json)?;
            let template = c
                .spec
                .and_then(|s| s.job_template)
                .and_then(|j| j.spec)
                .and_then(|s| s.template);
            let (m, s) = template.map(|t| (t.metadata, t.spec)).unwrap_or_default();
            (c.metadata.unwrap_or_default(), m, s)
        }
        _ => {
            let o: ControllerObject = decode_typed(kind, json)?;
            let (m, s) = o
                .spec
                .and_then(|s| s.template)
                .map(|t| (t.metadata, t.spec))
                .unwrap_or_default();
            (o.metadata.unwrap_or_default(), m, s)
        }
    };
    let name = if meta.name.is_empty() {
        meta.generate_name.clone()
    } else {
        meta.name.clone()
    };
    let required = |path: String, why: &'static str| ObjectError::Required {
        kind,
        name: name.clone(),
        path,
        why,
    };
    let spec_path = match kind.template_path() {
        "" => "spec".to_string(),
        prefix => format!("{prefix}.spec"),
    };
    let Some(mut pod_spec) = pod_spec else {
        return Err(required(
            spec_path,
            "the object has no pod spec to evaluate",
        ));
    };
    if pod_spec.containers.is_empty() {
        return Err(required(
            format!("{spec_path}.containers"),
            "a pod needs at least one container (the API server rejects it otherwise)",
        ));
    }
    let owner = if kind == WorkloadKind::Pod {
        SpecOwner::Pod
    } else {
        SpecOwner::Template
    };
    apply_api_server_defaults(&mut pod_spec, owner);
    Ok(Workload {
        kind,
        meta,
        pod_meta: pod_meta.unwrap_or_default(),
        pod_spec,
        field_warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workload(v: Value) -> Workload {
        match classify(v) {
            Ok(Object::Workload(w)) => *w,
            other => panic!("expected a workload, got {other:?}"),
        }
    }

    #[test]
    fn finds_the_pod_in_every_kind() {
        let spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
        let template = json!({"metadata": {"annotations": {"a": "b"}}, "spec": spec});
        let cases = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"a": "b"}}, "spec": spec}),
            json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "p"}, "template": template}),
            json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "p"}, "spec": {"template": template}}),
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "p"}, "spec": {"template": template}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "p"}, "spec": {"template": template}}),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "p"}, "spec": {"template": template}}),
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "p"}, "spec": {"template": template}}),
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "p"}, "spec": {"template": template}}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "p"}, "spec": {"jobTemplate": {"spec": {"template": template}}}}),
        ];
        for (case, kind) in cases.into_iter().zip(WorkloadKind::ALL) {
            let w = workload(case);
            assert_eq!(w.kind, kind);
            assert_eq!(w.meta.name, "p");
            assert_eq!(
                w.pod_meta.annotations.get("a").map(String::as_str),
                Some("b"),
                "{kind}"
            );
            assert_eq!(w.pod_spec.containers[0].name, "c");
        }
    }

    #[test]
    fn object_paths_are_prefixed_with_the_template_path() {
        let w = workload(
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "p"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}}}),
        );
        assert_eq!(
            w.object_path("spec.containers[0]"),
            "spec.jobTemplate.spec.template.spec.containers[0]"
        );
    }

    #[test]
    fn other_kinds_and_foreign_groups_are_skipped() {
        assert_eq!(
            classify(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}})),
            Ok(Object::Other {
                api_version: "v1".into(),
                kind: "Service".into()
            })
        );
        assert!(matches!(
            classify(json!({"apiVersion": "example.com/v1", "kind": "Deployment"})),
            Ok(Object::Other { .. })
        ));
    }

    #[test]
    fn namespaces_carry_their_labels() {
        let ns = classify(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dmz",
            "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
        );
        let Ok(Object::Namespace(ns)) = ns else {
            panic!("{ns:?}")
        };
        assert_eq!(ns.name, "dmz");
        assert_eq!(ns.labels.len(), 1);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = classify(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "securityContext": {"privileged": "yes"}}]}}),
        );
        let Err(ObjectError::InvalidField { path, message, .. }) = e else {
            panic!("{e:?}")
        };
        assert_eq!(path, "spec.containers[0].securityContext.privileged");
        assert_eq!(message, "invalid type: string \"yes\", expected a boolean");
        let e = classify(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": {"name": "c"}}}}}),
        );
        let Err(ObjectError::InvalidField { path, .. }) = e else {
            panic!("{e:?}")
        };
        assert_eq!(path, "spec.template.spec.containers");
        let e = classify(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"a": 1}}, "spec": {}}),
        );
        let Err(ObjectError::InvalidField { path, .. }) = e else {
            panic!("{e:?}")
        };
        assert_eq!(path, "metadata.annotations.a");
    }

    #[test]
    fn missing_parts_are_errors_not_passes() {
        let e = classify(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
        assert!(
            matches!(e, Err(ObjectError::Required { ref path, .. }) if path == "spec"),
            "{e:?}"
        );
        let e = classify(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {}}}}),
        );
        assert!(
            matches!(e, Err(ObjectError::Required { ref path, .. }) if path == "spec.template.spec.containers"),
            "{e:?}"
        );
        assert_eq!(
            classify(json!({"kind": "Pod"})),
            Err(ObjectError::Missing("apiVersion"))
        );
        assert_eq!(
            classify(json!({"apiVersion": "v1"})),
            Err(ObjectError::Missing("kind"))
        );
        assert_eq!(
            classify(json!([1, 2])),
            Err(ObjectError::NotAnObject("a sequence"))
        );
    }

    #[test]
    fn unknown_and_removed_api_versions_are_errors() {
        let e = classify(json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment"}));
        assert_eq!(e.map_err(|e| e.to_string()), Err("Deployment in apiVersion extensions/v1beta1 is no longer served (removed in Kubernetes 1.16); use apiVersion apps/v1".to_string()));
        let e = classify(json!({"apiVersion": "apps/v2", "kind": "Deployment"}));
        assert_eq!(e.map_err(|e| e.to_string()), Err("unknown apiVersion \"apps/v2\" for Deployment; Kubernetes serves Deployment as apps/v1".to_string()));
        assert!(classify(json!({"apiVersion": "v2", "kind": "Pod"})).is_err());
    }

    #[test]
    fn api_server_defaults_are_applied() {
        let w = workload(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}], "volumes": [{"name": "v"}]}}),
        );
        assert!(w.pod_spec.volumes[0].source.is_some());
    }
}
