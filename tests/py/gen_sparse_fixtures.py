#!/usr/bin/env python3
"""Writes the sparse .npz fixtures of tests/interop/sparse.rs.

Usage: gen_sparse_fixtures.py OUTDIR [all|matrices|malformed]

Loadable fixtures are written by scipy.sparse.save_npz (every format x class
x compression x index dtype x data dtype, canonical and messy), or by
numpy.savez where scipy cannot write them (float16, big-endian, unusual index
dtypes, str format); malformed ones are crafted here. OUTDIR/manifest.json:

  "scipy_version", "numpy_version"
  "matrices": one entry per loadable fixture
      file           fixture file name (in OUTDIR)
      format         "csc", "csr" or "coo" as stored
      is_array       whether the file has _is_array
      shape          [rows, cols]
      nnz            scipy's .nnz after load_npz (duplicates included)
      descr          numpy dtype.str of the data in native byte order
      sha256         onedata digest of scipy's toarray() (SHA-256 of the
                     C-order little-endian elements, booleans as 0/1);
                     null when the dense array is too large to make
      canonical      whether the stored entries are sorted and unique
                     (CSC/CSR: within each lane; COO: by row then column)
      canon_indptr, canon_indices
                     the canonical structure (sorted, duplicates merged),
                     CSC for csc files, CSR for csr and coo files
      canon_data_sha SHA-256 of the canonical data (as the digest), only
                     when no entry was duplicated (else null)
      index_kind     "i4" or "i8": what onedata keeps (both index members
                     int32 and small enough: i4)
      toarray_fortran
                     whether scipy's toarray() is Fortran- rather than
                     C-ordered; null where it is both (a dimension of 0 or
                     1) or scipy was not asked
  "malformed": [{file, fault}] files onedata must refuse; `fault` is the
               SparseError variant name expected
"""

import hashlib
import io
import json
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import scipy
import scipy.sparse as sp

CODES = ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8", "c8", "c16"]
SHAPE = (7, 5)


def digest(a):
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = (a != 0).astype("u1")
    return hashlib.sha256(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()).hexdigest()


def values(code, n, rng):
    dt = np.dtype(code)
    if code == "b1":
        v = rng.integers(0, 2, n).astype(bool)
        v[: min(n, 2)] = True
        return v
    if code[0] in "iu":
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, n, endpoint=True, dtype=dt)
        special = [info.max, info.min, 1, 0, info.max - 1]
        v[: min(n, len(special))] = special[: min(n, len(special))]
        return v
    if code[0] == "f":
        v = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dt)
        fi = np.finfo(dt)
        special = [-0.0, np.nan, np.inf, -np.inf, float(fi.tiny) / 2, float(fi.max), -1.5]
        v[: min(n, len(special))] = np.array(special, dtype=dt)[: min(n, len(special))]
        return v
    real = "f4" if code == "c8" else "f8"
    re, im = values(real, n, rng), values(real, n, rng)[::-1].copy()
    return (re + 1j * im).astype(dt)


