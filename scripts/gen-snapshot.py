#!/usr/bin/env python3
"""Writes a synthetic cluster snapshot shaped like `kubectl get ... -A -o json` output: a
v1/List of namespaces, Deployments with their ReplicaSets and pods (with status, as kubectl
prints them), and two PodSecurityPolicies. Deterministic for a given size.

    scripts/gen-snapshot.py PODS OUT.json [REPLICAS]

OUT ending in .yaml writes YAML shaped as `kubectl get ... -o yaml` prints it instead.

REPLICAS (default 5) is pods per Deployment: 5 makes workloads grow with pods, PODS/REPLICAS
fixed (e.g. 10000/5 and 100000/50) keeps them constant and varies only the pods.
"""
import json
import sys

PODS = int(sys.argv[1])
OUT = sys.argv[2]
PODS_PER_DEPLOYMENT = int(sys.argv[3]) if len(sys.argv) > 3 else 5
NAMESPACES = max(1, PODS // (100 * PODS_PER_DEPLOYMENT))
LEVELS = ["privileged", "baseline", "restricted", None]


def pod(ns, deploy, rs, i, variant):
    sc = {}
    csc = {}
    if variant % 3 == 0:
        sc = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        csc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    elif variant % 7 == 1:
        csc = {"privileged": True}
    name = f"{rs}-{i:05x}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns, "generateName": f"{rs}-",
            "uid": f"00000000-0000-4000-8000-{variant:012d}", "resourceVersion": str(100000 + i),
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app": deploy, "pod-template-hash": rs.rsplit("-", 1)[-1], "team": "t" + str(variant % 13)},
            "annotations": {"kubernetes.io/psp": "restricted" if variant % 3 == 0 else "privileged"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                 "uid": "11111111-0000-4000-8000-000000000000", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "containers": [{
                "name": "app", "image": f"registry.example.com/{deploy}:1.{variant % 20}.0",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                "securityContext": csc,
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": "kube-api-access", "readOnly": True}],
            }],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "nodeName": f"node-{variant % 40}",
            "preemptionPolicy": "PreemptLowerPriority", "priority": 0, "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": sc, "serviceAccount": "default",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
            "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300}],
            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}]}}],
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.1", "podIP": f"10.1.{variant % 250}.{i % 250}", "qosClass": "Burstable",
            "startTime": "2026-11-01T10:00:01Z",
            "conditions": [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-11-01T10:00:05Z"}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "started": True,
                                   "image": f"registry.example.com/{deploy}:1.{variant % 20}.0",
                                   "imageID": "registry.example.com/app@sha256:" + "0" * 64,
                                   "containerID": "containerd://" + "f" * 64,
                                   "state": {"running": {"startedAt": "2026-11-01T10:00:03Z"}},
                                   "lastState": {}}],
        },
    }


def controller(kind, ns, name, template_pod, owner=None):
    meta = {"name": name, "namespace": ns, "uid": "22222222-0000-4000-8000-000000000000"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner,
                                    "uid": "33333333-0000-4000-8000-000000000000", "controller": True}]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
            "spec": {"replicas": PODS_PER_DEPLOYMENT, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": template_pod["metadata"]["labels"]},
                                  "spec": template_pod["spec"]}}}


def main():
    as_yaml = OUT.endswith(".yaml")
    with open(OUT, "w") as out:
        if as_yaml:
            import yaml
            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            out.write("apiVersion: v1\nitems:\n")
        else:
            out.write('{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [\n')
        first = True

        def emit(obj):
            nonlocal first
            if as_yaml:
                out.write(yaml.dump([obj], Dumper=dumper, sort_keys=True, width=1000))
                return
            if not first:
                out.write(",\n")
            first = False
            out.write(json.dumps(obj, separators=(",", ":")))

        for n in range(NAMESPACES):
            labels = {"kubernetes.io/metadata.name": f"ns-{n}"}
            level = LEVELS[n % 4]
            if level:
                labels["pod-security.kubernetes.io/enforce"] = level
            emit({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n}", "labels": labels}})
        made = 0
        d = 0
        while made < PODS:
            ns = f"ns-{d % NAMESPACES}"
            deploy = f"svc-{d}"
            rs = f"{deploy}-7d4b9c8f{d % 10}"
            variant = d
            sample = pod(ns, deploy, rs, 0, variant)
            emit(controller("Deployment", ns, deploy, sample))
            emit(controller("ReplicaSet", ns, rs, sample, owner=deploy))
            for i in range(min(PODS_PER_DEPLOYMENT, PODS - made)):
                emit(pod(ns, deploy, rs, i, variant))
                made += 1
            d += 1
        for name, privileged in (("privileged", True), ("restricted", False)):
            emit({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": name},
                  "spec": {"privileged": privileged, "seLinux": {"rule": "RunAsAny"},
                           "runAsUser": {"rule": "RunAsAny" if privileged else "MustRunAsNonRoot"},
                           "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"},
                           "volumes": ["*"]}})
        if as_yaml:
            out.write("kind: List\nmetadata:\n  resourceVersion: \"\"\n")
        else:
            out.write("\n]}\n")


main()
