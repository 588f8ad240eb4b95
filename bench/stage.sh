#!/usr/bin/env bash
# Speed check (run by hand): `qr-promote stage` over 120 integrations with 1,000 log lines each,
# against the Kubernetes-API-shaped server of the tests (pods listed in pages, each log asked
# with sinceTime and timestamps) and a real Prometheus (Debian's `prometheus`) over three hours
# of their metrics. Prints each run's time and the median of RUNS (default 9). Target: 2 s.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
runs="${1:-9}"

cargo build --quiet --release --bin qr-promote --example stage-bench
"$CARGO_TARGET_DIR/release/examples/stage-bench" "$CARGO_TARGET_DIR/release/qr-promote" "$runs"
