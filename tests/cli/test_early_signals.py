#!/usr/bin/env python3
"""Stop signals from the first instant (docs/checkpointing.md, "Signals"), on the real
executables: deeprfm or deeprfm-mlp is started, and SIGTERM, SIGUSR1 or SIGINT is sent to
every rank (or SIGUSR1 to mpirun, which forwards it, every fourth trial) at 16 instants spread
from 0 to 1.5 s after every rank has exec'd the program — during the dynamic loading,
MPI_Init, option parsing, the lock, the data loading, the first layer or epoch. A signal that
arrives while the dynamic loader still maps the libraries (before the program's first
instruction, its .preinit_array handler; about 5-10 ms after exec here) takes the default
action: such a trial (only allowed in the first 0.2 s) is counted apart and must leave no
file. Every other trial must:

- end with exit code 75 (never 143/130/138, the default action of a signal before the
  handler), within the timeout;
- print exactly one "stopped by signal" line (the one that says whether a checkpoint exists),
  no "error" line and no MPI_ABORT banner;
- leave nothing a restart trips on: no <output>.lock, no .tmp file; the output file either
  does not exist (stopped before it was made) or resumes;
- and every fourth trial is started again as the message says ("start again with the same
  command", or --resume FILE) and must complete with exit 0.

usage: test_early_signals.py deeprfm|deeprfm-mlp DEEPRFM MPIEXEC NPROCS [mpiexec flags...]
(stdlib only; deeprfm-mlp is found next to DEEPRFM; one program per run, so that each ctest
entry stays under a minute)
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

WHICH, DEEPRFM, MPIEXEC, NPROCS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
MPI_FLAGS = sys.argv[5:]
MLP = os.path.join(os.path.dirname(DEEPRFM), "deeprfm-mlp")
TRIALS = 16
LAST_INSTANT = 1.5
TIMEOUT = 60

# Long enough that no trial finishes before its signal; safe points come every few ms.
RFM = ["--data", "synthetic", "--n", "300", "--n-test", "60", "--dim", "12", "--classes", "3",
       "--width", "24", "--layers", "400", "--ridge", "1e-3", "--block-size", "32", "--quiet"]
MLP_RUN = ["--data", "synthetic", "--n", "200", "--n-test", "40", "--dim", "12", "--classes",
           "3", "--hidden-layers", "2", "--hidden-width", "16", "--epochs", "100000",
           "--measure-every", "0", "--eval-every", "0", "--block-size", "32", "--quiet"]
SIGNALS = [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT]


def rank_pids(root, exe):
    """PIDs of the descendants of `root` running `exe` (after their exec)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                if os.path.realpath("/proc/%d/exe" % child) == exe:
                    found.append(child)
            except OSError:
                pass
    return found


