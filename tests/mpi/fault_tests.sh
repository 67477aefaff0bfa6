#!/usr/bin/env bash
# Faults of runs across MPI ranks: a rank whose estimate fails ends the run with status error naming it; a rank
# killed mid-run (SIGKILL) ends every process within 10 s, leaving a result.json with status error naming the
# rank or none at all (never ok) and a curve that parses; SIGINT to mpirun ends the run "interrupted" with a
# checkpoint that --resume (on other ranks) continues to the bits of an uninterrupted run; a mistake made on every
# rank is said once, one only a rank makes is named by rank 0 (nothing written); commands other than train are
# refused under mpirun.
# usage: fault_tests.sh BILEVEL_OPT MPIRUN
set -u
bin="$1"
mpirun="$2"
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
job=""
cleanup() {
  [[ -n "$job" ]] && kill -9 "$job" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
long=(--problem sinusoid --method exact --set meta_batch=6 --set log_every=1 --set eval_every=1000 --seed 11)

# The rank processes of the mpirun job $job (its children), and the one with a given rank.
rank_pids() { pgrep -P "$job" 2>/dev/null; }
pid_of_rank() {
  local p
  for p in $(rank_pids); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then echo "$p"; return; fi
  done
}
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }  # running (not a zombie)
wait_rows() {  # wait_rows DIR N: until DIR's curve has N rows (or the job ended)
  for _ in $(seq 1 3000); do
    [[ -f "$1/curve.jsonl" && $(wc -l <"$1/curve.jsonl") -ge $2 ]] && return 0
    alive "$job" || return 1
    sleep 0.01
  done
  return 1
}

# --- 1. A rank whose estimate fails (the fault hook on rank 1 only): status error naming rank 1, exit 1. -----
args=(train "${long[@]}" --steps 5 --quiet --out "$tmp/fail")
"$mpirun" "${mpirun_args[@]}" -np 1 "$bin" "${args[@]}" : -np 1 -x BILEVEL_FAULT=rank_step "$bin" "${args[@]}" \
  >"$tmp/fail.log" 2>&1
rc=$?
check "failing rank: exit code 1 (got $rc)" test "$rc" -eq 1
check "failing rank: result.json says error" grep -q '"status": "error"' "$tmp/fail/result.json"
check "failing rank: the message names rank 1" grep -q '"message": "rank 1: internal error' "$tmp/fail/result.json"
check "failing rank: one line on stderr names it" grep -q "^bilevel-opt: error: rank 1: internal error" "$tmp/fail.log"
check "failing rank: the curve parses" curve_parses "$tmp/fail"

# --- 2. SIGKILL to rank 1 of 3 mid-run: every process ends within 10 s; error naming rank 1 or no result. ---
"$mpirun" "${mpirun_args[@]}" -np 3 "$bin" train "${long[@]}" --steps 100000 --quiet --out "$tmp/kill" \
  >"$tmp/kill.log" 2>&1 &
job=$!
if wait_rows "$tmp/kill" 4; then
  pids=$(rank_pids)
  victim=$(pid_of_rank 1)
  check "kill: found the process of rank 1" test -n "$victim"
  start=$SECONDS
  [[ -n "$victim" ]] && kill -9 "$victim"
  for _ in $(seq 1 1000); do alive "$job" || break; sleep 0.01; done
  waited=$((SECONDS - start))
  check "kill: mpirun ended within 10 s (took ${waited}s)" bash -c "! { $(declare -f alive); alive $job; }"
  survivors=0
  for p in $pids; do alive "$p" && survivors=$((survivors + 1)); done
  check "kill: no rank process left ($survivors alive)" test "$survivors" -eq 0
  wait "$job" 2>/dev/null
  job=""
  if [[ -e "$tmp/kill/result.json" ]]; then
    check "kill: result.json says error" grep -q '"status": "error"' "$tmp/kill/result.json"
    check "kill: the message names rank 1" grep -q '"message": "rank 1 of 3 stopped responding' "$tmp/kill/result.json"
  else
    echo "note: kill: no result.json (mpirun ended rank 0 before it could write one)"
    check "kill: no result.json, so no ok" true
  fi
  check "kill: the curve parses" curve_parses "$tmp/kill"
