#!/usr/bin/env bash
# Command-line tests of the researcher's workflow (a few seconds): runs SIGKILLed at a random step and
# continued with --resume end bit for bit like uninterrupted ones (exact on sinusoid, adaptive ufo, persistent
# sgld, saba's warm state and SAGA memories); --from reruns a run to identical outputs; eval reproduces a run's metrics; lambda.npy loads in numpy;
# silent substitutions are refused with a suggestion; help, list and progress read as documented.
set -u
bin="$1"
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
train_pid=""
cleanup() {
  [[ -n "$train_pid" ]] && kill -9 "$train_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
final_of() { sed -n '/^  "final": {/,/^  }/p' "$1/result.json"; }       # result.json's final metrics
untimed() { sed -E 's/"(eval_)?seconds":[^,}]*[,]?//g' "$1/curve.jsonl"; }  # curve.jsonl without timing

# --- 1. SIGKILL at a random step, then --resume: the same lambda.bin and final metrics, bit for bit. --------
# kill_and_resume NAME ROWS_MIN ROWS_MAX TRAIN_ARGS...: an uninterrupted run, then the same run killed once its
# curve has a random number of rows in [ROWS_MIN, ROWS_MAX], continued with --resume.
kill_and_resume() {
  local name="$1" lo="$2" hi="$3"
  shift 3
  local rows=$((lo + RANDOM % (hi - lo + 1)))
  "$bin" train "$@" --quiet --out "$tmp/$name-whole" || { bad "$name: uninterrupted run failed"; return; }
  "$bin" train "$@" --quiet --out "$tmp/$name" 2>/dev/null &
  train_pid=$!
  for _ in $(seq 1 5000); do
    [[ -f "$tmp/$name/curve.jsonl" && $(wc -l <"$tmp/$name/curve.jsonl") -ge $rows ]] && break
    kill -0 "$train_pid" 2>/dev/null || break
    sleep 0.002
  done
  { kill -9 "$train_pid"; wait "$train_pid"; } 2>/dev/null
  train_pid=""
  if [[ -e "$tmp/$name/result.json" ]]; then bad "$name: the run finished before the kill at row $rows"; return; fi
  local out
  out=$("$bin" train --resume "$tmp/$name" 2>&1) || { bad "$name: resume failed: $out"; return; }
  check "$name (killed at curve row $rows): resumed from a checkpoint ($out)" grep -q "continued from the checkpoint" <<<"$out"
  check "$name (killed at curve row $rows): lambda.bin identical" cmp -s "$tmp/$name-whole/lambda.bin" "$tmp/$name/lambda.bin"
  check "$name (killed at curve row $rows): final metrics identical" \
    test "$(final_of "$tmp/$name-whole")" == "$(final_of "$tmp/$name")"
  check "$name: final metrics present" grep -q '"outer_loss"' <(final_of "$tmp/$name")
  check "$name (killed at curve row $rows): curve identical but for timing" \
    test "$(untimed "$tmp/$name-whole")" == "$(untimed "$tmp/$name")"
  check "$name: no checkpoint left after the run ended" test ! -e "$tmp/$name/checkpoint.json"
}
kill_and_resume sinusoid-exact 12 60 --problem sinusoid --method exact --steps 120 --set meta_batch=10 \
  --set checkpoint_every=7 --set eval_every=25 --seed 3
kill_and_resume counterexample-ufo-adaptive 12 80 --problem ufo-counterexample --method ufo --set q=adaptive \
  --steps 8000 --set checkpoint_every=331 --set log_every=50 --seed 4
kill_and_resume quadratic-sgld-persistent 12 200 --problem quadratic --method sgld --set persistent=true \
  --set chains=2 --set burn_in=5 --set samples=5 --set variant=one-step --steps 400 --set checkpoint_every=7 --seed 5
kill_and_resume toy-multimin-saba 12 250 --problem toy-multimin --method saba --set batch_size=5 --steps 6000 \
  --set checkpoint_every=37 --set log_every=20 --set eval_every=1000 --seed 6  # warm θ, v and SAGA memories

# Ctrl-C (SIGINT): one line, exit 4, a checkpoint; --resume finishes the run.
"$bin" train --problem sinusoid --method exact --steps 150 --set meta_batch=10 --set eval_every=10 --out "$tmp/int" \
  2>"$tmp/int.err" &
train_pid=$!
for _ in $(seq 1 2000); do [[ -f "$tmp/int/curve.jsonl" && $(wc -l <"$tmp/int/curve.jsonl") -ge 20 ]] && break; sleep 0.002; done
kill -INT "$train_pid"
wait "$train_pid"
rc=$?
train_pid=""
check "SIGINT: exit code 4 (got $rc)" test "$rc" -eq 4
check "SIGINT: one line on stderr ($(cat "$tmp/int.err"))" test "$(wc -l <"$tmp/int.err")" -eq 1
check "SIGINT: the line says how to continue" grep -q "interrupted after [0-9]* steps; continue with: bilevel-opt train --resume" "$tmp/int.err"
# The stopped run does not evaluate λ again (that can outlast mpirun's grace before SIGKILL): its final metrics are
# those of the curve row at final_eval_step, the last eval_every step before the stop.
check "SIGINT: final metrics are the last evaluation row's" python3 - "$tmp/int" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1] + "/result.json"))
rows = {r["step"]: r for r in map(json.loads, open(sys.argv[1] + "/curve.jsonl"))}
row = rows[res["final_eval_step"]]
assert res["status"] == "interrupted" and res["final_eval_step"] % 10 == 0 and res["final_eval_step"] >= 10, res
assert "test_mse" in res["final"], res["final"]
assert all(row[k] == v for k, v in res["final"].items() if k != "outer_loss"), (res["final"], row)
EOF
expect "resume after SIGINT" 0 "ok after 150 steps \(continued from the checkpoint at step" -- train --resume "$tmp/int"

