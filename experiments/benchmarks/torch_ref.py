#!/usr/bin/python3
"""PyTorch reference of the bilevel-opt benchmark workloads (experiments/benchmarks/README.md, "vs PyTorch").

Written the way a PyTorch user computes MAML / unrolled hypergradients (as higher, learn2learn and TorchOpt
do): plain autograd, torch.autograd.grad(..., create_graph=True) for second order, float32 on the CPU.

  torch_ref.py check DIR [--float64]
      DIR was written by `bench_vs_torch sinusoid|hpo-l2 --out DIR`: recompute every exported hypergradient
      on the same instance and print one JSON line per estimator with the relative difference
      max|g_torch - g_bilevel| / max|g_torch|. Exit 1 if any exceeds its tolerance.
  torch_ref.py time WORKLOAD --threads N --steps S [--warmup W] [--data DIR] [--set key=value]...
      run W + S outer steps (hypergradient over the meta-batch + Adam step on lambda) and print one JSON
      line: wall and process-CPU seconds of each of the S timed steps, the wall median, peak RSS.

Workloads: sin-fo, sin-exact, sin-ufo (options r, meta_batch, k, hidden, inner_lr, q), fs-fo, fs-exact (Conv4
few-shot MAML; options r, meta_batch, inner_lr; need --data DIR from `bench_vs_torch fewshot`, whose tasks are
used in turn and whose problem options give the network), hpo-exact, hpo-iftcg
(options r, inner_lr, cg_iters; need --data DIR from `bench_vs_torch hpo-l2`), hpo-sgld (chains, samples,
tau, eta; --data DIR), hc-exact (data hyper-cleaning, options r, inner_lr, l2; --data DIR from
`bench_vs_torch hyper-cleaning`).
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------- models


def mlp_shapes(hidden):
    sizes = [1, hidden, hidden, 1]
    shapes = []
    for i in range(3):
        shapes += [(sizes[i], sizes[i + 1]), (sizes[i + 1],)]
    return shapes


def mlp_forward(params, x):
    w0, b0, w1, b1, w2, b2 = params
    h = F.relu(x @ w0 + b0)
    h = F.relu(h @ w1 + b1)
    return h @ w2 + b2


def split_flat(flat, shapes):
    out, off = [], 0
    for s in shapes:
        n = math.prod(s)
        out.append(flat[off:off + n].view(s))
        off += n
    return out


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


# ------------------------------------------------------------------------------------- sinusoid (MAML)


def maml_task_grads(params, task, r, lr, mode):
    """Hypergradient of one task. mode: 'exact' (second order), 'fo' (FOMAML), 'ufo-exact' (exact branch of
    UFOM: returns (g_exact, g_fo)). Returns (list of grads, query loss)."""
    xs, ys, xq, yq = task
    fast = list(params)
    second = mode != "fo"
    for _ in range(r):
        loss = F.mse_loss(mlp_forward(fast, xs), ys)
        grads = torch.autograd.grad(loss, fast, create_graph=second)
        fast = [p - lr * g for p, g in zip(fast, grads)]
    qloss = F.mse_loss(mlp_forward(fast, xq), yq)
    if mode == "ufo-exact":
        g = torch.autograd.grad(qloss, list(params) + fast)
        n = len(params)
        return (g[:n], g[n:]), qloss
    return torch.autograd.grad(qloss, params), qloss


def ufo_task_grads(params, task, r, lr, q, drawn):
    if not drawn:
        return maml_task_grads(params, task, r, lr, "fo")
    (g_ex, g_fo), qloss = maml_task_grads(params, task, r, lr, "ufo-exact")
    return [f + (e - f) / q for e, f in zip(g_ex, g_fo)], qloss


def sample_sinusoid_tasks(gen, n, k):
    amp = torch.empty(n, 1, 1).uniform_(0.1, 5.0, generator=gen)
    phase = torch.empty(n, 1, 1).uniform_(0.0, math.pi, generator=gen)
    x = torch.empty(n, 2 * k, 1).uniform_(-5.0, 5.0, generator=gen)
    y = amp * torch.sin(x - phase)
    return [(x[i, :k], y[i, :k], x[i, k:], y[i, k:]) for i in range(n)]


# ------------------------------------------------------------------------------------- fewshot (Conv4)


def conv4_params(lam, layout):
    """Torch-layout parameters from the flat lambda: conv weights (F, KH, KW, C) -> (F, C, KH, KW)."""
    out = []
    for b in layout:
        n = math.prod(b["shape"])
        t = lam[b["offset"]:b["offset"] + n].view(b["shape"])
        if len(b["shape"]) == 4:
            t = t.permute(0, 3, 1, 2)
        out.append(t.contiguous().clone())
    return out


def conv4_forward(params, x, stride):
    """x: (B, C, H, W). 4 x [conv 3x3 (stride 2, or 1 + 2x2 max-pool) -> batch norm with batch statistics -> ReLU]
    -> flatten in (H, W, C) order -> linear."""
    h = x
    for i in range(4):
        w, gamma, beta = params[3 * i:3 * i + 3]
        h = F.conv2d(h, w, stride=2 if stride else 1, padding=1)
        h = F.relu(F.batch_norm(h, None, None, gamma, beta, training=True, eps=1e-5))
        if not stride:
            h = F.max_pool2d(h, 2)
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
    return h @ params[12] + params[13]


def fewshot_task_grads(params, task, r, lr, mode, stride, sum_loss=False):
    """MAML hypergradient of one few-shot task: mode 'exact' (create_graph=True through the r steps) or 'fo'."""
    xs, ys, xq, yq = task
    red = "sum" if sum_loss else "mean"
    fast = list(params)
    for _ in range(r):
        loss = F.cross_entropy(conv4_forward(fast, xs, stride), ys, reduction=red)
        grads = torch.autograd.grad(loss, fast, create_graph=mode == "exact")
        fast = [p - lr * g for p, g in zip(fast, grads)]
    qloss = F.cross_entropy(conv4_forward(fast, xq, stride), yq, reduction=red)
    return torch.autograd.grad(qloss, params), qloss


class FewshotData:
    def __init__(self, d, dtype):
        meta = json.load(open(os.path.join(d, "meta.json")))
        self.meta = meta

        def arr(name):
            a = meta["arrays"][name]
            np_dtype = np.float32 if a["dtype"] == "float32" else np.int64
            v = np.fromfile(os.path.join(d, a["file"]), dtype=np_dtype).reshape(a["shape"])
            t = torch.from_numpy(v.copy())
            return t.to(dtype) if a["dtype"] == "float32" else t

        self.arr = arr
        po = meta["problem_options"]
        self.stride = po["downsample"] == "stride"
        self.sum_loss = po["loss"] == "sum"
        self.layout = meta["layout"]
        self.lam = arr("lambda")
        self.tasks = []
        for t in range(len(meta["tasks"])):
            p = "task%d_" % t
            nchw = lambda a: a.permute(0, 3, 1, 2).contiguous()
            self.tasks.append((nchw(arr(p + "xs")), arr(p + "ys"), nchw(arr(p + "xq")), arr(p + "yq")))


def to_flat_layout(grads, layout):
    """Gradients in torch layout back to the flat lambda's order."""
    out = []
    for g, b in zip(grads, layout):
        out.append((g.permute(0, 2, 3, 1) if len(b["shape"]) == 4 else g).reshape(-1))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------- hpo-l2


