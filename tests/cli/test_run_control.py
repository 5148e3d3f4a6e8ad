#!/usr/bin/env python3
"""The run-control edges of a batch job (docs/checkpointing.md, "Time limits and the
watchdog"), tested on the real executables:

- --continue: absent file -> a fresh run; same options -> nothing to do; technical options
  may differ; different ridge / bandwidth / layers / data -> one refusal naming all of them;
  --continue with --resume or --overwrite refused; an incomplete file (stopped by a signal
  after layer 1) is continued to the result of an uninterrupted run;
- SIGINT: recorded from the start (handlers installed before MPI_Init, kept by it): exit 75;
- a deadline reached inside a 60 s phase: the watchdog exits 75 at deadline - margin, one
  message, and the file resumes to the uninterrupted run's metrics and AGOPs;
- a stop signal inside that phase with --stop-grace 2: exit 75 after ~2 s, not 60;
- a second SIGINT: exit 75 at once;
- a layer that does not fit after one completed: exit 75 at the between-layer point;
- a resume whose next layer (by its stored time) does not fit: exit 76;
- deeprfm-mlp with a deadline: stops at an epoch end with 75 and resumes.

usage: test_run_control.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]   (needs h5py)
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import h5py
    import numpy as np
except ImportError as e:
    # A missing test dependency fails the suite: nothing here would have been tested.
    print(f"FAILED: the Python module {e.name} is not installed for {sys.executable} "
          "(Debian: python3-h5py python3-numpy); run bash scripts/setup.sh --tests")
    print("0 passed, 1 failed")
    sys.exit(1)

DEEPRFM, MPIEXEC, NPROCS = sys.argv[1], sys.argv[2], int(sys.argv[3])
MPI_FLAGS = sys.argv[4:]
MLP = os.path.join(os.path.dirname(DEEPRFM), "deeprfm-mlp")
LAYERS = 3
RUN = ["--data", "synthetic", "--n", "700", "--n-test", "120", "--dim", "24", "--classes", "3",
       "--width", "48", "--seed", "7", "--block-size", "32", "--quiet"]
RUN_L = RUN + ["--layers", str(LAYERS)]
# A continued or resumed run equals the uninterrupted one up to summation order: 600 n eps, as
# in test_reliability.py (docs/numerics.md §12).
RUN_TOL = 600 * int(RUN[RUN.index("--n") + 1]) * sys.float_info.epsilon


def with_options(*pairs):
    """RUN_L with some options replaced (or added): with_options("--ridge", "0.001", ...)."""
    args = list(RUN_L)
    for name, value in zip(pairs[0::2], pairs[1::2]):
        if name in args:
            args[args.index(name) + 1] = value
        else:
            args += [name, value]
    return args
failures = 0
passed = 0


def check(name, ok, detail=""):
    global failures, passed
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else ": " + detail), flush=True)
    if ok:
        passed += 1
    else:
        failures += 1


def command(args, env=None, program=None):
    cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS
    for k in env or {}:
        cmd += ["-x", k]
    return cmd + [program or DEEPRFM] + args


def full_env(env):
    e = dict(os.environ, OPENBLAS_NUM_THREADS="1", **(env or {}))
    e.pop("SLURM_JOB_END_TIME", None)  # the tests set --deadline themselves
    return e


def mpirun(args, env=None, timeout=300, program=None):
    return subprocess.run(command(args, env, program), capture_output=True, text=True,
                          timeout=timeout, env=full_env(env))


def start(args, env=None):
    return subprocess.Popen(command(args, env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env(env), start_new_session=True)


def wait_line(job, text, limit=120):
    """Read the job's stderr until a line holds `text`; returns what was read."""
    seen = ""
    end = time.time() + limit
    while time.time() < end:
        line = job.stderr.readline()
        if not line and job.poll() is not None:
            break
        seen += line
        if text in line:
            break
    return seen


def finish(job, timeout=150):
    try:
        _, err = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        _, err = job.communicate()
        err += "\n[killed after %d s]" % timeout
    return err


def rank_pids(path):
    out = subprocess.run(["pgrep", "-f", "deeprfm .*%s" % path], capture_output=True, text=True)
    mine = []
    for pid in out.stdout.split():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode()
        except OSError:
            continue
        if os.path.basename(argv0) == "deeprfm":
            mine.append(int(pid))
    return mine


