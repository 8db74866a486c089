#!/usr/bin/env bash
# Sets up the machine and runs the whole test suite: unit tests, the datastore conformance
# suite on both backends (it starts etcd), the end-to-end tests of the tug binary, and the
# kube-client crate's own cluster tests against tug.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all -- --check

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# The cluster tests shipped inside the published kube-client crate, against a fresh server.
TUG_BIN=target/debug/tug bash scripts/kube-client-tests.sh 2>&1 | tee -a "$log" || status=$?

# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
