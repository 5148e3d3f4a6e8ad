#!/usr/bin/env python3
"""Regression targets (`--task regression`, docs/numerics.md §1) on the real executable, against
a serial numpy oracle written from the formulas (no deeprfm code):

- 2 layers on npy data with two real target columns: every layer's AGOP, training and test
  predictions, MSE and R² agree with the oracle within 10 n eps cond(K + mu I) (the forward
  error bound of the solve), and the next layer's features too; the collapse and accuracy
  columns are NaN (no classes);
- HDF5 input with 1-D targets gives the same numbers as the same data in npy;
- a run stopped after layer 1 and resumed equals the uninterrupted run; a results file written
  before the regression columns existed (18 columns) is resumed with NaN in them;
- the saved model: `deeprfm predict` reproduces the run's test predictions to 1e-10 and its
  MSE/R² on another file agree with the numpy reader (predictions to 1e-8);
- refusals (exit 2, one message naming the flag): regression on image data, an explicit
  --selection balanced, --task foo, non-finite targets, 3-D targets, test targets of another
  width, predict --metrics with a regression model.

usage: test_regression.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]   (needs h5py, numpy)
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
BANDWIDTH, RIDGE = 2.0, 1e-3

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


def refused(p, what, flag):
    errors = [l for l in p.stderr.splitlines() if "error" in l]
    check(p.returncode == 2 and len(errors) == 1 and flag in errors[0] and
          "MPI_ABORT" not in p.stderr, what, f"exit {p.returncode}: {p.stderr[-800:]}")


# ---- the oracle ------------------------------------------------------------------------------

def laplace(u, v):
    diff = u[:, None, :] - v[None, :, :]
    r = np.sqrt((diff * diff).sum(-1))
    return np.exp(-r / BANDWIDTH), r


def agop(u, a):
    k, r = laplace(u, u)
    w = np.where(r < 1e-10, 0.0, k / np.where(r < 1e-10, 1.0, r))
    g = np.zeros((u.shape[1], u.shape[1]))
    for c in range(a.shape[1]):
        j = (w @ (a[:, c:c + 1] * u) - (w @ a[:, c])[:, None] * u) / BANDWIDTH
        g += j.T @ j
    return g / len(u)


def metrics(p, y):
    mse = float(np.mean((p - y) ** 2))
    r2 = 1 - float(np.sum((p - y) ** 2) / np.sum((y - y.mean(axis=0)) ** 2))
    return mse, r2


def oracle_layer(x, xt, y, yt):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    xt = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    k, _ = laplace(x, x)
    km = k + RIDGE * np.eye(len(x))
    a = np.linalg.solve(km, y)
    train, test = k @ a, laplace(xt, x)[0] @ a
    g = agop(x, a)
    w, v = np.linalg.eigh(g)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return dict(x=x, xt=xt, g=g, s=s, train=train, test=test, cond=np.linalg.cond(km),
                train_metrics=metrics(train, y), test_metrics=metrics(test, yt))


def table(path):
    with h5py.File(path, "r") as f:
        cols = [str(c) for c in f["metrics/table"].attrs["columns"]]
        return {c: f["metrics/table"][:, i] for i, c in enumerate(cols)}


def main():
    work = tempfile.mkdtemp(prefix="deeprfm-regression-")
    try:
        rng = np.random.default_rng(11)
        d = 6
        w1, w2 = rng.normal(size=d), rng.normal(size=d)

        def save(name, n, k=2, bad=None):
            x = rng.normal(size=(n, d))
            y = np.stack([np.sin(x @ w1), 0.5 * (x @ w2)], 1)[:, :k]
            if bad == "nan":
                y[3, 0] = np.nan
            if bad == "3d":
                y = y.reshape(n, k, 1)
            np.save(os.path.join(work, f"{name}_X.npy"), x)
            np.save(os.path.join(work, f"{name}_y.npy"), y if k > 1 or bad else y[:, 0])
            return x, y

        xtr, ytr = save("train", 130)
        xte, yte = save("test", 50)
        xho, yho = save("held", 40)
        save("nan", 30, bad="nan")
        save("cube", 30, bad="3d")
        save("one", 50, k=1)
        npy = lambda name: os.path.join(work, f"{name}_X.npy")  # noqa: E731
        data = ["--data", "npy", "--train", npy("train"), "--test", npy("test"), "--n", "0",
                "--task", "regression", "--width", "20", "--ridge", str(RIDGE), "--bandwidth",
                str(BANDWIDTH), "--quiet"]
        run_h5 = os.path.join(work, "run.h5")
        if not ran(run(data + ["--layers", "2", "--save-features", "all", "--save-model", "-o",
                               run_h5]), f"a 2-layer regression run at {NPROCS} ranks"):
            return

        # 1. Against the oracle.
        t = table(run_h5)
        with h5py.File(run_h5, "r") as f:
            check(f["data"].attrs["task"] == "regression" and
                  f["data/train_targets"].shape == (130, 2),
                  "/data holds the task and the targets")
            check(np.array_equal(f["data/train_targets"][...],
                                 ytr[f["data/train_source_index"][...]]),
                  "the stored training targets are the file's, in row order (file order)")
            check(np.all(f["data/train_source_index"][...] == np.arange(130)),
                  "regression takes the first n samples in file order")
            mean, std = f["data/feature_mean"][...], f["data/feature_std"][...]
            x, xt = (xtr - mean) / std, (xte - mean) / std
            for l in (1, 2):
                o = oracle_layer(x, xt, ytr, yte)
                g = f[f"layers/layer_{l:02d}"]
                bound = 10 * len(x) * EPS * o["cond"]
                err = np.linalg.norm(g["agop"][...] - o["g"]) / np.linalg.norm(o["g"])
                check(err <= bound, f"layer {l}: the AGOP agrees with the oracle "
                      f"({err:.1e} <= {bound:.1e})")
                tp = f[f"model/layer_{l:02d}/test_predictions"][...]
                err = np.abs(tp - o["test"]).max() / np.abs(o["test"]).max()
                check(err <= bound, f"layer {l}: the test predictions agree ({err:.1e})")
                got = [t["train_mse"][l - 1], t["train_r2"][l - 1], t["test_mse"][l - 1],
                       t["test_r2"][l - 1]]
                ref = list(o["train_metrics"]) + list(o["test_metrics"])
                # MSE of a near-interpolating fit is tiny: compare it absolutely, on the scale
                # of the targets' variance.
                var = float(np.var(ytr))
                errs = [abs(a - b) / max(abs(b), var) for a, b in zip(got, ref)]
                check(max(errs) <= 10 * bound, f"layer {l}: train/test MSE and R2 agree "
                      f"({max(errs):.1e}; test R2 {got[3]:.4f})")
                w = f[f"model/layer_{l:02d}/random_features"][...]
                nxt = np.maximum(o["x"] @ o["s"] @ w.T, 0)
                feats = g["features"][...]
                err = np.linalg.norm(feats - nxt) / np.linalg.norm(nxt)
                check(err <= 100 * bound, f"layer {l}: the next features agree ({err:.1e})")
                # The next layer's inputs, as the run computed them (its test set: the oracle's).
                x, xt = feats, np.maximum(o["xt"] @ o["s"] @ w.T, 0)
        check(all(np.all(np.isnan(t[c])) for c in ("nc1_input", "nc2_etf_mapped",
                                                     "train_accuracy", "test_accuracy")),
              "the collapse and accuracy columns are NaN")

        # 2. HDF5 with 1-D targets = the same data in npy.
        h5in = os.path.join(work, "one.h5")
        with h5py.File(h5in, "w") as f:
            f["X"] = np.load(npy("one"))
            f["y"] = np.load(os.path.join(work, "one_y.npy"))
        a_h5, b_h5 = os.path.join(work, "a.h5"), os.path.join(work, "b.h5")
        pa = run(["--data", "hdf5", "--train", h5in, "--n", "0", "--n-test", "-1", "--task",
                  "regression", "--layers", "1", "--width", "20", "--ridge", "1e-3", "-o", a_h5,
                  "--quiet"])
        pb = run(["--data", "npy", "--train", npy("one"), "--n", "0", "--n-test", "-1", "--task",
                  "regression", "--layers", "1", "--width", "20", "--ridge", "1e-3", "-o", b_h5,
                  "--quiet"])
        if ran(pa, "hdf5 input with 1-D targets") and ran(pb, "the same data in npy"):
            ta, tb = table(a_h5), table(b_h5)
            check(ta["train_mse"][0] == tb["train_mse"][0] and ta["train_mse"][0] < 1e-3,
                  "hdf5 and npy give the same training MSE", (ta["train_mse"], tb["train_mse"]))

        # 3. Resume, and an old 18-column table.
        part = os.path.join(work, "part.h5")
        if ran(run(data + ["--layers", "1", "-o", part]), "a 1-layer regression run") and \
                ran(run(["--resume", part, "--layers", "2"]), "resumed to 2 layers"):
            tp = table(part)
            err = max(abs(tp[c][1] - t[c][1]) / abs(t[c][1])
                      for c in ("train_mse", "test_mse", "test_r2"))
            check(err <= 1e-12, f"the resumed run equals the uninterrupted ({err:.1e})")
        old = os.path.join(work, "old.h5")
        if ran(run(["--data", "synthetic", "--n", "60", "--dim", "5", "--layers", "1", "--width",
                    "8", "-o", old, "--quiet"]), "a classification run"):
            with h5py.File(old, "r") as f:
                cols = [str(c) for c in f["metrics/table"].attrs["columns"]]
            check(len(cols) == 18 and not any(c.endswith(("_mse", "_r2")) for c in cols),
                  "a classification table keeps the 18 columns of earlier versions", cols)
            if ran(run(["--resume", old, "--layers", "2"]), "a classification file is resumed"):
                to = table(old)
                check(len(to) == 18 and len(to["layer"]) == 2 and to["test_accuracy"][1] > 0,
                      "to 2 layers, still without the regression columns", list(to))

        # 4. Predict and the reader.
        own = os.path.join(work, "own.h5")
        if ran(run(["predict", "--model", run_h5, "-o", own, "--grid", f"{NPROCS}x1",
                    "--block-size", "16"]), "predict of the run's own test set"):
            pt = table(own)
            check(np.all(pt["difference_from_run"] <= 1e-10) and
                  np.allclose(pt["mse"], t["test_mse"], rtol=1e-10, atol=0),
                  "it reproduces the run's test predictions and MSE",
                  (pt["difference_from_run"], pt["mse"], t["test_mse"]))
        held = os.path.join(work, "held-pred.h5")
        if ran(run(["predict", "--model", run_h5, "--data", "npy", "--file", npy("held"), "-o",
                    held]), "predict of a held-out file with targets"):
            with h5py.File(held, "r") as f:
                idx = f["data/source_index"][...]
                preds = [f[f"layers/{g}/predictions"][...] for g in sorted(f["layers"])]
                check(np.array_equal(f["data/targets"][...], yho[idx]),
                      "it stores the held-out targets")
            mine = deeprfm_model.DeepRFMModel(run_h5).predict(xho[idx])
            worst = max(np.abs(a - b).max() / np.abs(b).max() for a, b in zip(mine, preds))
            check(worst <= 1e-8, f"the numpy reader's predictions agree to 1e-8 ({worst:.1e})")
            ht = table(held)
            ref = [metrics(a, yho[idx]) for a in mine]
            check(np.allclose(ht["mse"], [m for m, _ in ref], rtol=1e-8) and
                  np.allclose(ht["r2"], [r for _, r in ref], rtol=1e-8),
                  "and its MSE and R2 per layer", (ht["mse"], ref))

        # 5. Refusals.
        bad = os.path.join(work, "bad.h5")
        refused(run(["--task", "regression", "--n", "100", "-o", bad]),
                "regression on image data is refused", "--task")
        refused(run(data + ["--selection", "balanced", "-o", bad]),
                "an explicit --selection balanced is refused", "--selection")
        refused(run(data + ["--task", "foo", "-o", bad]), "--task foo is refused", "--task")
        for name, what in (("nan", "non-finite targets"), ("cube", "3-D targets")):
            p = run(["--data", "npy", "--train", npy(name), "--n", "0", "--n-test", "-1",
                     "--task", "regression", "-o", bad])
            check(p.returncode == 2 and f"{name}_y.npy" in p.stderr and
                  "MPI_ABORT" not in p.stderr, f"{what} are refused naming the file",
                  p.stderr[-600:])
        p = run(["--data", "npy", "--train", npy("train"), "--test", npy("one"), "--n", "0",
                 "--task", "regression", "-o", bad])
        check(p.returncode == 2 and "target columns" in p.stderr,
              "test targets of another width are refused", p.stderr[-600:])
        refused(run(["predict", "--model", run_h5, "--metrics", "-o", bad]),
                "predict --metrics with a regression model is refused", "--metrics")
        check(not os.path.exists(bad), "no refused run left a file")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"{passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
    sys.exit(1 if failed or passed == 0 else 0)
