#!/usr/bin/python3
"""Collect deeprfm results files and draw the paper's figures and the scaling plots.

    deeprfm_collect.py RESULTS_DIR [RESULTS_DIR ...] --out OUT_DIR [--study auto|seeds|strong|weak|all]
                       [--split] [--include-incomplete] [--tag SUFFIX]
                       [--gram-layers 1,4,8] [--gram-samples 500]
    deeprfm_collect.py --status FILE          # prints missing / incomplete / complete (job scripts)

Reads every *.h5 written by deeprfm below the given directories or files (layout:
docs/hdf5_layout.md) and groups them by experiment: the stored configuration (/config) minus
the options that may differ inside the study, i.e. always grid, block-size, blas-threads,
pblas-block, save-features (and the rank count, not in /config), plus seed for --study seeds,
n for --study weak, seed and n for --study all (auto and strong: nothing more).

  one experiment       its figures go into OUT_DIR, as listed below
  several experiments  refused: exit code 3 and a list of the experiments (name, the options in
                       which they differ, their files) on stderr; with --split each goes into
                       OUT_DIR/<name>/, name = data-n<n>-L<layers>-D<width>-<kernel>-<8 hex digits
                       of the experiment's key> (n left out when the study varies it)

Incomplete files (/checkpoint/complete = 0: stopped or failed, to be resumed) are skipped and
listed with the reason; --include-incomplete uses them (marked "incomplete"). Unreadable and
non-deeprfm .h5 files are skipped with the reason; *.state.h5 (checkpoint state) are ignored and
counted. Always written, besides the figures:

  files-used.txt                 next to the plots: one line per results file used, tab-separated:
                                 path, state (complete/incomplete), key options (ranks, grid, n,
                                 seed, layers done/planned, save-features, block-size, data,
                                 width, kernel, bandwidth, ridge), the outputs it went into
  experiments.txt, .json         in OUT_DIR: every file found (used per experiment, or skipped
                                 with the reason), the experiments, their key and output folder
                                 (also written when refusing)

and on stdout, per output, the files it was drawn from ("<experiment>: figure3_nc <- a.h5, b.h5").
Exit codes: 0 drawn; 1 no usable file, or the requested study cannot be drawn; 2 usage;
3 several experiments without --split.

Per experiment, each figure as PNG and PDF plus a CSV of every number it plots:

  runs.csv                       one row per run: size, grid, total seconds/flops/bytes, per phase
  figure3_nc.{png,pdf,csv}       NC1 and NC2 (ETF) per layer at X, X S, ReLU(X S W^T): mean over
                                 seeds, band = min..max over seeds (paper's Figure 3)
  figure2_gram.{png,pdf}         Gram matrices of centred, row-normalised saved features at chosen
  figure2_gram_layerNN.csv       layers, class-balanced subsample (paper's Figure 2), from a run of
                                 Figure 3's runs (same problem, any seed or rank count)
  strong_scaling.{png,pdf,csv}   speed-up and efficiency against the smallest rank count
  weak_scaling.{png,pdf,csv}     time-based and rate-based weak-scaling efficiency
  <study>_phases.{png,pdf,csv}   seconds per phase (summed over layers) as stacked bars

deeprfm-mlp results files (root attribute program = "deeprfm-mlp", docs/mlp.md) in the same
directories give, per run (suffix _<file stem> when there are several), always in OUT_DIR
itself (each MLP run is drawn on its own; they take no part in the experiment grouping):

  mlp_runs.csv                   one row per MLP run: data, n, network, epochs done, final metrics
  mlp_figure1.{png,pdf,csv}      NC1 (trace ratio, top; pinv, bottom) per hidden layer at the three
                                 stages H_l, Sigma V^T H_l, ReLU(U Sigma V^T H_l) at the final
                                 measurement, and the factor each stage changes it by (paper's
                                 Figure 1)
  mlp_figure1_epochs.{png,pdf,csv}  the same NC1 per layer and stage over the measurements
  mlp_nfa.{png,pdf,csv}          NFA correlations corr(W^T W, AGOP) and corr(W^T W, AGOP^1/2) per
                                 layer over training, with the train/test accuracy

--tag SUFFIX is appended to every figure's file name (e.g. _fashion_mnist).

Studies (inside one experiment): 'seeds' draws Figure 3 over the seeds and Figure 2; 'strong' the
same problem at different rank counts; 'weak' runs whose n grows with the rank count; 'all'
every one of them; 'auto' (default) Figures 3 and 2 and, with >= 2 rank counts, strong scaling.

Needs Debian's python3-h5py, python3-numpy, python3-matplotlib: run it with /usr/bin/python3.
"""
import argparse
import csv
import hashlib
import json
import math
import os
import re
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    sys.exit(f"deeprfm_collect: {e}; install python3-h5py python3-numpy (Debian) and run /usr/bin/python3")

STAGES = [("input", "X"), ("projected", "X S"), ("mapped", "ReLU(X S W^T)")]
# Options that do not change the computed numbers (only where/how a run happened).
NON_RESULT_OPTIONS = {"output", "overwrite", "quiet", "config", "grid", "blas-threads",
                      "pblas-block", "save-features", "block-size", "resume", "checkpoint",
                      "checkpoint-every"}
# The options that may differ between the files of one experiment (docs/scaling.md,
# "Collecting results"): the technical ones always (how the run was laid out, not what it
# computed; the rank count is not in /config at all), plus, per --study, the option the study
# varies. Everything else in /config defines the experiment.
TECHNICAL_OPTIONS = ("grid", "block-size", "blas-threads", "pblas-block", "save-features")
STUDY_VARIES = {"auto": (), "strong": (), "seeds": ("seed",), "weak": ("n",), "all": ("seed", "n")}
# Exit code when the folder holds several experiments and --split was not given.
EX_SEVERAL_EXPERIMENTS = 3
PHASE_COLORS = {"normalize": "#bbbbbb", "metrics": "#8c564b", "kernel": "#1f77b4",
                "factorization": "#d62728", "solve": "#ff9896", "residual": "#ffbb78",
                "agop": "#2ca02c", "test": "#9467bd", "sqrt": "#e377c2", "feature_map": "#17becf",
                "io": "#7f7f7f"}


