#!/usr/bin/env python3
"""The data selections (--selection, --test-selection; docs/cli.md) on the real executables,
deeprfm and deeprfm-mlp (found next to it), with small NPY fixtures written here:

- --selection first: /data/train_source_index is the first n samples in file order, stably
  sorted by class; the default --selection balanced takes n/C of each class instead;
- the test set is the first --n-test points by default, a class may be missing from it (the
  run completes and its test accuracy is a number); --test-selection balanced refuses a class
  with too few points, naming the options;
- both choices are recorded in /config, and --continue refuses a file made with the other (a
  file that predates them counts as balanced for both);
- deeprfm predict of a run's own test set selects it as the run did;
- a bad value of either option is refused with exit 2 and one line naming the flag.

usage: test_selection.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]   (needs h5py)
"""
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import h5py
except ImportError as e:
    # A missing test dependency fails the suite: nothing here would have been tested.
    print(f"FAILED: the Python module {e.name} is not installed for {sys.executable} "
          "(Debian: python3-h5py); run bash scripts/setup.sh --tests")
    print("0 passed, 1 failed")
    sys.exit(1)

DEEPRFM, MPIEXEC, NPROCS = sys.argv[1], sys.argv[2], int(sys.argv[3])
MPI_FLAGS = sys.argv[4:]
MLP = os.path.join(os.path.dirname(DEEPRFM), "deeprfm-mlp")
TIMEOUT = 180
EXIT_INPUT = 2

# Training labels repeat 0, 1, 0, 1, 2: the first 24 hold 10, 10 and 4 of the classes, a
# balanced 24 needs 8 of class 2 (positions 4, 9, ..., 39). Test labels: class 2 has only two
# points, at positions 10 and 11, so the first 10 test points hold none of it.
N, N_TEST, D = 40, 15, 5
TRAIN_Y = [(0, 1, 0, 1, 2)[i % 5] for i in range(N)]
TEST_Y = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 2, 0, 1, 0]


def write_npy(path, rows, dtype):
    """A C-order 2-D (list of lists) or 1-D array as a version 1.0 .npy file."""
    if rows and isinstance(rows[0], list):
        shape_txt = "(%d, %d)" % (len(rows), len(rows[0]))
        flat = [v for r in rows for v in r]
    else:
        shape_txt = "(%d,)" % len(rows)
        flat = list(rows)
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shape_txt)
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    fmt = {"<f8": "<%dd", "<i8": "<%dq"}[dtype] % len(flat)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack(fmt, *flat))


def features(rows, shift):
    # Distinct, irregular rows: the ridgeless kernel matrix stays well conditioned.
    return [[math.sin(1.3 * i + 0.7 * j * j + shift) + 0.1 * j for j in range(D)]
            for i in range(rows)]


def by_class(indices, labels):
    """indices stably sorted by class (Python's sort is stable)."""
    return sorted(indices, key=lambda i: labels[i])


def balanced(labels, n, classes):
    """The class-balanced selection of docs/numerics.md §1, stably sorted by class."""
    quota = [n // classes + (1 if c < n % classes else 0) for c in range(classes)]
    taken, chosen = [0] * classes, []
    for i, y in enumerate(labels):
        if taken[y] < quota[y]:
            taken[y] += 1
            chosen.append(i)
    return by_class(chosen, labels)


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def main():
    tmp = tempfile.mkdtemp(prefix="deeprfm-selection-")
    try:
        failures, total = run_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (total - failures, failures))
    sys.exit(1 if failures else 0)


