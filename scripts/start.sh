#!/usr/bin/env bash
# Sets up the machine, builds tug and starts a single-node server in the background.
# Its data lives in ${TUG_DATA_DIR:-/var/lib/tugboat}; its log in that directory's server.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

data_dir=${TUG_DATA_DIR:-/var/lib/tugboat}
cargo build --release --locked -p tug
install -m 0755 target/release/tug /usr/local/bin/tug
mkdir -p "$data_dir"

if [ -f "$data_dir/server.pid" ] && kill -0 "$(cat "$data_dir/server.pid")" 2>/dev/null; then
  echo "tug server is already running (pid $(cat "$data_dir/server.pid"))"
else
  nohup tug server --data-dir "$data_dir" >"$data_dir/server.log" 2>&1 &
  echo $! >"$data_dir/server.pid"
fi

for _ in $(seq 1 100); do
  grep -q "API server ready" "$data_dir/server.log" 2>/dev/null && break
  kill -0 "$(cat "$data_dir/server.pid")" 2>/dev/null || { cat "$data_dir/server.log"; exit 1; }
  sleep 0.1
done
grep -q "API server ready" "$data_dir/server.log" || { cat "$data_dir/server.log"; exit 1; }

echo "tug server is running with its own node (pid $(cat "$data_dir/server.pid")), log: $data_dir/server.log"
echo "point kubectl at it with: export KUBECONFIG=$data_dir/kubeconfig.yaml"
echo "(kubectl v1.35 is installed at /opt/tugboat/bin/kubectl if you have none)"
