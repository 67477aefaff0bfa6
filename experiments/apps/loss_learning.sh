#!/usr/bin/env bash
# Loss-function learning on MNIST with 40% symmetric label noise (loss_learning.toml): every applicable estimator at
# the same budget of gradient evaluations + HVPs, 3 seeds (a seed fixes the instance — subsets and flipped labels —
# and the estimator's randomness). Prints a markdown table: mean ± std over the seeds of the clean test accuracy of a
# fresh model trained from scratch with the learned loss, the learned loss's CE weight, temperature, smoothing and
# PolyLoss coefficients c₁, c₂, and wall time; the cross-entropy baseline (the same fresh model trained the same way with plain CE),
# also early-stopped at its lowest clean validation loss, beside them.
#
# Usage: experiments/apps/loss_learning.sh [OUT_DIR]    BUDGET (default 3000), JOBS (default 2), SEEDS, DATASET=fashion.
# Scale: 500 training examples and a linear model, far below the paper's (MISSING) setting; see README "Applications".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../common.sh"
source "$here/../hpo/lib.sh"
dataset="${DATASET:-mnist}"
out="${1:-runs/apps-loss-learning-$dataset}"
budget=${BUDGET:-3000}
seeds=(${SEEDS:-1 2 3})

# prefix | label | train arguments
methods=(
  "fo|fo|--method fo"
  "exact|exact|--method exact"
  "tbptt|tbptt k=10|--method tbptt --set k=10"
  "ift-cg|ift-cg 20 iters|--method ift-cg --set cg_iters=20"
  "ift-neumann|ift-neumann 20 terms|--method ift-neumann --set neumann_iters=20"
  "ufo|ufo q=0.1|--method ufo --set q=0.1"
  "sgld-pathwise|sgld pathwise (2 chains, 30 burn-in, 5 samples)|--method sgld --set variant=pathwise --set chains=2 --set burn_in=30 --set samples=5"
  "sgld-two-pass|sgld two-pass (2 chains, 30 burn-in, 5 samples)|--method sgld --set variant=two-pass --set chains=2 --set burn_in=30 --set samples=5"
)

start=$SECONDS
mkdir -p "$out"
queue_methods "$out" "$here/loss_learning.toml"
elapsed=$((SECONDS - start))

{
  echo "Loss learning on $dataset, 40% symmetric label noise: cost budget $budget (gradient evaluations + HVPs) per run, seeds ${seeds[*]} (mean ± std)."
  echo
  echo "| method | outer steps | test acc (%), fresh model | val loss | CE weight | temperature | smoothing ε | c₁ | c₂ | wall s / run |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  first="$out/${methods[1]%%|*}"
  echo "| cross-entropy (baseline) | – | $(mean_std 100 2 $(collect "$first" ce_test_acc)) | – | 1 | 1 | 0 | 0 | 0 | – |"
  echo "| cross-entropy, early-stopped on the clean validation loss | – | $(mean_std 100 2 $(collect "$first" ce_early_stop_test_acc)) | – | 1 | 1 | 0 | 0 | 0 | – |"
  echo "| λ₀ (CE, ε = 3e-4; before tuning) | – | $(mean_std 100 2 $(collect "$first" test_acc row0)) | $(mean_std 1 3 $(collect "$first" val_loss row0)) | 1 | 1 | 0.000 | 0 | 0 | – |"
  for m in "${methods[@]}"; do
    IFS='|' read -r prefix label args <<<"$m"
    p="$out/$prefix"
    echo "| $label | $(mean_std 1 0 $(collect "$p" steps)) | $(mean_std 100 2 $(collect "$p" test_acc)) |" \
      "$(mean_std 1 3 $(collect "$p" val_loss)) | $(mean_std 1 2 $(collect "$p" ce_weight)) |" \
      "$(mean_std 1 2 $(collect "$p" temperature)) | $(mean_std 1 3 $(collect "$p" smoothing)) |" \
      "$(mean_std 1 2 $(collect "$p" poly_c01)) | $(mean_std 1 2 $(collect "$p" poly_c02)) | $(mean_std 1 0 $(collect "$p" wall_seconds)) |"
  done
  echo
  echo "Script wall time: ${elapsed} s with $JOBS runs in parallel on $(nproc) cores (load average $(cut -d' ' -f1 /proc/loadavg) at the end)."
  bad=$(failed_runs "$out")
  [[ -z $bad ]] || printf '\nRuns that did not finish ok:\n%s\n' "$bad"
} | tee "$out/table.md"
