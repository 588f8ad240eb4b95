#!/usr/bin/env bash
# Speed of one unattended run, as CI makes it: `qr-promote --no-scan-cache bot` on a fresh
# shallow clone of a corpus-sized checkout (12,700 files, written by the gen-tree example; TREE=path
# measures an existing checkout instead), against a local upstream (300 generated commits;
# UPSTREAM=path uses a real history instead, read where it is: the 300 commits before
# `HEAD~50` on its default branch's first-parent line), a bare remote and a local HTTP server that
# answers like GitLab's merge-request API (no merge request open; one created). Every run opens
# the merge request anew: the branch is deleted before each, and each run gets a fresh clone.
# Measured side by side with hyperfine:
#   git clone --depth 1 of the same remote (the peer, the part of CI that comes before the bot)
#   the bot with an empty cache (cold: the upstream cache removed before each run)
#   the bot with a warm cache (the upstream cache a previous run left, as the CI examples keep it)
# Targets: cold at most 3 s on the corpus tree with the real upstream; warm at most 1.5 times
# the clone.
# Usage: bench/bot.sh   TREE=<checkout> UPSTREAM=<git dir> bench/bot.sh   (needs hyperfine, python3;
# BIN=<qr-promote> measures another build)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release --quiet --bin qr-promote --example gen-tree
bin="${BIN:-$PWD/target/release/qr-promote}"
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export HOME="$work/home" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export QR_PROMOTE_CACHE="$work/cache" GITLAB_TOKEN=bench-token
mkdir -p "$HOME"

if [ -n "${UPSTREAM:-}" ]; then
  # A real history, read in place (never copied): 300 first-parent commits before HEAD~50.
  up=$(cd "$UPSTREAM" && pwd)
  new=$(git -C "$up" rev-parse HEAD~50)
  old=$(git -C "$up" rev-parse "$new~300")
else
  # The upstream: 300 commits.
  up="$work/upstream"
  git init --quiet --bare --initial-branch=master "$up"
  for i in $(seq 1 300); do
    msg="Change $i (#$i)"; data="line $i"
    printf 'commit refs/heads/master\nmark :%d\nauthor A <a@example.org> %d +0000\ncommitter A <a@example.org> %d +0000\ndata %d\n%s\n' \
      "$i" $((1700000000 + i)) $((1700000000 + i)) ${#msg} "$msg"
    [ "$i" -gt 1 ] && echo "from :$((i - 1))"
    printf 'M 644 inline f.txt\ndata %d\n%s\n\n' ${#data} "$data"
  done | git -C "$up" fast-import --quiet
  old=$(git -C "$up" rev-parse master~100)
  new=$(git -C "$up" rev-parse master)
fi
echo "upstream $up: $(git -C "$up" rev-list --count "$old..$new") commits from ${old:0:12} to ${new:0:12}" >&2

# The checkout, pinned to the old commit, pushed to a bare remote.
tree="$work/tree"
if [ -n "${TREE:-}" ]; then
  cp -a "$TREE" "$tree"; rm -rf "$tree/.git"
  cur=$(sed -n 's/^export RECONCILE_IMAGE_TAG=//p' "$tree/.env")
  full=$(grep -rhoE "\b${cur}[0-9a-f]{33}\b" "$tree/data" | head -1 || true)
  [ -n "$full" ] && grep -rl "$full" "$tree" | xargs sed -i "s/$full/$old/g"
  grep -rl "$cur" "$tree" | xargs sed -i "s/$cur/${old:0:7}/g"
else
  ./target/release/examples/gen-tree "$tree" 12700 >/dev/null
  grep -rl 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 "$tree" | xargs sed -i "s/4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39/$old/g"
  grep -rl 4f2a9c1 "$tree" | xargs -r sed -i "s/4f2a9c1/${old:0:7}/g"
fi
( cd "$tree" && git init -q -b master && git add -A && git -c user.name=b -c user.email=b@b commit -qm tree )
remote="$work/remote.git"
git clone -q --bare "$tree" "$remote"
files=$(cd "$tree" && git ls-files | wc -l)

# A server shaped like GitLab's merge-request API.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$port" >/dev/null 2>&1 <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body):
        b = json.dumps(body).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self): self.answer(200, [])
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(201, {"iid": 1, "source_branch": "promote/qontract-reconcile", "target_branch": "master",
                          "title": "t", "description": "", "labels": [],
                          "web_url": "https://gitlab.test/group/app-interface/-/merge_requests/1"})
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
server_pid=$!
sleep 1

clone="$work/clone"
prepare="rm -rf $clone && git clone -q --depth 1 file://$remote $clone \
 && git -C $clone remote set-url origin https://gitlab.test/group/app-interface.git \
 && git -C $clone config url.$remote.insteadOf https://gitlab.test/group/app-interface.git \
 && git -C $clone config user.email bot@example.org && git -C $clone config user.name Bot \
 && (git -C $remote update-ref -d refs/heads/promote/qontract-reconcile || true)"
botcmd="$bin -C $clone --no-scan-cache bot --to $new --upstream $up --skip-image-check --gitlab-url http://127.0.0.1:$port"
# One run, checked: it opens the merge request, and the cache it leaves is the warm one.
bash -c "$prepare" && $botcmd | tee "$work/first.txt" >&2
grep -q opened "$work/first.txt"
hyperfine -N -w 2 -r "${RUNS:-10}" --export-json "$work/bot.json" \
  -n "git clone --depth 1" -n "bot, empty cache" -n "bot, warm cache" \
  --prepare "rm -rf $work/peer" "git clone -q --depth 1 file://$remote $work/peer" \
  --prepare "bash -c 'rm -rf $QR_PROMOTE_CACHE && $prepare'" "$botcmd" \
  --prepare "bash -c '$prepare'" "$botcmd" >/dev/null
cached=$(du -sk "$QR_PROMOTE_CACHE/upstreams" | cut -f1)
python3 - "$work/bot.json" "$files" "$cached" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
c, cold, warm = (x["mean"] * 1000 for x in r)
sd = [x["stddev"] * 1000 for x in r]
print(f"{sys.argv[2]} files  git clone --depth 1 {c:6.1f} ms (±{sd[0]:.1f})"
      f"  bot, empty cache {cold:6.1f} ms (±{sd[1]:.1f})"
      f"  bot, warm cache {warm:6.1f} ms (±{sd[2]:.1f}, /clone {warm/c:.2f})"
      f"  upstream cache {sys.argv[3]} KiB")
PY
