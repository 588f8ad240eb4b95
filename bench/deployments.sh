#!/usr/bin/env bash
# Speed check (run by hand): a generated checkout with 2,000 AWS accounts, 300 clusters and 120
# integrations, then the time to load the model and compute every integration's deployments.
# Prints the median of 9 runs. Target: under 200 ms.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --quiet --release --example model-bench
bin="$CARGO_TARGET_DIR/release/examples/model-bench"
"$bin" gen "$work/tree"
"$bin" time "$work/tree" 1 >/dev/null # warm the page cache
"$bin" time "$work/tree" 9