# --- 2. --from reruns a finished run to identical outputs. -------------------------------------------------
"$bin" train --problem quadratic --method ufo --set q=0.3 --steps 30 --seed 7 --quiet --out "$tmp/orig"
expect "train --from" 0 "ok after 30 steps" -- train --from "$tmp/orig" --out "$tmp/rerun"
check "--from: lambda.bin identical" cmp -s "$tmp/orig/lambda.bin" "$tmp/rerun/lambda.bin"
check "--from: curve identical but for timing" test "$(untimed "$tmp/orig")" == "$(untimed "$tmp/rerun")"
check "--from: final metrics identical" test "$(final_of "$tmp/orig")" == "$(final_of "$tmp/rerun")"
check "config.json records the command line" grep -q '"command_line"' "$tmp/orig/config.json"
check "config.json records the start time and host" grep -qE '"start_time": "[0-9T:-]+Z"' "$tmp/orig/config.json"
expect "config.json given to --config says --from" 2 "train --from" -- train --config "$tmp/orig/config.json" --out "$tmp/x1"

# --- 3. eval and lambda.npy. -----------------------------------------------------------------------------
expect "eval reproduces the recorded metrics" 0 "\| val_loss \| [0-9.]+ \| [0-9.]+ \| yes \|" -- eval "$tmp/orig"
expect "eval with a changed option" 0 "\| val_loss \| [0-9.]+ \| [0-9.]+ \| no \|" -- eval "$tmp/orig" --set inner_steps=40 \
  --out "$tmp/eval.json"
check "eval --out writes JSON" grep -q '"inner_steps": 40' "$tmp/eval.json"
if /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  check "lambda.npy loads in numpy and equals lambda.bin and result.json's values" /usr/bin/python3 - "$tmp/orig" <<'EOF'
import json, sys
import numpy as np
d = sys.argv[1]
lam = np.load(d + "/lambda.npy")
res = json.load(open(d + "/result.json"))
raw = np.fromfile(d + "/lambda.bin", dtype=res["lambda"]["dtype"])
assert lam.shape == tuple(res["lambda"]["shape"]), lam.shape
assert (lam == raw).all()
assert (lam == np.array(res["lambda"]["values"], dtype=lam.dtype)).all()
assert res["lambda"]["layout"][0]["shape"] == [lam.size]
EOF
else
  echo "numpy is not installed for /usr/bin/python3: the lambda.npy load check is skipped"
fi
expect "a run started from a saved λ: shape mismatch refused" 2 "λ has 10 values.*has 5" -- train --problem quadratic \
  --method exact --set dim=5 --set lambda_init_file="$tmp/orig" --steps 2 --out "$tmp/x2"
check "nothing written for a refused lambda_init_file" test ! -e "$tmp/x2"

# --- 4. Silent substitutions are refused (exit 2), with what would be valid. ------------------------------
"$bin" train --problem quadratic --method exact --steps 5 --seed 1 --quiet --out "$tmp/cmp/a"
"$bin" train --problem quadratic --method fo --steps 5 --seed 1 --quiet --out "$tmp/cmp/b"
expect "compare --by mehtod" 2 "unknown key 'mehtod' \(did you mean 'method'\?\)" -- compare "$tmp/cmp" --by mehtod
expect "compare --metric mistyped, no plot asked" 2 "unknown metric 'val_los' \(did you mean 'val_loss'\?\)" -- \
  compare "$tmp/cmp" --metric val_los
