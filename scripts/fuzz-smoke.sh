#!/usr/bin/env bash
# Run every fuzz target for a few seconds (default 8; FUZZ_SECONDS=N to change).
# Needs cargo and cargo-fuzz (`cargo install cargo-fuzz`); skips with a message
# when cargo-fuzz is absent. Uses the nightly toolchain when installed, else
# the stable one with RUSTC_BOOTSTRAP=1 (libFuzzer needs `-Z` flags).
# Builds without a sanitizer (`-s none`): the code under test is safe Rust,
# and the build is ~3x faster. A clean build takes a few minutes on 2 cores;
# later runs reuse fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: cargo-fuzz is not installed (cargo install cargo-fuzz); skipping the fuzz smoke run"
  exit 0
fi

seconds="${FUZZ_SECONDS:-8}"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
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
  esac
  echo "fuzz-smoke: $t for ${seconds}s"
  if ! "${fuzz[@]}" run -O -s none "$t" "corpus/$t" -- -max_total_time="$seconds" -max_len=4096 2>"/tmp/fuzz-$t.log"; then
    failed+=("$t")
    tail -n 30 "/tmp/fuzz-$t.log"
  else
    grep -E '^(Done|#[0-9]+ *DONE)' "/tmp/fuzz-$t.log" | tail -n 1 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (crash inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz-smoke: all targets ran ${seconds}s without a crash"