def handler_installed(pid, sig):
    """Whether `pid` catches `sig` (its SigCgt mask in /proc), i.e. deeprfm's handler is set."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    except OSError:
        pass
    return False


def trial(program, args, output, instant, sig, to_launcher):
    """Start, signal at `instant`, wait. Returns (exit code, stdout, stderr, how it was
    signalled, whether every signalled rank had its handler installed when it was sent)."""
    exe = os.path.realpath(program)
    cmd = [MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [program] + args + ["--output", output]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The instant counts from when every rank has exec'd the program (before, there is nothing
    # of it to signal): 0 = at once, inside the dynamic loader.
    while p.poll() is None and len(rank_pids(p.pid, exe)) < NPROCS:
        time.sleep(0.001)
    start = time.monotonic()
    time.sleep(instant)
    sent = "-"
    ready = True
    if to_launcher:
        # mpirun forwards SIGUSR1 to the ranks once they run; wait until they exist.
        while p.poll() is None and len(rank_pids(p.pid, exe)) < NPROCS:
            time.sleep(0.002)
        if p.poll() is None:
            os.kill(p.pid, sig)
            sent = "%s to mpirun at %.2f s" % (signal.Signals(sig).name, time.monotonic() - start)
    else:
        pids = []
        while p.poll() is None:
            pids = rank_pids(p.pid, exe)
            if len(pids) >= NPROCS:
                break
            time.sleep(0.002)
        ready = all(handler_installed(pid, sig) for pid in pids)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        sent = "%s to %d ranks at %.2f s" % (signal.Signals(sig).name, len(pids),
                                             time.monotonic() - start)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err, sent, ready
    return p.returncode, out, err, sent, ready


def leftovers(folder, output):
    """Files in `folder` other than the output and its one companion state file
    (<output>.layerNNN.state.h5 / .epochNNN.state.h5, docs/checkpointing.md): a lock file, a
    .tmp file, a second state file."""
    base = os.path.basename(output)
    names = sorted(f for f in os.listdir(folder) if f != base)
    states = [f for f in names if re.fullmatch(re.escape(base) + r"\.(layer|epoch)\d+\.state\.h5", f)]
    return [f for f in names if f not in states[:1]]


def main():
    tmp = tempfile.mkdtemp(prefix="deeprfm-early-signals-")
    failures, passed = 0, 0
    outcomes = {}
    try:
        programs = {"deeprfm": (DEEPRFM, RFM, ["--layers", "1"]),
                    "deeprfm-mlp": (MLP, MLP_RUN, ["--epochs", "2"])}
        for name in [WHICH]:
            program, args, restart_args = programs[name]
            for i in range(TRIALS):
                instant = LAST_INSTANT * i / (TRIALS - 1)
                to_launcher = i % 4 == 3
                sig = signal.SIGUSR1 if to_launcher else SIGNALS[i % 3]
                folder = os.path.join(tmp, "%s-%02d" % (name, i))
                os.makedirs(folder)
                output = os.path.join(folder, "run.h5")
                code, out, err, sent, ready = trial(program, args, output, instant, sig,
                                                    to_launcher)
                stops = [l for l in err.splitlines() if "stopped by signal" in l]
                errors = [l for l in err.splitlines() if ": error" in l]
                extra = leftovers(folder, output)
                problems = []
                if not ready and code == 128 + sig and instant < 0.2:
                    # Sent while the dynamic loader was still mapping the libraries, before the
                    # first instruction of the program (its .preinit_array handler): the
                    # default action. Counted, not a failure; nothing can have been written.
                    extra = leftovers(folder, output)
                    kind = "before the handler (default action)"
                    outcomes[(name, kind)] = outcomes.get((name, kind), 0) + 1
                    ok = not extra and not os.path.exists(output)
                    passed += ok
                    failures += not ok
                    print("%s %-12s trial %2d %-28s exit %s  %s%s" %
                          ("ok  " if ok else "FAIL", name, i, sent, code, kind,
                           "" if ok else ": left %s" % (extra or [output])))
                    continue
                if code != 75:
                    problems.append("exit %s, not 75" % code)
                if len(stops) != 1:
                    problems.append("%d 'stopped by signal' lines" % len(stops))
                if errors:
                    problems.append("error line: %s" % errors[0])
                if "MPI_ABORT" in err:
                    problems.append("MPI_ABORT banner")
                if extra:
                    problems.append("left behind: %s" % extra)
                has_file = os.path.exists(output)
                kind = ("no file" if not has_file else
                        "file without checkpoint" if stops and "before the first checkpoint" in stops[0]
                        else "checkpoint")
                if i % 4 == 0 and not problems:
                    # Start again as the message says.
                    if "--resume" in err:
                        again = ["--resume", output] + restart_args + ["--quiet"]
                        done = re.search(r"checkpoint after epoch (\d+)", out)
                        if done and "--epochs" in again:  # one more epoch than stored
                            again[again.index("--epochs") + 1] = str(int(done.group(1)) + 1)
                    else:
                        again = list(args) + ["--output", output]
                        for k in range(0, len(restart_args), 2):  # a shorter run, same -o
                            again[again.index(restart_args[k]) + 1] = restart_args[k + 1]
                    if not has_file and "--resume" in again:
                        problems.append("the message says --resume but there is no file")
                    else:
                        r = subprocess.run([MPIEXEC, "-n", str(NPROCS)] + MPI_FLAGS + [program] +
                                           again, capture_output=True, text=True, timeout=TIMEOUT)
                        if r.returncode != 0:
                            problems.append("second start (%s) exit %d: %s" %
                                            (" ".join(again), r.returncode,
                                             [l for l in r.stderr.splitlines() if "error" in l]))
                        else:
                            kind += ", restarted"
                        extra = leftovers(folder, output)
                        if extra:
                            problems.append("left behind after the restart: %s" % extra)
                outcomes[(name, kind.split(",")[0])] = outcomes.get((name, kind.split(",")[0]),
                                                                    0) + 1
                ok = not problems
                passed += ok
                failures += not ok
                print("%s %-12s trial %2d %-28s exit %s  %s | %s" %
                      ("ok  " if ok else "FAIL", name, i, sent, code, kind,
                       stops[0] if stops else "(no stop line)"))
                if not ok:
                    print("     " + "; ".join(problems))
                    print("     stderr: " + err[-1500:].replace("\n", "\n     "))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("outcomes: " + ", ".join("%s %s: %d" % (k[0], k[1], v)
                                   for k, v in sorted(outcomes.items())))
    print("%d passed, %d failed" % (passed, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
