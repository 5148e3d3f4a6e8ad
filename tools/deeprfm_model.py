#!/usr/bin/env python3
"""Read a Deep RFM saved by ``deeprfm --save-model`` and predict with it, in numpy + h5py only.

An independent reader of the ``/model`` group of a results file (docs/hdf5_layout.md): what a
researcher uses in a notebook, and what the test suite checks deeprfm's distributed
``deeprfm predict`` against. It shares no code with deeprfm; it follows the formulas of
docs/numerics.md:

    Z_1  = standardise(X)                      (training statistics, or the data's own)
    Z_l <- Z_l / ||row||
    P_l  = k(Z_l R_l, X_l) A_l                 k(r) = exp(-r / s) (Laplace), exp(-r^2/(2 s^2));
                                               R_l = kernel_map (--iterations T > 1) or I,
                                               X_l = the stored centres
    Z_{l+1} = ReLU(Z_l S_l W_l^T)

In a notebook::

    import sys; sys.path.insert(0, "tools")
    from deeprfm_model import DeepRFMModel, load_idx
    model = DeepRFMModel("deeprfm-results.h5")
    x, y = load_idx("/usr/share/datasets/fashion-mnist", train=False)
    predictions = model.predict(x[:500])            # one (500, C) array per layer
    print([(p.argmax(1) == y[:500]).mean() for p in predictions])

From the shell::

    python3 tools/deeprfm_model.py RUN.h5 --npy X.npy [--labels y.npy] [--output P.npz]
    python3 tools/deeprfm_model.py RUN.h5 --idx DIR [--n 500]
    python3 tools/deeprfm_model.py RUN.h5 --compare PRED.h5   # the data of a deeprfm predict
                                                               # file, checked against it
"""
import argparse
import gzip
import os
import struct
import sys

import h5py
import numpy as np

FORMAT = "deeprfm-model"
FORMAT_VERSION = 1

# Pairs closer than this (relative to their squared norms) get their distance recomputed from
# the difference, as deeprfm does: |x|^2 + |z|^2 - 2 x.z loses every digit for near points.
NEAR_PAIR_RELATIVE = 1e-4


class ModelError(Exception):
    """The file holds no model this reader understands."""