def signal_ranks(path, sig):
    pids = rank_pids(path)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return len(pids)


def state(path):
    with h5py.File(path, "r") as f:
        table = f["/metrics/table"][()]
        columns = [c.decode() if isinstance(c, bytes) else c
                   for c in f["/metrics/table"].attrs["columns"]]
        agops = [f["/layers/layer_%02d/agop" % (l + 1)][()] for l in range(table.shape[0])]
        completed = int(f["/checkpoint"].attrs["completed_layers"])
        complete = int(f["/checkpoint"].attrs["complete"])
    return table, columns, agops, completed, complete


def completed_layers(path):
    try:
        with h5py.File(path, "r") as f:
            return int(f["/checkpoint"].attrs["completed_layers"])
    except Exception as e:  # noqa: BLE001
        return "unreadable (%s)" % e


def differences(a, b):
    """Largest relative difference of the metrics (without seconds, residual, rcond: see
    test_reliability.py) and of the AGOPs."""
    ta, cols, ga = a[0], a[1], a[2]
    tb, gb = b[0], b[2]
    if ta.shape != tb.shape:
        return float("inf"), float("inf")
    exact = [i for i, c in enumerate(cols) if c not in ("seconds", "residual", "rcond")]
    rel_t = np.max(np.abs(ta[:, exact] - tb[:, exact]) / np.maximum(np.abs(tb[:, exact]), 1e-300))
    rel_g = max(np.max(np.abs(x - y)) / np.max(np.abs(y)) for x, y in zip(ga, gb))
    return rel_t, rel_g


def identical(name, path, reference):
    try:
        t, g = differences(state(path), reference)
    except Exception as e:  # noqa: BLE001
        check(name, False, str(e))
        return
    ok = t < RUN_TOL and g < RUN_TOL and state(path)[4] == 1
    check("%s (metrics %.1e, AGOPs %.1e)" % (name, t, g), ok)


def lines_with(text, err):
    return [l for l in err.splitlines() if text in l]


