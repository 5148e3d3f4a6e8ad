#!/usr/bin/python3
"""Test that tools/deeprfm_collect.py never mixes experiments (ctest tools_collect_experiments).

Results files are made by the real executable at tiny sizes (synthetic data, n = 200, d = 16,
4 classes, 2 layers, D = 32; well under a second each):

  mixed/   seed 1 (every layer's features saved), seed 2, and seed 1 with --ridge 1e-3
           -> --study seeds refuses with exit code 3, naming `ridge` and the three files, and
              draws nothing; --split draws each experiment into its own subfolder, whose
              files-used.txt lists exactly its files and whose figure3_nc.csv holds its numbers
  strong/  the same problem at 1 rank (block 32) and 2 ranks (grid 2x1, block 16), plus a run
           stopped by a fault in layer 2 (/checkpoint/complete = 0)
           -> --study strong: one experiment drawn into --out itself; the incomplete file is
              listed as skipped with its reason and not used; --include-incomplete uses it and
              marks it incomplete
  weak     the 1-rank file above and n = 283 at 2 ranks: --study weak is one experiment, the
           default study refuses (n differs)

Asserts on the contents of the output files, not only their existence. h5py, numpy or
matplotlib missing is a failure. Prints 'N passed, N failed'; exit 0 iff none failed.

    test_collect_experiments.py --deeprfm BUILD/deeprfm --mpiexec mpiexec
                                --tool tools/deeprfm_collect.py
                                [--mpiexec-flags="--oversubscribe;--allow-run-as-root"] [--keep]
"""
import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import matplotlib  # noqa: F401
except ImportError as e:
    # A missing test dependency fails the suite: nothing here would have been tested.
    print(f"FAILED: the Python module {e.name} is not installed for {sys.executable} "
          "(test_collect_experiments needs Debian's python3-h5py python3-numpy python3-matplotlib); "
          "run bash scripts/setup.sh --tests")
    print("0 passed, 1 failed")
    sys.exit(1)

passed = failed = 0
NAME_RE = re.compile(r"^synthetic-n200-L2-D32-laplace-[0-9a-f]{8}$")


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAILED: {name} {detail}")
    return cond


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def files_used(path):
    """{basename: (state, key options, [outputs])} from a files-used.txt."""
    rows = {}
    with open(path) as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            p, state, opts, used = line.rstrip("\n").split("\t")
            rows[os.path.basename(p)] = (state, opts, used.split())
    return rows


