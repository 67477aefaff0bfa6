#!/usr/bin/env bash
# bilevel-opt against a PyTorch reference of the same workloads, on this machine, in one run.
#
#   bash experiments/benchmarks/run_vs_torch.sh [--quick] [--threads "1 2"] [--only REGEX]
#
# 1. Correctness first: bench_vs_torch exports seeded instances (sinusoid r = 1 and 5 with 4 tasks; fewshot
#    Conv4 5-way 1-shot r = 5 with 4 hanzi tasks (fo, exact); hpo-l2
#    r = 20 with its MNIST subsets, and an SGLD run with its Gaussian noise; hyper-cleaning on MNIST with its
#    corrupted labels, experiments/hpo/hyper_cleaning.toml's sizes: 5000 + 5000 examples, T = 50) and
#    bilevel-opt's hypergradients (fo, exact, ufo q = 0.1, exact, ift-cg, sgld one-step; exact); torch_ref.py recomputes each and the relative
#    difference max|Δ|/max|g| must be ≤ 1e-4. If any check fails, no timing is run (exit 1).
# 2. Timing: for each thread count and workload, bilevel-opt (`bench_vs_torch time`: the outer loop of
#    `bilevel-opt train` — meta-batch tasks or SGLD chains in parallel with oneTBB, Adam on λ) and PyTorch
#    alternate for ROUNDS rounds; each run does WARMUP untimed + STEPS timed outer steps. Reported: median
#    wall and process-CPU seconds per outer step over all timed steps, PyTorch / bilevel-opt, peak RSS, load.
#    On a loaded machine the CPU-time ratio is the robust one (wall time then mostly measures the
#    scheduler's share); thread speed-ups can only be read from wall time, so need a quiet machine.
#
# Environment: BUILD_DIR (default build/release; configured as float Release and the two targets built if
# needed), DATA_DIR (default data), OUT (default $BUILD_DIR/vs_torch), ROUNDS (3), PYTHON (/usr/bin/python3).
# Needs python3-torch (apt-get install python3-torch). Writes $OUT/results.jsonl and $OUT/table.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
out="${OUT:-$build/vs_torch}"
rounds="${ROUNDS:-3}"
threads_list="1 2"
only=""
quick=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; rounds="${ROUNDS:-2}" ;;
    --threads) threads_list="$2"; shift ;;
    --only) only="$2"; shift ;;
    *) echo "run_vs_torch: unknown option $1 (use --quick, --threads \"1 2\", --only REGEX)" >&2; exit 2 ;;
  esac
  shift
done

if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "run_vs_torch: $py cannot import torch; install it with: apt-get install -y python3-torch" >&2
  exit 2
fi
bench_build run_vs_torch bilevel-opt bench_vs_torch
bin="$build/bilevel-opt"
mkdir -p "$out"
ref="$root/experiments/benchmarks/torch_ref.py"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; g++ $(g++ -dumpfullversion 2>/dev/null);" \
  "torch $("$py" -c 'import torch; print(torch.__version__)'); load average $(load)"

# ------------------------------------------------------------------------------ 1. correctness
echo "== correctness: hypergradient of bilevel-opt vs PyTorch on shared seeded instances (tolerance 1e-4)"
ok=1
checks="$out/checks.jsonl"
: >"$checks"
for r in 1 5; do
  "$build/bench_vs_torch" sinusoid --out "$out/inst_sin_r$r" --tasks 4 --set inner_steps=$r
  "$py" "$ref" check "$out/inst_sin_r$r" >>"$checks" || ok=0
