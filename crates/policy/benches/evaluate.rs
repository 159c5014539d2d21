//! `cargo bench -p podsec-policy`: time per pod evaluation, for the pods an admission webhook
//! sees most. A plain timing loop (no framework) keeps the dependency tree small; run it on an
//! idle machine and read the median of several runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use podsec_policy::{evaluate, Level, LevelVersion, ObjectMeta, PodSpec, Version};

fn spec(json: &str) -> PodSpec {
    match serde_json::from_str(json) {
        Ok(s) => s,
        Err(e) => panic!("benchmark pod does not decode: {e}"),
    }
}

fn time(name: &str, lv: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) {
    // Warm up, then measure batches until ~1 s has passed.
    for _ in 0..10_000 {
        black_box(evaluate(lv, meta, spec));
    }
    let mut batches = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        let t = Instant::now();
        for _ in 0..1_000 {
            black_box(evaluate(black_box(lv), black_box(meta), black_box(spec)));
        }
        batches.push(t.elapsed().as_nanos() as f64 / 1_000.0);
    }
    batches.sort_by(f64::total_cmp);
    let median = batches[batches.len() / 2];
    let p99 = batches[batches.len() * 99 / 100];
    println!("{name:<44} median {median:>8.0} ns/eval   p99 batch {p99:>8.0} ns/eval");
}

fn main() {
    let meta = ObjectMeta::default();
    let nginx = spec(r#"{"containers":[{"name":"nginx","image":"nginx"}]}"#);
    let hardened = spec(
        r#"{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
            "initContainers":[{"name":"init","image":"busybox","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}],
            "containers":[
              {"name":"app","image":"app","ports":[{"containerPort":8080}],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}},
              {"name":"sidecar","image":"proxy","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}}}],
            "volumes":[{"name":"tmp","emptyDir":{}},{"name":"cfg","configMap":{"name":"c"}}]}"#,
    );
    let privileged = spec(
        r#"{"hostNetwork":true,"hostPID":true,"containers":[{"name":"agent","image":"agent",
            "ports":[{"containerPort":9100,"hostPort":9100}],
            "securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN","NET_ADMIN"]}}}],
            "volumes":[{"name":"root","hostPath":{"path":"/"}}]}"#,
    );
    let restricted = LevelVersion::new(Level::Restricted, Version::Latest);
    let baseline = LevelVersion::new(Level::Baseline, Version::Latest);
    time(
        "restricted:latest, hardened pod (allowed)",
        restricted,
        &meta,
        &hardened,
    );
    time(
        "restricted:latest, kubectl-run nginx (denied)",
        restricted,
        &meta,
        &nginx,
    );
    time(
        "baseline:latest, kubectl-run nginx (allowed)",
        baseline,
        &meta,
        &nginx,
    );
    time(
        "restricted:latest, privileged agent (denied)",
        restricted,
        &meta,
        &privileged,
    );
    time(
        "restricted:v1.22, hardened pod (allowed)",
        LevelVersion::new(Level::Restricted, Version::Minor(22)),
        &meta,
        &hardened,
    );
}
