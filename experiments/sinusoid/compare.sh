#!/usr/bin/env bash
# Sinusoid few-shot regression (MAML's benchmark): fo vs exact vs ufo (q = 0.1 and adaptive) vs reptile at an
# equal cost budget (gradient evaluations + HVPs), 3 seeds. Metric: post-adaptation query MSE on
# 100 fixed evaluation tasks (test_mse); a randomly initialised network adapted the same way is step 0.
# Usage: experiments/sinusoid/compare.sh [OUT_DIR]     (about 5 minutes on 2 cores)
set -euo pipefail
source "$(dirname "$0")/../common.sh"
out="${1:-runs/sinusoid}"
budget=${BUDGET:-400000}
threads=${THREADS:-2}
common=(--problem sinusoid --budget-cost "$budget" --threads "$threads" --set eval_every=250)
for seed in 1 2 3; do
  train_once "$out/fo-$seed" "${common[@]}" --method fo --seed "$seed"
  train_once "$out/exact-$seed" "${common[@]}" --method exact --seed "$seed"
  train_once "$out/ufo-$seed" "${common[@]}" --method ufo --set q=0.1 --seed "$seed"
  train_once "$out/ufo-adaptive-$seed" "${common[@]}" --method ufo --set q=adaptive --seed "$seed"
  train_once "$out/reptile-$seed" "${common[@]}" --method reptile --seed "$seed"
done
"$bin" compare "$out" --by method,method_options.q --metric test_mse --x cost --plot "$out/test_mse.svg"
