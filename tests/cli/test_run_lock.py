#!/usr/bin/env python3
"""One writer per results file (docs/checkpointing.md, "One writer per file"), on the real
executables:

- a lock held by another process (a POSIX record lock on <output>.lock, as a running deeprfm
  holds it): a fresh run, --overwrite, --continue and --resume of deeprfm, and deeprfm-mlp, are
  each refused at once with exit 2 and one message naming the holder; nothing is created and an
  existing results file is left byte for byte;
- the lock file of a run that died (its text still there, no lock held): taken over, the run
  completes, and the lock file is gone afterwards;
- two real runs on one output, the second started while the first holds the lock: the second is
  refused naming the first's pid, the first completes every layer;
- two resumes of one file started together: exactly one continues it, the other is refused, and
  the file is readable with every layer;
- the bounded wait (DEEPRFM_LOCK_WAIT): a holder that lets go within the wait (a requeued job
  or a resume meeting the previous run's exiting rank 0) is waited for and the run completes; a
  holder that does not is refused after the wait, saying how long it waited; a bad value is one
  input error naming the variable.

Every case but the wait's runs with DEEPRFM_LOCK_WAIT=0 (refuse at once).

usage: test_run_lock.py DEEPRFM MPIEXEC NPROCS [mpiexec flags...]   (needs h5py)
"""
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

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
TIMEOUT = 300
EXIT_INPUT = 2

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failed += 1
        if detail:
            print("     " + detail.replace("\n", "\n     "))
    else:
        passed += 1


def launch(program, args):
    return [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [program] + args


def run(program, args, wait=0):
    env = dict(os.environ, DEEPRFM_LOCK_WAIT=str(wait))
    return subprocess.run(launch(program, args), capture_output=True, text=True, timeout=TIMEOUT,
                          env=env)


def error_lines(p, program="deeprfm"):
    return [l for l in p.stderr.splitlines() if l.startswith(program + ": error")]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def small(out, layers=2, n=200):
    return ["--data", "synthetic", "--n", str(n), "--dim", "20", "--classes", "4", "--layers",
            str(layers), "--width", "32", "--output", out, "--quiet"]


def completed_layers(path):
    with h5py.File(path, "r") as f:
        return int(f["/checkpoint"].attrs["completed_layers"])


def refused_by_holder(p, holder, program="deeprfm"):
    errors = error_lines(p, program)
    return (p.returncode == EXIT_INPUT and len(errors) == 1 and "in use by another run" in errors[0]
            and holder in errors[0])


@contextlib.contextmanager
def held_lock(lock_path, holder):
    """Hold the POSIX record lock on lock_path, as a running deeprfm's rank 0 does, with the
    holder text `holder` in the file; released when the block ends."""
    with open(lock_path, "w") as lock:
        lock.write(holder + "\n")
        lock.flush()
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def held_lock_cases(tmp):
    out = os.path.join(tmp, "held.h5")
    lock_path = out + ".lock"
    holder = "host=elsewhere pid=4242 slurm_job=77 since=2026-01-01T00:00:00Z"
    with held_lock(lock_path, holder):
        t0 = time.time()
        p = run(DEEPRFM, small(out))
        check(refused_by_holder(p, holder) and not os.path.exists(out),
              "held lock: a fresh run is refused naming the holder, no file created (%.1f s)" %
              (time.time() - t0), p.stderr[-1500:])
        p = run(DEEPRFM, small(out) + ["--continue"])
        check(refused_by_holder(p, holder) and not os.path.exists(out),
              "held lock: --continue is refused naming the holder", p.stderr[-1500:])
        p = run(MLP, ["--data", "synthetic", "--n", "40", "--epochs", "1", "--output", out])
        check(refused_by_holder(p, holder, "deeprfm-mlp") and not os.path.exists(out),
              "held lock: deeprfm-mlp is refused naming the holder", p.stderr[-1500:])
    # An existing results file under somebody else's lock is never touched.
    p = run(DEEPRFM, small(out))
    check(p.returncode == 0 and not os.path.exists(lock_path),
          "lock released: the same run now completes and removes its lock file", p.stderr[-1500:])
    before = digest(out)
    with held_lock(lock_path, holder):
        p = run(DEEPRFM, ["--resume", out, "--layers", "4"])
        check(refused_by_holder(p, holder) and digest(out) == before,
              "held lock: --resume is refused naming the holder, the file is unchanged",
              p.stderr[-1500:])
        p = run(DEEPRFM, small(out) + ["--overwrite"])
        check(refused_by_holder(p, holder) and digest(out) == before,
              "held lock: --overwrite is refused naming the holder, the file is unchanged",
              p.stderr[-1500:])
    os.remove(lock_path)


def stale_lock_case(tmp):
    out = os.path.join(tmp, "stale.h5")
    with open(out + ".lock", "w") as lock:
        lock.write("host=vanished pid=999999 since=2026-01-01T00:00:00Z\n")
    p = run(DEEPRFM, small(out))
    check(p.returncode == 0 and completed_layers(out) == 2 and not os.path.exists(out + ".lock"),
          "stale lock file of a dead run: taken over, the run completes, the lock file is gone",
          p.stderr[-1500:])


def wait_for(path, proc, seconds=60):
    end = time.time() + seconds
    while time.time() < end and proc.poll() is None:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.05)
    return False


