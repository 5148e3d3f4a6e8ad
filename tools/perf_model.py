#!/usr/bin/python3
"""Performance model of one Deep RFM layer (docs/scaling.md): flops, memory per rank and bytes
communicated per rank for every phase, as functions of n, n_test, d, D, C, P = Pr x Pc, block b.

    perf_model.py dgemm [--size 2000]                   DGEMM GFLOP/s of one core, measured now
    perf_model.py compare RESULTS_DIR [--cores 2]       predicted vs measured, per phase
    perf_model.py project [--node-cores 128 ...]        time and memory per layer on clusters
    perf_model.py phases --n N --d d --ranks P ...      the model's numbers for one configuration

'compare' calibrates one rate per phase (flops / seconds) on the 1-rank run of each problem in
the directory (with repeats: the fastest repeat of each phase) and predicts the other rank
counts from the model's division of work, its load imbalance, its communication volume and the
replicated (serial) work; it prints a Markdown
table and writes model_vs_measured.csv into the directory's plots/ folder (or --out).
"""
import argparse
import math
import os
import sys

PHASES = ["normalize", "metrics", "kernel", "factorization", "solve", "residual", "agop", "test",
          "sqrt", "feature_map"]
# Phases whose work is not divided among the ranks (done on rank 0 or replicated everywhere).
SERIAL_PHASES = {"sqrt"}


