#!/usr/bin/env bash
# Peak memory of the estimators against the unroll length r (or SGLD chain length), on sinusoid and hpo-l2.
#
#   bash experiments/benchmarks/memory.sh [--lengths "10 100 1000"]
#
# For each problem, estimator and length: one `bilevel-opt train` run of one outer step, --threads 1, and
# its result.json `peak_rss_bytes` (the process's VmHWM: code, data set, evaluation included) and
# `peak_estimator_bytes` (the largest tensor memory one estimate held beyond what was live before it).
#   fo, exact, exact recompute=true, ufo q=0.1 recompute=true: inner_steps = r. ufo's exact branch is
#     drawn with probability q, so the seed is chosen (at the shortest length; the draw does not depend on
#     r) so that the one step draws it: the row then shows the branch that could grow.
#   sgld variant=one-step: chains=CHAINS (default 2; at --threads 1 they run one after the other), burn_in 0,
#     samples = r (the chain length).
# sinusoid runs meta_batch=1 (one task; memory per task is the question, and exact recompute at r = 1000
# costs r²/2 = 500k inner gradients per task). hpo-l2 uses its defaults (MNIST logreg, n_train 1000); there
# exact recompute at r = 1000 (500k inner gradients of 1000×784 logreg, ~15 min) does not fit: a run still
# going after MEM_TIMEOUT seconds is killed (SIGKILL) and its VmHWM, polled every 0.2 s from /proc, is
# reported as "stopped" — the forward pass and the first adjoint steps have then run, and an O(1)-memory
# method holds the same memory in every later step.
#
# Environment: BUILD_DIR (default build/release), DATA_DIR (default data), OUT (default
# $BUILD_DIR/memory), CHAINS (2), MEM_TIMEOUT (60). Writes $OUT/memory.jsonl and $OUT/memory.md.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
out="${OUT:-$build/memory}"
chains="${CHAINS:-2}"
timeout="${MEM_TIMEOUT:-60}"
lengths="10 100 1000"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --lengths) lengths="$2"; shift ;;
    *) echo "memory.sh: unknown option $1 (use --lengths \"10 100 1000\")" >&2; exit 2 ;;
  esac
  shift
done
bench_build memory.sh bilevel-opt
bin="$build/bilevel-opt"
mkdir -p "$out"
res="$out/memory.jsonl"
: >"$res"
first_len="${lengths%% *}"
echo "== peak memory vs unroll / chain length; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ufo_seed PROBLEM_ARGS…: the first seed whose outer step 0 draws UFOM's exact branch.
ufo_seed() {
  local s
  for s in $(seq 1 60); do
    "$bin" train "$@" --method ufo --set q=0.1 --set recompute=true --set inner_steps="$first_len" \
      --set eval_every=1000000 --steps 1 --seed "$s" --threads 1 --out "$out/ufo_seed" --force --quiet >/dev/null
    if grep -q '"exact_drawn":1' <(tr -d ' ' <"$out/ufo_seed/curve.jsonl"); then echo "$s"; return; fi
  done
  echo "memory.sh: no seed in 1..60 draws the exact branch" >&2
  exit 1
}

for prob in sinusoid hpo-l2; do
  if [[ $prob == sinusoid ]]; then
    pargs=(--problem sinusoid --set meta_batch=1)
  else
    pargs=(--problem hpo-l2 --set "data_dir=$data")
  fi
  useed="$(ufo_seed "${pargs[@]}")"
  for m in fo exact exact-recompute ufo-recompute sgld-one-step; do
    for r in $lengths; do
      seed=1
      extra=()
      case "$m" in
        fo) margs=(--method fo --set inner_steps="$r") ;;
        exact) margs=(--method exact --set inner_steps="$r") ;;
        exact-recompute) margs=(--method exact --set recompute=true --set inner_steps="$r") ;;
        ufo-recompute) margs=(--method ufo --set q=0.1 --set recompute=true --set inner_steps="$r"); seed="$useed" ;;
        sgld-one-step)
          margs=(--method sgld --set variant=one-step --set chains="$chains" --set burn_in=0 --set samples="$r")
          # sinusoid has no data scaling (N = 1): at τ = 1 the noise sqrt(2ητ) = 0.14 per step makes the MLP's
          # chain diverge within 100 steps; τ = 0.001 keeps it finite up to 1000 steps (same work per step).
          [[ $prob == sinusoid ]] && margs+=(--set tau=0.001) ;;
      esac
      if [[ $prob == hpo-l2 && $m == *recompute && -n "${N_TRAIN_RECOMPUTE:-}" && $r == "${lengths##* }" ]]; then
        extra=(--set n_train="$N_TRAIN_RECOMPUTE")
      fi
      run="$out/run_${prob}_${m}_r$r"
      l0="$(cut -d' ' -f1 /proc/loadavg)"
      rm -rf "$run"
      "$bin" train "${pargs[@]}" "${margs[@]}" "${extra[@]}" --set eval_every=1000000 --steps 1 --seed "$seed" \
        --threads 1 --out "$run" --force --quiet >/dev/null &
      pid=$!
      hwm=0
      t_start=$SECONDS
      # Poll VmHWM; a run that outlives MEM_TIMEOUT (r² recomputation) is killed and its VmHWM so far kept.
      while kill -0 "$pid" 2>/dev/null; do
        h="$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
        [[ -n "$h" ]] && hwm="$h"
        if (( SECONDS - t_start >= timeout )); then kill -KILL "$pid" 2>/dev/null || true; break; fi
        sleep 0.2
      done
      wait "$pid" 2>/dev/null || true
      "$py" - "$run" "$prob" "$m" "$r" "$l0" "${extra[*]}" "$hwm" "$timeout" >>"$res" <<'EOF'
