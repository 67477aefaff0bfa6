#!/usr/bin/env bash
# Stochastic bilevel solvers beside the full-batch estimators, on the three protocols of the bilevel benchmark
# (Dagréou et al. 2022) as far as our problems and data allow, at equal oracle budget (--budget-cost: gradients
# and HVPs in full-batch units, minibatch oracles counted b/n):
#   quadratic  `quadratic` with sampled rows: P = H = 100, 1024 inner and 1024 outer samples, cond 10, inner and
#              outer minibatches of 64 (the benchmark's quadratic protocol; h(λ), h* and ∇h in closed form)
#   logreg-l2  `hpo-l2` per-weight L2 of logistic regression on breast_cancer (binary, 30 features)
#   cleaning   `hyper-cleaning` on MNIST (corruption 0.5, multinomial logistic regression, l2 0.2)
# The single-loop solvers take inner and outer minibatches (batch_size, outer_batch_size; each oracle on b of n
# examples costs b/n). Per problem and method: a grid of outer learning rates on seed 1 (winner: the lowest final
# value h(λ)), then the winner on every seed. The metric is the value function h(λ) = L_V(θ*(λ)) (run option
# value_steps: θ* by a long inner GD run) and value_subopt = h(λ) − h*, computed by `bilevel-opt compare --metric
# value_subopt` (h* = the runs' recorded value_star — quadratic: min of its closed-form h by projected BB — else the lowest
# h of the compared runs); table.py reads compare's curves and writes grid.md and table.md; compare draws the plots.
#
# Usage: experiments/stochastic/run.sh [--quick | --full] [OUT_DIR]
#   --quick: smaller instances and budgets, 3 seeds, 5-point grids (6 on the quadratic); 241 s measured on 2 cores
#            at load 3.5–4 (the README states the last measurement).
#   (none):  medium instances (cleaning 4000 / 1000), 5 seeds, 5-point grids.
#   --full:  the benchmark's scale: cleaning on 20 000 train / 5 000 validation examples, 5 seeds, 6-point grids
#            (a decade wider at the bottom). Not run here (the README gives the estimate).
#   JOBS (default 2) runs at a time. Needs the data (`make data`) for logreg-l2 and cleaning. Reruns skip finished runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../common.sh"
source "$here/../hpo/lib.sh"
quick=0 full=0
if [[ "${1:-}" == "--quick" ]]; then quick=1; shift; elif [[ "${1:-}" == "--full" ]]; then full=1; shift; fi
out="${1:-runs/stochastic$( ((quick)) && echo -quick)$( ((full)) && echo -full)}"
export BILEVEL_DATA="${BILEVEL_DATA:-$root/data}"
[[ -d "$BILEVEL_DATA" ]] || BILEVEL_DATA=/work/data

quad_base=(--problem quadratic --set dim=100 --set n_samples=1024 --set cond=10 --set inner_steps=20 --set inner_lr=0.02
           --set outer_opt=sgd)
quad_batch=64 quad_obatch=64
grid=(0.1 1 10 100 1000)
if ((quick)); then
  seeds=(1 2 3)
  quad=("${quad_base[@]}" --set value_steps=500)  # inner GD contracts by ≤ 0.96 per step: 500 steps to 1e-9
  quad_budget=300 quad_lr=1
  lr2=(--problem hpo-l2 --set dataset=breast_cancer --set model=logreg --set n_train=200 --set n_val=200
       --set inner_steps=50 --set inner_lr=1 --set lambda_init=-4.6 --set outer_opt=adam --set value_steps=1000)
  lr2_budget=600 lr2_lr=0.05 lr2_batch=20
  cln=(--problem hyper-cleaning --set dataset=mnist --set n_train=1000 --set n_val=500 --set n_test=1000
       --set corruption=0.5 --set l2=0.2 --set inner_steps=20 --set inner_lr=1 --set outer_opt=adam --set value_steps=200)
  cln_budget=200 cln_lr=0.1 cln_batch=50
  lr2_obatch=20 cln_obatch=50 cln_eval_mult=1
elif ((full)); then
  seeds=(1 2 3 4 5)
  grid=(0.01 0.1 1 10 100 1000)
  quad=("${quad_base[@]}" --set value_steps=1000)
  quad_budget=2000 quad_lr=1
  lr2=(--problem hpo-l2 --set dataset=breast_cancer --set model=logreg --set n_train=200 --set n_val=200
       --set inner_steps=50 --set inner_lr=1 --set lambda_init=-4.6 --set outer_opt=adam --set value_steps=2000)
  lr2_budget=2000 lr2_lr=0.05 lr2_batch=20 lr2_obatch=20
  cln=(--problem hyper-cleaning --set dataset=mnist --set n_train=20000 --set n_val=5000 --set n_test=10000
       --set corruption=0.5 --set l2=0.2 --set inner_steps=20 --set inner_lr=1 --set outer_opt=adam --set value_steps=300)
  cln_budget=300 cln_lr=0.1 cln_batch=64 cln_obatch=64 cln_eval_mult=3
