#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*).

Usage: python3 fuzz/gen_seeds.py      (numpy 2.2 and scipy 1.15, as CI installs)

Seeds are small files written by numpy and scipy themselves, plus a few
hand-made headers for paths numpy never writes (misaligned data, odd
spellings numpy reads). Re-running rewrites them; files written by numpy
may differ in bytes between numpy versions, which is harmless.

- npy_file:        np.save of every numeric dtype in both byte orders, C and
                   Fortran order, 0-d and empty arrays, versions 1.0/2.0/3.0,
                   non-numeric dtypes, a misaligned and a truncated file.
- npz:             scipy.sparse.save_npz of csc/csr/coo/bsr/dia arrays and matrices,
                   compressed and stored, several data and index dtypes,
                   unsorted and duplicate entries, empty matrices, and
                   members of 256 KiB and more that deflate to a few KB.
- recipe:          loading recipes as vrAnalysis saves them (np.save of a 0-d
                   object array of the recipe dict) pickled with protocols 2
                   to 5 under numpy 2's and numpy 1's module paths, object
                   arrays that are not recipes, and bare pickles.
- npy_header_diff: the npy_header seeds, and one header per known class of
                   difference between onedata and npyz (see README.md).
"""

import io
import os
import pickle
import struct
import sys
import warnings
import zipfile

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "py"))
import recipe_fixtures as rf  # noqa: E402


def out_dir(target):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.startswith("seed-"):
            os.remove(os.path.join(d, name))
    return d


def write(d, name, data):
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.lib.format.write_array(buf, arr, version=version, allow_pickle=True)
    return buf.getvalue()


def raw_header(text, version=1):
    """A header with exactly `text` (no padding added), version 1.0/2.0/3.0."""
    b = text.encode("latin1" if version < 3 else "utf8")
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(b)) + b
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(b)) + b


def gen_npy_file():
    d = out_dir("npy_file")
    codes = ["?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16"]
    for code in codes:
        for order in "<>":
            if order == ">" and code in ("?", "i1", "u1"):
                continue
            dt = np.dtype(order + code)
            a = (np.arange(6) * 37 - 50).astype(dt).reshape(2, 3)
            write(d, f"{dt.str.replace('|', '')}-2x3", npy_bytes(a))
    f = np.asfortranarray(np.arange(24, dtype="<f4").reshape(2, 3, 4))
    write(d, "f4-fortran-3d", npy_bytes(f))
    write(d, "i8-fortran-2d-be", npy_bytes(np.asfortranarray(np.arange(6, dtype=">i8").reshape(3, 2))))
    write(d, "f8-0d", npy_bytes(np.array(2.5)))
    write(d, "u2-empty", npy_bytes(np.zeros((0, 3), dtype="<u2")))
    write(d, "bool-odd-bytes", npy_bytes(np.array([0, 1, 2, 255], dtype="u1")).replace(b"'|u1'", b"'|b1'"))
    write(d, "c16-v2", npy_bytes(np.array([1 + 2j, -3j]), version=(2, 0)))
    write(d, "f4-v3", npy_bytes(np.array([1.0, 2.0], dtype="<f4"), version=(3, 0)))
    write(d, "unicode", npy_bytes(np.array(["ab", "c"])))
    write(d, "datetime", npy_bytes(np.array(["2024-01-01"], dtype="M8[D]")))
    write(d, "records", npy_bytes(np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8", (2,))])))
    write(d, "object", npy_bytes(np.array([1, "x", None], dtype=object)))
    # Misaligned data: a header of odd length (numpy reads it, never writes it).
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n"
    write(d, "f8-misaligned", raw_header(text) + np.arange(3.0).tobytes())
    text = "{'descr': '>c8', 'fortran_order': True, 'shape': (2, 1), } \n"
    write(d, "c8-be-misaligned", raw_header(text) + np.array([1 + 1j, 2 - 1j], ">c8").tobytes())
    # Truncated: the header promises more data than there is.
    write(d, "i4-truncated", npy_bytes(np.arange(8, dtype="<i4"))[:-5])


def save_npz_bytes(m, compressed):
    buf = io.BytesIO()
    sp.save_npz(buf, m, compressed=compressed)
    return buf.getvalue()


def gen_npz():
    d = out_dir("npz")
    rows = np.array([0, 2, 1, 0, 2])
    cols = np.array([1, 0, 2, 1, 3])
    vals = np.array([1.5, -2.0, 0.0, 4.0, -0.0])
    coo = sp.coo_array((vals, (rows, cols)), shape=(3, 4))
    for compressed in (True, False):
        tag = "deflate" if compressed else "stored"
        write(d, f"csc-f8-{tag}", save_npz_bytes(coo.tocsc(), compressed))
        write(d, f"csr-f8-{tag}", save_npz_bytes(coo.tocsr(), compressed))
        write(d, f"coo-dup-{tag}", save_npz_bytes(coo, compressed))
    write(d, "csc-matrix-f4", save_npz_bytes(sp.csc_matrix(coo.astype("<f4")), True))
    write(d, "csr-matrix-i2", save_npz_bytes(sp.csr_matrix(coo.astype("<i2")), False))
    write(d, "coo-matrix-u1", save_npz_bytes(sp.coo_matrix(coo.astype("u1")), True))
    write(d, "csr-bool", save_npz_bytes(coo.astype(bool).tocsr(), False))
    write(d, "csc-c16", save_npz_bytes((coo * (1 + 1j)).tocsc(), False))
    # Dtypes scipy does not build but save_npz writes and load_npz reads.
    for tag, dt in (("i8-be", ">i8"), ("f2", "<f2")):
        m = coo.tocsr()
        m.data = m.data.astype(dt)
        write(d, f"csr-{tag}", save_npz_bytes(m, False))
    m = coo.tocsr()
    m.indices = m.indices.astype(np.int64)
    m.indptr = m.indptr.astype(np.int64)
    write(d, "csr-int64-index", save_npz_bytes(m, False))
    # Unsorted indices within a row.
    u = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([3, 0, 1]), np.array([0, 3, 3])), shape=(2, 4))
    write(d, "csr-unsorted", save_npz_bytes(u, False))
    write(d, "csc-empty", save_npz_bytes(sp.csc_array((0, 0), dtype="<f8"), False))
    write(d, "coo-no-entries", save_npz_bytes(sp.coo_array((5, 7), dtype="<f4"), True))
    write(d, "regression-tiny-header", tiny_header_npz())
    bsr_dia_npz(d)
    parallel_npz(d)


def bsr_dia_npz(d):
    """A bsr array with two blocks sharing a block column, a dia matrix with
    explicit zeros and a diagonal partly outside it."""
    blocks = np.arange(1.0, 19.0).reshape(3, 2, 3)
    bsr = sp.bsr_array((blocks, np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(4, 6))
    write(d, "bsr-dup-deflate", save_npz_bytes(bsr, True))
    data = np.array([[4, 0, 0, 0], [1, 0, 3, 9], [5, 6, 0, 8]], dtype="<f4")
    dia = sp.dia_matrix((data, [-2, 0, 1]), shape=(3, 4))
    write(d, "dia-zeros-stored", save_npz_bytes(dia, False))


def parallel_npz(d):
    """Members of 256 KiB and more once inflated (the reader's two-thread
    paths) that deflate to a few KB, so that the fuzzer starts inside them:
    canonical and messy (reversed indices, duplicates), csc/csr/coo, int32
    and int64 indices."""
    n_rows, n_cols, step = 1000, 100, 3
    rows = np.tile(np.arange(0, n_rows, step), n_cols)
    cols = np.repeat(np.arange(n_cols), len(range(0, n_rows, step)))
    vals = np.ones(len(rows), dtype="<f4")
    coo = sp.coo_array((vals, (rows, cols)), shape=(n_rows, n_cols))
    write(d, "parallel-csc", save_npz_bytes(coo.tocsc(), True))
    write(d, "parallel-coo", save_npz_bytes(coo, True))
    m = coo.tocsr()
    m.indices = m.indices.astype(np.int64)
    m.indptr = m.indptr.astype(np.int64)
    write(d, "parallel-csr-int64-index", save_npz_bytes(m, True))
    messy = coo.tocsc()
    for c in range(n_cols):
        lo, hi = messy.indptr[c], messy.indptr[c + 1]
        messy.indices[lo:hi] = messy.indices[lo:hi][::-1]
    messy.indices[1] = messy.indices[0]  # a duplicate in the first column
    write(d, "parallel-csc-messy", save_npz_bytes(messy, True))


def tiny_header_npz():
    """Regression (README, Findings 1): a member whose header length is 0."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("format.npy", (2020, 1, 1, 0, 0, 0)), b"\x93NUMPY\x01\x00\x00\x00ab")
    return buf.getvalue()