done
# fewshot: Conv4 (64 filters, 28×28 hanzi, stride) 5-way 1-shot, r = 5; its tasks are also PyTorch's timing tasks.
# The reference runs in float64 (same float32 λ and images): batch-norm statistics in float32 are ill-conditioned on
# some tasks (task 3 of this instance: PyTorch float32 is 13–32 % off its own float64 result after r = 1–5 steps), and
# bilevel-opt accumulates them in double, so float64 is the reference that tells right from wrong here.
"$build/bench_vs_torch" fewshot --out "$out/inst_fs" --tasks 4 --set inner_steps=5 --set "data_dir=$data" --set eval_tasks=1
"$py" "$ref" check "$out/inst_fs" --float64 >>"$checks" || ok=0
"$build/bench_vs_torch" hpo-l2 --out "$out/inst_hpo" --set inner_steps=20 --set "data_dir=$data" --chains 2 --samples 20
"$py" "$ref" check "$out/inst_hpo" >>"$checks" || ok=0
"$build/bench_vs_torch" hyper-cleaning --out "$out/inst_hc" --set "data_dir=$data"
"$py" "$ref" check "$out/inst_hc" >>"$checks" || ok=0
"$py" - "$checks" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("  %-40s %-9s %-12s %s" % ("instance / estimator", "rel diff", "|g|", "status"))
for r in rows:
    print("  %-40s %-9.2e %-12.5g %s" % (r["problem"] + " " + r["estimator"], r["rel_diff"], r["norm_bilevel"],
                                        "pass" if r["pass"] else "FAIL"))
EOF
if [[ $ok != 1 ]]; then
  echo "run_vs_torch: a correctness check failed; no speed figures (see $checks)" >&2
  exit 1
fi

# ------------------------------------------------------------------------------ 2. timing
# name | bench_vs_torch time args | torch_ref workload and options | warmup | steps (quick: half)
workloads=(
  "sin-fo-r1|--problem sinusoid --method fo --set inner_steps=1|sin-fo --set r=1|3|40"
  "sin-fo-r5|--problem sinusoid --method fo --set inner_steps=5|sin-fo --set r=5|2|20"
  "sin-exact-r1|--problem sinusoid --method exact --set inner_steps=1|sin-exact --set r=1|3|30"
  "sin-exact-r5|--problem sinusoid --method exact --set inner_steps=5|sin-exact --set r=5|2|12"
  "sin-ufo-r1|--problem sinusoid --method ufo --set q=0.1 --set inner_steps=1|sin-ufo --set r=1 --set q=0.1|3|40"
  "sin-ufo-r5|--problem sinusoid --method ufo --set q=0.1 --set inner_steps=5|sin-ufo --set r=5 --set q=0.1|2|20"
  "fs-fo-r5|--problem fewshot --method fo --set inner_steps=5 --set eval_tasks=1 --set data_dir=$data|fs-fo --set r=5|2|10"
  "fs-exact-r5|--problem fewshot --method exact --set inner_steps=5 --set eval_tasks=1 --set data_dir=$data|fs-exact --set r=5|1|5"
  "hpo-exact-r20|--problem hpo-l2 --method exact --set inner_steps=20 --set data_dir=$data|hpo-exact --set r=20|2|10"
  "hpo-iftcg-r20|--problem hpo-l2 --method ift-cg --set inner_steps=20 --set data_dir=$data|hpo-iftcg --set r=20|2|10"
  "hc-exact-t50|--problem hyper-cleaning --method exact --set data_dir=$data|hc-exact|1|3"
  "hpo-sgld-8x200|--problem hpo-l2 --method sgld --set variant=one-step --set chains=8 --set burn_in=0 --set samples=200 --set data_dir=$data|hpo-sgld --set chains=8 --set samples=200|0|1"
)
res="$out/results.jsonl"
: >"$res"
tag() {
  "$py" -c 'import json,sys; d=json.loads(sys.stdin.read()); d["workload"]=sys.argv[1]; d["load"]=[sys.argv[2], sys.argv[3]]; print(json.dumps(d))' "$@"
}
for th in $threads_list; do
  for w in "${workloads[@]}"; do
    IFS='|' read -r name bargs targs warm steps <<<"$w"
    [[ -n "$only" && ! "$name" =~ $only ]] && continue
    [[ $quick == 1 ]] && steps=$(( (steps + 1) / 2 ))
    for ((k = 0; k < rounds; ++k)); do
      l0="$(load)"
      # shellcheck disable=SC2086
      "$build/bench_vs_torch" time $bargs --seed $((k + 1)) --warmup "$warm" --steps "$steps" --threads "$th" \
        >"$out/last.json"
      tag "$name" "$l0" "$(load)" <"$out/last.json" >>"$res"
      tdata="$out/inst_hpo"
      [[ $name == fs-* ]] && tdata="$out/inst_fs"
      [[ $name == hc-* ]] && tdata="$out/inst_hc"
      l0="$(load)"
      # shellcheck disable=SC2086
      OMP_NUM_THREADS="$th" OPENBLAS_NUM_THREADS="$th" "$py" "$ref" time $targs --threads "$th" --warmup "$warm" \
        --steps "$steps" --seed $((k + 1)) --data "$tdata" >"$out/last.json"
      tag "$name" "$l0" "$(load)" <"$out/last.json" >>"$res"
    done
    echo "  done $name threads=$th (load $(load))" >&2
  done
