#!/usr/bin/env bash
# Time per outer step of each estimator on hyper-cleaning (hyper_cleaning.toml, seed 1, the same arguments
# as hyper_cleaning.sh): one run at a time, each with --threads 2, so a run has both cores to itself (as far
# as other load allows). Prints the load average around every run, then a table.
#
# Usage: experiments/hpo/timing.sh [OUT_DIR]      (about 2 minutes on 2 cores at load average ≈ 5)
#   DATASET=fashion for Fashion-MNIST; THREADS (default 2). Needs the data: `make data`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../common.sh"
source "$here/lib.sh"
dataset="${DATASET:-mnist}"
out="${1:-runs/hyper-cleaning-timing-$dataset}"
threads=${THREADS:-2}
methods=(
  "fo|--method fo"
  "exact|--method exact"
  "tbptt|--method tbptt --set k=10"
  "ift-cg|--method ift-cg --set cg_iters=20"
  "ift-neumann|--method ift-neumann --set neumann_iters=20"
  "ufo|--method ufo --set q=0.1"
  "sgld|--method sgld --set variant=two-pass --set chains=2 --set burn_in=50 --set samples=10"
)
mkdir -p "$out"
for m in "${methods[@]}"; do
  IFS='|' read -r prefix args <<<"$m"
  echo "$prefix: load average before $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  # shellcheck disable=SC2086
  "$bin" train --config "$here/hyper_cleaning.toml" $args --set dataset="$dataset" --seed 1 --set instance_seed=1 \
    --budget-cost 2500 --threads "$threads" --out "$out/$prefix-1" --force --quiet ||
    echo "run $out/$prefix-1 ended with exit code $?" >&2
  echo "$prefix: load average after $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
{
  echo "Hyper-cleaning on $dataset, seed 1, one run at a time with --threads $threads."
  echo
  echo "| estimator | outer steps | s / outer step | wall s / run | test acc (%) | F1 |"
  echo "|---|---|---|---|---|---|"
  for m in "${methods[@]}"; do
    prefix="${m%%|*}"
    f="$out/$prefix-1/result.json"
    [[ -f $f ]] || { echo "| $prefix | – | – | – | – | – |"; continue; }
    awk -v p="$prefix" -v n="$(num "$f" steps)" -v s="$(num "$f" seconds)" -v w="$(num "$f" wall_seconds)" \
      -v a="$(num "$f" test_acc)" -v f1="$(num "$f" f1)" \
      'BEGIN { printf "| %s | %d | %.2f | %.1f | %.2f | %.3f |\n", p, n, s / n, w, 100 * a, f1 }'
  done
} | tee "$out/table.md"
