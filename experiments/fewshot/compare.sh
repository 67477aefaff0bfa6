#!/usr/bin/env bash
# Few-shot character classification on the hanzi stand-in (Conv4, MAML-style meta-initialization): fo vs ufo
# (q = 0.1 and adaptive) vs exact vs reptile vs iMAML (ift-cg with the proximal term) vs sgld, at an equal cost
# budget (gradient evaluations + HVPs), 3 seeds. Metric: query accuracy on the fixed held-out evaluation tasks
# after the same inner loop (test_acc, with its 95% CI over tasks); step 0 of every run is the randomly
# initialised network adapted the same way (the baseline).
#
# Usage: experiments/fewshot/compare.sh [OUT_DIR]
# Environment: BUDGET (cost per run), SHOTS (1), WAYS (5), FILTERS, EVAL_TASKS, EVAL_EVERY, THREADS (2), SEEDS
# ("1 2 3"), METHODS (subset of the names below), BILEVEL_DATA (the data directory with hanzi/, `make data`).
# Scale: far smaller than the papers' (see the README section "Few-shot classification"); the defaults took 66 min
# of wall time at load average ≈ 20 on 2 cores.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
ways=${WAYS:-5}
shots=${SHOTS:-1}
out="${1:-runs/fewshot-${ways}w${shots}s}"
budget=${BUDGET:-22000}
filters=${FILTERS:-32}
eval_tasks=${EVAL_TASKS:-600}
eval_every=${EVAL_EVERY:-250}
threads=${THREADS:-2}
seeds=${SEEDS:-"1 2 3"}
methods=${METHODS:-"fo ufo ufo-adaptive exact reptile imaml sgld"}
start=$(date +%s)
common=(--problem fewshot --budget-cost "$budget" --threads "$threads"
        --set dataset=hanzi --set ways="$ways" --set shots="$shots" --set filters="$filters"
        --set eval_tasks="$eval_tasks" --set eval_every="$eval_every")
for seed in $seeds; do
  for m in $methods; do
    case "$m" in
      fo) train_once "$out/fo-$seed" "${common[@]}" --method fo --seed "$seed" ;;
      ufo) train_once "$out/ufo-$seed" "${common[@]}" --method ufo --set q=0.1 --seed "$seed" ;;
      ufo-adaptive) train_once "$out/ufo-adaptive-$seed" "${common[@]}" --method ufo --set q=adaptive --seed "$seed" ;;
      exact) train_once "$out/exact-$seed" "${common[@]}" --method exact --seed "$seed" ;;
      reptile) train_once "$out/reptile-$seed" "${common[@]}" --method reptile --seed "$seed" ;;
      # iMAML: the proximal term makes λ enter the inner loss; CG on the Hessian of the regularised inner loss.
      imaml) train_once "$out/imaml-$seed" "${common[@]}" --method ift-cg --set proximal=1 --set cg_iters=5 --seed "$seed" ;;
      # SGLD: one chain from θ₀ = λ at a low temperature (N = 1 here: the inner loss is not a sum over a data
      # set), the first-order two-pass hypergradient (the pathwise Jacobian would be P × P).
      sgld) train_once "$out/sgld-$seed" "${common[@]}" --method sgld --set variant=two-pass --set chains=1 \
              --set burn_in=4 --set samples=2 --set tau=0.0001 --seed "$seed" ;;
      *) echo "compare.sh: unknown method '$m' (valid: fo ufo ufo-adaptive exact reptile imaml sgld)" >&2; exit 2 ;;
    esac
  done
done
"$bin" compare "$out" --by method,method_options.q,problem_options.proximal --metric test_acc --x cost \
  --plot "$out/test_acc.svg"
# The baseline: every run's step-0 evaluation is its seed's random initialisation adapted by the same inner loop
# (the same network for every method of a seed; iMAML's inner loop has the proximal term, so it has its own).
python3 - "$out" <<'PY'
import glob, json, os, statistics, sys
acc = {}
for d in sorted(glob.glob(os.path.join(sys.argv[1], "*-[0-9]*"))):
    f = os.path.join(d, "curve.jsonl")
    if not os.path.exists(f):
        continue
    with open(f) as fh:
        first = json.loads(fh.readline())
    cfg = json.load(open(os.path.join(d, "config.json")))
    gamma = float(cfg["problem_options"]["proximal"])
    if "test_acc" in first:
        acc.setdefault(gamma, {}).setdefault(cfg["seed"], set()).add((first["test_acc"], first["test_acc_ci95"]))
for gamma, seeds in sorted(acc.items()):
    if any(len(v) != 1 for v in seeds.values()):
        print("step-0 evaluations differ within a seed (proximal=%g): not one baseline" % gamma)
        continue
    rows = [next(iter(v)) for v in seeds.values()]
    m = [a for a, _ in rows]
    print("random initialisation adapted the same way (step 0%s): test_acc %.4f ± %.4f (std over %d seeds; "
          "mean 95%% CI over tasks ±%.4f)" % (", proximal=%g" % gamma if gamma else "", statistics.mean(m),
                                             statistics.stdev(m) if len(m) > 1 else 0.0, len(m),
                                             statistics.mean(c for _, c in rows)))
PY
echo "compare.sh: wall time $(( $(date +%s) - start )) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