def gen_recipe():
    d = out_dir("recipe")
    cases = rf.cases()
    keep = ["basic", "s2p_planes", "no_source", "ints", "floats", "misc", "shared", "numpy_scalars"]
    for name in keep:
        arr = np.array(cases[name], dtype=object)
        header = rf.npy_header(arr)
        for protocol in (2, 3, 4, 5):
            p = pickle.dumps(arr, protocol=protocol)
            if name in ("basic", "misc", "shared") or protocol in (2, 5):
                write(d, f"{name}-p{protocol}", header + p)
            if name in ("basic", "floats", "numpy_scalars") and protocol in (3, 4):
                write(d, f"{name}-p{protocol}-numpy1", header + rf.to_numpy1_module(p, protocol))
    write(d, "npsave-basic", rf.np_save_bytes(np.array(cases["basic"], dtype=object)))
    for name, (arr, _fault) in rf.not_recipes().items():
        write(d, f"not-{name}", rf.npy_header(arr) + pickle.dumps(arr, protocol=3))
    # Bare pickles: what decode_pickle reads.
    write(d, "pickle-dict-p2", pickle.dumps(cases["s2p_planes"], protocol=2))
    write(d, "pickle-misc-p4", pickle.dumps(cases["misc"], protocol=4))
    write(d, "pickle-list-p0", pickle.dumps([1, "a", (2.5, None), {"k": b"v"}], protocol=0))
    write(d, "pickle-int-p1", pickle.dumps([2**70, -1, True], protocol=1))