else
  bad "kill: the run did not get going"
  sed 's/^/    /' "$tmp/kill.log" | head -20
fi

# --- 3. SIGINT to mpirun: interrupted with a checkpoint; --resume on 3 ranks ends like an uninterrupted run. --
short=(train "${long[@]}" --steps 1500 --set checkpoint_every=50 --quiet)
"$bin" "${short[@]}" --out "$tmp/whole" || bad "interrupt: the uninterrupted run failed"
"$mpirun" "${mpirun_args[@]}" -np 2 "$bin" "${short[@]}" --out "$tmp/int" >"$tmp/int.log" 2>&1 &
job=$!
if wait_rows "$tmp/int" 30; then
  kill -INT "$job"
  wait "$job"
  rc=$?
  job=""
  # mpirun's own exit code after a SIGINT is its own (1); rank 0 says what happened.
  check "interrupt: mpirun exits non-zero (got $rc)" test "$rc" -ne 0
  check "interrupt: rank 0 says interrupted and how to continue" grep -q "^bilevel-opt: interrupted after .* steps; continue with" "$tmp/int.log"
  check "interrupt: result.json says interrupted" grep -q '"status": "interrupted"' "$tmp/int/result.json"
  check "interrupt: a checkpoint" test -f "$tmp/int/checkpoint.json"
  check "interrupt: the curve parses" curve_parses "$tmp/int"
  ranks 3 train --resume "$tmp/int" --quiet >"$tmp/resume.log" 2>&1 || { bad "interrupt: --resume on 3 ranks failed"; sed 's/^/    /' "$tmp/resume.log" | head; }
  check "interrupt + resume: lambda.bin identical to the uninterrupted run" cmp -s "$tmp/whole/lambda.bin" "$tmp/int/lambda.bin"
  check "interrupt + resume: curve identical but for timing" test "$(untimed_curve "$tmp/whole")" == "$(untimed_curve "$tmp/int")"
else
  bad "interrupt: the run did not get going (or finished first)"
  sed 's/^/    /' "$tmp/int.log" | head -20
fi

# --- 4. A mistake on every rank is said once; a rank that cannot read its input is named, nothing is written. -
out=$(ranks 3 train --problem sinusoid --method exactt --steps 2 --out "$tmp/bad" 2>&1)
rc=$?
check "bad method on 3 ranks: exit 2 (got $rc)" test "$rc" -eq 2
check "bad method on 3 ranks: said once" test "$(grep -c "unknown method 'exactt'" <<<"$out")" -eq 1
echo 'problem = "sinusoid"' >"$tmp/c.toml"
out=$("$mpirun" "${mpirun_args[@]}" -np 1 "$bin" train --config "$tmp/c.toml" --method exact --steps 2 --out "$tmp/cfg" \
  : -np 1 "$bin" train --config "$tmp/missing.toml" --method exact --steps 2 --out "$tmp/cfg" 2>&1)
rc=$?
check "config missing on rank 1: exit 2 (got $rc)" test "$rc" -eq 2
check "config missing on rank 1: rank 0 names it" grep -q "^bilevel-opt: error: rank 1: --config .*missing.toml" <<<"$out"
check "config missing on rank 1: no run directory" test ! -e "$tmp/cfg"

# --- 5. Only train runs across ranks. ----------------------------------------------------------------------
out=$(ranks 2 list problems 2>&1)
rc=$?
check "list under 2 ranks: exit 2 (got $rc)" test "$rc" -eq 2
check "list under 2 ranks: says only train" grep -q "only \`train\` runs across MPI ranks" <<<"$out"

echo "mpi fault tests: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
