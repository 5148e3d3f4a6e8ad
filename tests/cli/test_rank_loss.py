#!/usr/bin/env python3
"""A lost rank (docs/checkpointing.md, "A rank lost: the peer watch"), on the real executable
under mpirun:

- a healthy run whose rank 0 is held 3 x --peer-timeout in one phase (the others wait for it
  in a collective, as in a long ScaLAPACK call) is not stopped, and equals the reference;
- SIGSTOP of rank 1 (or the last rank) mid-layer: every other rank exits 75 within a few
  seconds of --peer-timeout, ONE line names the lost rank, its host and pid and the checkpoint
  that stays; the file holds the last complete checkpoint and --resume finishes it to the
  uninterrupted run's metrics and AGOPs;
- SIGSTOP of rank 0 (the line then comes from rank 1): the same;
- SIGKILL of a non-zero rank: the same, at once (the process is seen gone on this host);
- deeprfm-mlp: SIGSTOP of rank 1 ends the run the same way;
- --peer-timeout -1 is an input error.

RANK_LOSS_TRIALS=N repeats the SIGSTOP and SIGKILL cases N times (default 1).

usage: test_rank_loss.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]   (needs h5py)
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"FAILED: the Python module {e.name} is not installed for {sys.executable} "
          "(Debian: python3-h5py python3-numpy); run bash scripts/setup.sh --tests")
    print("0 passed, 1 failed")
    sys.exit(1)

DEEPRFM, MPIEXEC, NPROCS = sys.argv[1], sys.argv[2], int(sys.argv[3])
MPI_FLAGS = sys.argv[4:]
MLP = os.path.join(os.path.dirname(DEEPRFM), "deeprfm-mlp")
TRIALS = int(os.environ.get("RANK_LOSS_TRIALS", "1"))
TIMEOUT = 4  # --peer-timeout of the tests
RUN = ["--data", "synthetic", "--n", "700", "--n-test", "120", "--dim", "24", "--classes", "3",
       "--width", "48", "--seed", "7", "--block-size", "32", "--quiet", "--layers", "3"]
RUN_TOL = 600 * 700 * sys.float_info.epsilon  # as in test_run_control.py
MLP_RUN = ["--data", "synthetic", "--n", "200", "--n-test", "50", "--dim", "16", "--classes",
           "3", "--hidden-layers", "2", "--hidden-width", "32", "--epochs", "100000",
           "--measure-every", "0", "--quiet"]
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
    e.pop("SLURM_JOB_END_TIME", None)
    return e


def mpirun(args, env=None, timeout=300, program=None):
    return subprocess.run(command(args, env, program), capture_output=True, text=True,
                          timeout=timeout, env=full_env(env))


def start(args, env=None, program=None):
    return subprocess.Popen(command(args, env, program), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env(env),
                            start_new_session=True)


def wait_line(job, text, limit=120):
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


def finish(job, timeout=90):
    """The job's stderr; a job still running after `timeout` s is a hang: killed, reported."""
    try:
        _, err = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        _, err = job.communicate()
        err += "\n[HUNG: killed after %d s]" % timeout
    return err


