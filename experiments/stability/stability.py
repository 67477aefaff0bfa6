#!/usr/bin/env python3
"""The stability study's specs and report (driven by stability.sh).

  stability.py specs OUT [--quick]   write OUT/specs/<problem>__<estimator>.toml, one sweep spec each
  stability.py eval-args PROBLEM     print the `bilevel-opt eval` --set flags of PROBLEM's fixed protocol
  stability.py report OUT            read every run under OUT/<problem>__<estimator>/runs and write
                                     OUT/runs.csv, OUT/table.md and OUT/plots/<problem>.{gp,png}

The final validation metric is measured under one fixed protocol per problem (EVAL: the problem's default
inner lr and steps), by `bilevel-opt eval RUN --set inner_lr=… --set inner_steps=…` on the run's final λ
(RUN/eval_fixed.json): the swept inner settings change how λ is learned, not how it is judged, and sgld (which
does not use them) is judged the same way. "Worse than λ₀" compares the run's own first and last evaluation.

Each estimator is swept over its own sensitive settings on log grids (the GRIDS table), every grid point
with SEEDS replicates; a replicate changes both the estimator's seed and the problem instance
(instance_seed: the data subsets, corrupted labels, label noise), so deterministic estimators vary too.

Counting (never dropping): every run of the grid × seeds is in the denominators. A run is
  diverged   its status is `diverged` (a non-finite hypergradient, outer loss or λ) or its final validation
             metric is not finite;
  failed     it ended any other way than ok or diverged (error, killed, missing result.json);
and both enter the IQR, the medians and the rankings as +∞ (the worst possible value).
"""
import csv
import json
import math
import os
import statistics
import subprocess
import sys

SEEDS = 5

# Problems: base options (problem and run options), outer steps, and the validation metric to report.
PROBLEMS = {
    "toy-multimin": {
        "options": {"l2_init": 0.001, "gibbs_tau": 0.1, "eval_restarts": 8, "outer_lr": 0.1, "eval_every": 100000},
        "steps": 30,
        "metric": "val_loss",
        "eval": {"inner_lr": 0.02, "inner_steps": 2000},
        "lr": [0.005, 0.02, 0.08],
        "r": [100, 300, 1000],
        "sgld": {"chains": 2, "burn_in": 50, "samples": 10, "init_spread": 2.0},
    },
    "hyper-cleaning": {
        "options": {"dataset": "digits", "n_train": 500, "n_val": 500, "corruption": 0.5, "outer_lr": 0.1,
                    "eval_every": 100000},
        "steps": 20,
        "metric": "val_loss",
        "eval": {"inner_lr": 1.0, "inner_steps": 50},
        "lr": [0.25, 1.0, 4.0],
        "r": [5, 20, 80],
        "sgld": {"chains": 2, "burn_in": 10, "samples": 5},
    },
    "hpo-l2": {
        "options": {"dataset": "digits", "n_train": 300, "n_val": 300, "outer_lr": 0.05, "eval_every": 100000},
        "steps": 20,
        "metric": "val_loss",
        "eval": {"inner_lr": 2.0, "inner_steps": 100},
        "lr": [0.25, 1.0, 4.0],
        "r": [5, 20, 80],
        "sgld": {"chains": 2, "burn_in": 10, "samples": 5},
    },
}

# Per estimator: its method options and its two swept settings (name → grid, taken from the problem when the
# grid is a key of PROBLEMS' entry). sgld's η grid is the problem's inner-lr grid.
ESTIMATORS = {
    "fo": {"method": "fo", "fixed": {}, "axes": {"inner_lr": "lr", "inner_steps": "r"}},
    "exact": {"method": "exact", "fixed": {}, "axes": {"inner_lr": "lr", "inner_steps": "r"}},
    "ift-cg": {"method": "ift-cg", "fixed": {}, "axes": {"cg_iters": [3, 10, 30], "inner_steps": "r"}},
    "ift-neumann": {"method": "ift-neumann", "fixed": {}, "axes": {"neumann_iters": [3, 10, 30], "inner_lr": "lr"}},
    "sgld": {"method": "sgld", "fixed": {"variant": "two-pass"}, "axes": {"eta": "lr", "tau": [0.01, 0.1, 1.0]}},
}


