//! Table tests of the NetworkPolicy semantics, one case per rule of the API.

use serde_json::{json, Value};

use crate::analysis::{Compiled, Connectivity, Endpoint};
use crate::ports::{Connections, PortSet, Protocol};
use crate::{diff, explain, gaps, GapKind, Granularity, NetpolError, Range, Topology};

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn pod(ns: &str, name: &str, labels: Value, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": labels},
           "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]}})
}

fn policy(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn build(objects: &[Value]) -> Topology {
    match Topology::from_objects(objects, Granularity::Workloads) {
        Ok(t) => t,
        Err(e) => panic!("topology refused: {e:?}"),
    }
}

fn find(t: &Topology, id: &str) -> Endpoint {
    match t.workloads.iter().position(|w| w.id() == id) {
        Some(i) => Endpoint::Workload(i),
        None => panic!("no workload {id}"),
    }
}

fn ip(text: &str) -> Endpoint {
    match crate::Cidr::parse(&format!("{text}/32")).and_then(|c| c.v4_range()) {
        Some(r) => Endpoint::External(r),
        None => panic!("bad test ip {text}"),
    }
}

/// The connection text from `src` to `dst`, checked against the direct computation.
fn conn(t: &Topology, src: &str, dst: &str) -> String {
    let endpoint = |s: &str| {
        if s.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            ip(s)
        } else {
            find(t, s)
        }
    };
    let (s, d) = (endpoint(src), endpoint(dst));
    Compiled::new(t).connections(s, d).to_string()
}

fn tcp(from: u16, to: u16) -> Connections {
    Connections::of(Protocol::Tcp, PortSet::range(from, to))
}

/// Two namespaces, three pods: `a/web` (app=web, port http 8080/TCP and dns 53/UDP),
/// `a/client` (app=client), `b/client` (app=client); namespace b labelled team=blue.
fn cluster(policies: &[Value]) -> Topology {
    let mut objects = vec![
        namespace("a", json!({})),
        namespace("b", json!({"team": "blue"})),
        pod(
            "a",
            "web",
            json!({"app": "web"}),
            json!([
                {"name": "http", "containerPort": 8080},
                {"name": "dns", "containerPort": 53, "protocol": "UDP"}
            ]),
        ),
        pod("a", "client", json!({"app": "client"}), json!([])),
        pod("b", "client", json!({"app": "client"}), json!([])),
    ];
    objects.extend_from_slice(policies);
    build(&objects)
}

const WEB: &str = "a/web[Pod]";
const CLIENT_A: &str = "a/client[Pod]";
const CLIENT_B: &str = "b/client[Pod]";

#[test]
fn without_policies_everything_is_open() {
    let t = cluster(&[]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "All Connections");
    assert_eq!(conn(&t, "1.2.3.4", WEB), "All Connections");
    assert_eq!(conn(&t, WEB, "1.2.3.4"), "All Connections");
}

#[test]
fn empty_pod_selector_selects_every_pod_of_its_namespace_only() {
    let t = cluster(&[policy(
        "a",
        "deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    )]);
    assert_eq!(conn(&t, CLIENT_B, WEB), "No Connections");
    assert_eq!(conn(&t, CLIENT_B, CLIENT_A), "No Connections");
    assert_eq!(
        conn(&t, CLIENT_A, CLIENT_B),
        "All Connections",
        "namespace b is not selected"
    );
}

#[test]
fn policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() {
    // No policyTypes, no egress section: Ingress only; `ingress: []` denies all ingress.
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": []}),
    )]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "No Connections");
    assert_eq!(
        conn(&t, WEB, CLIENT_A),
        "All Connections",
        "egress stays open"
    );
    // An egress section makes it Egress too.
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}),
    )]);
    assert_eq!(conn(&t, WEB, CLIENT_A), "UDP 53");
    assert_eq!(
        conn(&t, CLIENT_A, WEB),
        "No Connections",
        "ingress is isolated too, with no rules"
    );
    // Explicit policyTypes win: ingress rules of an Egress-only policy do nothing.
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"], "ingress": [{"from": [{"podSelector": {}}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_B, WEB), "All Connections");
    assert_eq!(conn(&t, WEB, CLIENT_B), "No Connections");
}