else
  seeds=(1 2 3 4 5)
  quad=("${quad_base[@]}" --set value_steps=1000)
  quad_budget=1000 quad_lr=1
  lr2=(--problem hpo-l2 --set dataset=breast_cancer --set model=logreg --set n_train=200 --set n_val=200
       --set inner_steps=50 --set inner_lr=1 --set lambda_init=-4.6 --set outer_opt=adam --set value_steps=2000)
  lr2_budget=2000 lr2_lr=0.05 lr2_batch=20
  cln=(--problem hyper-cleaning --set dataset=mnist --set n_train=4000 --set n_val=1000 --set n_test=2000
       --set corruption=0.5 --set l2=0.2 --set inner_steps=20 --set inner_lr=1 --set outer_opt=adam --set value_steps=300)
  cln_budget=600 cln_lr=0.1 cln_batch=100
  lr2_obatch=20 cln_obatch=100 cln_eval_mult=3
fi

# name|options (B, OB = the problem's inner and outer minibatch sizes)|eval_every|lr scale
# The grid is {0.1, 1, 10, 100} (--full: {0.01, …, 1000}) × the problem's outer lr × the method's scale: the
# single-loop solvers take many more (cheaper) outer steps per unit of cost, so their grid starts ten times lower.
methods=(
  "fo|--method fo|2|1"
  "ufo|--method ufo --set q=0.2|2|1"
  "ift-cg|--method ift-cg --set cg_iters=10|2|1"
  "sgld|--method sgld --set variant=two-pass --set chains=2 --set burn_in=10 --set samples=5|2|1"
  "stocbio|--method stocbio --set batch_size=B --set outer_batch_size=OB --set inner_iters=10 --set neumann_iters=10|4|0.1"
  "amigo|--method amigo --set batch_size=B --set outer_batch_size=OB --set inner_iters=10 --set v_iters=10|4|0.1"
  "soba|--method soba --set batch_size=B --set outer_batch_size=OB|25|0.1"
  "saba|--method saba --set batch_size=B --set outer_batch_size=OB|25|0.1"
  "f2sa|--method f2sa --set batch_size=B --set outer_batch_size=OB --set inner_iters=10 --set penalty=10 --set penalty_growth=0.1|4|0.1"
)

# method_options OPTS BATCH OBATCH: OPTS with B and OB replaced.
method_options() {
  local o="${1//=OB/=$3}"
  echo "${o//=B/=$2}"
}

# row_every EVERY SCALE: the method's eval_every × eval_mult (all methods) × sl_eval_mult (the single-loop solvers,
# lr scale ≠ 1, which take hundreds of cheap steps per run). Each evaluation row costs a value-function solve
# (value_steps gradients and up to value_cg_iters HVPs on the full data), far more than a single-loop step.
row_every() {
  local mult=${eval_mult:-1}
  [[ "$2" == 1 ]] || mult=$((mult * ${sl_eval_mult:-1}))
  echo $(($1 * mult))
}

# queue_grid NAME BUDGET LR BATCH OBATCH ARGS…: the grid (seed 1) of every method.
queue_grid() {
  local name="$1" budget="$2" lr="$3" batch="$4" obatch="$5"
  shift 5
  local m mname mopts every scale f
  for m in "${methods[@]}"; do
    IFS='|' read -r mname mopts every scale <<<"$m"
    mopts=$(method_options "$mopts" "$batch" "$obatch")
    every=$(row_every "$every" "$scale")
    for f in "${grid[@]}"; do
      local glr
      glr=$(awk -v a="$lr" -v f="$f" -v s="$scale" 'BEGIN { printf "%g", a * f * s }')
      # shellcheck disable=SC2086
      queue_train "$out/$name/grid/$mname/lr-$glr" "$@" $mopts --set outer_lr="$glr" --set eval_every="$every" \
        --seed 1 --budget-cost "$budget" --threads 1
    done
  done
}