class HpoData:
    def __init__(self, d, dtype):
        meta = json.load(open(os.path.join(d, "meta.json")))
        self.meta = meta

        def arr(name):
            a = meta["arrays"][name]
            np_dtype = np.float32 if a["dtype"] == "float32" else np.int64
            v = np.fromfile(os.path.join(d, a["file"]), dtype=np_dtype).reshape(a["shape"])
            t = torch.from_numpy(v.copy())
            return t.to(dtype) if a["dtype"] == "float32" else t

        self.arr = arr
        self.xt, self.yt = arr("train_x"), arr("train_y")
        self.xv, self.yv = arr("val_x"), arr("val_y")
        self.theta0, self.lam0 = arr("theta0"), arr("lambda")
        self.d, self.c = self.xt.shape[1], int(max(self.yt.max(), self.yv.max())) + 1
        self.lr = meta["inner_lr"]


def logreg(theta, x, d, c):
    w = theta[: d * c].view(d, c)
    b = theta[d * c:]
    return x @ w + b


def hpo_inner_loss(D, theta, lam, x=None, y=None):
    x = D.xt if x is None else x
    y = D.yt if y is None else y
    return F.cross_entropy(logreg(theta, x, D.d, D.c), y) + 0.5 * torch.sum(torch.exp(lam) * theta * theta)


