#!/usr/bin/env bash
# Per-weight L2 on MNIST (hpo_l2.toml: logistic regression, 7850 weights each with its own log weight decay,
# 1000 training / 1000 validation / 10000 test images): every hypergradient estimator at the same budget of
# gradient evaluations + Hessian-vector products, 3 seeds; and, at the same total compute, a grid search over a
# single scalar weight decay — the non-gradient alternative. A seed fixes the instance (which images form the
# subsets, θ₀: instance_seed) and the estimator's randomness (--seed).
#
# Grid search: one training per grid point (r = 100 inner gradient evaluations, the same inner loop as every
# estimator), so the budget buys budget/(r + 1) points, log-spaced in λ ∈ [−12, −1] (weight decay 6e-6 … 0.37; above that α·e^λ;
# approaches 2 and the inner loop diverges); the point with the lowest validation loss is chosen and its test metrics reported. A grid point is a
# one-candidate `search --set decay=scalar --set lambda_init=λ` run whose first curve row is the evaluation of λ. Random
# search (`bilevel-opt search`, the same box, the same cost budget per seed) draws its candidates instead; it chooses by
# the outer loss of each candidate's inner solve, which here is the validation loss.
#
# Usage: experiments/hpo/hpo_l2.sh [OUT_DIR]      (33 minutes on 2 cores shared at load average ≈ 10: RESULTS.md)
#   BUDGET (default 6000): cost (gradient evaluations + HVPs) per run; JOBS (default 2) runs at a time; DATASET=fashion|digits.
#   Needs the data: `make data`. Rerunning skips finished runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../common.sh"
source "$here/lib.sh"
dataset="${DATASET:-mnist}"
out="${1:-runs/hpo-l2-$dataset}"
budget=${BUDGET:-6000}
seeds=(${SEEDS:-1 2 3})
inner_steps=100
grid_points=$((budget / (inner_steps + 1)))

methods=(
  "fo|fo|--method fo"
  "exact|exact|--method exact"
  "tbptt|tbptt k=20|--method tbptt --set k=20"
  "ift-cg|ift-cg 20 iters|--method ift-cg --set cg_iters=20"
  "ift-neumann|ift-neumann 20 terms|--method ift-neumann --set neumann_iters=20"
  "ufo|ufo q=0.1|--method ufo --set q=0.1"
  "sgld|sgld two-pass (2 chains, 100 burn-in, 10 samples)|--method sgld --set variant=two-pass --set chains=2 --set burn_in=100 --set samples=10"
)

start=$SECONDS
mkdir -p "$out"
queue_methods "$out" "$here/hpo_l2.toml"
for seed in "${seeds[@]}"; do
  for ((i = 0; i < grid_points; i++)); do
    lam=$(awk -v i="$i" -v n="$grid_points" 'BEGIN { printf "%.4f", -12 + 11 * i / (n > 1 ? n - 1 : 1) }')
    queue_search "$out/grid-$seed/point-$i" --config "$here/hpo_l2.toml" --set dataset="$dataset" \
      --set decay=scalar --set lambda_init="$lam" --set instance_seed="$seed" --seed "$seed" --steps 1 --threads 1
  done
  # Random search over the scalar decay at the same cost: candidates λ ~ U[−12, −1], the first the start λ.
  queue_search "$out/random-search-$seed" --config "$here/hpo_l2.toml" --set dataset="$dataset" --set decay=scalar \
    --set low=-12 --set high=-1 --set instance_seed="$seed" --seed "$seed" --budget-cost "$budget" --threads 1
done
run_queue
elapsed=$((SECONDS - start))

