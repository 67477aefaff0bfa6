#!/usr/bin/env bash
# HPO at scale: per-weight L2 (hpo-l2, H = P: one log weight decay per weight) on a one-hidden-layer ReLU MLP
# on MNIST, with the hidden width chosen so that H = P ≈ 10⁴, 10⁵, 10⁶ and 10⁷. For every estimator and size:
# one `bilevel-opt train` run of --steps 1 (one outer step) at --threads 1 under a memory budget
# (max_memory, default 4 GiB for the whole process), and what it reports: peak RSS (getrusage, in result.json),
# the estimator's peak tensor bytes, the memory model's prediction (result.json memory_model) and the
# estimator's seconds for the step — or, when it was refused (exit 2), the reason from its one-line message.
#
#   bash experiments/scale/scale.sh [--sizes "1e4 1e5 1e6 1e7"] [OUT_DIR]
#
# Environment: BUILD_DIR (build/release), DATA_DIR (data), MAX_MEMORY_GIB (4), N_TRAIN (100), INNER_STEPS (10),
# SIZES. Writes OUT/scale.jsonl (one row per run) and OUT/scale.md (the tables in README 'Scale').
# The inner problem is kept small in everything but P (n_train = 100 examples, r = 10 steps, 100 validation
# and 100 test examples, evaluation with 1 inner step) so that the 10⁷ column finishes in minutes on a shared
# machine: the question is how memory and time grow with H, not how well the weights are tuned.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../benchmarks/common.sh"
sizes="1e4 1e5 1e6 1e7"
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sizes) sizes="$2"; shift ;;
    -*) echo "scale.sh: unknown option $1 (use --sizes \"1e4 1e5 1e6 1e7\" [OUT_DIR])" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
out="${out:-$build/scale}"
max_mem="${MAX_MEMORY_GIB:-4}"
n_train="${N_TRAIN:-100}"
r="${INNER_STEPS:-10}"
bench_build scale.sh bilevel-opt
bin="$build/bilevel-opt"
mkdir -p "$out"
res="$out/scale.jsonl"
: >"$res"
echo "== hpo-l2 MLP at H = P = $sizes; max_memory $max_mem GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# label|train arguments
methods=(
  "fo|--method fo"
  "exact (graphs)|--method exact"
  "exact store=states|--method exact --set store=states"
  "exact recompute|--method exact --set recompute=true"
  "ufo q=1 recompute|--method ufo --set q=1 --set recompute=true"
  "ift-cg 5 iters|--method ift-cg --set cg_iters=5"
  "sgld one-step|--method sgld --set variant=one-step --set chains=1 --set burn_in=5 --set samples=5"
  "sgld drop-hessian|--method sgld --set variant=drop-hessian --set chains=1 --set burn_in=5 --set samples=5"
  "sgld two-pass|--method sgld --set variant=two-pass --set chains=1 --set burn_in=5 --set samples=5"
  "sgld pathwise|--method sgld --set variant=pathwise --set chains=1 --set burn_in=5 --set samples=5"
  "fmd|--method fmd"
  "fmd, entries cap raised|--method fmd --set fmd_max_entries=1000000000000000"
)

start=$SECONDS
for size in $sizes; do
  # P = 795·hidden + 10 on MNIST (784 inputs, 10 classes): the smallest hidden width with P ≥ size.
  hidden=$("$py" -c "import math,sys; print(max(1, math.ceil((float(sys.argv[1]) - 10) / 795)))" "$size")
  for m in "${methods[@]}"; do
    IFS='|' read -r label args <<<"$m"
    # Without its cap, fmd takes H products per inner step: 10⁵ at H = 10⁴ (minutes); beyond that its memory model
    # refuses it, which takes no time — so it runs at every size but the table says why it stops.
    run="$out/runs/H${size}_$(tr -c 'a-zA-Z0-9=.-' '_' <<<"$label")"
    rm -rf "$run"
    l0="$(cut -d' ' -f1 /proc/loadavg)"
    set +e
    # shellcheck disable=SC2086
    nice "$bin" train --problem hpo-l2 $args --set "data_dir=$data" --set model=mlp --set hidden="$hidden" \
      --set n_train="$n_train" --set n_val=100 --set n_test=100 --set inner_steps="$r" --set eval_inner_steps=1 \
      --set eval_every=1000000 --set max_memory="$max_mem" --steps 1 --seed 1 --threads 1 --out "$run" --quiet \
      >"$out/last.out" 2>"$out/last.err"
    rc=$?
    set -e
    "$py" - "$run" "$label" "$size" "$hidden" "$rc" "$l0" "$out/last.err" >>"$res" <<'EOF'
import json, os, sys
run, label, size, hidden, rc, l0, err = sys.argv[1:]
row = {"method": label, "size": float(size), "hidden": int(hidden), "rc": int(rc), "load": float(l0)}
res_file = os.path.join(run, "result.json")
if os.path.exists(res_file):
    res = json.load(open(res_file))
    mm = res.get("memory_model") or {}
    row.update({"status": res["status"], "P": mm.get("P"), "H": mm.get("H"), "peak_rss_bytes": res["peak_rss_bytes"],
                "peak_estimator_bytes": res["peak_estimator_bytes"], "model_bytes": mm.get("bytes"),
                "formula": mm.get("formula"), "seconds": res["seconds"], "grad_evals": res["grad_evals"],
                "hvps": res["hvps"]})
