//! Table tests: matching (each selector), narrowing per check through the real PSS evaluation,
//! expiry, and what an exception must never cover.

use serde_json::{json, Value};

use super::*;
use podsec_policy::{evaluate, Level, LevelVersion, Version};

const NOW: i64 = 1_800_000_000; // 2027-01-15
const LATER: &str = "2027-06-01T00:00:00Z";
const EARLIER: &str = "2026-06-01T00:00:00Z";

fn exception(namespace: &str, name: &str, spec: Value) -> Exception {
    let object = json!({"apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": name, "namespace": namespace}, "spec": spec});
    Exception::parse(&object, "default").unwrap_or_else(|e| panic!("{e}"))
}

fn spec(waive: Value, matches: Value) -> Value {
    json!({"owner": "team-observability", "reason": "node-exporter reads the host", "expires": LATER,
           "match": matches, "waive": waive})
}

fn node_exporter_pod() -> (ObjectMeta, PodSpec) {
    let meta: ObjectMeta = serde_json::from_value(json!({"name": "node-exporter-x1", "labels": {"app": "node-exporter"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "node-exporter", "uid": "u", "controller": true}]}))
    .unwrap_or_else(|e| panic!("{e}"));
    let spec: PodSpec = serde_json::from_value(json!({
        "serviceAccountName": "node-exporter",
        "hostNetwork": true, "hostPID": true,
        "volumes": [{"name": "proc", "hostPath": {"path": "/proc"}}, {"name": "sys", "hostPath": {"path": "/sys"}}],
        "containers": [
            {"name": "node-exporter", "image": "quay.io/prometheus/node-exporter:v1.8.0",
             "ports": [{"containerPort": 9100, "hostPort": 9100}],
             "volumeMounts": [{"name": "proc", "mountPath": "/host/proc"}, {"name": "sys", "mountPath": "/host/sys"}]},
            {"name": "sidecar", "image": "busybox", "securityContext": {"privileged": true}}
        ]}))
    .unwrap_or_else(|e| panic!("{e}"));
    (meta, spec)
}

fn baseline(meta: &ObjectMeta, spec: &PodSpec) -> Vec<Violation> {
    evaluate(
        LevelVersion::new(Level::Baseline, Version::Latest),
        meta,
        spec,
    )
    .violations
}

fn checks(v: &[Violation]) -> Vec<&str> {
    v.iter().map(|v| v.check.as_str()).collect()
}

#[test]
fn matching_by_each_selector() {
    let (meta, pod) = node_exporter_pod();
    let subject = Subject::new("monitoring", None, &meta, &pod);
    let waive = json!([{"check": "hostPorts"}]);
    let cases = [
        (
            json!({"workloads": [{"kind": "DaemonSet", "name": "node-exporter"}]}),
            true,
        ),
        (json!({"workloads": [{"name": "node-*"}]}), true),
        (
            json!({"workloads": [{"kind": "Deployment", "name": "node-exporter"}]}),
            false,
        ),
        (
            json!({"workloads": [{"kind": "DaemonSet", "name": "other"}]}),
            false,
        ),
        (json!({"podLabels": {"app": "node-exporter"}}), true),
        (
            json!({"podLabels": {"app": "node-exporter", "tier": "x"}}),
            false,
        ),
        (json!({"serviceAccounts": ["node-*"]}), true),
        (json!({"serviceAccounts": ["default"]}), false),
        (
            json!({"workloads": [{"name": "node-exporter"}], "podLabels": {"app": "other"}}),
            false,
        ),
    ];
    for (matches, expected) in cases {
        let e = exception("monitoring", "e", spec(waive.clone(), matches.clone()));
        assert_eq!(e.applies_to(&subject), expected, "{matches}");
    }
    let elsewhere = exception(
        "kube-system",
        "e",
        spec(waive, json!({"podLabels": {"app": "node-exporter"}})),
    );
    assert!(
        !elsewhere.applies_to(&subject),
        "another namespace's exception never applies"
    );
}

