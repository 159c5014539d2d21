//! The fuzz targets' bodies, one function per input surface. Each takes arbitrary bytes, runs
//! them through the code the server and the CLI run, and panics only when an invariant is
//! broken (a panic inside podsec is one too). `fuzz/` drives them with libFuzzer on nightly;
//! `tests/replay.rs` runs the committed corpora and crashers through them on stable.

use std::future::Future;
use std::io::{BufReader, Cursor};
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use podsec_admission::{
    parse_review, review_response, Admission, Cluster, Configuration, Engines, NoMetrics, Options,
    Webhook,
};
use podsec_audit::check::{Against, Checker};
use podsec_audit::snapshot::{read_json_at, read_yaml_at, Origin};
use podsec_cluster::files::ManifestFile;
use podsec_cluster::ClusterState;
use podsec_manifest::{classify, decode, Format, Limits, Object};
use podsec_policy::psp::selection::{default_service_account, select_policy, Phase};
use podsec_policy::rbac::UserIdentity;
use podsec_policy::{evaluate, Level, LevelVersion, ObjectMeta, PodSpec, Version};

/// What a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name of their `fuzz/fuzz_targets/*.rs` file and corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("admission_review", admission_review),
    ("manifests", manifests),
    ("snapshot_stream", snapshot_stream),
    ("configuration", configuration),
    ("cluster_state", cluster_state),
    ("constraints", constraints),
];

/// Cluster state the admission target decides against: namespaces at every level (one with
/// labels upstream rejects), and PodSecurityPolicies with the RBAC that grants them.
const STATE: &str = include_str!("state.yaml");

static CLUSTER: LazyLock<ClusterState> = LazyLock::new(|| {
    let (mut state, errors) = ClusterState::from_files(&[ManifestFile {
        name: "state.yaml".into(),
        format_hint: Some("state.yaml".into()),
        bytes: STATE.as_bytes().to_vec(),
    }]);
    assert!(errors.is_empty(), "the fuzzing state must load: {errors:?}");
    state.build_psp_state();
    state
});

/// Runs a future over in-memory state to completion. Nothing it awaits does I/O, so it must
/// finish without ever waiting; a future that stays pending is a hang, reported as one.
fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("an admission decision over in-memory state never completed");
}

/// An AdmissionReview as the server receives it: decoded, decided by each webhook and engine
/// set the first byte picks, and answered. The answer must be JSON naming the request's uid,
/// and a denial must say why.
pub fn admission_review(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let engines = match selector % 3 {
        0 => Engines::Pss,
        1 => Engines::Psp,
        _ => Engines::Both,
    };
    let webhook = if selector & 4 == 0 {
        Webhook::Validating
    } else {
        Webhook::Mutating
    };
    let admission = Admission::new(
        Configuration::default(),
        Options {
            enforce_templates: selector & 8 != 0,
            namespace_pod_limit: Some(50),
            engines,
            field_warnings: selector & 16 != 0,
        },
    );
    let Ok((version, request)) = parse_review(body) else {
        return;
    };
    let decision =
        run_ready(admission.review(webhook, &request, Cluster::of(&*CLUSTER), &NoMetrics, None));
    if !decision.allowed {
        let status = decision
            .status
            .as_ref()
            .unwrap_or_else(|| panic!("a denial without a status: {decision:?}"));
        assert!(!status.message.is_empty(), "a denial without a message");
    }
    let response = match review_response(version, &request.uid, &decision) {
        Ok(bytes) => bytes,
        Err(e) => panic!("the answer could not be encoded: {e}"),
    };
    let answer: serde_json::Value = match serde_json::from_slice(&response) {
        Ok(v) => v,
        Err(e) => panic!("the answer is not JSON: {e}"),
    };
    assert_eq!(
        answer.pointer("/response/uid").and_then(|u| u.as_str()),
        Some(&*request.uid),
        "the answer must name the request's uid"
    );
}

/// Manifest files as the state directory loader reads them (YAML or JSON by the first byte,
/// `*List`s unrolled): every error names a line inside the text, and every pod-bearing object
/// is evaluated against the restricted level.
pub fn manifests(data: &[u8]) {
    let format = if data.first() == Some(&b'{') || data.first() == Some(&b'[') {
        Format::Json
    } else {
        Format::Yaml
    };
    // YAML breaks lines at LF, CRLF and a lone CR.
    let lines = data
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n')))
        .count()
        + 1;
    let newest = LevelVersion::new(Level::Restricted, Version::Latest);
    for located in decode(data, format, &Limits::default()) {
        match located {
            Err(e) => {
                assert!(!e.message.is_empty(), "an error without a message");
                assert!(
                    (1..=lines).contains(&e.line),
                    "error line {} outside the input's {lines} lines: {}",
                    e.line,
                    e.message
                );
            }
            Ok(located) => {
                assert!(
                    (1..=lines).contains(&located.line),
                    "object line {} outside the input's {lines} lines",
                    located.line
                );
                if let Ok(Object::Workload(workload)) = classify(located.value) {
                    let _ = evaluate(newest, &workload.pod_meta, &workload.pod_spec);
                }
            }
        }
    }
}

