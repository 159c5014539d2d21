#!/usr/bin/env bash
# Webhook load benchmark: builds the perf-profile binary, then runs the load client against it.
# Figures go to docs/benchmarks.md by hand, with the date and this command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile perf -p podsec
cargo bench -p podsec-server --bench load