def main(tmp):
    p = lambda name: os.path.join(tmp, name)
    ref = p("reference.h5")
    r = mpirun(RUN_L + ["--output", ref])
    check("uninterrupted reference run", r.returncode == 0, r.stderr[-500:])
    reference = state(ref)

    # ---- 1. --continue ----
    out = p("continue.h5")
    r = mpirun(RUN_L + ["--continue", "--output", out])
    check("--continue of an absent file: a fresh run", r.returncode == 0 and os.path.exists(out),
          r.stderr[-500:])
    identical("... equal to the reference", out, reference)
    r = mpirun(RUN_L + ["--continue", "--output", out])
    check("--continue with the same options: nothing to do, exit 0",
          r.returncode == 0 and "nothing to do" in r.stdout, r.stdout[-300:] + r.stderr[-300:])
    r = mpirun(with_options("--block-size", "16", "--grid", "1x%d" % NPROCS, "--save-features",
                            "none", "--pblas-block", "64", "--blas-threads", "1")
               + ["--continue", "--output", out])
    check("--continue with other technical options: accepted",
          r.returncode == 0 and "nothing to do" in r.stdout, r.stderr[-400:])
    r = mpirun(with_options("--ridge", "0.001", "--bandwidth", "10")
               + ["--continue", "--output", out])
    errs = lines_with("error", r.stderr)
    check("--continue with another ridge and bandwidth: refused (exit 2), naming both values",
          r.returncode == 2 and len(errs) == 1 and "--ridge 0.001 asked, 0 stored" in errs[0]
          and "--bandwidth 10 asked, 2 stored" in errs[0] and "holds a different run" in errs[0],
          r.stderr[-500:])
    r = mpirun(with_options("--layers", "5") + ["--continue", "--output", out])
    check("--continue with other --layers: refused naming it",
          r.returncode == 2 and "--layers 5 asked, 3 stored" in r.stderr, r.stderr[-400:])
    r = mpirun(with_options("--data", "fashion-mnist") + ["--continue", "--output", out])
    check("--continue with other --data: refused naming it",
          r.returncode == 2 and "--data fashion-mnist asked, synthetic stored" in r.stderr,
          r.stderr[-400:])
    r = mpirun(RUN_L + ["--continue", "--output", out, "--resume", out])
    check("--continue with --resume: refused", r.returncode == 2 and "--resume" in r.stderr,
          r.stderr[-300:])
    r = mpirun(RUN_L + ["--continue", "--output", out, "--overwrite"])
    check("--continue with --overwrite: refused", r.returncode == 2 and "--overwrite" in r.stderr,
          r.stderr[-300:])

    # An incomplete file: stopped by SIGTERM (to the ranks) after layer 1, then --continue.
    out = p("continue-incomplete.h5")
    job = start(RUN_L + ["--output", out],
                env={"DEEPRFM_FAULT": "sleep@0:2:normalize", "DEEPRFM_FAULT_SLEEP": "3"})
    wait_line(job, "DEEPRFM_FAULT sleep")
    signal_ranks(out, signal.SIGTERM)
    err = finish(job)
    check("SIGTERM after layer 1: exit 75, 1 layer checkpointed",
          job.returncode == 75 and completed_layers(out) == 1,
          "exit %s, %s: %s" % (job.returncode, completed_layers(out), err[-400:]))
    r = mpirun(RUN_L + ["--continue", "--output", out])
    check("--continue of the incomplete file continues it",
          r.returncode == 0 and "nothing to do" not in r.stdout, r.stderr[-400:])
    identical("... to the result of the uninterrupted run", out, reference)

    # ---- 2. SIGINT is a stop signal; the handler survives MPI_Init ----
    out = p("sigint-load.h5")
    job = start(RUN_L + ["--output", out],
                env={"DEEPRFM_FAULT": "sleep@0:0:load", "DEEPRFM_FAULT_SLEEP": "3"})
    wait_line(job, "DEEPRFM_FAULT sleep")
    n = signal_ranks(out, signal.SIGINT)
    err = finish(job)
    check("SIGINT to %d ranks during loading (after MPI_Init): exit 75, 'stopped by signal 2'"
          % n, job.returncode == 75 and "stopped by signal 2" in err,
          "exit %s: %s" % (job.returncode, err[-400:]))

    # ---- 3. the deadline inside a 60 s phase ----
    out = p("deadline.h5")
    margin = 5
    deadline = time.time() + margin + 8
    job = start(RUN_L + ["--output", out, "--deadline", "%.0f" % deadline, "--stop-margin",
                       str(margin)], env={"DEEPRFM_FAULT": "sleep@0:2:agop"})
    err = finish(job)
    late = time.time() - (deadline - margin)
    msgs = lines_with("time limit: abandoning", err)
    check("deadline inside a 60 s phase: exit 75 at deadline - margin (+%.1f s)" % late,
          job.returncode == 75 and -1.5 < late < 4, "exit %s: %s" % (job.returncode, err[-500:]))
    check("... one message naming layer, phase, checkpoint and --resume",
          len(msgs) == 1 and "layer 2 (phase agop)" in msgs[0]
          and "checkpoint after layer 1" in msgs[0] and "--resume" in msgs[0], err[-500:])
    check("... the checkpoint after layer 1 is intact", completed_layers(out) == 1,
          str(completed_layers(out)))
    r = mpirun(["--resume", out, "--deadline", "none"])
    check("... it resumes", r.returncode == 0, r.stderr[-400:])
    identical("... to the result of the uninterrupted run", out, reference)

    # ---- 4. a stop signal inside the long phase, --stop-grace 2 ----
    out = p("grace.h5")
    job = start(RUN_L + ["--output", out, "--stop-grace", "2"],
                env={"DEEPRFM_FAULT": "sleep@0:2:agop"})
    wait_line(job, "DEEPRFM_FAULT sleep")
    t0 = time.time()
    signal_ranks(out, signal.SIGTERM)
    err = finish(job)
    took = time.time() - t0
    msgs = lines_with("abandoning layer 2", err)
    check("SIGTERM inside a 60 s phase with --stop-grace 2: exit 75 after %.1f s" % took,
          job.returncode == 75 and 1.5 < took < 6, "exit %s: %s" % (job.returncode, err[-500:]))
    check("... one message", len(msgs) == 1 and "pending for 2 s" in msgs[0], err[-500:])
    r = mpirun(["--resume", out])
    check("... it resumes", r.returncode == 0, r.stderr[-400:])
    identical("... to the result of the uninterrupted run", out, reference)

    # ---- 5. a second SIGINT: stop now ----
    out = p("second.h5")
    job = start(RUN_L + ["--output", out], env={"DEEPRFM_FAULT": "sleep@0:2:agop"})
    wait_line(job, "DEEPRFM_FAULT sleep")
    signal_ranks(out, signal.SIGINT)
    time.sleep(0.5)
    t0 = time.time()
    signal_ranks(out, signal.SIGINT)
    err = finish(job)
    took = time.time() - t0
    msgs = lines_with("second stop signal: abandoning layer 2", err)
    check("a second SIGINT: exit 75 at once (%.1f s)" % took,
          job.returncode == 75 and took < 4 and len(msgs) == 1,
          "exit %s: %s" % (job.returncode, err[-500:]))
    check("... the checkpoint after layer 1 is intact", completed_layers(out) == 1,
          str(completed_layers(out)))

    # ---- 6. the next layer does not fit: 75 at the between-layer point, then 76 ----
    # Layer 1 is made to last ~5 s (held in its AGOP); layer 2's prediction (layer 1's time
    # scaled to d = width, x1.5 here) then exceeds what is left.
    out = p("nofit.h5")
    deadline = time.time() + 30 + 12
    r = mpirun(RUN_L + ["--output", out, "--deadline", "%.0f" % deadline],
               env={"DEEPRFM_FAULT": "sleep@0:1:agop", "DEEPRFM_FAULT_SLEEP": "5"})
    msgs = lines_with("are left before the time limit: stopping with layer 1 checkpointed", r.stderr)
    check("a layer that does not fit after one completed: exit 75, one message",
          r.returncode == 75 and len(msgs) == 1 and "layer 2 needs about" in msgs[0],
          "exit %s: %s" % (r.returncode, r.stderr[-500:]))
    check("... at the between-layer point (layer 1 checkpointed)", completed_layers(out) == 1,
          str(completed_layers(out)))
    for label, when in [("too short", time.time() + 30 + 2), ("in the past", time.time() - 100)]:
        r = mpirun(["--resume", out, "--deadline", "%.0f" % when])
        msgs = lines_with("cannot make progress: layer 2 needs about", r.stderr)
        check("resume with a deadline %s and a stored layer time: exit 76, one message" % label,
              r.returncode == 76 and len(msgs) == 1 and "give the job a time limit of at least"
              in msgs[0], "exit %s: %s" % (r.returncode, r.stderr[-500:]))
    r = mpirun(["--resume", out, "--deadline", "%.0f" % (time.time() + 3600)])
    check("... with enough time it completes", r.returncode == 0, r.stderr[-400:])
    identical("... to the result of the uninterrupted run", out, reference)

    # ---- 7. deeprfm-mlp with a deadline ----
    if os.path.exists(MLP):
        out = p("mlp.h5")
        args = ["--data", "synthetic", "--n", "200", "--n-test", "50", "--dim", "16",
                "--classes", "3", "--hidden-layers", "2", "--hidden-width", "32",
                "--epochs", "100000", "--measure-every", "0", "--quiet", "--output", out]
        deadline = time.time() + 30 + 4
        r = mpirun(args + ["--deadline", "%.0f" % deadline], program=MLP, timeout=120)
        late = time.time() - (deadline - 30)
        # Stopped at an epoch end (the next epoch would not fit) or, on a loaded machine, by
        # the watchdog at deadline - margin: both exit 75 with one line.
        msgs = [l for l in r.stderr.splitlines() if l.startswith("deeprfm-mlp:")]
        check("deeprfm-mlp with a deadline: exit 75 (%+.1f s after deadline - margin), one "
              "message: %s" % (late, msgs[0] if msgs else "-"),
              r.returncode == 75 and late < 6 and len(msgs) == 1
              and ("checkpointed in" in msgs[0] or "time limit: abandoning epoch" in msgs[0]),
              "exit %s: %s" % (r.returncode, r.stderr[-800:]))
        with h5py.File(out, "r") as f:
            done = int(f["/checkpoint"].attrs["completed_epochs"])
        r = mpirun(["--resume", out, "--epochs", str(done + 3), "--quiet"], program=MLP,
                   timeout=120)
        check("... it resumes after epoch %d" % done, r.returncode == 0 and done > 0,
              r.stderr[-400:])


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="deeprfm-runctl-")
    try:
        main(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failures))
    sys.exit(1 if failures else 0)