def concurrent_runs_case(tmp):
    out = os.path.join(tmp, "twice.h5")
    first = subprocess.Popen(launch(DEEPRFM, small(out, layers=8, n=1200)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, DEEPRFM_LOCK_WAIT="0"))
    if not wait_for(out + ".lock", first):
        first.kill()
        check(False, "concurrent runs: the first run never wrote its lock file")
        return
    with open(out + ".lock") as f:
        holder = f.read().strip()
    second = run(DEEPRFM, small(out, layers=8, n=1200) + ["--overwrite"])
    first_out, first_err = first.communicate(timeout=TIMEOUT)
    pid = holder.split("pid=")[1].split()[0] if "pid=" in holder else "?"
    check(refused_by_holder(second, "pid=" + pid),
          "concurrent runs: the second is refused naming the first (%s)" % holder,
          second.stderr[-1500:])
    check(first.returncode == 0 and completed_layers(out) == 8,
          "concurrent runs: the first completes all 8 layers", first_err[-1500:])


def concurrent_resumes_case(tmp):
    out = os.path.join(tmp, "resumed.h5")
    p = run(DEEPRFM, small(out, layers=1, n=1200))
    check(p.returncode == 0, "concurrent resumes: a 1-layer run to resume", p.stderr[-1500:])
    no_wait = dict(os.environ, DEEPRFM_LOCK_WAIT="0")
    a = subprocess.Popen(launch(DEEPRFM, ["--resume", out, "--layers", "6", "--quiet"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=no_wait)
    b = subprocess.Popen(launch(DEEPRFM, ["--resume", out, "--layers", "6", "--quiet"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=no_wait)
    ra = a.communicate(timeout=TIMEOUT)
    rb = b.communicate(timeout=TIMEOUT)
    codes = sorted([a.returncode, b.returncode])
    refused = [r for proc, r in ((a, ra), (b, rb)) if proc.returncode == EXIT_INPUT
               and any("in use by another run" in l for l in r[1].splitlines())]
    # Both start within milliseconds and a resume takes seconds, so one must meet the other's
    # lock; if the machine ran them one after the other, the second found nothing to do.
    sequential = codes == [0, 0]
    check((codes == [0, EXIT_INPUT] and len(refused) == 1) or sequential,
          "concurrent resumes: one continues, the other is refused (exits %s%s)" %
          (codes, ", ran one after the other" if sequential else ""),
          ra[1][-800:] + rb[1][-800:])
    check(completed_layers(out) == 6 and not os.path.exists(out + ".lock") and
          not os.path.exists(out + ".tmp"),
          "concurrent resumes: the file holds 6 layers, no lock or temporary file is left")


def lock_wait_cases(tmp):
    out = os.path.join(tmp, "waited.h5")
    lock_path = out + ".lock"
    holder = "host=elsewhere pid=4243 since=2026-01-01T00:00:00Z"
    # A holder that lets go after 3 s, within a 60 s wait: the run waits for it and completes.
    with held_lock(lock_path, holder):
        t0 = time.time()
        waiting = subprocess.Popen(launch(DEEPRFM, small(out)), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True,
                                   env=dict(os.environ, DEEPRFM_LOCK_WAIT="60"))
        time.sleep(3)
        still_waiting = waiting.poll() is None and not os.path.exists(out)
    _, err = waiting.communicate(timeout=TIMEOUT)  # the lock was released at the block's end
    check(still_waiting and waiting.returncode == 0 and completed_layers(out) == 2 and
          not os.path.exists(lock_path),
          "lock wait: a holder that lets go after 3 s is waited for, then the run completes "
          "(%.1f s)" % (time.time() - t0), err[-1500:])
    # A holder that does not let go: refused after the wait, which the message states.
    with held_lock(lock_path, holder):
        t0 = time.time()
        before = digest(out)
        p = run(DEEPRFM, small(out) + ["--overwrite"], wait=2)
        took = time.time() - t0
        check(refused_by_holder(p, holder) and took >= 2 and "waited 2 s" in p.stderr and
              digest(out) == before,
              "lock wait: a holder that keeps it is refused after DEEPRFM_LOCK_WAIT=2 "
              "(%.1f s), the file is unchanged" % took, p.stderr[-1500:])
    os.remove(lock_path)
    p = run(DEEPRFM, small(out) + ["--overwrite"], wait="soon")
    errors = error_lines(p)
    check(p.returncode == EXIT_INPUT and len(errors) == 1 and "DEEPRFM_LOCK_WAIT" in errors[0],
          "lock wait: DEEPRFM_LOCK_WAIT=soon is one input error naming the variable",
          p.stderr[-1500:])


def main():
    tmp = tempfile.mkdtemp(prefix="deeprfm-lock-")
    try:
        held_lock_cases(tmp)
        stale_lock_case(tmp)
        concurrent_runs_case(tmp)
        concurrent_resumes_case(tmp)
        lock_wait_cases(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
