#!/usr/bin/env bash
# Speed of `qr-promote history` (run by hand): a checkout with 1,400 promotions of
# qontract-reconcile in .env (one in five merged from a branch, one in seven completed by a later
# commit that moves the production target; other commits change another component's tag and
# files without locations) and an upstream of 5,000 commits, both written with `git fast-import`.
# With a warm upstream cache, times in one hyperfine run (cwd = the checkout):
#   git log --oneline -- .env           (the peer: git listing the same history)
#   git log -p -- .env                  (git showing each change of .env, as history reads it)
#   qr-promote history --upstream <up>  (every promotion, its landing, parts, commits, lead times)
# and prints history / git log and history / git log -p. Budget: history under 2 s.
# Usage: bench/history.sh [PROMOTIONS] (default 1400). RUNS=N sets hyperfine's runs (default 20);
# KEEP=1 keeps the checkout, the upstream and the cache (their folder is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
promotions="${1:-1400}"
work="$(mktemp -d)"
if [ -n "${KEEP:-}" ]; then echo "kept in $work" >&2; else trap 'rm -rf "$work"' EXIT; fi

cargo build --release --quiet --bin qr-promote
bin="$CARGO_TARGET_DIR/release/qr-promote"

# Sealed, deterministic git.
export HOME="$work/home" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C TZ=UTC
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
export QR_PROMOTE_CACHE="$work/cache"
mkdir -p "$HOME"

# The upstream: 5,000 commits, one every ten minutes.
up="$work/upstream"
git init --quiet --bare --initial-branch=master "$up"
{
  for i in $(seq 1 5000); do
    msg="Change number $i (#$i)"
    data="line $i"
    t=$((1700000000 + i * 600))
    echo "commit refs/heads/master"
    echo "mark :$i"
    echo "author Alice Doe <alice@example.com> $t +0000"
    echo "committer Alice Doe <alice@example.com> $t +0000"
    echo "data ${#msg}"
    echo "$msg"
    [ "$i" -gt 1 ] && echo "from :$((i - 1))"
    echo "M 644 inline file$((i % 50)).txt"
    echo "data ${#data}"
    echo "$data"
    echo
  done
} | git -C "$up" fast-import --quiet
mapfile -t u < <(git -C "$up" rev-list --reverse master)
echo "upstream: ${#u[@]} commits" >&2

# The checkout.
co="$work/checkout"
git init --quiet --initial-branch=master "$co"
env_file() { # $1 reconcile tag, $2 schemas tag
  printf 'export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n'
  printf 'export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n'
  printf 'export RECONCILE_IMAGE_TAG=%s\n\n' "$1"
  printf 'export SCHEMAS_REPO=https://github.com/app-sre/qontract-schemas\n'
  printf 'export SCHEMAS_IMAGE=quay.io/app-sre/qontract-schemas\n'
  printf 'export SCHEMAS_IMAGE_TAG=%s\n' "$2"
}
saas_file() { # $1 stage ref, $2 production ref
  printf -- '---\n$schema: /app-sre/saas-file-2.yml\n\nname: saas-qontract-reconcile\n\n'
  printf 'resourceTemplates:\n- name: qontract-reconcile\n'
  printf '  url: https://github.com/app-sre/qontract-reconcile\n'
  printf '  path: /openshift/qontract-reconcile.yaml\n  targets:\n'
  printf '  - namespace:\n      $ref: /services/reconcile/namespaces/reconcile-stage.yml\n'
  printf '    ref: %s\n' "$1"
  printf '  - namespace:\n      $ref: /services/reconcile/namespaces/reconcile-production.yml\n'
  printf '    ref: %s\n' "$2"
}
inline() { # $1 path, $2 content
  echo "M 644 inline $1"
  echo "data $((${#2} + 1))"
  printf '%s\n' "$2"
}
SAAS=data/services/reconcile/cicd/saas-qontract-reconcile.yaml
{
  mark=1
  t=$((1700000000 + 3600))
  commit() { # $1 ref, $2 author, $3 message, then the file lines on stdin of the caller
    echo "commit $1"
    echo "mark :$mark"
    echo "author $2 $t +0000"
    echo "committer $2 $t +0000"
    echo "data ${#3}"
    echo "$3"
  }
  master=0
  commit refs/heads/master "Base <base@example.com>" "app-interface"
  inline .env "$(env_file "${u[0]:0:7}" 0000000)"
  inline "$SAAS" "$(saas_file "${u[0]}" "${u[0]}")"
  for e in stage production; do
    inline "data/products/app-sre/environments/$e.yml" "$(printf -- '---\n$schema: /app-sre/environment-1.yml\nname: %s' "$e")"
    inline "data/services/reconcile/namespaces/reconcile-$e.yml" "$(printf -- '---\n$schema: /openshift/namespace-1.yml\nname: reconcile-%s\nenvironment:\n  $ref: /products/app-sre/environments/%s.yml' "$e" "$e")"
  done
  echo
  master=$mark
  schemas=0
  for k in $(seq 1 "$promotions"); do
    new="${u[$((3 * k))]}"
    old_prod="${u[$((3 * (k - 1)))]}"
    t=$((1700000000 + 3 * k * 600 + 3600))
    if [ $((k % 7)) -eq 0 ]; then prod="$old_prod"; else prod="$new"; fi
    if [ $((k % 5)) -eq 0 ]; then
      # On a branch, merged after another change lands on master.
      mark=$((mark + 1)); branch=$mark
      commit refs/heads/mr "Promoter <p$((k % 9))@example.com>" "qontract-reconcile to ${new:0:7}"
      echo "from :$master"
      inline .env "$(env_file "${new:0:7}" "$(printf '%07x' "$schemas")")"
      inline "$SAAS" "$(saas_file "$new" "$prod")"
      echo
      t=$((t + 60)); mark=$((mark + 1))
      commit refs/heads/master "Other <o@example.com>" "notes $k"
      echo "from :$master"
      inline "data/notes/n-$k.yml" "note: $k"
      echo
      master=$mark
      t=$((t + 60)); mark=$((mark + 1))
      commit refs/heads/master "Merger <m@example.com>" "Merge branch 'promote-$k'"
      echo "from :$master"
      echo "merge :$branch"
      inline .env "$(env_file "${new:0:7}" "$(printf '%07x' "$schemas")")"
      inline "$SAAS" "$(saas_file "$new" "$prod")"
      echo
      master=$mark
    else
      mark=$((mark + 1))
      commit refs/heads/master "Promoter <p$((k % 9))@example.com>" "qontract-reconcile to ${new:0:7}"
      echo "from :$master"
      inline .env "$(env_file "${new:0:7}" "$(printf '%07x' "$schemas")")"
      inline "$SAAS" "$(saas_file "$new" "$prod")"
      echo
      master=$mark
    fi
    if [ $((k % 7)) -eq 0 ]; then
      t=$((t + 900)); mark=$((mark + 1))
      commit refs/heads/master "Finisher <f@example.com>" "qontract-reconcile production to ${new:0:7}"
      echo "from :$master"
      inline "$SAAS" "$(saas_file "$new" "$new")"
      echo
      master=$mark
    fi
    if [ $((k % 3)) -eq 0 ]; then
      t=$((t + 60)); mark=$((mark + 1))
      [ $((k % 11)) -eq 0 ] && schemas=$((schemas + 1))
      commit refs/heads/master "Other <o@example.com>" "other work $k"
      echo "from :$master"
      inline "data/other/o-$k.yml" "other: $k"
      [ $((k % 11)) -eq 0 ] && inline .env "$(env_file "${new:0:7}" "$(printf '%07x' "$schemas")")"
      echo
      master=$mark
    fi
  done
} | git -C "$co" fast-import --quiet
git -C "$co" reset --quiet --hard master
git -C "$co" gc --quiet
echo "checkout: $(git -C "$co" rev-list --count HEAD) commits, $(git -C "$co" rev-list --count --merges HEAD) merges" >&2