class DeepRFMModel:
    """A saved Deep RFM. Loads every layer into memory (numpy arrays) on construction."""

    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            program = f.attrs.get("program", "")
            if isinstance(program, bytes):
                program = program.decode()
            if program != "deeprfm":
                raise ModelError(f"{path} was written by '{program or 'an unknown program'}', "
                                 "not by deeprfm: it holds no Deep RFM model")
            if "model" not in f:
                raise ModelError(f"{path} holds no saved model (no /model group): the run was "
                                 "made without --save-model")
            g = f["model"]
            a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
            if a.get("format") != FORMAT or int(a.get("format_version", -1)) != FORMAT_VERSION:
                raise ModelError(f"{path}: model format {a.get('format')!r} version "
                                 f"{a.get('format_version')}; this reader reads {FORMAT} "
                                 f"version {FORMAT_VERSION}")
            if a.get("task") not in ("classification", "regression"):
                raise ModelError(f"{path}: a model for the task {a.get('task')!r}")
            self.regression = a["task"] == "regression"
            self.kernel = a["kernel"]
            self.bandwidth = float(a["bandwidth"])
            self.width = int(a["width"])
            self.classes = int(a["classes"])
            self.dim_input = int(a["dim_input"])
            self.own_statistics = a["standardisation"] == "own"
            self.feature_mean = g["feature_mean"][...]
            self.feature_std = g["feature_std"][...]
            self.layers = []
            for l in range(int(a["layers"])):
                lg = g[f"layer_{l + 1:02d}"]
                self.layers.append({
                    "centres": lg["centres"][...],
                    "coefficients": lg["coefficients"][...],
                    "sqrt_agop": lg["sqrt_agop"][...],
                    "random_features": lg["random_features"][...],
                    # --iterations T > 1: the last iteration's kernel works on Z M^{1/2}.
                    "kernel_map": lg["kernel_map"][...] if "kernel_map" in lg else None,
                })

    # -- the pipeline ---------------------------------------------------------------------

    def standardise(self, x):
        """The first layer's input: (x - mean) / std per feature, 0 where std is 0."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim_input:
            raise ValueError(f"expected (n, {self.dim_input}) samples, got {x.shape}")
        if self.own_statistics:
            mean = x.mean(axis=0)
            std = x.std(axis=0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1])
            std[x.min(axis=0) == x.max(axis=0)] = 0.0
        else:
            mean, std = self.feature_mean, self.feature_std
        safe = np.where(std == 0, 1.0, std)
        return np.where(std == 0, 0.0, (x - mean) / safe)

    def kernel_matrix(self, z, x):
        """k(z_i, x_j) for rows of z and x."""
        zz = np.einsum("ij,ij->i", z, z)[:, None]
        xx = np.einsum("ij,ij->i", x, x)[None, :]
        r2 = zz + xx - 2.0 * (z @ x.T)
        near = np.argwhere(r2 < NEAR_PAIR_RELATIVE * (zz + xx))
        for i, j in near:
            diff = z[i] - x[j]
            r2[i, j] = diff @ diff
        r2 = np.maximum(r2, 0.0)
        if self.kernel == "laplace":
            return np.exp(-np.sqrt(r2) / self.bandwidth)
        return np.exp(-r2 / (2.0 * self.bandwidth ** 2))

    def layer_features(self, x, layers=None):
        """The (row-normalised) input of every layer: [Z_1, ..., Z_L]."""
        z = self.standardise(x)
        out = []
        for layer in self.layers[: layers or len(self.layers)]:
            z = z / np.linalg.norm(z, axis=1, keepdims=True)
            out.append(z)
            z = np.maximum((z @ layer["sqrt_agop"]) @ layer["random_features"].T, 0.0)
        return out

    def predict(self, x, layers=None):
        """Per layer, the (n, C) predictions of the layer's kernel machine on samples x (the
        class is the argmax; for a regression model, (n, k) predicted targets)."""
        out = []
        for z, layer in zip(self.layer_features(x, layers), self.layers):
            if layer["kernel_map"] is not None:
                z = z @ layer["kernel_map"]
            out.append(self.kernel_matrix(z, layer["centres"]) @ layer["coefficients"])
        return out


def nc1(h, labels, classes):
    """tr(Sigma_W) / tr(Sigma_B) (docs/numerics.md §10; global mean = mean of class means)."""
    means = np.stack([h[labels == c].mean(axis=0) for c in range(classes)])
    within = np.sum((h - means[labels]) ** 2) / len(h)
    between = np.sum((means - means.mean(axis=0)) ** 2) / classes
    return within / between


# -- loaders for the shell ----------------------------------------------------------------

def load_idx(folder, train=False):
    """An MNIST/Fashion-MNIST split as (x float64 in [0, 1], shape (n, 784); y int)."""
    prefix = "train" if train else "t10k"

    def open_any(name):
        path = os.path.join(folder, name)
        return gzip.open(path + ".gz", "rb") if os.path.exists(path + ".gz") else open(path, "rb")

    with open_any(f"{prefix}-images-idx3-ubyte") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8).reshape(n, rows * cols)
    with open_any(f"{prefix}-labels-idx1-ubyte") as f:
        _, n = struct.unpack(">II", f.read(8))
        y = np.frombuffer(f.read(n), dtype=np.uint8).astype(np.int64)
    return x.astype(np.float64) / 255.0, y


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="results file of a run made with --save-model")
    p.add_argument("--npy", help="samples to predict (.npy, n x d)")
    p.add_argument("--labels", help="their labels (.npy) for the accuracy")
    p.add_argument("--idx", help="an MNIST/Fashion-MNIST folder: predict its test split")
    p.add_argument("--n", type=int, default=0, help="with --idx: the first n test images")
    p.add_argument("--compare", help="a deeprfm predict file: predict its samples (with --npy "
                   "or --idx, in its source_index order) and compare")
    p.add_argument("--output", help="write the predictions to this .npz (layer_01, ...)")
    args = p.parse_args(argv)
    try:
        model = DeepRFMModel(args.model)
    except ModelError as e:
        print(f"deeprfm_model: error: {e}", file=sys.stderr)
        return 2
    if args.idx:
        x, y = load_idx(args.idx, train=False)
    elif args.npy:
        x = np.load(args.npy)
        y = np.load(args.labels) if args.labels else None
    else:
        p.error("give --npy or --idx")
    reference = None
    if args.compare:
        with h5py.File(args.compare, "r") as f:
            index = f["data/source_index"][...]
            reference = [f[f"layers/{name}/predictions"][...] for name in sorted(f["layers"])]
        x = x[index]
        y = y[index] if y is not None else None
    elif args.n:
        x, y = x[: args.n], (y[: args.n] if y is not None else None)
    predictions = model.predict(x, layers=len(reference) if reference else None)
    worst = 0.0
    for l, pr in enumerate(predictions):
        line = f"layer {l + 1:3d}"
        if y is not None:
            line += f"  accuracy {(pr.argmax(axis=1) == y).mean():.4f}"
        if reference is not None:
            diff = np.abs(pr - reference[l]).max() / np.abs(reference[l]).max()
            worst = max(worst, diff)
            line += f"  vs deeprfm predict {diff:.2e}"
        print(line)
    if args.output:
        np.savez(args.output, **{f"layer_{l + 1:02d}": pr for l, pr in enumerate(predictions)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
