#!/usr/bin/env python3
"""T RFM iterations per layer (`--iterations T`, docs/numerics.md §2) on the real executable,
against a serial numpy oracle written from the formulas (no deeprfm code):

- 2 layers of T = 3 on npy data: every iteration's AGOP M_t (/layers/layer_NN/iteration_agops),
  the final AGOP, the residuals and the next layer's features agree with the oracle within
  10 n eps cond(K + mu I), summed over the iterations so far (the forward error bound of the
  solves the AGOPs are built on), and the oracle's rank count does not matter: the run at
  NPROCS ranks and at 1 rank agree to 1e-10;
- T = 1 is the default, bitwise: the same AGOPs and metrics as a run without the option, and no
  iteration datasets;
- the saved model of a T = 3 run (it stores kernel_map = M_{T-1}^{1/2}): `deeprfm predict`
  reproduces the run's test predictions to 1e-10 and the numpy reader agrees to 1e-8;
- --iterations 0 and 101 are refused (exit 2, naming the flag); a --resume cannot change it.

usage: test_iterations.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]   (needs h5py, numpy)
"""
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError as e:
    # A missing test dependency fails the suite: nothing here would have been tested.
    print(f"FAILED: the Python module {e.name} is not installed for {sys.executable} "
          "(Debian: python3-h5py, python3-numpy); run bash scripts/setup.sh --tests")
    print("0 passed, 1 failed")
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import deeprfm_model  # noqa: E402

DEEPRFM, MPIEXEC, NPROCS = sys.argv[1], sys.argv[2], int(sys.argv[3])
MPI_FLAGS = sys.argv[4:]
TIMEOUT = 600
EPS = np.finfo(float).eps
BANDWIDTH, RIDGE, T = 2.0, 1e-3, 3

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failed += 1
        if detail:
            print("     " + str(detail).replace("\n", "\n     "))
    else:
        passed += 1


def run(args, nprocs=NPROCS):
    env = dict(os.environ, DEEPRFM_LOCK_WAIT="0")
    return subprocess.run([MPIEXEC, "-n", str(nprocs)] + MPI_FLAGS + [DEEPRFM] + args,
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)