def nc1(path, layer, stage):
    with h5py.File(path, "r") as f:
        return float(f[f"layers/layer_{layer:02d}"].attrs[f"nc1_{stage}"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deeprfm", required=True)
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--mpiexec-flags", default="")
    ap.add_argument("--tool", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    flags = [f for f in args.mpiexec_flags.replace(";", " ").split() if f]
    tmp = tempfile.mkdtemp(prefix="deeprfm-collect-exp-")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("DEEPRFM_FAULT", None)
    common = ["--data", "synthetic", "--n-test", "40", "--dim", "16", "--classes", "4",
              "--layers", "2", "--width", "32", "--quiet"]

    def run(np_, path, *extra, fault=None, want_rc=0):
        e = dict(env)
        fl = list(flags)
        if fault:
            e["DEEPRFM_FAULT"] = fault
            fl += ["-x", "DEEPRFM_FAULT"]
        cmd = [args.mpiexec, "-n", str(np_)] + fl + [args.deeprfm] + common + list(extra) + [
            "--output", path]
        p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        check(f"deeprfm run {os.path.basename(path)} exit {want_rc}",
              (p.returncode == want_rc) if want_rc == 0 else p.returncode != 0,
              f"rc {p.returncode}: {p.stdout[-2000:]}")

    def collect(*a):
        p = subprocess.run([sys.executable, args.tool] + list(a), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        return p.returncode, p.stdout, p.stderr

    try:
        # ---- mixed: two seeds of one experiment + one run with another ridge --------------
        mixed = os.path.join(tmp, "mixed")
        os.makedirs(mixed)
        s1, s2, rd = (os.path.join(mixed, n) for n in ("seed1.h5", "seed2.h5", "ridge.h5"))
        run(1, s1, "--n", "200", "--seed", "1", "--save-features", "all")
        run(1, s2, "--n", "200", "--seed", "2")
        run(1, rd, "--n", "200", "--seed", "1", "--ridge", "1e-3", "--save-features", "all")

        out = os.path.join(tmp, "plots-refused")
        rc, so, se = collect(mixed, "--out", out, "--study", "seeds", "--gram-samples", "40")
        check("mixed folder refused with exit code 3", rc == 3, f"rc {rc}\n{so}\n{se}")
        diff_line = next((l for l in se.splitlines() if "options that differ" in l), "")
        check("refusal names the differing option ridge (and not seed)",
              "ridge" in diff_line and "seed" not in diff_line, repr(diff_line))
        for p in (s1, s2, rd):
            check(f"refusal names {os.path.basename(p)}", p in se, se)
        groups = [l for l in se.splitlines() if l.strip().startswith("experiment ")]
        check("refusal lists 2 experiments", len(groups) == 2, str(groups))
        check("one group has ridge=0.001, the other ridge=0",
              sorted(l.split(": ", 1)[1] for l in groups) == ["ridge=0", "ridge=0.001"], str(groups))
        check("refusal suggests --split", "--split" in se)
        drawn = [f for f in os.listdir(out) if f.endswith((".png", ".pdf", ".csv"))] if os.path.isdir(out) else []
        check("refused: no figure or CSV written", drawn == [], str(drawn))
        with open(os.path.join(out, "experiments.json")) as fh:
            ej = json.load(fh)
        check("experiments.json: refused, 2 experiments, differing in ridge",
              ej["result"].startswith("refused") and len(ej["experiments"]) == 2
              and ej["options_differing_between_experiments"] == ["ridge"], str(ej)[:500])

        # the default study (auto) with only the two seeds: refused, and told about --study seeds
        rc, so, se = collect(s1, s2, "--out", os.path.join(tmp, "plots-auto"))
        check("two seeds without --study: exit 3", rc == 3, f"rc {rc}\n{se}")
        check("... differing in seed, with the hint --study seeds",
              "options that differ between the experiments: seed" in se and "--study seeds" in se, se)

        # --split: one subfolder per experiment, each with its own figures and files
        out = os.path.join(tmp, "plots-split")
        rc, so, se = collect(mixed, "--out", out, "--study", "seeds", "--split", "--gram-samples", "40")
        check("--split exits 0", rc == 0, f"rc {rc}\n{so}\n{se}")
        subs = sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)))
        check("--split: two subfolders with readable, unique names",
              len(subs) == 2 and all(NAME_RE.match(d) for d in subs) and subs[0] != subs[1], str(subs))
        check("--split: no figures at the top of --out",
              not any(f.endswith((".png", ".pdf")) for f in os.listdir(out)), str(os.listdir(out)))
        by_files = {}
        for d in subs:
            fu = files_used(os.path.join(out, d, "files-used.txt"))
            by_files[tuple(sorted(fu))] = (d, fu)
        check("--split: files-used.txt lists exactly each experiment's files",
              sorted(by_files) == [("ridge.h5",), ("seed1.h5", "seed2.h5")], str(sorted(by_files)))
        if ("seed1.h5", "seed2.h5") in by_files and ("ridge.h5",) in by_files:
            d_seeds, fu = by_files[("seed1.h5", "seed2.h5")]
            d_ridge, fr = by_files[("ridge.h5",)]
            check("seeds: both complete, both in figure3_nc, Figure 2 from seed 1 only",
                  fu["seed1.h5"][0] == "complete" and fu["seed2.h5"][0] == "complete"
                  and "figure3_nc" in fu["seed1.h5"][2] and "figure3_nc" in fu["seed2.h5"][2]
                  and "figure2_gram" in fu["seed1.h5"][2] and "figure2_gram" not in fu["seed2.h5"][2],
                  str(fu))
            check("files-used key options: seed and ridge",
                  "seed=1" in fu["seed1.h5"][1] and "seed=2" in fu["seed2.h5"][1]
                  and "ridge=0 " in fu["seed1.h5"][1] + " " and "ridge=0.001" in fr["ridge.h5"][1],
                  str(fu) + str(fr))
            for d in (d_seeds, d_ridge):
                for stem in ("figure3_nc", "figure2_gram"):
                    for ext in ("png", "pdf"):
                        f = os.path.join(out, d, f"{stem}.{ext}")
                        check(f"{d}/{stem}.{ext} drawn", os.path.exists(f) and os.path.getsize(f) > 1000)
            f3 = read_csv(os.path.join(out, d_seeds, "figure3_nc.csv"))
            ok = len(f3) == 2 * 3 * 2 and all(r["seeds"] == "2" for r in f3)
            for r in f3:
                if r["metric"] == "nc1":
                    want = np.mean([nc1(s1, int(r["layer"]), r["stage"]), nc1(s2, int(r["layer"]), r["stage"])])
                    ok = ok and math.isclose(float(r["mean"]), want, rel_tol=1e-5)
            check("seeds subfolder: figure3_nc.csv = mean of seed1.h5 and seed2.h5, 2 seeds", ok)
            f3 = read_csv(os.path.join(out, d_ridge, "figure3_nc.csv"))
            ok = len(f3) == 12 and all(r["seeds"] == "1" for r in f3)
            for r in f3:
                if r["metric"] == "nc1":
                    ok = ok and math.isclose(float(r["mean"]), nc1(rd, int(r["layer"]), r["stage"]), rel_tol=1e-5)
            check("ridge subfolder: figure3_nc.csv = ridge.h5's numbers, 1 seed", ok)
            rr = read_csv(os.path.join(out, d_ridge, "runs.csv"))
            check("ridge subfolder: runs.csv has ridge.h5 only",
                  [os.path.basename(r["file"]) for r in rr] == ["ridge.h5"], str(rr))
            with open(os.path.join(out, "experiments.json")) as fh:
                ej = json.load(fh)
            names = {e["name"]: e for e in ej["experiments"]}
            check("experiments.json: drawn, both experiments with their folders and files",
                  ej["result"] == "drawn" and set(names) == {d_seeds, d_ridge}
                  and names[d_ridge]["differs"] == {"ridge": "0.001"}
                  and sorted(map(os.path.basename, names[d_seeds]["files"])) == ["seed1.h5", "seed2.h5"]
                  and names[d_seeds]["output_dir"] == os.path.join(out, d_seeds), str(ej)[:800])
            with open(os.path.join(out, "experiments.txt")) as fh:
                et = fh.read()
            check("experiments.txt names both experiments and the differing option",
                  d_seeds in et and d_ridge in et and "differing in: ridge" in et, et)
            check("stdout says which files went into which figure",
                  f"{d_seeds}: figure3_nc <- {s1}, {s2}" in so and f"{d_ridge}: figure3_nc <- {rd}" in so
                  and f"{d_seeds}: figure2_gram <- {s1}" in so, so)

        # ---- strong: only the rank count (and grid, block size) differ; one incomplete file ----
        strong = os.path.join(tmp, "strong")
        os.makedirs(strong)
        p1, p2, inc = (os.path.join(strong, n) for n in ("P1.h5", "P2.h5", "P2-stopped.h5"))
        base = ["--n", "200", "--seed", "1", "--save-features", "none"]
        run(1, p1, *base, "--block-size", "32")
        run(2, p2, *base, "--block-size", "16", "--grid", "2x1")
        run(2, inc, *base, "--block-size", "16", fault="input@0:2:agop", want_rc=2)
        with h5py.File(inc, "r") as f:
            check("the stopped run left an incomplete file with 1 layer",
                  int(f["checkpoint"].attrs["complete"]) == 0
                  and int(f["checkpoint"].attrs["completed_layers"]) == 1)
        p = subprocess.run([sys.executable, args.tool, "--status", inc], stdout=subprocess.PIPE, text=True)
        check("--status of the stopped run says incomplete", p.stdout.strip() == "incomplete", p.stdout)
        p = subprocess.run([sys.executable, args.tool, "--status", p2], stdout=subprocess.PIPE, text=True)
        check("--status of a finished run says complete", p.stdout.strip() == "complete", p.stdout)

        out = os.path.join(tmp, "plots-strong")
        rc, so, se = collect(strong, "--out", out, "--study", "strong")
        check("strong folder: exit 0", rc == 0, f"rc {rc}\n{so}\n{se}")
        check("strong folder: the incomplete file is reported as skipped with its reason",
              f"skipped {inc}: incomplete: 1 of 2 layer(s)" in so, so)
        check("strong folder: one experiment, drawn into --out itself",
              not any(os.path.isdir(os.path.join(out, d)) for d in os.listdir(out))
              and os.path.exists(os.path.join(out, "strong_scaling.png"))
              and os.path.exists(os.path.join(out, "strong_phases.png")), str(os.listdir(out)))
        st = read_csv(os.path.join(out, "strong_scaling.csv"))
        check("strong_scaling.csv: P = 1 (1x1) and 2 (2x1)",
              [(r["ranks"], r["grid"]) for r in st] == [("1", "1x1"), ("2", "2x1")], str(st))
        fu = files_used(os.path.join(out, "files-used.txt"))
        check("strong files-used.txt: P1.h5 and P2.h5, both in strong_scaling, not the stopped run",
              sorted(fu) == ["P1.h5", "P2.h5"]
              and all("strong_scaling" in v[2] and v[0] == "complete" for v in fu.values()), str(fu))
        check("strong files-used key options: ranks and grid",
              "ranks=1 grid=1x1" in fu.get("P1.h5", ("", "", []))[1]
              and "ranks=2 grid=2x1" in fu.get("P2.h5", ("", "", []))[1], str(fu))
        with open(os.path.join(out, "experiments.json")) as fh:
            ej = json.load(fh)
        check("strong experiments.json: 1 experiment, the stopped file skipped as incomplete",
              len(ej["experiments"]) == 1 and NAME_RE.match(ej["experiments"][0]["name"])
              and [s["path"] for s in ej["skipped"]] == [inc]
              and ej["skipped"][0]["reason"].startswith("incomplete"), str(ej)[:800])
        with open(os.path.join(out, "experiments.txt")) as fh:
            et = fh.read()
        check("strong experiments.txt lists the skipped file", f"{inc}: incomplete" in et, et)

        # --include-incomplete: used, and marked incomplete
        out = os.path.join(tmp, "plots-strong-inc")
        rc, so, se = collect(strong, "--out", out, "--study", "strong", "--include-incomplete")
        fu = files_used(os.path.join(out, "files-used.txt")) if rc == 0 else {}
        check("--include-incomplete: the stopped run is used and marked incomplete",
              rc == 0 and fu.get("P2-stopped.h5", ("",))[0] == "incomplete"
              and "runs.csv" in fu["P2-stopped.h5"][2], f"rc {rc} {fu}\n{se}")

        # ---- weak: n grows with P ---------------------------------------------------------
        w2 = os.path.join(tmp, "weak-P2-n283.h5")
        run(2, w2, "--n", "283", "--seed", "1", "--save-features", "none", "--block-size", "16")
        rc, so, se = collect(p1, w2, "--out", os.path.join(tmp, "plots-weak-auto"))
        check("n differs, default study: exit 3 naming n, hint --study weak",
              rc == 3 and "options that differ between the experiments: n" in se and "--study weak" in se,
              f"rc {rc}\n{se}")
        out = os.path.join(tmp, "plots-weak")
        rc, so, se = collect(p1, w2, "--out", out, "--study", "weak")
        wk = read_csv(os.path.join(out, "weak_scaling.csv")) if rc == 0 else []
        check("--study weak: one experiment, weak_scaling.csv n = 200 at P = 1, 283 at P = 2",
              [(r["ranks"], r["n"]) for r in wk] == [("1", "200"), ("2", "283")], f"rc {rc} {wk}\n{se}")
        if rc == 0:
            with open(os.path.join(out, "experiments.json")) as fh:
                name = json.load(fh)["experiments"][0]["name"]
            check("weak experiment name leaves out n", re.match(r"^synthetic-L2-D32-laplace-[0-9a-f]{8}$", name), name)
            check("weak files-used.txt lists both files",
                  sorted(files_used(os.path.join(out, "files-used.txt"))) == ["P1.h5", "weak-P2-n283.h5"])
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
