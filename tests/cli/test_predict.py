#!/usr/bin/env python3
"""A saved model and `deeprfm predict` (docs/cli.md, "deeprfm predict"), on the real executable,
checked against the run itself and against the independent numpy reader tools/deeprfm_model.py:

- a run with --save-model on npy data (train, test and a held-out file): /model holds every
  layer with the documented shapes, and the size printed at start matches the stored datasets;
- `deeprfm predict --model RUN.h5` (the run's own test set) on another grid shape: per-layer
  accuracy equal to the run's test accuracy exactly, predictions equal to the run's stored test
  predictions to 1e-10 (relative to their largest entry);
- predict of the held-out file, and the numpy reader on the same samples: predictions agree to
  1e-8, accuracy equal; --metrics' NC1 at every stage against the reader's features to 1e-8;
- --layers K writes K layers; a resumed run's model (stopped after layer 1, resumed) predicts
  what an uninterrupted run's model does, to 1e-10;
- refusals, each exit 2 with one message: a deeprfm-mlp results file, a results file without
  --save-model, a newer model format, a data set of another dimension, --layers beyond the
  model, an existing output without --overwrite, no --model; the reader refuses the same files;
- Fashion-MNIST (the default data, when installed): a small saved run predicts 300 held-out
  test images through predict and through the reader with the same agreement.

usage: test_predict.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]   (needs h5py, numpy)
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
import deeprfm_model  # noqa: E402  (the reader under test)

DEEPRFM, MPIEXEC, NPROCS = sys.argv[1], sys.argv[2], int(sys.argv[3])
MPI_FLAGS = sys.argv[4:]
MLP = os.path.join(os.path.dirname(DEEPRFM), "deeprfm-mlp")
FASHION = "/usr/share/datasets/fashion-mnist"
TIMEOUT = 600
EXIT_INPUT = 2

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


def run(args, program=DEEPRFM, nprocs=NPROCS):
    env = dict(os.environ, DEEPRFM_LOCK_WAIT="0")
    return subprocess.run([MPIEXEC, "-n", str(nprocs)] + MPI_FLAGS + [program] + args,
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)


def ran(p, what):
    check(p.returncode == 0, what, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.returncode == 0


def refused(p, what, text):
    errors = [l for l in p.stderr.splitlines() if "error" in l]
    ok = p.returncode == EXIT_INPUT and len(errors) == 1 and text in errors[0] \
        and "MPI_ABORT" not in p.stderr
    check(ok, what, f"exit {p.returncode}, stderr:\n{p.stderr[-1500:]}")


def other_grid(nprocs):
    """A grid shape other than the default (the most square one, Pr <= Pc)."""
    return {1: "1x1", 2: "2x1", 3: "3x1", 4: "4x1"}.get(nprocs, f"{nprocs}x1")


def relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def mixture(rng, n, d, classes, shift):
    y = np.arange(n) % classes
    rng.shuffle(y)
    means = np.random.default_rng(7).normal(size=(classes, d)) * 1.5
    return means[y] + rng.normal(size=(n, d)) + shift, y.astype(np.int64)


def stored_predictions(path):
    with h5py.File(path, "r") as f:
        return [f[f"layers/{g}/predictions"][...] for g in sorted(f["layers"])], \
            f["data/source_index"][...], f["data/labels"][...], f["metrics/table"][...], \
            [str(c) for c in f["metrics/table"].attrs["columns"]]


def main():
    work = tempfile.mkdtemp(prefix="deeprfm-predict-")
    try:
        rng = np.random.default_rng(2026)
        d, classes = 12, 4
        for name, n, shift in (("train", 240, 0.0), ("test", 80, 0.0), ("held", 90, 0.1),
                               ("wide", 30, 0.0)):
            x, y = mixture(rng, n, d if name != "wide" else d + 3, classes, shift)
            np.save(os.path.join(work, f"{name}_X.npy"), x)
            np.save(os.path.join(work, f"{name}_y.npy"), y)
        data = ["--data", "npy", "--train", os.path.join(work, "train_X.npy"), "--test",
                os.path.join(work, "test_X.npy"), "--n", "0"]
        model_args = ["--layers", "3", "--width", "24", "--ridge", "1e-6"]
        run_h5 = os.path.join(work, "run.h5")

        # 1. The saved model.
        p = run(data + model_args + ["--save-model", "-o", run_h5])
        if not ran(p, "a run with --save-model completes"):
            return
        printed = [l for l in p.stdout.splitlines() if l.startswith("disk: the saved model")]
        with h5py.File(run_h5, "r") as f:
            m = f["model"]
            layers = [m[f"layer_{l:02d}"] for l in (1, 2, 3)]
            shapes_ok = m.attrs["layers"] == 3 and all(
                g["centres"].shape == (240, d if l == 0 else 24) and
                g["coefficients"].shape == (240, classes) and
                g["sqrt_agop"].shape == ((d, d) if l == 0 else (24, 24)) and
                g["random_features"].shape == ((24, d) if l == 0 else (24, 24)) and
                g["test_predictions"].shape == (80, classes) for l, g in enumerate(layers))
            check(shapes_ok, "/model holds 3 layers with the documented shapes",
                  [(k, v.shape) for g in layers for k, v in g.items()])
            sizes = [sum(g[k].size * 8 for k in g) for g in layers]
            # The printed estimate: "... adds X MiB for layer 1 and Y MiB for each later layer".
            words = printed[0].split() if printed else []
            # Printed to 3 significant digits.
            est = [float(words[5]) * 2**20, float(words[11]) * 2**20] if len(words) > 11 else []
            check(len(est) == 2 and abs(est[0] / sizes[0] - 1) <= 0.005 and
                  abs(est[1] / sizes[1] - 1) <= 0.005,
                  "the model size printed at start is the stored datasets' size",
                  f"printed {printed}, stored {sizes} bytes")
            run_test_accuracy = [f[f"layers/layer_{l:02d}"].attrs["test_accuracy"]
                                 for l in (1, 2, 3)]
            run_test_predictions = [g["test_predictions"][...] for g in layers]

        # 2. The run's own test set, on another grid.
        own = os.path.join(work, "own.h5")
        p = run(["predict", "--model", run_h5, "-o", own, "--grid", other_grid(NPROCS),
                 "--block-size", "16"])
        if ran(p, f"predict of the run's own test set on grid {other_grid(NPROCS)}, block 16"):
            preds, index, labels, table, columns = stored_predictions(own)
            accuracy = list(table[:, columns.index("accuracy")])
            check(accuracy == run_test_accuracy,
                  "its per-layer accuracy equals the run's test accuracy exactly",
                  f"{accuracy} vs {run_test_accuracy}")
            worst = max(relative(a, b) for a, b in zip(preds, run_test_predictions))
            check(worst <= 1e-10, f"its predictions equal the run's to 1e-10 ({worst:.1e})")
            reported = table[:, columns.index("difference_from_run")]
            check(np.all(reported <= 1e-10) and abs(reported.max() - worst) <= 1e-12,
                  "the difference it reports is the one measured here", f"{reported} vs {worst}")

        # 3. Held-out data through predict and through the numpy reader.
        held = os.path.join(work, "held.h5")
        held_x = np.load(os.path.join(work, "held_X.npy"))
        held_y = np.load(os.path.join(work, "held_y.npy"))
        p = run(["predict", "--model", run_h5, "--data", "npy", "--file",
                 os.path.join(work, "held_X.npy"), "--metrics", "-o", held])
        reader = deeprfm_model.DeepRFMModel(run_h5)
        if ran(p, "predict of a held-out npy file with --metrics"):
            preds, index, labels, table, columns = stored_predictions(held)
            check(sorted(index) == list(range(90)) and np.all(held_y[index] == labels),
                  "every held-out sample is predicted, with its label")
            mine = reader.predict(held_x[index])
            worst = max(relative(a, b) for a, b in zip(mine, preds))
            check(worst <= 1e-8, f"the numpy reader's predictions agree to 1e-8 ({worst:.1e})")
            acc = [float((pr.argmax(1) == labels).mean()) for pr in mine]
            check(acc == list(table[:, columns.index("accuracy")]),
                  "and its accuracy per layer is the same", f"{acc} vs {table[:, 1]}")
            feats = reader.layer_features(held_x[index])
            ref = []
            for l, z in enumerate(feats):
                g = reader.layers[l]
                zs = z @ g["sqrt_agop"]
                ref += [deeprfm_model.nc1(z, labels, classes), deeprfm_model.nc1(zs, labels, classes),
                        deeprfm_model.nc1(np.maximum(zs @ g["random_features"].T, 0), labels,
                                          classes)]
            got = [table[l, columns.index(f"nc1_{s}")] for l in range(3)
                   for s in ("input", "projected", "mapped")]
            worst = max(abs(a - b) / abs(b) for a, b in zip(got, ref))
            check(worst <= 1e-8, f"--metrics' NC1 at every stage agrees with numpy ({worst:.1e})")
            with h5py.File(held, "r") as f:
                check(f.attrs["content"] == "predictions" and "difference_from_run" not in columns,
                      "other data is not compared with the run's test predictions")

        # 4. --layers, and a resumed run's model.
        two = os.path.join(work, "two.h5")
        p = run(["predict", "--model", run_h5, "--layers", "2", "-o", two, "--quiet"])
        if ran(p, "predict --layers 2"):
            with h5py.File(two, "r") as f:
                check(sorted(f["layers"]) == ["layer_01", "layer_02"], "writes 2 layers")
        part = os.path.join(work, "part.h5")
        p = run(data + ["--layers", "1", "--width", "24", "--ridge", "1e-6", "--save-model",
                        "-o", part])
        if ran(p, "a saved run of 1 layer"):
            p = run(["--resume", part, "--layers", "3"])
            if ran(p, "resumed to 3 layers"):
                a, b = os.path.join(work, "a.h5"), os.path.join(work, "b.h5")
                pa = run(["predict", "--model", part, "-o", a, "--quiet"])
                pb = run(["predict", "--model", run_h5, "-o", b, "--quiet"])
                if ran(pa, "predict with the resumed model") and ran(pb, "and the uninterrupted"):
                    worst = max(relative(x, y) for x, y in
                                zip(stored_predictions(a)[0], stored_predictions(b)[0]))
                    check(worst <= 1e-10,
                          f"the resumed run's model predicts like the uninterrupted ({worst:.1e})")

        # 5. Refusals.
        mlp_h5 = os.path.join(work, "mlp.h5")
        p = run(["--data", "synthetic", "--n", "60", "--dim", "8", "--epochs", "1", "-o", mlp_h5,
                 "--quiet"], program=MLP)
        if ran(p, "a deeprfm-mlp results file for the refusals"):
            refused(run(["predict", "--model", mlp_h5, "-o", os.path.join(work, "x.h5")]),
                    "a deeprfm-mlp file is refused naming its program", "'deeprfm-mlp'")
        plain = os.path.join(work, "plain.h5")
        p = run(data + ["--layers", "1", "--width", "24", "--ridge", "1e-6", "-o", plain,
                        "--quiet"])
        if ran(p, "a run without --save-model"):
            refused(run(["predict", "--model", plain, "-o", os.path.join(work, "x.h5")]),
                    "a results file without a model is refused", "--save-model")
        newer = os.path.join(work, "newer.h5")
        shutil.copy(run_h5, newer)
        with h5py.File(newer, "a") as f:
            f["model"].attrs["format_version"] = 2
        refused(run(["predict", "--model", newer, "-o", os.path.join(work, "x.h5")]),
                "a newer model format is refused", "model format version 2")
        refused(run(["predict", "--model", run_h5, "--data", "npy", "--file",
                     os.path.join(work, "wide_X.npy"), "-o", os.path.join(work, "x.h5")]),
                "data of another dimension is refused", "15 features")
        refused(run(["predict", "--model", run_h5, "--layers", "4", "-o",
                     os.path.join(work, "x.h5")]), "--layers beyond the model is refused",
                "holds 3 layers")
        refused(run(["predict", "--model", run_h5, "-o", own]),
                "an existing output without --overwrite is refused", "--overwrite")
        refused(run(["predict", "-o", os.path.join(work, "x.h5")]), "no --model is refused",
                "--model")
        check(not os.path.exists(os.path.join(work, "x.h5")), "no refused predict left a file")
        for path, text in ((mlp_h5, "deeprfm-mlp"), (plain, "--save-model"),
                           (newer, "version 2")):
            try:
                deeprfm_model.DeepRFMModel(path)
                check(False, f"the reader refuses {os.path.basename(path)}")
            except deeprfm_model.ModelError as e:
                check(text in str(e), f"the reader refuses {os.path.basename(path)}", str(e))

        # 6. Fashion-MNIST, the default data.
        if not os.path.exists(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")):
            check(False, f"Fashion-MNIST is installed in {FASHION} (dataset-fashion-mnist)")
            return
        fm = os.path.join(work, "fm.h5")
        p = run(["--n", "500", "--n-test", "200", "--layers", "2", "--ridge", "1e-3",
                 "--save-model", "-o", fm, "--quiet"])
        if ran(p, "a saved Fashion-MNIST run (n = 500, 2 layers)"):
            out = os.path.join(work, "fm-pred.h5")
            p = run(["predict", "--model", fm, "--data", "fashion-mnist", "--n", "300", "-o", out])
            if ran(p, "predict of 300 held-out Fashion-MNIST test images"):
                preds, index, labels, table, columns = stored_predictions(out)
                x, y = deeprfm_model.load_idx(FASHION, train=False)
                mine = deeprfm_model.DeepRFMModel(fm).predict(x[index])
                worst = max(relative(a, b) for a, b in zip(mine, preds))
                acc = list(table[:, columns.index("accuracy")])
                check(worst <= 1e-8 and
                      acc == [float((pr.argmax(1) == y[index]).mean()) for pr in mine],
                      f"the reader agrees on Fashion-MNIST to 1e-8 ({worst:.1e}; accuracy {acc})")
                check(min(acc) > 0.6, f"the held-out accuracy is a trained model's ({acc})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"{passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
    sys.exit(1 if failed or passed == 0 else 0)