def quick_grid(grid):
    """--quick: the two ends of each grid."""
    return [grid[0], grid[-1]]


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def axes_of(problem, est, quick):
    out = {}
    for key, grid in ESTIMATORS[est]["axes"].items():
        values = PROBLEMS[problem][grid] if isinstance(grid, str) else grid
        out[key] = quick_grid(values) if quick else list(values)
    return out


def write_specs(out, quick):
    os.makedirs(os.path.join(out, "specs"), exist_ok=True)
    for problem, pc in PROBLEMS.items():
        for est, ec in ESTIMATORS.items():
            steps = pc["steps"] // 2 if quick else pc["steps"]
            lines = ['description = "stability study: %s on %s, its sensitive settings on log grids"' % (est, problem),
                     "problem = %s" % toml_value(problem), "method = %s" % toml_value(ec["method"]),
                     "steps = %d" % steps, "threads = 1"]
            opts = dict(pc["options"])
            opts.update(ec["fixed"])
            if est == "sgld":
                opts.update(pc["sgld"])
            for k, v in opts.items():
                lines.append("%s = %s" % (k, toml_value(v)))
            for k, v in axes_of(problem, est, quick).items():
                lines.append("%s = %s" % (k, toml_value(v)))
            lines += ["", "[zip]", "seed = %s" % toml_value(list(range(1, SEEDS + 1))),
                      "instance_seed = %s" % toml_value(list(range(1, SEEDS + 1)))]
            with open(os.path.join(out, "specs", "%s__%s.toml" % (problem, est)), "w") as f:
                f.write("\n".join(lines) + "\n")


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


def read_runs(out):
    """One row per run of every sweep under OUT, from its config.json, result.json and curve.jsonl."""
    rows = []
    for problem in PROBLEMS:
        for est in ESTIMATORS:
            sweep = os.path.join(out, "%s__%s" % (problem, est))
            index_file = os.path.join(sweep, "index.json")
            if not os.path.exists(index_file):
                continue
            index = json.load(open(index_file))
            metric = PROBLEMS[problem]["metric"]
            axes = list(ESTIMATORS[est]["axes"])
            for entry in index["runs"]:
                run_dir = os.path.join(sweep, "runs", entry["name"])
                cfg_path, res_path = os.path.join(run_dir, "config.json"), os.path.join(run_dir, "result.json")
                cfg = json.load(open(cfg_path)) if os.path.exists(cfg_path) else {}
                opts = {}
                for part in ("problem_options", "method_options", "run_options"):
                    opts.update(cfg.get(part, {}))
                row = {"problem": problem, "estimator": est, "run": entry["name"], "metric": metric}
                # The settings from the index's options (they are there even when the run left no config).
                eopts = entry.get("options", {})
                for k in axes + ["seed", "instance_seed"]:
                    v = eopts.get(k, opts.get(k, cfg.get(k)))
                    row[k] = float(v) if v is not None else None
                status, final, own, initial = "failed", float("nan"), float("nan"), float("nan")
                if os.path.exists(res_path):
                    res = json.load(open(res_path))
                    status = res.get("status", "failed")
                    v = res.get("final", {}).get(metric)
                    own = float(v) if finite(v) else float("nan")
                    ev_path = os.path.join(run_dir, "eval_fixed.json")
                    if os.path.exists(ev_path):
                        v = json.load(open(ev_path)).get("metrics", {}).get(metric)
                        final = float(v) if finite(v) else float("nan")
                curve = os.path.join(run_dir, "curve.jsonl")
                if os.path.exists(curve):
                    with open(curve) as f:
                        first = f.readline()
                    if first.strip():
                        v = json.loads(first).get(metric)
                        initial = float(v) if finite(v) else float("nan")
                if status == "ok" and not math.isfinite(final):
                    status = "diverged"
                row.update({"status": status, "final": final, "final_own": own, "initial": initial})
                rows.append(row)
    return rows


def score(row):
    """The run's value for rankings: its final metric, +∞ unless it ended ok with a finite one."""
    return row["final"] if row["status"] == "ok" and math.isfinite(row["final"]) else math.inf