#[test]
fn egress_only_policy_leaves_ingress_open() {
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_A, CLIENT_B), "All Connections");
    assert_eq!(conn(&t, CLIENT_A, WEB), "No Connections");
    assert_eq!(conn(&t, CLIENT_B, CLIENT_A), "All Connections");
    assert_eq!(conn(&t, CLIENT_A, "8.8.8.8"), "No Connections");
}

#[test]
fn pod_and_namespace_selector_in_one_peer_is_and_separate_peers_are_or() {
    let and = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"team": "blue"}}, "podSelector": {"matchLabels": {"app": "client"}}}
        ]}]}),
    )]);
    assert_eq!(conn(&and, CLIENT_B, WEB), "All Connections");
    assert_eq!(
        conn(&and, CLIENT_A, WEB),
        "No Connections",
        "client in a: namespace does not match"
    );
    let or = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"team": "blue"}}},
            {"podSelector": {"matchLabels": {"app": "client"}}}
        ]}]}),
    )]);
    assert_eq!(conn(&or, CLIENT_B, WEB), "All Connections");
    assert_eq!(conn(&or, CLIENT_A, WEB), "All Connections");
}

#[test]
fn pod_selector_alone_means_the_policy_namespace_and_namespace_selector_alone_all_its_pods() {
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "All Connections");
    assert_eq!(conn(&t, CLIENT_B, WEB), "No Connections");
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_B, WEB), "All Connections");
    assert_eq!(
        conn(&t, "1.2.3.4", WEB),
        "No Connections",
        "namespaceSelector {{}} is every pod, not every address"
    );
}

#[test]
fn namespaces_without_labels_still_carry_their_name_label() {
    // Namespace c is never defined: it only has kubernetes.io/metadata.name=c.
    let mut objects = vec![
        pod("c", "x", json!({}), json!([])),
        pod("d", "y", json!({}), json!([])),
    ];
    objects.push(policy("d", "p", json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["c"]}]}}]}]})));
    let t = build(&objects);
    assert_eq!(conn(&t, "c/x[Pod]", "d/y[Pod]"), "All Connections");
    let objects = vec![
        pod("d", "y", json!({}), json!([])),
        pod("e", "z", json!({}), json!([])),
        policy(
            "d",
            "p",
            json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "c"}}}]}]}),
        ),
    ];
    let t = build(&objects);
    assert_eq!(conn(&t, "e/z[Pod]", "d/y[Pod]"), "No Connections");
}

#[test]
fn match_expressions_select_peers() {
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["client"]}]},
        "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_B, WEB), "All Connections");
    assert_eq!(conn(&t, CLIENT_A, WEB), "No Connections");
    assert_eq!(
        conn(&t, CLIENT_B, CLIENT_A),
        "All Connections",
        "client in a is not selected by NotIn"
    );
}

#[test]
fn ip_blocks_with_except() {
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]}),
    )]);
    assert_eq!(conn(&t, "10.2.3.4", WEB), "All Connections");
    assert_eq!(conn(&t, "10.1.3.4", WEB), "No Connections");
    assert_eq!(conn(&t, "11.0.0.1", WEB), "No Connections");
    assert_eq!(
        conn(&t, CLIENT_A, WEB),
        "No Connections",
        "ipBlocks do not match pods"
    );
    let c = Connectivity::compute(&t);
    let names: Vec<String> = c
        .external_sources()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        names,
        [
            "0.0.0.0-9.255.255.255",
            "10.0.0.0-10.0.255.255",
            "10.1.0.0-10.1.255.255",
            "10.2.0.0-10.255.255.255",
            "11.0.0.0-255.255.255.255"
        ]
    );
    assert_eq!(
        c.external_destinations(),
        &[Range::ALL],
        "egress has no ipBlocks"
    );
}

#[test]
fn ports_protocols_and_end_port_ranges() {
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
            {"ports": [{"port": 80}, {"port": 8000, "endPort": 8100}, {"port": 53, "protocol": "UDP"}, {"port": 9, "protocol": "SCTP"}]},
            {"ports": [{"protocol": "UDP"}], "from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}
        ]}),
    )]);
    assert_eq!(conn(&t, CLIENT_B, WEB), "SCTP 9,TCP 80,8000-8100,UDP 53");
    assert_eq!(
        conn(&t, CLIENT_A, WEB),
        "SCTP 9,TCP 80,8000-8100,UDP 1-65535",
        "protocol without port = all its ports"
    );
    // A rule without ports allows every port.
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"podSelector": {}}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "All Connections");
}