# Warm the upstream cache (the first run fetches) and check what history finds.
"$bin" -C "$co" --json history --upstream "$up" >"$work/history.json"
python3 - "$work/history.json" "$promotions" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
ps = r["promotions"]
assert len(ps) == n, f"{len(ps)} promotions, not {n}"
assert all(p["commits"] == 3 for p in ps), "each promotion ships 3 commits"
assert sum(1 for p in ps if p["landed"]["merge"]) == n // 5, "one in five lands with a merge"
assert sum(1 for p in ps if p["parts"]) == n // 7, "one in seven is completed by a part"
print(f"history: {n} promotions, lead time median {r['lead_time']['median_seconds']} s", file=sys.stderr)
PY

if command -v hyperfine >/dev/null; then
  ( cd "$co" && hyperfine -N -w 3 -r "${RUNS:-20}" --export-json "$work/times.json" \
    "git log --oneline -- .env" \
    "git log -p -- .env" \
    "$bin history --upstream $up" >/dev/null )
  python3 - "$work/times.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
g, p, h = (x["mean"] * 1000 for x in r)
gs, ps, hs = (x["stddev"] * 1000 for x in r)
print(f"git log --oneline -- .env {g:6.1f} ms (±{gs:.1f})  git log -p -- .env {p:6.1f} ms (±{ps:.1f})  "
      f"history {h:6.1f} ms (±{hs:.1f})  history / git log {h / g:.2f}  history / git log -p {h / p:.2f}  "
      f"budget 2000 ms: {'ok' if h < 2000 else 'OVER'}")
PY
else
  echo "hyperfine not found (apt-get install hyperfine): timing 9 runs of each with date" >&2
  median() { sort -n | sed -n 5p; }
  run9() { for _ in $(seq 9); do s=$(date +%s%N); (cd "$co" && "$@" >/dev/null); echo $(( ($(date +%s%N) - s) / 1000 )); done | median; }
  g=$(run9 git log --oneline -- .env)
  p=$(run9 git log -p -- .env)
  h=$(run9 "$bin" history --upstream "$up")
  awk -v g="$g" -v p="$p" -v h="$h" 'BEGIN { printf "git log --oneline -- .env %6.1f ms  git log -p -- .env %6.1f ms  history %6.1f ms  history / git log %.2f  history / git log -p %.2f  budget 2000 ms: %s\n", g/1000, p/1000, h/1000, h/g, h/p, (h < 2000000 ? "ok" : "OVER") }'
fi