#[test]
fn a_deployments_pods_match_the_deployment_and_a_manifest_its_own_kind() {
    let meta: ObjectMeta = serde_json::from_value(json!({"name": "web-7d9f8-abcde",
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8", "uid": "u", "controller": true}]}))
    .unwrap_or_else(|e| panic!("{e}"));
    let pod = PodSpec::default();
    let e = exception(
        "a",
        "e",
        spec(
            json!([{"check": "privileged"}]),
            json!({"workloads": [{"kind": "Deployment", "name": "web"}]}),
        ),
    );
    assert!(e.applies_to(&Subject::new("a", None, &meta, &pod)));
    let template = ObjectMeta::default();
    assert!(e.applies_to(&Subject::new(
        "a",
        Some(("Deployment", "web")),
        &template,
        &pod
    )));
    assert!(!e.applies_to(&Subject::new(
        "a",
        Some(("StatefulSet", "web")),
        &template,
        &pod
    )));
}

#[test]
fn narrowed_values_waive_exactly_what_they_allow() {
    let (meta, pod) = node_exporter_pod();
    let subject = Subject::new("monitoring", None, &meta, &pod);
    let violations = baseline(&meta, &pod);
    assert_eq!(
        checks(&violations),
        [
            "hostNamespaces",
            "hostPathVolumes",
            "hostPorts",
            "privileged"
        ]
    );
    let m = json!({"workloads": [{"kind": "DaemonSet", "name": "node-exporter"}]});
    // Allowed values cover every offending value: waived.
    let set = ExceptionSet::new([exception(
        "monitoring",
        "node-exporter",
        spec(
            json!([
                {"check": "hostPathVolumes", "allow": ["/proc", "/sys"]},
                {"check": "hostNamespaces", "allow": ["hostNetwork", "hostPID"]},
                {"check": "hostPorts", "allow": [9100]}
            ]),
            m.clone(),
        ),
    )]);
    let out = set.waive(&subject, violations.clone(), NOW);
    assert_eq!(
        checks(&out.remaining),
        ["privileged"],
        "another check is not covered"
    );
    assert_eq!(out.waived.len(), 3);
    assert_eq!(out.exceptions_used(), ["monitoring/node-exporter"]);
    // A value beyond the allowed ones: the check stands, with upstream's message.
    let set = ExceptionSet::new([exception(
        "monitoring",
        "narrow",
        spec(
            json!([
                {"check": "hostPathVolumes", "allow": ["/proc"]},
                {"check": "hostNamespaces", "allow": ["hostNetwork"]},
                {"check": "hostPorts", "allow": [9101]}
            ]),
            m,
        ),
    )]);
    let out = set.waive(&subject, violations.clone(), NOW);
    assert_eq!(
        out.remaining, violations,
        "nothing waived, messages untouched"
    );
}

#[test]
fn an_exception_never_covers_another_container() {
    let (meta, pod) = node_exporter_pod();
    let subject = Subject::new("monitoring", None, &meta, &pod);
    let violations = baseline(&meta, &pod);
    let only_exporter =
        json!({"workloads": [{"name": "node-exporter"}], "containers": ["node-exporter"]});
    let set = ExceptionSet::new([exception(
        "monitoring",
        "e",
        spec(
            json!([
                {"check": "privileged"}, {"check": "hostPorts"}, {"check": "hostPathVolumes"}, {"check": "hostNamespaces"}
            ]),
            only_exporter,
        ),
    )]);
    let out = set.waive(&subject, violations, NOW);
    // privileged is the sidecar's; hostNetwork/hostPID concern every container (the sidecar too).
    assert_eq!(checks(&out.remaining), ["hostNamespaces", "privileged"]);
    assert_eq!(
        out.waived
            .iter()
            .map(|w| w.violation.check.as_str())
            .collect::<Vec<_>>(),
        ["hostPathVolumes", "hostPorts"]
    );
    // By image: the sidecar's busybox is not the exporter's image.
    let by_image = json!({"workloads": [{"name": "node-exporter"}], "images": ["quay.io/prometheus/node-exporter:*"]});
    let set = ExceptionSet::new([exception(
        "monitoring",
        "e",
        spec(json!([{"check": "privileged"}]), by_image),
    )]);
    assert_eq!(
        set.waive(&subject, baseline(&meta, &pod), NOW).waived.len(),
        0
    );
}

#[test]
fn expiry_and_namespace() {
    let (meta, pod) = node_exporter_pod();
    let subject = Subject::new("monitoring", None, &meta, &pod);
    let m = json!({"podLabels": {"app": "node-exporter"}});
    let mut expired = spec(json!([{"check": "hostPorts"}]), m.clone());
    expired["expires"] = json!(EARLIER);
    let set = ExceptionSet::new([exception("monitoring", "old", expired)]);
    assert!(
        set.waive(&subject, baseline(&meta, &pod), NOW)
            .waived
            .is_empty(),
        "expired: enforcement resumes"
    );
    assert_eq!(set.expired_for(&subject, NOW).len(), 1);
    let set = ExceptionSet::new([exception(
        "monitoring",
        "e",
        spec(json!([{"check": "hostPorts"}]), m.clone()),
    )]);
    let until = time::parse_rfc3339(LATER).unwrap_or_default();
    assert_eq!(
        set.waive(&subject, baseline(&meta, &pod), until - 1)
            .waived
            .len(),
        1,
        "the second before expiry"
    );
    assert!(
        set.waive(&subject, baseline(&meta, &pod), until)
            .waived
            .is_empty(),
        "at expiry"
    );
    let other_ns = ExceptionSet::new([exception(
        "default",
        "e",
        spec(json!([{"check": "hostPorts"}]), m),
    )]);
    assert!(other_ns
        .waive(&subject, baseline(&meta, &pod), NOW)
        .waived
        .is_empty());
}

#[test]
fn malformed_exceptions_are_clear_errors() {
    let base = || {
        spec(
            json!([{"check": "hostPorts"}]),
            json!({"podLabels": {"app": "x"}}),
        )
    };
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|s| s["waive"] = json!([{"check": "hostPort"}])),
            "unknown check \"hostPort\"",
        ),
        (
            Box::new(|s| s["match"] = json!({"workloads": [{"name": "web-[0-9]"}]})),
            "spec.match.workloads[0].name",
        ),
        (
            Box::new(|s| s["expires"] = json!("next tuesday")),
            "spec.expires",
        ),
        (
            Box::new(|s| s["waive"] = json!([{"check": "privileged", "allow": [true]}])),
            "privileged has no values to narrow",
        ),
        (Box::new(|s| s["match"] = json!({})), "name the workloads"),
        (Box::new(|s| s["owner"] = json!("")), "spec.owner"),
        (Box::new(|s| s["waive"] = json!([])), "spec.waive"),
        (
            Box::new(|s| s["waive"] = json!([{"check": "hostPorts", "constraint": "K/x"}])),
            "exactly one of check or constraint",
        ),
        (
            Box::new(|s| {
                s["waive"] = json!([{"constraint": "K8sPSPHostFilesystem/x", "allow": ["/"]}])
            }),
            "waived whole",
        ),
        (
            Box::new(|s| s["extra"] = json!(1)),
            "spec.extra: unknown field",
        ),
    ];
    for (change, expected) in cases {
        let mut s = base();
        change(&mut s);
        let object = json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "bad", "namespace": "a"}, "spec": s});
        match Exception::parse(&object, "default") {
            Ok(_) => panic!("accepted: {s}"),
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("PodSecurityException a/bad: ") && text.contains(expected),
                    "{text}"
                );
            }
        }
    }
}