def ranks_of(path, program="deeprfm"):
    """{MPI rank: pid} of the processes of `program` writing `path`."""
    out = subprocess.run(["pgrep", "-f", "%s .*%s" % (program, path)], capture_output=True,
                         text=True)
    ranks = {}
    for pid in out.stdout.split():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode()
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        except OSError:
            continue
        if os.path.basename(argv0) == program and b"OMPI_COMM_WORLD_RANK" in env:
            ranks[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(pid)
    return ranks


def reap(pids):
    """Leave nothing stopped behind, whatever the launcher did."""
    for pid in pids:
        for sig in (signal.SIGKILL, signal.SIGCONT):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def state(path):
    with h5py.File(path, "r") as f:
        table = f["/metrics/table"][()]
        columns = [c.decode() if isinstance(c, bytes) else c
                   for c in f["/metrics/table"].attrs["columns"]]
        agops = [f["/layers/layer_%02d/agop" % (l + 1)][()] for l in range(table.shape[0])]
        complete = int(f["/checkpoint"].attrs["complete"])
    return table, columns, agops, complete


def completed_layers(path):
    try:
        with h5py.File(path, "r") as f:
            return int(f["/checkpoint"].attrs["completed_layers"])
    except Exception as e:  # noqa: BLE001
        return "unreadable (%s)" % e


def identical(name, path, reference):
    try:
        a, b = state(path), reference
        cols = a[1]
        exact = [i for i, c in enumerate(cols) if c not in ("seconds", "residual", "rcond")]
        rel_t = np.max(np.abs(a[0][:, exact] - b[0][:, exact])
                       / np.maximum(np.abs(b[0][:, exact]), 1e-300))
        rel_g = max(np.max(np.abs(x - y)) / np.max(np.abs(y)) for x, y in zip(a[2], b[2]))
    except Exception as e:  # noqa: BLE001
        check(name, False, str(e))
        return
    check("%s (metrics %.1e, AGOPs %.1e)" % (name, rel_t, rel_g),
          rel_t < RUN_TOL and rel_g < RUN_TOL and a[3] == 1)


def lost_lines(err):
    return [l for l in err.splitlines() if ") is lost: " in l]


def rank_loss(tmp, reference, victim, sig, trial):
    """Rank 0 is held in layer 2's AGOP (the others wait in a collective); `victim` gets `sig`."""
    label = "%s of rank %d (trial %d)" % (signal.Signals(sig).name, victim, trial)
    out = os.path.join(tmp, "loss-%d-%d-%d.h5" % (victim, sig, trial))
    job = start(RUN + ["--output", out, "--peer-timeout", str(TIMEOUT)],
                env={"DEEPRFM_FAULT": "sleep@0:2:agop", "DEEPRFM_FAULT_SLEEP": "40"})
    seen = wait_line(job, "DEEPRFM_FAULT sleep")
    time.sleep(0.3)
    ranks = ranks_of(out)
    if victim not in ranks:
        check(label + ": rank found", False, "ranks %s; %s" % (ranks, seen[-300:]))
        reap(ranks.values())
        finish(job, 5)
        return
    t0 = time.time()
    os.kill(ranks[victim], sig)
    err = seen + finish(job)
    took = time.time() - t0
    reap(ranks.values())
    msgs = lost_lines(err)
    limit = 4.0 if sig == signal.SIGKILL else TIMEOUT + 4.0
    low = 0.0 if sig == signal.SIGKILL else TIMEOUT - 0.5
    # After a SIGKILL mpirun reports the killed rank's signal (137) whatever the others do.
    codes = (75, 137) if sig == signal.SIGKILL else (75,)
    check("%s mid-layer: every rank gone after %.1f s (<= %.0f), exit %s"
          % (label, took, limit, " or ".join(map(str, codes))),
          low <= took <= limit and job.returncode in codes and "HUNG" not in err,
          "exit %s after %.1f s: %s" % (job.returncode, took, err[-700:]))
    why = "its process ended" if sig == signal.SIGKILL else "no heartbeat for more than 4 s"
    ok = (len(msgs) == 1 and msgs[0].startswith("deeprfm: rank %d (host %s, pid %d) is lost: %s"
                                                 % (victim, os.uname().nodename, ranks[victim],
                                                    why))
          and "abandoning layer 2 (phase agop) in flight" in msgs[0]
          and "the checkpoint after layer 1 in %s is intact" % out in msgs[0]
          and "continue with --resume" in msgs[0])
    check("... ONE line naming rank %d, host, pid and the intact checkpoint" % victim, ok,
          "%d lines:\n%s\n--- stderr ---\n%s" % (len(msgs), "\n".join(msgs), err[-700:]))
    check("... the file holds the checkpoint after layer 1", completed_layers(out) == 1,
          str(completed_layers(out)))
    r = mpirun(["--resume", out])
    check("... --resume finishes it", r.returncode == 0, r.stderr[-400:])
    identical("... to the uninterrupted run's results", out, reference)
    for suffix in (".heartbeat", ".lock"):
        check("... no %s left after the resume" % suffix, not os.path.exists(out + suffix))


def main(tmp):
    ref = os.path.join(tmp, "reference.h5")
    r = mpirun(RUN + ["--output", ref])
    check("uninterrupted reference run", r.returncode == 0, r.stderr[-500:])
    reference = state(ref)

    # A long phase is not a lost rank: rank 0 held 3 x the timeout, the others blocked in the
    # collective after it; every thread of every rank still beats.
    out = os.path.join(tmp, "long-phase.h5")
    t0 = time.time()
    r = mpirun(RUN + ["--output", out, "--peer-timeout", str(TIMEOUT)],
               env={"DEEPRFM_FAULT": "sleep@0:2:agop", "DEEPRFM_FAULT_SLEEP": str(3 * TIMEOUT)})
    check("rank 0 held %d s (3 x --peer-timeout) in one phase: not stopped, exit 0 (%.0f s)"
          % (3 * TIMEOUT, time.time() - t0),
          r.returncode == 0 and not lost_lines(r.stderr), r.stderr[-500:])
    identical("... equal to the reference", out, reference)
    check("... the heartbeat file is removed at the end", not os.path.exists(out + ".heartbeat"))

    r = mpirun(RUN + ["--output", os.path.join(tmp, "bad.h5"), "--peer-timeout", "-1"])
    check("--peer-timeout -1: input error (exit 2)",
          r.returncode == 2 and "--peer-timeout must be" in r.stderr, r.stderr[-300:])

    for trial in range(1, TRIALS + 1):
        rank_loss(tmp, reference, 1, signal.SIGSTOP, trial)
        rank_loss(tmp, reference, 0, signal.SIGSTOP, trial)
        rank_loss(tmp, reference, NPROCS - 1, signal.SIGKILL, trial)
    if NPROCS > 2:
        rank_loss(tmp, reference, NPROCS - 1, signal.SIGSTOP, 1)

    # deeprfm-mlp has the same watch.
    out = os.path.join(tmp, "mlp.h5")
    job = start(MLP_RUN + ["--output", out, "--peer-timeout", str(TIMEOUT)], program=MLP)
    time.sleep(1.0)
    ranks = {}
    for _ in range(100):
        ranks = ranks_of(out, "deeprfm-mlp")
        if len(ranks) == NPROCS:
            break
        time.sleep(0.1)
    time.sleep(1.0)
    t0 = time.time()
    if 1 in ranks:
        os.kill(ranks[1], signal.SIGSTOP)
    err = finish(job)
    took = time.time() - t0
    reap(ranks.values())
    msgs = lost_lines(err)
    check("deeprfm-mlp: SIGSTOP of rank 1: exit 75 after %.1f s, one line naming rank 1" % took,
          1 in ranks and job.returncode == 75 and TIMEOUT - 0.5 <= took <= TIMEOUT + 4
          and len(msgs) == 1 and msgs[0].startswith("deeprfm-mlp: rank 1 (host "),
          "ranks %s, exit %s: %s" % (ranks, job.returncode, err[-600:]))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="deeprfm-rank-loss-") as tmp:
        main(tmp)
    print("%d passed, %d failed" % (passed, failures))
    sys.exit(1 if failures else 0)
