#!/usr/bin/env bash
# Speed of the change report on a real-sized history, measured side by side in one hyperfine run:
#   git log old..new (the commits' ids, subjects, names and addresses; the peer)
#   qr-promote plan --to new --format markdown   (warm caches: resolve, ancestry, commits, the
#                                                 checkout's 1,300 user files, persons, Markdown)
# for a 300-commit and a 3,000-commit range of a 5,000-commit upstream written by several hundred
# authors (organization addresses, GitHub no-reply addresses, personal addresses under a user's
# name or GitHub login, bots), on a generated checkout of 5,200 files with 1,300 user files.
# Targets: the 300-commit plan under 150 ms, the 3,000-commit one under 300 ms.
#
# With UPSTREAM=<git dir> TREE=<checkout>: the real history (read in place, never copied: the 300
# commits before HEAD~50 on its first-parent line) and a real checkout pinned to the older one,
# and a third command side by side: `plan --offline` of the same checkout without that upstream
# (warm scan cache, no change report: the plan alone). Target: the plan with the report at most
# 3 times the plan alone.
# Usage: bench/report.sh   UPSTREAM=<git dir> TREE=<checkout> bench/report.sh
#        (needs hyperfine: apt-get install hyperfine; BIN=<qr-promote> measures another build)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release --quiet --bin qr-promote --example gen-tree
bin="${BIN:-$PWD/target/release/qr-promote}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Sealed, deterministic git.
export HOME="$work/home" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
export QR_PROMOTE_CACHE="$work/cache"
mkdir -p "$HOME"

if [ -n "${UPSTREAM:-}" ] && [ -n "${TREE:-}" ]; then
  up=$(cd "$UPSTREAM" && pwd)
  new=$(git -C "$up" rev-parse HEAD~50)
  old=$(git -C "$up" rev-parse "$new~300")
  co="$work/co"
  cp -a "$TREE" "$co"; rm -rf "$co/.git"
  # Pin the checkout's qontract-reconcile to the old commit (its full id and the .env tag).
  cur=$(sed -n 's/^export RECONCILE_IMAGE_TAG=//p' "$co/.env")
  full=$(grep -rhoE "\b${cur}[0-9a-f]{33}\b" "$co/data" | head -1 || true)
  [ -n "$full" ] && grep -rl "$full" "$co" | xargs sed -i "s/$full/$old/g"
  grep -rl "$cur" "$co" | xargs sed -i "s/$cur/${old:0:7}/g"
  ( cd "$co" && git init -q . && git add -A && git -c user.name=b -c user.email=b@b commit -qm tree )
  users=$(grep -rl '^\$schema: /access/user-1.yml' "$co/data" | wc -l)
  echo "upstream $up: $(git -C "$up" rev-list --count "$old..$new") commits; checkout: $users user files" >&2
  plan="$bin -C $co plan --to $new --upstream $up --skip-image-check --format markdown"
  alone="$bin -C $co plan --offline --to $new --skip-image-check"
  sleep 3
  $plan >"$work/out.md"
  grep -q "Authors to notify" "$work/out.md"
  $alone >/dev/null 2>&1
  hyperfine -N -w 3 -r "${RUNS:-30}" --export-json "$work/real.json" \
    "git -C $up log --format=%H%x1f%s%x1f%an%x1f%ae $old..$new" "$plan" "$alone" >/dev/null
  python3 - "$work/real.json" "$work/out.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
g, p, a = (x["mean"] * 1000 for x in r)
sd = [x["stddev"] * 1000 for x in r]
size = len(open(sys.argv[2], encoding="utf-8").read())
print(f"300 real commits  git log {g:5.1f} ms  plan with report {p:6.1f} ms (±{sd[1]:.1f})"
      f"  plan --offline alone {a:5.1f} ms (±{sd[2]:.1f})  report/alone {p/a:.2f}  description {size} chars")
PY
  exit 0
fi

tree="$work/tree"
./target/release/examples/gen-tree "$tree" 5200 >/dev/null
users=$(grep -rl '^\$schema: /access/user-1.yml' "$tree/data" | wc -l)
mkdir -p "$tree/data/app-interface"
printf -- '---\n$schema: /app-interface/app-interface-settings-1.yml\n\nsmtp:\n  mailAddress: example.org\n' \
  >"$tree/data/app-interface/app-interface-settings.yml"
# The org_username and github_username of each generated user (u<i>, gh<i>) and their name.
mapfile -t people < <(grep -rh -A2 '^name: ' $(grep -rl '^\$schema: /access/user-1.yml' "$tree/data") \
  | paste - - - -d'|' | sed -n 's/^name: \(.*\)|org_username: u\([0-9]*\)|github_username: gh.*$/\2|\1/p' | head -400)

up="$work/upstream"
git init --quiet --bare --initial-branch=master "$up"
{
  for i in $(seq 1 5000); do
    k=$((i * 7919 % ${#people[@]}))
    n="${people[$k]%%|*}"
    name="${people[$k]#*|}"
    case $((i % 6)) in
      0) who="$name <u$n@example.org>" ;;
      1) who="gh$n <$n+gh$n@users.noreply.github.com>" ;;
      2) who="gh$n <personal$n@gmail.com>" ;;
      3) who="$name <u$n@example.org>" ;;
      4) who="Outside Contributor $((i % 97)) <c$((i % 97))@elsewhere.net>" ;;
      5) if [ $((i % 30)) -eq 5 ]; then who="red-hat-konflux[bot] <1+red-hat-konflux[bot]@users.noreply.github.com>"
         else who="gh$n <$n+gh$n@users.noreply.github.com>"; fi ;;
    esac
    msg="Change number $i: use @retry for ~x (#$i)"
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
new=$(git -C "$up" rev-parse master)
authors=$(git -C "$up" log --format='%ae' | sort -u | wc -l)
echo "upstream: 5000 commits, $authors addresses; checkout: $users user files" >&2

measure() {
  local range=$1 label=$2
  local old
  old=$(git -C "$up" rev-parse "master~$range")
  rm -rf "$work/co"
  cp -a "$tree" "$work/co"
  # Pin the checkout's qontract-reconcile to the old commit.
  grep -rl 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 "$work/co" | xargs sed -i "s/4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39/$old/g"
  grep -rl 4f2a9c1 "$work/co" | xargs -r sed -i "s/4f2a9c1/${old:0:7}/g"
  ( cd "$work/co" && git init -q . && git add -A && git -c user.name=b -c user.email=b@b commit -qm tree )
  local plan="$bin -C $work/co plan --to $new --upstream $up --skip-image-check --format markdown"
  sleep 3
  $plan >"$work/out-$label.md"
  grep -q "Authors to notify" "$work/out-$label.md"
  hyperfine -N -w 3 -r "${RUNS:-20}" --export-json "$work/$label.json" \
    "git -C $up log --format=%H%x1f%s%x1f%an%x1f%ae $old..$new" \
    "$plan" >/dev/null
  python3 - "$work/$label.json" "$label" "$work/out-$label.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
g, p = (x["mean"] * 1000 for x in r)
size = len(open(sys.argv[3], encoding="utf-8").read())
print(f"{sys.argv[2]:>12}  git log {g:6.1f} ms  plan with report {p:6.1f} ms (/git log {p/g:.1f})  description {size} chars")
PY
}

measure 300 "300 commits"
measure 3000 "3000 commits"
