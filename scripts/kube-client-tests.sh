#!/usr/bin/env bash
# Runs the cluster tests shipped inside the published kube-client crate (its `#[ignore]`d tests,
# `cargo test -- --ignored`) against a fresh `tug server`, for the kube-client version the
# workspace locks.
#
# scripts/test.sh runs it after the workspace's tests. Compiling kube-client's dev-dependencies
# takes about 2.5 minutes on two cores the first time (later runs reuse
# $CARGO_TARGET_DIR/kube-client-tests), and the first run downloads them from crates.io.
#
# Usage: scripts/kube-client-tests.sh [test name filter]
# Environment: TUG_BIN (a tug binary; default: `cargo build -p tug` and target/debug/tug),
# CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
target=${CARGO_TARGET_DIR:-$root/target}
cargo_home=${CARGO_HOME:-$HOME/.cargo}

# As root with containerd (scripts/setup.sh installs it), the server runs its own node: the
# tests' pods (busybox:stable from Docker Hub) come from a local registry of the project's test
# images behind a docker.io mirror, so the tests that need a running container run too.
# Elsewhere the server runs without a node and those tests are skipped.
needs_containers=(
    # exec into a running busybox pod, then stdin/stdout over the v5 stream protocol.
    pod_can_exec_and_write_to_stdin
    # logs (follow and whole) of a pod that ran; then evicts it.
    can_get_pod_logs_and_evict
)
skip=()
with_node=false
if [ "$(id -u)" = 0 ] && [ -x /usr/bin/containerd ] && [ -x /usr/sbin/runc ] && [ -x /usr/lib/cni/bridge ]; then
    with_node=true
elif [ "${CI:-}" = true ]; then
    echo "kube-client tests: CI must run as root with containerd (scripts/setup.sh)" >&2
    exit 1
else
    skip=("${needs_containers[@]}")
fi
# Not compiled with the features below, so not run either:
# * pod_can_exec_and_write_to_stdin_from_node_proxy (feature kubelet-debug): exec through a
#   kubelet at https://localhost:10250, which needs a running container as well.
# * custom_client_openssl_tls_configuration (feature openssl-tls): the same pod list as the
#   other TLS test, through OpenSSL.
# pod_can_use_core_apis passes, but only after its 15 s watch for the pod to be Running ends.
features=rustls-tls,ws,unstable-client

version=$(awk '$1 == "name" && $3 == "\"kube-client\"" { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
[ -n "$version" ] || { echo "kube-client is not in Cargo.lock" >&2; exit 1; }

work=$(mktemp -d)
server_pid=
registry_pid=
bridge=tugkc$(( $$ % 10000 ))
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
    if [ "$with_node" = true ]; then
        # Containers outlive the agent in their shims; then their mounts and the bridge go.
        pkill -9 -f "containerd-shim.*$work/run" 2>/dev/null || true
        awk -v w="$work" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
            while read -r point; do umount -l "$point" 2>/dev/null || true; done
        ip link delete "$bridge" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The crate as published: unpacked from the registry's .crate file.
crate_file=$(ls "$cargo_home"/registry/cache/*/kube-client-"$version".crate 2>/dev/null | head -1 || true)
if [ -z "$crate_file" ]; then
    cargo fetch --locked
    crate_file=$(ls "$cargo_home"/registry/cache/*/kube-client-"$version".crate | head -1)
fi
tar -xzf "$crate_file" -C "$work"
crate="$work/kube-client-$version"
# Publishing drops path dev-dependencies: the tests' `use kube::api::...` needs `kube` back (its
# re-exports are kube-core's types, shared with this copy). `[workspace]` makes the crate its own
# workspace, and its Cargo.lock pins what the published tests were run with.
cat >> "$crate/Cargo.toml" <<EOF

[dev-dependencies.kube]
version = "=$version"
default-features = false
features = ["client"]

[workspace]
EOF

export CARGO_TARGET_DIR="$target/kube-client-tests"
(cd "$crate" && { cargo fetch --offline >/dev/null 2>&1 || cargo fetch; })
echo "building the kube-client $version tests..."
(cd "$crate" && cargo test --offline --features "$features" --lib --no-run)

if [ -n "${TUG_BIN:-}" ]; then
    tug=$TUG_BIN
else
    CARGO_TARGET_DIR=$target cargo build -p tug
    tug=$target/debug/tug
fi
mkdir "$work/data"
node_args=(--disable-agent)
if [ "$with_node" = true ]; then
    CARGO_TARGET_DIR=$target cargo build -p tug-oci --features testing --bin tug-testimages
    "$target/debug/tug-testimages" serve >"$work/registry.out" 2>"$work/registry.log" &
    registry_pid=$!
    for _ in $(seq 600); do
        grep -q "^registry " "$work/registry.out" && break
        kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; exit 1; }
        sleep 0.1
    done
    registry=$(awk '/^registry / { print $2 }' "$work/registry.out")
    [ -n "$registry" ] || { echo "the test image registry did not start" >&2; exit 1; }
    kubelet_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
    node_args=(--node-name kube-client-node --run-dir "$work/run" --cni-bridge "$bridge"
        --kubelet-port "$kubelet_port" --cluster-cidr 10.99.0.0/16
        --registry-mirror "docker.io=http://$registry" --registry-mirror "registry.k8s.io=http://$registry")
fi
"$tug" server --bind-address 127.0.0.1 --https-port 0 --data-dir "$work/data" "${node_args[@]}" \
    >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do
    grep -q "API server ready" "$work/server.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
grep -q "API server ready" "$work/server.log" || { echo "tug server did not start" >&2; exit 1; }
if [ "$with_node" = true ]; then
    for _ in $(seq 600); do
        grep -q "node ready" "$work/server.log" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
        sleep 0.1
    done
    grep -q "node ready" "$work/server.log" || { cat "$work/server.log" >&2; echo "the server's node did not become Ready" >&2; exit 1; }
fi

skip_args=()
for name in "${skip[@]}"; do skip_args+=(--skip "$name"); done
status=0
(cd "$crate" && KUBECONFIG="$work/data/kubeconfig.yaml" \
    cargo test --offline --features "$features" --lib -- --ignored "${skip_args[@]}" "$@") || status=$?
[ "$status" = 0 ] || tail -50 "$work/server.log" >&2
[ "${#skip[@]}" = 0 ] || echo "skipped (need a running container, so root and containerd): ${skip[*]}"
exit "$status"
