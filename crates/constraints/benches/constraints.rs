//! `cargo bench -p podsec-constraints --bench constraints`: the cost of Gatekeeper constraints
//! per admission, against the baseline a Rego engine gives (every template evaluated with
//! regorus' interpreter for every review), and the memory of 500 loaded templates.
//!
//! Reads gatekeeper-library's pod-security-policy templates from
//! `$PODSEC_GATEKEEPER_CORPUS` or `../shared/conformance/gatekeeper/pod-security-policy`
//! (missing: the bench fails, it never pretends).
//!
//! Diagnostic modes: `BENCH_ONLY=each` (each template alone, on each engine it has, where the
//! time goes; `BENCH_TEMPLATE=<name>` for one), `BENCH_ONLY=fixed` (15 trivial templates: the
//! cost of evaluating a template at all), `BENCH_ONLY=cel` (podsec's default engines only, for a
//! profiler), and `BENCH_ONLY=baseline|gatekeeper|rego BENCH_REVIEWS=N` (N reviews and nothing
//! else, to count instructions under valgrind).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use podsec_constraints::{EnforcementPoint, EnginePreference, Inventory, Library, Review};
use podsec_manifest::{decode, Format, Limits};
use serde_json::{json, Value};

/// gatekeeper-library's Pod Security Standards templates (its README's baseline and
/// restricted tables, without read-only-root-filesystem, which no PSS control requires).
const PSS_TEMPLATES: [&str; 15] = [
    "privileged-containers",
    "host-namespaces",
    "host-network-ports",
    "host-filesystem",
    "capabilities",
    "selinux",
    "proc-mount",
    "apparmor",
    "seccompv2",
    "forbidden-sysctls",
    "allow-privilege-escalation",
    "flexvolume-drivers",
    "fsgroup",
    "users",
    "volumes",
];

