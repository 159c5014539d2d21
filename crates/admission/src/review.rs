//! AdmissionReview (`admission.k8s.io/v1`, and `v1beta1` answered in kind): the request
//! podsec reads and the response it writes. Objects stay raw JSON until a decision needs them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use podsec_manifest::from_json_str;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Which AdmissionReview version a request came in; the answer uses the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewVersion {
    V1,
    V1beta1,
}

impl ReviewVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            ReviewVersion::V1 => "admission.k8s.io/v1",
            ReviewVersion::V1beta1 => "admission.k8s.io/v1beta1",
        }
    }
}

// Strings borrow from the request body unless they contain escapes: a review is answered
// without copying its envelope.

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GroupVersionKind<'a> {
    #[serde(default, borrow)]
    pub group: Cow<'a, str>,
    #[serde(default, borrow)]
    pub version: Cow<'a, str>,
    #[serde(default, borrow)]
    pub kind: Cow<'a, str>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GroupVersionResource<'a> {
    #[serde(default, borrow)]
    pub group: Cow<'a, str>,
    #[serde(default, borrow)]
    pub version: Cow<'a, str>,
    #[serde(default, borrow)]
    pub resource: Cow<'a, str>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserInfo<'a> {
    #[serde(default, borrow)]
    pub username: Cow<'a, str>,
    #[serde(default, borrow)]
    pub uid: Cow<'a, str>,
    #[serde(default, borrow)]
    pub groups: Vec<Cow<'a, str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// The metrics label upstream uses (`create`, `update`, …).
    pub fn label(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Connect => "connect",
        }
    }
}

/// The request of an AdmissionReview. `object` and `oldObject` borrow the request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest<'a> {
    #[serde(borrow)]
    pub uid: Cow<'a, str>,
    #[serde(default, borrow)]
    pub kind: GroupVersionKind<'a>,
    #[serde(default, borrow)]
    pub resource: GroupVersionResource<'a>,
    #[serde(default, borrow)]
    pub sub_resource: Cow<'a, str>,
    #[serde(default, borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub namespace: Cow<'a, str>,
    pub operation: Operation,
    #[serde(default, borrow)]
    pub user_info: UserInfo<'a>,
    #[serde(default, borrow)]
    pub object: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub old_object: Option<&'a RawValue>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    #[serde(default, borrow)]
    api_version: Cow<'a, str>,
    #[serde(default, borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    request: Option<AdmissionRequest<'a>>,
}

