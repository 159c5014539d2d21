//! The fix on real manifests: edits at the right level, text byte-identical outside the
//! inserted lines, idempotence, flow style and JSON, and the exact unfixable list.

use podsec_policy::{Level, LevelVersion, Version};

use super::*;

fn restricted() -> LevelVersion {
    LevelVersion::new(Level::Restricted, Version::Latest)
}

fn options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.legacy_octal_numbers = true;
    o
}

/// Fixes one YAML document: the new text and the unfixable checks.
fn fix(text: &str, json: bool, mode: Mode) -> (String, Vec<String>) {
    let root = tree::parse(text, options()).unwrap_or_else(|e| panic!("{e}"));
    let document = root.to_json();
    let mut edits = Vec::new();
    let mut unfixable = Vec::new();
    for (prefix, object) in objects_of(&document) {
        let Some(fixed) = fix_object(object, restricted(), mode) else {
            continue;
        };
        let fixed = fixed.unwrap_or_else(|e| panic!("{e}"));
        unfixable.extend(
            fixed
                .unfixable
                .iter()
                .map(|u| u.violation.check.as_str().to_string()),
        );
        edits.extend(rebase(fixed.edits, &prefix));
    }
    let changes = text::text_edits(text, &root, &edits, json).unwrap_or_else(|e| panic!("{e}"));
    (text::apply(text, &changes), unfixable)
}

const FIX: Mode = Mode::Fix {
    remove_capabilities: false,
};

/// `kubectl create deployment web --image=nginx --dry-run=client -o yaml`, with comments.
const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web # the selector below matches this
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        resources: {}
status: {}
";

#[test]
fn a_kubectl_deployment_gets_pod_and_container_settings_as_inserted_lines_only() {
    let (fixed, unfixable) = fix(DEPLOYMENT, false, FIX);
    assert_eq!(
        fixed,
        "apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web # the selector below matches this
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        resources: {}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            drop: [ALL]
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
status: {}
"
    );
    assert!(unfixable.is_empty(), "{unfixable:?}");
    // Idempotent.
    assert_eq!(fix(&fixed, false, FIX).0, fixed);
}

#[test]
fn existing_settings_are_completed_not_overridden() {
    let text = "apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  securityContext:
    runAsUser: 1000   # keep
  containers:
    - name: a
      image: a
      securityContext:
        capabilities:
          drop:
            - NET_RAW
          add: [NET_BIND_SERVICE, SYS_TIME]
    - name: b
      image: b
      securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: true}
";
    let (fixed, unfixable) = fix(text, false, FIX);
    assert_eq!(
        fixed,
        "apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  securityContext:
    runAsUser: 1000   # keep
    runAsNonRoot: true
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: a
      image: a
      securityContext:
        capabilities:
          drop:
            - NET_RAW
            - ALL
          add: [NET_BIND_SERVICE, SYS_TIME]
        allowPrivilegeEscalation: false
    - name: b
      image: b
      securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: true, capabilities: {drop: [ALL]}}
"
    );
    // SYS_TIME is only removed when asked; the explicit `true` is the author's.
    assert_eq!(
        unfixable,
        ["allowPrivilegeEscalation", "capabilities_restricted"]
    );
    let (removed, unfixable) = fix(
        text,
        false,
        Mode::Fix {
            remove_capabilities: true,
        },
    );
    assert!(removed.contains("add: [NET_BIND_SERVICE]\n"), "{removed}");
    assert_eq!(unfixable, ["allowPrivilegeEscalation"]);
}

#[test]
fn json_manifests_get_json() {
    let text = r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "p"},
  "spec": {
    "containers": [
      {"name": "a", "image": "a"}
    ]
  }
}
"#;
    let (fixed, unfixable) = fix(text, true, FIX);
    let parsed: serde_json::Value =
        serde_json::from_str(&fixed).unwrap_or_else(|e| panic!("{e}: {fixed}"));
    assert_eq!(
        parsed["spec"]["containers"][0]["securityContext"],
        serde_json::json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
    );
    assert_eq!(parsed["spec"]["securityContext"]["runAsNonRoot"], true);
    assert!(unfixable.is_empty());
    assert_eq!(fix(&fixed, true, FIX).0, fixed);
}

#[test]
fn what_cannot_be_fixed_safely_is_listed_exactly() {
    let text = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: true
  securityContext: {runAsUser: 0}
  volumes: [{name: h, hostPath: {path: /var/log}}]
  containers:
  - name: a
    image: a
    ports: [{containerPort: 80, hostPort: 80}]
    securityContext: {privileged: true}
";
    let (fixed, unfixable) = fix(text, false, FIX);
    // In the order of upstream's checks; hostPathVolumes is restrictedVolumes at restricted.
    assert_eq!(
        unfixable,
        [
            "hostNamespaces",
            "hostPorts",
            "privileged",
            "allowPrivilegeEscalation",
            "restrictedVolumes",
            "runAsUser"
        ]
    );
    // A privileged container does not get allowPrivilegeEscalation: false (the API server
    // refuses the pair).
    assert!(!fixed.contains("allowPrivilegeEscalation"), "{fixed}");
}

#[test]
fn webhook_defaults_never_touch_a_set_value() {
    let text = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: a
    image: a
    securityContext: {capabilities: {drop: [NET_RAW]}, allowPrivilegeEscalation: true}
";
    let root = tree::parse(text, options()).unwrap_or_else(|e| panic!("{e}"));
    let fixed = fix_object(&root.to_json(), restricted(), Mode::Defaults)
        .unwrap_or_else(|| panic!("a pod"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        json_patch(&fixed.edits),
        serde_json::json!([
            {"op": "add", "path": "/spec/securityContext", "value": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}},
        ])
    );
}
