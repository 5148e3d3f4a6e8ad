#!/usr/bin/env python3
"""Compare two deeprfm results files: every layer's metric attributes, AGOP and its
eigenvalues, and the features where both files hold them (not the residual: it is round-off).

    compare_results.py A.h5 B.h5 [--rtol 1e-10] [--layers N]

Relative differences are max |a - b| / max(|a|, |b|, tiny) per quantity. Prints one line per
layer and 'same' or 'DIFFERENT'; exit 0 when every quantity agrees to --rtol, 1 otherwise,
2 when a file lacks a layer the other has."""
import argparse
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"compare_results: FAILED: the Python module {e.name} is not installed for "
          f"{sys.executable} (Debian: python3-h5py python3-numpy); run bash scripts/setup.sh --tests")
    sys.exit(1)

METRIC_PREFIXES = ("nc1_", "nc1_pinv_", "nc2_etf_", "nc2_orth_", "trace_within_", "trace_between_")
OTHER_ATTRS = ("test_accuracy", "train_accuracy", "dim_in")


def rel(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), 1e-300)
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    return float(np.max(diff, initial=0.0)) / scale


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-10)
    ap.add_argument("--layers", type=int, default=0, help="expected number of layers (0: any)")
    args = ap.parse_args()
    fa, fb = h5py.File(args.a, "r"), h5py.File(args.b, "r")
    la = sorted(k for k in fa["layers"].keys())
    lb = sorted(k for k in fb["layers"].keys())
    if la != lb:
        print(f"layers differ: {args.a} has {la}, {args.b} has {lb}")
        return 2
    if args.layers and len(la) != args.layers:
        print(f"expected {args.layers} layers, found {len(la)}")
        return 2
    worst = 0.0
    for name in la:
        ga, gb = fa["layers"][name], fb["layers"][name]
        diffs = {}
        for key in ga.attrs:
            if key.startswith(METRIC_PREFIXES) or key in OTHER_ATTRS:
                if key not in gb.attrs:
                    diffs[key] = float("inf")
                else:
                    diffs[key] = rel(ga.attrs[key], gb.attrs[key])
        for ds in ("agop", "agop_eigenvalues", "features"):
            if ds in ga and ds in gb:
                diffs[ds] = rel(ga[ds][()], gb[ds][()])
            elif (ds in ga) != (ds in gb) and ds != "features":
                diffs[ds] = float("inf")
        key, value = max(diffs.items(), key=lambda kv: kv[1])
        worst = max(worst, value)
        print(f"{name}: {len(diffs)} quantities, largest relative difference {value:.3e} ({key})")
    ok = worst <= args.rtol
    print(f"{'same' if ok else 'DIFFERENT'}: largest relative difference {worst:.3e} (rtol {args.rtol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
