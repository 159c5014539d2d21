#!/usr/bin/env bash
# The test command (README and CI): installs the test tools if missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/test-tools.sh
. scripts/test-tools.sh
cargo test --workspace --locked "$@"
