#!/usr/bin/env bash
# Run every fuzz target for a few seconds (default 8; FUZZ_SECONDS=N to change).
# Needs cargo-fuzz (`.ci/run` installs it: cargo install --locked cargo-fuzz@0.13.2).
# Without it this FAILS, saying what to install; STAGECOACH_SKIP_FUZZ=1 opts out.
# Uses the stable toolchain with RUSTC_BOOTSTRAP=1 (libFuzzer needs `-Z`
# flags), as on a fresh stable-only machine; FUZZ_TOOLCHAIN=nightly uses
# `cargo +nightly` instead. Builds without a sanitizer (`-s none`): the code
# under test is safe Rust, and the build is ~3x faster. A clean build takes
# minutes on 2 cores (figures in RELIABILITY.md); later runs reuse fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if [ "${STAGECOACH_SKIP_FUZZ:-}" = 1 ]; then
  echo "fuzz-smoke: SKIPPED because STAGECOACH_SKIP_FUZZ=1"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: FAILED: cargo-fuzz is not installed; install it with" >&2
  echo "  cargo install --locked cargo-fuzz@0.13.2" >&2
  echo "or set STAGECOACH_SKIP_FUZZ=1 to skip the fuzz smoke run on purpose" >&2
  exit 1
fi

seconds="${FUZZ_SECONDS:-8}"
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
  fuzz=(cargo "+$FUZZ_TOOLCHAIN" fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

targets=$("${fuzz[@]}" list)
"${fuzz[@]}" build -O -s none
failed=()
for t in $targets; do
  mkdir -p "corpus/$t"
  # Seed the corpus with the project's own examples where there are some.
  case "$t" in
    policy) cp -n ../policies/*.yaml ../src/sandbox/world/policy.yaml "corpus/$t/" 2>/dev/null || true ;;
    # GitHub's own payloads (`event.action.json`) as `event \0 \0 body`.
    webhook)
      for f in ../fixtures/webhooks/*.json; do
        name=$(basename "$f"); event=${name%%.*}
        { printf '%s\0\0' "$event"; cat "$f"; } >"corpus/$t/seed-$name"
      done ;;
    labels) printf 'component: S\nchange: M\nft-coverage: 90\nfunctional: true\nfeature-toggle\n' >"corpus/$t/seed-complete" ;;
  esac
  echo "fuzz-smoke: $t for ${seconds}s"
  log=$(mktemp "/tmp/fuzz-$t.XXXXXX.log")
  max_len=4096
  [ "$t" = webhook ] && max_len=65536   # whole GitHub payloads
  if ! "${fuzz[@]}" run -O -s none "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len="$max_len" 2>"$log"; then
    failed+=("$t")
    tail -n 30 "$log"
    continue
  fi
  # It really fuzzed: libFuzzer's summary names how many inputs it ran.
  runs=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n 1 || true)
  if [ -z "$runs" ] || [ "$runs" -lt 1 ]; then
    echo "fuzz-smoke: $t ran no inputs:"
    tail -n 30 "$log"
    failed+=("$t")
  else
    echo "fuzz-smoke: $t: $runs inputs in ${seconds}s"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (crash inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz-smoke: all targets ran ${seconds}s without a crash"