def run_cases(tmp):
    train_x, test_x = os.path.join(tmp, "train_X.npy"), os.path.join(tmp, "test_X.npy")
    write_npy(train_x, features(N, 0.0), "<f8")
    write_npy(os.path.join(tmp, "train_y.npy"), TRAIN_Y, "<i8")
    write_npy(test_x, features(N_TEST, 0.5), "<f8")
    write_npy(os.path.join(tmp, "test_y.npy"), TEST_Y, "<i8")
    data = ["--data", "npy", "--train", train_x, "--test", test_x]
    rfm = data + ["--layers", "1", "--width", "16", "--block-size", "4", "--quiet"]
    mlp = data + ["--hidden-layers", "2", "--hidden-width", "8", "--epochs", "1",
                  "--batch-size", "8", "--measure-every", "0", "--block-size", "4", "--quiet"]
    state = {"failures": 0, "total": 0}

    def check(name, ok, detail=""):
        state["total"] += 1
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok or not detail else "\n     " + detail))
        if not ok:
            state["failures"] += 1

    def run(exe, args):
        cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [exe] + args
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, -1, "", "hung for %d s" % TIMEOUT)

    def completed(name, exe, args, out):
        p = run(exe, args + ["--output", out, "--overwrite"])
        check(name + ": exit 0", p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr[-1500:]))
        return p.returncode == 0

    def refused(name, exe, args, fragments):
        p = run(exe, args)
        prefix = os.path.basename(exe) + ": error"
        errors = [l for l in p.stderr.splitlines() if l.startswith(prefix)]
        ok = p.returncode == EXIT_INPUT and len(errors) == 1 and all(f in errors[0] for f in fragments)
        check(name, ok, "expected exit 2 and one line with %r; exit %d, stderr:\n%s"
              % (fragments, p.returncode, p.stderr[-1500:]))

    first24 = by_class(range(24), TRAIN_Y)
    balanced24 = balanced(TRAIN_Y, 24, 3)
    first10_test = by_class(range(10), TEST_Y)
    assert first24 != balanced24 and 2 not in [TEST_Y[i] for i in first10_test]

    # deeprfm and deeprfm-mlp: --selection first takes the first 24; the test set is the first
    # 10 points (no class 2) by default.
    for program, exe, base in (("deeprfm", DEEPRFM, rfm), ("deeprfm-mlp", MLP, mlp)):
        out = os.path.join(tmp, program + "-first.h5")
        if completed(program + " --selection first", exe,
                     base + ["--selection", "first", "--n", "24", "--n-test", "10"], out):
            with h5py.File(out, "r") as f:
                train = [int(v) for v in f["data/train_source_index"][()]]
                test = [int(v) for v in f["data/test_source_index"][()]]
                labels = [int(v) for v in f["data/train_labels"][()]]
                config = {k: text(v) for k, v in f["config"].attrs.items()}
                description = text(f["data"].attrs["description"])
                accuracy = float(f["metrics"]["test_accuracy"][-1]) if program == "deeprfm" else \
                    float(f["epochs"]["test_accuracy"][-1])
            check(program + ": train_source_index = the first 24, sorted by class",
                  train == first24, "got %s, expected %s" % (train, first24))
            check(program + ": train_labels sorted, those of the rows",
                  labels == sorted(labels) and labels == [TRAIN_Y[i] for i in train])
            check(program + ": test_source_index = the first 10 (no class 2)",
                  test == first10_test, "got %s, expected %s" % (test, first10_test))
            check(program + ": /config records selection first, test-selection first",
                  config.get("selection") == "first" and config.get("test-selection") == "first",
                  str(config))
            check(program + ": the description names the selection",
                  "first 24 samples, 3 classes (4..10 per class)" in description and
                  "first 10 samples, 3 classes (0..5 per class; none of class 2)" in description,
                  description)
            check(program + ": test accuracy of a test set without class 2 is a number in [0, 1]",
                  0.0 <= accuracy <= 1.0, "test accuracy %r" % accuracy)
        # The default: class-balanced training points.
        out = os.path.join(tmp, program + "-balanced.h5")
        if completed(program + " --selection balanced (default)", exe,
                     base + ["--n", "24", "--n-test", "10"], out):
            with h5py.File(out, "r") as f:
                train = [int(v) for v in f["data/train_source_index"][()]]
                config = {k: text(v) for k, v in f["config"].attrs.items()}
            check(program + ": default train_source_index = 8 of each class",
                  train == balanced24, "got %s, expected %s" % (train, balanced24))
            check(program + ": /config records selection balanced",
                  config.get("selection") == "balanced" and config.get("test-selection") == "first",
                  str(config))
        # --test-selection balanced: 12 test points need 4 of class 2, which has 2.
        refused(program + ": --test-selection balanced refuses a too-small class", exe,
                base + ["--n", "24", "--n-test", "12", "--test-selection", "balanced",
                        "--output", os.path.join(tmp, "never.h5")],
                ("class 2 has only 2 samples", "(options --n-test, --test-selection)"))
        # Bad values, and a training selection without class 2 (the first 4).
        for flag in ("--selection", "--test-selection"):
            refused(program + ": " + flag + " foo", exe,
                    base + [flag, "foo", "--output", os.path.join(tmp, "never.h5")],
                    ("sample selection 'foo' is not one of: balanced, first", "(option %s)" % flag))
        refused(program + ": --selection first without a class in the training set", exe,
                base + ["--selection", "first", "--n", "4", "--output", os.path.join(tmp, "never.h5")],
                ("class 2 has no sample in the selection (first 4 samples",
                 "(options --n, --selection)"))
        check(program + ": refused runs leave no file", not os.path.exists(os.path.join(tmp, "never.h5")))

    # --continue compares the selection like every data option.
    out = os.path.join(tmp, "deeprfm-first.h5")
    args = rfm + ["--selection", "first", "--n", "24", "--n-test", "10", "--output", out]
    p = run(DEEPRFM, args + ["--continue"])
    check("deeprfm --continue with the same selection: nothing to do", p.returncode == 0,
          "exit %d: %s" % (p.returncode, p.stderr[-1500:]))
    refused("deeprfm --continue with another --selection", DEEPRFM,
            rfm + ["--n", "24", "--n-test", "10", "--output", out, "--continue"],
            ("--selection balanced asked, first stored",))
    refused("deeprfm --continue with another --test-selection", DEEPRFM,
            args + ["--test-selection", "balanced", "--continue"],
            ("--test-selection balanced asked, first stored",))
    refused("deeprfm --resume with another --selection", DEEPRFM,
            ["--resume", out, "--selection", "balanced"],
            ("--selection balanced contradicts the stored run (first)",))
    # deeprfm predict of a run's own test set takes it as the run chose it (--test-selection).
    own = os.path.join(tmp, "deeprfm-model.h5")
    if completed("deeprfm --save-model with the first 10 test points", DEEPRFM,
                 rfm + ["--n", "24", "--n-test", "10", "--save-model"], own):
        pred = os.path.join(tmp, "predictions.h5")
        p = run(DEEPRFM, ["predict", "--model", own, "-o", pred, "--quiet"])
        check("deeprfm predict of the run's own test set: exit 0", p.returncode == 0,
              "exit %d: %s" % (p.returncode, p.stderr[-1500:]))
        if p.returncode == 0:
            with h5py.File(pred, "r") as f:
                index = [int(v) for v in f["data/source_index"][()]]
            check("deeprfm predict: the run's first 10 test points", index == first10_test,
                  "got %s, expected %s" % (index, first10_test))

    # A file written before the selections existed stores neither; its run chose both sets
    # class-balanced, and --continue compares against that.
    old = os.path.join(tmp, "deeprfm-old.h5")
    old_args = rfm + ["--n", "24", "--n-test", "6", "--test-selection", "balanced", "--output", old]
    if completed("deeprfm, a file to age", DEEPRFM, old_args[:-2], old):
        with h5py.File(old, "r+") as f:
            del f["config"].attrs["selection"]
            del f["config"].attrs["test-selection"]
        p = run(DEEPRFM, old_args + ["--continue"])
        check("deeprfm --continue of an old file with --test-selection balanced: nothing to do",
              p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr[-1500:]))
        refused("deeprfm --continue of an old file with the default --test-selection", DEEPRFM,
                rfm + ["--n", "24", "--n-test", "6", "--output", old, "--continue"],
                ("--test-selection first asked, balanced stored",))
    return state["failures"], state["total"]


if __name__ == "__main__":
    main()
