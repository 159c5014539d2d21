#!/usr/bin/env bash
# Webhook load with Gatekeeper constraints: gatekeeper-library's 15 Pod Security Standards
# templates (one sample constraint each) enforced next to PSS, against PSS alone, same sitting.
# Needs the corpus in ../shared/conformance/gatekeeper (or PODSEC_GATEKEEPER_CORPUS).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${PODSEC_GATEKEEPER_CORPUS:-../shared/conformance/gatekeeper/pod-security-policy}"
if [ ! -f "$corpus/privileged-containers/template.yaml" ]; then
  echo "the gatekeeper-library corpus is missing at $corpus (set PODSEC_GATEKEEPER_CORPUS)" >&2
  exit 1
fi
policies="$(mktemp -d)"
trap 'rm -rf "$policies"' EXIT
for t in privileged-containers host-namespaces host-network-ports host-filesystem capabilities \
         selinux proc-mount apparmor seccompv2 forbidden-sysctls allow-privilege-escalation \
         flexvolume-drivers fsgroup users volumes; do
  cp "$corpus/$t/template.yaml" "$policies/$t-template.yaml"
  first="$(find "$corpus/$t/samples" -name constraint.yaml | sort | head -1)"
  cp "$first" "$policies/$t-constraint.yaml"
done
cargo build --profile perf -p podsec
echo "== PSS alone"
BENCH_SECONDS="${BENCH_SECONDS:-10}" cargo bench -p podsec-server --bench load
for engine in auto rego; do
  echo "== PSS + 15 gatekeeper-library constraints (engine $engine)"
  BENCH_CONSTRAINTS="$policies" BENCH_CONSTRAINT_ENGINE="$engine" BENCH_SECONDS="${BENCH_SECONDS:-10}" \
    cargo bench -p podsec-server --bench load
done