#[test]
fn named_ports_resolve_on_the_destination_by_name_and_protocol() {
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http"}, {"port": "dns", "protocol": "UDP"}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "TCP 8080,UDP 53");
    // The same name with another protocol resolves to nothing.
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http", "protocol": "UDP"}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "No Connections");
    // Egress: the name resolves on the destination, not on the sender.
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "http"}]}]}),
    )]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "TCP 8080");
    assert_eq!(
        conn(&t, CLIENT_A, CLIENT_B),
        "No Connections",
        "b/client declares no http port"
    );
    assert_eq!(
        conn(&t, CLIENT_A, "8.8.8.8"),
        "No Connections",
        "a name means nothing for an address"
    );
}

#[test]
fn connection_is_egress_of_source_intersected_with_ingress_of_destination() {
    let t = cluster(&[
        policy(
            "a",
            "out",
            json!({"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 80, "endPort": 90}]}]}),
        ),
        policy(
            "a",
            "in",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 85, "endPort": 100}]}]}),
        ),
    ]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "TCP 85-90");
}

#[test]
fn allowed_traffic_is_the_union_over_policies_and_rules() {
    let t = cluster(&[
        policy(
            "a",
            "one",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 80}]}]}),
        ),
        policy(
            "a",
            "two",
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 81}]}, {"ports": [{"port": 443}]}]}),
        ),
    ]);
    assert_eq!(conn(&t, CLIENT_A, WEB), "TCP 80-81,443");
    assert_eq!(conn(&t, WEB, CLIENT_A), "TCP 81,443");
    assert_eq!(
        Compiled::new(&t).connections(find(&t, CLIENT_A), find(&t, WEB)),
        tcp(80, 81).union(&tcp(443, 443))
    );
}

#[test]
fn rule_without_peers_admits_everyone_including_external() {
    let t = cluster(&[policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 443}]}]}),
    )]);
    assert_eq!(conn(&t, "203.0.113.9", WEB), "TCP 443");
    assert_eq!(conn(&t, CLIENT_B, WEB), "TCP 443");
}

#[test]
fn refuses_what_the_api_server_refuses_naming_policy_and_field() {
    let cases = [
        (
            json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0/8"}}]}]}),
            "spec.ingress[0].from[0].ipBlock.cidr",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]}),
            "spec.ingress[0].from[0].ipBlock.except[0]",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/8"]}}]}]}),
            "spec.ingress[0].from[0].ipBlock.except[0]",
        ),
        (
            json!({"podSelector": {"matchLabels": {"a@b": "x"}}}),
            "spec.podSelector.matchLabels",
        ),
        (
            json!({"podSelector": {"matchLabels": {"app": "x y"}}}),
            "spec.podSelector.matchLabels[app]",
        ),
        (
            json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "1.0.0.0/8"}, "podSelector": {}}]}]}),
            "spec.egress[0].to[0]",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"from": [{}]}]}),
            "spec.ingress[0].from[0]",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]}),
            "spec.ingress[0].ports[0].endPort",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}),
            "spec.ingress[0].ports[0].endPort",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"endPort": 80}]}]}),
            "spec.ingress[0].ports[0].endPort",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]}),
            "spec.ingress[0].ports[0].port",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}),
            "spec.ingress[0].ports[0].port",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": "Not_A_Name"}]}]}),
            "spec.ingress[0].ports[0].port",
        ),
        (
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}),
            "spec.ingress[0].ports[0].protocol",
        ),
        (
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Both"]}),
            "spec.policyTypes[1]",
        ),
    ];
    for (spec, field) in cases {
        let objects = [
            pod("a", "x", json!({}), json!([])),
            policy("a", "bad", spec.clone()),
        ];
        match Topology::from_objects(&objects, Granularity::Workloads) {
            Ok(_) => panic!("accepted {spec}"),
            Err(errors) => {
                let text = errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(
                    text.contains("NetworkPolicy a/bad") && text.contains(field),
                    "{spec}: {text}"
                );
            }
        }
    }
    let twice = [
        policy("a", "p", json!({"podSelector": {}})),
        policy("a", "p", json!({"podSelector": {}})),
    ];
    match Topology::from_objects(&twice, Granularity::Workloads) {
        Err(e) => assert!(matches!(&e[..], [NetpolError::Duplicate { .. }]), "{e:?}"),
        Ok(_) => panic!("a duplicate policy was accepted"),
    }
}

