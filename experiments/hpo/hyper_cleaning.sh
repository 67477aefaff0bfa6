#!/usr/bin/env bash
# Data hyper-cleaning on MNIST (hyper_cleaning.toml: 5000 training examples, 50% corrupted labels, 5000 clean
# validation examples, 10000 test): every hypergradient estimator at the same budget of gradient evaluations +
# Hessian-vector products, 3 seeds. A seed fixes the instance (which examples form the subsets and which are
# corrupted: instance_seed) and the estimator's randomness (--seed). Prints a markdown table — mean ± std over
# the seeds of test accuracy, F1/precision/recall of flagging the corrupted examples (weight σ(λᵢ) < ½), the
# estimator's seconds per outer step and the wall time of a run — with the uniform-weights and clean-only
# oracle baselines (same inner training) beside it.
#
# Usage: experiments/hpo/hyper_cleaning.sh [OUT_DIR]      (29 minutes on 2 cores shared at load average ≈ 10: RESULTS.md)
#   BUDGET (default 2500): cost (gradient evaluations + HVPs) per run; JOBS (default 2) runs at a time; DATASET=fashion for
#   Fashion-MNIST. Needs the data: `make data`. Rerunning skips finished runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../common.sh"
source "$here/lib.sh"
dataset="${DATASET:-mnist}"
out="${1:-runs/hyper-cleaning-$dataset}"
budget=${BUDGET:-2500}
seeds=(${SEEDS:-1 2 3})

# prefix | label | train arguments
methods=(
  "fo|fo|--method fo"
  "exact|exact|--method exact"
  "tbptt|tbptt k=10|--method tbptt --set k=10"
  "ift-cg|ift-cg 20 iters|--method ift-cg --set cg_iters=20"
  "ift-neumann|ift-neumann 20 terms|--method ift-neumann --set neumann_iters=20"
  "ufo|ufo q=0.1|--method ufo --set q=0.1"
  "sgld|sgld two-pass (2 chains, 50 burn-in, 10 samples)|--method sgld --set variant=two-pass --set chains=2 --set burn_in=50 --set samples=10"
)

start=$SECONDS
mkdir -p "$out"
queue_methods "$out" "$here/hyper_cleaning.toml"
elapsed=$((SECONDS - start))

{
  echo "Hyper-cleaning on $dataset, 50% corrupted labels: cost budget $budget (gradient evaluations + HVPs) per run, seeds ${seeds[*]} (mean ± std)."
  echo
  echo "| method | outer steps | test acc (%) | F1 | precision | recall | s / outer step | wall s / run |"
  echo "|---|---|---|---|---|---|---|---|"
  first="$out/${methods[1]%%|*}"
  echo "| uniform weights (baseline) | – | $(mean_std 100 2 $(collect "$first" uniform_test_acc)) | – | – | – | – | – |"
  echo "| oracle: clean examples only | – | $(mean_std 100 2 $(collect "$first" oracle_test_acc)) | 1 | 1 | 1 | – | – |"
  echo "| λ₀ (all weights ½, before tuning) | – | $(mean_std 100 2 $(collect "$first" test_acc row0)) | – | – | – | – | – |"
  for m in "${methods[@]}"; do
    IFS='|' read -r prefix label args <<<"$m"
    p="$out/$prefix"
    echo "| $label | $(mean_std 1 0 $(collect "$p" steps)) | $(mean_std 100 2 $(collect "$p" test_acc)) |" \
      "$(mean_std 1 3 $(collect "$p" f1)) | $(mean_std 1 3 $(collect "$p" precision)) | $(mean_std 1 3 $(collect "$p" recall)) |" \
      "$(mean_std 1 2 $(per_step "$p")) | $(mean_std 1 0 $(collect "$p" wall_seconds)) |"
  done
  echo
  echo "Script wall time: ${elapsed} s with $JOBS runs in parallel on $(nproc) cores."
  bad=$(failed_runs "$out")
  [[ -z $bad ]] || printf '\nRuns that did not finish ok:\n%s\n' "$bad"
} | tee "$out/table.md"
