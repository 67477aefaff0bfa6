#!/usr/bin/env bash
# Command-line tests of `sweep` and `compare` with the real binary and tiny runs (a few seconds in all):
# a sweep SIGKILLed mid-way and resumed, shards, failed runs, bad specs, SIGTERM, compare's table, curves,
# refusals and plot.
set -u
bin="$1"
source "$(dirname "$0")/lib.sh"
status_of() { grep -o '"status": "[a-z]*"' "$1/result.json" 2>/dev/null | cut -d'"' -f4; }
count_ok() {  # count_ok DIR: runs whose result.json says ok
  local n=0 d
  for d in "$1"/runs/*/; do [[ "$(status_of "$d")" == ok ]] && n=$((n + 1)); done
  echo "$n"
}

tmp=$(mktemp -d)
sweep_pid=""
children=""
cleanup() {
  [[ -n "$sweep_pid" ]] && kill -9 "$sweep_pid" 2>/dev/null
  for p in $children; do kill -9 "$p" 2>/dev/null; done  # only if a run outlived its sweep (a failed check)
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. Two methods × three seeds, two at a time, SIGKILLed mid-way, then --resume. ---------------------------
cat >"$tmp/kill.toml" <<'EOF'
problem = "ufo-counterexample"
method = ["fo", "ufo"]
seeds = 3
steps = 40000           # about a second per run: long enough that the kill below lands while runs are in flight
log_every = 100
EOF
"$bin" sweep "$tmp/kill.toml" --out "$tmp/kill" --jobs 2 --threads 2 2>"$tmp/kill1.log" &
sweep_pid=$!
in_flight() {  # a run that has started (config.json) and not finished
  local d
  for d in "$tmp"/kill/runs/*/; do [[ -e $d/config.json && ! -e $d/result.json ]] && return 0; done
  return 1
}
for _ in $(seq 1 3000); do  # until a run has finished and another is under way (or the sweep ended: a failure)
  [[ "$(count_ok "$tmp/kill")" -ge 1 ]] && in_flight && break
  kill -0 "$sweep_pid" 2>/dev/null || break
  sleep 0.01
done
{
  kill -9 "$sweep_pid"
  wait "$sweep_pid"
} 2>/dev/null
sweep_pid=""
done_before=$(count_ok "$tmp/kill")
check "killed sweep finished some runs but not all ($done_before)" test "$done_before" -ge 1 -a "$done_before" -lt 6
finished=()
for d in "$tmp"/kill/runs/*/; do [[ "$(status_of "$d")" == ok ]] && finished+=("$d"); done
stamp() { for d in "${finished[@]}"; do stat -c '%n %Y.%y %s' "$d"/*; done; }
before=$(stamp)
expect "rerun without --resume is refused" 2 "pass --resume" -- sweep "$tmp/kill.toml" --out "$tmp/kill"
expect "resume" 0 "runs launched: $((6 - done_before)) ok; $done_before already ok" -- \
  sweep "$tmp/kill.toml" --out "$tmp/kill" --jobs 2 --threads 2 --resume
check "all 6 runs ok after resume" test "$(count_ok "$tmp/kill")" -eq 6
check "finished runs untouched by resume (same files, times, sizes)" test "$before" == "$(stamp)"
whole=0
for d in "$tmp"/kill/runs/*/; do
  [[ -s $d/config.json && -s $d/curve.jsonl && -s $d/lambda.bin && -s $d/result.json ]] && whole=$((whole + 1))
done
check "every run directory whole" test "$whole" -eq 6
check "no temporary files left" test -z "$(find "$tmp/kill" -name '*.tmp*')"
check "index lists 6 ok runs" grep -q '"ok": 6' "$tmp/kill/index.json"
check "index.md lists the runs" grep -q '| 5 | method=ufo,seed=3 | ok |' "$tmp/kill/index.md"
expect "resume of a finished sweep launches nothing" 0 "0 runs launched.*6 already ok" -- \
  sweep "$tmp/kill.toml" --out "$tmp/kill" --resume