def hpo_outer_loss(D, theta):
    return F.cross_entropy(logreg(theta, D.xv, D.d, D.c), D.yv)


def hpo_exact(D, lam, r, lr):
    """Reverse mode through r unrolled GD steps (create_graph=True), the hypergradient dL_V/dlambda."""
    theta = D.theta0.clone().requires_grad_(True)
    for _ in range(r):
        (g,) = torch.autograd.grad(hpo_inner_loss(D, theta, lam), theta, create_graph=True)
        theta = theta - lr * g
    val = hpo_outer_loss(D, theta)
    (hg,) = torch.autograd.grad(val, lam)
    return hg, val


def hpo_ift_cg(D, lam, r, lr, cg_iters, cg_tol=1e-10):
    """Implicit differentiation at theta_r: solve H x = dL_V/dtheta by CG (HVPs by double backward), then
    hypergradient = -B^T x with B = d/dlambda grad_theta L_T. Same stopping rules as bilevel-opt."""
    theta = D.theta0.clone()
    lam_c = lam.detach()
    for _ in range(r):
        theta.requires_grad_(True)
        (g,) = torch.autograd.grad(hpo_inner_loss(D, theta, lam_c), theta)
        theta = (theta - lr * g).detach()
    theta.requires_grad_(True)
    val = hpo_outer_loss(D, theta)
    (b,) = torch.autograd.grad(val, theta)
    (g,) = torch.autograd.grad(hpo_inner_loss(D, theta, lam), theta, create_graph=True)
    x = torch.zeros_like(b)
    rr, d = b.clone(), b.clone()
    rs = float(rr.double().square().sum())
    stop = cg_tol * cg_tol * max(float(b.double().square().sum()), 1e-300)
    for _ in range(cg_iters):
        if not rs > stop:
            break
        (hd,) = torch.autograd.grad(g, theta, grad_outputs=d, retain_graph=True)
        dhd = float((d.double() * hd.double()).sum())
        if not dhd > 0:
            break
        a = rs / dhd
        x = x + a * d
        rr = rr - a * hd
        rs_new = float(rr.double().square().sum())
        d = rr + (rs_new / rs) * d
        rs = rs_new
    (bx,) = torch.autograd.grad(g, lam, grad_outputs=x)
    return -bx, val


def hpo_sgld_one_step(D, lam, chains, samples, eta, tau, data_n, noise=None, gen=None):
    """HPO-SGLD variant one-step (B): C chains of `samples` SGLD steps from theta0 (burn-in 0), every state
    after the first a sample; per sample the hypergradient term -eta * M_{k-1}^T v_k, M = d/dlambda grad_theta
    L_T at the previous state, v_k = grad_theta L_V(theta_k). Mean over all samples."""
    noise_std = math.sqrt(2 * eta * tau / data_n)
    total = torch.zeros_like(lam)
    loss_sum = 0.0
    for c in range(chains):
        theta = D.theta0.clone().requires_grad_(True)
        g_prev = None
        for t in range(samples + 1):
            if t >= 1:  # theta_t is a sample
                val = hpo_outer_loss(D, theta)
                (v,) = torch.autograd.grad(val, theta)
                (m,) = torch.autograd.grad(g_prev, lam, grad_outputs=v)
                total = total - eta * m
                loss_sum += float(val)
            if t == samples:
                break
            (g,) = torch.autograd.grad(hpo_inner_loss(D, theta, lam), theta, create_graph=True)
            xi = noise[c, t] if noise is not None else torch.randn(theta.shape, generator=gen, dtype=theta.dtype)
            theta = (theta.detach() - eta * g.detach() + noise_std * xi).requires_grad_(True)
            g_prev = g
    n = chains * samples
    return total / n, loss_sum / n


