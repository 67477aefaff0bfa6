#!/usr/bin/env bash
# Meta-learned Siren initialisation for 14×14 MNIST digits (inr.toml): every applicable estimator at the same budget
# of gradient evaluations + HVPs, 3 seeds (a seed fixes the random initialisation of the baseline and the tasks drawn).
# ift-cg and ift-neumann do not apply (λ is the initialisation, not in L_T). Prints a markdown table: mean ± std over
# the seeds of the PSNR on 20 held-out digits after 5 GD steps from the learned initialisation, before any step, and
# wall time; the Siren random initialisation (the same 5 steps) beside them.
#
# Usage: experiments/apps/inr.sh [OUT_DIR]    BUDGET (default 2200), JOBS (default 2), SEEDS.
# Scale: 14×14 digits and a 2-32-32-1 Siren; the reference's setting is MISSING (README "Applications").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../common.sh"
source "$here/../hpo/lib.sh"
dataset="${DATASET:-mnist}"
out="${1:-runs/apps-inr-$dataset}"
budget=${BUDGET:-2200}
seeds=(${SEEDS:-1 2 3})

methods=(
  "fo|fo (FOMAML)|--method fo"
  "exact|exact (MAML)|--method exact"
  "tbptt|tbptt k=2|--method tbptt --set k=2"
  "ufo|ufo q=0.1|--method ufo --set q=0.1"
  "reptile|reptile|--method reptile"
  "sgld-pathwise|sgld pathwise (2 chains, 5 burn-in, 1 sample, N = 196)|--method sgld --set variant=pathwise --set chains=2 --set burn_in=5 --set samples=1 --set data_n=196"
  "sgld-two-pass|sgld two-pass (2 chains, 5 burn-in, 1 sample, N = 196)|--method sgld --set variant=two-pass --set chains=2 --set burn_in=5 --set samples=1 --set data_n=196"
)

start=$SECONDS
mkdir -p "$out"
queue_methods "$out" "$here/inr.toml"
elapsed=$((SECONDS - start))

{
  echo "INR meta-learning on $dataset (14×14): cost budget $budget (gradient evaluations + HVPs) per run, seeds ${seeds[*]} (mean ± std)."
  echo
  echo "| method | outer steps | PSNR after 5 steps (dB) | PSNR before (dB) | wall s / run |"
  echo "|---|---|---|---|---|"
  first="$out/${methods[1]%%|*}"
  echo "| random Siren init (baseline) | – | $(mean_std 1 2 $(collect "$first" psnr_random_init)) | – | – |"
  for m in "${methods[@]}"; do
    IFS='|' read -r prefix label args <<<"$m"
    p="$out/$prefix"
    echo "| $label | $(mean_std 1 0 $(collect "$p" steps)) | $(mean_std 1 2 $(collect "$p" psnr)) |" \
      "$(mean_std 1 2 $(collect "$p" psnr_preadapt)) | $(mean_std 1 0 $(collect "$p" wall_seconds)) |"
  done
  echo
  echo "Script wall time: ${elapsed} s with $JOBS runs in parallel on $(nproc) cores (load average $(cut -d' ' -f1 /proc/loadavg) at the end)."
  bad=$(failed_runs "$out")
  [[ -z $bad ]] || printf '\nRuns that did not finish ok:\n%s\n' "$bad"
} | tee "$out/table.md"