#[test]
fn peers_are_workloads_by_owner_or_template() {
    let owned = |name: &str, owner: Value| json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "a", "labels": {"app": "x"}, "ownerReferences": [owner]}, "spec": {"containers": []}});
    let objects = [
        owned(
            "x-1",
            json!({"kind": "ReplicaSet", "name": "x-abc", "controller": true}),
        ),
        owned(
            "x-2",
            json!({"kind": "ReplicaSet", "name": "x-abc", "controller": true}),
        ),
        owned(
            "static",
            json!({"kind": "Node", "name": "node-1", "controller": true}),
        ),
        owned("loose", json!({"kind": "ReplicaSet", "name": "other"})),
        json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "d", "namespace": "a"}, "spec": {"template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "name": "web"}]}]}}}}),
        json!({"kind": "CronJob", "apiVersion": "batch/v1", "metadata": {"name": "cj"}, "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"app": "cj"}}, "spec": {"containers": []}}}}}}),
    ];
    let t = build(&objects);
    let ids: Vec<String> = t.workloads.iter().map(crate::Workload::id).collect();
    assert_eq!(
        ids,
        [
            "a/d[Deployment]",
            "a/loose[Pod]",
            "a/static[Pod]",
            "a/x-abc[ReplicaSet]",
            "default/cj[CronJob]"
        ]
    );
    assert_eq!(
        t.workloads[0].labels.get("app").map(String::as_str),
        Some("d")
    );
    assert_eq!(t.workloads[0].ports.len(), 1);
    let pods = match Topology::from_objects(&objects, Granularity::Pods) {
        Ok(t) => t,
        Err(e) => panic!("{e:?}"),
    };
    assert!(
        pods.workloads.iter().any(|w| w.id() == "a/x-1[Pod]")
            && pods.workloads.iter().any(|w| w.id() == "a/x-2[Pod]")
    );
}

#[test]
fn pods_of_one_owner_with_labels_a_selector_tells_apart_are_refused() {
    let owned = |name: &str, tier: &str| json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "a", "labels": {"app": "x", "tier": tier}, "ownerReferences": [{"kind": "DaemonSet", "name": "ds", "controller": true}]}, "spec": {"containers": []}});
    let pods = [owned("p1", "one"), owned("p2", "two")];
    assert!(
        Topology::from_objects(&pods, Granularity::Workloads).is_ok(),
        "no policy looks at tier"
    );
    let mut with_policy = pods.to_vec();
    with_policy.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "x"}}}),
    ));
    assert!(
        Topology::from_objects(&with_policy, Granularity::Workloads).is_ok(),
        "app is the same on both"
    );
    with_policy.push(policy(
        "a",
        "q",
        json!({"podSelector": {"matchLabels": {"tier": "one"}}}),
    ));
    match Topology::from_objects(&with_policy, Granularity::Workloads) {
        Err(e) => assert!(
            matches!(&e[..], [NetpolError::LabelGap { policy, .. }] if policy == "a/q"),
            "{e:?}"
        ),
        Ok(_) => panic!("label gap accepted"),
    }
    assert!(
        Topology::from_objects(&with_policy, Granularity::Pods).is_ok(),
        "--pods needs no owner"
    );
}

