#!/usr/bin/env python3
"""Strong scaling of `train` across MPI ranks, and a model of the time per outer step.

For each workload: 1 rank × 1 thread (a plain process), 2 ranks × 1 thread (mpirun -np 2) and, for comparison,
1 rank × 2 threads; each configuration is run --repeats times, interleaved, and the median estimator time per
outer step is kept (result.json "seconds" / steps: evaluation excluded). The 2-rank runs also report, per step,
the slowest rank's compute time and the rest (sending λ and the estimator state, gathering every item, waiting
and polling: "overhead"), and the bytes rank 0 moved. It checks that every configuration wrote the same
lambda.bin, then prints a Markdown table and the model (README "Distributed runs (MPI)"):

    t(R) = t_serial + t_item · ⌈items / R⌉ / threads + (R − 1) · o

t_item from the 1 × 1 run ((t(1) − t_serial) / items), t_serial and o from the 2-rank run (its step time minus
the slowest share and the overhead; the overhead), items = the meta-batch's tasks (or tasks × chains when there are fewer tasks than ranks). Rank 0 talks
to every other rank in turn, so o grows linearly with R; communication dominates once (R − 1)·o exceeds
t_item·⌈items/R⌉, and no rank count beats ⌈items/R⌉ = 1.

usage: [BILEVEL_DATA=DIR] python3 experiments/mpi/scaling.py [--bin build/mpi/bilevel-opt] [--out runs/mpi-scaling]
       [--repeats 3]      (the few-shot workload runs when DIR/manifest.json exists: make data)
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

WORKLOADS = [
    # name, train arguments, items (work items of one step), steps
    ("sinusoid, exact, meta-batch 25", ["--problem", "sinusoid", "--method", "exact", "--set", "meta_batch=25",
                                        "--set", "eval_every=1000"], 25, 40),
    ("gaussian-sgld P=512, sgld one-step, 8 chains", ["--problem", "gaussian-sgld", "--set", "instance=random", "--set", "dim=512", "--method",
                                                      "sgld", "--set", "chains=8", "--set", "variant=one-step",
                                                      "--set", "burn_in=100", "--set", "samples=100", "--set", "eta=0.1",
                                                      "--set", "eval_every=1000"], 8, 6),
]
# Few-shot Conv4 (5-way 1-shot on the hanzi stand-in, 4 tasks a step) when the data are there ($BILEVEL_DATA).
if os.path.isfile(os.path.join(os.environ.get("BILEVEL_DATA", "data"), "manifest.json")):
    WORKLOADS.append(("fewshot hanzi 5-way 1-shot Conv4, exact, meta-batch 4",
                      ["--problem", "fewshot", "--set", "dataset=hanzi", "--method", "exact", "--set", "meta_batch=4",
                       "--set", "eval_tasks=10", "--set", "eval_every=1000"], 4, 4))
CONFIGS = [("1 × 1", 1, 1), ("2 × 1", 2, 1), ("1 × 2", 1, 2)]


def run(binary, mpirun, ranks, threads, args, steps, out):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [binary, "train", *args, "--steps", str(steps), "--threads", str(threads), "--seed", "1", "--quiet",
           "--out", out]
    if ranks > 1:
        extra = ["--allow-run-as-root"] if os.getuid() == 0 else []
        cmd = [mpirun, *extra, "--oversubscribe", "--mca", "btl", "self,vader", "-x", "BILEVEL_DATA", "-np", str(ranks), *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "result.json")) as f:
        r = json.load(f)
    with open(os.path.join(out, "lambda.bin"), "rb") as f:
        lam = f.read()
    return r, lam


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/mpi/bilevel-opt")
    ap.add_argument("--mpirun", default=shutil.which("mpirun") or "mpirun")
    ap.add_argument("--out", default="runs/mpi-scaling")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    os.environ.setdefault("BILEVEL_DATA", "data")
    load_before = os.getloadavg()[0]
    lines = ["| workload | ranks × threads | s / outer step | speed-up | 2 ranks: compute / overhead per step | bytes / step |",
             "|---|---|---|---|---|---|"]
    model = []
    for name, args, items, steps in WORKLOADS:
        times = {c[0]: [] for c in CONFIGS}
        dist = []
        lams = set()
        for rep in range(a.repeats):
            for label, ranks, threads in CONFIGS:
                out = os.path.join(a.out, f"{len(model)}-{label.replace(' × ', 'x')}-{rep}")
                r, lam = run(a.bin, a.mpirun, ranks, threads, args, steps, out)
                lams.add(lam)
                times[label].append(r["seconds"] / r["steps"])
                if "distributed" in r:
                    dist.append(r["distributed"])
        if len(lams) != 1:
            sys.exit(f"{name}: the configurations wrote different lambda.bin files")
        med = {k: statistics.median(v) for k, v in times.items()}
        comp = statistics.median(d["compute_seconds"] for d in dist)
        over = statistics.median(d["overhead_seconds"] for d in dist)
        nbytes = dist[0]["bytes"]
        for label, _, _ in CONFIGS:
            extra = f"{comp * 1e3:.2f} ms / {over * 1e3:.2f} ms" if label == "2 × 1" else ""
            b = str(nbytes) if label == "2 × 1" else ""
            lines.append(f"| {name} | {label} | {med[label] * 1e3:.2f} ms | {med['1 × 1'] / med[label]:.2f} | {extra} | {b} |")
        # Model: t_serial (rank 0 alone: reduction, optimizer step) and o (overhead per extra rank) from the 2-rank
        # run, t_item from the 1-rank run.
        t_serial = max(0.0, med["2 × 1"] - comp - over)
        o = over
        t_item = max(0.0, med["1 × 1"] - t_serial) / items

        def predict(r):
            return t_serial + t_item * math.ceil(items / r) + (r - 1) * o

        crossover = next((r for r in range(2, 4097) if (r - 1) * o > t_item * math.ceil(items / r)), None)
        model.append(f"- {name}: t_item = {t_item * 1e3:.2f} ms, t_serial = {t_serial * 1e3:.3f} ms, "
                     f"o = {o * 1e3:.2f} ms per extra rank, items = {items}. Predicted s / step: 2 ranks "
                     f"{predict(2) * 1e3:.2f} ms (measured {med['2 × 1'] * 1e3:.2f}), 8 ranks {predict(8) * 1e3:.2f} ms, "
                     f"64 ranks {predict(64) * 1e3:.2f} ms (only {min(items, 64)} of the 64 ranks have an item); "
                     f"communication exceeds the compute share from {crossover} ranks on")
    load_after = os.getloadavg()[0]
    text = "\n".join(lines) + "\n\nModel t(R) = t_serial + t_item·⌈items/R⌉ + (R−1)·o:\n\n" + "\n".join(model) + \
        f"\n\nLoad average (1 min) before / after: {load_before:.1f} / {load_after:.1f} on {os.cpu_count()} CPUs; " \
        f"median of {a.repeats} interleaved repeats. Same lambda.bin in every configuration.\n"
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "scaling.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
