#!/usr/bin/env bash
# Webhook load on a real `stagecoach serve`: start the sandbox and the bot on
# loopback, fire a bounded burst of signed deliveries at it (examples/load.rs),
# and print acknowledgements, p50/p99 ack time, the server's own counts and its
# RSS before and after. Everything stops at the end.
#   scripts/load.sh [COUNT=10000] [RATE=500]
# PROFILE=debug uses the debug build (quicker to build, slower to run).
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
rate="${2:-500}"

profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin stagecoach --example load
else
  cargo build --quiet --bin stagecoach --example load
fi
bin=target/$profile/stagecoach
dir=$(mktemp -d /tmp/stagecoach-load.XXXXXX)
port_of() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sb_port=$(port_of)
bot_port=$(port_of)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$bin" sandbox --dir "$dir/sb" --listen "127.0.0.1:$sb_port" \
  --webhook-url "http://127.0.0.1:$bot_port/webhook" >"$dir/sandbox.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -f "$dir/sb/stagecoach.yaml" ] && break; sleep 0.1; done
[ -f "$dir/sb/stagecoach.yaml" ] || { cat "$dir/sandbox.log"; exit 1; }

RUST_LOG=warn "$bin" serve --config "$dir/sb/stagecoach.yaml" --listen "127.0.0.1:$bot_port" \
  >"$dir/serve.log" 2>&1 &
bot=$!
pids+=($bot)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$bot_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# Let the first converge (the demo world's staging) finish, so RSS is at rest.
sleep 5

secret=$(cat "$dir/sb/forge/webhook-secret")
target/$profile/examples/load --url "http://127.0.0.1:$bot_port" --secret "$secret" \
  --count "$count" --rate "$rate" --dup-every 10 --pid "$bot"
echo "serve still running: $(kill -0 "$bot" 2>/dev/null && echo yes || echo NO)"