# --- 2. Shards: 1/2 and 2/2 together are the unsharded sweep, none twice. --------------------------------------
cat >"$tmp/shard.toml" <<'EOF'
problem = "ufo-counterexample"
steps = 30
method = ["fo", "ufo"]
inner_steps = [5, 10]
seeds = 2
EOF
list() { "$bin" sweep "$tmp/shard.toml" --out "$tmp/x" --dry-run "$@" | grep -v '^#' | cut -f2 | sort; }
list >"$tmp/all.txt"
list --shard 1/2 >"$tmp/s1.txt"
list --shard 2/2 >"$tmp/s2.txt"
check "8 runs in the spec" test "$(wc -l <"$tmp/all.txt")" -eq 8
check "shards are disjoint" test -z "$(comm -12 "$tmp/s1.txt" "$tmp/s2.txt")"
check "shards cover the sweep" diff "$tmp/all.txt" <(sort "$tmp/s1.txt" "$tmp/s2.txt")
expect "shard 1/2" 0 "4 runs launched: 4 ok" -- sweep "$tmp/shard.toml" --out "$tmp/sharded" --shard 1/2 --jobs 2
# Shard 2/2 into the same directory: it refuses (without --resume) any run that already exists, so success
# also shows it touched none of shard 1's runs.
expect "shard 2/2" 0 "4 runs launched: 4 ok" -- sweep "$tmp/shard.toml" --out "$tmp/sharded" --shard 2/2 --jobs 2
check "sharded runs are the runs of the spec" diff "$tmp/all.txt" <(ls "$tmp/sharded/runs" | sort)
expect "unsharded" 0 "8 runs launched: 8 ok" -- sweep "$tmp/shard.toml" --out "$tmp/whole" --jobs 2
same=0
for d in "$tmp"/whole/runs/*; do cmp -s "$d/lambda.bin" "$tmp/sharded/runs/${d##*/}/lambda.bin" && same=$((same + 1)); done
check "sharded and unsharded runs give identical results" test "$same" -eq 8
check "each shard's index shows all 8 runs" grep -q '"ok": 8' "$tmp/sharded/index.json"

# --- 3. Failed and diverged runs are recorded and do not stop the sweep; the exit code says so. ---------------
cat >"$tmp/fail.toml" <<'EOF'
method = "exact"
steps = 20
outer_opt = "sgd"
[zip]
problem = ["quadratic", "quadratic", "ufo-counterexample"]
outer_lr = [0.1, 1e30, 1.0]
inner_lr = [0.05, 0.05, 2.0]   # the last breaks the toy's inner_lr·a2 < 1, which train finds only when it starts
EOF
expect "failed runs" 1 "1 run failed" -- sweep "$tmp/fail.toml" --out "$tmp/fail" --jobs 2
check "ok run recorded" grep -q '"status": "ok"' "$tmp/fail/runs/problem=quadratic,outer_lr=0.1,inner_lr=0.05/result.json"
check "diverged run recorded" grep -q '"status": "diverged"' \
  "$tmp/fail/runs/problem=quadratic,outer_lr=1e+30,inner_lr=0.05/result.json"
check "index: ok, diverged and failed" grep -q '"counts":{"diverged":1,"failed":1,"ok":1}' \
  <(tr -d ' \n' <"$tmp/fail/index.json")
check "index: why it failed" grep -q 'exit code 2.*inner_lr' "$tmp/fail/index.json"

# --- 4. Bad input: exit 2, nothing run. --------------------------------------------------------------------------
printf 'problem = "quadratic"\nmethod = ["fo", "ufo"]\nq = 0.5\n' >"$tmp/badopt.toml"
expect "option unknown to a method" 2 "run 'method=fo'.*option 'q' is not taken by method 'fo'.*option of: ufo" -- sweep "$tmp/badopt.toml" --out "$tmp/b1"
check "nothing written for a bad spec" test ! -e "$tmp/b1"
printf '[zip]\nmethod = ["fo", "ufo"]\nseed = [1]\n' >"$tmp/badzip.toml"
expect "zip lengths" 2 "different lengths" -- sweep "$tmp/badzip.toml" --out "$tmp/b2"
expect "missing spec" 2 "cannot read" -- sweep "$tmp/none.toml" --out "$tmp/b3"
expect "bad shard" 2 "expected I/N" -- sweep "$tmp/kill.toml" --out "$tmp/b4" --shard 3/2
expect "bad jobs" 2 "jobs" -- sweep "$tmp/kill.toml" --out "$tmp/b4" --jobs 0

