//! `cargo bench -p podsec-server --bench decide`: the admission decision alone, in process (no
//! HTTP, no TLS): parse the AdmissionReview, decide, serialize the response, over the same
//! request mix and namespaces as the webhook load benchmark.

use std::hint::black_box;
use std::time::{Duration, Instant};

use podsec_admission::{parse_review, review_response, Admission, NoMetrics};
use podsec_cluster::{files::ManifestFile, ClusterState};

mod common;

fn main() {
    let text = common::namespaces(10_000);
    let (state, errors) = ClusterState::from_files(&[ManifestFile {
        name: "ns.yaml".into(),
        format_hint: Some("ns.yaml".into()),
        bytes: text.into_bytes(),
    }]);
    assert!(errors.is_empty(), "{errors:?}");
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
        let decision = runtime.block_on(admission.validate(&request, &state, &NoMetrics, None));
        black_box(review_response(version, &request.uid, &decision))
    };
    let parse_only = |body: &[u8]| {
        let Ok((version, request)) = parse_review(body) else {
            panic!("bad review")
        };
        black_box(review_response(
            version,
            &request.uid,
            &podsec_admission::Decision::allow(),
        ))
    };
    for (name, f) in [
        (
            "parse + allow (what /null does)",
            &parse_only as &dyn Fn(&[u8]) -> Vec<u8>,
        ),
        ("parse + decide + respond", &decide),
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
}

#[allow(dead_code)]
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
    println!("decoded {} of {}", decoded.len(), objects.len());
    if let Some((k, o)) = objects.first() {
        if let Err(e) = decode_workload_json(*k, o) {
            println!("{e}");
        }
    }
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
