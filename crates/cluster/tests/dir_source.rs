//! The directory source: loads Namespaces and Pods, reports bad documents without losing the
//! rest, and reloads when a file changes.

#![allow(clippy::expect_used, clippy::unwrap_used)] // integration tests: a failed expectation is a failed test

use podsec_admission::{NamespaceGetter, PodLister};
use podsec_cluster::DirSource;

#[tokio::test]
async fn loads_reports_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ns.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: \"y\"}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {containers: [{name: c}]}\n").unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("..hidden")).unwrap();
    std::fs::write(
        dir.path().join("..hidden/ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: hidden}\n",
    )
    .unwrap();
    let (source, report) = DirSource::open(dir.path()).unwrap();
    assert_eq!(
        (report.namespaces, report.pods),
        (1, 1),
        "{:?}",
        report.errors
    );
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].to_string().contains("broken.yaml:3"),
        "{}",
        report.errors[0]
    );
    assert_eq!(
        source
            .namespace("a")
            .await
            .unwrap()
            .unwrap()
            .labels
            .get("x")
            .map(String::as_str),
        Some("y")
    );
    assert_eq!(
        source.namespace("hidden").await.unwrap(),
        None,
        "hidden entries (a volume's ..data) are skipped"
    );
    assert_eq!(source.pods("a").await.unwrap().len(), 1);
    assert!(source.reload_if_changed().is_none(), "nothing changed");

    std::fs::write(
        dir.path().join("more.json"),
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}}"#,
    )
    .unwrap();
    let report = source.reload_if_changed().expect("a new file is a change");
    assert_eq!(report.namespaces, 2);
    assert!(source.namespace("b").await.unwrap().is_some());
    assert!(DirSource::open(&dir.path().join("missing")).is_err());
}

#[test]
fn yaml_1_1_booleans_in_labels_are_errors_as_in_kubernetes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: y}}\n",
    )
    .unwrap();
    let (_, report) = DirSource::open(dir.path()).unwrap();
    assert_eq!(report.namespaces, 0);
    assert!(
        report.errors[0].message.starts_with(
            "Namespace : metadata.labels.x: invalid type: boolean `true`, expected a string"
        ),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_list_where_a_policy_expects_an_object_is_an_error_not_a_positional_decode() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("psp.yaml"),
        "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: loose}\nspec:\n  runAsUser: [RunAsAny]\n  seLinux: {rule: RunAsAny}\n  supplementalGroups: {rule: RunAsAny}\n  fsGroup: {rule: RunAsAny}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [[policy, podsecuritypolicies]]\n",
    )
    .unwrap();
    let (source, report) = DirSource::open(dir.path()).unwrap();
    let messages: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("PodSecurityPolicy loose")
            && messages[0].contains("invalid type: sequence, expected an object"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("ClusterRole r")
            && messages[1].contains("invalid type: sequence, expected an object"),
        "{messages:?}"
    );
    assert!(source.snapshot().psp_state().providers.is_empty());
}