# ----------------------------------------------------------------------------------- hyper-cleaning


def hc_inner_loss(D, theta, lam, l2):
    """(1/n) sum_i sigmoid(lambda_i) CE_i + (l2/2) ||theta||^2, linear classifier theta = (W (d, c), b (c,))."""
    ce = F.cross_entropy(logreg(theta, D.xt, D.d, D.c), D.yt, reduction="none")
    return torch.mean(torch.sigmoid(lam) * ce) + 0.5 * l2 * torch.sum(theta * theta)


def hc_exact(D, lam, r, lr, l2):
    """Plain unroll: r GD steps with create_graph=True, then dL_V/dlambda by reverse mode."""
    theta = D.theta0.clone().requires_grad_(True)
    for _ in range(r):
        (g,) = torch.autograd.grad(hc_inner_loss(D, theta, lam, l2), theta, create_graph=True)
        theta = theta - lr * g
    val = hpo_outer_loss(D, theta)
    (hg,) = torch.autograd.grad(val, lam)
    return hg, val


# -------------------------------------------------------------------------------------------- check


def rel_diff(a, b):
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def load_f32(d, meta, name, dtype):
    a = meta["arrays"][name]
    v = np.fromfile(os.path.join(d, a["file"]), dtype=np.float32).reshape(a["shape"])
    return torch.from_numpy(v.copy()).to(dtype)


