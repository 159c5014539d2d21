//! `cargo bench -p podsec-netpol --bench netpol`: the connectivity list of a generated cluster
//! (workloads in 100 namespaces, five policies per two namespaces' worth: default deny,
//! selectors over pods and namespaces, named ports, ipBlocks with excepts), at 1,000 and
//! 10,000 workloads; time per phase and the process's peak memory.
//!
//! `NETPOL_BENCH_SIZES=1000,5000` picks the sizes; `NETPOL_BENCH_WRITE=DIR` also writes each
//! generated cluster as `DIR/cluster-N.json` (a List) for timing `podsec netpol list` on it.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use podsec_netpol::{Connectivity, Granularity, Topology};
use serde_json::{json, Value};

const NAMESPACES: usize = 100;
const POLICIES: usize = 500;
const TIERS: [&str; 4] = ["web", "api", "db", "worker"];

/// A deterministic cluster: `workloads` Deployments spread over 100 namespaces, 500 policies.
fn generate(workloads: usize) -> Vec<Value> {
    let mut objects = Vec::new();
    for n in 0..NAMESPACES {
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns-{n}"),
            "labels": {"team": format!("t{}", n % 10), "env": if n % 3 == 0 { "prod" } else { "dev" }}}}));
    }
    for w in 0..workloads {
        let n = w % NAMESPACES;
        let tier = TIERS[(w / NAMESPACES) % TIERS.len()];
        objects.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("app-{w}"), "namespace": format!("ns-{n}")},
            "spec": {"template": {"metadata": {"labels": {"app": format!("app-{}", w % 37), "tier": tier, "version": format!("v{}", w % 3)}},
                "spec": {"containers": [{"name": "main", "image": "registry.example/app:1", "ports": [
                    {"name": "http", "containerPort": 8080 + (w % 4)},
                    {"name": "metrics", "containerPort": 9090},
                    {"name": "grpc", "containerPort": 50051, "protocol": if w % 5 == 0 { "UDP" } else { "TCP" }}
                ]}]}}}}));
    }
    // Five kinds of policy, cycling through the namespaces until there are 500.
    for p in 0..POLICIES {
        let n = (p / 5) % NAMESPACES;
        let ns = format!("ns-{n}");
        let spec = match p % 5 {
            0 => json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            1 => json!({"podSelector": {"matchLabels": {"tier": "web"}}, "ingress": [{"from": [
                    {"namespaceSelector": {"matchLabels": {"team": format!("t{}", n % 10)}}},
                    {"ipBlock": {"cidr": format!("172.{}.0.0/16", 16 + n % 16), "except": [format!("172.{}.{}.0/24", 16 + n % 16, n)]}}
                ], "ports": [{"port": "http"}, {"port": 443}]}]}),
            2 => json!({"podSelector": {"matchLabels": {"tier": "api"}}, "ingress": [{"from": [
                    {"podSelector": {"matchLabels": {"tier": "web"}}},
                    {"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
                     "podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}}
                ], "ports": [{"port": "grpc"}, {"port": "metrics"}]}]}),
            3 => json!({"podSelector": {"matchLabels": {"tier": "db"}}, "ingress": [{"from": [
                    {"podSelector": {"matchLabels": {"tier": "api"}}}
                ], "ports": [{"port": 5432, "endPort": 5440}]}]}),
            _ => {
                json!({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, "policyTypes": ["Egress"], "egress": [
                    {"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}, {"port": "http"}, {"port": "grpc"}]},
                    {"to": [{"ipBlock": {"cidr": format!("10.{}.0.0/16", n), "except": [format!("10.{}.{}.0/24", n, p % 256)]}}], "ports": [{"port": 443}]}
                ]})
            }
        };
        objects.push(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("np-{p}"), "namespace": ns}, "spec": spec}),
        );
    }
    objects
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("NETPOL_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 10_000]);
    let write_dir = std::env::var_os("NETPOL_BENCH_WRITE").map(std::path::PathBuf::from);
    println!("netpol list on generated clusters ({NAMESPACES} namespaces, {POLICIES} policies)");
    for n in sizes {
        let objects = generate(n);
        if let Some(dir) = &write_dir {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
            let path = dir.join(format!("cluster-{n}.json"));
            if let Err(e) =
                std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, list.to_string()))
            {
                panic!("cannot write {}: {e}", path.display());
            }
        }
        let mut best = [f64::MAX; 3];
        let mut lines = 0usize;
        let mut bytes = 0usize;
        let mut classes = 0usize;
        for _ in 0..3 {
            let t0 = Instant::now();
            let topology = match Topology::from_objects(&objects, Granularity::Workloads) {
                Ok(t) => t,
                Err(e) => panic!("generated cluster refused: {e:?}"),
            };
            let t1 = Instant::now();
            let connectivity = Connectivity::compute(&topology);
            let t2 = Instant::now();
            // Formatted as the text output is, into a reused line buffer (a 10,000-workload
            // list is hundreds of MiB of text: what `podsec netpol list` streams to stdout).
            let mut line = String::new();
            lines = 0;
            bytes = 0;
            connectivity.visit(None, &mut |l| {
                line.clear();
                let _ = writeln!(line, "{} => {} : {}", l.src_name, l.dst_name, l.connections);
                lines += 1;
                bytes += black_box(&line).len();
            });
            let t3 = Instant::now();
            classes = connectivity.class_count();
            for (b, d) in best.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2]) {
                *b = b.min(d.as_secs_f64() * 1000.0);
            }
        }
        println!(
            "  {n:>6} workloads: read {:.1} ms, classes+matrix {:.1} ms, list {:.1} ms (total {:.1} ms); {classes} classes, {lines} lines ({:.1} MiB of text); peak RSS so far {:.0} MiB",
            best[0],
            best[1],
            best[2],
            best.iter().sum::<f64>(),
            bytes as f64 / 1048576.0,
            peak_rss_mib()
        );
    }
}