def entries(rng, shape, n, duplicates):
    """n (row, col) pairs, unique unless `duplicates`, in random order."""
    rows, cols = shape
    cells = rows * cols
    if cells == 0 or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = rng.choice(cells, size=min(n, cells), replace=False)
    if duplicates:
        flat = np.concatenate([flat, flat[: max(1, len(flat) // 3)], flat[:1]])
        rng.shuffle(flat)
    return flat // cols, flat % cols


def compressed_arrays(fmt, shape, r, c, d, sort):
    """indptr, indices, data of a CSC/CSR matrix holding the (r, c, d)
    entries in the given order within each lane (`sort`: sorted by index)."""
    major, minor = (c, r) if fmt == "csc" else (r, c)
    nmajor = shape[1] if fmt == "csc" else shape[0]
    order = np.lexsort((minor, major)) if sort else np.argsort(major, kind="stable")
    indptr = np.zeros(nmajor + 1, np.int64)
    np.add.at(indptr, major + 1, 1)
    return np.cumsum(indptr), minor[order], d[order]


def canonical_of(fmt, shape, r, c, d):
    """(canonical flag, indptr, indices, data or None) of the entries, as
    onedata keeps them: CSC for csc, CSR for csr and coo."""
    storage = "csc" if fmt == "csc" else "csr"
    major, minor = (c, r) if storage == "csc" else (r, c)
    nmajor = shape[1] if storage == "csc" else shape[0]
    nminor = shape[0] if storage == "csc" else shape[1]
    keys = major.astype(np.int64) * max(1, nminor) + minor
    # Entries come lane by lane (CSC/CSR) or in any order (COO): canonical
    # when the keys strictly increase.
    canonical = bool(np.all(np.diff(keys) > 0))
    uniq, inverse = np.unique(keys, return_inverse=True)
    dup = len(uniq) != len(keys)
    u_major = uniq // max(1, nminor)
    u_minor = uniq % max(1, nminor)
    indptr = np.zeros(nmajor + 1, np.int64)
    np.add.at(indptr, u_major + 1, 1)
    indptr = np.cumsum(indptr)
    data_sha = None
    if not dup:
        order = np.argsort(keys, kind="stable")
        data_sha = digest(d[order])
    return canonical, indptr.tolist(), u_minor.tolist(), data_sha


def expected_dense(shape, r, c, d):
    """scipy's toarray: zeros, then every entry added in stored order."""
    out = np.zeros(shape, dtype=d.dtype)
    if d.dtype == np.bool_:
        np.logical_or.at(out, (r, c), d)
    else:
        with np.errstate(all="ignore"):
            np.add.at(out, (r, c), d)
    return out


def build(cls_fmt, is_array, shape, r, c, d, sort):
    cls = getattr(sp, f"{cls_fmt}_{'array' if is_array else 'matrix'}")
    if cls_fmt == "coo":
        return cls((d, (r, c)), shape=shape)
    indptr, indices, data = compressed_arrays(cls_fmt, shape, r, c, d, sort)
    return cls((data, indices, indptr), shape=shape)


def set_index_dtype(m, dt):
    if m.format == "coo":
        if hasattr(m, "coords"):
            m.coords = tuple(x.astype(dt) for x in m.coords)
        else:
            m.row, m.col = m.row.astype(dt), m.col.astype(dt)
    else:
        m.indices = m.indices.astype(dt)
        m.indptr = m.indptr.astype(dt)


def raw_members(m):
    """The members save_npz writes for m, as a dict."""
    out = {}
    if m.format in ("csc", "csr"):
        out.update(indices=m.indices, indptr=m.indptr)
    else:
        out.update(row=m.row, col=m.col)
    out.update(format=m.format.encode("ascii"), shape=m.shape, data=m.data)
    if isinstance(m, sp.sparray):
        out["_is_array"] = True
    return out


class Out:
    def __init__(self, outdir):
        self.outdir = outdir
        self.matrices = []
        self.malformed = []
        self.n = 0

    def path(self, name):
        return os.path.join(self.outdir, name)

    def add(self, name, fmt, is_array, shape, r, c, d, index_kind, check_scipy=True):
        """Records a loadable fixture already written to `name`, checking
        scipy loads it with the expected nnz and dense values."""
        dense = expected_dense(shape, r, c, d)
        nnz = len(d)
        fortran = None
        if check_scipy:
            loaded = sp.load_npz(self.path(name))
            assert loaded.format == fmt, (name, loaded.format)
            assert isinstance(loaded, sp.sparray) == is_array, name
            nnz = int(loaded.nnz)
            got = loaded.toarray()
            if got.flags.f_contiguous != got.flags.c_contiguous:  # else both: any order
                fortran = bool(got.flags.f_contiguous)
            got = got.astype(got.dtype.newbyteorder("="))
            assert got.dtype == dense.dtype, (name, got.dtype, dense.dtype)
            # numpy's add.at may pick another NaN's payload than scipy's
            # sparsetools when NaNs meet: scipy is the reference.
            assert np.array_equal(got, dense, equal_nan=(got.dtype.kind in "fc")), name
            dense = got
        canonical, indptr, indices, data_sha = canonical_of(fmt, shape, r, c, d)
        self.matrices.append(dict(
            file=name, format=fmt, is_array=is_array, shape=list(shape), nnz=nnz,
            descr=np.dtype(d.dtype).newbyteorder("=").str, sha256=digest(dense),
            canonical=canonical, canon_indptr=indptr, canon_indices=indices,
            canon_data_sha=data_sha, index_kind=index_kind, toarray_fortran=fortran,
        ))

    def bad(self, name, fault):
        self.malformed.append(dict(file=name, fault=fault))


def scipy_fixture(out, rng, fmt, is_array, compressed, idx, code, case, shape, n, tag=""):
    """One fixture written by save_npz, recorded with the order scipy stored
    its entries in."""
    r, c = entries(rng, shape, n, duplicates=(case == "messy"))
    if case == "canon" and fmt == "coo":
        order = np.lexsort((c, r))
        r, c = r[order], c[order]
    d = values(code, len(r), rng)
    m = build(fmt, is_array, shape, r, c, d, sort=(case != "messy"))
    set_index_dtype(m, np.dtype(idx))
    name = f"{fmt}_{'array' if is_array else 'matrix'}_{'z' if compressed else 's'}_{idx}_{code}_{case}{tag}.npz"
    sp.save_npz(out.path(name), m, compressed=compressed)
    members = np.load(out.path(name))
    assert members["data"].dtype == np.dtype(code)
    key = "indices" if fmt != "coo" else "row"
    assert members[key].dtype == np.dtype(idx), (name, members[key].dtype)
    # the order scipy stored them in
    if fmt == "coo":
        sr, sc, sd = members["row"], members["col"], members["data"]
    else:
        ip, ix = members["indptr"], members["indices"]
        lanes = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
        sr, sc = (ix, lanes) if fmt == "csc" else (lanes, ix)
        sd = members["data"]
    out.add(name, fmt, is_array, shape, sr.astype(np.int64), sc.astype(np.int64), sd, idx)


def scipy_fixtures(out):
    rng = np.random.default_rng(20240612)
    for fmt in ["csc", "csr", "coo"]:
        for is_array in [True, False]:
            for compressed in [True, False]:
                for idx in ["i4", "i8"]:
                    for code in CODES:
                        for case in ["canon", "messy", "empty", "zero_rows", "zero_cols"]:
                            if case in ("zero_rows", "zero_cols") and (code not in ("f8", "b1") or idx == "i8"):
                                continue
                            shape = {"zero_rows": (0, 4), "zero_cols": (4, 0)}.get(case, SHAPE)
                            n = {"canon": 12, "messy": 10}.get(case, 0)
                            scipy_fixture(out, rng, fmt, is_array, compressed, idx, code, case, shape, n)
    # Large enough that values and indices are inflated in one call each and
    # on two threads, with the structure checked while the values finish.
    for fmt in ["csc", "csr", "coo"]:
        for compressed in [True, False]:
            for idx in ["i4", "i8"]:
                for code in ["f4", "c16", "b1"]:
                    for case in ["canon", "messy"]:
                        scipy_fixture(out, rng, fmt, True, compressed, idx, code, case, (2000, 300), 100_000, "_large")


def savez(path, compressed=True, **members):
    (np.savez_compressed if compressed else np.savez)(path, **members)


def handmade_fixtures(out):
    """Loadable files scipy does not write itself."""
    rng = np.random.default_rng(7)
    r, c = entries(rng, SHAPE, 9, duplicates=True)
    # float16 data: scipy loads it but cannot densify it.
    d = values("f4", len(r), rng).astype("f2")
    d[np.isnan(d)] = 2.5  # NaN payloads meeting in a sum: no reference to compare with
    ip, ix, dd = compressed_arrays("csc", SHAPE, r, c, d, sort=False)
    lanes = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
    savez(out.path("hand_csc_f2.npz"), indices=ix.astype("i4"), indptr=ip.astype("i4"),
          format=b"csc", shape=SHAPE, data=dd, _is_array=True)
    out.add("hand_csc_f2.npz", "csc", True, SHAPE, ix, lanes, dd, "i4", check_scipy=False)
    savez(out.path("hand_coo_f2.npz"), row=r.astype("i4"), col=c.astype("i4"),
          format=b"coo", shape=SHAPE, data=d)
    out.add("hand_coo_f2.npz", "coo", False, SHAPE, r, c, d, "i4", check_scipy=False)
    # big-endian members
    d = values("f8", len(r), rng)
    ip, ix, dd = compressed_arrays("csr", SHAPE, r, c, d, sort=False)
    lanes = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
    savez(out.path("hand_csr_bigendian.npz"), indices=ix.astype(">i4"), indptr=ip.astype(">i4"),
          format=b"csr", shape=np.array(SHAPE, ">i8"), data=dd.astype(">f8"), _is_array=True)
    out.add("hand_csr_bigendian.npz", "csr", True, SHAPE, lanes, ix, dd, "i4")
    savez(out.path("hand_coo_bigendian_c16.npz"), compressed=False, row=r.astype(">i8"),
          col=c.astype(">i2"), format=b"coo", shape=np.array(SHAPE, ">u2"),
          data=np.nan_to_num(values("c16", len(r), rng), nan=1.0).astype(">c16"))
    dd = np.load(out.path("hand_coo_bigendian_c16.npz"))["data"].astype("c16")
    # scipy refuses big-endian complex COO data; numpy is the reference
    out.add("hand_coo_bigendian_c16.npz", "coo", False, SHAPE, r, c, dd, "i8", check_scipy=False)
    # unusual index dtypes, mixed; an old-style str format; int32 shape
    d = values("i2", len(r), rng)
    ip, ix, dd = compressed_arrays("csc", SHAPE, r, c, d, sort=True)
    lanes = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
    savez(out.path("hand_csc_u2_indices.npz"), indices=ix.astype("u2"), indptr=ip.astype("u8"),
          format=np.array("csc"), shape=np.array(SHAPE, "i4"), data=dd)
    out.add("hand_csc_u2_indices.npz", "csc", False, SHAPE, ix, lanes, dd, "i8")
    savez(out.path("hand_csr_mixed.npz"), indices=ix.astype("i4"), indptr=ip.astype("i8"),
          format=b"csc", shape=SHAPE, data=dd)
    out.add("hand_csr_mixed.npz", "csc", False, SHAPE, ix, lanes, dd, "i8")
    # indptr ends before the stored entries: scipy prunes the tail
    d = values("f8", 5, rng)
    savez(out.path("hand_csc_pruned.npz"), indices=np.array([0, 2, 1, 6, 6], "i4"),
          indptr=np.array([0, 2, 2, 3, 3, 3], "i4"), format=b"csc", shape=SHAPE, data=d,
          _is_array=True)
    loaded = sp.load_npz(out.path("hand_csc_pruned.npz"))
    assert loaded.nnz == 3
    out.add("hand_csc_pruned.npz", "csc", True, SHAPE, np.array([0, 2, 1]),
            np.array([0, 0, 2]), d[:3], "i4")
    # a zip comment, as zipfile allows (bytes before the archive numpy refuses)
    src = out.path("csc_array_z_i4_f8_canon.npz")
    with open(src, "rb") as f:
        blob = f.read()
    with open(out.path("hand_commented.npz"), "wb") as f:
        f.write(blob[:-2] + struct.pack("<H", 11) + b"hello there")
    assert sp.load_npz(out.path("hand_commented.npz")).nnz == 12
    base = next(m for m in out.matrices if m["file"] == "csc_array_z_i4_f8_canon.npz")
    out.matrices.append(dict(base, file="hand_commented.npz"))
    # a shape too large to densify, with no entries
    big = sp.csr_matrix((3, 2**40), dtype=np.float32)
    sp.save_npz(out.path("hand_huge_empty.npz"), big)
    out.matrices.append(dict(
        file="hand_huge_empty.npz", format="csr", is_array=False, shape=[3, 2**40], nnz=0,
        descr="<f4", sha256=None, canonical=True, canon_indptr=[0, 0, 0, 0], canon_indices=[],
        canon_data_sha=digest(np.zeros(0, np.float32)), index_kind="i8", toarray_fortran=None))


# --- hand-made zips -------------------------------------------------------


def npy_bytes(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(a), allow_pickle=True)
    return buf.getvalue()


def raw_deflate(b, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


def make_zip(path, members, trailer=b""):
    """members: list of dicts with name, data (uncompressed), and optional
    method (0/8), payload (the compressed bytes as written), crc, usize,
    csize (as recorded), flags."""
    out = bytearray()
    central = bytearray()
    for m in members:
        name = m["name"].encode()
        raw = m["data"]
        method = m.get("method", 8)
        payload = m.get("payload", raw_deflate(raw) if method == 8 else raw)
        crc = m.get("crc", zlib.crc32(raw))
        usize = m.get("usize", len(raw))
        csize = m.get("csize", len(payload))
        flags = m.get("flags", 0)
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, usize, csize)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, flags, method, 0, 0x21, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra)) + name + extra + payload
        cextra = struct.pack("<HHQQQ", 1, 24, usize, csize, offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x032D, 45, flags, method, 0, 0x21,
                               crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(cextra), 0, 0, 0,
                               0o600 << 16, 0xFFFFFFFF) + name + cextra
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                       cd_offset, 0)
    with open(path, "wb") as f:
        f.write(bytes(out) + trailer)


def good_members(fmt="csc", **override):
    r, c = np.array([0, 2, 1, 6]), np.array([0, 0, 3, 4])
    d = np.array([1.0, 2.0, 3.0, 4.0])
    if fmt == "coo":
        arrays = dict(row=r.astype("i4"), col=c.astype("i4"))
    else:
        ip, ix, _ = compressed_arrays(fmt, SHAPE, r, c, d, sort=True)
        arrays = dict(indices=ix.astype("i4"), indptr=ip.astype("i4"))
    arrays.update(format=fmt.encode(), shape=np.array(SHAPE), data=d, _is_array=np.array(True))
    arrays.update(override)
    return [dict(name=k + ".npy", data=npy_bytes(v)) for k, v in arrays.items() if v is not None]


def malformed_fixtures(out):
    def bad_zip(name, fault, members, **kw):
        make_zip(out.path(name), members, **kw)
        out.bad(name, fault)

    # the hand-made writer itself makes loadable files
    make_zip(out.path("hand_zip_ok.npz"), good_members())
    assert sp.load_npz(out.path("hand_zip_ok.npz")).nnz == 4
    make_zip(out.path("hand_zip_ok_coo.npz"), good_members("coo"))
    assert sp.load_npz(out.path("hand_zip_ok_coo.npz")).nnz == 4
    r, c, d = np.array([0, 2, 1, 6]), np.array([0, 0, 3, 4]), np.array([1.0, 2.0, 3.0, 4.0])
    out.add("hand_zip_ok.npz", "csc", True, SHAPE, r, c, d, "i4")
    out.add("hand_zip_ok_coo.npz", "coo", True, SHAPE, r, c, d, "i4")

    good = out.path("csc_array_z_i4_f8_canon.npz")
    with open(good, "rb") as f:
        blob = f.read()
    stored = out.path("csc_array_s_i4_f8_canon.npz")
    with open(stored, "rb") as f:
        sblob = f.read()

    def write(name, data, fault):
        with open(out.path(name), "wb") as f:
            f.write(data)
        out.bad(name, fault)

    write("bad_empty.npz", b"", "NotZip")
    write("bad_text.npz", b"this is not a zip archive at all, just some text\n" * 3, "NotZip")
    write("bad_npy_renamed.npz", npy_bytes(np.arange(100.0)), "NotZip")
    write("bad_truncated_half.npz", blob[: len(blob) // 2], "NotZip")
    write("bad_truncated_end.npz", blob[:-5], "NotZip")
    # directory intact, data cut away: the offsets point past the end
    cd = blob.rfind(b"PK\x01\x02")
    first_cd = blob.find(b"PK\x01\x02")
    write("bad_truncated_data.npz", blob[:200] + blob[first_cd:], "BadZip")
    # CRC of stored data: flip a bit of data.npy's first element
    flipped = bytearray(sblob)
    pos = sblob.index(b"'descr': '<f8'")
    pos = sblob.index(b"\n", pos) + 1
    flipped[pos + 3] ^= 0x01
    write("bad_crc.npz", bytes(flipped), "CrcMismatch")
    write("bad_prefixed.npz", b"#!stub\n" * 10 + blob, "NotZip")

    for missing, fault_member in [("indptr", "indptr"), ("format", "format"), ("shape", "shape"),
                                  ("data", "data"), ("indices", "indices")]:
        bad_zip(f"bad_missing_{missing}.npz", "MissingMember", good_members(**{missing: None}))
    bad_zip("bad_missing_col.npz", "MissingMember", good_members("coo", col=None))
    bad_zip("bad_dtype_indices_float.npz", "MemberDtype",
            good_members(indices=np.array([0.0, 2.0, 0.0, 6.0])))
    bad_zip("bad_dtype_indptr_bool.npz", "MemberDtype", good_members(indptr=np.ones(6, bool)))
    bad_zip("bad_dtype_data_object.npz", "MemberDtype",
            good_members(data=np.array([1, "a", None, 2.0], dtype=object)))
    bad_zip("bad_dtype_data_str.npz", "MemberDtype", good_members(data=np.array(["a", "b", "c", "d"])))
    bad_zip("bad_dtype_shape_float.npz", "MemberDtype", good_members(shape=np.array([7.0, 5.0])))
    bad_zip("bad_dtype_format_int.npz", "MemberDtype", good_members(format=np.array(3)))
    bad_zip("bad_dtype_data_longdouble.npz", "MemberDtype",
            good_members(data=np.array([1, 2, 3, 4], dtype=np.longdouble)))
    bad_zip("bad_shape_data_2d.npz", "MemberShape", good_members(data=np.ones((2, 2))))
    bad_zip("bad_shape_format_2.npz", "MemberShape", good_members(format=np.array([b"csc", b"csr"])))
    bad_zip("bad_indptr_start.npz", "BadIndptr",
            good_members(indptr=np.array([1, 2, 2, 2, 3, 4], "i4")))
    bad_zip("bad_indptr_decreasing.npz", "BadIndptr",
            good_members(indptr=np.array([0, 3, 2, 2, 3, 4], "i4")))
    bad_zip("bad_indptr_end.npz", "BadIndptr",
            good_members(indptr=np.array([0, 2, 2, 2, 3, 5], "i4")))
    bad_zip("bad_indptr_length.npz", "BadIndptr",
            good_members(indptr=np.array([0, 2, 2, 3, 4], "i4")))
    bad_zip("bad_indptr_negative.npz", "BadIndptr",
            good_members(indptr=np.array([0, -1, 2, 2, 3, 4], "i4")))
    bad_zip("bad_index_oob.npz", "IndexOutOfBounds",
            good_members(indices=np.array([0, 7, 1, 6], "i4")))
    bad_zip("bad_index_negative.npz", "IndexOutOfBounds",
            good_members(indices=np.array([0, 2, -1, 6], "i4")))
    bad_zip("bad_index_oob_i8.npz", "IndexOutOfBounds",
            good_members(indices=np.array([0, 2, 2**40, 6], "i8"), indptr=np.array([0, 2, 2, 2, 3, 4])))
    bad_zip("bad_index_u8_huge.npz", "IndexOutOfBounds",
            good_members(indices=np.array([0, 2, 2**63 + 5, 6], "u8")))
    bad_zip("bad_coo_row_oob.npz", "IndexOutOfBounds",
            good_members("coo", row=np.array([0, 7, 1, 6], "i4")))
    bad_zip("bad_coo_col_negative.npz", "IndexOutOfBounds",
            good_members("coo", col=np.array([0, 0, -3, 4], "i4")))
    bad_zip("bad_shape_negative.npz", "BadShape", good_members(shape=np.array([-7, 5])))
    bad_zip("bad_shape_3d.npz", "BadShape", good_members(shape=np.array([7, 5, 2])))
    bad_zip("bad_shape_1d.npz", "BadShape", good_members(shape=np.array([7])))
    bad_zip("bad_shape_0d.npz", "MemberShape", good_members(shape=np.array(7)))
    # a COO shape bomb: four entries claiming 2**40 rows (the CSR index
    # pointer onedata builds would take 8 TiB); scipy keeps COO lazily
    bad_zip("bad_coo_huge_rows.npz", "TooLarge", good_members("coo", shape=np.array([2**40, 5])))
    bad_zip("bad_format_dia.npz", "UnsupportedFormat", good_members(format=b"dia"))
    bad_zip("bad_format_bsr.npz", "UnsupportedFormat", good_members(format=b"bsr"))
    bad_zip("bad_format_xyz.npz", "UnknownFormat", good_members(format=b"xyz"))
    bad_zip("bad_format_empty.npz", "UnknownFormat", good_members(format=b""))
    bad_zip("bad_length_mismatch.npz", "LengthMismatch",
            good_members(data=np.array([1.0, 2.0, 3.0])))
    bad_zip("bad_coo_length_mismatch.npz", "LengthMismatch",
            good_members("coo", col=np.array([0, 0, 3], "i4")))

    # a member whose header and size disagree
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data["data"] = npy_bytes(np.arange(10.0))[:-40]  # header says 10 elements, 5 are there
    bad_zip("bad_member_short.npz", "MemberSizeMismatch", members)
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data["data"] = npy_bytes(np.arange(4.0)) + b"\0" * 16  # 2 elements more than the header says
    bad_zip("bad_member_long.npz", "MemberSizeMismatch", members)
    # the directory says one size, the deflate stream holds more
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    raw = data["data"]
    data["payload"] = raw_deflate(raw + b"\0" * 800)
    data["crc"] = zlib.crc32(raw)
    bad_zip("bad_stream_longer.npz", "MemberSizeMismatch", members)
    # ... or less
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data["usize"] = len(data["data"]) + 16
    bad_zip("bad_stream_shorter.npz", "MemberSizeMismatch", members)
    # corrupt deflate data
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    payload = bytearray(raw_deflate(data["data"]))
    payload[len(payload) // 2:] = b"\xff" * (len(payload) - len(payload) // 2)
    data["payload"] = bytes(payload)
    bad_zip("bad_deflate_corrupt.npz", "Decompress", members)
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data["payload"] = raw_deflate(data["data"])[:-8]
    bad_zip("bad_deflate_truncated.npz", "Decompress", members)
    # stored member whose sizes disagree
    members = good_members()
    for m in members:
        m["method"] = 0
    data = next(m for m in members if m["name"] == "data.npy")
    data["usize"] = len(data["data"]) * 1000
    bad_zip("bad_stored_size.npz", "ImplausibleSize", members)
    # unsupported compression, encryption, a bad npy header inside
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data["method"] = 12
    data["payload"] = data["data"]
    bad_zip("bad_method_bzip2.npz", "UnsupportedCompression", members)
    members = good_members()
    next(m for m in members if m["name"] == "data.npy")["flags"] = 1
    bad_zip("bad_encrypted.npz", "UnsupportedCompression", members)
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data["data"] = b"\x93NUMPX" + data["data"][6:]
    bad_zip("bad_member_magic.npz", "MemberHeader", members)

    # zip bombs. A deflate member claiming a gigantic size it cannot hold:
    big_n = 2**37
    head = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    head["shape"] = (big_n,)
    hbuf = io.BytesIO()
    np.lib.format.write_array_header_1_0(hbuf, head)
    hdr = hbuf.getvalue()
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data["data"] = hdr + b"\0" * 4096
    data["usize"] = len(hdr) + 8 * big_n
    bad_zip("bad_bomb_claim.npz", "ImplausibleSize", members)
    # ... and the same with indices claiming as much (consistent lengths)
    head_i = dict(head, descr="<i4")
    hbuf = io.BytesIO()
    np.lib.format.write_array_header_1_0(hbuf, head_i)
    members = good_members()
    idx = next(m for m in members if m["name"] == "indices.npy")
    idx["data"] = hbuf.getvalue() + b"\0" * 4096
    idx["usize"] = len(hbuf.getvalue()) + 4 * big_n
    data = next(m for m in members if m["name"] == "data.npy")
    data["data"] = hdr + b"\0" * 4096
    data["usize"] = len(hdr) + 8 * big_n
    bad_zip("bad_bomb_consistent.npz", "ImplausibleSize", members)
    # A highly compressed, honestly sized huge member (200 MB of zeros,
    # about 200 KB deflated) whose length disagrees with indices: refused
    # from the headers, before anything is inflated.
    huge = 25_000_000
    head["shape"] = (huge,)
    hbuf = io.BytesIO()
    np.lib.format.write_array_header_1_0(hbuf, head)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)  # about 1029:1
    payload = comp.compress(hbuf.getvalue())
    chunk = b"\0" * (1 << 20)
    crc = zlib.crc32(hbuf.getvalue())
    left = huge * 8
    while left:
        n = min(left, len(chunk))
        payload += comp.compress(chunk[:n])
        crc = zlib.crc32(chunk[:n], crc)
        left -= n
    payload += comp.flush()
    members = good_members()
    data = next(m for m in members if m["name"] == "data.npy")
    data.update(data=hbuf.getvalue(), payload=payload, crc=crc, usize=len(hbuf.getvalue()) + huge * 8)
    usize = len(hbuf.getvalue()) + huge * 8
    plausible = usize <= len(payload) * 1032 + 1024
    bad_zip("bad_bomb_huge_member.npz", "LengthMismatch" if plausible else "ImplausibleSize", members)


def main():
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    outdir = sys.argv[1]
    which = sys.argv[2] if len(sys.argv) > 2 else "all"
    os.makedirs(outdir, exist_ok=True)
    out = Out(outdir)
    if which in ("all", "matrices"):
        scipy_fixtures(out)
        handmade_fixtures(out)
    if which in ("all", "malformed"):
        if which == "malformed":
            base_fixtures(out)
        malformed_fixtures(out)
    manifest = dict(scipy_version=scipy.__version__, numpy_version=np.__version__,
                    matrices=out.matrices, malformed=out.malformed)
    # json.dumps writes the same text as json.dump, with the C encoder: the
    # large fixtures' structure makes the manifest tens of MB.
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        f.write(json.dumps(manifest))
    print(f"{len(out.matrices)} matrices, {len(out.malformed)} malformed")


def base_fixtures(out):
    """The two scipy files the malformed ones are cut from."""
    rng = np.random.default_rng(1)
    r, c = entries(rng, SHAPE, 12, duplicates=False)
    d = values("f8", len(r), rng)
    m = build("csc", True, SHAPE, r, c, d, sort=True)
    sp.save_npz(out.path("csc_array_z_i4_f8_canon.npz"), m, compressed=True)
    sp.save_npz(out.path("csc_array_s_i4_f8_canon.npz"), m, compressed=False)


if __name__ == "__main__":
    main()