def check(args):
    d = args.dir
    meta = json.load(open(os.path.join(d, "meta.json")))
    dtype = torch.float64 if args.float64 else torch.float32
    rows = []
    tol = args.tol

    def report(name, bilevel, ours, extra=None):
        row = {"problem": meta["problem"], "estimator": name, "dtype": str(dtype).replace("torch.", ""),
               "rel_diff": rel_diff(bilevel, ours), "norm_torch": float(ours.double().norm()),
               "norm_bilevel": float(bilevel.double().norm()), "tol": tol}
        row.update(extra or {})
        row["pass"] = row["rel_diff"] <= tol
        rows.append(row)
        print(json.dumps(row), flush=True)

    if meta["problem"] == "sinusoid":
        hidden = meta["problem_options"]["hidden"]
        shapes = mlp_shapes(hidden)
        lr, r, q = meta["inner_lr"], meta["inner_steps"], meta["ufo_q"]
        lam = load_f32(d, meta, "lambda", dtype)
        params = [p.clone().requires_grad_(True) for p in split_flat(lam, shapes)]
        for t, tinfo in enumerate(meta["tasks"]):
            p = "task%d_" % t
            task = tuple(load_f32(d, meta, p + s, dtype) for s in ("xs", "ys", "xq", "yq"))
            for mode in ("fo", "exact"):
                g, ql = maml_task_grads(params, task, r, lr, mode)
                report("%s task%d" % (mode, t), load_f32(d, meta, p + mode, dtype), flat(g),
                       {"outer_loss_torch": float(ql), "outer_loss_bilevel": tinfo["outer_loss"]})
            drawn = bool(tinfo["ufo_exact_drawn"])
            g, ql = ufo_task_grads(params, task, r, lr, q, drawn)
            report("ufo task%d (exact drawn: %s)" % (t, drawn), load_f32(d, meta, p + "ufo", dtype), flat(g))
    elif meta["problem"] == "fewshot":
        D = FewshotData(d, dtype)
        r, lr = meta["inner_steps"], meta["inner_lr"]
        params = [p.requires_grad_(True) for p in conv4_params(D.lam, D.layout)]
        for t, task in enumerate(D.tasks):
            for mode in ("fo", "exact"):
                g, ql = fewshot_task_grads(params, task, r, lr, mode, D.stride, D.sum_loss)
                report("%s task%d r=%d" % (mode, t, r), D.arr("task%d_%s" % (t, mode)), to_flat_layout(g, D.layout),
                       {"outer_loss_torch": float(ql), "outer_loss_bilevel": meta["tasks"][t]["outer_loss"]})
    elif meta["problem"] == "hyper-cleaning":
        D = HpoData(d, dtype)
        lam = D.lam0.clone().requires_grad_(True)
        r, lr, l2 = meta["inner_steps"], D.lr, float(meta["problem_options"]["l2"])
        hg, val = hc_exact(D, lam, r, lr, l2)
        report("exact r=%d" % r, D.arr("exact"), hg,
               {"outer_loss_torch": float(val), "outer_loss_bilevel": meta["results"]["exact"]["outer_loss"]})
    else:
        D = HpoData(d, dtype)
        res = meta["results"]
        lam = D.lam0.clone().requires_grad_(True)
        r, lr = meta["inner_steps"], D.lr
        hg, val = hpo_exact(D, lam, r, lr)
        report("exact r=%d" % r, D.arr("exact"), hg,
               {"outer_loss_torch": float(val), "outer_loss_bilevel": res["exact"]["outer_loss"]})
        it = int(res["ift_cg"]["options"]["cg_iters"])
        hg, val = hpo_ift_cg(D, lam, r, lr, it, float(res["ift_cg"]["options"]["cg_tol"]))
        report("ift-cg r=%d cg_iters=%d" % (r, it), D.arr("ift_cg"), hg,
               {"outer_loss_torch": float(val), "outer_loss_bilevel": res["ift_cg"]["outer_loss"]})
        so = res["sgld"]["options"]
        noise = D.arr("sgld_noise")
        chains, samples = noise.shape[0], noise.shape[1]
        eta = D.lr if so["eta"] == "inner" else float(so["eta"])
        tau = float(so["tau"])
        hg, lv = hpo_sgld_one_step(D, lam, chains, samples, eta, tau, meta["sgld_data_n"], noise=noise)
        report("sgld one-step %dx%d tau=%g" % (chains, samples, tau), D.arr("sgld"), hg,
               {"outer_loss_torch": lv, "outer_loss_bilevel": res["sgld"]["outer_loss"]})
    ok = all(r["pass"] for r in rows)
    return 0 if ok else 1


