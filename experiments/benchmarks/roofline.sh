#!/usr/bin/env bash
# Roofline: how far each workload is from this machine's limits, at one thread.
#
#   bash experiments/benchmarks/roofline.sh        (about 3 minutes on a quiet machine)
#
# 1. Limits (bench_roofline): FLOP/s of a large OpenBLAS sgemm (1024³) and of the own skinny kernels on the
#    (n × 784)·(784 × 10) products; read bandwidth of a buffer that stays in L2 (2 MiB), in L3 (16 MiB: the
#    data matrices are 3.1 MB for hpo-l2, 15.7 MB for hyper-cleaning) and in main memory (256 MiB), and a
#    triad over 3 × 64 MiB. Each the fastest of many repetitions. The FLOP limit is the fastest of these
#    products, the byte limit the L3 read bandwidth.
# 2. Work (bench_vs_torch time --threads 1): per outer step, the products' FLOPs (2·m·n·k) and bytes (operands
#    and result once each), counted by gemm(); the step's median wall and CPU seconds over ROUNDS runs.
# 3. Table: achieved GFLOP/s and GB/s (products' work over the whole step's time), the lower bound
#    max(FLOPs / fastest product's FLOP/s, bytes / L3 read bandwidth) on the step's time, and the distance = time / bound.
#    Work outside the products (softmax, exp, graph bookkeeping) is in the time but not in the bound.
#
# Environment: BUILD_DIR (default build/release), DATA_DIR (default data), OUT (default $BUILD_DIR/roofline),
# ROUNDS (3), TIME (wall or cpu: which time the table divides by; default wall — on a loaded machine use cpu).
# Writes $OUT/limits.json, $OUT/work.jsonl and $OUT/table.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
out="${OUT:-$build/roofline}"
rounds="${ROUNDS:-3}"
which_time="${TIME:-wall}"
case "$which_time" in wall | cpu) ;; *) echo "roofline: TIME must be wall or cpu, got '$which_time'" >&2; exit 2 ;; esac
bench_build roofline.sh bench_roofline bench_vs_torch
mkdir -p "$out"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== limits (load average $(load))"
"$build/bench_roofline" 1 >"$out/limits.json"
cat "$out/limits.json"

# name | bench_vs_torch time args | warmup | steps
d="--set data_dir=$data --set verify_checksums=false"
workloads=(
  "hpo-exact-r20|--problem hpo-l2 --method exact --set inner_steps=20 $d|2|10"
  "hpo-iftcg-r20|--problem hpo-l2 --method ift-cg --set inner_steps=20 $d|2|10"
  "hpo-sgld-8x200|--problem hpo-l2 --method sgld --set variant=one-step --set chains=8 --set burn_in=0 --set samples=200 $d|0|1"
  "hc-exact-t50|--problem hyper-cleaning --method exact $d|1|3"
  "sin-exact-r5|--problem sinusoid --method exact --set inner_steps=5|2|12"
  "fs-fo-r5|--problem fewshot --method fo --set inner_steps=5 --set eval_tasks=1 $d|2|20"
  "fs-exact-r5|--problem fewshot --method exact --set inner_steps=5 --set eval_tasks=1 $d|1|8"
)
: >"$out/work.jsonl"
for w in "${workloads[@]}"; do
  IFS='|' read -r name bargs warm steps <<<"$w"
  for ((k = 0; k < rounds; ++k)); do
    l0="$(load)"
    # shellcheck disable=SC2086
    "$build/bench_vs_torch" time $bargs --seed $((k + 1)) \
      --warmup "$warm" --steps "$steps" --threads 1 |
      "$py" -c 'import json,sys; d=json.loads(sys.stdin.read()); d["workload"]=sys.argv[1]; d["load"]=[sys.argv[2], sys.argv[3]]; print(json.dumps(d))' \
        "$name" "$l0" "$(load)" >>"$out/work.jsonl"
  done
  echo "  done $name (load $(load))" >&2
done

"$py" - "$out/limits.json" "$out/work.jsonl" "$out/table.md" "$which_time" <<'EOF'
import json, statistics, sys
lim = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])]
which = sys.argv[4]
# The FLOP limit: the fastest product measured on one core (OpenBLAS's large sgemm or the own skinny kernels,
# which reach the multiply-add peak without FMA on these shapes when the data sits in L2).
peak = max([lim["sgemm_gflops"]] + list(lim["skinny_gflops"].values())) * 1e9
bw = lim["stream_read_gbs"]["16MiB"] * 1e9
names = []
for r in rows:
    if r["workload"] not in names:
        names.append(r["workload"])
lines = [
    "Limits (one thread, `bench_roofline`): sgemm 1024³ %.0f GFLOP/s; own skinny kernels %s GFLOP/s; read bandwidth "
    "%.0f GB/s (2 MiB, L2), %.0f GB/s (16 MiB, L3), %.0f GB/s (256 MiB, memory); triad %.0f GB/s." % (
        lim["sgemm_gflops"], " / ".join("%.0f" % v for v in lim["skinny_gflops"].values()),
        lim["stream_read_gbs"]["2MiB"], lim["stream_read_gbs"]["16MiB"], lim["stream_read_gbs"]["256MiB"],
        lim["stream_triad_gbs"]),
    "",
    "| workload | products per step: GFLOP / MB | %s time per step | achieved GFLOP/s | achieved GB/s | "
    "bound: FLOPs / %.0f GFLOP/s | bound: bytes / L3 bandwidth | **time / bound** | load avg |" % (which, peak / 1e9),
    "|---|---|---|---|---|---|---|---|---|",
]
for n in names:
    rs = [r for r in rows if r["workload"] == n]
    t = statistics.median([s for r in rs for s in r["step_seconds" if which == "wall" else "step_cpu_seconds"]])
    fl = statistics.median([s for r in rs for s in r["step_gemm_flops"]])
    by = statistics.median([s for r in rs for s in r["step_gemm_bytes"]])
    tf, tb = fl / peak, by / bw
    loads = [float(x.split()[0]) for r in rs for x in r["load"]]
    fmt = lambda s: "%.3g ms" % (1e3 * s) if s < 1 else "%.3g s" % s
    lines.append("| %s | %.3g / %.3g | %s | %.1f | %.1f | %s | %s | **%.1f×** | %.1f–%.1f |" % (
        n, fl / 1e9, by / 1e6, fmt(t), fl / t / 1e9, by / t / 1e9, fmt(tf), fmt(tb), t / max(tf, tb),
        min(loads), max(loads)))
text = "\n".join(lines)
open(sys.argv[3], "w").write(text + "\n")
print(text)
EOF
echo "== table in $out/table.md; load average now $(load) on $(nproc) cores"
