#!/usr/bin/env bash
# `podsec audit` over generated snapshots: wall time and peak RSS (GNU time), for 10k and 100k
# pods, with workloads growing with pods (5 per Deployment) and with workloads fixed (2,000
# Deployments, 5 or 50 pods each); then the fixed-workload pair as YAML. Figures go to
# docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile perf -p podsec
dir="${TMPDIR:-/tmp}/podsec-bench-audit"
mkdir -p "$dir"
run() {
  local label="$1" pods="$2" replicas="$3" format="${4:-json}" runs="${5:-5}"
  local snap="$dir/snapshot-$pods-$replicas.$format"
  [ -s "$snap" ] || python3 scripts/gen-snapshot.py "$pods" "$snap" "$replicas"
  local size
  size=$(du -m "$snap" | cut -f1)
  for i in $(seq "$runs"); do
    /usr/bin/time -f "$label ($size MB), run $i: %e s wall, %U s user, %S s sys, %M KiB peak RSS" \
      target/perf/podsec audit "$snap" > /dev/null
  done
}
run "10k pods, 2,000 Deployments of 5" 10000 5
run "100k pods, 20,000 Deployments of 5" 100000 5
run "100k pods, 2,000 Deployments of 50" 100000 50
run "10k pods, 2,000 Deployments of 5, YAML" 10000 5 yaml 3
run "100k pods, 2,000 Deployments of 50, YAML" 100000 50 yaml 3