def gen_npy_header_diff():
    d = out_dir("npy_header_diff")
    src = os.path.join(HERE, "corpus", "npy_header")
    for name in sorted(os.listdir(src)):
        if name.startswith("seed-"):
            with open(os.path.join(src, name), "rb") as f:
                write(d, "header-" + name[len("seed-"):], f.read())
    for cls, text, version in DIFF_EXAMPLES:
        data = raw_header(text, version) if isinstance(text, str) else text
        write(d, "class-" + cls, data)


def H(descr, shape="(2,)", extra=""):
    return "{'descr': %s, 'fortran_order': False, 'shape': %s%s}" % (descr, shape, extra)


# One header per known class of difference between onedata and npyz; the
# numpy verdict of each is in README.md (checked by diff_oracle.py --examples).
DIFF_EXAMPLES = [
    ("py-literal-syntax", "{'descr': '<f4', # comment\n 'fortran_order': False, 'shape': (2L,)}", 1),
    ("latin1-header", H("[('\xe9', '<i4')]"), 1),
    ("descr-spelling", H("'f4'"), 1),
    ("descr-form", H("('<i4', (2,))"), 1),
    ("record-fields", H("[(('title', 'a'), '<i4'), ('b', '<i4', 2)]"), 1),
    ("npyz-panic", H("'|S0'", shape="(0, %d, %d)" % (2**40, 2**40)), 1),
    ("extra-key", H("'<f4'", extra=", 'x': 1"), 1),
    ("shape-list", H("'<f4'", shape="[2]"), 1),
    ("too-many-dims", H("'<f4'", shape="(" + "1," * 65 + ")"), 1),
    ("too-big", H("'<f8'", shape="(%d,)" % 2**62), 1),
    ("header-too-long", H("'<f4'") + " " * 10001, 2),
    ("itemsize-too-large", H("'|S3000000000'"), 1),
    ("duplicate-field", H("[('a', '<i4'), ('a', '<f4')]"), 1),
    ("py-literal-superset", H("'<f4'", shape="(1+1, 02)"), 1),
    ("latin1-names", H("[('\xc3\xa9', '<i4')]"), 1),
]


def main():
    gen_npy_file()
    gen_npz()
    gen_recipe()
    gen_npy_header_diff()
    for t in ("npy_file", "npz", "recipe", "npy_header_diff"):
        d = os.path.join(HERE, "corpus", t)
        seeds = [n for n in os.listdir(d) if n.startswith("seed-")]
        size = sum(os.path.getsize(os.path.join(d, n)) for n in seeds)
        print(f"{t}: {len(seeds)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
