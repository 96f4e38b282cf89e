"""Judges the large arrays tests/interop/npy_interop.rs writes (the sizes onedata
writes with direct I/O): each file must be the bytes numpy.save writes for
the same array, regenerated here from the same formula.

Usage: check_large_written.py PATH KIND ROWS COLS ORDER ...  (repeated groups)
KIND is f4 or i2, ORDER is C or F. Prints one line per file: "ok" or the fault.
"""
import io
import sys

import numpy as np


def expected(kind, rows, cols, order):
    i = np.arange(rows, dtype=np.int64)[:, None]
    j = np.arange(cols, dtype=np.int64)[None, :]
    if kind == "f4":
        a = ((i * 7919 + j * 31) % 65521).astype(np.float32)
    else:
        a = ((i * 3 + j * 5) % 30000).astype(np.int16)
    return np.asfortranarray(a) if order == "F" else np.ascontiguousarray(a)


args = sys.argv[1:]
for k in range(0, len(args), 5):
    path, kind, rows, cols, order = args[k : k + 5]
    want = io.BytesIO()
    np.save(want, expected(kind, int(rows), int(cols), order))
    want = want.getvalue()
    with open(path, "rb") as f:
        got = f.read()
    if got == want:
        print("ok")
    elif len(got) != len(want):
        print(f"{path}: {len(got)} bytes, numpy.save writes {len(want)}")
    else:
        first = next(n for n in range(len(got)) if got[n] != want[n])
        print(f"{path}: first differing byte at offset {first}")