def test_chunk_rows(n, n_test, block):
    """src/rfm/deep_rfm.cpp: test rows per chunk of the test kernel."""
    if n_test <= 0:
        return 0
    quarter = max(block, ((n // 4) // block) * block)
    return min(n_test, quarter)


def imbalance(n, q, b):
    """Largest local share of n rows cyclic in blocks of b over q processes / the mean share."""
    if q <= 1 or n <= 0:
        return 1.0
    blocks = math.ceil(n / b)
    mine = min(n, math.ceil(blocks / q) * b)
    return mine / (n / q)


def grid_shape(p):
    """Most square Pr x Pc with Pr <= Pc (grid::most_square_shape)."""
    r = int(math.isqrt(p))
    while p % r:
        r -= 1
    return r, p // r


def layer_model(n, nt, d, D, C, P, Pr=None, Pc=None, b=128):
    """Per phase: flops (whole problem), bytes sent per rank, messages per rank (latency terms)."""
    if Pr is None:
        Pr, Pc = grid_shape(P)
    f = (P - 1) / P if P > 1 else 0.0
    chunks = math.ceil(nt / test_chunk_rows(n, nt, b)) if nt > 0 else 0

    def gram(m, k):  # pdgemm 'N','T': (m x k)(n x k)^T -> m x n
        return 8.0 * (m * k * (Pc - 1) / P + n * k * (P - 1) / (P * Pc)) if P > 1 else 0.0

    def allreduce(words):
        return 2.0 * 8.0 * words * f

    def bcast(words):
        return 8.0 * words * f

    def mapping(rows, k, m):  # pdgemm (rows x k)(k x m): SUMMA, stationary C
        return 8.0 * (rows * k * (Pc - 1) + k * m * (Pr - 1)) / P if P > 1 else 0.0

    lg = math.log2(P) if P > 1 else 0.0
    m = {}
    m["normalize"] = dict(flops=3.0 * (n + nt) * d, bytes=allreduce(n) + allreduce(nt), msgs=2 * lg)
    # per stage: class sums and counts (allreduce C p, twice), the means broadcast (C p), and
    # the projections on the between-class directions summed over process rows ((n/Pr) x (C-1)).
    row_proj = 2.0 * 8.0 * (n / Pr) * (C - 1) * (Pc - 1) / Pc
    m["metrics"] = dict(flops=0.0,
                        bytes=sum(2 * allreduce(C * p) + bcast(C * p) + row_proj for p in (d, d, D)),
                        msgs=12 * lg)
    m["kernel"] = dict(flops=2 * 2.0 * n * n * d, bytes=2 * (gram(n, d) + allreduce(n)),
                       msgs=2 * (n / b) * 2 * lg)
    # pdpotrf: every panel broadcast along its process row and, transposed, along its column.
    m["factorization"] = dict(flops=n ** 3 / 3.0,
                              bytes=8.0 * (n * n / 2.0) * (Pr + Pc - 2) / P if P > 1 else 0.0,
                              # pdpotf2: a reduction + broadcast per column inside the panel's
                              # process column; per panel two broadcasts over rows and columns
                              msgs=2 * n * (math.log2(Pr) if Pr > 1 else 0.0) + 2 * (n / b) * lg)
    m["solve"] = dict(flops=2.0 * n * n * C, bytes=8.0 * 2 * n * C * f, msgs=2 * (n / b) * lg)
    m["residual"] = dict(flops=4.0 * n * n * C, bytes=2 * 8.0 * 2 * n * C * f, msgs=4 * lg)
    # AGOP (src/model/agop.cpp): A and W A replicated (allreduce of n C each, plus the small
    # pdgemm W A); the rows of X matching my block columns of W (n/Pc x d) and my share of my
    # block rows fetched with one Alltoallv each; per class a local DGEMM W[I,J] diag(a_c) X[J,:]
    # and a reduce-scatter of the (n/Pr) x d partial products along the process row, then a
    # local syrk; one allreduce of d x d at the end.
    fetch = 8.0 * n * d * (1.0 / Pc + 1.0 / P) * f
    per_class = 8.0 * (n / Pr) * d * (Pc - 1) / Pc
    m["agop"] = dict(flops=C * (2.0 * n * n * d + n * d * d) + 2.0 * n * n * C,
                     bytes=2 * allreduce(n * C) + 8.0 * 2 * n * C * f + fetch + C * per_class
                     + allreduce(d * d),
                     msgs=C * lg + 6 * lg)
    m["test"] = dict(flops=2.0 * nt * n * (d + C),
                     bytes=(8.0 * (nt * d * (Pc - 1) / P + chunks * n * d * (P - 1) / (P * Pc))
                            + chunks * (allreduce(n) + allreduce(nt)) + 8.0 * nt * C * f
                            if P > 1 else 0.0),
                     msgs=chunks * 2 * (n / b) * lg)
    m["sqrt"] = dict(flops=9.0 * d ** 3, bytes=bcast(d * d + d), msgs=3 * lg)
    m["feature_map"] = dict(flops=2.0 * (n + nt) * d * (d + D),
                            bytes=mapping(n + nt, d, d) + mapping(n + nt, d, D),
                            msgs=4 * (d / b) * lg)
    return m


def memory_per_rank(n, d, D, C, nt, P, Pr=None, Pc=None, mixed=False):
    """Bytes per rank at the peak, and the replicated part of it: rfm::estimate_memory_per_rank
    (src/rfm/deep_rfm.cpp), which the program prints before it starts."""
    if Pr is None:
        Pr, Pc = grid_shape(P)
    w = max(d, D)  # layer 1 runs on d, later layers on D: the peak is at the wider one
    kernel = 0.5 * n * n + n * max(n / 16.0, 1.0) if mixed else n * n
    train_peak = kernel + n * w + nt * w + 4.0 * n * C
    map_peak = (n + nt) * (2.0 * w + D)
    chunk = test_chunk_rows(int(n), int(nt), 1)
    test_peak = chunk * n + (n + nt) * w + nt * C
    # AGOP buffers (model/agop.cpp): X and diag(a_c) X at my columns of W, the partial product of
    # my rows of W, my share of J and of X: they shrink like 1/sqrt(P), not 1/P.
    agop_buffers = 2.0 * n * w / Pc + n * w / Pr + 2.0 * n * w / P
    per_rank = max(train_peak / P + agop_buffers, map_peak / P, test_peak / P)
    replicated = 4.0 * w * w + 2.0 * w * D + 3.0 * n * C + 2.0 * n
    return 8.0 * (per_rank + replicated), 8.0 * replicated


def predict(model, rates, P, cores, b, n, bw, alpha, Pr=None, Pc=None):
    """Seconds per phase: work / (rate x ranks that run at once) x imbalance + comm + latency."""
    if Pr is None:
        Pr, Pc = grid_shape(P)
    active = min(P, cores)
    imb = imbalance(n, Pr, b) * imbalance(n, Pc, b)
    out = {}
    for phase, v in model.items():
        rate = rates.get(phase)
        if rate is None:
            continue
        if isinstance(rate, tuple):  # ("seconds", t): phases without flops, t on one rank
            work = rate[1]
        else:
            work = v["flops"] / rate
        compute = work if phase in SERIAL_PHASES else work / active * (imb if P > 1 else 1.0)
        out[phase] = compute + v["bytes"] / bw + v["msgs"] * alpha
    return out


# ---------------------------------------------------------------------------------------------
def cmd_dgemm(args):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import time
    import numpy as np
    n = args.size
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    best = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    rate = 2.0 * n ** 3 / best
    print(f"dgemm n={n}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(auto)')}: "
          f"{rate * 1e-9:.1f} GFLOP/s (best of {args.repeats})")
    return rate


def _runs(dirs):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import deeprfm_collect as dc
    return dc.find_runs(dirs)


def cmd_compare(args):
    runs = [r for r in _runs(args.dirs) if r.complete]
    # A problem = the options minus seed and size: a weak-scaling series (n grows with P) is
    # calibrated on its 1-rank run too, the phase rates (flop/s) carrying over to the larger n.
    groups = {}
    for r in runs:
        groups.setdefault(r.problem_key(ignore=("seed", "n", "n-test")), []).append(r)
    rows = []
    out_dir = args.out or os.path.join(args.dirs[0], "..", "plots")
    for key, rs in groups.items():
        # Repeats (same problem, same P): the fastest run, and per phase the fastest repeat
        # (a shared machine slows phases at random; the minimum is the undisturbed time).
        best, reps = {}, {}
        for r in rs:
            reps.setdefault((r.ranks, r.n), []).append(r)
            if r.ranks not in best or r.total() < best[r.ranks].total():
                best[r.ranks] = r
        for r in best.values():
            for li, layer in enumerate(r.layers):
                for phase, rec in layer["phases"].items():
                    rec["seconds"] = min(x.layers[li]["phases"].get(phase, rec)["seconds"]
                                         for x in reps[(r.ranks, r.n)] if len(x.layers) > li)
        if 1 not in best:
            print("compare: a problem without a 1-rank run is skipped (it is the calibration)",
                  file=sys.stderr)
            continue
        base = best[1]
        for P in sorted(best):
            r = best[P]
            Pr, Pc = map(int, r.grid.split("x"))
            for li, layer in enumerate(r.layers):
                bl = base.layers[li]
                n, nt, d, D, C = r.n, r.n_test, layer["dim_in"], r.width, r.classes
                model = layer_model(n, nt, d, D, C, P, Pr, Pc, b=r.block)
                rates = {}
                for phase, v in model.items():
                    t1 = bl["phases"].get(phase, {}).get("seconds")
                    if t1 is None:
                        continue
                    if v["flops"] > 0 and t1 > 0:
                        base_flops = layer_model(base.n, base.n_test, bl["dim_in"], D, C, 1)[phase]["flops"]
                        rates[phase] = base_flops / t1
                    else:  # flop-free phases (metrics): streaming work, proportional to n
                        rates[phase] = ("seconds", t1 * n / base.n)
                pred = predict(model, rates, P, args.cores, r.block, n, args.bandwidth * 1e9,
                               args.latency * 1e-6, Pr, Pc)
                for phase in r.layers[li]["phases"]:
                    if phase not in pred:
                        continue
                    meas = layer["phases"][phase]
                    rows.append([r.config.get("data", "?"), n, P, r.grid, layer["layer"], phase,
                                 pred[phase], meas["seconds"], model[phase]["bytes"] * 1e-6,
                                 meas.get("bytes", float("nan")) / P * 1e-6,
                                 meas.get("bytes_max_rank", float("nan")) * 1e-6])
    if not rows:
        sys.exit("compare: nothing to compare (need complete runs including a 1-rank run)")
    os.makedirs(out_dir, exist_ok=True)
    import csv
    with open(os.path.join(out_dir, "model_vs_measured.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["data", "n", "ranks", "grid", "layer", "phase", "predicted_s", "measured_s",
                    "predicted_MB_per_rank", "measured_MB_mean_rank", "measured_MB_max_rank"])
        w.writerows(rows)
    agg = {}
    for data, n, P, grid, layer, phase, ps, ms, pb, mb, mx in rows:
        a = agg.setdefault((n, P, grid, phase), [0, 0, 0, 0, 0])
        for i, v in enumerate((ps, ms, pb, mb, mx)):
            a[i] += v
    print("| n | P | grid | phase | predicted s | measured s | error | predicted MB/rank | measured MB/rank (mean, max) | error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    totals = {}
    order = lambda kv: (kv[0][1], kv[0][0], PHASES.index(kv[0][3]) if kv[0][3] in PHASES else 99)
    for (n, P, grid, phase), (ps, ms, pb, mb, mx) in sorted(agg.items(), key=order):
        t = totals.setdefault((n, P, grid), [0, 0])
        t[0] += ps
        t[1] += ms
        if P == 1:
            continue  # the calibration itself
        err = (ps - ms) / ms * 100 if ms > 0 else float("nan")
        berr = f"{(pb - mb) / mb * 100:+.0f}%" if mb > 0.5 else ""
        mark = "" if abs(err) <= 25 or ms < 0.05 else " **"
        print(f"| {n} | {P} | {grid} | {phase} | {ps:.3f} | {ms:.3f} | {err:+.0f}%{mark} | {pb:.1f} | {mb:.1f}, {mx:.1f} | {berr} |")
    for (n, P, grid), (ps, ms) in sorted(totals.items(), key=lambda kv: kv[0][1]):
        print(f"| {n} | {P} | {grid} | **total** | {ps:.2f} | {ms:.2f} | {(ps - ms) / ms * 100:+.0f}% | | | |")
    print(f"\n(calibration: each phase's flop rate on the 1-rank run (its rows are not shown; its "
          f"total is); cores = {args.cores}, bandwidth {args.bandwidth} GB/s, latency "
          f"{args.latency} us; ** = off by more than 25% on a phase of >= 0.05 s)")


def project_layer(n, nt, d, D, C, nodes, a):
    """Seconds per phase of one layer on `nodes` nodes of the assumed cluster (args a)."""
    P = nodes * a.node_cores
    Pr, Pc = grid_shape(P)
    model = layer_model(n, nt, d, D, C, P, Pr, Pc, a.block)
    F = a.core_gflops * 1e9
    te = a.elem_ns * 1e-9
    # Bandwidth per rank: the node's injection bandwidth shared by its ranks (inside one node:
    # memory-to-memory copies, ~20 GB/s per node).
    bw = (a.net_gbs if nodes > 1 else 20.0) * 1e9 / a.node_cores
    compute = {
        "normalize": 3 * 8.0 * (n + nt) * d / P / (a.mem_gbs_core * 1e9),
        "metrics": 10 * 8.0 * n * (2 * d + D) / P / (a.mem_gbs_core * 1e9),
        "kernel": model["kernel"]["flops"] / (P * F * a.eff_gemm) + 2 * n * n * te / P,
        "factorization": model["factorization"]["flops"] / (P * F * a.eff_chol),
        "solve": 2 * 8.0 * n * n / 2 / P / (a.mem_gbs_core * 1e9),
        "residual": 2 * 8.0 * n * n / P / (a.mem_gbs_core * 1e9),
        "agop": model["agop"]["flops"] / (P * F * a.eff_gemm) + n * n * te / P,
        "test": model["test"]["flops"] / (P * F * a.eff_gemm) + nt * n * te / P,
        "sqrt": model["sqrt"]["flops"] / (F * a.eff_sqrt),  # rank 0 alone
        "feature_map": model["feature_map"]["flops"] / (P * F * a.eff_gemm),
    }
    t = {}
    for phase, v in model.items():
        t[phase] = compute[phase] + v["bytes"] / bw + v["msgs"] * a.latency * 1e-6
    return P, Pr, Pc, model, t


def cmd_project(args):
    d, D, C, nt = args.d, args.width, args.classes, args.n_test
    nodes_list = [int(v) for v in args.nodes.split(",")]
    print(f"Assumed node: {args.node_cores} cores, {args.node_mem_gb:g} GB, {args.core_gflops:g} "
          f"GFLOP/s DGEMM per core ({args.eff_gemm:g} of it in PBLAS products, {args.eff_chol:g} in "
          f"pdpotrf), {args.elem_ns:g} ns per kernel-matrix element, {args.mem_gbs_core:g} GB/s memory "
          f"per core, network {args.net_gbs:g} GB/s per node, latency {args.latency:g} us; one rank per "
          f"core; a layer with input width d = {d}, D = {D}, C = {C}, n_test = {nt}, block {args.block}")
    print()
    print("| n | nodes | P | grid | GiB/rank | GiB/node | fits | kernel | factorization | agop | test | other | s/layer | comm share | limiting phase |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in [int(v) for v in args.n.split(",")]:
        for nodes in nodes_list:
            P, Pr, Pc, model, t = project_layer(n, nt, d, D, C, nodes, args)
            mem, _ = memory_per_rank(n, d, D, C, nt, P, Pr, Pc)
            mem_node = mem * args.node_cores
            fits = mem_node < 0.85 * args.node_mem_gb * 2 ** 30
            total = sum(t.values())
            bw = (args.net_gbs if nodes > 1 else 20.0) * 1e9 / args.node_cores
            comm = sum(v["bytes"] / bw + v["msgs"] * args.latency * 1e-6 for v in model.values())
            other = total - sum(t[p] for p in ("kernel", "factorization", "agop", "test"))
            limit = max(t, key=t.get)
            print(f"| {n:,} | {nodes} | {P} | {Pr}x{Pc} | {mem / 2 ** 30:.2f} | {mem_node / 2 ** 30:.0f} | "
                  f"{'yes' if fits else '**no**'} | {t['kernel']:.1f} | {t['factorization']:.1f} | "
                  f"{t['agop']:.1f} | {t['test']:.1f} | {other:.1f} | {total:.1f} | "
                  f"{comm / total * 100:.0f}% | {limit} |")


def cmd_phases(args):
    Pr, Pc = (grid_shape(args.ranks) if not args.grid else map(int, args.grid.split("x")))
    model = layer_model(args.n, args.n_test, args.d, args.width, args.classes, args.ranks, Pr, Pc,
                        args.block)
    mem, rep = memory_per_rank(args.n, args.d, args.width, args.classes, args.n_test, args.ranks,
                               Pr, Pc)
    print(f"n={args.n} n_test={args.n_test} d={args.d} D={args.width} C={args.classes} "
          f"P={args.ranks} ({Pr}x{Pc}) b={args.block}: memory {mem / 2 ** 20:.1f} MiB per rank "
          f"({rep / 2 ** 20:.1f} MiB replicated)")
    for p, v in model.items():
        print(f"  {p:14s} {v['flops'] * 1e-9:12.2f} GF  {v['bytes'] * 1e-6:10.2f} MB/rank  "
              f"{v['msgs']:10.0f} latencies")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("dgemm")
    g.add_argument("--size", type=int, default=2000)
    g.add_argument("--repeats", type=int, default=3)
    c = sub.add_parser("compare")
    c.add_argument("dirs", nargs="+")
    c.add_argument("--out")
    c.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                   help="cores the ranks share (default: this machine's)")
    c.add_argument("--bandwidth", type=float, default=5.0, help="GB/s per rank (shared memory: ~5)")
    c.add_argument("--latency", type=float, default=2.0, help="us per message on the critical path")
    p = sub.add_parser("project")
    p.add_argument("--n", default="100000,200000,500000,1000000")
    p.add_argument("--nodes", default="4,16,64,256,1024")
    p.add_argument("--n-test", type=int, default=10000)
    p.add_argument("--d", type=int, default=1024, help="the layer's input width (D after layer 1)")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--node-cores", type=int, default=128)
    p.add_argument("--node-mem-gb", type=float, default=512)
    p.add_argument("--core-gflops", type=float, default=30.0)
    p.add_argument("--eff-gemm", type=float, default=0.9)
    p.add_argument("--eff-chol", type=float, default=0.7)
    p.add_argument("--eff-sqrt", type=float, default=0.3)
    p.add_argument("--elem-ns", type=float, default=10.0, help="ns per kernel-matrix element (exp, sqrt)")
    p.add_argument("--mem-gbs-core", type=float, default=2.0)
    p.add_argument("--net-gbs", type=float, default=25.0)
    p.add_argument("--latency", type=float, default=2.0)
    q = sub.add_parser("phases")
    q.add_argument("--n", type=int, required=True)
    q.add_argument("--n-test", type=int, default=0)
    q.add_argument("--d", type=int, required=True)
    q.add_argument("--width", type=int, default=512)
    q.add_argument("--classes", type=int, default=10)
    q.add_argument("--ranks", type=int, default=1)
    q.add_argument("--grid")
    q.add_argument("--block", type=int, default=128)
    args = ap.parse_args(argv)
    return {"dgemm": cmd_dgemm, "compare": cmd_compare, "project": cmd_project,
            "phases": cmd_phases}[args.cmd](args) and 0


if __name__ == "__main__":
    sys.exit(main())
