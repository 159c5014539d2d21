#!/usr/bin/env bash
# `podsec netpol list` on generated clusters (100 namespaces, 500 NetworkPolicies with pod and
# namespace selectors, named ports and ipBlocks; 1,000 and 10,000 Deployments): the engine's
# phases in process (`cargo bench -p podsec-netpol --bench netpol`, which also writes the
# clusters), then the binary end to end, wall time and peak RSS (GNU time), text to /dev/null.
# Figures go to docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${TMPDIR:-/tmp}/podsec-bench-netpol"
mkdir -p "$dir"
NETPOL_BENCH_SIZES="${NETPOL_BENCH_SIZES:-1000,10000}" NETPOL_BENCH_WRITE="$dir" \
  cargo bench -p podsec-netpol --bench netpol
cargo build --profile perf -p podsec
for n in ${NETPOL_BENCH_SIZES:-1000 10000}; do
  n="${n//,/ }"
  for size in $n; do
    for i in 1 2 3; do
      /usr/bin/time -f "netpol list, $size workloads, run $i: %e s wall, %U s user, %S s sys, %M KiB peak RSS" \
        target/perf/podsec netpol list "$dir/cluster-$size.json" > /dev/null
    done
    /usr/bin/time -f "netpol list -o json, $size workloads: %e s wall, %M KiB peak RSS" \
      target/perf/podsec netpol list -o json "$dir/cluster-$size.json" > /dev/null
  done
done
