#!/usr/bin/env python3
"""Regenerate the tiny committed fixtures of the data-module tests (pure Python, no numpy).

Run from anywhere:  python3 tests/data/make_fixtures.py
Writes, next to this script:
  idx-tiny/train-images-idx3-ubyte.gz, idx-tiny/train-labels-idx1-ubyte.gz   (gzip, 12 x 4x3)
  idx-tiny/t10k-images-idx3-ubyte,     idx-tiny/t10k-labels-idx1-ubyte       (plain, 6 x 4x3)
  npy-tiny/train_X.npy (<f4, 6x4), npy-tiny/train_y.npy (<i8)
  npy-tiny/fortran_X.npy (<f8, 6x2x3, fortran_order=True)
  npy-tiny/big_endian_X.npy (>f8, 6x4)
Pixel k,p of an IDX image is (37*k + 11*p + offset) % 256; label k % 3. The .npy headers are
written exactly as numpy.lib.format does for version 1.0 (header padded to 64 bytes).
The C++ tests (tests/unit/test_data_sources.cpp) recompute the same values.
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def idx_pixels(count, rows, cols, offset):
    return bytes((37 * k + 11 * p + offset) % 256 for k in range(count) for p in range(rows * cols))


def write_idx(folder, prefix, count, offset, compress):
    os.makedirs(folder, exist_ok=True)
    images = struct.pack(">IIII", 0x00000803, count, 4, 3) + idx_pixels(count, 4, 3, offset)
    labels = struct.pack(">II", 0x00000801, count) + bytes(k % 3 for k in range(count))
    for name, blob in ((prefix + "-images-idx3-ubyte", images), (prefix + "-labels-idx1-ubyte", labels)):
        if compress:
            # mtime=0 keeps the files byte-identical between runs.
            with open(os.path.join(folder, name + ".gz"), "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
                    f.write(blob)
        else:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(blob)


def npy_bytes(descr, shape, fortran, payload):
    shape_text = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_text)
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + payload


def write_npy(folder):
    os.makedirs(folder, exist_ok=True)
    n, d = 6, 4
    x = [0.25 * i - 0.5 * j + (1.0 if (i + j) % 2 else 0.0) for i in range(n) for j in range(d)]
    with open(os.path.join(folder, "train_X.npy"), "wb") as f:
        f.write(npy_bytes("<f4", (n, d), False, struct.pack("<%df" % len(x), *x)))
    with open(os.path.join(folder, "train_y.npy"), "wb") as f:
        f.write(npy_bytes("<i8", (n,), False, struct.pack("<%dq" % n, *[i % 3 for i in range(n)])))
    # Value of sample i, element (a, b) = 100 i + 10 a + b, stored in Fortran order (i fastest).
    h, w = 2, 3
    fortran = [100.0 * i + 10.0 * a + b for b in range(w) for a in range(h) for i in range(n)]
    with open(os.path.join(folder, "fortran_X.npy"), "wb") as f:
        f.write(npy_bytes("<f8", (n, h, w), True, struct.pack("<%dd" % len(fortran), *fortran)))
    with open(os.path.join(folder, "big_endian_X.npy"), "wb") as f:
        f.write(npy_bytes(">f8", (n, d), False, struct.pack(">%dd" % len(x), *x)))


if __name__ == "__main__":
    write_idx(os.path.join(HERE, "idx-tiny"), "train", 12, 0, True)
    write_idx(os.path.join(HERE, "idx-tiny"), "t10k", 6, 101, False)
    write_npy(os.path.join(HERE, "npy-tiny"))