#[test]
fn class_matrix_agrees_with_the_direct_computation_for_every_pair() {
    let t = cluster(&[
        policy(
            "a",
            "one",
            json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.9.0.0/16"]}}], "ports": [{"port": "http"}]}]}),
        ),
        policy(
            "b",
            "two",
            json!({"podSelector": {}, "egress": [{"to": [{"namespaceSelector": {}}], "ports": [{"port": 8080}, {"port": "dns", "protocol": "UDP"}]}, {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["192.168.0.0/16"]}}]}]}),
        ),
    ]);
    let c = Connectivity::compute(&t);
    let direct = Compiled::new(&t);
    let mut endpoints: Vec<Endpoint> = (0..t.workloads.len()).map(Endpoint::Workload).collect();
    endpoints.extend(c.external_sources().iter().map(|&r| Endpoint::External(r)));
    endpoints.extend(
        c.external_destinations()
            .iter()
            .map(|&r| Endpoint::External(r)),
    );
    let mut checked = 0;
    for &s in &endpoints {
        for &d in &endpoints {
            if let Some(got) = c.get(s, d) {
                assert_eq!(*got, direct.connections(s, d), "{s:?} -> {d:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "{checked}");
    assert!(c.class_count() <= t.workloads.len());
}

fn seed_004(with_policy: bool) -> Topology {
    let busybox = |name: &str| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": "busybox"}]}});
    let mut objects = vec![busybox("busybox1"), busybox("busybox2")];
    if with_policy {
        objects.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web-deny-all"}, "spec": {"podSelector": {"matchLabels": {"app": "busybox1"}}, "ingress": []}}));
    }
    build(&objects)
}

#[test]
fn seed_004_web_deny_all_stops_busybox2_and_explain_names_it() {
    let before = seed_004(false);
    let after = seed_004(true);
    assert_eq!(
        conn(&before, "default/busybox2[Pod]", "default/busybox1[Pod]"),
        "All Connections"
    );
    assert_eq!(
        conn(&after, "default/busybox2[Pod]", "default/busybox1[Pod]"),
        "No Connections"
    );
    assert_eq!(
        conn(&after, "default/busybox1[Pod]", "default/busybox2[Pod]"),
        "All Connections"
    );
    let e = explain(
        &after,
        find(&after, "default/busybox2[Pod]"),
        find(&after, "default/busybox1[Pod]"),
    );
    let ingress = e
        .ingress
        .as_ref()
        .map(|s| (s.isolating.clone(), s.admitting.len()));
    assert_eq!(ingress, Some((vec!["default/web-deny-all".to_string()], 0)));
    assert!(e.egress.as_ref().is_some_and(|s| s.isolating.is_empty()));
    let lines: Vec<String> = diff(&before, &after)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(lines, [
        "diff-type: removed, source: 0.0.0.0-255.255.255.255[External], destination: default/busybox1[Pod], ref1: All Connections, ref2: No Connections",
        "diff-type: removed, source: default/busybox2[Pod], destination: default/busybox1[Pod], ref1: All Connections, ref2: No Connections",
    ]);
}

#[test]
fn diff_names_workloads_that_exist_on_one_side_only() {
    let before = build(&[pod("a", "x", json!({}), json!([]))]);
    let after = build(&[
        pod("a", "x", json!({}), json!([])),
        pod("a", "y", json!({}), json!([])),
    ]);
    let lines: Vec<String> = diff(&before, &after)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(lines.contains(&"diff-type: added, source: a/x[Pod], destination: a/y[Pod], ref1: No Connections, ref2: All Connections, workloads-diff-info: workload a/y[Pod] added".to_string()), "{lines:#?}");
    assert!(diff(&after, &after).is_empty());
}

#[test]
fn gaps_find_missing_default_deny_unprotected_workloads_and_dead_selectors() {
    let t = cluster(&[
        policy(
            "a",
            "deny",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ),
        policy(
            "a",
            "ghost",
            json!({"podSelector": {"matchLabels": {"app": "nothing"}}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "nobody"}}}]}]}),
        ),
        policy(
            "b",
            "named",
            json!({"podSelector": {}, "ingress": [{"ports": [{"port": "metrics"}]}]}),
        ),
    ]);
    let found = gaps(&t);
    let has =
        |kind: GapKind, subject: &str| found.iter().any(|g| g.kind == kind && g.subject == subject);
    use crate::Direction::{Egress, Ingress};
    assert!(
        !has(GapKind::NoDefaultDeny(Ingress), "a") && !has(GapKind::NoDefaultDeny(Egress), "a")
    );
    assert!(has(GapKind::NoDefaultDeny(Egress), "b") && !has(GapKind::NoDefaultDeny(Ingress), "b"));
    assert!(
        has(GapKind::Unprotected(Egress), CLIENT_B)
            && !has(GapKind::Unprotected(Ingress), CLIENT_B)
    );
    assert!(!has(GapKind::Unprotected(Ingress), WEB));
    assert!(has(GapKind::SelectsNothing, "NetworkPolicy a/ghost"));
    assert!(found.iter().any(|g| g.kind == GapKind::PeerMatchesNothing
        && g.field.as_deref() == Some("spec.ingress[0].from[0]")));
    assert!(found.iter().any(|g| g.kind == GapKind::NamedPortUnresolved
        && g.field.as_deref() == Some("spec.ingress[0].ports[0]")));
}