# --- 5. The runs in flight die with a SIGKILLed sweep, so none goes on writing into a directory that a resumed
# sweep reuses. (These runs would take minutes.)
cat >"$tmp/term.toml" <<'EOF'
problem = "ufo-counterexample"
method = "fo"
seeds = 4
steps = 2000000
log_every = 1000
EOF
started() { [[ $(ls "$1"/runs/*/config.json 2>/dev/null | wc -l) -ge 2 ]]; }
"$bin" sweep "$tmp/term.toml" --out "$tmp/orphans" --jobs 2 2>/dev/null &
sweep_pid=$!
for _ in $(seq 1 500); do started "$tmp/orphans" && break; sleep 0.02; done
children=$(pgrep -P "$sweep_pid" | tr '\n' ' ')
{
  kill -9 "$sweep_pid"
  wait "$sweep_pid"
} 2>/dev/null
sweep_pid=""
alive() {  # alive PID: running (not gone, not a zombie waiting to be reaped)
  [[ -e /proc/$1/stat ]] && [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]]
}
for _ in $(seq 1 50); do
  left=""
  for p in $children; do alive "$p" && left="$left $p"; done
  [[ -z "$left" ]] && break
  sleep 0.02
done
check "two runs were in flight ($children)" test "$(wc -w <<<"$children")" -eq 2
check "no run outlives a SIGKILLed sweep (left:$left)" test -z "$left"
children="$left"  # the cleanup ends these, should any be left

# --- 6. SIGTERM stops launching, stops the runs in flight, exits 4; --resume finishes. -------------------------
"$bin" sweep "$tmp/term.toml" --out "$tmp/term" --jobs 2 2>"$tmp/term.log" &
sweep_pid=$!
for _ in $(seq 1 500); do started "$tmp/term" && break; sleep 0.02; done
kill -TERM "$sweep_pid"
wait "$sweep_pid"
rc=$?
sweep_pid=""
check "SIGTERM: exit code 4 (rc=$rc)" test "$rc" -eq 4
check "SIGTERM: runs in flight interrupted" grep -q '"interrupted": 2' "$tmp/term/index.json"
check "SIGTERM: the rest not started" grep -q '"pending": 2' "$tmp/term/index.json"
check "SIGTERM: says how to continue" grep -q -- "--resume" "$tmp/term.log"

# --- 7. compare on the resumed sweep: table, formats, curves, plot, refusals. -----------------------------------
expect "compare table" 0 "\| fo \| 3 \| ok 3 \|" -- compare "$tmp/kill"
expect "compare table ufo" 0 "\| ufo \| 3 \| ok 3 \|" -- compare "$tmp/kill"
expect "compare robust" 0 "median \[q25, q75\]" -- compare "$tmp/kill" --robust
expect "compare csv" 0 "^method,group,n,n_ok,outer_loss_mean" -- compare "$tmp/kill" --format csv
expect "compare json" 0 '"label": "ufo"' -- compare "$tmp/kill" --format json
expect "compare --by seed" 0 "\| 3 \| 2 \| ok 2 \|" -- compare "$tmp/kill" --by seed
expect "compare curves csv" 0 "curves of abs_dM written" -- \
  compare "$tmp/kill" --metric abs_dM --x cost --curves "$tmp/curves.csv"
check "curves csv header" grep -q '^group,cost,abs_dM_median,abs_dM_q25,abs_dM_q75,n$' "$tmp/curves.csv"
check "curves csv has both groups" test "$(cut -d, -f1 "$tmp/curves.csv" | sort -u | tr '\n' ' ')" == "fo group ufo "
expect "unknown metric refused" 2 "unknown metric 'test_mse'.*valid metrics: .*abs_dM" -- \
  compare "$tmp/kill" --metric test_mse --curves "$tmp/c2.csv"
expect "different problems refused" 2 "different problems.*quadratic.*ufo-counterexample" -- \
  compare "$tmp/kill" "$tmp/fail"
expect "different problems kept apart with --by problem" 0 "problem=quadratic, method=exact" -- \
  compare "$tmp/kill" "$tmp/fail" --by problem,method
expect "bad --x" 2 "x" -- compare "$tmp/kill" --x epochs
mkdir -p "$tmp/empty/sub"
expect "no runs" 2 "no run directories" -- compare "$tmp/empty"
if command -v gnuplot >/dev/null 2>&1; then
  expect "compare plot" 0 "plot of abs_dM against step written" -- \
    compare "$tmp/kill" --metric abs_dM --logy --plot "$tmp/plot/abs_dM.svg"
  check "plot svg" grep -q "<svg" "$tmp/plot/abs_dM.svg"
  check "plot legend: one entry per method" grep -q "ufo (3)" "$tmp/plot/abs_dM.svg"
  check "plot axis label" grep -q "outer step" "$tmp/plot/abs_dM.svg"
  check "plot png" test -s "$tmp/plot/abs_dM.png"
fi
# Without gnuplot on PATH, compare says how to install it and still writes the curve data.
out=$(PATH=/nonexistent "$bin" compare "$tmp/kill" --metric abs_dM --plot "$tmp/plot2/abs_dM.svg" 2>&1)
rc=$?
check "plot without gnuplot: exit 3 (rc=$rc)" test "$rc" -eq 3
check "plot without gnuplot: how to install" grep -q "apt-get install gnuplot-nox" <<<"$out"
check "plot without gnuplot: data written" test -s "$tmp/plot2/abs_dM.csv"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
