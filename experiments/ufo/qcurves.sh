#!/usr/bin/env bash
# UFOM q-curves: |M'(θ_k)| against cumulative cost for q ∈ {0 (FOM), q* = 0.110, 1 (exact)} on the
# q-curve toy (A = 400, α = 0.01, b = (0, 10)), every method given the same budget of gradient
# evaluations (the cost of 20000 FOM steps). 20 seeds (starting points x0 ~ U(−50, 50)).
# Usage: experiments/ufo/qcurves.sh [OUT_DIR]     (about 1 minute)
set -euo pipefail
source "$(dirname "$0")/../common.sh"
out="${1:-runs/ufo-qcurves}"
budget=220000   # 20000 steps × (r + 1) gradient evaluations
for seed in $(seq 1 20); do
  train_once "$out/q0-$seed" --problem ufo-qcurve --method fo --budget-cost $budget --seed "$seed" --set log_every=20
  train_once "$out/qstar-$seed" --problem ufo-qcurve --method ufo --set q=0.110 --budget-cost $budget --seed "$seed" --set log_every=20
  train_once "$out/q1-$seed" --problem ufo-qcurve --method ufo --set q=1 --budget-cost $budget --seed "$seed" --set log_every=20
done
"$bin" compare "$out" --by method,method_options.q --metric abs_dM --x cost --logy --plot "$out/qcurves.svg"
