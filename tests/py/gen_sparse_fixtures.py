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
      format         "csc", "csr", "coo", "bsr" or "dia" as stored
      is_array       whether the file has _is_array
      shape          [rows, cols]
      nnz            scipy's .nnz after load_npz (duplicates included; for
                     dia, scipy's count from the offsets, 0 where negative)
      descr          numpy dtype.str of the data in native byte order
      sha256         onedata digest of scipy's toarray() (SHA-256 of the
                     C-order little-endian elements, booleans as 0/1);
                     null when the dense array is too large to make
      canonical      whether the stored entries are sorted and unique
                     (CSC/CSR: within each lane; COO: by row then column)
      canon_indptr, canon_indices
                     the canonical structure (sorted, duplicates merged),
                     CSC for csc and dia files (dia: scipy's tocsc()), CSR
                     for csr, coo and bsr files (bsr: scipy's tocsr())
      csr_indptr, csr_indices
                     dia files only: the structure of scipy's tocsr(),
                     sorted (absent for other formats)
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


# --- bsr and dia ------------------------------------------------------------

BD_CODES = ["f4", "f8", "i4", "c16", "b1"]


def add_scipy_reference(out, name, fmt, is_array):
    """Records a bsr or dia fixture with scipy as the whole reference:
    toarray() for the dense values, tocsr() (bsr) or tocsc() (dia) for the
    structure onedata keeps."""
    loaded = sp.load_npz(out.path(name))
    assert loaded.format == fmt, (name, loaded.format)
    assert isinstance(loaded, sp.sparray) == is_array, name
    got = loaded.toarray()
    fortran = None
    if got.flags.f_contiguous != got.flags.c_contiguous:
        fortran = bool(got.flags.f_contiguous)
    got = got.astype(got.dtype.newbyteorder("="))
    if fmt == "bsr":
        held = loaded.tocsr()
        ip, ix = loaded.indptr, loaded.indices
        canonical = all(bool(np.all(np.diff(ix[ip[k]:ip[k + 1]]) > 0)) for k in range(len(ip) - 1))
    else:
        held = loaded.tocsc()
        canonical = True
    if fmt == "bsr":
        # onedata's rule, as for csr files: int32 when both index members
        # are (scipy's load_npz narrows int64 members whose values fit)
        members = np.load(out.path(name))
        narrow = all(members[k].dtype == np.dtype("i4") for k in ("indices", "indptr"))
        index_kind = "i4" if narrow else "i8"
    else:
        index_kind = held.indices.dtype.str[1:]
    h = held.copy()
    h.sum_duplicates()
    dup = h.nnz != held.nnz
    entry = dict(
        file=name, format=fmt, is_array=is_array, shape=list(loaded.shape),
        nnz=max(0, int(loaded.nnz)), descr=got.dtype.str, sha256=digest(got),
        canonical=canonical, canon_indptr=h.indptr.tolist(), canon_indices=h.indices.tolist(),
        canon_data_sha=None if dup else digest(h.data), index_kind=index_kind,
        toarray_fortran=fortran)
    if fmt == "dia":
        c = loaded.tocsr()
        c.sort_indices()
        entry.update(csr_indptr=c.indptr.tolist(), csr_indices=c.indices.tolist())
    out.matrices.append(entry)


def bsr_arrays(rng, shape, blocksize, nblocks, case):
    """data, indices, indptr of a bsr matrix: `canon` sorted unique blocks;
    `messy` unsorted, with block columns repeated in a block row and an
    all-zero block."""
    R, C = blocksize
    brows, bcols = shape[0] // R, shape[1] // C
    if case == "empty" or brows * bcols == 0:
        return None
    cells = rng.choice(brows * bcols, size=min(nblocks, brows * bcols), replace=False)
    if case == "messy":
        cells = np.concatenate([cells, cells[: max(1, len(cells) // 3)]])
        rng.shuffle(cells)
    br, bc = cells // bcols, cells % bcols
    order = np.lexsort((bc, br)) if case == "canon" else np.argsort(br, kind="stable")
    br, bc = br[order], bc[order]
    indptr = np.zeros(brows + 1, np.int64)
    np.add.at(indptr, br + 1, 1)
    return np.cumsum(indptr), bc, len(bc)


def bsr_fixture(out, rng, is_array, compressed, idx, code, case, shape, blocksize, nblocks, tag=""):
    cls = sp.bsr_array if is_array else sp.bsr_matrix
    arrays = bsr_arrays(rng, shape, blocksize, nblocks, case)
    if arrays is None:
        m = cls(shape, blocksize=blocksize, dtype=np.dtype(code))
    else:
        indptr, indices, n = arrays
        data = values(code, n * blocksize[0] * blocksize[1], rng).reshape(n, *blocksize)
        if case == "messy" and n > 1:
            data[1] = 0  # an explicit zero block
        m = cls((data, indices, indptr), shape=shape)
    m.indices = m.indices.astype(idx)
    m.indptr = m.indptr.astype(idx)
    bs = "x".join(map(str, blocksize))
    name = f"bsr_{'array' if is_array else 'matrix'}_{'z' if compressed else 's'}_{idx}_{code}_{case}_{bs}{tag}.npz"
    sp.save_npz(out.path(name), m, compressed=compressed)
    members = np.load(out.path(name))
    assert members["data"].dtype == np.dtype(code) and members["data"].ndim == 3, name
    assert members["indices"].dtype == np.dtype(idx), name
    add_scipy_reference(out, name, "bsr", is_array)


def dia_fixture(out, rng, is_array, compressed, idx, code, case, shape, length, offsets, tag=""):
    cls = sp.dia_array if is_array else sp.dia_matrix
    if case == "empty":
        m = cls(shape, dtype=np.dtype(code))
    else:
        offsets = np.array(offsets)
        data = values(code, len(offsets) * length, rng).reshape(len(offsets), length)
        if case == "zeros" and data.size:
            data.flat[::3] = 0  # explicit zeros, dropped by tocsc
        m = cls((data, offsets), shape=shape)
    m.offsets = m.offsets.astype(idx)
    name = f"dia_{'array' if is_array else 'matrix'}_{'z' if compressed else 's'}_{idx}_{code}_{case}_{shape[0]}x{shape[1]}_L{length}{tag}.npz"
    sp.save_npz(out.path(name), m, compressed=compressed)
    members = np.load(out.path(name))
    assert members["data"].dtype == np.dtype(code), name
    assert members["offsets"].dtype == np.dtype(idx), name
    add_scipy_reference(out, name, "dia", is_array)


def bsr_dia_fixtures(out):
    rng = np.random.default_rng(20261201)
    for is_array in [True, False]:
        for compressed in [True, False]:
            for idx in ["i4", "i8"]:
                for code in BD_CODES:
                    for case in ["canon", "messy", "empty"]:
                        for blocksize in [(1, 1), (2, 3), (3, 4), (6, 12)]:
                            if case == "empty" and blocksize != (2, 3):
                                continue
                            bsr_fixture(out, rng, is_array, compressed, idx, code, case, (6, 12), blocksize, 5)
                    for case in ["random", "zeros", "empty"]:
                        for shape, length, offsets in [
                            ((7, 5), 5, [0, -2, 3, 1]),
                            ((5, 7), 7, [-4, 6, 0, 2, -1]),
                            ((5, 7), 4, [1, -2, 0]),       # data narrower than the matrix
                            ((4, 4), 9, [5, -8, 2, -1, 0]),  # wider, diagonals outside it
                        ]:
                            if case == "empty" and shape != (7, 5):
                                continue
                            dia_fixture(out, rng, is_array, compressed, idx, code, case, shape, length, offsets)
    # every other data dtype, once each
    for code in CODES:
        if code not in BD_CODES:
            bsr_fixture(out, rng, True, True, "i4", code, "messy", (6, 12), (2, 3), 6)
            dia_fixture(out, rng, True, True, "i4", code, "zeros", (7, 5), 5, [0, -2, 3, 1])
    # zero-size shapes
    bsr_fixture(out, rng, True, False, "i4", "f8", "empty", (0, 6), (2, 3), 0, "_zero_rows")
    bsr_fixture(out, rng, False, True, "i4", "f8", "empty", (4, 0), (2, 3), 0, "_zero_cols")
    dia_fixture(out, rng, True, False, "i4", "f8", "empty", (0, 5), 0, [], "_zero_rows")
    dia_fixture(out, rng, True, True, "i4", "f8", "random", (4, 0), 3, [0, 1], "_zero_cols")
    # large enough that data and indices are inflated on two threads
    for compressed in [True, False]:
        for case in ["canon", "messy"]:
            bsr_fixture(out, rng, True, compressed, "i4", "f8", case, (2000, 300), (2, 3), 30_000, "_large")
        dia_fixture(out, rng, True, compressed, "i8", "c16", "zeros", (300, 2000), 2000,
                    list(range(-250, 1900, 7)), "_large")
    # hand-made: blocks past indptr[-1] (pruned), Fortran-ordered data,
    # big-endian members, 1-d dia data and 0-d offsets (np.atleast_2d/1d)
    data = values("f8", 4 * 6, rng).reshape(4, 2, 3)
    savez(out.path("hand_bsr_pruned.npz"), indices=np.array([1, 0, 3, 3], "i4"),
          indptr=np.array([0, 1, 2, 2, 2], "i4"), format=b"bsr", shape=np.array([8, 6]), data=data,
          _is_array=True)
    assert sp.load_npz(out.path("hand_bsr_pruned.npz")).nnz == 12
    add_scipy_reference(out, "hand_bsr_pruned.npz", "bsr", True)
    data = np.asfortranarray(values("i4", 5 * 6, rng).reshape(5, 2, 3))
    savez(out.path("hand_bsr_fortran.npz"), indices=np.array([1, 0, 1, 0, 0], "i4"),
          indptr=np.array([0, 2, 2, 5], "i4"), format=b"bsr", shape=np.array([6, 6]), data=data)
    assert np.load(out.path("hand_bsr_fortran.npz"))["data"].flags.f_contiguous
    add_scipy_reference(out, "hand_bsr_fortran.npz", "bsr", False)
    data = np.asfortranarray(values("f4", 3 * 6, rng).reshape(3, 6))
    savez(out.path("hand_dia_fortran.npz"), offsets=np.array([2, -1, 0], "i4"),
          format=b"dia", shape=np.array([5, 6]), data=data, _is_array=True)
    add_scipy_reference(out, "hand_dia_fortran.npz", "dia", True)
    data = values("f8", 6 * 6, rng).reshape(6, 2, 3)
    savez(out.path("hand_bsr_bigendian.npz"), compressed=False,
          indices=np.array([1, 0, 1, 1, 0, 1], ">i8"), indptr=np.array([0, 3, 6], ">i4"),
          format=b"bsr", shape=np.array([4, 6], ">i8"), data=data)  # scipy refuses big-endian data
    add_scipy_reference(out, "hand_bsr_bigendian.npz", "bsr", False)
    savez(out.path("hand_dia_1d.npz"), offsets=np.array(-1, "i2"), format=b"dia",
          shape=np.array([4, 3]), data=values("f8", 3, rng))
    add_scipy_reference(out, "hand_dia_1d.npz", "dia", False)
    savez(out.path("hand_dia_offsets_u8.npz"), offsets=np.array([3, 0], "u8"), format=b"dia",
          shape=np.array([4, 6]), data=values("c8", 12, rng).reshape(2, 6))
    add_scipy_reference(out, "hand_dia_offsets_u8.npz", "dia", False)


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
    # csc members under another format's name: a dia has no offsets, a bsr's
    # data must be 3-d; lil is a format save_npz cannot write
    bad_zip("bad_format_dia.npz", "MissingMember", good_members(format=b"dia"))
    bad_zip("bad_format_bsr.npz", "MemberShape", good_members(format=b"bsr"))
    bad_zip("bad_format_lil.npz", "UnsupportedFormat", good_members(format=b"lil"))
    bsr_dia_malformed(out, bad_zip)
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


def bsr_members(**override):
    """A loadable 4 x 6 bsr_array of 2 x 3 blocks, members overridden."""
    arrays = dict(indices=np.array([0, 1, 1], "i4"), indptr=np.array([0, 2, 3], "i4"),
                  format=b"bsr", shape=np.array([4, 6]),
                  data=np.arange(1.0, 19.0).reshape(3, 2, 3), _is_array=np.array(True))
    arrays.update(override)
    return [dict(name=k + ".npy", data=npy_bytes(v)) for k, v in arrays.items() if v is not None]


def dia_members(**override):
    """A loadable 4 x 5 dia_array of two diagonals, members overridden."""
    arrays = dict(offsets=np.array([0, 1], "i4"), format=b"dia", shape=np.array([4, 5]),
                  data=np.arange(1.0, 11.0).reshape(2, 5), _is_array=np.array(True))
    arrays.update(override)
    return [dict(name=k + ".npy", data=npy_bytes(v)) for k, v in arrays.items() if v is not None]


def bsr_dia_malformed(out, bad_zip):
    make_zip(out.path("hand_zip_ok_bsr.npz"), bsr_members())
    make_zip(out.path("hand_zip_ok_dia.npz"), dia_members())
    add_scipy_reference(out, "hand_zip_ok_bsr.npz", "bsr", True)
    add_scipy_reference(out, "hand_zip_ok_dia.npz", "dia", True)

    def refused_by_scipy(name):
        try:
            sp.load_npz(out.path(name))
        except (ValueError, IndexError, ZeroDivisionError, KeyError, TypeError):
            return
        raise AssertionError(f"scipy loads {name}")

    # scipy's load_npz runs a cheap check_format: an index pointer that
    # decreases and block columns out of range load there (and fail later)
    def bsr(name, fault, scipy_refuses=True, **override):
        bad_zip(name, fault, bsr_members(**override))
        if scipy_refuses:
            refused_by_scipy(name)

    def dia(name, fault, scipy_refuses=True, **override):
        bad_zip(name, fault, dia_members(**override))
        if scipy_refuses:
            refused_by_scipy(name)

    bsr("bad_bsr_missing_indptr.npz", "MissingMember", indptr=None)
    bsr("bad_bsr_missing_indices.npz", "MissingMember", indices=None)
    bsr("bad_bsr_data_2d.npz", "MemberShape", data=np.arange(1.0, 19.0).reshape(3, 6))
    bsr("bad_bsr_data_4d.npz", "MemberShape", data=np.arange(1.0, 19.0).reshape(3, 2, 3, 1))
    bsr("bad_bsr_indices_2d.npz", "MemberShape", indices=np.array([[0, 1, 1]], "i4"))
    bsr("bad_bsr_blocksize_zero.npz", "BadBlocksize", data=np.zeros((0, 0, 3)),
        indices=np.zeros(0, "i4"), indptr=np.array([0], "i4"))
    bsr("bad_bsr_blocksize_rows.npz", "BadBlocksize", data=np.arange(1.0, 28.0).reshape(3, 3, 3))
    # scipy's load_npz checks only the block rows (its bsr constructors from
    # dense or coo input refuse such a blocksize); onedata refuses both
    bsr("bad_bsr_blocksize_cols.npz", "BadBlocksize", scipy_refuses=False,
        data=np.arange(1.0, 25.0).reshape(3, 2, 4))
    bsr("bad_bsr_indptr_length.npz", "BadIndptr", indptr=np.array([0, 3], "i4"))
    bsr("bad_bsr_indptr_start.npz", "BadIndptr", indptr=np.array([1, 2, 3], "i4"))
    bsr("bad_bsr_indptr_end.npz", "BadIndptr", indptr=np.array([0, 2, 4], "i4"))
    bsr("bad_bsr_indptr_decreasing.npz", scipy_refuses=False, fault="BadIndptr", indptr=np.array([0, 3, 2], "i4"))
    bsr("bad_bsr_index_oob.npz", scipy_refuses=False, fault="IndexOutOfBounds", indices=np.array([0, 2, 1], "i4"))
    bsr("bad_bsr_index_negative.npz", scipy_refuses=False, fault="IndexOutOfBounds", indices=np.array([0, 1, -1], "i4"))
    bsr("bad_bsr_index_u8_huge.npz", "IndexOutOfBounds", scipy_refuses=False,
        indices=np.array([0, 1, 2**63 + 1], "u8"))
    bsr("bad_bsr_length_mismatch.npz", "LengthMismatch", indices=np.array([0, 1], "i4"),
        indptr=np.array([0, 1, 2], "i4"))
    bsr("bad_bsr_indices_float.npz", "MemberDtype", scipy_refuses=False,
        indices=np.array([0.0, 1.0, 1.0]))
    bsr("bad_bsr_data_str.npz", "MemberDtype", data=np.array(["a"] * 18).reshape(3, 2, 3))
    # a shape bomb: no blocks, blocks of 2**38 rows, 2**40 rows in all (the
    # CSR index pointer onedata builds would take 8 TiB)
    bsr("bad_bsr_huge_rows.npz", "TooLarge", scipy_refuses=False,
        data=np.zeros((0, 2**38, 3)), indices=np.zeros(0, "i4"),
        indptr=np.zeros(5, "i4"), shape=np.array([2**40, 6]))

    dia("bad_dia_missing_offsets.npz", "MissingMember", offsets=None)
    dia("bad_dia_duplicate_offsets.npz", "DuplicateOffset", offsets=np.array([1, 1], "i4"))
    dia("bad_dia_duplicate_offsets_i8.npz", "DuplicateOffset",
        offsets=np.array([-3, 2, -3], "i8"), data=np.ones((3, 5)))
    dia("bad_dia_length_mismatch.npz", "LengthMismatch", offsets=np.array([0, 1, 2], "i4"))
    dia("bad_dia_data_3d.npz", "MemberShape", data=np.ones((2, 5, 1)))
    dia("bad_dia_offsets_2d.npz", "MemberShape", offsets=np.array([[0, 1]], "i4"))
    dia("bad_dia_offsets_float.npz", "MemberDtype", scipy_refuses=False,
        offsets=np.array([0.0, 1.0]))
    dia("bad_dia_data_object.npz", "MemberDtype", scipy_refuses=False,
        data=np.array([[1, "a", None, 2.0, 3]] * 2, dtype=object))
    dia("bad_dia_shape_3d.npz", "BadShape", shape=np.array([4, 5, 1]))
    # a shape bomb: no diagonals, 2**40 columns (CSC index pointer: 8 TiB)
    dia("bad_dia_huge_cols.npz", "TooLarge", scipy_refuses=False,
        data=np.zeros((0, 0)), offsets=np.zeros(0, "i4"), shape=np.array([3, 2**40]))


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
        bsr_dia_fixtures(out)
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
