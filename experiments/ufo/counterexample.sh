#!/usr/bin/env bash
# UFOM counterexample: FOM-SGD stalls at θ_FO = 5.7589 with |M'| = 0.3464, UFOM (q = 0.1) and the exact
# hypergradient reach the stationary point θ* = 2.8403. 5 seeds × 10000 steps, γ_k = 10/(k+1).
# Usage: experiments/ufo/counterexample.sh [OUT_DIR]     (about 10 s)
set -euo pipefail
source "$(dirname "$0")/../common.sh"
out="${1:-runs/ufo-counterexample}"
for seed in 1 2 3 4 5; do
  train_once "$out/fo-$seed" --problem ufo-counterexample --method fo --steps 10000 --seed "$seed"
  train_once "$out/ufo-$seed" --problem ufo-counterexample --method ufo --set q=0.1 --steps 10000 --seed "$seed"
  train_once "$out/exact-$seed" --problem ufo-counterexample --method exact --steps 10000 --seed "$seed"
done
"$bin" compare "$out" --by method --metric abs_dM --x step --plot "$out/abs_dM.svg"
