#!/usr/bin/env bash
# Speed of reading the merge-request check's reports, against `grep -c` over the same files,
# measured side by side in one hyperfine run:
#   grep -c . <every report>                          (peer: reading every line once)
#   read-reports <folder>                             (the reading alone: the `read-reports`
#                                                      example, the library's report reader)
#   qr-promote -C <example checkout> pr-check --from <folder>
#                                                     (the whole command: also the checkout's
#                                                      model and git, whatever the reports)
#   the same with one empty report                    (the command's fixed cost)
# on a branch (three git commands: the base, the merge base, its .env).
# The folder holds 120 reports of 1 MiB in all, as the check writes them: log lines of both
# formats (with and without `[DRY-RUN]`), actions, pull lines, a traceback in the fail folder.
# Prints the ratios to grep -c of the reading alone (target: at most 3), of the whole command,
# and of what the 120 reports add to the command (the whole command minus its fixed cost).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release --quiet --bin qr-promote --example read-reports
bin="$PWD/target/release/qr-promote"
reader="$PWD/target/release/examples/read-reports"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/app-interface "$work/checkout"
# A branch off master, as a person checks it out: the versions come from git (the branch moves
# no version here, so no upstream is asked: the reading alone is measured).
( cd "$work/checkout" && git init -q -b master . && git add -A \
  && git -c user.name=b -c user.email=b@b commit -qm checkout && git update-ref refs/remotes/origin/master HEAD \
  && git checkout -q -b promote \
  && echo '# a change of the branch' >> .env \
  && git -c user.name=b -c user.email=b@b commit -qam change )
python3 - "$work/reports" <<'PY'
import os, sys
root = sys.argv[1]
ok = os.path.join(root, "temp/reports/reconcile_reports_success")
fail = os.path.join(root, "temp/reports/reconcile_reports_fail")
os.makedirs(ok); os.makedirs(fail)
per = (1 << 20) // 120
for i in range(120):
    lines = ["Unable to find image 'quay.io/app-sre/qontract-reconcile:1234567' locally",
             "1234567: Pulling from app-sre/qontract-reconcile",
             "Status: Downloaded newer image for quay.io/app-sre/qontract-reconcile:1234567"]
    n = 0
    while sum(len(l) + 1 for l in lines) < per:
        dry = "[DRY-RUN] " if i % 2 else ""
        if n % 10 == 0:
            lines.append(f"[2026-01-02 10:00:{n % 60:02d}] [INFO] {dry}[openshift_base.py:apply:317] - ['apply', 'appsrep05ue1', 'ns-{n}', 'ConfigMap', 'cm-{i}-{n}']")
        elif n % 10 == 1:
            lines.append(f"[2026-01-02 10:00:{n % 60:02d}] [INFO] {dry}[terraform_client.py:log_plan_diff:300] - ['update', 'app-sre', 'aws_s3_bucket', 'b-{n}', ['tags']]")
        else:
            lines.append(f"[2026-01-02 10:00:{n % 60:02d}] [DEBUG] {dry}[state.py:get:{n}] - reading key {i}/{n}")
        n += 1
    folder = ok
    if i == 7:
        folder = fail
        lines += ["Traceback (most recent call last):", '  File "x.py", line 1', "KeyError: 'x'"]
    with open(os.path.join(folder, f"reconcile-integration-{i}.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
PY
files=$(find "$work/reports" -name 'reconcile-*.txt' | sort)
count=$(echo "$files" | wc -l)
bytes=$(cat $files | wc -c)
echo "$count reports, $bytes bytes"
mkdir -p "$work/one/temp"
: > "$work/one/temp/reconcile-one.txt"
"$reader" "$work/reports"
hyperfine -N -w 5 -r "${RUNS:-40}" -i --export-json "$work/r.json" \
  "grep -c . $(echo $files)" \
  "$reader $work/reports" \
  "$bin -C $work/checkout pr-check --from $work/reports" \
  "$bin -C $work/checkout pr-check --from $work/one" >/dev/null
python3 - "$work/r.json" <<'PY'
import json, sys
g, r, p, one = (x["mean"] * 1000 for x in json.load(open(sys.argv[1]))["results"])
print(f"grep -c {g:5.2f} ms  reading {r:5.2f} ms (/grep -c {r/g:.2f}, target 3)  "
      f"pr-check --from {p:5.2f} ms (/grep -c {p/g:.2f}; with one empty report {one:5.2f} ms, "
      f"the 120 reports add {p-one:5.2f} ms: /grep -c {(p-one)/g:.2f})")
PY
