#!/usr/bin/env bash
# 2 threads against 1 on meta-batches: sinusoid exact / fo / ufo (r = 1 and 5, meta-batch 25 tasks estimated in
# parallel with oneTBB) through `bench_vs_torch time` (the outer loop of `bilevel-opt train`), 1 and 2
# threads alternating for ROUNDS rounds of STEPS timed outer steps each. Prints per workload the median wall
# time per outer step at each thread count, the speed-up, the extra CPU time the second thread costs, and how
# much slower the tasks themselves run (task time: each task's estimate timed, summed over the meta-batch).
# First checks that the machine can give two cores: two busy loops side by side must run about as fast as
# one (a shared VM often cannot; then the speed-up measures the neighbours, and the script says so).
# SGLD chains: experiments/sgld/thread_scaling.sh.
#
#   bash experiments/benchmarks/threads.sh        (about 2 minutes)
# Also the single-task workloads hpo-l2 exact r = 20 and hyper-cleaning exact T = 50, whose second thread
# works inside the split matrix products, and few-shot Conv4 fo / exact (5-way 1-shot, r = 5, meta-batch 5: whole
# tasks per thread, so at most 5/3).
# Environment: BUILD_DIR (default build/release), DATA_DIR (default data), ROUNDS (5), STEPS (200, sinusoid),
# HPO_STEPS (20), HC_STEPS (3), FS_STEPS (20 for fo; exact takes 8 unless set), ONLY (regex of workload names,
# e.g. ONLY='hpo.*|hc.*').
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
rounds="${ROUNDS:-5}"
steps="${STEPS:-200}"
bench_build threads.sh bench_vs_torch

spin() { "$py" -c 'import time
t = time.time(); x = 0
for i in range(5000000): x += i
print(time.time() - t)'; }
one="$(spin)"
two="$( (spin & spin; wait) | sort -n | tail -1)"
contention="$("$py" -c "print(f'{$two / $one:.2f}')")"
echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); two busy loops side by side take ${contention}x as long as one"
if "$py" -c "import sys; sys.exit(0 if $two / $one < 1.15 else 1)"; then :; else
  echo "   (the machine cannot give two full cores now: the speed-ups below are bounded by that)"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# name | bench_vs_torch time arguments | timed steps per run (sinusoid: STEPS). hpo-l2 and hyper-cleaning are one
# task each: their second thread works inside the matrix products (split into fixed row blocks).
d="--set data_dir=$data --set verify_checksums=false"
workloads=("sin-exact-r1|--problem sinusoid --method exact --set inner_steps=1|$steps"
           "sin-fo-r1|--problem sinusoid --method fo --set inner_steps=1|$steps"
           "sin-ufo-r1|--problem sinusoid --method ufo --set q=0.1 --set inner_steps=1|$steps"
           "sin-exact-r5|--problem sinusoid --method exact --set inner_steps=5|$steps"
           "sin-fo-r5|--problem sinusoid --method fo --set inner_steps=5|$steps"
           "sin-ufo-r5|--problem sinusoid --method ufo --set q=0.1 --set inner_steps=5|$steps"
           "hpo-exact-r20|--problem hpo-l2 --method exact --set inner_steps=20 $d|${HPO_STEPS:-20}"
           "hc-exact-t50|--problem hyper-cleaning --method exact $d|${HC_STEPS:-3}"
           "fs-fo-r5|--problem fewshot --method fo --set inner_steps=5 --set eval_tasks=1 --set data_dir=$data|${FS_STEPS:-20}"
           "fs-exact-r5|--problem fewshot --method exact --set inner_steps=5 --set eval_tasks=1 --set data_dir=$data|${FS_STEPS:-8}")
[[ -n "${ONLY:-}" ]] && mapfile -t workloads < <(printf '%s\n' "${workloads[@]}" | grep -E "^(${ONLY})\|")
printf '| workload | 1 thread (ms/step) | 2 threads (ms/step) | speed-up | CPU(2)/CPU(1) | task time(2)/task time(1) |\n|---|---|---|---|---|---|\n'
for w in "${workloads[@]}"; do
  IFS='|' read -r name args nsteps <<<"$w"
  for ((k = 0; k < rounds; ++k)); do
    for th in 1 2; do
      # shellcheck disable=SC2086
      "$build/bench_vs_torch" time $args --threads "$th" --warmup 2 \
        --steps "$nsteps" --seed $((k + 1)) >"$tmp/$name.$th.$k.json"
    done
  done
  "$py" - "$tmp" "$name" "$rounds" <<'PY'
import json, statistics, sys
tmp, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(th):
    w, c, b = [], [], []
    for k in range(rounds):
        d = json.load(open(f"{tmp}/{name}.{th}.{k}.json"))
        w.append(statistics.median(d["step_seconds"]))
        c.append(statistics.median(d["step_cpu_seconds"]))
        b.append(statistics.median(d["step_task_seconds"]))
    return w, c, b
w1, c1, b1 = load(1)
w2, c2, b2 = load(2)
m1, m2 = statistics.median(w1), statistics.median(w2)
fmt = lambda xs: " / ".join(f"{1e3 * x:.2f}" for x in xs)
print(f"| {name} | {fmt(w1)} | {fmt(w2)} | **{m1 / m2:.2f}×** (per round {min(a / b for a, b in zip(w1, w2)):.2f}–"
      f"{max(a / b for a, b in zip(w1, w2)):.2f}) | {statistics.median(c2) / statistics.median(c1):.2f} | "
      f"{statistics.median(b2) / statistics.median(b1):.2f} |")
PY
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