def ran(p, what):
    check(p.returncode == 0, what, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.returncode == 0


# ---- the oracle: one Deep RFM layer with T iterations, dense numpy --------------------------

def sqrtm_psd(m):
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def laplace(u, v):
    r2 = np.maximum((u * u).sum(1)[:, None] + (v * v).sum(1)[None, :] - 2 * u @ v.T, 0)
    # Exact distances for near pairs (the diagonal), as the gradient needs.
    diff = u[:, None, :] - v[None, :, :]
    r = np.sqrt((diff * diff).sum(-1)) if len(u) * len(v) * u.shape[1] < 4e7 else np.sqrt(r2)
    return np.exp(-r / BANDWIDTH), r


def agop(u, a):
    """G = (1/n) sum_c J^(c)T J^(c), J^(c) = t (W diag(a_c) U - diag(W a_c) U), W = k / r."""
    k, r = laplace(u, u)
    w = np.where(r < 1e-10, 0.0, k / np.where(r < 1e-10, 1.0, r))
    g = np.zeros((u.shape[1], u.shape[1]))
    for c in range(a.shape[1]):
        j = (w @ (a[:, c:c + 1] * u) - (w @ a[:, c])[:, None] * u) / BANDWIDTH
        g += j.T @ j
    return g / len(u)


def oracle_layer(x, labels, classes):
    """x: the layer's input (rows normalised here). Returns per iteration (M_t, cond, residual),
    and S = M_T^{1/2}."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(labels[:, None] == np.arange(classes)[None, :], 1.0, -1.0)
    root = np.eye(x.shape[1])
    out = []
    for _ in range(T):
        u = x @ root
        k, _ = laplace(u, u)
        km = k + RIDGE * np.eye(len(x))
        a = np.linalg.solve(km, y)
        m = root @ agop(u, a) @ root
        out.append((m, np.linalg.cond(km), np.linalg.norm(km @ a - y) / np.linalg.norm(y)))
        root = sqrtm_psd(m)
    return x, out, sqrtm_psd(out[-1][0])


def main():
    work = tempfile.mkdtemp(prefix="deeprfm-iterations-")
    try:
        rng = np.random.default_rng(31)
        d, classes = 8, 3
        means = rng.normal(size=(classes, d)) * 1.2
        for name, n in (("train", 120), ("test", 45)):
            y = np.arange(n) % classes
            np.save(os.path.join(work, f"{name}_X.npy"), means[y] + rng.normal(size=(n, d)))
            np.save(os.path.join(work, f"{name}_y.npy"), y.astype(np.int64))
        data = ["--data", "npy", "--train", os.path.join(work, "train_X.npy"), "--test",
                os.path.join(work, "test_X.npy"), "--n", "0", "--width", "16", "--layers", "2",
                "--ridge", str(RIDGE), "--bandwidth", str(BANDWIDTH), "--quiet"]
        t3 = os.path.join(work, "t3.h5")
        if not ran(run(data + ["--iterations", str(T), "--save-features", "all", "--save-model",
                               "-o", t3]), f"a run of 2 layers x {T} iterations at {NPROCS} ranks"):
            return
        with h5py.File(t3, "r") as f:
            labels = f["data/train_labels"][...].astype(int)
            index = f["data/train_source_index"][...]
            x = np.load(os.path.join(work, "train_X.npy"))[index]
            x = (x - f["data/feature_mean"][...]) / f["data/feature_std"][...]
            for l in (1, 2):
                g = f[f"layers/layer_{l:02d}"]
                stored = g["iteration_agops"][...]
                xn, iters, s = oracle_layer(x, labels, classes)
                check(stored.shape == (T, x.shape[1], x.shape[1]),
                      f"layer {l}: iteration_agops is T x d x d", stored.shape)
                bound = 0.0
                for t, (m, cond, res) in enumerate(iters):
                    bound += 10 * len(x) * EPS * cond
                    err = np.linalg.norm(stored[t] - m) / np.linalg.norm(m)
                    check(err <= bound, f"layer {l} iteration {t + 1}: M_t agrees with the oracle "
                          f"({err:.1e} <= {bound:.1e})")
                err = np.linalg.norm(g["agop"][...] - iters[-1][0]) / np.linalg.norm(iters[-1][0])
                check(err <= bound, f"layer {l}: the stored AGOP is M_T ({err:.1e})")
                res = g["iteration_residuals"][...]
                check(np.all(res <= 1e-10) and np.all(np.array([r for _, _, r in iters]) <= 1e-10),
                      f"layer {l}: every iteration's residual is at round-off level", res)
                w = f[f"model/layer_{l:02d}/random_features"][...]
                nxt = np.maximum(xn @ s @ w.T, 0)
                feats = g["features"][...]
                err = np.linalg.norm(feats - nxt) / np.linalg.norm(nxt)
                check(err <= 10 * bound, f"layer {l}: the next layer's features agree ({err:.1e})")
                x = feats  # the next layer's input, as the run computed it

        # Rank invariance.
        t1r = os.path.join(work, "t3-1rank.h5")
        if NPROCS != 1 and ran(run(data + ["--iterations", str(T), "-o", t1r], nprocs=1),
                               "the same run on 1 rank"):
            with h5py.File(t3, "r") as a, h5py.File(t1r, "r") as b:
                ta, tb = a["metrics/table"][...], b["metrics/table"][...]
                cols = [str(c) for c in a["metrics/table"].attrs["columns"]]
                keep = [i for i, c in enumerate(cols) if c not in ("seconds", "rcond", "residual")]
                err = np.max(np.abs(ta[:, keep] - tb[:, keep]) / np.maximum(np.abs(tb[:, keep]),
                                                                            1e-300))
                check(err <= 1e-10, f"{NPROCS} ranks and 1 rank agree to 1e-10 ({err:.1e})")

        # T = 1 is the default, bitwise.
        one, none = os.path.join(work, "one.h5"), os.path.join(work, "none.h5")
        if ran(run(data + ["--iterations", "1", "-o", one]), "--iterations 1") and \
                ran(run(data + ["-o", none]), "the same run without --iterations"):
            with h5py.File(one, "r") as a, h5py.File(none, "r") as b:
                same = all(np.array_equal(a[f"layers/layer_{l:02d}/agop"][...],
                                          b[f"layers/layer_{l:02d}/agop"][...]) for l in (1, 2))
                cols = [str(c) for c in a["metrics/table"].attrs["columns"]]
                keep = [i for i, c in enumerate(cols) if c != "seconds"]
                same = same and np.array_equal(a["metrics/table"][:, keep],
                                               b["metrics/table"][:, keep])
                check(same and "iteration_agops" not in a["layers/layer_01"],
                      "T = 1 gives bitwise the AGOPs and metrics of the default, no iteration data")

        # The saved T = 3 model.
        pred = os.path.join(work, "pred.h5")
        if ran(run(["predict", "--model", t3, "-o", pred, "--grid", f"{NPROCS}x1"]),
               "predict with the T = 3 model"):
            with h5py.File(pred, "r") as f, h5py.File(t3, "r") as r:
                diffs = f["metrics/difference_from_run"][...]
                check(np.all(diffs <= 1e-10), f"it reproduces the run's test predictions {diffs}")
                check("kernel_map" in r["model/layer_01"], "the model stores kernel_map")
                ti = f["data/source_index"][...]
                mine = deeprfm_model.DeepRFMModel(t3).predict(
                    np.load(os.path.join(work, "test_X.npy"))[ti])
                worst = max(np.abs(a - f[f"layers/layer_{l + 1:02d}/predictions"][...]).max() /
                            np.abs(a).max() for l, a in enumerate(mine))
                check(worst <= 1e-8, f"the numpy reader agrees to 1e-8 ({worst:.1e})")

        # Bad values.
        for bad in ("0", "101"):
            p = run(data + ["--iterations", bad, "-o", os.path.join(work, "bad.h5")])
            check(p.returncode == 2 and "--iterations" in p.stderr and "MPI_ABORT" not in p.stderr,
                  f"--iterations {bad} is refused naming the flag", p.stderr[-600:])
        p = run(["--resume", t3, "--iterations", "2", "--layers", "3"])
        check(p.returncode == 2 and "--iterations" in p.stderr,
              "a --resume cannot change --iterations", p.stderr[-600:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"{passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
    sys.exit(1 if failed or passed == 0 else 0)
