#!/usr/bin/env bash
# Speed of `qr-promote plan` against `git grep -l qontract_reconcile_image_tag` on the same tree,
# measured side by side in one run. Usage: bench/plan.sh [N...] (default: 12700 63500 127000 files)
# Set TREE=path to measure an existing checkout (for example an unpacked app-interface) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)"; exit 1; }
cargo build --release --quiet --bin qr-promote --bin qr-gen-tree
bin="$PWD/target/release/qr-promote"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
to=0123456789abcdef0123456789abcdef01234567

measure() {
  local tree=$1 label=$2
  ( cd "$tree" && [ -d .git ] || { git init -q . && git add -A && git -c gc.auto=0 -c user.name=b -c user.email=b@b commit -qm tree; } ) >/dev/null
  export QR_PROMOTE_CACHE="$work/cache-$label"
  # Files changed less than two seconds before a walk are never cached: let the new tree age,
  # then one run fills the scan cache; the timed runs are warm, as for a person running it daily.
  sleep 3
  "$bin" -C "$tree" plan --offline --to $to >/dev/null
  hyperfine -N -w 5 -r 30 --export-json "$work/$label.json" \
    "git -C $tree grep -l qontract_reconcile_image_tag" \
    "$bin -C $tree plan --offline --to $to" \
    "$bin -C $tree --no-scan-cache plan --offline --to $to" >/dev/null
  python3 - "$work/$label.json" "$label" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
g, w, c = (x["mean"] * 1000 for x in r)
print(f"{sys.argv[2]:>16}  git grep {g:7.1f} ms  plan {w:7.1f} ms (ratio {w/g:.2f})  plan, no scan cache {c:7.1f} ms (ratio {c/g:.2f})")
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
  ./target/release/qr-gen-tree "$tree" "$n"
  measure "$tree" "$n files"
  rm -rf "$tree" || true
done
