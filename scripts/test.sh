#!/usr/bin/env bash
# Sets up the machine and runs the whole test suite: unit tests, the datastore conformance
# suite on both backends (it starts etcd), and the end-to-end tests of the tug binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo fmt --all -- --check
cargo test --workspace --locked