# --------------------------------------------------------------------------------------------- time


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def time_workload(args):
    torch.set_num_threads(args.threads)
    opts = dict(kv.split("=", 1) for kv in args.set)
    w = args.workload
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    prepare = lambda: None  # what a step is given before its clock starts; the HPO workloads have fixed data

    if w.startswith("sin-"):
        r = int(opts.get("r", 5))
        mb = int(opts.get("meta_batch", 25))
        k = int(opts.get("k", 10))
        hidden = int(opts.get("hidden", 40))
        lr = float(opts.get("inner_lr", 0.01))
        q = float(opts.get("q", 0.1))
        mode = w[4:]
        shapes = mlp_shapes(hidden)
        params = []
        for i, s in enumerate(shapes):  # framework-default init U(+-1/sqrt(fan_in)), as the sinusoid problem
            bound = 1.0 / math.sqrt(shapes[i - i % 2][0])
            params.append(torch.empty(s).uniform_(-bound, bound, generator=gen).requires_grad_(True))
        opt = torch.optim.Adam(params, lr=float(opts.get("outer_lr", 0.001)))

        def prepare():
            return sample_sinusoid_tasks(gen, mb, k)

        def outer_step(tasks):
            acc = [torch.zeros_like(p) for p in params]
            for task in tasks:
                if mode == "ufo":
                    g, _ = ufo_task_grads(params, task, r, lr, q, bool(rng.random() < q))
                else:
                    g, _ = maml_task_grads(params, task, r, lr, mode)
                for a, gi in zip(acc, g):
                    a.add_(gi)
            for p, a in zip(params, acc):
                p.grad = a / mb
            opt.step()
    elif w.startswith("fs-"):
        D = FewshotData(args.data, torch.float32)
        r = int(opts.get("r", 5))
        mb = int(opts.get("meta_batch", 5))
        lr = float(opts.get("inner_lr", D.meta["inner_lr"]))
        mode = w[3:]
        params = [p.requires_grad_(True) for p in conv4_params(D.lam, D.layout)]
        opt = torch.optim.Adam(params, lr=float(opts.get("outer_lr", 0.001)))
        counter = [0]

        def prepare():
            tasks = []
            for _ in range(mb):
                tasks.append(D.tasks[counter[0] % len(D.tasks)])
                counter[0] += 1
            return tasks

        def outer_step(tasks):
            acc = [torch.zeros_like(p) for p in params]
            for task in tasks:
                g, _ = fewshot_task_grads(params, task, r, lr, mode, D.stride, D.sum_loss)
                for a, gi in zip(acc, g):
                    a.add_(gi)
            for p, a in zip(params, acc):
                p.grad = a / mb
            opt.step()
    elif w == "hc-exact":
        D = HpoData(args.data, torch.float32)
        r = int(opts.get("r", D.meta["inner_steps"]))
        lr = float(opts.get("inner_lr", D.lr))
        l2 = float(opts.get("l2", D.meta["problem_options"]["l2"]))
        lam = D.lam0.clone().requires_grad_(True)
        opt = torch.optim.Adam([lam], lr=float(opts.get("outer_lr", 0.1)))

        def outer_step(_):
            lam.grad = hc_exact(D, lam, r, lr, l2)[0]
            opt.step()
    elif w.startswith("hpo-"):
        D = HpoData(args.data, torch.float32)
        r = int(opts.get("r", 20))
        lr = float(opts.get("inner_lr", D.lr))
        lam = D.lam0.clone().requires_grad_(True)
        opt = torch.optim.Adam([lam], lr=float(opts.get("outer_lr", 0.05)))
        if w == "hpo-exact":
            fn = lambda: hpo_exact(D, lam, r, lr)[0]
        elif w == "hpo-iftcg":
            fn = lambda: hpo_ift_cg(D, lam, r, lr, int(opts.get("cg_iters", 20)))[0]
        elif w == "hpo-sgld":
            chains, samples = int(opts.get("chains", 8)), int(opts.get("samples", 200))
            eta, tau = float(opts.get("eta", D.lr)), float(opts.get("tau", 1.0))
            fn = lambda: hpo_sgld_one_step(D, lam, chains, samples, eta, tau, D.xt.shape[0], gen=gen)[0]
        else:
            raise SystemExit("unknown workload " + w)

        def outer_step(_):
            lam.grad = fn()
            opt.step()
    else:
        raise SystemExit("unknown workload " + w)
    # A step's tasks are drawn (sinusoid) or picked (fewshot: the exported tasks) before its clock starts, as
    # bench_vs_torch draws its tasks before timing: both sides time the hypergradients and the outer update.

    rss_setup = current_rss_bytes()
    times, cpu = [], []
    for i in range(args.warmup + args.steps):
        prepared = prepare()
        t0, c0 = time.perf_counter(), time.process_time()
        outer_step(prepared)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if i >= args.warmup:
            times.append(dt)
            cpu.append(dc)
    print(json.dumps({"impl": "torch", "workload": w, "threads": args.threads, "options": opts,
                      "median_s": statistics.median(times), "min_s": min(times), "step_seconds": times,
                      "step_cpu_seconds": cpu,
                      "peak_rss_bytes": peak_rss_bytes(), "rss_after_setup_bytes": rss_setup,
                      "torch": torch.__version__}), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("--float64", action="store_true")
    c.add_argument("--tol", type=float, default=1e-4)
    t = sub.add_parser("time")
    t.add_argument("workload")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--steps", type=int, default=10)
    t.add_argument("--warmup", type=int, default=2)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--data", default="")
    t.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    return check(args) if args.cmd == "check" else time_workload(args)


if __name__ == "__main__":
    sys.exit(main())
