#!/usr/bin/env python3
"""Stored sparse .npz files for tests/interop/sparse_stored.rs.

Usage: sparse_stored.py check DIR | sparse_stored.py gen DIR

check: DIR/manifest.json lists {aligned, plain}: .npz files onedata wrote
with the same matrix, `aligned` with 64-byte aligned member data, `plain` as
save_npz(..., compressed=False) writes it. Each aligned file must load with
scipy.sparse.load_npz exactly as its plain twin (class, shape, dtypes and the
bytes of indptr, indices and data), pass zipfile's testzip, be stored, and
have every member's data start at a multiple of 64 in the file. Prints
"N passed" or exits 1 listing the failures.

gen: writes files with scipy's save_npz(..., compressed=False) (one deflated)
into DIR, and for each the arrays it holds as native-endian .npy files
(NAME.indptr.npy, NAME.indices.npy, NAME.data.npy), and DIR/manifest.json
listing {file, format, descr, index, compressed}.
"""

import json
import os
import struct
import sys
import zipfile

import numpy as np
import scipy.sparse as sp


def member_data_offsets(path):
    out = {}
    with open(path, "rb") as f:
        raw = f.read()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            at = info.header_offset
            name_len, extra_len = struct.unpack("<HH", raw[at + 26:at + 30])
            start = at + 30 + name_len + extra_len
            major = raw[start + 6]
            if major == 1:
                (hlen,) = struct.unpack("<H", raw[start + 8:start + 10])
                head = 10 + hlen
            else:
                (hlen,) = struct.unpack("<I", raw[start + 8:start + 12])
                head = 12 + hlen
            out[info.filename] = (start + head, info.compress_type)
    return out


def check(d):
    with open(os.path.join(d, "manifest.json")) as f:
        entries = json.load(f)
    failures = []
    for e in entries:
        a_path = os.path.join(d, e["aligned"])
        p_path = os.path.join(d, e["plain"])
        errs = []
        a, p = sp.load_npz(a_path), sp.load_npz(p_path)
        if type(a) is not type(p):
            errs.append(f"class {type(a).__name__} vs {type(p).__name__}")
        if a.shape != p.shape:
            errs.append(f"shape {a.shape} vs {p.shape}")
        for what in ["indptr", "indices", "data"]:
            x, y = getattr(a, what), getattr(p, what)
            if x.dtype.str != y.dtype.str or x.tobytes() != y.tobytes():
                errs.append(f"{what} differs ({x.dtype.str} vs {y.dtype.str})")
        with np.load(a_path) as z, np.load(p_path) as w:
            if list(z.files) != list(w.files):
                errs.append(f"members {z.files} vs {w.files}")
        with zipfile.ZipFile(a_path) as zf:
            if zf.testzip() is not None:
                errs.append("testzip failed")
        for name, (off, method) in member_data_offsets(a_path).items():
            if method != zipfile.ZIP_STORED:
                errs.append(f"{name} is not stored")
            if off % 64:
                errs.append(f"{name}: data at {off}, not 64-aligned")
        if os.path.getsize(a_path) < os.path.getsize(p_path):
            errs.append("aligned file is smaller than the plain one")
        failures += [f"{e['aligned']}: {x}" for x in errs]
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"{len(entries)} passed")


def gen(d):
    rng = np.random.default_rng(7)
    manifest = []

    def save(name, m, compressed=False):
        path = os.path.join(d, name + ".npz")
        sp.save_npz(path, m, compressed=compressed)
        for what in ["indptr", "indices", "data"]:
            arr = getattr(m, what)
            np.save(os.path.join(d, f"{name}.{what}.npy"), arr.astype(arr.dtype.newbyteorder("=")))
        manifest.append({
            "file": name + ".npz",
            "format": m.format,
            "descr": m.data.dtype.newbyteorder("=").str,
            "index": m.indices.dtype.str,
            "compressed": compressed,
        })

    base = sp.random_array((300, 70), density=0.1, format="csc", dtype=np.float64, rng=rng)
    save("csc_f64", base)
    save("csr_f32", sp.csr_array(base.astype(np.float32)))
    save("csc_deflated", base, compressed=True)
    wide = sp.csr_array(base)
    wide.indices = wide.indices.astype(np.int64)
    wide.indptr = wide.indptr.astype(np.int64)
    save("csr_i64", wide)
    big = sp.csc_array(base)
    big.data = big.data.astype(">f8")
    save("csc_big_endian", big)
    c = sp.csr_array(base.astype(np.complex128) * (1 + 2j))
    save("csr_c128", c)
    # Unsorted lanes with a duplicate: kept as stored.
    dup = sp.csr_array((np.array([1.0, 2.0, 3.0, 4.0]), np.array([2, 0, 2, 1], np.int32),
                        np.array([0, 3, 3, 4], np.int32)), shape=(3, 4))
    save("csr_noncanonical", dup)
    save("csc_empty", sp.csc_array((0, 5), dtype=np.int8))
    save("csr_matrix_legacy", sp.csr_matrix(base.astype(np.int16)))
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    print(f"{len(manifest)} written")


if __name__ == "__main__":
    {"check": check, "gen": gen}[sys.argv[1]](sys.argv[2])
