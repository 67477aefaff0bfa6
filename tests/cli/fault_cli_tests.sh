#!/usr/bin/env bash
# Faults and hostile inputs with the real binary: run data that tries to run gnuplot commands, special files
# and symbolic links as outputs, writes that fail mid-run (the BILEVEL_FAULT hook and ulimit -f), held locks,
# a second sweep, a killed and a hung-up train, and a resume that must not trust a result whose curve was cut.
set -u
bin="$1"
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
bg=""
cleanup() {
  for p in $bg; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
status_of() { grep -o '"status": "[a-z]*"' "$1/result.json" 2>/dev/null | cut -d'"' -f4; }
absent() { if [[ -e "$2" || -L "$2" ]]; then bad "$1: $2 exists"; else ok; fi; }
# every_row_parses FILE: each line of a curve is one whole JSON object
every_row_parses() { python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$1" 2>/dev/null; }
wait_for() {  # wait_for SECONDS COMMAND...: until the command succeeds
  local n=$(($1 * 20))
  shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done
  return 1
}
quick=(train --problem ufo-counterexample --method fo --quiet)

# --- 1. compare --plot: option values from run data never run as gnuplot commands. ----------------------------
for s in 1 2; do "$bin" "${quick[@]}" --steps 20 --seed $s --out "$tmp/plot/r$s" || bad "plot: train $s"; done
mark="$tmp/PWNED"
python3 - "$tmp/plot" "$mark" <<'EOF'
import json, sys
root, mark = sys.argv[1], sys.argv[2]
labels = ['x\nsystem("touch %s")\n#' % mark, "y'\nsystem('touch %s')\n# \\" % mark]
for i, label in enumerate(labels):
    f = "%s/r%d/config.json" % (root, i + 1)
    c = json.load(open(f))
    c["note"] = label
    c["problem_options"]["data_dir"] = '\r`touch %s`@x\nsystem("touch %s")' % (mark, mark)
    json.dump(c, open(f, "w"))
EOF
if command -v gnuplot >/dev/null; then
  expect "plot with hostile labels" 0 "plot of abs_dM" -- compare "$tmp/plot" --by note,data_dir --metric abs_dM --plot "$tmp/p.svg"
  check "plot drawn" test -s "$tmp/p.svg"
  absent "plot: no command from the run data ran" "$mark"
fi
expect "plot script only" 0 "" -- compare "$tmp/plot" --by note --metric abs_dM --curves "$tmp/c.csv"

# --- 2. Outputs that are not regular files are refused before the work, never replaced or followed. -----------
mkfifo "$tmp/fifo"
ln -s /dev/null "$tmp/null-link"
mkdir "$tmp/existing-dir"
expect "check --out FIFO" 2 "fifo'.*FIFO, not a regular file" -- check --problem quadratic --methods fo --samples 2 --out "$tmp/fifo"
check "FIFO still a FIFO" test -p "$tmp/fifo"
expect "check --out link to /dev/null" 2 "symbolic link" -- check --problem quadratic --methods fo --samples 2 --out "$tmp/null-link"
check "/dev/null still a device" test -c /dev/null
check "link still a link" test -L "$tmp/null-link"
expect "check --out DIR" 2 "existing-dir'.*directory" -- check --problem quadratic --methods fo --samples 2 --out "$tmp/existing-dir"
expect "check --out long name" 2 "longer than" -- check --problem quadratic --methods fo --samples 2 --out "$tmp/$(printf 'a%.0s' $(seq 300))"
out=$("$bin" check --problem quadratic --methods fo --samples 2 --out - 2>/dev/null)
if python3 -c 'import json,sys; json.loads(sys.argv[1])' "$out" 2>/dev/null; then ok; else bad "check --out -: JSON on stdout"; fi
expect "compare --curves FIFO" 2 "--curves '.*fifo'.*FIFO" -- compare "$tmp/plot" --metric abs_dM --curves "$tmp/fifo"
mkfifo "$tmp/fifo.svg"
expect "compare --plot onto a FIFO" 2 "--plot '.*fifo.svg'.*FIFO" -- compare "$tmp/plot" --metric abs_dM --plot "$tmp/fifo.svg"
check "plot FIFO still a FIFO" test -p "$tmp/fifo.svg"
out=$("$bin" compare "$tmp/plot" --metric abs_dM --curves - 2>/dev/null)
if grep -q "^group," <<<"$out" || grep -q "abs_dM" <<<"$out"; then ok; else bad "compare --curves -: CSV on stdout"; fi
# A symbolic link inside a run directory is not followed: the file it points to stays as it was.
mkdir -p "$tmp/linkrun"
echo "precious" >"$tmp/precious"
ln -s "$tmp/precious" "$tmp/linkrun/curve.jsonl"
expect "curve.jsonl is a symlink" 2 "curve.jsonl exists and is a symbolic link" -- "${quick[@]}" --steps 5 --out "$tmp/linkrun"
check "the link's target is untouched" grep -qx precious "$tmp/precious"
"$bin" list problems >/dev/full 2>"$tmp/devfull.log"
rc=$?
if [[ $rc -eq 1 ]] && grep -q "cannot write to standard output" "$tmp/devfull.log"; then ok
else bad "stdout that cannot be written: rc=$rc, want 1"; fi

# --- 3. A write that fails mid-run ends the run: status error naming the file and the OS error, exit 1. --------
BILEVEL_FAULT=write:curve.jsonl@6 expect "curve write fails" 1 "cannot write .*curve.jsonl: No space left on device" -- \
  "${quick[@]}" --steps 50 --set log_every=5 --out "$tmp/full"
check "full: status error" test "$(status_of "$tmp/full")" == error
check "full: result names the file" grep -q 'curve.jsonl: No space left' "$tmp/full/result.json"
check "full: the curve holds whole rows" every_row_parses "$tmp/full/curve.jsonl"
BILEVEL_FAULT=write:result.json expect "result write fails" 1 "cannot write .*result.json.*No space left" -- \
  "${quick[@]}" --steps 5 --out "$tmp/full2"
absent "result write fails: no result.json" "$tmp/full2/result.json"
BILEVEL_FAULT=write:checkpoint.json expect "checkpoint write fails" 1 "checkpoint.json: No space left" -- \
  "${quick[@]}" --steps 50 --set checkpoint_every=10 --out "$tmp/full3"
check "checkpoint fails: status error" test "$(status_of "$tmp/full3")" == error
BILEVEL_FAULT=write:lambda.bin expect "lambda write fails" 1 "lambda.bin.*No space left" -- "${quick[@]}" --steps 5 --out "$tmp/full4"
# The file size limit: the write fails with EFBIG (SIGXFSZ is ignored), the run ends with status error.
(ulimit -f 8 && exec "$bin" "${quick[@]}" --steps 20000 --set log_every=1 --out "$tmp/fsize" 2>"$tmp/fsize.log")
rc=$?
if [[ $rc -eq 1 ]] && grep -q "curve.jsonl: File too large" "$tmp/fsize.log"; then ok
else bad "ulimit -f: rc=$rc, want 1 and 'File too large'"; head -3 "$tmp/fsize.log"; fi
check "ulimit -f: status error" test "$(status_of "$tmp/fsize")" == error

# --- 4. Locks: one writer per run directory and per sweep directory; a killed holder leaves no stale lock. -----
"$bin" "${quick[@]}" --steps 100000000 --set checkpoint_every=1000 --out "$tmp/long" 2>"$tmp/long.log" &
long=$!
bg="$bg $long"
wait_for 20 test -s "$tmp/long/curve.jsonl" || bad "long train did not start"
expect "second train on a held run directory" 2 "--out '.*long' is in use by train \(pid $long on " -- \
  "${quick[@]}" --steps 5 --force --out "$tmp/long"
# SIGHUP (a closed terminal) stops the run like SIGTERM: status interrupted, exit 4, the log intact.
wait_for 20 test -s "$tmp/long/checkpoint.json" || bad "long train wrote no checkpoint"
kill -HUP "$long"
wait "$long"
rc=$?
check "SIGHUP: exit 4" test "$rc" -eq 4
check "SIGHUP: status interrupted" test "$(status_of "$tmp/long")" == interrupted
check "SIGHUP: the curve holds whole rows" every_row_parses "$tmp/long/curve.jsonl"
# A SIGKILLed train leaves no lock behind: --resume goes on at once.
"$bin" train --resume "$tmp/long" --quiet 2>/dev/null &
long=$!
bg="$bg $long"
sleep 1
kill -9 "$long"
wait "$long" 2>/dev/null
BILEVEL_FAULT=train_step expect "killed train: the lock is gone" 1 "fault injected" -- train --resume "$tmp/long" --quiet

cat >"$tmp/slow.toml" <<'EOF'
problem = "ufo-counterexample"
method = ["fo", "ufo"]
steps = 100000000
EOF
"$bin" sweep "$tmp/slow.toml" --out "$tmp/slow" --jobs 1 --quiet 2>/dev/null &
sw=$!
bg="$bg $sw"
wait_for 20 compgen -G "$tmp/slow/runs/*/curve.jsonl" >/dev/null || bad "slow sweep did not start"
expect "second sweep refused" 2 "--out '.*slow' is in use by sweep \(pid $sw on " -- sweep "$tmp/slow.toml" --out "$tmp/slow" --resume
expect "a shard beside it refused" 2 "is in use by sweep \(pid $sw" -- sweep "$tmp/slow.toml" --out "$tmp/slow" --resume --shard 1/2
run1=$(ls -d "$tmp"/slow/runs/*/ | head -1)
expect "train into a sweep's running run" 2 "is in use by train" -- "${quick[@]}" --steps 5 --force --out "$run1"
kill -TERM "$sw"
wait "$sw"
check "stopped sweep: no lock left" flock -n "$tmp/slow/.lock" true

# --- 5. A resume does not trust a result.json whose curve was cut (a second writer, a full disk). -------------
cat >"$tmp/tiny.toml" <<'EOF'
problem = "ufo-counterexample"
method = ["fo", "ufo"]
steps = 200
log_every = 10
EOF
expect "tiny sweep" 0 "2 runs launched: 2 ok" -- sweep "$tmp/tiny.toml" --out "$tmp/tiny"
victim=$(ls -d "$tmp"/tiny/runs/*/ | head -1)
head -n 15 "$victim/curve.jsonl" >"$tmp/cut" && cat "$tmp/cut" >"$victim/curve.jsonl"
expect "resume reruns the run with a cut curve" 0 "1 runs launched: 1 ok; 1 already ok" -- \
  sweep "$tmp/tiny.toml" --out "$tmp/tiny" --resume
check "its curve is whole again" test "$(wc -l <"$victim/curve.jsonl")" -eq 21

# --- 6. An index that cannot be written fails the sweep (exit 1, naming the file); the runs still finish. -------
BILEVEL_FAULT=write:index.json@2 expect "index write fails" 1 "index could not be written: cannot write .*index.json" -- \
  sweep "$tmp/tiny.toml" --out "$tmp/tiny2" --quiet

# --- 7. Values are refused, not coerced; sizes from input are bounded; messages stay short. --------------------
expect "seed -1" 2 "--seed: '-1' is not an integer from 0 to 18446744073709551615" -- "${quick[@]}" --seed -1 --out "$tmp/c1"
expect "seed 2^64" 2 "--seed: '18446744073709551616' is not an integer" -- "${quick[@]}" --seed 18446744073709551616 --out "$tmp/c1"
expect "steps 0" 2 "--steps: must be ≥ 1, got 0" -- "${quick[@]}" --steps 0 --out "$tmp/c1"
expect "hex value" 2 "outer_lr.*'0x10'" -- "${quick[@]}" --set outer_lr=0x10 --out "$tmp/c1"
expect "--set twice" 2 "--set outer_lr is given twice" -- "${quick[@]}" --set outer_lr=1 --set outer_lr=2 --out "$tmp/c1"
printf 'problem = "ufo-counterexample"\nmethod = "fo"\nouter_lr = 1\n[run]\nouter_lr = 2\n' >"$tmp/dup.toml"
expect "config key twice" 2 "option 'outer_lr' is given twice \(in the top level and in \[run\]\)" -- train --config "$tmp/dup.toml" --out "$tmp/c1"
expect "meta_batch bound" 2 "meta_batch.*100000000 is out of range.*\[1, 10000\]" -- "${quick[@]}" --set meta_batch=100000000 --out "$tmp/c1"
absent "refusals leave no run directory" "$tmp/c1"
python3 -c 'print("problem = \"ufo-counterexample\"\nmethod = \"fo\"\n" + "".join("k%d = 1\n" % i for i in range(100000)))' >"$tmp/keys.toml"
out=$("$bin" train --config "$tmp/keys.toml" --out "$tmp/c2" 2>&1)
if [[ ${#out} -lt 2000 ]] && grep -q "and 99995 more (100000 in all)" <<<"$out"; then ok
else bad "100000 unknown keys: a ${#out}-byte message"; fi
printf 'problem = "ufo-counterexample"\nmethod = "fo"\nx = [%s]\ny = [%s]\nz = [%s]\n' "$(seq -s, 100)" "$(seq -s, 100)" \
  "$(seq -s, 100)" >"$tmp/huge.toml"
expect "sweep size bound" 2 "more than 100000 runs \(100 × 100 × 100\)" -- sweep "$tmp/huge.toml" --out "$tmp/huge" --dry-run
expect "sweep into another spec's --out" 2 "holds the sweep of another spec.*--add" -- sweep "$tmp/slow.toml" --out "$tmp/tiny"
# A --out path the file system cannot hold is refused before anything is created or computed (it was a raw
# error after the work, exit 1, or parents left behind by mkdir).
expect "train --out with a 300-byte name" 2 "the name 'a+…' is 300 bytes, longer than 255 \(NAME_MAX\)" -- \
  "${quick[@]}" --out "$tmp/np/$(printf 'a%.0s' $(seq 300))"
absent "a long name leaves no parent behind" "$tmp/np"
deep="$tmp/deep"  # 4086 bytes: the directory can be made, the files inside it cannot (PATH_MAX 4096)
while (( ${#deep} + 201 < 4086 )); do deep="$deep/$(printf 'b%.0s' $(seq 200))"; done
deep="$deep/$(printf 'b%.0s' $(seq $((4086 - ${#deep} - 1))))"
expect "train --out near PATH_MAX" 2 "the path is [0-9]+ bytes; a run directory's path must be shorter than" -- \
  "${quick[@]}" --out "$deep"
absent "a long path leaves nothing behind" "$tmp/deep"
# compare names each run file it cannot use, on one line, instead of miscounting the run or dropping it silently;
# a curve value beyond double range names the file and the line.
for s in 1 2 3 4 5; do "$bin" "${quick[@]}" --steps 5 --seed $s --out "$tmp/dmg/r$s" || bad "damaged runs: train $s"; done
echo garbage >"$tmp/dmg/r2/result.json"
: >"$tmp/dmg/r3/config.json"
echo '[1, 2]' >"$tmp/dmg/r4/result.json"
echo '"fo"' >"$tmp/dmg/r5/config.json"
expect "compare: garbage result.json" 0 "^bilevel-opt compare: warning: .*dmg/r2/result.json is not JSON .*counts as incomplete$" -- \
  compare "$tmp/dmg"
expect "compare: empty config.json" 0 "^bilevel-opt compare: warning: .*dmg/r3/config.json is empty; the directory is skipped$" -- \
  compare "$tmp/dmg"
expect "compare: result.json not an object" 0 "warning: .*dmg/r4/result.json is not a JSON object; the run counts as incomplete" -- \
  compare "$tmp/dmg"
expect "compare: config.json not an object" 0 "warning: .*dmg/r5/config.json is not a JSON object; the directory is skipped" -- \
  compare "$tmp/dmg"
expect "compare: the damaged runs are counted" 0 "\| fo \| 3 \| ok 1, incomplete 2 \|" -- compare "$tmp/dmg"
sed -i '2s/^{/{"zz": 1e400, /' "$tmp/dmg/r1/curve.jsonl"
expect "compare: a curve value of 1e400" 2 "corrupt .*dmg/r1/curve.jsonl line 2: .*number overflow parsing '1e400'" -- \
  compare "$tmp/dmg" --curves "$tmp/dmg.csv"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
