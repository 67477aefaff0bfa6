#!/usr/bin/env python3
"""Tables of experiments/stochastic/run.sh from its run directories (standard library only).

  table.py winner GRID_DIR          print the outer_lr of the grid point with the lowest final value h(λ)
  table.py report OUT SECONDS LOAD  write OUT/grid.md and OUT/table.md (and print table.md)

value_subopt = h(λ) − h*, where h(λ) is the `value` logged on evaluation rows (run option value_steps) and h* the
lowest value any run of the same problem (grid or seeds) logged at any row.
"""
import json
import math
import os
import statistics
import sys

PROBLEMS = ["quadratic", "logreg-l2", "cleaning"]
TIMING = {"seconds", "eval_seconds"}


def rows(run):
    path = os.path.join(run, "curve.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def result(run):
    path = os.path.join(run, "result.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def values(run):
    return [r["value"] for r in rows(run) if isinstance(r.get("value"), (int, float))]


def final_value(run):
    """h(λ) at the end of the budget, or inf when the run did not finish."""
    if result(run).get("status") != "ok":
        return math.inf
    v = values(run)
    return v[-1] if v else math.inf


def lr_dirs(grid):
    out = []
    for d in sorted(os.listdir(grid)):
        if d.startswith("lr-"):
            out.append((float(d[3:]), d[3:], os.path.join(grid, d)))
    return sorted(out)


def winner(grid):
    points = lr_dirs(grid)
    best = min(points, key=lambda p: (final_value(p[2]), p[0]))
    return best[1]


def runs_under(path):
    for base, dirs, files in os.walk(path):
        if "curve.jsonl" in files:
            yield base


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return math.nan
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def fmt(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "diverged"
    if x == 0:
        return "0"
    return f"{x:.2e}" if abs(x) < 1e-2 or abs(x) >= 1e4 else f"{x:.3g}"


def report(out, seconds, load):
    grid_lines = ["# Step-size grid (seed 1): final value_subopt per outer_lr; * = winner", ""]
    table = [f"Measured by `experiments/stochastic/run.sh` in {seconds} s (load average {load}). value_subopt = "
             "h(λ) − h* at the end of the budget, median [20%, 80%] over seeds; h* = the lowest h(λ) any run of "
             "the problem reached. Rank by the median.", ""]
    for prob in PROBLEMS:
        pdir = os.path.join(out, prob)
        if not os.path.isdir(pdir):
            continue
        h_star = min((v for run in runs_under(pdir) for v in values(run)), default=math.nan)
        grid_lines += [f"## {prob} (h* = {h_star:.6g})", "", "| method | " + " | ".join(["outer_lr → value_subopt"] * 4) + " |",
                       "|---|---|---|---|---|"]
        gdir = os.path.join(pdir, "grid")
        for method in sorted(os.listdir(gdir)) if os.path.isdir(gdir) else []:
            pts = lr_dirs(os.path.join(gdir, method))
            win = winner(os.path.join(gdir, method))
            cells = [f"{'*' if lr == win else ''}{lr} → {fmt(final_value(d) - h_star)}" for _, lr, d in pts]
            grid_lines.append(f"| {method} | " + " | ".join(cells) + " |")
        grid_lines.append("")
        rdir = os.path.join(pdir, "runs")
        if not os.path.isdir(rdir):
            continue
        entries = []
        for method in os.listdir(rdir):
            runs = [os.path.join(rdir, method, s) for s in sorted(os.listdir(os.path.join(rdir, method)))]
            subs = [final_value(r) - h_star for r in runs]
            res = [result(r) for r in runs]
            grads = [r2["value_grad_norm"] for r in runs for r2 in rows(r)[-1:] if "value_grad_norm" in r2]
            cfg = json.load(open(os.path.join(runs[0], "config.json"))) if runs else {}
            lr = cfg.get("run_options", {}).get("outer_lr", "?") if isinstance(cfg, dict) else "?"
            entries.append((statistics.median(subs), method, subs, res, grads, lr))
        entries.sort(key=lambda e: (e[0], e[1]))
        table += [f"### {prob} (h* = {h_star:.6g})", "",
                  "| rank | method | outer_lr | value_subopt | ‖∇h‖ | steps | cost | estimator s | failed |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for rank, (med, method, subs, res, grads, lr) in enumerate(entries, 1):
            ok = [r for r in res if r.get("status") == "ok"]
            steps = statistics.median([r["steps"] for r in ok]) if ok else math.nan
            cost = statistics.median([r["cost"] for r in ok]) if ok else math.nan
            secs = statistics.median([r["seconds"] for r in ok]) if ok else math.nan
            band = f"{fmt(med)} [{fmt(quantile(subs, 0.2))}, {fmt(quantile(subs, 0.8))}]"
            gn = fmt(statistics.median(grads)) if grads else "–"
            table.append(f"| {rank} | {method} | {lr} | {band} | {gn} | {steps:.0f} | {cost:.0f} | {secs:.2f} | "
                         f"{len(res) - len(ok)}/{len(res)} |")
        table.append("")
    t1, t2 = os.path.join(out, "threads", "saba-1"), os.path.join(out, "threads", "saba-2")
    if os.path.isdir(t1) and os.path.isdir(t2):
        a = [{k: v for k, v in r.items() if k not in TIMING} for r in rows(t1)]
        b = [{k: v for k, v in r.items() if k not in TIMING} for r in rows(t2)]
        same = a == b and len(a) > 1
        table.append(f"saba on logreg-l2, meta_batch 2, --threads 1 vs 2: {len(a)} curve rows, "
                     f"{'identical' if same else 'DIFFERENT'} (timing keys excluded).")
        table.append("")
    with open(os.path.join(out, "grid.md"), "w") as f:
        f.write("\n".join(grid_lines))
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(table))
    print("\n".join(table))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "winner":
        print(winner(sys.argv[2]))
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
