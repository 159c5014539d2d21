#!/usr/bin/env python3
"""Writes the starting corpora (fuzz/seeds/<target>/) from podsec's own examples, deploy
manifests and bad-input table, and AdmissionReviews built around them. Run once before the
first fuzzing; the committed corpora (fuzz/corpus/) are what fuzzing grew from these, minimized."""
import hashlib
import json
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "seeds"
MAX = 64 * 1024


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX:
        return
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def files(*globs):
    for g in globs:
        for p in sorted(ROOT.glob(g)):
            if p.is_file() and p.stat().st_size <= MAX:
                yield p


def kubectl(*args):
    try:
        return subprocess.run(["kubectl", *args, "--dry-run=client", "-o", "json"],
                              check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


manifests = [p.read_bytes() for p in files(
    "examples/*", "deploy/*/*.yaml", "crates/cli/tests/bad_inputs/*.yaml",
    "crates/cli/tests/bad_inputs/*.json", "crates/fuzzing/src/state.yaml")]
generated = [g for g in (
    kubectl("run", "p", "--image=nginx"),
    kubectl("create", "deployment", "d", "--image=nginx"),
    kubectl("create", "job", "j", "--image=busybox"),
    kubectl("create", "cronjob", "c", "--image=busybox", "--schedule=* * * * *"),
    kubectl("create", "namespace", "n"),
) if g]
for m in manifests + [g.encode() for g in generated]:
    put("manifests", m)
    put("cluster_state", m)
    for suffix in (b"", b"\n#\x01"):
        put("snapshot_stream", m + suffix)

pods = [json.loads(g) for g in generated]
pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "priv"},
             "spec": {"hostPID": True, "containers": [{"name": "c", "image": "x",
                      "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}}}]}})
pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "good"},
             "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                      "containers": [{"name": "c", "image": "x", "securityContext": {
                          "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}})
resources = {"Pod": ("", "v1", "pods"), "Deployment": ("apps", "v1", "deployments"),
             "Job": ("batch", "v1", "jobs"), "CronJob": ("batch", "v1", "cronjobs"),
             "Namespace": ("", "v1", "namespaces")}
for i, obj in enumerate(pods):
    group, version, resource = resources[obj["kind"]]
    for ns in ("restricted", "baseline", "broken", "default", "missing"):
        for op, old in (("CREATE", None), ("UPDATE", obj)):
            for api in ("admission.k8s.io/v1", "admission.k8s.io/v1beta1"):
                meta = dict(obj.get("metadata", {}))
                if obj["kind"] == "Namespace":
                    meta = {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}
                body = {"apiVersion": api, "kind": "AdmissionReview", "request": {
                    "uid": f"u{i}", "kind": {"group": group, "version": version, "kind": obj["kind"]},
                    "resource": {"group": group, "version": version, "resource": resource},
                    "namespace": "" if obj["kind"] == "Namespace" else ns,
                    "name": meta.get("name", ""), "operation": op,
                    "userInfo": {"username": "admin" if i % 2 else "dev", "groups": ["system:authenticated"]},
                    "object": dict(obj, metadata=meta), "oldObject": old}}
                for selector in (0, 1, 2, 5):
                    put("admission_review", bytes([selector]) + json.dumps(body).encode())

configs = [
    "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: restricted}\n",
    "apiVersion: pod-security.admission.config.k8s.io/v1beta1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\n  enforce-version: v1.25\n  audit: restricted\n  audit-version: latest\n  warn: restricted\n  warn-version: latest\nexemptions:\n  usernames: [admin]\n  runtimeClasses: [kata]\n  namespaces: [kube-system]\n",
    "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n    kind: PodSecurityConfiguration\n    defaults: {enforce: baseline}\n",
    "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: psa.yaml\n",
    "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict}\n",
    "apiVersion: pod-security.admission.config.k8s.io/v1alpha1\nkind: PodSecurityConfiguration\n",
    '{"apiVersion": "pod-security.admission.config.k8s.io/v1", "kind": "PodSecurityConfiguration", "defaults": {"warn": "restricted"}}',
]
for c in configs:
    put("configuration", c)
for p in files("deploy/base/configmap.yaml"):
    put("configuration", p.read_bytes())

# Gatekeeper policies: podsec's own (seed 004's, and a few written here), each alone and with
# objects to review. The gatekeeper-library suites in ../shared stay there.
TEMPLATE = """apiVersion: templates.gatekeeper.sh/{version}
kind: ConstraintTemplate
metadata:
  name: {lower}
spec:
  crd:
    spec:
      names:
        kind: {kind}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            tags: {{type: array, items: {{type: string}}}}
            mode: {{type: string, enum: [strict, lax], default: strict}}
  targets:
  - target: admission.k8s.gatekeeper.sh
{code}"""
REGO = """    rego: |
      package {lower}
      import data.lib.images.tagged
      violation[{{"msg": msg, "details": {{"image": c.image}}}}] {{
        c := input.review.object.spec.containers[_]
        tag := input.parameters.tags[_]
        tagged(c.image, tag)
        not input.review.object.metadata.labels.exempt
        msg := sprintf("container <%v> uses tag <%v> (%v)", [c.name, tag, input.parameters.mode])
      }}
      violation[{{"msg": "inventory says no"}}] {{
        data.inventory.namespace[input.review.object.metadata.namespace]["v1"]["ConfigMap"]["deny-all"]
      }}
    libs:
    - |
      package lib.images
      tagged(image, tag) {{ endswith(image, concat(":", ["", tag])) }}
"""
CEL = """    code:
    - engine: K8sNativeValidation
      source:
        matchConditions:
        - name: not-exempt
          expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"
        variables:
        - name: images
          expression: "variables.anyObject.spec.containers.map(c, c.image)"
        - name: bad
          expression: "variables.images.filter(i, variables.params.tags.exists(t, i.endsWith(':' + t)))"
        validations:
        - expression: "size(variables.bad) == 0"
          messageExpression: "'disallowed: ' + variables.bad.join(', ')"
        - expression: "!has(variables.params.mode) || variables.params.mode != 'never'"
          message: "mode never"
"""
CONSTRAINT = """apiVersion: constraints.gatekeeper.sh/v1beta1
kind: {kind}
metadata:
  name: {name}
spec:
  enforcementAction: {action}
{scoped}  match:
    kinds: [{{apiGroups: [""], kinds: [Pod]}}]
{match}  parameters:
    tags: [latest, dev]
"""
OBJECTS = """apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {team: a}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: deny-all, namespace: default}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  containers:
  - {name: web, image: "nginx:latest"}
  - {name: side, image: "envoy:1.30"}
"""
policies = []
for i, (version, code) in enumerate([("v1", REGO), ("v1beta1", CEL), ("v1", CEL + REGO.replace("    rego:", "    - engine: Rego\n      source:\n        rego:").replace("\n    libs:", "\n        libs:")), ("v1alpha1", REGO)]):
    kind = f"K8sFuzzTags{i}"
    template = TEMPLATE.format(version=version, lower=kind.lower(), kind=kind, code=code.format(lower=kind.lower()))
    for name, action, scoped, match in [
        ("deny-latest", "deny", "", ""),
        ("warn-latest", "warn", "", "    namespaces: [\"default\", \"kube-*\"]\n"),
        ("dry", "dryrun", "", "    labelSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}\n"),
        ("scoped", "scoped", "  scopedEnforcementActions:\n  - action: warn\n    enforcementPoints: [{name: validation.gatekeeper.sh}]\n", "    namespaceSelector: {matchLabels: {team: a}}\n    excludedNamespaces: [\"*-system\"]\n"),
    ]:
        constraint = CONSTRAINT.format(kind=kind, name=name, action=action, scoped=scoped, match=match)
        policies.append(template + "---\n" + constraint)
        put("constraints", template + "---\n" + constraint + "---\n" + OBJECTS)
for p in files("policies/gatekeeper/*/*.yaml"):
    put("constraints", p.read_bytes())
seed = "".join(p.read_text() + "\n---\n" for p in files("policies/gatekeeper/seed-004/*.yaml"))
put("constraints", seed)
for p in policies[:4]:
    put("constraints", p)
    put("constraints", p.replace("package", "pakage"))
    put("constraints", p.replace("kind: Pod", "kind: '*'"))

for t in sorted(OUT.iterdir()):
    print(t.name, len(list(t.iterdir())))
