//! `cargo bench -p podsec-server --bench decide`: the admission decision alone, in process (no
//! HTTP, no TLS): parse the AdmissionReview, decide, serialize the response, over the same
//! request mix and namespaces as the webhook load benchmark.

use std::hint::black_box;
use std::time::{Duration, Instant};

use podsec_admission::{parse_review, review_response, Admission, Cluster, NoMetrics};
use podsec_cluster::{files::ManifestFile, ClusterState};

mod common;

fn main() {
    let text = common::namespaces(10_000);
    let namespaces = ManifestFile {
        name: "ns.yaml".into(),
        format_hint: Some("ns.yaml".into()),
        bytes: text.into_bytes(),
    };
    let (state, errors) = ClusterState::from_files(std::slice::from_ref(&namespaces));
    assert!(errors.is_empty(), "{errors:?}");
    // The same namespaces and 1,000 PodSecurityExceptions in the namespaces the mix uses:
    // all for other workloads (what the index must make cheap), or 100 of them for the mix's
    // pods (what using an exception costs).
    let with = |for_the_mix: bool| {
        let (state, errors) = ClusterState::from_files(&[
            namespaces.clone(),
            ManifestFile {
                name: "exceptions.yaml".into(),
                format_hint: Some("exceptions.yaml".into()),
                bytes: exceptions(1_000, for_the_mix).into_bytes(),
            },
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(state.exceptions().len(), 1_000);
        state
    };
    let (with_exceptions, others_only) = (with(true), with(false));
    let bodies = common::workload(10_000);
    parts(&bodies);
    let admission = Admission::default();
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => panic!("runtime: {e}"),
    };
    let decide = |body: &[u8]| {
        let Ok((version, request)) = parse_review(body) else {
            panic!("bad review")
        };
        let decision =
            runtime.block_on(admission.validate(&request, Cluster::of(&state), &NoMetrics, None));
        match review_response(version, &request.uid, &decision) {
            Ok(response) => black_box(response),
            Err(e) => panic!("{e}"),
        }
    };
    let decide_in = |state: &ClusterState, body: &[u8]| {
        let Ok((version, request)) = parse_review(body) else {
            panic!("bad review")
        };
        let cluster = Cluster::of(state).with_exceptions(state);
        let decision = runtime.block_on(admission.validate(&request, cluster, &NoMetrics, None));
        match review_response(version, &request.uid, &decision) {
            Ok(response) => black_box(response),
            Err(e) => panic!("{e}"),
        }
    };
    let decide_with_exceptions = |body: &[u8]| decide_in(&with_exceptions, body);
    let decide_with_others = |body: &[u8]| decide_in(&others_only, body);
    let parse_only = |body: &[u8]| {
        let Ok((version, request)) = parse_review(body) else {
            panic!("bad review")
        };
        match review_response(version, &request.uid, &podsec_admission::Decision::allow()) {
            Ok(response) => black_box(response),
            Err(e) => panic!("{e}"),
        }
    };
    for (name, f) in [
        (
            "parse envelope + allow",
            &parse_only as &dyn Fn(&[u8]) -> Vec<u8>,
        ),
        ("parse + decide + respond", &decide),
        ("… with 1,000 exceptions in state", &decide_with_exceptions),
    ] {
        for body in bodies.iter().cycle().take(5_000) {
            f(body);
        }
        let mut rounds = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            let t = Instant::now();
            for body in &bodies {
                f(body);
            }
            rounds.push(t.elapsed().as_nanos() as f64 / bodies.len() as f64);
        }
        rounds.sort_by(f64::total_cmp);
        println!(
            "{name:<34} median {:>6.2} µs/review over the {}-review mix",
            rounds[rounds.len() / 2] / 1000.0,
            bodies.len()
        );
    }
    // The exceptions' cost, measured in alternating rounds so that both sides see the same
    // machine load: the median of the per-pair ratios.
    let round = |f: &dyn Fn(&[u8]) -> Vec<u8>| {
        let t = Instant::now();
        for body in &bodies {
            f(body);
        }
        t.elapsed().as_nanos() as f64 / bodies.len() as f64
    };
    for (name, with) in [
        (
            "1,000 for other workloads",
            &decide_with_others as &dyn Fn(&[u8]) -> Vec<u8>,
        ),
        ("1,000, 100 waiving for the mix", &decide_with_exceptions),
    ] {
        let (mut none, mut with_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(6) {
            let a = round(&decide);
            let b = round(with);
            none.push(a);
            with_times.push(b);
            ratios.push(b / a);
        }
        for v in [&mut none, &mut with_times, &mut ratios] {
            v.sort_by(f64::total_cmp);
        }
        let median = |v: &[f64]| v[v.len() / 2];
        println!(
            "exceptions ({name}), alternating rounds ({} pairs): none {:.2} µs, with {:.2} µs, median ratio {:+.1}% (p25 {:+.1}%, p75 {:+.1}%)",
            ratios.len(),
            median(&none) / 1000.0,
            median(&with_times) / 1000.0,
            (median(&ratios) - 1.0) * 100.0,
            (ratios[ratios.len() / 4] - 1.0) * 100.0,
            (ratios[ratios.len() * 3 / 4] - 1.0) * 100.0,
        );
    }
    relabel(&runtime);
}

/// `count` PodSecurityExceptions over the namespaces the review mix uses: most for other
/// workloads, some for the mix's pods (waiving allowPrivilegeEscalation, which the unhardened
/// pods fail, narrowed to their container).
fn exceptions(count: usize, for_the_mix: bool) -> String {
    let mut out = String::new();
    for i in 0..count {
        let (matches, waive) = if for_the_mix && i % 10 == 0 {
            (
                "podLabels: {app: app}\n    containers: [app]",
                "- check: allowPrivilegeEscalation",
            )
        } else {
            (
                "workloads: [{kind: Deployment, name: other-*}]",
                "- check: hostPorts\n      allow: [9100]",
            )
        };
        out.push_str(&format!(
            "---\napiVersion: podsec.dev/v1alpha1\nkind: PodSecurityException\nmetadata: {{name: e-{i}, namespace: ns-{}}}\nspec:\n  owner: team-{i}\n  reason: benchmark\n  expires: \"2099-01-01T00:00:00Z\"\n  match:\n    {matches}\n  waive:\n    {waive}\n",
            i % 256
        ));
    }
    out
}

/// A namespace relabel to restricted over 100,000 existing pods (upstream stops at 3,000 pods
/// or 1 s): time to the complete warning list.
fn relabel(runtime: &tokio::runtime::Runtime) {
    use podsec_admission::{ExistingPod, NamespaceMeta};
    let mut state = ClusterState::default();
    state.add_namespace(NamespaceMeta {
        name: "big".into(),
        labels: Default::default(),
    });
    let pod = |i: usize| -> ExistingPod {
        let owner = format!(
            r#","ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs-{0}","uid":"uid-{0}","controller":true}}]"#,
            i % 1000
        );
        let hardened = if i.is_multiple_of(3) {
            r#","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}"#
        } else {
            ""
        };
        let json = format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"pod-{i}","namespace":"big"{owner}}},"spec":{{"containers":[{{"name":"app","image":"app:1"{hardened}}}]}}}}"#
        );
        match podsec_manifest::decode_workload_json(podsec_manifest::WorkloadKind::Pod, &json) {
            Ok(w) => ExistingPod {
                meta: w.pod_meta,
                spec: w.pod_spec,
            },
            Err(e) => panic!("{e}"),
        }
    };
    for i in 0..100_000 {
        state.add_pod("big", pod(i));
    }
    let body = serde_json::to_vec(&serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Namespace"},
        "resource": {"group": "", "version": "v1", "resource": "namespaces"},
        "name": "big", "namespace": "big", "operation": "UPDATE", "userInfo": {"username": "admin"},
        "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        "oldObject": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}}}}))
    .unwrap_or_default();
    let Ok((_, request)) = parse_review(&body) else {
        panic!("bad review")
    };
    let admission = Admission::default();
    // The enforcing webhook's timeout is 5 s; half of it is the dry run's budget.
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    let t = Instant::now();
    let decision =
        runtime.block_on(admission.validate(&request, Cluster::of(&state), &NoMetrics, deadline));
    let elapsed = t.elapsed();
    assert!(
        !decision
            .warnings
            .iter()
            .any(|w| w.contains("only checked against")),
        "{:?}",
        decision.warnings
    );
    println!(
        "namespace relabel over 100,000 pods: {:.0} ms, all pods checked; warnings: {:?}",
        elapsed.as_secs_f64() * 1000.0,
        decision.warnings
    );
}