else:
    lines = [l.strip() for l in open(err, errors="replace") if l.strip()]
    row.update({"status": "refused" if int(rc) == 2 else "failed", "message": lines[-1] if lines else ""})
print(json.dumps(row))
EOF
    tail -1 "$res" | "$py" -c '
import json, sys
d = json.load(sys.stdin)
if "seconds" in d:
    print("  H=%g %s: %.1f MiB RSS, model %.1f MiB, %.2f s" % (d["size"], d["method"], d["peak_rss_bytes"] / 2**20,
          (d["model_bytes"] or 0) / 2**20, d["seconds"]))
else:
    print("  H=%g %s: %s (%s)" % (d["size"], d["method"], d["status"], d.get("message", "")[:160]))' >&2
  done
done
elapsed=$((SECONDS - start))

"$py" - "$res" "$out/scale.md" "$elapsed" "$max_mem" "$n_train" "$r" <<'EOF'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
elapsed, max_mem, n_train, r = sys.argv[3:]
sizes = sorted({d["size"] for d in rows})
methods = []
for d in rows:
    if d["method"] not in methods:
        methods.append(d["method"])
P = {d["size"]: d["P"] for d in rows if d.get("P")}
mib = lambda b: b / 2**20

def human(b):
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if b >= f:
            return "%.3g %s" % (b / f, unit)
    return "%.0f B" % b

def why(msg, size):
    # The refusal's reason, short: which limit it hit. A dense P×H Jacobian is refused by its entries cap
    # (H products per step) before its memory is modelled: its model 2·P·H·s is shown beside it.
    if "max_entries" in msg:
        p = float(msg.split("P = ")[1].split(",")[0])
        return "refused: P·H above the entries cap (model 2·P·H·s = %s)" % human(2 * p * p * 4)
    if "would need about" in msg:
        need = msg.split("would need about ")[1].split(",")[0]
        return "refused: model %s > %s GiB" % (need, max_mem)
    return "refused: " + msg[:80]

head = "| estimator | " + " | ".join("H = P = %s" % (f"{P[s]:,}" if s in P else "%g" % s) for s in sizes) + " |"
rule = "|---" * (len(sizes) + 1) + "|"
mem = ["Peak RSS of the process / the estimator's measured peak tensor bytes / the memory model's prediction "
       "(MiB), one outer step:", "", head, rule]
tim = ["Estimator seconds for one outer step (evaluation excluded), and growth exponents between the two largest "
       "sizes it ran at (d log y / d log H; 1 = linear in H) of the time, the estimator's measured peak bytes and "
       "the peak RSS:", "",
       head[:-1] + " | growth of s/step | of estimator bytes | of RSS |", rule + "---|---|---|"]
for m in methods:
    cm, ct = [], []
    pts = []
    for s in sizes:
        d = next((x for x in rows if x["method"] == m and x["size"] == s), None)
        if d is None:
            cm.append("—"); ct.append("—"); continue
        if "seconds" in d:
            st = "" if d["status"] == "ok" else " (%s)" % d["status"]
            cm.append("%.0f / %.0f / %.0f%s" % (mib(d["peak_rss_bytes"]), mib(d["peak_estimator_bytes"]),
                                                mib(d["model_bytes"] or 0), st))
            ct.append("%.3g" % d["seconds"])
            pts.append((d["P"], d["seconds"], d["peak_rss_bytes"], d["peak_estimator_bytes"]))
        else:
            cm.append(why(d.get("message", ""), s)); ct.append("—")
    slope = lambda a, b, pa, pb: "%.2f" % (math.log(b / a) / math.log(pb / pa)) if a > 0 and b > 0 else "—"
    if len(pts) >= 2:
        (p0, t0, m0, e0), (p1, t1, m1, e1) = pts[-2], pts[-1]
        gt, ge, gm = slope(t0, t1, p0, p1), slope(e0, e1, p0, p1), slope(m0, m1, p0, p1)
    else:
        gt = ge = gm = "—"
    mem.append("| %s | %s |" % (m, " | ".join(cm)))
    tim.append("| %s | %s | %s | %s | %s |" % (m, " | ".join(ct), gt, ge, gm))
loads = [d["load"] for d in rows]
foot = ("hpo-l2, model=mlp (784-hidden-10, ReLU), MNIST, n_train = %s, r = %s inner steps, --threads 1, "
        "max_memory = %s GiB; load average %.1f–%.1f on 2 cores; script wall time %s s."
        % (n_train, r, max_mem, min(loads), max(loads), elapsed))
text = "\n".join(mem + [""] + tim + ["", foot])
open(sys.argv[2], "w").write(text + "\n")
print(text)
EOF
echo "== load average now $(cut -d' ' -f1-3 /proc/loadavg); rows in $res" >&2