expect "compare --plot x.pdf" 2 "draws SVG and PNG.*not \.pdf" -- compare "$tmp/cmp" --plot "$tmp/x.pdf"
check "compare --plot x.pdf wrote nothing" test -z "$(ls "$tmp" | grep '^x\.pdf')"
expect "compare --x grad_evals" 2 "renamed --x cost" -- compare "$tmp/cmp" --x grad_evals
expect "compare --x cost" 0 "\| steps \| cost \|" -- compare "$tmp/cmp" --x cost --curves "$tmp/c.csv"
check "compare --curves has a cost column" grep -q "^group,cost," "$tmp/c.csv"
expect "compare --format mistyped" 2 "unknown value 'cvs' \(did you mean 'csv'\?\)" -- compare "$tmp/cmp" --format cvs
expect "--set q with fo" 2 "option 'q' is not taken by method 'fo' or problem 'quadratic'; it is an option of: ufo" -- \
  train --problem quadratic --method fo --set q=0.5 --out "$tmp/x3"
expect "--budget-grad-evals renamed" 2 "renamed --budget-cost: it counts gradient evaluations \+ Hessian-vector" -- \
  train --problem quadratic --method fo --budget-grad-evals 100 --out "$tmp/x3"
check "nothing written for refused options" test ! -e "$tmp/x3"
expect "misspelt subcommand" 2 "unknown subcommand 'trian' \(did you mean 'train'\?\)" -- trian
expect "misspelt problem" 2 "unknown problem 'quadratik' \(did you mean 'quadratic'\?\)" -- \
  train --problem quadratik --method fo --out "$tmp/x4"
expect "misspelt method" 2 "unknown method 'exakt' \(did you mean 'exact'\?\)" -- train --problem quadratic --method exakt --out "$tmp/x4"
expect "misspelt option key" 2 "unknown option 'inner_step' \(did you mean 'inner_steps'\?\)" -- \
  train --problem quadratic --method fo --set inner_step=3 --out "$tmp/x4"
expect "misspelt flag" 2 "unknown option '--step' for bilevel-opt train \(did you mean '--steps'\?\)" -- \
  train --problem quadratic --method fo --step 5 --out "$tmp/x4"
expect "bad value: one line naming the flag" 2 "^bilevel-opt: error: --steps: 'abc' is not an integer" -- \
  train --problem quadratic --method fo --steps abc --out "$tmp/x4"
expect "missing value" 2 "^bilevel-opt: error: --jobs needs a value \(N\)" -- sweep spec.toml --out "$tmp/x4" --jobs
expect "eval: an option of a method" 2 "option 'q' is not taken by eval.*option of: ufo" -- eval "$tmp/orig" --set q=0.1

# --- 5. Help, usage and list. ------------------------------------------------------------------------------
expect "no arguments: usage with examples" 2 "Examples:" --
expect "no arguments: says a subcommand is required" 2 "a subcommand is required" --
wide=0
for args in "--help" "train --help" "eval --help" "search --help" "sweep --help" "compare --help" "check --help" \
  "list --help" "datasets --help" "datasets preview --help" "list problems" "list methods" "list run-options"; do
  # shellcheck disable=SC2086
  n=$("$bin" $args | LC_ALL=C.UTF-8 wc -L)
  [[ $n -gt 100 ]] && { wide=1; echo "    $args: a line of $n columns"; }
done
check "help and list lines fit 100 columns" test "$wide" -eq 0
expect "help shows defaults" 0 "--threads N .*\(default: 1\)" -- train --help
expect "help shows placeholders" 0 "--problem PROBLEM" -- train --help
expect "help has examples" 0 "bilevel-opt train --resume" -- train --help
expect "list problems says the metrics" 0 "metrics: val_loss, val_loss_star" -- list problems
expect "list methods says where a method applies" 0 "applies to: .*sinusoid[^;]*; not to: [a-z]" -- list methods
expect "list --format json" 0 '"name": "quadratic"' -- list problems --format json
expect "sgld help points into the repository" 0 "lib/hypergrad/sgld.hpp" -- list methods

# --- 6. Progress on a terminal (through script(1)), a sweep's ETA, numbers in index.json. ----------------
if command -v script >/dev/null; then
  script -qfec "$bin train --problem quadratic --method exact --steps 400 --out $tmp/tty" /dev/null >"$tmp/tty.out" 2>&1
  check "progress line: done/total, elapsed<ETA, rate and the latest metric" \
    grep -qE "[0-9]+/400 steps \[[0-9:]+<[0-9:?]+, [0-9.e+]+ steps/s\]  val_loss [0-9.]+" "$tmp/tty.out"
fi
cat >"$tmp/sweep.toml" <<'EOF'
problem = "quadratic"
method = "ufo"
q = [0.25, 0.5]
steps = 3
EOF
"$bin" sweep "$tmp/sweep.toml" --out "$tmp/sw" --jobs 2 2>"$tmp/sw.err"
check "sweep lines show the sweep's ETA" grep -qE "\[2/2\] ok .*sweep [0-9:]+, ETA [0-9:]+" "$tmp/sw.err"
check "index.json stores numbers as numbers" grep -qE '"q": 0\.25' "$tmp/sw/index.json"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
