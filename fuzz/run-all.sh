#!/usr/bin/env bash
# Runs every target until 10 million executions or 30 minutes, whichever comes first, one
# after the other, growing corpus/TARGET; each target's log is in fuzz/logs/TARGET.log.
set -uo pipefail
cd "$(dirname "$0")"
mkdir -p logs
targets=${*:-admission_review configuration manifests snapshot_stream cluster_state constraints}
for t in $targets; do
  mkdir -p "corpus/$t" "seeds/$t"
  cargo +nightly fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
    -max_len=65536 -timeout=1 -rss_limit_mb=2048 -runs=10000000 -max_total_time=1800 \
    -print_final_stats=1 > "logs/$t.log" 2>&1
  echo "$t exit $? $(grep -E '^Done' "logs/$t.log")"
done