# queue_seeds NAME BUDGET BATCH OBATCH ARGS…: every method at its grid winner on every seed.
queue_seeds() {
  local name="$1" budget="$2" batch="$3" obatch="$4"
  shift 4
  local m mname mopts every scale seed lr
  for m in "${methods[@]}"; do
    IFS='|' read -r mname mopts every scale <<<"$m"
    mopts=$(method_options "$mopts" "$batch" "$obatch")
    every=$(row_every "$every" "$scale")
    lr=$(python3 "$here/table.py" winner "$out/$name/grid/$mname")
    for seed in "${seeds[@]}"; do
      # Seed 1 at the winning rate is the grid's run: copied, not run again.
      if [[ "$seed" == 1 && ! -d "$out/$name/runs/$mname/seed-1" ]]; then
        mkdir -p "$out/$name/runs/$mname"
        cp -r "$out/$name/grid/$mname/lr-$lr" "$out/$name/runs/$mname/seed-1"
        continue
      fi
      # shellcheck disable=SC2086
      queue_train "$out/$name/runs/$mname/seed-$seed" "$@" $mopts --set outer_lr="$lr" --set eval_every="$every" \
        --seed "$seed" --budget-cost "$budget" --threads 1
    done
  done
}

start=$SECONDS
mkdir -p "$out"
# quadratic: h(λ) on every row costs a 1024×100 inner solve, so rows are 4× sparser (eval_mult); cleaning: h(λ)
# costs 200–300 gradients and 100 HVPs on the whole training set, so the single-loop solvers' rows are 4× sparser
# (about 10 rows per run instead of 40: they dominated --quick's time), and without --quick (3× the budget and 4–20×
# the examples) every method's rows are 3× sparser again (cln_eval_mult).
# quadratic: one more decade at the top (its runs are cheap; with five points StocBiO's, AmIGO's and F2SA's winners
# sat on the top edge).
grid_base=("${grid[@]}")
grid+=("$((${grid[-1]} * 10))")
eval_mult=4 queue_grid quadratic "$quad_budget" "$quad_lr" "$quad_batch" "$quad_obatch" "${quad[@]}"
grid=("${grid_base[@]}")
queue_grid logreg-l2 "$lr2_budget" "$lr2_lr" "$lr2_batch" "$lr2_obatch" "${lr2[@]}"
eval_mult=$cln_eval_mult sl_eval_mult=4 queue_grid cleaning "$cln_budget" "$cln_lr" "$cln_batch" "$cln_obatch" "${cln[@]}"
run_queue
eval_mult=4 queue_seeds quadratic "$quad_budget" "$quad_batch" "$quad_obatch" "${quad[@]}"
queue_seeds logreg-l2 "$lr2_budget" "$lr2_batch" "$lr2_obatch" "${lr2[@]}"
eval_mult=$cln_eval_mult sl_eval_mult=4 queue_seeds cleaning "$cln_budget" "$cln_batch" "$cln_obatch" "${cln[@]}"
run_queue

# Warm state and SAGA memories across thread counts: saba on logreg-l2 with a meta-batch of 2 tasks (estimated in
# parallel) under --threads 1 and 2 must log the same curve.
for t in 1 2; do
  train_once "$out/threads/saba-$t" "${lr2[@]}" --method saba --set batch_size="$lr2_batch" \
    --set outer_batch_size="$lr2_obatch" --set meta_batch=2 \
    --set outer_lr="$lr2_lr" --set eval_every=10 --seed 1 --steps 60 --threads "$t"
done
elapsed=$((SECONDS - start))

# value_subopt by compare (h − h*, median and 20–80% band per method): its curves against cost feed the table, and
# its plots against cost and against estimator seconds. The grid's curves give the grid table (h* of the grid
# runs: the closed form on quadratic, else the best grid run).
for p in quadratic logreg-l2 cleaning; do
  [[ -d "$out/$p/runs" ]] || continue
  "$bin" compare "$out/$p/runs" --metric value_subopt --x cost --curves "$out/$p/value_subopt_vs_cost.csv" \
    >/dev/null 2>"$out/$p/compare.log"
  "$bin" compare "$out/$p/grid" --by method,outer_lr --metric value_subopt --x cost \
    --curves "$out/$p/grid_value_subopt.csv" >/dev/null 2>>"$out/$p/compare.log"
  "$bin" compare "$out/$p/runs" --metric value_subopt --x cost --logy --plot "$out/$p/value_subopt_vs_cost.svg" \
    >/dev/null 2>>"$out/$p/compare.log" || echo "no plot for $p (gnuplot?)" >&2
  "$bin" compare "$out/$p/runs" --metric value_subopt --x seconds --logy --plot "$out/$p/value_subopt_vs_seconds.svg" \
    >/dev/null 2>>"$out/$p/compare.log" || true
done
python3 "$here/table.py" report "$out" "$elapsed" "$(uptime | sed 's/.*load average: //')"
echo "tables: $out/grid.md, $out/table.md; plots: $out/*/value_subopt_vs_{cost,seconds}.svg ($elapsed s)"