def _s(v):
    """h5py attribute -> python str/number."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def results_status(path):
    """'missing', 'incomplete' (stopped or failed part-way: resume it) or 'complete'.

    Files with a /checkpoint group (docs/checkpointing.md) are complete when its attribute
    `complete` is 1; older files when /metrics/table exists (it was written at the end)."""
    if not os.path.exists(path):
        return "missing"
    try:
        with h5py.File(path, "r") as f:
            if "checkpoint" in f:
                return "complete" if int(_s(f["checkpoint"].attrs.get("complete", 0))) == 1 else "incomplete"
            return "complete" if "metrics" in f and "table" in f["metrics"] else "incomplete"
    except (OSError, KeyError, ValueError):
        return "incomplete"


class Run:
    """One results file, read eagerly except for features."""

    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            a = {k: _s(v) for k, v in f.attrs.items()}
            self.ranks = int(a.get("ranks", 1))
            self.grid = str(a.get("grid", "?"))
            self.block = int(a.get("block_size", 0))
            self.blas_kernels = str(a.get("blas_kernels", "?"))
            self.config = {k: str(_s(v)) for k, v in f["config"].attrs.items()} if "config" in f else {}
            d = f["data"].attrs if "data" in f else {}
            self.n = int(_s(d.get("n_train", 0)))
            self.n_test = int(_s(d.get("n_test", 0)))
            self.dim = int(_s(d.get("dim", 0)))
            self.classes = int(_s(d.get("classes", 0)))
            self.train_labels = np.asarray(f["data/train_labels"][()]) if "data/train_labels" in f else None
            self.complete = (int(_s(f["checkpoint"].attrs.get("complete", 0))) == 1
                             if "checkpoint" in f else "metrics" in f)
            self.layers_planned = (int(_s(f["checkpoint"].attrs.get("layers_planned", 0)))
                                   if "checkpoint" in f else 0) or self.config.get("layers", "?")
            self.layers = []  # dicts, sorted by layer number
            for name, g in (f["layers"].items() if "layers" in f else []):
                la = {k: _s(v) for k, v in g.attrs.items()}
                rec = {"layer": int(la.get("layer", int(name.split("_")[-1]))), "group": name,
                       "dim_in": int(la.get("dim_in", 0)), "attrs": la,
                       "has_features": "features" in g, "phases": {}}
                if "timings" in g:
                    t = g["timings"]
                    phases = [str(_s(p)) for p in t.attrs["phases"]]
                    columns = [str(_s(c)) for c in t.attrs["columns"]]
                    values = np.asarray(t[()], dtype=float).reshape(len(phases), len(columns))
                    for i, p in enumerate(phases):
                        rec["phases"][p] = {c: float(values[i, j]) for j, c in enumerate(columns)}
                self.layers.append(rec)
            self.layers.sort(key=lambda r: r["layer"])
        self.seed = self.config.get("seed", "1")
        self.width = int(self.config.get("width", "0") or 0)

    # -- derived quantities --
    def phase_names(self):
        names = []
        for l in self.layers:
            for p in l["phases"]:
                if p not in names:
                    names.append(p)
        return names

    def phase_total(self, phase, column="seconds"):
        return sum(l["phases"].get(phase, {}).get(column, 0.0) for l in self.layers)

    def total(self, column="seconds"):
        return sum(self.phase_total(p, column) for p in self.phase_names())

    def metric(self, name):
        return np.array([float(l["attrs"].get(name, np.nan)) for l in self.layers])

    def problem_key(self, ignore=()):
        """The options that define the computed numbers, minus `ignore`."""
        skip = NON_RESULT_OPTIONS | set(ignore)
        return tuple(sorted((k, v) for k, v in self.config.items() if k not in skip))

    def label(self):
        return f"P={self.ranks} ({self.grid}), n={self.n}"


def find_runs(dirs):
    runs, skipped = [], []
    for d in dirs:
        # *.state.h5: the checkpoint's companion files (docs/checkpointing.md), not results
        paths = [d] if os.path.isfile(d) else [
            os.path.join(root, f) for root, _, files in os.walk(d) for f in files
            if f.endswith(".h5") and not f.endswith(".state.h5")]
        for p in sorted(paths):
            if program_of(p) == "deeprfm-mlp":
                continue  # collected by find_mlp_runs
            try:
                r = Run(p)
            except Exception as e:  # not a deeprfm file, or unreadable
                skipped.append((p, str(e)))
                continue
            if not r.layers:
                skipped.append((p, "no layers"))
                continue
            runs.append(r)
    for p, why in skipped:
        print(f"deeprfm_collect: skipped {p}: {why}", file=sys.stderr)
    return runs


# ---------------------------------------------------------------------------------------------
# Experiments: which files belong together
def results_paths(dirs):
    """(results files, checkpoint state files) below the given directories (or files), sorted."""
    found, states = [], []
    for d in dirs:
        paths = [d] if os.path.isfile(d) else [
            os.path.join(root, f) for root, _, files in os.walk(d) for f in files if f.endswith(".h5")]
        for p in sorted(paths):
            # *.state.h5: the checkpoint's companion files (docs/checkpointing.md), not results
            (states if p.endswith(".state.h5") else found).append(p)
    return found, states


def scan(dirs, include_incomplete=False):
    """Every results file below `dirs`, accounted for: (deeprfm runs, deeprfm-mlp runs,
    skipped [(path, reason)], state files). Incomplete files (/checkpoint/complete = 0) are
    skipped unless include_incomplete."""
    runs, mlp_runs, skipped = [], [], []
    paths, states = results_paths(dirs)
    for p in paths:
        program = program_of(p)
        try:
            r = MlpRun(p) if program == "deeprfm-mlp" else Run(p)
        except Exception as e:  # not a deeprfm file, or unreadable
            skipped.append((p, f"not readable as a {program or 'deeprfm'} results file: {e}"))
            continue
        if program == "deeprfm-mlp":
            if not r.complete and not include_incomplete:
                skipped.append((p, f"incomplete (deeprfm-mlp: {r.epochs_done} epoch(s) committed; "
                                   "finish it with --resume, or pass --include-incomplete)"))
                continue
            mlp_runs.append(r)
            continue
        if not r.layers:
            skipped.append((p, "incomplete: no layer committed yet" if not r.complete else "no layers"))
            continue
        if not r.complete and not include_incomplete:
            skipped.append((p, f"incomplete: {len(r.layers)} of {r.layers_planned} layer(s) "
                               f"(/checkpoint/complete = 0; finish it with deeprfm --resume {p}, "
                               "or pass --include-incomplete)"))
            continue
        runs.append(r)
    return runs, mlp_runs, skipped, states


def ignored_options(study):
    return set(TECHNICAL_OPTIONS) | set(STUDY_VARIES[study]) | NON_RESULT_OPTIONS


def experiment_key(run, study):
    """The stored configuration minus the options allowed to differ inside the study."""
    skip = ignored_options(study)
    return tuple(sorted((k, v) for k, v in run.config.items() if k not in skip))


def _name_part(text):
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(text)).strip("-") or "x"


def experiment_name(key, runs, study):
    """Readable and unique: data-n-layers-width-kernel and a digest of the whole key, e.g.
    fashion-mnist-n2000-L8-D512-laplace-3f2a9c1e (n left out when the study varies it)."""
    c, r0 = dict(key), runs[0]
    parts = [_name_part(c.get("data", "unknown"))]
    if "n" not in STUDY_VARIES[study]:
        parts.append(f"n{r0.n if r0.n else c.get('n', '?')}")
    parts += [f"L{_name_part(c.get('layers', '?'))}", f"D{_name_part(c.get('width', '?'))}",
              _name_part(c.get("kernel", "?"))]
    digest = hashlib.sha1(json.dumps(list(key)).encode()).hexdigest()[:8]
    return "-".join(parts + [digest])


class Experiment:
    def __init__(self, key, runs, study):
        self.key, self.runs, self.study = key, runs, study
        self.name = experiment_name(key, runs, study)
        self.out = None
        self.used = {r.path: [] for r in runs}   # path -> outputs it went into

    def use(self, outputs, runs):
        """Record (and print) that `runs` went into `outputs` (names separated by spaces)."""
        for r in runs:
            for output in outputs.split():
                if output not in self.used[r.path]:
                    self.used[r.path].append(output)
        output = outputs
        print(f"deeprfm_collect: {self.name}: {output} <- "
              + ", ".join(r.path for r in runs))


def group_experiments(runs, study):
    groups = {}
    for r in runs:
        groups.setdefault(experiment_key(r, study), []).append(r)
    exps = [Experiment(k, rs, study) for k, rs in groups.items()]
    exps.sort(key=lambda e: e.name)
    return exps


def differing_options(exps):
    """{option: [value per experiment]} for the options whose values are not all equal."""
    keys = [dict(e.key) for e in exps]
    names = sorted(set().union(*keys)) if keys else []
    out = {}
    for k in names:
        vals = [kk.get(k, "<absent>") for kk in keys]
        if len(set(vals)) > 1:
            out[k] = vals
    return out


def run_key_options(r):
    """The options that tell one file of an experiment from another (files-used.txt)."""
    c = r.config
    opts = [("ranks", r.ranks), ("grid", r.grid), ("n", r.n), ("seed", c.get("seed", "?")),
            ("layers", f"{len(r.layers)}/{c.get('layers', '?')}"),
            ("save-features", c.get("save-features", "?")), ("block-size", r.block)]
    for k in ("data", "width", "kernel", "bandwidth", "ridge"):
        opts.append((k, c.get(k, "?")))
    return " ".join(f"{k}={v}" for k, v in opts)


def state_of(r):
    return "complete" if r.complete else "incomplete"


def write_files_used(path, header_lines, rows):
    """rows: (path, state, key options, outputs)."""
    with open(path, "w") as fh:
        for h in header_lines:
            fh.write(f"# {h}\n")
        fh.write("# path\tstate\tkey options\tused for\n")
        for p, state, opts, outputs in rows:
            fh.write(f"{p}\t{state}\t{opts}\t{' '.join(outputs) or '-'}\n")


def study_hint(diff):
    """A --study that would make these groups one experiment, if any."""
    names = set(diff)
    for study in ("seeds", "weak", "all"):
        if names <= set(STUDY_VARIES[study]):
            return study
    return None


def experiments_report(exps, skipped, states, mlp_runs, study, result, out):
    """experiments.json and experiments.txt in `out`: every file found, where it went."""
    diff = differing_options(exps)
    data = {
        "result": result, "study": study,
        "options_allowed_to_differ": sorted(set(TECHNICAL_OPTIONS) | set(STUDY_VARIES[study])) + ["ranks"],
        "options_differing_between_experiments": sorted(diff),
        "experiments": [{
            "name": e.name, "output_dir": e.out, "files": [r.path for r in e.runs],
            "differs": {k: v[i] for k, v in diff.items()},
            "key": dict(e.key),
            "used": {p: o for p, o in e.used.items()},
        } for i, e in enumerate(exps)],
        "mlp_runs": [{"path": r.path, "state": "complete" if r.complete else "incomplete"}
                     for r in mlp_runs],
        "skipped": [{"path": p, "reason": why} for p, why in skipped],
        "state_files_ignored": states,
    }
    with open(os.path.join(out, "experiments.json"), "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    lines = [f"deeprfm_collect: {result}; --study {study}; options allowed to differ inside an "
             f"experiment: {', '.join(data['options_allowed_to_differ'])}",
             f"{len(exps)} experiment(s)"
             + (f", differing in: {', '.join(sorted(diff))}" if diff else "")]
    for i, e in enumerate(exps):
        lines.append("")
        lines.append(f"experiment {e.name}" + (f"  ({', '.join(f'{k}={v[i]}' for k, v in diff.items())})"
                                               if diff else ""))
        if e.out:
            lines.append(f"  plots in {e.out}")
        for r in e.runs:
            lines.append(f"  {r.path}  {state_of(r)}  {' '.join(e.used[r.path]) or '-'}")
    if mlp_runs:
        lines.append("")
        lines.append("deeprfm-mlp runs (figures per run, in --out)")
        for r in mlp_runs:
            lines.append(f"  {r.path}  {'complete' if r.complete else 'incomplete'}")
    lines.append("")
    lines.append(f"skipped: {len(skipped)}")
    for p, why in skipped:
        lines.append(f"  {p}: {why}")
    lines.append(f"checkpoint state files (*.state.h5, not results files) ignored: {len(states)}")
    with open(os.path.join(out, "experiments.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return data


def refusal_message(exps, study, dirs):
    diff = differing_options(exps)
    allowed = sorted(set(TECHNICAL_OPTIONS) | set(STUDY_VARIES[study])) + ["ranks"]
    lines = [f"deeprfm_collect: {' '.join(dirs)} holds {len(exps)} experiments (with --study {study} "
             f"the files of one experiment may differ only in {', '.join(allowed)}); refusing to "
             "draw figures that would mix them.",
             f"  options that differ between the experiments: {', '.join(sorted(diff)) or '(none)'}"]
    for i, e in enumerate(exps):
        lines.append(f"  experiment {e.name}: "
                     + (", ".join(f"{k}={v[i]}" for k, v in diff.items()) or "-"))
        for r in e.runs:
            lines.append(f"    {r.path}")
    hint = study_hint(diff)
    lines.append("Pass --split to draw one set of figures per experiment into OUT/<experiment>/, "
                 "or collect one experiment's files only"
                 + (f" (if these runs are one study, --study {hint})" if hint else "") + ".")
    return "\n".join(lines)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in r])


def save(fig, out, stem):
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(out, f"{stem}.{ext}"), dpi=150, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# runs.csv
def write_runs_csv(runs, out):
    phases = []
    for r in runs:
        for p in r.phase_names():
            if p not in phases:
                phases.append(p)
    header = ["file", "complete", "ranks", "grid", "block", "blas_kernels", "data", "n", "n_test",
              "dim", "width", "classes", "layers_done", "seed", "seconds", "gflops", "mbytes"]
    header += [f"{p}_seconds" for p in phases] + [f"{p}_mbytes" for p in phases]
    rows = []
    for r in runs:
        row = [r.path, int(r.complete), r.ranks, r.grid, r.block, r.blas_kernels,
               r.config.get("data", "?"), r.n, r.n_test, r.dim, r.width, r.classes, len(r.layers),
               r.seed, r.total("seconds"), r.total("flops") * 1e-9, r.total("bytes") * 1e-6]
        row += [r.phase_total(p) for p in phases] + [r.phase_total(p, "bytes") * 1e-6 for p in phases]
        rows.append(row)
    write_csv(os.path.join(out, "runs.csv"), header, rows)


# ---------------------------------------------------------------------------------------------
# Figure 3: NC per layer, mean and spread over seeds
def seed_groups(runs):
    groups = {}
    for r in runs:
        groups.setdefault(r.problem_key(ignore=("seed",)), []).append(r)
    # one run per seed (the one with most layers, then most ranks) in each group
    out = []
    for key, rs in groups.items():
        by_seed = {}
        for r in sorted(rs, key=lambda r: (len(r.layers), r.ranks)):
            by_seed[r.seed] = r
        out.append(sorted(by_seed.values(), key=lambda r: r.seed))
    out.sort(key=lambda g: (-len(g), -len(g[0].layers)))
    return out


def figure3(runs, out, tag=""):
    import matplotlib.pyplot as plt
    group = seed_groups(runs)[0]
    layers = min(len(r.layers) for r in group)
    x = np.arange(1, layers + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    rows = []
    colors = {"input": "#1f77b4", "projected": "#d62728", "mapped": "#2ca02c"}
    for ax, (metric, title) in zip(axes, [("nc1", "NC1 = tr(Σ_W) / tr(Σ_B)"),
                                          ("nc2_etf", "NC2 = ||M Mᵀ − E_ETF||_F")]):
        for stage, stage_label in STAGES:
            vals = np.array([r.metric(f"{metric}_{stage}")[:layers] for r in group])
            mean, lo, hi = vals.mean(axis=0), vals.min(axis=0), vals.max(axis=0)
            std = vals.std(axis=0, ddof=1) if len(group) > 1 else np.zeros(layers)
            ax.plot(x, mean, marker="o", ms=3, color=colors[stage], label=stage_label)
            if len(group) > 1:
                ax.fill_between(x, lo, hi, color=colors[stage], alpha=0.25, lw=0)
            for i in range(layers):
                rows.append([metric, stage, int(x[i]), float(mean[i]), float(std[i]), float(lo[i]),
                             float(hi[i]), len(group)] + [float(v) for v in vals[:, i]])
        ax.set_yscale("log")
        # label the minor ticks too when the data span less than two decades
        from matplotlib.ticker import LogFormatterSciNotation
        ax.yaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False,
                                                             minor_thresholds=(2, 0.5)))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xlabel("layer")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    r0 = group[0]
    fig.suptitle(f"Deep RFM, {r0.config.get('data', '?')}, n = {r0.n}, D = {r0.width}, "
                 f"{r0.config.get('kernel', '?')} kernel: mean over {len(group)} seed(s)"
                 + (" (band: min–max)" if len(group) > 1 else ""), fontsize=10)
    fig.tight_layout()
    save(fig, out, f"figure3_nc{tag}")
    write_csv(os.path.join(out, f"figure3_nc{tag}.csv"),
              ["metric", "stage", "layer", "mean", "std", "min", "max", "seeds"]
              + [f"seed_{r.seed}" for r in group], rows)
    return group


# ---------------------------------------------------------------------------------------------
# Figure 2: Gram matrices of centred, normalised features
def balanced_subsample(labels, limit):
    labels = np.asarray(labels)
    classes = np.unique(labels)
    per = max(1, limit // max(len(classes), 1))
    idx = []
    for c in classes:
        rows = np.flatnonzero(labels == c)
        step = max(1, int(math.ceil(len(rows) / per)))
        idx.extend(rows[::step][:per].tolist())
    return np.array(sorted(idx, key=lambda i: (labels[i], i)))


def figure2(runs, out, layers_spec="auto", samples=500, tag=""):
    import matplotlib.pyplot as plt
    candidates = [r for r in runs if any(l["has_features"] for l in r.layers)]
    if not candidates:
        print("deeprfm_collect: no run with saved features (--save-features all/last): no Figure 2",
              file=sys.stderr)
        return None
    run = max(candidates, key=lambda r: (sum(l["has_features"] for l in r.layers), -int(r.seed or 0)))
    have = [l["layer"] for l in run.layers if l["has_features"]]
    if layers_spec == "auto":
        k = min(4, len(have))
        chosen = [have[int(round(i * (len(have) - 1) / max(k - 1, 1)))] for i in range(k)]
        chosen = sorted(set(chosen))
    else:
        chosen = [int(v) for v in layers_spec.split(",") if int(v) in have]
    idx = balanced_subsample(run.train_labels, samples)
    labels = run.train_labels[idx]
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.3 * len(chosen) + 0.8, 3.4), squeeze=False)
    summary = []
    with h5py.File(run.path, "r") as f:
        for ax, layer in zip(axes[0], chosen):
            group = next(l["group"] for l in run.layers if l["layer"] == layer)
            ds = f[f"layers/{group}/features"]
            h = np.asarray(ds[np.sort(idx), :], dtype=float)  # h5py wants increasing indices
            order = np.argsort(np.argsort(idx))  # back to class order (idx is class-sorted)
            h = h[order]
            h = h - h.mean(axis=0, keepdims=True)
            norms = np.linalg.norm(h, axis=1, keepdims=True)
            h = h / np.where(norms > 0, norms, 1.0)
            gram = h @ h.T
            im = ax.imshow(gram, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
            bounds = np.flatnonzero(np.diff(labels)) + 0.5
            for b in bounds:
                ax.axhline(b, color="k", lw=0.3)
                ax.axvline(b, color="k", lw=0.3)
            ax.set_title(f"after layer {layer}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            same = labels[:, None] == labels[None, :]
            off = ~np.eye(len(labels), dtype=bool)
            summary.append([layer, float(gram[same & off].mean()), float(gram[~same].mean()), len(labels)])
            np.savetxt(os.path.join(out, f"figure2_gram_layer{layer:02d}{tag}.csv"), gram,
                       delimiter=",", fmt="%.5f",
                       header="Gram matrix of centred, normalised features; rows/cols = "
                              f"training rows {','.join(map(str, idx.tolist()))}")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="cosine")
    fig.suptitle(f"Gram matrix of centred, normalised features ({run.config.get('data', '?')}, "
                 f"{len(labels)} of n = {run.n} samples, sorted by class; seed {run.seed})",
                 fontsize=10)
    save(fig, out, f"figure2_gram{tag}")
    write_csv(os.path.join(out, f"figure2_gram_summary{tag}.csv"),
              ["layer", "mean_within_class_cosine", "mean_between_class_cosine", "samples"], summary)
    return run


# ---------------------------------------------------------------------------------------------
# Scaling
def best_per_ranks(runs):
    """The fastest complete run per rank count (repeats -> best of)."""
    best = {}
    for r in runs:
        if r.ranks not in best or r.total() < best[r.ranks].total():
            best[r.ranks] = r
    return [best[p] for p in sorted(best)]


def strong_groups(runs):
    groups = {}
    for r in runs:
        groups.setdefault((r.problem_key(), len(r.layers)), []).append(r)
    return [best_per_ranks(g) for g in groups.values() if len({r.ranks for r in g}) > 1]


def weak_groups(runs):
    """Series of runs of one problem (options other than n, n-test, seed equal) whose n^2 / P
    agree within 10%, at >= 2 rank counts with >= 2 sizes; the fastest run per rank count."""
    groups = {}
    for r in runs:
        groups.setdefault((r.problem_key(ignore=("n", "n-test", "seed")), len(r.layers)), []).append(r)
    out = []
    for g in groups.values():
        # bucket by n^2/P: a run joins the first bucket whose reference is within 10%
        buckets = []
        for r in sorted(g, key=lambda r: r.ranks):
            ratio = r.n ** 2 / r.ranks
            for b in buckets:
                if abs(ratio / b[0] - 1) < 0.1:
                    b[1].append(r)
                    break
            else:
                buckets.append((ratio, [r]))
        for _, members in buckets:
            rs = best_per_ranks(members)
            if len(rs) >= 2 and len({r.n for r in rs}) >= 2:
                out.append(rs)
    return out


def phase_bars(rs, out, stem, xlabels, title):
    import matplotlib.pyplot as plt
    phases = []
    for r in rs:
        for p in r.phase_names():
            if p not in phases:
                phases.append(p)
    fig, ax = plt.subplots(figsize=(1.3 * len(rs) + 3.5, 3.8))
    bottom = np.zeros(len(rs))
    rows = []
    for p in phases:
        vals = np.array([r.phase_total(p) for r in rs])
        ax.bar(range(len(rs)), vals, bottom=bottom, label=p, color=PHASE_COLORS.get(p))
        bottom += vals
    for i, r in enumerate(rs):
        rows.append([r.ranks, r.grid, r.n] + [r.phase_total(p) for p in phases]
                    + [r.phase_total(p, "bytes") * 1e-6 for p in phases] + [r.total()])
    ax.set_xticks(range(len(rs)))
    ax.set_xticklabels(xlabels)
    ax.set_ylabel("seconds (sum over layers, max over ranks)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    save(fig, out, stem)
    write_csv(os.path.join(out, f"{stem}.csv"),
              ["ranks", "grid", "n"] + [f"{p}_seconds" for p in phases]
              + [f"{p}_mbytes" for p in phases] + ["total_seconds"], rows)


def strong_scaling(rs, out, tag=""):
    import matplotlib.pyplot as plt
    p0, t0 = rs[0].ranks, rs[0].total()
    ps = np.array([r.ranks for r in rs], dtype=float)
    t = np.array([r.total() for r in rs])
    speedup = t0 / t
    eff = speedup * p0 / ps
    phases = [p for p in rs[0].phase_names()]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    axes[0].plot(ps, speedup, "o-", label="total")
    for p in phases:
        tp = np.array([r.phase_total(p) for r in rs])
        if tp[0] > 0.05 * t0:  # phases worth a line
            axes[0].plot(ps, tp[0] / np.maximum(tp, 1e-12), ".--", lw=0.8, label=p,
                         color=PHASE_COLORS.get(p))
    axes[0].plot(ps, ps / p0, "k:", label="ideal")
    axes[0].set_xscale("log", base=2)
    axes[0].set_yscale("log", base=2)
    axes[0].set_xlabel("MPI ranks P")
    axes[0].set_ylabel(f"speed-up T({p0}) / T(P)")
    axes[0].legend(fontsize=7)
    axes[1].plot(ps, eff, "o-")
    axes[1].axhline(1.0, color="k", ls=":")
    axes[1].set_xscale("log", base=2)
    axes[1].set_ylim(0, 1.15)
    axes[1].set_xlabel("MPI ranks P")
    axes[1].set_ylabel("parallel efficiency")
    for ax in axes:
        ax.set_xticks(ps)
        ax.set_xticklabels([f"{int(p)}\n{r.grid}" for p, r in zip(ps, rs)])
        ax.grid(True, alpha=0.3)
    r0 = rs[0]
    fig.suptitle(f"Strong scaling: {r0.config.get('data', '?')}, n = {r0.n}, d = {r0.dim}, "
                 f"D = {r0.width}, {len(r0.layers)} layer(s), block {r0.block}", fontsize=10)
    fig.tight_layout()
    save(fig, out, f"strong_scaling{tag}")
    rows = [[r.ranks, r.grid, r.n, r.total(), s, e, r.total("flops") / r.total() * 1e-9,
             r.total("bytes") * 1e-6] for r, s, e in zip(rs, speedup, eff)]
    write_csv(os.path.join(out, f"strong_scaling{tag}.csv"),
              ["ranks", "grid", "n", "seconds", "speedup", "efficiency", "gflops_per_s", "mbytes"], rows)
    phase_bars(rs, out, f"strong_phases{tag}", [f"P={r.ranks}\n{r.grid}" for r in rs],
               f"Strong scaling, n = {r0.n}: time per phase")
    return rows


def weak_scaling(rs, out, tag=""):
    import matplotlib.pyplot as plt
    p0, t0 = rs[0].ranks, rs[0].total()
    f0 = rs[0].total("flops")
    ps = np.array([r.ranks for r in rs], dtype=float)
    t = np.array([r.total() for r in rs])
    fl = np.array([r.total("flops") for r in rs])
    eff_time = t0 / t
    # Rate per rank relative to P0: accounts for the work per rank of the O(n^3) factorisation
    # growing like sqrt(P) when n^2/P is fixed (the O(n^2 d) phases keep theirs constant).
    eff_rate = (fl / t / ps) / (f0 / t0 / p0)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    axes[0].plot(ps, t, "o-")
    axes[0].set_ylabel("seconds")
    axes[0].set_title("time (n²/P constant)", fontsize=10)
    axes[1].plot(ps, eff_time, "o-", label="T(P0) / T(P)")
    axes[1].plot(ps, eff_rate, "s-", label="flop rate per rank / rate at P0")
    axes[1].axhline(1.0, color="k", ls=":")
    axes[1].set_ylim(0, 1.3)
    axes[1].set_ylabel("weak-scaling efficiency")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ps)
        ax.set_xticklabels([f"{int(p)}\nn={r.n}" for p, r in zip(ps, rs)])
        ax.set_xlabel("MPI ranks P")
        ax.grid(True, alpha=0.3)
    r0 = rs[0]
    fig.suptitle(f"Weak scaling: {r0.config.get('data', '?')}, n²/P = {r0.n ** 2 / r0.ranks:.3g}, "
                 f"d = {r0.dim}, D = {r0.width}, {len(r0.layers)} layer(s)", fontsize=10)
    fig.tight_layout()
    save(fig, out, f"weak_scaling{tag}")
    rows = [[r.ranks, r.grid, r.n, r.n ** 2 / r.ranks, r.total(), r.total("flops") * 1e-9, a, b,
             r.total("bytes") * 1e-6] for r, a, b in zip(rs, eff_time, eff_rate)]
    write_csv(os.path.join(out, f"weak_scaling{tag}.csv"),
              ["ranks", "grid", "n", "n2_over_p", "seconds", "gflops", "efficiency_time",
               "efficiency_rate", "mbytes"], rows)
    phase_bars(rs, out, f"weak_phases{tag}", [f"P={r.ranks}\nn={r.n}" for r in rs],
               "Weak scaling: time per phase")
    return rows


# ---------------------------------------------------------------------------------------------
# deeprfm-mlp: the paper's Figure 1 (NC1 per layer at the three stages) and the NFA correlations
MLP_STAGES = [("input", "$H_l$ (layer input)"), ("projected", r"$\Sigma V^\top H_l$"),
              ("mapped", r"ReLU$(U \Sigma V^\top H_l)$")]
MLP_COLORS = {"input": "#1f77b4", "projected": "#d62728", "mapped": "#2ca02c"}


def program_of(path):
    """The root attribute `program` of an HDF5 file ("" if absent or unreadable)."""
    try:
        with h5py.File(path, "r") as f:
            return str(_s(f.attrs.get("program", "")))
    except (OSError, KeyError, ValueError):
        return ""


class MlpRun:
    """One deeprfm-mlp results file (docs/hdf5_layout.md, "deeprfm-mlp results")."""

    def __init__(self, path):
        self.path = path
        self.stem = os.path.splitext(os.path.basename(path))[0]
        with h5py.File(path, "r") as f:
            a = {k: _s(v) for k, v in f.attrs.items()}
            self.ranks = int(a.get("ranks", 1))
            self.complete = int(a.get("completed", 0)) == 1
            self.config = {k: str(_s(v)) for k, v in f["config"].attrs.items()} if "config" in f else {}
            d = f["data"].attrs if "data" in f else {}
            self.description = str(_s(d.get("description", "?")))
            self.n = int(_s(d.get("n_train", 0)))
            self.n_test = int(_s(d.get("n_test", 0)))
            self.dim = int(_s(d.get("dim", 0)))
            self.epochs_done = (int(_s(f["checkpoint"].attrs.get("completed_epochs", 0)))
                                if "checkpoint" in f else None)
            if "metrics/table" not in f:
                raise ValueError("no /metrics/table (no measurement committed yet)")
            t = f["metrics/table"]
            self.columns = [str(_s(c)) for c in t.attrs["columns"]]
            self.table = np.asarray(t[()], dtype=float).reshape(-1, len(self.columns))
            if "epochs/table" in f:
                e = f["epochs/table"]
                self.epoch_columns = [str(_s(c)) for c in e.attrs["columns"]]
                self.epoch_table = np.asarray(e[()], dtype=float).reshape(-1, len(self.epoch_columns))
            else:
                self.epoch_columns, self.epoch_table = [], np.zeros((0, 0))
        if self.epochs_done is None:
            self.epochs_done = int(self.epoch_table.shape[0])
        self.layers = sorted({int(v) for v in self.col("layer")})
        self.epochs = sorted({int(v) for v in self.col("epoch")})

    def col(self, name, rows=None):
        c = self.table[:, self.columns.index(name)]
        return c if rows is None else c[rows]

    def at(self, epoch, name):
        """Values of a column at one measurement epoch, ordered by layer."""
        rows = self.col("epoch") == epoch
        order = np.argsort(self.col("layer", rows))
        return self.col(name, rows)[order]

    def series(self, layer, name):
        """(epochs, values) of a column for one layer over the measurements."""
        rows = self.col("layer") == layer
        order = np.argsort(self.col("epoch", rows))
        return self.col("epoch", rows)[order], self.col(name, rows)[order]

    def title(self):
        c = self.config
        return (f"deeprfm-mlp, {c.get('data', '?')}, n = {self.n}, {len(self.layers)} x "
                f"{c.get('hidden-width', '?')} ReLU MLP, {c.get('optimizer', '?')} lr "
                f"{float(c.get('lr', 'nan')):g}, init gain {float(c.get('init-gain', 'nan')):g}")


def find_mlp_runs(dirs):
    runs = []
    for d in dirs:
        paths = [d] if os.path.isfile(d) else [
            os.path.join(root, f) for root, _, files in os.walk(d) for f in files
            if f.endswith(".h5") and not f.endswith(".state.h5")]
        for p in sorted(paths):
            if program_of(p) != "deeprfm-mlp":
                continue
            try:
                runs.append(MlpRun(p))
            except Exception as e:
                print(f"deeprfm_collect: skipped {p}: {e}", file=sys.stderr)
    return runs


def write_mlp_runs_csv(runs, out):
    header = ["file", "complete", "ranks", "data", "n", "n_test", "dim", "hidden_layers",
              "hidden_width", "optimizer", "lr", "init_gain", "seed", "epochs_done",
              "last_measurement", "train_loss", "train_accuracy", "test_loss", "test_accuracy"]
    rows = []
    for r in runs:
        last = r.epochs[-1]
        rows.append([r.path, int(r.complete), r.ranks, r.config.get("data", "?"), r.n, r.n_test,
                     r.dim, len(r.layers), r.config.get("hidden-width", "?"),
                     r.config.get("optimizer", "?"), r.config.get("lr", "?"),
                     r.config.get("init-gain", "?"), r.config.get("seed", "?"), r.epochs_done, last]
                    + [float(r.at(last, c)[0]) for c in ("train_loss", "train_accuracy",
                                                           "test_loss", "test_accuracy")])
    write_csv(os.path.join(out, "mlp_runs.csv"), header, rows)


def _log_axis(ax):
    ax.set_yscale("log")
    from matplotlib.ticker import LogFormatterSciNotation
    ax.yaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False,
                                                         minor_thresholds=(2, 0.5)))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.grid(True, which="both", alpha=0.3)


def mlp_figure1(run, out, tag=""):
    """NC1 per hidden layer at the three stages at the final measurement (log scale), and the
    factor by which Sigma V^T and the ReLU change it; trace-ratio NC1 on top, pinv below."""
    import matplotlib.pyplot as plt
    last = run.epochs[-1]
    x = np.array(run.layers)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    rows = []
    for row, (metric, label) in enumerate([("nc1", r"NC1 = tr($\Sigma_W$) / tr($\Sigma_B$)"),
                                           ("nc1_pinv", r"NC1 (pinv) = tr($\Sigma_W \Sigma_B^+$) / C")]):
        ax, axf = axes[row]
        vals = {stage: run.at(last, f"{metric}_{stage}") for stage, _ in MLP_STAGES}
        width = 0.26
        for i, (stage, stage_label) in enumerate(MLP_STAGES):
            ax.bar(x + (i - 1) * width, vals[stage], width, color=MLP_COLORS[stage], label=stage_label)
        _log_axis(ax)
        ax.set_xticks(x)
        ax.set_xlabel("hidden layer l")
        ax.set_title(f"{label} at epoch {last}", fontsize=10)
        f_proj = vals["projected"] / vals["input"]
        f_relu = vals["mapped"] / vals["projected"]
        # bars from 1 to the factor: downwards = the stage lowers NC1
        axf.bar(x - 0.18, f_proj - 1.0, 0.36, bottom=1.0, color=MLP_COLORS["projected"],
                label=r"$\times\,\Sigma V^\top$: NC1($\Sigma V^\top H$) / NC1($H$)")
        axf.bar(x + 0.18, f_relu - 1.0, 0.36, bottom=1.0, color=MLP_COLORS["mapped"],
                label=r"$\times$ ReLU: NC1(ReLU(...)) / NC1($\Sigma V^\top H$)")
        axf.axhline(1.0, color="k", lw=0.8, ls=":")
        _log_axis(axf)
        axf.set_xticks(x)
        axf.set_xlabel("hidden layer l")
        name = "NC1 (pinv)" if metric == "nc1_pinv" else "NC1"
        axf.set_title(f"factor by which each stage changes {name} (< 1: lowers it)", fontsize=10)
        for j, l in enumerate(x):
            rows.append([metric, int(l), last, float(vals["input"][j]), float(vals["projected"][j]),
                         float(vals["mapped"][j]), float(f_proj[j]), float(f_relu[j])])
    for ax in axes[:, 1]:
        ax.relim()
        ax.autoscale_view()
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 0.5), max(hi, 2.0))  # room for the legend, 1 always inside
    axes[0][0].legend(fontsize=8)
    axes[0][1].legend(fontsize=7, loc="upper left")
    fig.suptitle(run.title() + f"\n{len(run.epochs)} measurements, final at epoch {last}",
                 fontsize=10)
    fig.tight_layout()
    save(fig, out, f"mlp_figure1{tag}")
    write_csv(os.path.join(out, f"mlp_figure1{tag}.csv"),
              ["metric", "layer", "epoch", "input", "projected", "mapped", "factor_projected",
               "factor_relu"], rows)
    return rows


def mlp_figure1_epochs(run, out, tag=""):
    """NC1 (trace ratio) of the three stages of every hidden layer over the measurements."""
    import matplotlib.pyplot as plt
    L = len(run.layers)
    cols = min(L, 3)
    nrows = int(math.ceil(L / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.9 * nrows), squeeze=False,
                             sharey=True)
    rows = []
    for k, l in enumerate(run.layers):
        ax = axes[k // cols][k % cols]
        for stage, stage_label in MLP_STAGES:
            ep, v = run.series(l, f"nc1_{stage}")
            ax.plot(ep, v, marker="o", ms=2.5, color=MLP_COLORS[stage], label=stage_label)
        _log_axis(ax)
        ax.set_title(f"layer {l}", fontsize=10)
        ax.set_xlabel("epoch")
        ep = run.series(l, "nc1_input")[0]
        for j, e in enumerate(ep):
            rows.append([l, int(e)] + [float(run.series(l, f"{m}_{s}")[1][j])
                                       for m in ("nc1", "nc1_pinv") for s, _ in MLP_STAGES])
    for k in range(L, nrows * cols):
        axes[k // cols][k % cols].axis("off")
    axes[0][0].set_ylabel("NC1 (trace ratio)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(run.title(), fontsize=10)
    fig.tight_layout()
    save(fig, out, f"mlp_figure1_epochs{tag}")
    write_csv(os.path.join(out, f"mlp_figure1_epochs{tag}.csv"),
              ["layer", "epoch"] + [f"{m}_{s}" for m in ("nc1", "nc1_pinv") for s, _ in MLP_STAGES],
              rows)
    return rows


def mlp_nfa(run, out, tag=""):
    """NFA correlations per layer over the measurements, and the accuracies."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    cmap = plt.get_cmap("tab10")
    L = len(run.layers)
    rows = []
    for ax, (metric, title) in zip(axes[:2], [
            ("nfa_corr", r"corr(vec $W_l^\top W_l$, vec AGOP$_l$)"),
            ("nfa_corr_sqrt", r"corr(vec $W_l^\top W_l$, vec AGOP$_l^{1/2}$)")]):
        for k, l in enumerate(run.layers):
            ep, v = run.series(l, metric)
            ax.plot(ep, v, marker="o", ms=2.5, color=cmap(k % 10), label=f"layer {l}")
        ax.set_ylim(min(0.0, float(np.nanmin(run.col(metric))) - 0.05), 1.02)
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("Pearson correlation")
    axes[0].legend(fontsize=7)
    et, ec = run.epoch_table, run.epoch_columns
    handles = []
    per_epoch = et.shape[0] > 0 and "train_accuracy" in ec and np.isfinite(
        et[:, ec.index("train_accuracy")]).sum() > len(run.epochs)
    for name, style in [("train_accuracy", "-"), ("test_accuracy", "--")]:
        if per_epoch:  # the per-epoch evaluations (--eval-every)
            ok = np.isfinite(et[:, ec.index(name)])
            x, y = et[ok, ec.index("epoch")], et[ok, ec.index(name)]
            if 0 in run.epochs:  # the measurement at initialisation
                x, y = np.concatenate([[0.0], x]), np.concatenate([[run.at(0, name)[0]], y])
        else:
            x, y = np.array(run.epochs, dtype=float), [run.at(e, name)[0] for e in run.epochs]
        handles += axes[2].plot(x, y, style, lw=1.2, label=name.replace("_", " "))
    if et.shape[0] and "train_loss" in ec:
        ax2 = axes[2].twinx()
        ok = np.isfinite(et[:, ec.index("running_loss")])
        handles += ax2.plot(et[ok, ec.index("epoch")], et[ok, ec.index("running_loss")],
                            color="#7f7f7f", lw=0.8, label="training loss (MSE, right axis)")
        ax2.set_yscale("log")
        ax2.tick_params(axis="y", labelsize=7, colors="#7f7f7f")
    axes[2].set_ylim(0, 1.02)
    axes[2].set_xlabel("epoch")
    axes[2].set_title("accuracy and training loss", fontsize=10)
    axes[2].legend(handles=handles, fontsize=7, loc="center right")
    axes[2].grid(True, alpha=0.3)
    for e in run.epochs:
        for l in run.layers:
            rows.append([int(e), l] + [float(run.at(e, c)[run.layers.index(l)]) for c in
                                       ("nfa_corr", "nfa_corr_sqrt", "nfa_cos", "nfa_cos_sqrt")]
                        + [float(run.at(e, c)[0]) for c in ("train_loss", "train_accuracy",
                                                            "test_loss", "test_accuracy")])
    fig.suptitle(run.title() + " — Neural Feature Ansatz", fontsize=10)
    fig.tight_layout()
    save(fig, out, f"mlp_nfa{tag}")
    write_csv(os.path.join(out, f"mlp_nfa{tag}.csv"),
              ["epoch", "layer", "nfa_corr", "nfa_corr_sqrt", "nfa_cos", "nfa_cos_sqrt",
               "train_loss", "train_accuracy", "test_loss", "test_accuracy"], rows)
    return rows


