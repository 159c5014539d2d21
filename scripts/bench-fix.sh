#!/usr/bin/env bash
# `podsec fix` and strict field checking on a generated repository file: N Deployments as
# `kubectl create deployment` writes them (every one needs the four restricted settings), with
# a comment per document. Wall time and peak RSS (GNU time) of the perf binary; figures go to
# docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${FIX_BENCH_OBJECTS:-10000}"
dir="${TMPDIR:-/tmp}/podsec-bench-fix"
mkdir -p "$dir"
template="$(kubectl create deployment web --image=nginx --dry-run=client -o yaml)"
file="$dir/deployments-$n.yaml"
: > "$file"
for i in $(seq 1 "$n"); do
  printf -- '---\n# deployment %s\n%s\n' "$i" "${template//web/web-$i}" >> "$file"
done
cargo build --profile perf -p podsec
echo "$n Deployments, $(wc -c < "$file") bytes"
for i in 1 2 3; do
  /usr/bin/time -f "fix (diff), run $i: %e s wall, %M KiB peak RSS" \
    target/perf/podsec fix "$file" > "$dir/out.diff" || test $? -eq 1
  /usr/bin/time -f "check (with field checking), run $i: %e s wall, %M KiB peak RSS" \
    target/perf/podsec check "$file" -o json > /dev/null || test $? -eq 1
done
grep -c '^+ *runAsNonRoot: true' "$dir/out.diff"