/// Why an HTTP body is not an AdmissionReview podsec can answer.
///
/// The decoding variants say only that the body could not be decoded; where and why is their
/// [source](std::error::Error::source) (print the chain, e.g. with anyhow's `{:#}`, to read
/// `unable to decode the request: expected value at line 1 column 2`).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The body is not UTF-8, as JSON text must be.
    #[error("unable to decode the request")]
    Utf8(#[source] std::str::Utf8Error),
    /// The body is not JSON, or not shaped like an AdmissionReview.
    #[error("unable to decode the request")]
    Decode(#[source] serde_json::Error),
    #[error("unexpected AdmissionReview kind: {0}; expected apiVersion admission.k8s.io/v1 (or v1beta1) and kind AdmissionReview")]
    UnexpectedKind(String),
    #[error("the AdmissionReview has no request")]
    MissingRequest,
    #[error("the AdmissionReview request has no uid")]
    MissingUid,
}

/// What a document's `apiVersion` and `kind` are, for an error that says what else was
/// expected: `found apiVersion "v1", kind "Pod"`, or which of the two is missing.
pub(crate) fn found_type(api_version: &str, kind: &str) -> String {
    match (api_version.is_empty(), kind.is_empty()) {
        (true, true) => "apiVersion and kind are missing".into(),
        (true, false) => format!("apiVersion is missing (kind {kind:?})"),
        (false, true) => format!("kind is missing (apiVersion {api_version:?})"),
        (false, false) => format!("found apiVersion {api_version:?}, kind {kind:?}"),
    }
}

/// Parses an AdmissionReview body.
pub fn parse_review(body: &[u8]) -> Result<(ReviewVersion, AdmissionRequest<'_>), ReviewError> {
    // One UTF-8 check for the whole body, instead of one per borrowed value.
    let text = std::str::from_utf8(body).map_err(ReviewError::Utf8)?;
    let review: ReviewIn = from_json_str(text).map_err(ReviewError::Decode)?;
    let version = match (&*review.api_version, &*review.kind) {
        ("admission.k8s.io/v1", "AdmissionReview") => ReviewVersion::V1,
        ("admission.k8s.io/v1beta1", "AdmissionReview") => ReviewVersion::V1beta1,
        (api_version, kind) => {
            return Err(ReviewError::UnexpectedKind(found_type(api_version, kind)));
        }
    };
    let request = review.request.ok_or(ReviewError::MissingRequest)?;
    if request.uid.is_empty() {
        return Err(ReviewError::MissingUid);
    }
    Ok((version, request))
}

/// A Kubernetes `metav1.Status`, as the API server returns it to the client on denial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub metadata: BTreeMap<String, String>,
    pub status: String,
    pub message: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    pub code: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    #[serde(rename = "reason", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl Status {
    fn failure(code: u16, reason: &str, message: String, details: Option<StatusDetails>) -> Status {
        Status {
            metadata: BTreeMap::new(),
            status: "Failure".into(),
            message,
            reason: reason.into(),
            details,
            code,
        }
    }

    /// What Gatekeeper's webhook answers on denial (controller-runtime's `Denied`): 403,
    /// `Forbidden`, the message as it is.
    pub fn denied(message: String) -> Status {
        Status::failure(403, "Forbidden", message, None)
    }

    /// `apierrors.NewForbidden(resource, name, err)`.
    pub fn forbidden(group: &str, resource: &str, name: &str, err: &str) -> Status {
        let qualified = qualified(resource, group);
        let message = if qualified.is_empty() {
            format!("forbidden: {err}")
        } else if name.is_empty() {
            format!("{qualified} is forbidden: {err}")
        } else {
            format!(
                "{qualified} {} is forbidden: {err}",
                podsec_policy::go_quote(name)
            )
        };
        let details = StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: resource.into(),
            causes: vec![],
        };
        Status::failure(403, "Forbidden", message, Some(details))
    }

    /// `apierrors.NewInvalid(kind, name, errs)`: `causes` holds each field error.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[(String, String)]) -> Status {
        let qualified = qualified(kind, group);
        let texts: Vec<String> = errors
            .iter()
            .map(|(field, body)| format!("{field}: {body}"))
            .collect();
        let message = format!(
            "{qualified} {} is invalid: {}",
            podsec_policy::go_quote(name),
            aggregate(&texts)
        );
        let causes = errors
            .iter()
            .map(|(field, body)| StatusCause {
                type_: "FieldValueInvalid".into(),
                message: body.clone(),
                field: field.clone(),
            })
            .collect();
        let details = StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
            causes,
        };
        Status::failure(422, "Invalid", message, Some(details))
    }

    /// `apierrors.NewBadRequest(reason)`.
    pub fn bad_request(message: &str) -> Status {
        Status::failure(400, "BadRequest", message.into(), None)
    }

    /// `apierrors.NewInternalError(err)`.
    pub fn internal(err: &str) -> Status {
        let details = StatusDetails {
            causes: vec![StatusCause {
                type_: String::new(),
                message: err.into(),
                field: String::new(),
            }],
            ..StatusDetails::default()
        };
        Status::failure(
            500,
            "InternalError",
            format!("Internal error occurred: {err}"),
            Some(details),
        )
    }
}

