#!/usr/bin/env bash
# Benchmarks (criterion, release build). Results: target/criterion/ and the summary printed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench sip -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^(sip|tx)|time:" 
