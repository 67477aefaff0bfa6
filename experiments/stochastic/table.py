#!/usr/bin/env python3
"""Tables of experiments/stochastic/run.sh from its run directories (standard library only).

  table.py winner GRID_DIR          print the outer_lr of the grid point with the lowest final value h(λ)
  table.py report OUT SECONDS LOAD  write OUT/grid.md and OUT/table.md (and print table.md)

value_subopt = h(λ) − h* is computed by `bilevel-opt compare --metric value_subopt` (run.sh writes its curves against
cost, OUT/PROBLEM/value_subopt_vs_cost.csv for the seeds and grid_value_subopt.csv for the grid): h(λ) is the `value`
logged on evaluation rows (run option value_steps), h* the runs' recorded value_star where they have one
(quadratic's value_star), else the lowest h of the compared runs. The table reads the last point of each group's
curve: the median and 20–80% band over seeds at the end of the budget.
"""
import csv
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


def compare_final(csv_path):
    """{group label: (median, q20, q80)} at each group's last point of compare's curves CSV."""
    last = {}
    if not os.path.exists(csv_path):
        return last
    with open(csv_path) as f:
        reader = csv.reader(f)
        head = next(reader, None)
        for row in reader:
            if len(row) >= 5:
                last[row[0]] = (float(row[2]), float(row[3]), float(row[4]))
    return last


def h_star_note(pdir):
    path = os.path.join(pdir, "compare.log")
    if not os.path.exists(path):
        return "h* from compare"
    for line in open(path):
        if "value_subopt:" in line and "h*" in line:
            return line.split("value_subopt:", 1)[1].strip()
    return "h* from compare"


def report(out, seconds, load):
    grid_lines = ["# Step-size grid (seed 1): final value_subopt per outer_lr; * = winner", ""]
    table = [f"Measured by `experiments/stochastic/run.sh` in {seconds} s (load average {load}). value_subopt = "
             "h(λ) − h* at the end of the budget, median [20%, 80%] over seeds, from `bilevel-opt compare --metric "
             "value_subopt`. Rank by the median.", ""]
    for prob in PROBLEMS:
        pdir = os.path.join(out, prob)
        if not os.path.isdir(pdir):
            continue
        note = h_star_note(pdir)
        grid_final = compare_final(os.path.join(pdir, "grid_value_subopt.csv"))
        gdir = os.path.join(pdir, "grid")
        methods = sorted(os.listdir(gdir)) if os.path.isdir(gdir) else []
        width = max((len(lr_dirs(os.path.join(gdir, m))) for m in methods), default=4)
        grid_lines += [f"## {prob}", "", "| method | " + " | ".join(["outer_lr → value_subopt"] * width) + " |",
                       "|---" * (width + 1) + "|"]
        for method in methods:
            pts = lr_dirs(os.path.join(gdir, method))
            win = winner(os.path.join(gdir, method))
            cells = []
            for _, lr, d in pts:
                if final_value(d) == math.inf:
                    cells.append(f"{'*' if lr == win else ''}{lr} → diverged")
                    continue
                key = next((k for k in grid_final if k.startswith(f"method={method},") and
                            float(k.split("outer_lr=")[1]) == float(lr)), None)
                cells.append(f"{'*' if lr == win else ''}{lr} → {fmt(grid_final[key][0]) if key else '–'}")
            edge = " (edge)" if pts and win in (pts[0][1], pts[-1][1]) else ""
            grid_lines.append(f"| {method}{edge} | " + " | ".join(cells) + " |")
        grid_lines.append("")
        rdir = os.path.join(pdir, "runs")
        if not os.path.isdir(rdir):
            continue
        final = compare_final(os.path.join(pdir, "value_subopt_vs_cost.csv"))
        entries = []
        for method in os.listdir(rdir):
            runs = [os.path.join(rdir, method, s) for s in sorted(os.listdir(os.path.join(rdir, method)))]
            subs = final.get(method, (math.inf, math.inf, math.inf))
            res = [result(r) for r in runs]
            grads = [r2["value_grad_norm"] for r in runs for r2 in rows(r)[-1:] if "value_grad_norm" in r2]
            cfg = json.load(open(os.path.join(runs[0], "config.json"))) if runs else {}
            lr = cfg.get("run_options", {}).get("outer_lr", "?") if isinstance(cfg, dict) else "?"
            entries.append((subs[0], method, subs, res, grads, lr))
        entries.sort(key=lambda e: (e[0], e[1]))
        table += [f"### {prob} ({note})", "",
                  "| rank | method | outer_lr | value_subopt | ‖∇h‖ | steps | cost | estimator s | failed |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for rank, (med, method, subs, res, grads, lr) in enumerate(entries, 1):
            ok = [r for r in res if r.get("status") == "ok"]
            steps = statistics.median([r["steps"] for r in ok]) if ok else math.nan
            cost = statistics.median([r["cost"] for r in ok]) if ok else math.nan
            secs = statistics.median([r["seconds"] for r in ok]) if ok else math.nan
            band = f"{fmt(med)} [{fmt(subs[1])}, {fmt(subs[2])}]"
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
