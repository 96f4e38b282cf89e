#!/usr/bin/env python3
"""Judges the sparse .npz files onedata wrote (tests/interop/sparse.rs).

Usage: check_sparse_written.py DIR

DIR/manifest.json lists {file, format, shape, descr, index_descr, nnz,
compressed, dense, data}: `dense` and `data` are .npy files onedata wrote with
the dense array scipy's toarray() must give and the stored values in
canonical order. Every file must load with scipy.sparse.load_npz as a
<format>_array holding exactly those values, with numpy.savez's member order
and compression; a stored file with int32 indices must be byte for byte what
save_npz(..., compressed=False) writes for the matrix it loads as.
Prints "N passed, 0 failed" or exits 1 listing the failures.
"""

import io
import json
import os
import sys
import zipfile

import numpy as np
import scipy.sparse as sp

MEMBERS = ["indices", "indptr", "format", "shape", "data", "_is_array"]


def check(d, e):
    path = os.path.join(d, e["file"])
    m = sp.load_npz(path)
    errs = []

    def expect(what, got, want):
        if got != want:
            errs.append(f"{what}: got {got!r}, expected {want!r}")

    expect("class", type(m).__name__, e["format"] + "_array")
    expect("format", m.format, e["format"])
    expect("shape", list(m.shape), e["shape"])
    expect("dtype", m.dtype.str, e["descr"])
    expect("nnz", int(m.nnz), e["nnz"])
    expect("canonical", bool(m.has_canonical_format), True)
    with np.load(path) as z:
        expect("members", list(z.files), MEMBERS)
        expect("indices dtype", z["indices"].dtype.str, e["index_descr"])
        expect("indptr dtype", z["indptr"].dtype.str, e["index_descr"])
        expect("format member", (z["format"].dtype.str, z["format"].shape, z["format"].item()),
               ("|S3", (), e["format"].encode()))
        expect("shape member", (z["shape"].dtype.str, z["shape"].tolist()), ("<i8", e["shape"]))
        expect("_is_array member", (z["_is_array"].dtype.str, z["_is_array"].shape, bool(z["_is_array"])),
               ("|b1", (), True))
    with zipfile.ZipFile(path) as zf:
        methods = {i.compress_type for i in zf.infolist()}
        expect("compression", methods, {zipfile.ZIP_DEFLATED if e["compressed"] else zipfile.ZIP_STORED})
        expect("zip test", zf.testzip(), None)
    want = np.load(os.path.join(d, e["dense"]))
    got = np.ascontiguousarray(m.toarray())
    expect("dense dtype", got.dtype.str, want.dtype.str)
    if got.tobytes() != want.tobytes():
        errs.append("dense values differ")
    data = np.load(os.path.join(d, e["data"]))
    if m.data.dtype != data.dtype or m.data.tobytes() != data.tobytes():
        errs.append("stored data differs")
    if not e["compressed"] and e["index_descr"] == "<i4":
        buf = io.BytesIO()
        sp.save_npz(buf, m, compressed=False)
        with open(path, "rb") as f:
            mine = f.read()
        if buf.getvalue() != mine:
            errs.append(f"not byte for byte what save_npz writes ({len(mine)} vs {len(buf.getvalue())} bytes)")
    return errs


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "manifest.json")) as f:
        entries = json.load(f)
    failed = []
    for e in entries:
        try:
            errs = check(d, e)
        except Exception as exc:  # a file scipy cannot load is a failure
            errs = [f"{type(exc).__name__}: {exc}"]
        if errs:
            failed.append(f"{e['file']}: " + "; ".join(errs))
    for line in failed:
        print(line)
    print(f"{len(entries) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
