#!/usr/bin/env bash
# Runs across MPI ranks give the bits of one process: curve.jsonl (timing aside), lambda.bin and result.json
# (timing and resident memory aside) of `mpirun -np 1, 2, 3 bilevel-opt train …` equal those of a plain run, for
# meta-batch tasks split among ranks (exact, ufo with coin flips and adaptive q), SGLD chains split among ranks
# (one task, persistent chains whose states travel each step), a single-loop solver's warm state, and with two
# threads per rank; and a sweep whose runs go through mpirun.
# usage: identical_tests.sh BILEVEL_OPT MPIRUN
set -u
bin="$1"
mpirun="$2"
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# same_bits NAME NPS TRAIN_ARGS...: one plain run, then one per rank count in NPS (e.g. "1 2 3").
same_bits() {
  local name="$1" nps="$2"
  shift 2
  "$bin" train "$@" --quiet --out "$tmp/$name-plain" || { bad "$name: the plain run failed"; return; }
  for n in $nps; do
    local dir="$tmp/$name-np$n"
    if ! ranks "$n" train "$@" --quiet --out "$dir" >"$dir.log" 2>&1; then
      bad "$name: mpirun -np $n failed"
      sed 's/^/    /' "$dir.log" | head -20
      continue
    fi
    check "$name -np $n: lambda.bin identical" cmp -s "$tmp/$name-plain/lambda.bin" "$dir/lambda.bin"
    check "$name -np $n: curve.jsonl identical but for timing" \
      test "$(untimed_curve "$tmp/$name-plain")" == "$(untimed_curve "$dir")"
    check "$name -np $n: result.json identical but for timing" \
      test "$(untimed_result "$tmp/$name-plain")" == "$(untimed_result "$dir")"
    check "$name -np $n: status ok" grep -q '"status": "ok"' "$dir/result.json"
  done
}

# Meta-batch of 6 tasks: 6, 3+3 and 2+2+2 per rank.
same_bits exact-sinusoid "1 2 3" --problem sinusoid --method exact --set meta_batch=6 --steps 6 --set eval_every=3 --seed 2
# UFO's coin flips come from each task's stream; adaptive q is estimator state that rank 0 sends every step.
same_bits ufo-coins "2 3" --problem sinusoid --method ufo --set q=0.3 --set meta_batch=5 --steps 6 --seed 3
same_bits ufo-adaptive "2" --problem sinusoid --method ufo --set q=adaptive --set meta_batch=4 --steps 8 --seed 4
# One task, 5 chains: the chains are split among the ranks (2+3, 1+2+2); persistent chains carry their states.
same_bits sgld-chains "2 3" --problem quadratic --method sgld --set chains=5 --set burn_in=5 --set samples=5 \
  --set persistent=true --set variant=one-step --steps 6 --seed 5
same_bits sgld-cov "3" --problem gaussian-sgld --method sgld --set variant=cov --set chains=4 --set burn_in=10 \
  --set samples=20 --steps 4 --seed 6
# A single-loop solver: its warm inner state and direction travel with the estimator state every step.
same_bits soba-state "2" --problem quadratic --method soba --set meta_batch=3 --steps 6 --seed 8
# With minibatches and SAGA memories, task 0's update kept.
same_bits saba-state "2" --problem toy-multimin --method saba --set batch_size=5 --set meta_batch=2 --steps 30 \
  --set eval_every=100 --seed 5
# Two oneTBB threads in each rank.
same_bits exact-threads "2" --problem sinusoid --method exact --set meta_batch=6 --steps 4 --threads 2 --seed 7

# A sweep whose runs go through mpirun (--launcher): the same runs as a sweep of plain processes; --resume skips
# them all.
cat >"$tmp/spec.toml" <<'SPEC'
problem = "sinusoid"
method = ["exact", "fo"]
seeds = 2
steps = 4
meta_batch = 4
SPEC
launcher="$mpirun ${mpirun_args[*]} -np 2"
"$bin" sweep "$tmp/spec.toml" --out "$tmp/sweep-plain" --jobs 1 --threads 1 --quiet || bad "sweep: plain failed"
if "$bin" sweep "$tmp/spec.toml" --out "$tmp/sweep-mpi" --jobs 1 --threads 1 --quiet --launcher "$launcher" \
  >"$tmp/sweep.log" 2>&1; then
  for run in "$tmp"/sweep-plain/runs/*; do
    name=$(basename "$run")
    check "sweep --launcher: $name lambda.bin identical" cmp -s "$run/lambda.bin" "$tmp/sweep-mpi/runs/$name/lambda.bin"
    check "sweep --launcher: $name ran on 2 ranks" grep -q '"ranks": 2' "$tmp/sweep-mpi/runs/$name/result.json"
  done
  out=$("$bin" sweep "$tmp/spec.toml" --out "$tmp/sweep-mpi" --jobs 1 --threads 1 --launcher "$launcher" --resume 2>&1)
  check "sweep --launcher --resume: every run already ok ($out)" grep -q "4 already ok" <<<"$out"
else
  bad "sweep --launcher failed"
  sed 's/^/    /' "$tmp/sweep.log" | head
fi

# The tests above could fail: a run with another seed differs (the comparison sees the bits).
"$bin" train --problem sinusoid --method exact --set meta_batch=6 --steps 6 --set eval_every=3 --seed 9 --quiet \
  --out "$tmp/other-seed"
check "another seed gives another lambda.bin (the comparison can fail)" \
  bash -c "! cmp -s '$tmp/exact-sinusoid-plain/lambda.bin' '$tmp/other-seed/lambda.bin'"

echo "mpi identical tests: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