#[test]
fn constraints_are_waived_by_kind_and_name() {
    let e = exception(
        "a",
        "e",
        spec(
            json!([{"constraint": "K8sPSPHostFilesystem/psp-*"}]),
            json!({"podLabels": {"a": "b"}}),
        ),
    );
    assert!(e.waives_constraint("K8sPSPHostFilesystem", "psp-host-filesystem"));
    assert!(!e.waives_constraint("K8sPSPHostFilesystem", "other"));
    assert!(!e.waives_constraint("K8sPSPPrivilegedContainer", "psp-host-filesystem"));
}

#[test]
fn at_restricted_a_host_path_needs_its_path_allowed_not_only_the_volume_type() {
    let (meta, mut pod) = node_exporter_pod();
    pod.containers.truncate(1);
    let subject = Subject::new("monitoring", None, &meta, &pod);
    let restricted = evaluate(
        LevelVersion::new(Level::Restricted, Version::Latest),
        &meta,
        &pod,
    )
    .violations;
    assert!(checks(&restricted).contains(&"restrictedVolumes"));
    let m = json!({"workloads": [{"name": "node-exporter"}]});
    let only_type = ExceptionSet::new([exception(
        "monitoring",
        "e",
        spec(
            json!([{"check": "restrictedVolumes", "allow": ["hostPath"]}]),
            m.clone(),
        ),
    )]);
    let out = only_type.waive(&subject, restricted.clone(), NOW);
    assert!(
        checks(&out.remaining).contains(&"restrictedVolumes"),
        "the paths are not named"
    );
    let narrow = ExceptionSet::new([exception(
        "monitoring",
        "e",
        spec(
            json!([
                {"check": "restrictedVolumes", "allow": ["hostPath"]}, {"check": "hostPathVolumes", "allow": ["/proc"]}
            ]),
            m.clone(),
        ),
    )]);
    assert!(
        checks(&narrow.waive(&subject, restricted.clone(), NOW).remaining)
            .contains(&"restrictedVolumes"),
        "/sys is not allowed"
    );
    let both = ExceptionSet::new([exception(
        "monitoring",
        "e",
        spec(
            json!([
                {"check": "restrictedVolumes", "allow": ["hostPath"]}, {"check": "hostPathVolumes", "allow": ["/proc", "/sys"]}
            ]),
            m,
        ),
    )]);
    assert!(
        !checks(&both.waive(&subject, restricted, NOW).remaining).contains(&"restrictedVolumes")
    );
}