fn corpus() -> PathBuf {
    if let Some(dir) = std::env::var_os("PODSEC_GATEKEEPER_CORPUS") {
        return PathBuf::from(dir);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for c in [
        repo.join("../shared/conformance/gatekeeper/pod-security-policy"),
        PathBuf::from("/work/shared/conformance/gatekeeper/pod-security-policy"),
    ] {
        if c.join("privileged-containers/template.yaml").is_file() {
            return c;
        }
    }
    panic!("the gatekeeper-library corpus is missing; set PODSEC_GATEKEEPER_CORPUS");
}

fn documents(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode(&bytes, Format::Yaml, &Limits::default())
        .into_iter()
        .map(|d| {
            d.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .value
        })
        .collect()
}

/// Each template with the first sample constraint of its suite.
fn templates_and_constraints(names: &[&str]) -> Vec<(Value, Value)> {
    let root = corpus();
    names
        .iter()
        .map(|name| {
            let dir = root.join(name);
            let template = documents(&dir.join("template.yaml")).remove(0);
            let mut samples: Vec<PathBuf> = std::fs::read_dir(dir.join("samples"))
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .filter_map(|e| e.ok().map(|e| e.path().join("constraint.yaml")))
                .filter(|p| p.is_file())
                .collect();
            samples.sort();
            let constraint = documents(&samples[0]).remove(0);
            (template, constraint)
        })
        .collect()
}

/// Realistic pods: a hardened one (passes restricted), a plain one (baseline), a privileged
/// one with host namespaces and a hostPath, and a three-container one with init containers.
fn pods() -> Vec<Value> {
    let hardened = json!({"runAsNonRoot": true, "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        "readOnlyRootFilesystem": true});
    vec![
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-7d9f8", "namespace": "shop",
            "labels": {"app": "api", "pod-template-hash": "7d9f8"}},
            "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000,
                "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "api", "image": "registry.example.com/shop/api:1.4.2",
                    "ports": [{"containerPort": 8080}], "securityContext": hardened,
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}],
                "volumes": [{"name": "config", "configMap": {"name": "api"}},
                    {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "ops"},
            "spec": {"hostNetwork": true, "hostPID": true,
                "containers": [{"name": "shell", "image": "busybox", "securityContext": {"privileged": true,
                    "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}},
                    "ports": [{"containerPort": 22, "hostPort": 2222}]}],
                "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "batch", "namespace": "jobs",
            "annotations": {"container.apparmor.security.beta.kubernetes.io/worker": "runtime/default"}},
            "spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]},
                "initContainers": [{"name": "migrate", "image": "registry.example.com/jobs/migrate:2", "securityContext": hardened}],
                "containers": [{"name": "worker", "image": "registry.example.com/jobs/worker:2", "securityContext": hardened},
                    {"name": "sidecar", "image": "registry.example.com/mesh/proxy:1.22",
                     "securityContext": {"runAsUser": 1337, "allowPrivilegeEscalation": false}}],
                "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}),
    ]
}

/// The baseline: what a plain Rego engine does per review — every template's Rego evaluated
/// with regorus' interpreter (engine clone, input, `violation`), whether it applies or not.
struct InterpreterLoop {
    engines: Vec<(regorus::Engine, String, regorus::Value)>,
}

impl InterpreterLoop {
    fn new(pairs: &[(Value, Value)]) -> InterpreterLoop {
        let engines = pairs
            .iter()
            .map(|(template, constraint)| {
                let target = &template["spec"]["targets"][0];
                let (rego, libs) = match target["code"]
                    .as_array()
                    .and_then(|code| code.iter().find(|c| c["engine"] == "Rego"))
                {
                    Some(code) => (
                        code["source"]["rego"].clone(),
                        code["source"]["libs"].clone(),
                    ),
                    None => (target["rego"].clone(), target["libs"].clone()),
                };
                let mut engine = regorus::Engine::new();
                engine.set_rego_v0(true);
                engine.set_strict_builtin_errors(false);
                let package = engine
                    .add_policy("t.rego".into(), rego.as_str().unwrap_or_default().into())
                    .unwrap_or_else(|e| panic!("{e}"));
                for (i, lib) in libs.as_array().into_iter().flatten().enumerate() {
                    engine
                        .add_policy(
                            format!("lib{i}.rego"),
                            lib.as_str().unwrap_or_default().into(),
                        )
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                let parameters = regorus::Value::from(constraint["spec"]["parameters"].clone());
                (engine, format!("{package}.violation"), parameters)
            })
            .collect();
        InterpreterLoop { engines }
    }

    fn review(&self, request: &Value) -> usize {
        let mut engines = self.engines.clone();
        InterpreterLoop::review_with(&mut engines, request)
    }

    fn review_with(
        engines: &mut [(regorus::Engine, String, regorus::Value)],
        request: &Value,
    ) -> usize {
        let mut found = 0;
        for (engine, rule, parameters) in engines {
            let mut input = regorus::Value::new_object();
            if let Ok(map) = input.as_object_mut() {
                map.insert("review".into(), regorus::Value::from(request.clone()));
                map.insert("parameters".into(), parameters.clone());
            }
            engine.set_input(input);
            if let Ok(regorus::Value::Set(set)) = engine.eval_rule(rule.clone()) {
                found += set.len();
            }
        }
        found
    }
}

/// The request gator and Gatekeeper's audit build from an object.
fn request(object: &Value) -> Value {
    json!({"uid": "", "kind": {"group": "", "version": "v1", "kind": object["kind"]},
        "resource": {"group": "", "version": "", "resource": ""}, "operation": "CREATE", "userInfo": {},
        "name": object["metadata"]["name"], "namespace": object["metadata"]["namespace"],
        "object": object, "oldObject": null})
}

/// Median per-iteration time of `f` over rounds of about 200 ms, for about `total`.
fn measure(total: Duration, mut f: impl FnMut()) -> Duration {
    for _ in 0..20 {
        f();
    }
    let started = Instant::now();
    let mut rounds = Vec::new();
    while started.elapsed() < total {
        let round = Instant::now();
        let mut n = 0u32;
        while round.elapsed() < Duration::from_millis(200) {
            f();
            n += 1;
        }
        rounds.push(round.elapsed() / n);
    }
    rounds.sort();
    rounds[rounds.len() / 2]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let pairs = templates_and_constraints(&PSS_TEMPLATES);
    let pods = pods();
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let inventory = Inventory::default();
    let budget = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(4),
    );

    let objects: Vec<Value> = pairs
        .iter()
        .flat_map(|(t, c)| [t.clone(), c.clone()])
        .collect();
    let library = |preference| {
        let (library, errors) = Library::from_objects(objects.iter(), preference);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(library.constraints().count(), 15);
        library
    };
    let gatekeeper = library(EnginePreference::Gatekeeper);
    let rego = library(EnginePreference::Rego);
    let cel_templates = gatekeeper
        .templates()
        .filter(|t| t.engine() == podsec_constraints::Engine::Cel)
        .count();
    let baseline = InterpreterLoop::new(&pairs);

    // What each finds on these pods. They differ where plain regorus departs from OPA
    // (`not f(x.undefined)`, see negation.rs): the baseline then reports violations
    // Gatekeeper does not.
    let counts: Vec<String> = pods
        .iter()
        .map(|pod| {
            let review = Review::from_request(request(pod), Some(namespace.clone()));
            let ours = rego
                .review(&review, &inventory, EnforcementPoint::Gator)
                .len();
            let cel = gatekeeper
                .review(&review, &inventory, EnforcementPoint::Gator)
                .len();
            format!(
                "{} {cel}/{ours}/{}",
                pod["metadata"]["name"],
                baseline.review(&request(pod))
            )
        })
        .collect();
    println!(
        "violations per pod (podsec CEL-first / podsec Rego / plain regorus): {}",
        counts.join(", ")
    );
    // A library's median time per review, the pods in turn, each review built as the webhook
    // builds it.
    let per_pod = |library: &Library, budget: Duration| {
        let mut i = 0;
        measure(budget, || {
            let pod = &pods[i % pods.len()];
            i += 1;
            let review = Review::from_request(request(pod), Some(namespace.clone()));
            black_box(library.review(&review, &inventory, EnforcementPoint::Validation));
        })
    };
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "fixed") {
        for engine in ["cel", "rego"] {
            let mut objects = Vec::new();
            for n in 0..15 {
                let kind = format!("Trivial{n}");
                let code = if engine == "cel" {
                    json!([{"engine": "K8sNativeValidation", "source": {"validations": [{"expression": "true"}]}}])
                } else {
                    json!([{"engine": "Rego", "source": {"rego": format!("package t{n}\nviolation[{{\"msg\": \"x\"}}] {{ false }}")}}])
                };
                objects.push(
                    json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                    "metadata": {"name": kind.to_lowercase()},
                    "spec": {"crd": {"spec": {"names": {"kind": kind}}},
                        "targets": [{"target": "admission.k8s.gatekeeper.sh", "code": code}]}}),
                );
                objects.push(json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind,
                    "metadata": {"name": format!("c{n}")}, "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}}}));
            }
            let (library, errors) =
                Library::from_objects(objects.iter(), EnginePreference::Gatekeeper);
            assert!(errors.is_empty(), "{errors:?}");
            let t = per_pod(&library, budget);
            println!(
                "  15 trivial {engine} templates: {:>8.1} µs per pod",
                t.as_secs_f64() * 1e6
            );
        }
        return;
    }
    // BENCH_ONLY=each: each template alone, on each engine it has (where the time goes).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "each") {
        for (template, constraint) in &pairs {
            let name = template["metadata"]["name"].as_str().unwrap_or_default();
            if std::env::var("BENCH_TEMPLATE").is_ok_and(|only| only != name) {
                continue;
            }
            for preference in [EnginePreference::Gatekeeper, EnginePreference::Rego] {
                let (library, errors) = Library::from_objects([template, constraint], preference);
                assert!(errors.is_empty(), "{errors:?}");
                let engine = library
                    .templates()
                    .map(|t| t.engine().label())
                    .collect::<String>();
                let t = per_pod(&library, budget / 8);
                println!(
                    "  {name:<36} {engine:<20} {:>8.1} µs per pod",
                    t.as_secs_f64() * 1e6
                );
            }
        }
        return;
    }
    // BENCH_ONLY=cel: only podsec's default engines on the 15 templates (for profiling).
    println!(
        "15 PSS templates (gatekeeper-library), one constraint each, {} pods in turn:",
        pods.len()
    );
    // BENCH_REVIEWS=N with BENCH_ONLY=baseline|gatekeeper|rego: exactly N reviews and nothing
    // else, for counting instructions under valgrind, which this noisy machine does not move.
    if let Some(n) = std::env::var("BENCH_REVIEWS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        for pod in pods.iter().cycle().take(n) {
            let library = match only.as_str() {
                "baseline" => {
                    black_box(baseline.review(&request(pod)));
                    continue;
                }
                "rego" => &rego,
                _ => &gatekeeper,
            };
            let review = Review::from_request(request(pod), Some(namespace.clone()));
            black_box(library.review(&review, &inventory, EnforcementPoint::Validation));
        }
        return;
    }
    // BENCH_ONLY=cel: only podsec's default engines on the 15 templates (for profiling).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "cel") {
        let t = per_pod(&gatekeeper, budget);
        println!(
            "  podsec, Gatekeeper's engines: {:.1} µs per pod",
            t.as_secs_f64() * 1e6
        );
        return;
    }
    let mut i = 0;
    let baseline_per_pod = measure(budget, || {
        let pod = &pods[i % pods.len()];
        i += 1;
        black_box(baseline.review(black_box(&request(pod))));
    });
    println!(
        "  regorus interpreter, every template per review:   {:>8.1} µs per pod",
        baseline_per_pod.as_secs_f64() * 1e6
    );
    // The same loop keeping one engine per template instead of a clone per review: not what a
    // server evaluating reviews concurrently can do, shown for scale.
    let mut reused = baseline.engines.clone();
    let mut i = 0;
    let reusing = measure(budget, || {
        let pod = &pods[i % pods.len()];
        i += 1;
        black_box(InterpreterLoop::review_with(&mut reused, &request(pod)));
    });
    println!(
        "  regorus interpreter, engines reused, no clone:    {:>8.1} µs per pod",
        reusing.as_secs_f64() * 1e6
    );
    let run = |name: &str, library: &Library| {
        let t = per_pod(library, budget);
        println!(
            "  podsec, {name:<40} {:>8.1} µs per pod ({:.1}x)",
            t.as_secs_f64() * 1e6,
            baseline_per_pod.as_secs_f64() / t.as_secs_f64()
        );
    };
    run(
        &format!(
            "Gatekeeper's engines ({cel_templates} CEL, {} Rego):",
            15 - cel_templates
        ),
        &gatekeeper,
    );
    run("Rego forced (compiled once):", &rego);
    // A request no constraint matches (constraints on Pods, a ConfigMap arrives).
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}, "data": {"k": "v"}});
    let t = measure(budget, || {
        let review = Review::from_request(request(&config_map), Some(namespace.clone()));
        black_box(gatekeeper.review(&review, &inventory, EnforcementPoint::Validation));
    });
    println!(
        "  podsec, a ConfigMap (no constraint matches):        {:>8.2} µs",
        t.as_secs_f64() * 1e6
    );

    // Memory: 500 templates (the 19 of the corpus, renamed) and one constraint each.
    let all: Vec<&str> = vec![
        "allow-privilege-escalation",
        "apparmor",
        "capabilities",
        "flexvolume-drivers",
        "forbidden-sysctls",
        "fsgroup",
        "host-filesystem",
        "host-namespaces",
        "host-network-ports",
        "host-probes-lifecycle",
        "host-process",
        "privileged-containers",
        "proc-mount",
        "read-only-root-filesystem",
        "seccomp",
        "seccompv2",
        "selinux",
        "users",
        "volumes",
    ];
    let sources = templates_and_constraints(&all);
    let mut many = Vec::new();
    for n in 0..500 {
        let (template, constraint) = &sources[n % sources.len()];
        let kind = template["spec"]["crd"]["spec"]["names"]["kind"]
            .as_str()
            .unwrap_or_default();
        let renamed = format!("{kind}N{n}");
        let mut t = template.clone();
        t["metadata"]["name"] = json!(renamed.to_lowercase());
        t["spec"]["crd"]["spec"]["names"]["kind"] = json!(renamed);
        let mut c = constraint.clone();
        c["kind"] = json!(renamed);
        many.push(t);
        many.push(c);
    }
    let before = rss_kib();
    let started = Instant::now();
    let (big, errors) = Library::from_objects(many.iter(), EnginePreference::Gatekeeper);
    let load = started.elapsed();
    assert!(errors.is_empty(), "{errors:?}");
    let after = rss_kib();
    println!(
        "500 templates + 500 constraints: loaded in {:.2} s, RSS +{:.1} MiB ({:.1} MiB total)",
        load.as_secs_f64(),
        (after.saturating_sub(before)) as f64 / 1024.0,
        after as f64 / 1024.0
    );
    let t = measure(budget, || {
        let pod = &pods[0];
        let review = Review::from_request(request(pod), Some(namespace.clone()));
        black_box(big.review(&review, &inventory, EnforcementPoint::Validation));
    });
    println!(
        "  one pod against all 500 constraints:                {:>8.1} µs",
        t.as_secs_f64() * 1e6
    );
}