def mlp_figures(runs, out, tag=""):
    write_mlp_runs_csv(runs, out)
    drawn = []
    for r in runs:
        t = tag if len(runs) == 1 else f"_{r.stem}{tag}"
        mlp_figure1(r, out, t)
        mlp_figure1_epochs(r, out, t)
        mlp_nfa(r, out, t)
        drawn.append(f"mlp_figure1{t}, mlp_figure1_epochs{t}, mlp_nfa{t}")
        last = r.epochs[-1]
        print_table(f"deeprfm-mlp {r.path}: NC1 per layer at epoch {last}",
                    ["layer", "NC1(H)", "NC1(SV'H)", "NC1(ReLU)", "x SV'", "x ReLU", "NFA corr",
                     "NFA sqrt"],
                    [[l, float(a), float(b), float(c), float(b / a), float(c / b), float(d), float(e)]
                     for l, a, b, c, d, e in zip(r.layers, r.at(last, "nc1_input"),
                                                 r.at(last, "nc1_projected"), r.at(last, "nc1_mapped"),
                                                 r.at(last, "nfa_corr"), r.at(last, "nfa_corr_sqrt"))])
    return drawn


def print_table(title, header, rows):
    print(f"\n{title}")
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r))


class StudyError(Exception):
    """A study that the experiment's files cannot give (e.g. --study strong at one rank count)."""