#[test]
fn review_findings_never_widen() {
    // A misspelt key or a null allow is an error, not a whole-check waiver.
    for waive in [
        json!([{"check": "hostPathVolumes", "alow": ["/var/log"]}]),
        json!([{"check": "hostPathVolumes", "allow": null}]),
    ] {
        let object = json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "e", "namespace": "a"},
            "spec": spec(waive.clone(), json!({"podLabels": {"app": "x"}}))});
        assert!(Exception::parse(&object, "default").is_err(), "{waive}");
    }
    let object = json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "e", "namespace": "a"},
        "spec": spec(json!([{"check": "hostPorts"}]), json!({"workloads": [{"kind": 5, "name": "x"}]}))});
    assert!(
        Exception::parse(&object, "default").is_err(),
        "a kind that is not a string"
    );

    // Waiving capabilities_restricted (the missing drop ALL) does not admit SYS_ADMIN.
    let meta: ObjectMeta = serde_json::from_value(json!({"name": "p", "labels": {"app": "x"}}))
        .unwrap_or_else(|e| panic!("{e}"));
    let pod: PodSpec = serde_json::from_value(json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": "i", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["SYS_ADMIN"]}}}]}))
    .unwrap_or_else(|e| panic!("{e}"));
    let subject = Subject::new("a", None, &meta, &pod);
    let restricted = evaluate(
        LevelVersion::new(Level::Restricted, Version::Latest),
        &meta,
        &pod,
    )
    .violations;
    let m = json!({"podLabels": {"app": "x"}});
    let only_restricted = ExceptionSet::new([exception(
        "a",
        "e",
        spec(json!([{"check": "capabilities_restricted"}]), m.clone()),
    )]);
    assert!(checks(
        &only_restricted
            .waive(&subject, restricted.clone(), NOW)
            .remaining
    )
    .contains(&"capabilities_restricted"));
    let both = ExceptionSet::new([exception(
        "a",
        "e",
        spec(
            json!([{"check": "capabilities_restricted"}, {"check": "capabilities_baseline", "allow": ["SYS_ADMIN"]}]),
            m.clone(),
        ),
    )]);
    assert!(!checks(&both.waive(&subject, restricted, NOW).remaining)
        .contains(&"capabilities_restricted"));

    // runAsNonRoot lists only the explicit setting: a waiver scoped to that container does not
    // cover the other container that sets nothing.
    let pod: PodSpec = serde_json::from_value(json!({"containers": [
        {"name": "a", "image": "i", "securityContext": {"runAsNonRoot": false}}, {"name": "b", "image": "i"}]}))
    .unwrap_or_else(|e| panic!("{e}"));
    let subject = Subject::new("a", None, &meta, &pod);
    let violations: Vec<Violation> = evaluate(
        LevelVersion::new(Level::Restricted, Version::Latest),
        &meta,
        &pod,
    )
    .violations
    .into_iter()
    .filter(|v| v.check == CheckId::RunAsNonRoot)
    .collect();
    assert_eq!(violations.len(), 1);
    let scoped = ExceptionSet::new([exception(
        "a",
        "e",
        spec(
            json!([{"check": "runAsNonRoot"}]),
            json!({"podLabels": {"app": "x"}, "containers": ["a"]}),
        ),
    )]);
    assert!(scoped
        .waive(&subject, violations.clone(), NOW)
        .waived
        .is_empty());
    let whole = ExceptionSet::new([exception(
        "a",
        "e",
        spec(json!([{"check": "runAsNonRoot"}]), m),
    )]);
    assert_eq!(whole.waive(&subject, violations, NOW).waived.len(), 1);
}