/// A snapshot or `podsec check` input through the streaming splitters: JSON if the first
/// non-blank byte says so, read as the CLI reads authored manifests or cluster listings by
/// the last byte; objects arrive in input order, and `check`'s engine takes every one of them.
pub fn snapshot_stream(data: &[u8]) {
    let origin = if data.last().is_some_and(|b| b & 1 == 1) {
        Origin::Authored
    } else {
        Origin::Cluster
    };
    let json = data
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{' || b == b'[');
    let mut checker = Checker::new(
        Against::Standards(LevelVersion::new(Level::Restricted, Version::Latest)),
        None,
    );
    let mut last_line = 0;
    let mut visit = |line: usize, object: &podsec_audit::Decoded| {
        // An error about a whole document (`items:` in a document that is not a `*List`)
        // comes after the items it held, which were handed over first.
        if line != 0 && object.is_ok() {
            assert!(
                line >= last_line,
                "object at line {line} handed over after one at line {last_line}"
            );
            last_line = line;
        }
        checker.observe("fuzz", line, object);
    };
    if json {
        read_json_at(Cursor::new(data), origin, &mut visit);
    } else {
        read_yaml_at(BufReader::new(Cursor::new(data)), origin, &mut visit);
    }
    let report = checker.finish();
    assert!(report.exit_code() <= 2, "exit codes are 0, 1 or 2");
}

/// A PodSecurityConfiguration or AdmissionConfiguration (with a plugin path that resolves to
/// the same text): decoded and validated, or refused with a message.
pub fn configuration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let same = text.to_string();
    let read_path = move |_: &str| Ok(same.clone());
    match Configuration::parse(text, &read_path) {
        Ok(config) => {
            let _ = Admission::new(config, Options::default());
        }
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal without a message"),
    }
}

/// A state directory's file: namespaces, pods, PodSecurityPolicies and RBAC, loaded as
/// `serve --state` loads them, then compiled and asked which policy admits a default pod.
pub fn cluster_state(data: &[u8]) {
    let file = ManifestFile {
        name: "state.yaml".into(),
        format_hint: None,
        bytes: data.to_vec(),
    };
    let (mut state, errors) = ClusterState::from_files(&[file]);
    for e in &errors {
        assert!(!e.message.is_empty(), "a load error without a message");
    }
    state.build_psp_state();
    let psp = state.psp_state();
    let user = UserIdentity::with_default_groups("fuzz", Vec::new());
    let mut spec = PodSpec::default();
    default_service_account(&mut spec);
    for phase in [Phase::Admit, Phase::Validate] {
        let outcome = select_policy(&psp, &ObjectMeta::default(), &spec, "default", &user, phase);
        assert!(
            outcome.candidates.len() <= psp.providers.len(),
            "more candidates than policies"
        );
        if let Some((policy, _, _)) = &outcome.admitted {
            assert!(
                psp.providers.iter().any(|p| p.name() == policy),
                "admitted by {policy}, which is not a usable policy"
            );
        } else {
            assert!(outcome.rejection(phase).starts_with("PodSecurityPolicy: "));
        }
    }
}

/// A policy file: ConstraintTemplates, Constraints and other objects, loaded as
/// `--constraints` loads them (with Gatekeeper's engine order and with Rego forced), then every
/// object of the file (and a pod) reviewed. Load errors name what failed; violations name a
/// loaded constraint; nothing panics or hangs.
pub fn constraints(data: &[u8]) {
    use podsec_constraints::{EnforcementPoint, EnginePreference, Inventory, Library, Review};
    let objects: Vec<serde_json::Value> = decode(data, Format::Yaml, &Limits::default())
        .into_iter()
        .flatten()
        .map(|located| located.value)
        .collect();
    let inventory = Inventory::from_objects(objects.iter());
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "p"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:latest",
            "securityContext": {"privileged": true}}]}});
    for preference in [EnginePreference::Gatekeeper, EnginePreference::Rego] {
        let (library, errors) = Library::from_objects(objects.iter(), preference);
        for e in &errors {
            assert!(
                !e.object.is_empty() && !e.message.is_empty(),
                "a load error without a name or message: {e:?}"
            );
        }
        let names: std::collections::HashSet<(&str, &str)> = library
            .constraints()
            .map(|c| (c.kind(), c.name()))
            .collect();
        for object in objects.iter().chain(std::iter::once(&pod)) {
            let review = if object.get("kind").and_then(serde_json::Value::as_str)
                == Some("AdmissionReview")
            {
                match Review::from_admission_review(object) {
                    Some(review) => review,
                    None => continue,
                }
            } else {
                Review::from_object(object.clone(), None)
            };
            for point in [EnforcementPoint::Validation, EnforcementPoint::Audit] {
                for v in library.review(&review, &inventory, point) {
                    assert!(
                        names.contains(&(v.constraint_kind.as_str(), v.constraint_name.as_str())),
                        "a violation of a constraint that is not loaded: {v:?}"
                    );
                    assert!(v.line().starts_with(&format!("[{}] ", v.constraint_name)));
                }
            }
        }
    }
}
