#!/usr/bin/env bash
# The stability study: is HPO-SGLD "considerably more reliable" than unrolled and implicit hypergradients, which
# "often exhibit unstable behavior and hyperparameter sensitivity" (reference hpo-sgld.md §6)? For each estimator
# a sweep over its own sensitive settings on log grids, 5 seeds per grid point (a seed changes the estimator's
# randomness and the problem instance), on toy-multimin, hyper-cleaning and hpo-l2 (both on the digits table):
#
#   fo            inner lr α × inner steps r          exact   α × r
#   ift-cg        CG iterations × r                    ift-neumann   Neumann terms × α (the series step)
#   sgld          (two-pass) step η × temperature τ
#
# Per problem and estimator it reports the fraction of diverged runs (counted, never dropped: the denominators
# are the full grid × seeds), the fraction that ended worse than they started, the median and IQR of the final
# validation loss over the whole grid × seeds, the best and the median setting; and plots of the final validation
# loss against each setting. The final λ of every run is judged by one fixed protocol per problem (its default
# inner lr and steps, via `bilevel-opt eval`); stability.py has the definitions.
#
#   bash experiments/stability/stability.sh [--quick] [OUT_DIR]
#
# --quick: the two ends of every grid and half the outer steps (still 5 seeds): 300 runs. Full: 3 × 3 grids,
# 675 runs. (Wall times: README "Stability".) Environment: BUILD_DIR (build/release), DATA_DIR (data), JOBS (2).
# Rerunning continues the sweeps (sweep --resume). Writes OUT/table.md, OUT/runs.csv, OUT/summary.json and
# OUT/plots/<problem>.png (+ the gnuplot script beside it).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../benchmarks/common.sh"
quick=""
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick="--quick" ;;
    -*) echo "stability.sh: unknown option $1 (use [--quick] [OUT_DIR])" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
out="${out:-$build/stability${quick:+-quick}}"
jobs="${JOBS:-2}"
bench_build stability.sh bilevel-opt
bin="$build/bilevel-opt"
export BILEVEL_DATA="$data"
here="$root/experiments/stability"
mkdir -p "$out"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== stability study${quick:+ (quick)}: load average $load0" >&2
start=$SECONDS
"$py" "$here/stability.py" specs "$out" $quick
for spec in "$out"/specs/*.toml; do
  name="$(basename "$spec" .toml)"
  resume=()
  [[ -f "$out/$name/index.json" ]] && resume=(--resume)
  echo "== $name" >&2
  # Exit 1 (some run failed) and 4 (some diverged) are results of the study, not errors of the script.
  rc=0
  nice "$bin" sweep "$spec" --out "$out/$name" --jobs "$jobs" "${resume[@]}" --quiet || rc=$?
  if [[ $rc -ne 0 && $rc -ne 1 && $rc -ne 4 ]]; then
    echo "stability.sh: sweep $name exited with code $rc" >&2
    exit "$rc"
  fi
  # The fixed evaluation protocol of the problem (stability.py): every finished run's final λ, judged alike.
  read -r -a eval_args <<<"$("$py" "$here/stability.py" eval-args "${name%%__*}")"
  for run in "$out/$name"/runs/*/; do
    [[ -f "$run/result.json" && ! -f "$run/eval_fixed.json" ]] || continue
    nice "$bin" eval "$run" "${eval_args[@]}" --format json --out "$run/eval_fixed.json" >/dev/null 2>&1 ||
      echo "stability.sh: eval of $run failed (counted as failed)" >&2
  done
done
elapsed=$((SECONDS - start))
"$py" "$here/stability.py" report "$out" \
  "Stability study$([[ -n $quick ]] && echo ' (--quick: grid ends, half the outer steps)'): per problem and estimator, every run of its grid × 5 seeds; diverged and failed runs count as +∞ in every median, quantile and ranking." \
  "" \
  "Wall time ${elapsed} s with $jobs runs at a time on $(nproc) cores; load average $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end." \
  ""