def quantile(sorted_vals, q):
    """Linear-interpolation quantile of sorted values (may hold +∞)."""
    if not sorted_vals:
        return float("nan")
    pos = (len(sorted_vals) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    a, b = sorted_vals[lo], sorted_vals[hi]
    if lo == hi or a == b:
        return a
    if math.isinf(b):
        return math.inf
    return a + (b - a) * (pos - lo)


def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞"
    return "%.*g" % (digits, x)


def setting_text(est, key):
    return ", ".join("%s=%s" % (k, fmt(v, 4)) for k, v in zip(ESTIMATORS[est]["axes"], key))


def summarize(rows):
    """Per (problem, estimator): counts, spread and the best and median settings."""
    out = []
    for problem in PROBLEMS:
        for est in ESTIMATORS:
            rs = [r for r in rows if r["problem"] == problem and r["estimator"] == est]
            if not rs:
                continue
            axes = list(ESTIMATORS[est]["axes"])
            n = len(rs)
            diverged = sum(r["status"] == "diverged" for r in rs)
            failed = sum(r["status"] not in ("ok", "diverged") for r in rs)
            # The run's own last evaluation against its first (same protocol); diverged runs count as worse.
            worse = sum(1 for r in rs if r["status"] != "ok" or not (r["final_own"] <= r["initial"]))
            vals = sorted(score(r) for r in rs)
            q25, q50, q75 = quantile(vals, 0.25), quantile(vals, 0.5), quantile(vals, 0.75)
            points = {}
            for r in rs:
                points.setdefault(tuple(r[k] for k in axes), []).append(score(r))
            med = {k: quantile(sorted(v), 0.5) for k, v in points.items()}
            order = sorted(med, key=lambda k: (med[k], k))
            best, mid = order[0], order[(len(order) - 1) // 2]
            best_vals = sorted(points[best])
            init = [r["initial"] for r in rs if math.isfinite(r["initial"])]
            out.append({
                "problem": problem, "estimator": est, "runs": n, "points": len(points),
                "seeds_per_point": min(len(v) for v in points.values()),
                "diverged": diverged, "failed": failed, "worse_than_start": worse,
                "initial_median": statistics.median(init) if init else float("nan"),
                "median": q50, "q25": q25, "q75": q75, "iqr": q75 - q25 if math.isfinite(q75) else math.inf,
                "best": setting_text(est, best), "best_median": med[best],
                "best_seed_iqr": quantile(best_vals, 0.75) - quantile(best_vals, 0.25)
                if math.isfinite(quantile(best_vals, 0.75)) else math.inf,
                "median_setting": setting_text(est, mid), "median_setting_value": med[mid],
                "worst_median": med[order[-1]],
            })
    return out


def write_table(summary, path, header):
    lines = header + [
        "| problem | estimator | runs (grid × seeds) | diverged | failed | worse than λ₀ | final val_loss: median "
        "[q25, q75] | IQR over grid × seeds | best setting (median over seeds; IQR over seeds) | median setting "
        "(its median) | worst setting's median |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        pct = lambda k: "%d (%.0f%%)" % (s[k], 100.0 * s[k] / s["runs"])
        lines.append("| %s | %s | %d = %d × %d | %s | %s | %s | %s [%s, %s] | %s | %s: %s (%s) | %s: %s | %s |" % (
            s["problem"], s["estimator"], s["runs"], s["points"], s["seeds_per_point"], pct("diverged"),
            pct("failed"), pct("worse_than_start"), fmt(s["median"]), fmt(s["q25"]), fmt(s["q75"]), fmt(s["iqr"]),
            s["best"], fmt(s["best_median"]), fmt(s["best_seed_iqr"]), s["median_setting"],
            fmt(s["median_setting_value"]), fmt(s["worst_median"])))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def write_plots(rows, out):
    """Per problem: a grid of panels, one row per estimator and one column per swept setting, the median over
    seeds of the final metric (bars: q25–q75 over seeds) against that setting on a log axis, one line per value
    of the other setting. Diverged and failed runs count as +∞ in the medians; a point whose median is +∞ is
    drawn as a cross at the top of the panel. The data are numbers written by this script; labels are fixed
    names of problems, estimators and options, never text read from run files."""
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    made = []
    for problem in PROBLEMS:
        ests = [e for e in ESTIMATORS if any(r["problem"] == problem and r["estimator"] == e for r in rows)]
        if not ests:
            continue
        finite_vals = [score(r) for r in rows if r["problem"] == problem and math.isfinite(score(r))]
        init = [r["initial"] for r in rows if r["problem"] == problem and math.isfinite(r["initial"])]
        top = max(finite_vals) * 1.05 if finite_vals else 1.0
        bottom = min(finite_vals) * 0.95 if finite_vals else 0.0
        gp = ["set terminal pngcairo noenhanced size 1100,%d font ',9'" % (260 * len(ests)),
              "set output '%s.png'" % problem,
              "set multiplot layout %d,2 title 'stability: %s, final %s (median over seeds, bars q25-q75; x = diverged)'"
              % (len(ests), problem, PROBLEMS[problem]["metric"]),
              "set logscale x", "set key top left font ',8'", "set yrange [%g:%g]" % (bottom, top * 1.05),
              "set grid"]
        for est in ests:
            axes = list(ESTIMATORS[est]["axes"])
            rs = [r for r in rows if r["problem"] == problem and r["estimator"] == est]
            for i, xk in enumerate(axes):
                ok = axes[1 - i]
                ovals = sorted({r[ok] for r in rs})
                blocks, plots = [], []
                for j, ov in enumerate(ovals):
                    data, bad = [], []
                    for xv in sorted({r[xk] for r in rs}):
                        sc = sorted(score(r) for r in rs if r[xk] == xv and r[ok] == ov)
                        if not sc:
                            continue
                        m, a, b = quantile(sc, 0.5), quantile(sc, 0.25), quantile(sc, 0.75)
                        if math.isinf(m):
                            bad.append("%g %g" % (xv, top))
                        else:
                            data.append("%g %g %g %g" % (xv, m, a, min(b, top)))
                    name = "$d%d_%d" % (j, i)
                    blocks.append("%s << EOD\n%s\nEOD" % (name, "\n".join(data) if data else "nan nan nan nan"))
                    plots.append("%s using 1:2:3:4 with yerrorlines lc %d title '%s=%g'" % (name, j + 1, ok, ov))
                    if bad:
                        bname = "$x%d_%d" % (j, i)
                        blocks.append("%s << EOD\n%s\nEOD" % (bname, "\n".join(bad)))
                        plots.append("%s using 1:2 with points pt 2 ps 2 lc %d notitle" % (bname, j + 1))
                gp += blocks
                gp += ["set title '%s: against %s'" % (est, xk), "set xlabel '%s'" % xk,
                       "set ylabel '%s'" % PROBLEMS[problem]["metric"], "plot " + ", ".join(plots)]
        gp.append("unset multiplot")
        gp_path = os.path.join(out, "plots", problem + ".gp")
        with open(gp_path, "w") as f:
            f.write("\n".join(gp) + "\n")
        try:
            subprocess.run(["gnuplot", problem + ".gp"], cwd=os.path.join(out, "plots"), check=True)
            made.append(os.path.join(out, "plots", problem + ".png"))
        except (OSError, subprocess.CalledProcessError) as e:
            print("stability.py: gnuplot failed for %s (%s); the script is %s" % (problem, e, gp_path), file=sys.stderr)
    return made


def report(out, header_lines):
    rows = read_runs(out)
    if not rows:
        sys.exit("stability.py: no runs under %s" % out)
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        keys = ["problem", "estimator", "run", "status", "final", "final_own", "initial", "seed", "instance_seed"]
        extra = sorted({k for r in rows for k in r} - set(keys) - {"metric"})
        w = csv.DictWriter(f, fieldnames=keys + extra, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    summary = summarize(rows)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=lambda x: None)
    lines = write_table(summary, os.path.join(out, "table.md"), header_lines)
    plots = write_plots(rows, out)
    print("\n".join(lines))
    for p in plots:
        print("plot:", p)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("specs", "report", "eval-args"):
        sys.exit("usage: stability.py specs OUT [--quick] | eval-args PROBLEM | report OUT [HEADER_LINE...]")
    if argv[1] == "specs":
        write_specs(argv[2], "--quick" in argv[3:])
    elif argv[1] == "eval-args":
        print(" ".join("--set %s=%s" % kv for kv in PROBLEMS[argv[2]]["eval"].items()))
    else:
        report(argv[2], argv[3:])


if __name__ == "__main__":
    main(sys.argv)
