#!/usr/bin/env bash
# Webhook load on a real `stagecoach serve`, with a verdict: start the sandbox
# and the bot on loopback (each binds port 0 and reports its address), warm the
# bot up, fire a bounded burst of signed deliveries at it (examples/load.rs),
# print acknowledgements, p50/p99 ack time, the server's own counts and its
# RSS, and exit 1 if a delivery was dropped, the duplicates are not exactly
# the redeliveries sent, or RSS grew more than 20 % over the burst.
# Everything stops at the end.
#   scripts/load.sh [COUNT=10000] [RATE=500]
# PROFILE=debug uses the debug build (quicker to build, slower to run);
# WARMUP (1000) and MAX_RSS_GROWTH (20, percent) tune the verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
rate="${2:-500}"

profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --locked --release --quiet --bin stagecoach --example load
else
  cargo build --locked --quiet --bin stagecoach --example load
fi
# Where cargo put them: CARGO_TARGET_DIR when set, as cargo itself reads it.
out="${CARGO_TARGET_DIR:-target}/$profile"
bin=$out/stagecoach
dir=$(mktemp -d /tmp/stagecoach-load.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Wait until FILE has a line starting with PREFIX; print the rest of that line.
reported() {
  local file=$1 prefix=$2 pid=$3
  for _ in $(seq 300); do
    line=$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#"$prefix"}"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "load.sh: no '$prefix' line from pid $pid; its output:" >&2
  cat "$file" >&2
  return 1
}

# The sandbox's own webhooks are not part of this load (the burst comes from
# examples/load.rs), so they go to the discard port, where nothing listens.
"$bin" sandbox --dir "$dir/sb" --listen 127.0.0.1:0 \
  --webhook-url "http://127.0.0.1:9/webhook" >"$dir/sandbox.log" 2>&1 &
pids+=($!)
api=$(reported "$dir/sandbox.log" "sandbox: " "${pids[0]}")
[ -f "$dir/sb/stagecoach.yaml" ] || { echo "load.sh: the sandbox wrote no config" >&2; exit 1; }

RUST_LOG=warn "$bin" serve --config "$dir/sb/stagecoach.yaml" --listen 127.0.0.1:0 \
  >"$dir/serve.log" 2>&1 &
bot=$!
pids+=($bot)
url=$(reported "$dir/serve.log" "stagecoach serving on " "$bot")
echo "sandbox $api, bot $url"

secret=$(cat "$dir/sb/forge/webhook-secret")
status=0
"$out/examples/load" --url "$url" --secret "$secret" \
  --count "$count" --rate "$rate" --warmup "${WARMUP:-1000}" --dup-every 10 --pid "$bot" \
  --max-rss-growth "${MAX_RSS_GROWTH:-20}" \
  || status=$?
if ! kill -0 "$bot" 2>/dev/null; then
  echo "FAIL: stagecoach serve died during the load; its log:"
  tail -20 "$dir/serve.log"
  exit 1
fi
echo "serve still running: yes"
exit "$status"