done

"$py" - "$res" "$out/table.md" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = []
for r in rows:
    k = (r["workload"], r["threads"])
    if k not in keys:
        keys.append(k)
def agg(impl, k):
    rs = [r for r in rows if r["impl"] == impl and (r["workload"], r["threads"]) == k]
    wall = [s for r in rs for s in r["step_seconds"]]
    cpu = [s for r in rs for s in r["step_cpu_seconds"]]
    loads = [float(x.split()[0]) for r in rs for x in r["load"]]
    return dict(wall=statistics.median(wall), cpu=statistics.median(cpu),
                rss=max(r["peak_rss_bytes"] for r in rs) / 2**20, n=len(wall), loads=loads)
def f(x):
    return "%.3g ms" % (1e3 * x) if x < 1 else "%.3g s" % x
lines = ["| workload | threads | bilevel-opt wall | PyTorch wall | **PyTorch / bilevel-opt (wall)** | bilevel-opt CPU | "
         "PyTorch CPU | PyTorch / bilevel-opt (CPU) | peak RSS bilevel-opt / PyTorch (MiB) | timed steps | load avg (1 min) |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
A = {}
for k in keys:
    b, t = agg("bilevel-opt", k), agg("torch", k)
    A[k] = (b, t)
    l = b["loads"] + t["loads"]
    lines.append("| %s | %d | %s | %s | **%.1f×** | %s | %s | %.1f× | %.0f / %.0f | %d / %d | %.1f–%.1f |" % (
        k[0], k[1], f(b["wall"]), f(t["wall"]), t["wall"] / b["wall"], f(b["cpu"]), f(t["cpu"]), t["cpu"] / b["cpu"],
        b["rss"], t["rss"], b["n"], t["n"], min(l), max(l)))
names = []
for k in keys:
    if k[0] not in names:
        names.append(k[0])
if any(k[1] == 2 for k in keys) and any(k[1] == 1 for k in keys):
    lines += ["", "Threads (wall speed-up = wall(1 thread) / wall(2 threads); CPU(2)/CPU(1) = the extra work a second "
              "thread costs, 1.00 = none):", "",
              "| workload | bilevel-opt wall speed-up | bilevel-opt CPU(2)/CPU(1) | PyTorch wall speed-up | PyTorch CPU(2)/CPU(1) |",
              "|---|---|---|---|---|"]
    for n in names:
        if (n, 1) in A and (n, 2) in A:
            b1, t1 = A[(n, 1)]
            b2, t2 = A[(n, 2)]
            lines.append("| %s | %.2f× | %.2f | %.2f× | %.2f |" % (n, b1["wall"] / b2["wall"], b2["cpu"] / b1["cpu"],
                                                                 t1["wall"] / t2["wall"], t2["cpu"] / t1["cpu"]))
text = "\n".join(lines)
open(sys.argv[2], "w").write(text + "\n")
print(text)
EOF
echo "== table in $out/table.md, raw per-step times in $res; load average now $(load) on $(nproc) cores"
