#!/usr/bin/env bash
# Before/after against PyTorch on a loaded machine: two builds of bench_vs_torch (BASE = before, BUILD_DIR =
# after) and PyTorch, run one after the other within each round, so that all three see the same load. Prints
# one line per run: median process-CPU and wall seconds per outer step, and the 1-minute load average.
#
#   BASE=/path/to/old/build bash experiments/benchmarks/ab_vs_torch.sh [--rounds N] [--only REGEX] [--threads T]
#
# Workloads: the single-task HPO rows of run_vs_torch.sh (hpo-l2 exact and ift-cg r = 20, hyper-cleaning exact
# T = 50, hpo-l2 sgld one-step 8 × 200). The PyTorch instances are exported by the after build's bench_vs_torch
# (the same subsets either way) and checked first (torch_ref.py check, tolerance 1e-4); nothing is timed if a
# check fails. BASE must hold a built bench_vs_torch (e.g. a copy of build/release made before a change).
# Environment: BUILD_DIR (default build/release), DATA_DIR, OUT (default $BUILD_DIR/ab_vs_torch), PYTHON.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
base="${BASE:?set BASE to the directory holding the before build of bench_vs_torch}"
out="${OUT:-$build/ab_vs_torch}"
rounds=3
only=""
th=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --only) only="$2"; shift ;;
    --threads) th="$2"; shift ;;
    *) echo "ab_vs_torch: unknown option $1 (use --rounds N, --only REGEX, --threads T)" >&2; exit 2 ;;
  esac
  shift
done
[[ -x "$base/bench_vs_torch" ]] || { echo "ab_vs_torch: no bench_vs_torch in $base" >&2; exit 2; }
bench_build ab_vs_torch.sh bench_vs_torch
mkdir -p "$out"
ref="$root/experiments/benchmarks/torch_ref.py"
"$build/bench_vs_torch" hpo-l2 --out "$out/inst_hpo" --set inner_steps=20 --set "data_dir=$data" --chains 2 --samples 20 >/dev/null
"$py" "$ref" check "$out/inst_hpo"
"$build/bench_vs_torch" hyper-cleaning --out "$out/inst_hc" --set "data_dir=$data" >/dev/null
"$py" "$ref" check "$out/inst_hc"

d="--set data_dir=$data --set verify_checksums=false"
# name | bench_vs_torch time args | torch_ref args | instance | warmup | steps
workloads=(
  "hpo-exact-r20|--problem hpo-l2 --method exact --set inner_steps=20 $d|hpo-exact --set r=20|inst_hpo|2|10"
  "hpo-iftcg-r20|--problem hpo-l2 --method ift-cg --set inner_steps=20 $d|hpo-iftcg --set r=20|inst_hpo|2|10"
  "hc-exact-t50|--problem hyper-cleaning --method exact $d|hc-exact|inst_hc|1|3"
  "hpo-sgld-8x200|--problem hpo-l2 --method sgld --set variant=one-step --set chains=8 --set burn_in=0 --set samples=200 $d|hpo-sgld --set chains=8 --set samples=200|inst_hpo|0|1"
)
line() {
  "$py" -c 'import json, statistics as s, sys
d = json.load(sys.stdin)
print("%-16s %-6s cpu %9.2f ms  wall %9.2f ms  load %s" % (sys.argv[1], sys.argv[2], 1e3 * s.median(d["step_cpu_seconds"]),
      1e3 * s.median(d["step_seconds"]), open("/proc/loadavg").read().split()[0]))' "$@"
}
for w in "${workloads[@]}"; do
  IFS='|' read -r name bargs targs inst warm steps <<<"$w"
  [[ -n "$only" && ! "$name" =~ $only ]] && continue
  for ((k = 1; k <= rounds; ++k)); do
    # shellcheck disable=SC2086
    "$base/bench_vs_torch" time $bargs --seed $k --warmup "$warm" --steps "$steps" --threads "$th" | line "$name" before
    # shellcheck disable=SC2086
    "$build/bench_vs_torch" time $bargs --seed $k --warmup "$warm" --steps "$steps" --threads "$th" | line "$name" after
    # shellcheck disable=SC2086
    OMP_NUM_THREADS="$th" OPENBLAS_NUM_THREADS="$th" "$py" "$ref" time $targs --threads "$th" --warmup "$warm" \
      --steps "$steps" --seed $k --data "$out/$inst" | line "$name" torch
  done
done
