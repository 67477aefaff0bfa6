#!/usr/bin/env bash
# The README's main job: a small, complete estimator comparison on problems that need no download.
#   1. the UFOM counterexample: fo vs ufo (q = 0.1, adaptive) vs exact, 3 seeds, equal gradient-evaluation budget;
#   2. quadratic HPO: fo vs ufo vs exact vs ift-cg vs HPO-SGLD (one-step, cov) vs random search, 3 seeds, equal
#      budget;
#   3. sinusoid MAML meta-learning: fo vs ufo (q = 0.1) vs exact, 3 seeds, equal budget.
# Each part is a sweep (experiments/demo/*.toml) then a compare: a table of final metrics and a plot of the
# learning curves against cost = gradient evaluations + HVPs (median and interquartile band over seeds).
# Usage: experiments/demo.sh [OUT_DIR]      (default runs/demo; rerunning resumes and redraws)
set -euo pipefail
source "$(dirname "$0")/common.sh"
out="${1:-runs/demo}"
mkdir -p "$out"
start=$SECONDS

sweep() {  # sweep SPEC DIR: resumable, so a rerun (or an interrupted demo) only runs what is missing
  local rc=0
  "$bin" sweep "$root/experiments/demo/$1" --out "$2" --jobs 2 --threads 2 --resume --quiet || rc=$?
  if [[ $rc -ne 0 ]]; then echo "sweep $1 ended with exit code $rc (see $2/index.md)" >&2; exit "$rc"; fi
}
compare() {  # compare DIR METRIC [compare args…]: the table, then the plot (the table alone without gnuplot)
  local dir="$1" metric="$2"
  shift 2
  local rc=0
  "$bin" compare "$dir" --metric "$metric" --x cost --plot "$dir/$metric.svg" "$@" || rc=$?
  if [[ $rc -eq 3 ]]; then echo "(no plot: gnuplot is missing; the curves are in $dir/$metric.csv)"
  elif [[ $rc -ne 0 ]]; then exit "$rc"; fi
}

echo "== 1. UFOM counterexample (ufo-counterexample): FOM stalls at θ_FO ≈ 5.759 with |M'| ≈ 0.346;"
echo "==    unbiased estimators reach θ* ≈ 2.840, |M'| → 0. Cost budget 100000 (grads + HVPs), seeds 1-3."
sweep counterexample.toml "$out/counterexample"
compare "$out/counterexample" abs_dM --by method,q --logy
echo
echo "== 2. Quadratic HPO (quadratic, dim 10, r = 20): val_loss = L_V(θ_r(λ)) at a cost of 100000 (grads + HVPs),"
echo "==    seeds 1-3. HPO-SGLD optimises E_p[L_V] under the Gibbs law (τ = 0.001). Baseline: random search,"
echo "==    λ ~ U[-6, 3]^10 (the first candidate is the start λ = 0), each candidate one inner solve (21)."
sweep quadratic.toml "$out/quadratic"
for seed in 1 2 3; do
  search_once "$out/quadratic/random-search/seed=$seed" --problem quadratic --budget-cost 100000 --seed "$seed" \
    --set low=-6 --set high=3 --set log_every=5 --set eval_every=5
done
compare "$out/quadratic" val_loss --by method,q,variant --logy
echo
echo "== 3. Sinusoid MAML (sinusoid, K = 10, r = 5, meta-batch 25): test_mse after adaptation on 100 fixed tasks,"
echo "==    cost 300000 (grads + HVPs), seeds 1-3."
sweep sinusoid.toml "$out/sinusoid"
compare "$out/sinusoid" test_mse --by method,q --logy
echo
echo "demo finished in $((SECONDS - start)) s; plots: $out/counterexample/abs_dM.svg, $out/quadratic/val_loss.svg,"
echo "$out/sinusoid/test_mse.svg"
echo "(run directories under $out/*/runs; see README.md, 'Run directory')"
