//! Test helpers: pods written as JSON, and assertions on a single check's verdict.

use serde::Deserialize;

use super::{CheckFn, Forbidden};
use crate::pod::{ObjectMeta, PodSpec};

#[derive(Deserialize, Default)]
#[serde(default)]
struct TestPod {
    metadata: ObjectMeta,
    spec: PodSpec,
}

/// Builds pod metadata and spec from `{"metadata": …, "spec": …}`.
pub(crate) fn pod(json: serde_json::Value) -> (ObjectMeta, PodSpec) {
    let p: TestPod = serde_json::from_value(json).expect("test pod must decode");
    (p.metadata, p.spec)
}

/// Asserts that `check` allows the pod.
#[track_caller]
pub(crate) fn assert_allowed(check: CheckFn, json: serde_json::Value) {
    let (meta, spec) = pod(json.clone());
    if let Some(f) = check(&meta, &spec) {
        panic!("expected allowed, got {f:?} for {json}");
    }
}

/// Asserts that `check` forbids the pod with exactly this reason and detail, and returns the
/// verdict so the caller can look at the field paths.
#[track_caller]
pub(crate) fn assert_forbidden(
    check: CheckFn,
    json: serde_json::Value,
    reason: &str,
    detail: &str,
) -> Forbidden {
    let (meta, spec) = pod(json.clone());
    let Some(f) = check(&meta, &spec) else {
        panic!("expected forbidden ({reason}: {detail}), got allowed for {json}");
    };
    assert_eq!(f.reason, reason, "reason for {json}");
    assert_eq!(f.detail, detail, "detail for {json}");
    assert!(
        !f.fields.is_empty(),
        "a violation names the fields at fault: {json}"
    );
    f
}
