#!/usr/bin/env bash
# Speed of `qr-promote plan` against two single searches of the same tree, measured side by side
# in one hyperfine run (cwd = the tree):
#   rg -l qontract_reconcile_image_tag data resources   (ripgrep; peer of the cold plan)
#   git grep -l qontract_reconcile_image_tag            (peer of the warm plan)
#   qr-promote plan --offline --to <id>                 (warm: the scan cache filled by one run)
#   qr-promote --no-scan-cache plan --offline --to <id> (cold: a first run, CI on a fresh clone)
# and prints cold/rg and warm/git grep. Targets: cold at most 1.0, warm at most 0.4.
# Usage: bench/plan.sh [N...] (default: 12700 63500 127000 files, written by the gen-tree example)
# Set TREE=path to measure an existing checkout (for example an unpacked app-interface) instead;
# a TREE without `.git` is committed to a new repository there first (git grep needs one).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
command -v rg >/dev/null || {
  echo "needs ripgrep, the peer of the cold plan: apt-get install ripgrep (or cargo install ripgrep)" >&2
  exit 1
}
cargo build --release --quiet --bin qr-promote --example gen-tree
bin="$PWD/target/release/qr-promote"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
to=0123456789abcdef0123456789abcdef01234567

measure() {
  local tree=$1 label=$2
  ( cd "$tree" && [ -d .git ] || { git init -q . && git add -A && git -c gc.auto=0 -c user.name=b -c user.email=b@b commit -qm tree; } ) >/dev/null
  export QR_PROMOTE_CACHE="$work/cache-$label"
  local trees=() t
  for t in data resources; do [ -d "$tree/$t" ] && trees+=("$t"); done
  # Files changed less than two seconds before a walk are never cached: let the new tree age,
  # then one run fills the scan cache; the warm runs are as for a person running it daily.
  sleep 3
  "$bin" -C "$tree" plan --offline --to $to >/dev/null
  ( cd "$tree" && hyperfine -N -w 5 -r "${RUNS:-30}" --export-json "$work/$label.json" \
    "rg -l qontract_reconcile_image_tag ${trees[*]}" \
    "git grep -l qontract_reconcile_image_tag" \
    "$bin plan --offline --to $to" \
    "$bin --no-scan-cache plan --offline --to $to" >/dev/null )
  python3 - "$work/$label.json" "$label" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
rg, g, w, c = (x["mean"] * 1000 for x in r)
print(f"{sys.argv[2]:>16}  rg {rg:6.1f} ms  git grep {g:6.1f} ms  "
      f"plan {w:6.1f} ms (/git grep {w/g:.2f})  plan, no scan cache {c:6.1f} ms (/rg {c/rg:.2f})")
PY
}

if [ -n "${TREE:-}" ]; then
  measure "$TREE" "$(basename "$TREE")"
  exit 0
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(12700 63500 127000)
for n in "${sizes[@]}"; do
  tree="$work/tree-$n"
  ./target/release/examples/gen-tree "$tree" "$n"
  measure "$tree" "$n files"
  rm -rf "$tree" || true
done
