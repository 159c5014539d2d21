#!/usr/bin/env bash
# Soak test (loopback only, bounded): builds the perf-profile binary, then runs the soak client
# against it for SOAK_SECONDS (default 600) at SOAK_RATE reviews/s (default 5000) with
# certificate renewals, configuration changes (every third invalid), namespace churn and
# SOAK_STALLED stalled connections (default 500), then SIGTERM. See crates/server/benches/soak.rs.
# Figures go to docs/benchmarks.md by hand, with the date and this command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile perf -p podsec
cargo bench -p podsec-server --bench soak
