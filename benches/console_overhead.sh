#!/usr/bin/env bash
# Does the console cost the Glue API anything? ListSessions (MaxResults=100, 1,000 stored
# sessions, open mode) under wrk against two release binaries side by side: WITH the console
# (this tree) and WITHOUT it (the same tree with the console's routes not merged), alternating
# rounds so machine noise hits both alike. Prints wrk's req/s and latency percentiles per round.
#   benches/console_overhead.sh [ROUNDS=3] [SECONDS=10]
# Needs wrk (apt-get install wrk) and python3; builds both binaries with cargo --release.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-3}"
seconds="${2:-10}"
work="$(mktemp -d /tmp/epoxy-console-bench.XXXXXX)"
# The servers start inside $(…) subshells, so they are not this shell's jobs: their pids go to a
# file the exit trap reads.
trap 'kill $(cat "$work/pids" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

cd "$repo"
cargo build --release --bin epoxy -q
cp target/release/epoxy "$work/with-console"
# The same source with `.merge(console)` removed from the router: the only path by which the
# console touches API requests.
mkdir "$work/src" && git archive HEAD | tar -x -C "$work/src"
cp -r src "$work/src/" # uncommitted edits too
grep -q '\.merge(console)' "$work/src/src/protocol/mod.rs"
sed -i 's/\.merge(console)//; s/let console = console::router(Arc::clone(&app.console));/let _ = \&app.console;/' "$work/src/src/protocol/mod.rs"
sed -i 's/^use crate::console::{self, Console};/use crate::console::Console;/' "$work/src/src/protocol/mod.rs"
# The same target dir reuses the built dependencies (the copy is another package path, so its
# own artifacts do not replace this tree's); the uplifted binary is put back afterwards.
(cd "$work/src" && CARGO_TARGET_DIR="$repo/target" cargo build --release --bin epoxy -q)
cp target/release/epoxy "$work/without-console"
cp "$work/with-console" target/release/epoxy

start() { # binary name → prints the port once serving
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$work/$1" serve --listen "127.0.0.1:$port" --data-dir "$work/data-$1" --runtime none \
    >"$work/$1.log" 2>&1 &
  echo $! >>"$work/pids"
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  python3 - "$port" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
port = sys.argv[1]
def create(i):
    body = {"Id": f"bench-{i:05d}", "Role": "arn:aws:iam::123456789012:role/R",
            "Command": {"Name": "glueetl", "PythonVersion": "3"}}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", json.dumps(body).encode(), {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSGlue.CreateSession"})
    urllib.request.urlopen(req).read()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(create, range(1000)))
PY
  echo "$port"
}

declare -A port
for bin in without-console with-console; do port[$bin]="$(start "$bin")"; done
for round in $(seq "$rounds"); do
  for bin in without-console with-console; do
    out="$(wrk -t1 -c4 -d"${seconds}s" --latency -s "$repo/benches/console_overhead.lua" "http://127.0.0.1:${port[$bin]}")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    echo "round $round  $bin  req/s $rps  p50 $p50  p99 $p99"
  done
done