import json, os, sys
run, prob, m, r, l0, extra, hwm_kb, timeout = sys.argv[1:]
row = {"problem": prob, "method": m, "r": int(r), "extra": extra, "load": float(l0)}
res_file = run + "/result.json"
res = json.load(open(res_file)) if os.path.exists(res_file) else None
if res is not None:
    rows = [json.loads(l) for l in open(run + "/curve.jsonl")]
    row.update({"peak_rss_bytes": res["peak_rss_bytes"], "peak_estimator_bytes": res["peak_estimator_bytes"],
                "seconds": res["seconds"], "exact_drawn": rows[-1].get("exact_drawn"), "complete": True,
                "status": res["status"]})
else:  # stopped at the time limit: VmHWM sampled while it ran
    row.update({"peak_rss_bytes": int(hwm_kb) * 1024, "peak_estimator_bytes": None, "seconds": float(timeout),
                "exact_drawn": None, "complete": False})
print(json.dumps(row))
EOF
      echo "  $prob $m r=$r done ($(tail -1 "$res" | "$py" -c 'import json,sys; d=json.load(sys.stdin); print("%.1f MiB RSS, %.2f s%s" % (d["peak_rss_bytes"]/2**20, d["seconds"], "" if d["complete"] else " (stopped at the time limit)"))'))" >&2
    done
  done
done

"$py" - "$res" "$out/memory.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lens = sorted({r["r"] for r in rows})
out = ["| problem | estimator | " + " | ".join("r=%d RSS / est. (MiB)" % l for l in lens) +
       " | RSS growth r=%d→%d | estimator-bytes growth | goal |" % (lens[0], lens[-1]), "|---" * (len(lens) + 5) + "|"]
for prob in ["sinusoid", "hpo-l2"]:
    for m in ["fo", "exact", "exact-recompute", "ufo-recompute", "sgld-one-step"]:
        rs = {r["r"]: r for r in rows if r["problem"] == prob and r["method"] == m}
        if not rs:
            continue
        cells = []
        for l in lens:
            r = rs.get(l)
            if r is None:
                cells.append("—")
                continue
            note = " (n_train %s)" % r["extra"].split("=")[-1] if r["extra"] else ""
            if r["complete"]:
                st = "" if r.get("status") == "ok" else " (%s)" % r.get("status")
                cells.append("%.1f / %.3f%s%s" % (r["peak_rss_bytes"] / 2**20, r["peak_estimator_bytes"] / 2**20, note, st))
            else:
                cells.append("%.1f / — (stopped after %.0f s)%s" % (r["peak_rss_bytes"] / 2**20, r["seconds"], note))
        a, b = rs.get(lens[0]), rs.get(lens[-1])
        g = 100.0 * (b["peak_rss_bytes"] / a["peak_rss_bytes"] - 1) if a and b else float("nan")
        ge = b["peak_estimator_bytes"] / max(a["peak_estimator_bytes"], 1) if a and b and b["peak_estimator_bytes"] is not None else float("nan")
        if m == "exact":
            goal = "linear in r (expected)"
        else:
            goal = "< 10%%: %s" % ("met" if g < 10 else "MISSED")
        out.append("| %s | %s | %s | %+.1f%% | ×%.2f | %s |" % (prob, m, " | ".join(cells), g, ge, goal))
text = "\n".join(out)
open(sys.argv[2], "w").write(text + "\n")
print(text)
EOF
echo "== load average now $(cut -d' ' -f1-3 /proc/loadavg); rows in $res"