# Per seed: the grid point with the lowest validation loss (its run directory, found once per seed).
declare -A grid_dir
for s in "${seeds[@]}"; do
  best="" best_val=""
  for d in "$out/grid-$s"/point-*/; do
    [[ -f "$d/curve.jsonl" ]] || continue
    v=$(row0 "$d" val_loss)
    [[ $v == nan ]] && continue
    if [[ -z $best_val ]] || awk -v a="$v" -v b="$best_val" 'BEGIN { exit !(a < b) }'; then best_val=$v best=$d; fi
  done
  grid_dir[$s]=$best
done
grid_best() {  # grid_best SEED KEY: KEY of the chosen grid point (nothing when no point finished)
  [[ -z ${grid_dir[$1]} ]] || row0 "${grid_dir[$1]}" "$2"
}
grid_lambda() {  # the chosen λ per seed, as the weight decay exp(λ)
  local s
  for s in "${seeds[@]}"; do awk -v l="$(grid_best "$s" mean_decay)" 'BEGIN { printf "%.2g\n", l }'; done
}

{
  echo "Per-weight L2 (H = P = 7850) on $dataset, logistic regression, 1000 training images: cost budget $budget (gradient evaluations + HVPs) per run, seeds ${seeds[*]} (mean ± std)."
  echo
  echo "| method | outer steps | val loss | test loss | test acc (%) | s / outer step | wall s / run |"
  echo "|---|---|---|---|---|---|---|"
  first="$out/${methods[1]%%|*}"
  echo "| start: weight decay 0.01 everywhere | – | $(mean_std 1 4 $(collect "$first" val_loss row0)) | $(mean_std 1 4 $(collect "$first" test_loss row0)) | $(mean_std 100 2 $(collect "$first" test_acc row0)) | – | – |"
  g_val=() g_tl=() g_acc=()
  for s in "${seeds[@]}"; do
    g_val+=("$(grid_best "$s" val_loss)") g_tl+=("$(grid_best "$s" test_loss)") g_acc+=("$(grid_best "$s" test_acc)")
  done
  g_wall=()
  for s in "${seeds[@]}"; do g_wall+=("$(sum_key wall_seconds "$out/grid-$s"/point-*/result.json)"); done
  echo "| grid search, scalar decay ($grid_points points; chosen: $(grid_lambda | paste -sd/ -)) | – | $(mean_std 1 4 "${g_val[@]}") | $(mean_std 1 4 "${g_tl[@]}") | $(mean_std 100 2 "${g_acc[@]}") | – | $(mean_std 1 0 "${g_wall[@]}") (all points) |"
  rs="$out/random-search"
  rs_decay=$(for d in "$rs"-*/; do [[ -f $d/result.json ]] && awk -v l="$(num "$d/result.json" mean_decay)" 'BEGIN { printf "%.2g\n", l }'; done | paste -sd/ -)
  echo "| random search, scalar decay ($(mean_std 1 0 $(collect "$rs" steps)) candidates; chosen: $rs_decay) | – | $(mean_std 1 4 $(collect "$rs" val_loss)) | $(mean_std 1 4 $(collect "$rs" test_loss)) | $(mean_std 100 2 $(collect "$rs" test_acc)) | – | $(mean_std 1 0 $(collect "$rs" wall_seconds)) |"
  for m in "${methods[@]}"; do
    IFS='|' read -r prefix label args <<<"$m"
    p="$out/$prefix"
    echo "| $label | $(mean_std 1 0 $(collect "$p" steps)) | $(mean_std 1 4 $(collect "$p" val_loss)) |" \
      "$(mean_std 1 4 $(collect "$p" test_loss)) | $(mean_std 100 2 $(collect "$p" test_acc)) |" \
      "$(mean_std 1 2 $(per_step "$p")) | $(mean_std 1 0 $(collect "$p" wall_seconds)) |"
  done
  echo
  echo "Script wall time: ${elapsed} s with $JOBS runs in parallel on $(nproc) cores."
  bad=$(failed_runs "$out")
  [[ -z $bad ]] || printf '\nRuns that did not finish ok:\n%s\n' "$bad"
} | tee "$out/table.md"
