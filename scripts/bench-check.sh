#!/usr/bin/env bash
# `podsec check` over generated snapshots (what `kubectl get pods -A -o json|yaml` prints, with
# namespaces and controllers): wall time and peak RSS (GNU time), 10k and 100k pods, JSON and
# YAML, table output to /dev/null and JSON output to /dev/null. Figures go to
# docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile perf -p podsec
dir="${TMPDIR:-/tmp}/podsec-bench-audit"
mkdir -p "$dir"
run() {
  local label="$1" pods="$2" format="$3" output="$4" runs="${5:-3}"
  local snap="$dir/snapshot-$pods-5.$format"
  [ -s "$snap" ] || python3 scripts/gen-snapshot.py "$pods" "$snap" 5
  local size
  size=$(du -m "$snap" | cut -f1)
  for i in $(seq "$runs"); do
    # Exit 1: the generated pods violate restricted on purpose.
    /usr/bin/time -f "$label ($size MB, -o $output), run $i: %e s wall, %U s user, %S s sys, %M KiB peak RSS" \
      target/perf/podsec check -o "$output" "$snap" > /dev/null || [ $? -eq 1 ]
  done
}
run "10k pods, JSON" 10000 json table
run "100k pods, JSON" 100000 json table
run "100k pods, JSON" 100000 json json
run "10k pods, YAML" 10000 yaml table
run "100k pods, YAML" 100000 yaml table 2
