#!/usr/bin/env bash
# Runs every test of stox: formatting, lints, unit and integration tests (cargo), then the
# end-to-end suites against real servers (installed with apt-get when missing).
# SKIP_E2E=1 runs only the cargo part.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
log "cargo test"
cargo test --quiet 2>&1 | tee /tmp/stox-cargo-test.log
grep -q "test result: ok" /tmp/stox-cargo-test.log

if [ "${SKIP_E2E:-}" = 1 ]; then log "SKIP_E2E=1: end-to-end suites skipped"; exit 0; fi

cargo build --quiet
passed=0; failed=0
for suite in scripts/e2e/*.sh; do
  log "e2e: $suite"
  if bash "$suite"; then passed=$((passed + 1)); else failed=$((failed + 1)); log "FAILED: $suite"; fi
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
