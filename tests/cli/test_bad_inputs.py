#!/usr/bin/env python3
"""Bad inputs to the deeprfm executable (and deeprfm-bench, found next to it): each must end with one clear one-line error (printed
once, by one rank), the expected exit code, and never a hang or a crash.

usage: test_bad_inputs.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]
Stdlib only: fixture files (IDX, NPY, HDF5 is not needed) are written here.
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

DEEPRFM, MPIEXEC, NPROCS = sys.argv[1], sys.argv[2], int(sys.argv[3])
MPI_FLAGS = sys.argv[4:]
TIMEOUT = 120

EXIT_INPUT, EXIT_NUMERICAL, EXIT_RESOURCE = 2, 3, 4


def write_npy(path, rows, dtype="<f8"):
    """A C-order 2-D (list of lists) or 1-D array as a version 1.0 .npy file."""
    if rows and isinstance(rows[0], list):
        shape = (len(rows), len(rows[0]))
        flat = [v for r in rows for v in r]
    else:
        shape = (len(rows),)
        flat = list(rows)
    shape_txt = "(%d,)" % shape[0] if len(shape) == 1 else "(%d, %d)" % shape
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shape_txt)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    fmt = {"<f8": "<%dd", "<i8": "<%dq"}[dtype] % len(flat)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack(fmt, *flat))


def write_idx(folder, prefix, count, magic=0x00000803, truncate_by=0, rows=4, cols=3):
    os.makedirs(folder, exist_ok=True)
    images = struct.pack(">IIII", magic, count, rows, cols) + bytes(
        (37 * k + 11 * p) % 256 for k in range(count) for p in range(rows * cols))
    if truncate_by:
        images = images[:-truncate_by]
    labels = struct.pack(">II", 0x00000801, count) + bytes(k % 2 for k in range(count))
    with gzip.open(os.path.join(folder, prefix + "-images-idx3-ubyte.gz"), "wb") as f:
        f.write(images)
    with gzip.open(os.path.join(folder, prefix + "-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(labels)


def main():
    tmp = tempfile.mkdtemp(prefix="deeprfm-cli-")
    try:
        run_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_cases(tmp):
    # Fixtures.
    good = os.path.join(tmp, "good")
    write_idx(good, "train", 40)
    write_idx(good, "t10k", 10)
    truncated = os.path.join(tmp, "truncated")
    write_idx(truncated, "train", 40, truncate_by=5)
    write_idx(truncated, "t10k", 10)
    badmagic = os.path.join(tmp, "badmagic")
    write_idx(badmagic, "train", 40, magic=0x00000804)
    write_idx(badmagic, "t10k", 10)
    headeronly = os.path.join(tmp, "headeronly")
    os.makedirs(headeronly)
    with gzip.open(os.path.join(headeronly, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x00000803, 40))  # header cut after two fields
    shutil.copy(os.path.join(good, "train-labels-idx1-ubyte.gz"), headeronly)

    # A gzip IDX file damaged near its end: its CRC-32 fails only when the stream is read to
    # the end, which --n 20 alone would not do (the whole stream is checked once at open).
    corrupt = os.path.join(tmp, "corruptgz")
    write_idx(corrupt, "t10k", 10)
    big = struct.pack(">IIII", 0x00000803, 12000, 8, 8) + bytes(
        (37 * k + 11 * p) % 256 if (k * p) % 7 else (13 * k + p * p) % 256
        for k in range(12000) for p in range(64))
    damaged = bytearray(gzip.compress(big, mtime=0))
    damaged[len(damaged) - 100] ^= 0x40
    with open(os.path.join(corrupt, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(bytes(damaged))
    with gzip.open(os.path.join(corrupt, "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x00000801, 12000) + bytes(k % 2 for k in range(12000)))
    cfg_folder = os.path.join(tmp, "a-folder.cfg")
    os.makedirs(cfg_folder)
    cfg_resume = os.path.join(tmp, "resume.cfg")
    with open(cfg_resume, "w") as f:
        f.write("resume = %s\n" % os.path.join(tmp, "some.h5"))
    cfg_continue = os.path.join(tmp, "continue.cfg")
    with open(cfg_continue, "w") as f:
        f.write("continue = true\n")

    npy = lambda name: os.path.join(tmp, name)
    grid = [[float((3 * i + j) % 7) + 0.1 * i for j in range(5)] for i in range(12)]
    labels = [i % 2 for i in range(12)]
    write_npy(npy("ok_X.npy"), grid)
    write_npy(npy("ok_y.npy"), labels, "<i8")
    write_npy(npy("three_X.npy"), grid)
    write_npy(npy("three_y.npy"), [i % 3 for i in range(12)], "<i8")
    nan_rows = [r[:] for r in grid]
    nan_rows[4][2] = float("nan")
    write_npy(npy("nan_X.npy"), nan_rows)
    write_npy(npy("nan_y.npy"), labels, "<i8")
    inf_rows = [r[:] for r in grid]
    inf_rows[7][0] = float("inf")
    write_npy(npy("inf_X.npy"), inf_rows)
    write_npy(npy("inf_y.npy"), labels, "<i8")
    write_npy(npy("short_X.npy"), grid)
    write_npy(npy("short_y.npy"), labels[:-1], "<i8")
    write_npy(npy("neg_X.npy"), grid)
    write_npy(npy("neg_y.npy"), [-1] + labels[1:], "<i8")
    # Sample 0 equals the feature means: it standardises to a zero row.
    zero = [[1.0, 1.0], [0.0, 2.0], [2.0, 0.0], [0.5, 1.5], [1.5, 0.5], [3.0, 4.0], [-1.0, -2.0],
            [2.5, 0.0]]
    s0 = [sum(r[j] for r in zero[1:]) / 7.0 for j in range(2)]
    zero[0] = s0
    write_npy(npy("zero_X.npy"), zero)
    write_npy(npy("zero_y.npy"), [0, 1, 0, 1, 0, 1, 0, 1], "<i8")
    # Duplicated samples: the ridgeless kernel matrix is singular.
    dup = [r[:] for r in grid]
    dup[5] = dup[3][:]
    dup[9] = dup[3][:]
    write_npy(npy("dup_X.npy"), dup)
    write_npy(npy("dup_y.npy"), [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1], "<i8")
    with open(npy("garbage_X.npy"), "wb") as f:
        f.write(b"this is not a numpy file at all")
    write_npy(npy("garbage_y.npy"), labels, "<i8")
    with open(npy("notes.h5"), "wb") as f:
        f.write(b"not hdf5")
    existing = os.path.join(tmp, "exists.h5")
    with open(existing, "wb") as f:
        f.write(b"")
    cfg = os.path.join(tmp, "bad.cfg")
    with open(cfg, "w") as f:
        f.write("bandwidth = two\n")

    out = os.path.join(tmp, "out.h5")

    def options(base, **changes):
        """base options with some replaced (name=None drops one); each option appears once."""
        opts = dict(base)
        for key, value in changes.items():
            key = "--" + key.replace("_", "-")
            if value is None:
                opts.pop(key, None)
            else:
                opts[key] = value
        args = []
        for key, value in opts.items():
            args += [key] if value == "" else [key, value]
        return args

    small_base = {"--n": "0", "--n-test": "-1", "--layers": "1", "--width": "8", "--output": out,
                  "--overwrite": ""}
    small = options(small_base)
    syn_base = {"--data": "synthetic", "--n": "40", "--dim": "6", "--classes": "2",
                "--layers": "1", "--width": "8", "--output": out, "--overwrite": ""}
    syn = options(syn_base)
    many = "1x%d" % (NPROCS + 1)

    cases = [
        # (name, arguments, exit code, message fragment)
        ("mnist needs --data-dir", ["--data", "mnist"] + small, EXIT_INPUT,
         ("mnist data needs a data folder", "(option --data-dir)")),
        # The library names the quantity, the command line adds its flag.
        ("synthetic --n 0", options(syn_base, n="0"), EXIT_INPUT,
         ("synthetic data needs a sample count n > 0", "(option --n)")),
        ("missing data folder", ["--data", "fashion-mnist", "--data-dir", os.path.join(tmp, "none")] + small,
         EXIT_INPUT, "none"),
        ("truncated IDX data", ["--data", "fashion-mnist", "--data-dir", truncated] + small, EXIT_INPUT,
         "truncated"),
        ("bad IDX magic", ["--data", "fashion-mnist", "--data-dir", badmagic] + small, EXIT_INPUT, "magic"),
        ("truncated IDX header", ["--data", "fashion-mnist", "--data-dir", headeronly] + small, EXIT_INPUT,
         "header"),
        ("--n larger than available", ["--data", "fashion-mnist", "--data-dir", good, "--n", "1000", "--n-test", "-1",
                                       "--layers", "1", "--output", out, "--overwrite"], EXIT_INPUT, "1000"),
        ("labels outside --classes", ["--data", "npy", "--train", npy("three_X.npy"), "--classes", "2"] + small,
         EXIT_INPUT, "outside [0, 2)"),
        ("--classes 1", ["--data", "npy", "--train", npy("ok_X.npy"), "--classes", "1"] + small,
         EXIT_INPUT, "--classes"),
        ("negative label", ["--data", "npy", "--train", npy("neg_X.npy")] + small, EXIT_INPUT, "label"),
        ("NaN in input", ["--data", "npy", "--train", npy("nan_X.npy")] + small, EXIT_INPUT, "nan"),
        ("Inf in input", ["--data", "npy", "--train", npy("inf_X.npy")] + small, EXIT_INPUT, "inf"),
        ("sample/label count mismatch", ["--data", "npy", "--train", npy("short_X.npy")] + small, EXIT_INPUT,
         "label"),
        ("not an npy file", ["--data", "npy", "--train", npy("garbage_X.npy")] + small, EXIT_INPUT, "npy"),
        ("missing npy file", ["--data", "npy", "--train", npy("absent_X.npy")] + small, EXIT_INPUT, "absent"),
        ("not an HDF5 file", ["--data", "hdf5", "--train", npy("notes.h5")] + small, EXIT_INPUT, "HDF5"),
        ("zero-norm row", ["--data", "npy", "--train", npy("zero_X.npy")] + small, EXIT_INPUT, "zero norm"),
        ("singular ridgeless system", ["--data", "npy", "--train", npy("dup_X.npy")] + small, EXIT_NUMERICAL,
         ("rerun with a ridge of 1e-3", "(option --ridge)")),
        ("bandwidth 0", syn + ["--bandwidth", "0"], EXIT_INPUT,
         ("the kernel bandwidth must be positive", "(option --bandwidth)")),
        ("negative bandwidth", syn + ["--bandwidth", "-2"], EXIT_INPUT, "--bandwidth"),
        ("width 0", options(syn_base, width="0"), EXIT_INPUT,
         ("random-feature width must be positive", "(option --width)")),
        ("negative ridge", syn + ["--ridge", "-1e-3"], EXIT_INPUT,
         ("the ridge must be a finite number", "(option --ridge)")),
        ("zero layers", options(syn_base, layers="0"), EXIT_INPUT,
         ("number of layers must be positive", "(option --layers)")),
        ("zero block size", syn + ["--block-size", "0"], EXIT_INPUT, "--block-size"),
        ("negative PBLAS block", syn + ["--pblas-block", "-1"], EXIT_INPUT, "--pblas-block"),
        ("--test-x-name without hdf5", syn + ["--test-x-name", "/test/X"], EXIT_INPUT,
         ("test dataset names name datasets", "(options --test-x-name, --test-y-name)")),
        ("--test-y-name without --test", ["--data", "hdf5", "--train", npy("notes.h5"),
                                          "--test-y-name", "/test/y"] + small, EXIT_INPUT,
         "--test-y-name"),
        ("unknown kernel", syn + ["--kernel", "cosine"], EXIT_INPUT,
         ("kernel 'cosine' is not one of", "(option --kernel)")),
        ("unknown feature init", syn + ["--feature-init", "xavier"], EXIT_INPUT,
         ("feature initialisation 'xavier'", "(option --feature-init)")),
        ("unknown data kind", options(syn_base, data="imagenet"), EXIT_INPUT,
         ("unknown data kind 'imagenet'", "(option --data)")),
        ("grid does not match ranks", syn + ["--grid", many], EXIT_INPUT,
         ("process grid " + many + " has", "(option --grid)")),
        ("malformed grid", syn + ["--grid", "2by2"], EXIT_INPUT,
         ("process grid '2by2' is not of the form", "(option --grid)")),
        ("existing output file", options(syn_base, output=existing, overwrite=None), EXIT_INPUT,
         ("it is replaced only when overwriting is asked for", "(option --overwrite)")),
        ("unknown option", syn + ["--frobnicate"], EXIT_INPUT, "frobnicate"),
        ("bad config value", syn + ["--config", cfg], EXIT_INPUT, "bandwidth"),
        ("missing config file", syn + ["--config", os.path.join(tmp, "nope.cfg")], EXIT_INPUT, "nope.cfg"),
        ("bad --save-features", syn + ["--save-features", "some"], EXIT_INPUT, "--save-features"),
        ("--n-test below -1", syn + ["--n-test", "-5"], EXIT_INPUT, "--n-test"),
        ("negative --n", options(syn_base, n="-3"), EXIT_INPUT, "--n"),
        ("corrupt gzip, prefix read", ["--data", "mnist", "--data-dir", corrupt, "--classes", "2",
                                       "--n", "20", "--n-test", "-1", "--layers", "1", "--width", "8",
                                       "--output", out, "--overwrite"], EXIT_INPUT,
         ("corrupt gzip data", "incorrect data check")),
        ("--n above 2^31-1", options(syn_base, n="3000000000"), EXIT_INPUT,
         ("--n 3000000000 is out of range", "[0, 2147483647]")),
        ("--n 3e9 (not an integer)", options(syn_base, n="3e9"), EXIT_INPUT, ("'3e9'", "--n")),
        ("--n-test above 2^31-1", syn + ["--n-test", "2147483648"], EXIT_INPUT,
         "--n-test 2147483648 is out of range"),
        ("--seed -1", syn + ["--seed", "-1"], EXIT_INPUT, ("--seed", "is out of range", "2^63")),
        ("--seed not a number", syn + ["--seed", "one"], EXIT_INPUT, ("'one'", "--seed")),
        ("--dim 0", options(syn_base, dim="0"), EXIT_INPUT, "--dim 0 is out of range"),
        ("--separation nan", syn + ["--separation", "nan"], EXIT_INPUT,
         "--separation nan is out of range"),
        ("--residual-tolerance inf", syn + ["--residual-tolerance", "inf"], EXIT_INPUT,
         "--residual-tolerance inf is out of range"),
        ("--blas-threads 100000", syn + ["--blas-threads", "100000"], EXIT_INPUT,
         "--blas-threads 100000 is out of range"),
        ("--iterations 0", syn + ["--iterations", "0"], EXIT_INPUT, "--iterations"),
        ("synthetic n beyond memory", options(syn_base, n="2000000000"), EXIT_RESOURCE,
         ("the run needs about", "GiB per rank")),
        ("--config a folder", syn + ["--config", cfg_folder], EXIT_INPUT,
         ("a-folder.cfg is a folder",)),
        ("resume inside a config", syn + ["--config", cfg_resume], EXIT_INPUT,
         ("sets 'resume'", "only the command line")),
        ("continue inside a config", syn + ["--config", cfg_continue], EXIT_INPUT,
         ("sets 'continue'", "only the command line")),
        ("output in a missing folder", options(syn_base, output=os.path.join(tmp, "no", "dir.h5")),
         EXIT_INPUT, ("dir.h5", "does not exist", "(option --output)")),
    ]

    failures = 0
    for name, args, code, fragment in cases:
        cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [DEEPRFM] + args
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            print("FAIL %-32s hung for %d s: %s" % (name, TIMEOUT, " ".join(cmd)))
            failures += 1
            continue
        errors = [l for l in p.stderr.splitlines() if l.startswith("deeprfm: error")]
        fragments = fragment if isinstance(fragment, tuple) else (fragment,)
        ok = (p.returncode == code and len(errors) == 1 and all(f in errors[0] for f in fragments)
              and "MPI_ABORT" not in p.stderr)
        status = "ok  " if ok else "FAIL"
        print("%s %-32s exit %d  %s" % (status, name, p.returncode, errors[0] if errors else "(no error line)"))
        if not ok:
            failures += 1
            print("     expected exit %d and one line containing %r; stderr was:\n%s" %
                  (code, fragment, p.stderr[-2000:]))
    # The singular system again, with --ridge-escalation given explicitly: the ridge is raised
    # step by step, every raise printed, and the run completes.
    total = len(cases) + 1
    cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [DEEPRFM, "--data", "npy", "--train",
                                                      npy("dup_X.npy"), "--ridge-escalation"] + small
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    raises = [l for l in p.stdout.splitlines() if "ridge escalation raises it" in l]
    ok = p.returncode == 0 and len(raises) >= 1
    print("%s %-32s exit %d  %d raise(s): %s" % ("ok  " if ok else "FAIL", "ridge escalation (positive)",
                                                 p.returncode, len(raises), raises[-1] if raises else "-"))
    if not ok:
        failures += 1
        print(p.stdout[-1500:], p.stderr[-1500:])
    # A bad DEEPRFM_VECTOR_MATH is one agreed input error before any work (not an abort in the
    # first kernel assembly), and no results file is left behind.
    total += 1
    vm_out = os.path.join(tmp, "vector-math.h5")
    cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + ["-x", "DEEPRFM_VECTOR_MATH", DEEPRFM] + \
        options(syn_base, output=vm_out)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                       env=dict(os.environ, DEEPRFM_VECTOR_MATH="avx9"))
    errors = [l for l in p.stderr.splitlines() if l.startswith("deeprfm: error")]
    ok = (p.returncode == EXIT_INPUT and len(errors) == 1 and "DEEPRFM_VECTOR_MATH" in errors[0]
          and not os.path.exists(vm_out))
    print("%s %-32s exit %d  %s" % ("ok  " if ok else "FAIL", "bad DEEPRFM_VECTOR_MATH",
                                    p.returncode, errors[0] if errors else "(no error line)"))
    if not ok:
        failures += 1
        print("     expected exit %d, one line naming DEEPRFM_VECTOR_MATH and no %s; stderr was:\n%s"
              % (EXIT_INPUT, vm_out, p.stderr[-2000:]))
    # The benchmark validates its options the same way (agreed error, exit 2, one line).
    bench = os.path.join(os.path.dirname(DEEPRFM), "deeprfm-bench")
    if not os.path.exists(bench):
        print("FAIL deeprfm-bench not found next to deeprfm (%s): build every target" % bench)
        print("%d passed, %d failed" % (total - failures, failures + 1))
        sys.exit(1)
    bench_cases = [
        ("bench: --n 0", ["--n", "0"], "--n"),
        ("bench: --classes 1", ["--n", "100", "--classes", "1"], "--classes"),
        ("bench: more classes than points", ["--n", "5", "--classes", "10"], "--classes"),
        ("bench: --dim 0", ["--dim", "0"], "--dim"),
        ("bench: --block-size 0", ["--block-size", "0"], "--block-size"),
        ("bench: --pblas-block -1", ["--pblas-block", "-1"], "--pblas-block"),
        ("bench: --repeats 0", ["--repeats", "0"], "--repeats"),
        ("bench: --precision half", ["--precision", "half"], "--precision"),
        ("bench: --kernel cosine", ["--kernel", "cosine"], "--kernel"),
        ("bench: negative ridge", ["--ridge", "-1"], "--ridge"),
        ("bench: unknown option", ["--frobnicate"], "frobnicate"),
    ]
    for name, args, fragment in bench_cases:
        total += 1
        cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [bench] + args
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            print("FAIL %-32s hung for %d s" % (name, TIMEOUT))
            failures += 1
            continue
        errors = [l for l in p.stderr.splitlines() if l.startswith("deeprfm-bench: error")]
        ok = p.returncode == EXIT_INPUT and len(errors) == 1 and fragment in errors[0]
        print("%s %-32s exit %d  %s" % ("ok  " if ok else "FAIL", name, p.returncode,
                                        errors[0] if errors else "(no error line)"))
        if not ok:
            failures += 1
            print("     expected exit %d and one line containing %r; stderr was:\n%s" %
                  (EXIT_INPUT, fragment, p.stderr[-2000:]))
    # deeprfm-mlp and deeprfm predict: the same range checks, the same config-file rules, and an
    # empty class in predict's metrics agreed (it used to abort every rank with MPI_ABORT).
    mlp = os.path.join(os.path.dirname(DEEPRFM), "deeprfm-mlp")
    model = os.path.join(tmp, "model.h5")
    write_npy(npy("oneclass_X.npy"), grid)
    write_npy(npy("oneclass_y.npy"), [0] * 12, "<i8")
    cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [DEEPRFM, "--data", "npy", "--train",
                                                      npy("ok_X.npy"), "--save-model", "--quiet"] + \
        options(small_base, output=model)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        print("FAIL could not make the model for the predict cases: %s" % p.stderr[-1500:])
        failures += 1
    mlp_syn = ["--data", "synthetic", "--n", "40", "--dim", "6", "--classes", "2", "--epochs",
               "1", "--hidden-width", "8", "--output", out, "--overwrite"]
    predict_out = ["--output", os.path.join(tmp, "predictions.h5"), "--overwrite"]
    program_cases = [
        ("mlp: --seed -1", mlp, "deeprfm-mlp", mlp_syn + ["--seed", "-1"], EXIT_INPUT,
         ("--seed", "is out of range")),
        ("mlp: --n above 2^31-1", mlp, "deeprfm-mlp",
         mlp_syn[:2] + ["--n", "3000000000"] + mlp_syn[4:], EXIT_INPUT,
         "--n 3000000000 is out of range"),
        ("mlp: --lr inf", mlp, "deeprfm-mlp", mlp_syn + ["--lr", "inf"], EXIT_INPUT, "--lr"),
        ("mlp: --config a folder", mlp, "deeprfm-mlp", mlp_syn + ["--config", cfg_folder],
         EXIT_INPUT, "is a folder"),
        ("mlp: resume inside a config", mlp, "deeprfm-mlp", mlp_syn + ["--config", cfg_resume],
         EXIT_INPUT, ("sets 'resume'", "only the command line")),
        ("predict: --n above 2^31-1", DEEPRFM, "deeprfm predict",
         ["predict", "--model", model, "--n", "3000000000"] + predict_out, EXIT_INPUT,
         "--n 3000000000 is out of range"),
        ("predict: --blas-threads -1", DEEPRFM, "deeprfm predict",
         ["predict", "--model", model, "--blas-threads", "-1"] + predict_out, EXIT_INPUT,
         "BLAS thread count"),
        ("predict: empty class, --metrics", DEEPRFM, "deeprfm predict",
         ["predict", "--model", model, "--data", "npy", "--file", npy("oneclass_X.npy"),
          "--metrics"] + predict_out, EXIT_INPUT, "class 1 has no samples"),
    ]
    for name, program, prefix, args, code, fragment in program_cases:
        total += 1
        cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [program] + args
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            print("FAIL %-32s hung for %d s" % (name, TIMEOUT))
            failures += 1
            continue
        errors = [l for l in p.stderr.splitlines() if l.startswith(prefix + ": error")]
        fragments = fragment if isinstance(fragment, tuple) else (fragment,)
        ok = (p.returncode == code and len(errors) == 1 and all(f in errors[0] for f in fragments)
              and "MPI_ABORT" not in p.stderr)
        print("%s %-32s exit %d  %s" % ("ok  " if ok else "FAIL", name, p.returncode,
                                        errors[0] if errors else "(no error line)"))
        if not ok:
            failures += 1
            print("     expected exit %d and one line containing %r, no MPI_ABORT; stderr was:\n%s"
                  % (code, fragment, p.stderr[-2000:]))
    print("%d passed, %d failed" % (total - failures, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
