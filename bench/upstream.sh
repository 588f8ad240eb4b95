#!/usr/bin/env bash
# Speed check (run by hand): a 5,000-commit upstream, a warm cache, then the time to resolve
# `latest` and build the change report for a 300-commit range. Prints the median of 9 runs.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --quiet --example upstream-bench
bin="$CARGO_TARGET_DIR/debug/examples/upstream-bench"

# Sealed, deterministic git.
export HOME="$work/home" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
mkdir -p "$HOME"

up="$work/upstream"
git init --quiet --bare --initial-branch=master "$up"
authors=("Alice Doe <alice@example.com>" "Octo Cat <12345+octo@users.noreply.github.com>"
  "Bob Roe <bob@example.com>" "Carol Poe <carol@example.com>" "Dan Moe <dan@example.com>")
{
  for i in $(seq 1 5000); do
    who="${authors[$((i % 5))]}"
    msg="Change number $i (#$i)"
    data="line $i"
    echo "commit refs/heads/master"
    echo "mark :$i"
    echo "author $who $((1700000000 + i * 60)) +0000"
    echo "committer $who $((1700000000 + i * 60)) +0000"
    echo "data ${#msg}"
    echo "$msg"
    [ "$i" -gt 1 ] && echo "from :$((i - 1))"
    echo "M 644 inline file$((i % 50)).txt"
    echo "data ${#data}"
    echo "$data"
    echo
  done
} | git -C "$up" fast-import --quiet
head_id="$(git -C "$up" rev-parse master)"
old_id="$(git -C "$up" rev-parse master~300)"
echo "upstream: 5000 commits, head ${head_id:0:7}, old ${old_id:0:7}" >&2

cache="$work/cache"
# Warm the cache (the first run fetches), then measure.
"$bin" "$up" "$cache" "${old_id:0:7}" 1 >/dev/null
"$bin" "$up" "$cache" "${old_id:0:7}" 9