/// `schema.GroupResource.String()` / `GroupKind.String()`: `name` or `name.group`.
fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message alone, several in brackets.
pub fn aggregate(messages: &[String]) -> String {
    let mut unique: Vec<&String> = Vec::new();
    for m in messages {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    match unique.as_slice() {
        [one] => (*one).clone(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// An admission decision, before the request's UID is attached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub status: Option<Status>,
    pub warnings: Vec<String>,
    /// Keys without the webhook prefix: kube-apiserver adds `<webhook name>/`.
    pub audit_annotations: BTreeMap<String, String>,
    /// A JSON patch (RFC 6902) to apply, for mutating decisions.
    pub patch: Option<serde_json::Value>,
}

impl Decision {
    pub fn allow() -> Decision {
        Decision {
            allowed: true,
            ..Decision::default()
        }
    }

    pub fn deny(status: Status) -> Decision {
        Decision {
            allowed: false,
            status: Some(status),
            ..Decision::default()
        }
    }

    pub fn with_annotation(mut self, key: &str, value: impl Into<String>) -> Decision {
        self.audit_annotations.insert(key.into(), value.into());
        self
    }

    /// Two engines' decisions on one request: allowed only if both allow; the status (and
    /// patch) of the first that denies, else of the second; the warnings and audit
    /// annotations of both, the first's first.
    pub fn and(mut self, mut other: Decision) -> Decision {
        let allowed = self.allowed && other.allowed;
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.append(&mut other.warnings);
        let mut annotations = std::mem::take(&mut self.audit_annotations);
        annotations.append(&mut other.audit_annotations);
        let mut out = if self.allowed { other } else { self };
        out.allowed = allowed;
        out.warnings = warnings;
        out.audit_annotations = annotations;
        out
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    audit_annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

/// The AdmissionReview response could not be serialized. The response types are plain
/// structs, so this is a bug; a server answers it with a 500 rather than an empty body.
#[derive(Debug, thiserror::Error)]
#[error("unable to encode the AdmissionReview response")]
pub struct EncodeError(#[from] serde_json::Error);

/// Serializes the AdmissionReview answering request `uid`.
pub fn review_response(
    version: ReviewVersion,
    uid: &str,
    decision: &Decision,
) -> Result<Vec<u8>, EncodeError> {
    let patch = decision
        .patch
        .as_ref()
        .map(|p| base64_encode(p.to_string().as_bytes()));
    let review = ReviewOut {
        api_version: version.api_version(),
        kind: "AdmissionReview",
        response: ResponseOut {
            uid,
            allowed: decision.allowed,
            status: decision.status.as_ref(),
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch,
            audit_annotations: &decision.audit_annotations,
            warnings: &decision.warnings,
        },
    };
    serde_json::to_vec(&review).map_err(EncodeError::from)
}

/// Standard base64 with padding (patches and `caBundle` values).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v1beta1_and_rejects_others() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"ns","operation":"CREATE","userInfo":{"username":"alice","groups":["g"]},"object":{"a":1}}}"#;
        let (v, r) = parse_review(body).expect("valid review");
        assert_eq!(v, ReviewVersion::V1);
        assert_eq!(r.uid, "u1");
        assert_eq!(r.resource.resource, "pods");
        assert_eq!(r.operation, Operation::Create);
        assert_eq!(r.user_info.username, "alice");
        assert_eq!(r.object.map(|o| o.get()), Some(r#"{"a":1}"#));
        let beta = String::from_utf8(body.to_vec())
            .expect("utf8")
            .replace("admission.k8s.io/v1\"", "admission.k8s.io/v1beta1\"");
        assert!(matches!(
            parse_review(beta.as_bytes()),
            Ok((ReviewVersion::V1beta1, _))
        ));
        let wrong = br#"{"apiVersion":"v1","kind":"Pod"}"#;
        assert!(matches!(
            parse_review(wrong),
            Err(ReviewError::UnexpectedKind(ref found))
                if found == "found apiVersion \"v1\", kind \"Pod\""
        ));
        let no_uid = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"","operation":"CREATE"}}"#;
        assert!(matches!(parse_review(no_uid), Err(ReviewError::MissingUid)));
    }

    #[test]
    fn decoding_errors_keep_their_cause() {
        use std::error::Error as _;
        let e = parse_review(b"{not json")
            .map(|_| ())
            .expect_err("not JSON");
        assert!(matches!(e, ReviewError::Decode(_)), "{e:?}");
        assert_eq!(e.to_string(), "unable to decode the request");
        let cause = e
            .source()
            .and_then(|c| c.downcast_ref::<serde_json::Error>());
        assert_eq!(cause.map(|c| (c.line(), c.column())), Some((1, 2)));
        let e = parse_review(b"{\"a\": \"\xff\"}")
            .map(|_| ())
            .expect_err("not UTF-8");
        assert!(matches!(e, ReviewError::Utf8(_)), "{e:?}");
        assert_eq!(e.to_string(), "unable to decode the request");
        assert!(e
            .source()
            .is_some_and(|c| c.to_string().starts_with("invalid utf-8")));
    }

    #[test]
    fn statuses_match_apimachinery() {
        let s = Status::forbidden(
            "",
            "pods",
            "nginx",
            "violates PodSecurity \"restricted:latest\": x",
        );
        assert_eq!(
            s.message,
            r#"pods "nginx" is forbidden: violates PodSecurity "restricted:latest": x"#
        );
        assert_eq!(s.code, 403);
        let s = Status::forbidden("", "pods", "", "e");
        assert_eq!(s.message, "pods is forbidden: e");
        let s = Status::forbidden("apps", "deployments", "web", "e");
        assert_eq!(s.message, r#"deployments.apps "web" is forbidden: e"#);
        let json = serde_json::to_value(Status::forbidden("", "pods", "p", "e")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"metadata": {}, "status": "Failure", "message": "pods \"p\" is forbidden: e", "reason": "Forbidden", "details": {"name": "p", "kind": "pods"}, "code": 403})
        );
        let s = Status::invalid(
            "",
            "Namespace",
            "ns",
            &[(
                "metadata.labels[x]".into(),
                "Invalid value: \"y\": bad".into(),
            )],
        );
        assert_eq!(
            s.message,
            r#"Namespace "ns" is invalid: metadata.labels[x]: Invalid value: "y": bad"#
        );
        let s = Status::internal(r#"failed to lookup namespace "x""#);
        assert_eq!(
            s.message,
            r#"Internal error occurred: failed to lookup namespace "x""#
        );
        assert_eq!(aggregate(&["a".into(), "b".into(), "a".into()]), "[a, b]");
    }

    #[test]
    fn response_echoes_uid_and_encodes_patches() {
        let d = Decision::allow().with_annotation("enforce-policy", "restricted:latest");
        let body = review_response(ReviewVersion::V1, "abc", &d).expect("encodes");
        let out: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            out,
            serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "abc", "allowed": true, "auditAnnotations": {"enforce-policy": "restricted:latest"}}})
        );
        let mut d = Decision::allow();
        d.patch = Some(serde_json::json!([{"op": "add", "path": "/a", "value": 1}]));
        let body = review_response(ReviewVersion::V1beta1, "x", &d).expect("encodes");
        let out: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1beta1");
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        assert_eq!(
            out["response"]["patch"],
            "W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d"
        );
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"a"), "YQ==");
    }
}
