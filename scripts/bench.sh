#!/usr/bin/env bash
# Runs a benchmark side by side with its upstream anchor and records it in BENCHMARKS.md.
# Usage: scripts/bench.sh datastore [--quick]
#        scripts/bench.sh api [--quick]        (needs the release tug binary, built here too)
#        scripts/bench.sh scheduler [--quick] [--basic-only]  (5,000 Node objects; the release tug binary too)
#        scripts/bench.sh controllers [--quick] (a 5,000-replica Deployment on 1,000 simulated nodes)
#        scripts/bench.sh pods [--quick]     (pod startup on a real agent; needs root and containerd)
#        scripts/bench.sh engines          (redb vs SQLite, the choice under the embedded store)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

what=${1:-datastore}
shift || true
features=()
[ "$what" = engines ] && features=(--features engines)
cargo build --release --locked -p tug-bench -p tug "${features[@]}"
record=(--record BENCHMARKS.md)
for arg in "$@"; do case "$arg" in --quick | --basic-only) record=() ;; esac; done
exec target/release/tug-bench "$what" "${record[@]}" "$@"