def draw_experiment(exp, args, out):
    """The figures of one experiment into `out`; records which file went into which output.
    Returns the list of what was drawn."""
    runs, study, tag = exp.runs, args.study, args.tag
    drawn = []
    write_runs_csv(runs, out)
    exp.use("runs.csv", runs)
    if study in ("auto", "all", "seeds"):
        group = figure3(runs, out, tag)
        exp.use(f"figure3_nc{tag}", group)
        drawn.append(f"figure3_nc ({len(group)} seed(s))")
        # Figure 2 from the runs of Figure 3's problem (any seed, any rank count), never from
        # another group of runs in the folder.
        problem = group[0].problem_key(ignore=("seed",))
        same = [r for r in runs if r.problem_key(ignore=("seed",)) == problem]
        g2 = figure2(same, out, args.gram_layers, args.gram_samples, tag)
        if g2:
            exp.use(f"figure2_gram{tag}", [g2])
            drawn.append("figure2_gram")
    if study in ("auto", "all", "strong"):
        groups = strong_groups(runs)
        if study == "strong" and not groups:
            raise StudyError("--study strong needs runs of one problem at >= 2 rank counts")
        for i, g in enumerate(sorted(groups, key=len, reverse=True)):
            t = ("" if i == 0 else f"_{i + 1}") + tag
            rows = strong_scaling(g, out, t)
            exp.use(f"strong_scaling{t} strong_phases{t}", g)
            print_table(f"strong scaling (n = {g[0].n})",
                        ["ranks", "grid", "n", "seconds", "speedup", "efficiency", "GF/s", "MB"], rows)
            drawn.append("strong_scaling")
    if study in ("auto", "all", "weak"):
        groups = weak_groups(runs)
        if study == "weak" and not groups:
            raise StudyError("--study weak needs runs with n^2/P constant at >= 2 rank counts")
        for i, g in enumerate(sorted(groups, key=len, reverse=True)):
            t = ("" if i == 0 else f"_{i + 1}") + tag
            rows = weak_scaling(g, out, t)
            exp.use(f"weak_scaling{t} weak_phases{t}", g)
            print_table("weak scaling", ["ranks", "grid", "n", "n^2/P", "seconds", "GF", "eff(time)",
                                         "eff(rate)", "MB"], rows)
            drawn.append("weak_scaling")
    return drawn


