#!/usr/bin/env python3
"""Checks .npy files written by onedata against numpy (tests/interop/npy_interop.rs).

Usage: check_written.py CASES.json

CASES.json is a list of {"original": path, "written": path, "transform": expr}
where "transform" is optional: a Python expression in `a` (e.g. "a[::2, 1:]",
"a.T") that gives the array onedata was asked to write from numpy's
`np.load(original)`. Without it the written array is the original itself.

For every case, with `src` the array onedata wrote (as numpy computes it) and
`w = np.load(written)`:
  * w.dtype is src.dtype in native byte order, and w.shape == src.shape;
  * w holds the same bits as src (raw bytes of native copies, so NaN payloads
    and boolean bytes other than 0/1 count);
  * without a transform, the written header's fortran_order is the original's;
  * the written file is byte for byte what np.save writes for `src` converted
    to native byte order, in the same memory order.

Prints a JSON list of {"written", "ok", "errors"} to stdout.
"""

import io
import json
import sys

import numpy as np


def read_header(f):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return version, np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return version, np.lib.format.read_array_header_2_0(f)
    return version, np.lib.format._read_array_header(f, version)


def header_of(path):
    with open(path, "rb") as f:
        return read_header(f)


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check(case):
    errors = []
    orig = np.load(case["original"])
    src = eval(case["transform"], {"np": np}, {"a": orig}) if case.get("transform") else orig
    w = np.load(case["written"])
    native = src.dtype.newbyteorder("=")

    if w.dtype != native or not (w.dtype.isnative or w.dtype.itemsize == 1):
        errors.append(f"dtype: wrote {w.dtype.str}, expected {native.str}")
    if w.shape != src.shape:
        errors.append(f"shape: wrote {w.shape}, expected {src.shape}")

    # The values the writer was given, in native byte order and the memory
    # order numpy would keep for them.
    (_, (_, orig_fortran, _)) = header_of(case["original"])
    (w_version, (w_shape, w_fortran, w_dtype)) = header_of(case["written"])
    if case.get("transform"):
        # np.save of the very view when it is native; otherwise a native copy
        # in the order np.save would write the view in (Fortran only for
        # Fortran- but not C-contiguous views; astype's order='K' could turn a
        # non-contiguous view into a Fortran-contiguous copy).
        if src.dtype == native:
            expected_arr = src
        else:
            fortran = src.flags.f_contiguous and not src.flags.c_contiguous
            expected_arr = np.array(src, dtype=native, order="F" if fortran else "C", copy=True)
    else:
        expected_arr = np.array(src, dtype=native, order="F" if orig_fortran else "C",
                                copy=True)
        if w_fortran != orig_fortran:
            errors.append(f"fortran_order: wrote {w_fortran}, original has {orig_fortran}")
    if w_dtype != w.dtype or w_shape != w.shape:
        errors.append("header read by np.lib.format disagrees with np.load")

    if not errors:
        got = w.tobytes(order="C")
        want = np.array(src, dtype=native, order="C", copy=True).tobytes(order="C")
        if got != want:
            i = first_diff(got, want)
            errors.append(f"values differ from byte {i} of the C-order data "
                          f"(wrote {got[i:i + 16].hex()}, expected {want[i:i + 16].hex()})")

    want_file = io.BytesIO()
    np.save(want_file, expected_arr)
    want_file = want_file.getvalue()
    with open(case["written"], "rb") as f:
        got_file = f.read()
    if got_file != want_file:
        i = first_diff(got_file, want_file)
        got_header = got_file[:got_file.find(b"\n") + 1]
        want_header = want_file[:want_file.find(b"\n") + 1]
        errors.append(
            f"file bytes differ from np.save at byte {i} (lengths {len(got_file)} "
            f"vs {len(want_file)}); wrote header {got_header!r}, "
            f"np.save header {want_header!r}; "
            f"bytes {got_file[i:i + 16].hex()} vs {want_file[i:i + 16].hex()}")
    return errors


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    results = []
    for case in cases:
        try:
            errors = check(case)
        except Exception as e:  # report, do not stop at the first broken file
            errors = [f"{type(e).__name__}: {e}"]
        results.append({"written": case["written"], "ok": not errors, "errors": errors})
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