/// The parts of a decision, timed alone.
fn parts(bodies: &[Vec<u8>]) {
    use podsec_manifest::{decode_workload_json, WorkloadKind};
    let objects: Vec<(WorkloadKind, String)> = bodies
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
            let kind = if v["request"]["kind"]["kind"] == "Pod" {
                WorkloadKind::Pod
            } else {
                WorkloadKind::Deployment
            };
            (kind, v["request"]["object"].to_string())
        })
        .collect();
    let time = |name: &str, f: &dyn Fn()| {
        f();
        let t = Instant::now();
        for _ in 0..200 {
            f();
        }
        println!(
            "{name:<34} {:>6.2} µs/review",
            t.elapsed().as_nanos() as f64 / 200.0 / objects.len() as f64 / 1000.0
        );
    };
    time("decode object", &|| {
        for (k, o) in &objects {
            black_box(decode_workload_json(*k, o).ok());
        }
    });
    let decoded: Vec<_> = objects
        .iter()
        .filter_map(|(k, o)| decode_workload_json(*k, o).ok())
        .collect();
    assert_eq!(
        decoded.len(),
        objects.len(),
        "every benchmark object decodes"
    );
    let lv = podsec_policy::LevelVersion::new(
        podsec_policy::Level::Restricted,
        podsec_policy::Version::Latest,
    );
    time("evaluate restricted", &|| {
        for w in &decoded {
            black_box(podsec_policy::evaluate(lv, &w.pod_meta, &w.pod_spec));
        }
    });
    time("raw value skip", &|| {
        for (_, o) in &objects {
            black_box(serde_json::from_str::<&serde_json::value::RawValue>(o).ok());
        }
    });
}