def experiment_files_used(exp, out):
    allowed = sorted(set(TECHNICAL_OPTIONS) | set(STUDY_VARIES[exp.study])) + ["ranks"]
    write_files_used(
        os.path.join(out, "files-used.txt"),
        [f"deeprfm_collect: the results files behind the plots in {out}",
         f"experiment {exp.name} (--study {exp.study}; the files may differ only in "
         f"{', '.join(allowed)})",
         "experiment key: " + " ".join(f"{k}={v}" for k, v in exp.key)],
        [(r.path, state_of(r), run_key_options(r), exp.used[r.path]) for r in exp.runs])


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=f"Exit codes: 0 figures drawn; 1 nothing usable or the study cannot be drawn; "
               f"2 usage; {EX_SEVERAL_EXPERIMENTS} several experiments and no --split.")
    ap.add_argument("dirs", nargs="*", help="results directories (or files)")
    ap.add_argument("--out", help="output directory for figures and CSV files")
    ap.add_argument("--study", default="auto", choices=["auto", "seeds", "strong", "weak", "all"],
                    help="what may differ between the files of one experiment besides the "
                         "technical options (grid, block-size, blas-threads, pblas-block, "
                         "save-features, ranks): seeds the seed, weak n, all both, auto/strong "
                         "nothing (default auto)")
    ap.add_argument("--split", action="store_true",
                    help="several experiments in the folder: draw each into OUT/<experiment>/ "
                         f"(default: refuse with exit code {EX_SEVERAL_EXPERIMENTS})")
    ap.add_argument("--include-incomplete", action="store_true",
                    help="use incomplete runs (/checkpoint/complete = 0) too, marked as such "
                         "(default: skip them, with the reason)")
    ap.add_argument("--gram-layers", default="auto",
                    help="comma-separated layers for Figure 2 (default: up to 4 evenly spaced saved layers)")
    ap.add_argument("--gram-samples", type=int, default=500,
                    help="class-balanced subsample size for Figure 2 (default 500)")
    ap.add_argument("--tag", default="",
                    help="suffix appended to every figure's file name (e.g. _fashion_mnist)")
    ap.add_argument("--status", metavar="FILE",
                    help="print missing/incomplete/complete for one results file and exit")
    args = ap.parse_args(argv)
    if args.status:
        print(results_status(args.status))
        return 0
    if not args.dirs or not args.out:
        ap.error("give results directories and --out")
    try:
        import matplotlib
        matplotlib.use("Agg")
    except ImportError as e:
        sys.exit(f"deeprfm_collect: {e}; install python3-matplotlib (Debian) and run /usr/bin/python3")
    os.makedirs(args.out, exist_ok=True)
    runs, mlp_runs, skipped, states = scan(args.dirs, args.include_incomplete)
    for p, why in skipped:
        print(f"deeprfm_collect: skipped {p}: {why}")
    if states:
        print(f"deeprfm_collect: ignored {len(states)} checkpoint state file(s) (*.state.h5)")
    exps = group_experiments(runs, args.study)
    if not runs and not mlp_runs:
        experiments_report(exps, skipped, states, mlp_runs, args.study, "nothing to draw", args.out)
        sys.exit("deeprfm_collect: no usable deeprfm results files found"
                 + (f" ({len(skipped)} skipped, listed above)" if skipped else ""))
    if len(exps) > 1 and not args.split:
        experiments_report(exps, skipped, states, mlp_runs, args.study,
                           "refused: several experiments (pass --split)", args.out)
        print(refusal_message(exps, args.study, args.dirs), file=sys.stderr)
        return EX_SEVERAL_EXPERIMENTS
    drawn, failures = [], []
    tag = args.tag
    mlp_used = []
    if mlp_runs:
        print(f"deeprfm_collect: {len(mlp_runs)} deeprfm-mlp run(s) "
              f"({sum(not r.complete for r in mlp_runs)} incomplete)")
        for r, what in zip(mlp_runs, mlp_figures(mlp_runs, args.out, tag)):
            mlp_used.append((r.path, "complete" if r.complete else "incomplete",
                             f"program=deeprfm-mlp ranks={r.ranks} n={r.n} "
                             f"epochs={r.epochs_done} seed={r.config.get('seed', '?')}",
                             ["mlp_runs.csv"] + what.split(", ")))
            print(f"deeprfm_collect: deeprfm-mlp: {what} <- {r.path}")
        drawn += [f"{', '.join(u[3][1:])} to {args.out}" for u in mlp_used]
    if exps:
        print(f"deeprfm_collect: {len(runs)} run(s) ({sum(not r.complete for r in runs)} incomplete) "
              f"in {len(exps)} experiment(s)")
    for exp in exps:
        exp.out = os.path.join(args.out, exp.name) if args.split else args.out
        os.makedirs(exp.out, exist_ok=True)
        try:
            d = draw_experiment(exp, args, exp.out)
        except StudyError as e:
            failures.append(f"{exp.name}: {e}")
            d = []
        experiment_files_used(exp, exp.out)
        drawn.append(f"{', '.join(d) or 'runs.csv only'} to {exp.out}")
    if mlp_used and (args.split or not exps):
        write_files_used(os.path.join(args.out, "files-used.txt"),
                         [f"deeprfm_collect: the results files behind the plots in {args.out}"],
                         mlp_used)
    elif mlp_used:  # one experiment in --out: the MLP files join its files-used.txt
        with open(os.path.join(args.out, "files-used.txt"), "a") as fh:
            for p, state, opts, outputs in mlp_used:
                fh.write(f"{p}\t{state}\t{opts}\t{' '.join(outputs)}\n")
    experiments_report(exps, skipped, states, mlp_runs, args.study,
                       "drawn" if not failures else "drawn with errors", args.out)
    print(f"deeprfm_collect: wrote {'; '.join(drawn)}")
    print(f"deeprfm_collect: files used: files-used.txt next to the plots; every file found: "
          f"{os.path.join(args.out, 'experiments.txt')}")
    if failures:
        for f in failures:
            print(f"deeprfm_collect: {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
