"""onedata.load_npz / save_npz against scipy.sparse.load_npz / save_npz (real scipy)."""

import io
import os
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import onedata
from onedata._onedata import MapOwner

FORMATS = ["csr", "csc", "coo", "bsr", "dia"]


def members(m):
    """The array members of a scipy sparse object, by name."""
    names = {
        "csr": ("data", "indices", "indptr"),
        "csc": ("data", "indices", "indptr"),
        "bsr": ("data", "indices", "indptr"),
        "coo": ("data", "row", "col"),
        "dia": ("data", "offsets"),
    }[m.format]
    return {n: getattr(m, n) for n in names}


def assert_same(ours, ref):
    """Same class, shape, and members equal bit for bit and dtype for dtype."""
    assert type(ours) is type(ref)
    assert ours.shape == ref.shape
    assert ours.format == ref.format
    a, b = members(ours), members(ref)
    for name in b:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].dtype.str == b[name].dtype.str, name
        assert a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), name
    if ref.format == "bsr":
        assert ours.blocksize == ref.blocksize
    try:
        dense = ref.toarray()
    except ValueError:
        # scipy cannot densify it (big-endian dia data): neither can ours.
        with pytest.raises(ValueError):
            ours.toarray()
        return
    assert (ours.toarray() == dense).all()


def owner(arr):
    """The object at the bottom of an array's chain of bases."""
    base = arr.base
    while isinstance(base, np.ndarray):
        base = base.base
    return base


def assert_over_onedata(m):
    """Every member shares memory with a onedata buffer (scipy copied nothing)."""
    for name, arr in members(m).items():
        assert isinstance(owner(arr), MapOwner), name


def sample(fmt, is_array, dtype=np.float64, shape=(7, 6), seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.random(shape)
    dense[dense < 0.6] = 0
    dense = (dense * 100).astype(dtype)
    m = sp.csr_array(dense) if is_array else sp.csr_matrix(dense)
    if fmt == "bsr":
        return m.tobsr(blocksize=(1, 2)) if shape[1] % 2 == 0 else m.tobsr()
    return m.asformat(fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("is_array", [True, False])
@pytest.mark.parametrize("compressed", [True, False])
def test_load_npz_matches_scipy(tmp_path, fmt, is_array, compressed):
    path = tmp_path / "m.npz"
    sp.save_npz(path, sample(fmt, is_array), compressed=compressed)
    ours, ref = onedata.load_npz(path), sp.load_npz(path)
    assert_same(ours, ref)
    assert_over_onedata(ours)
    assert not ours.data.flags.writeable


@pytest.mark.parametrize("dtype", ["<f4", "<i8", "<c16", "|b1", "<u2", "<i1", "<f8"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_data_dtypes(tmp_path, dtype, fmt):
    path = tmp_path / "m.npz"
    sp.save_npz(path, sample(fmt, True, dtype=np.dtype(dtype)))
    ours, ref = onedata.load_npz(path), sp.load_npz(path)
    assert_same(ours, ref)


@pytest.mark.parametrize("fmt", FORMATS)
def test_big_endian_data_kept_as_scipy_keeps_it(tmp_path, fmt):
    m = sample(fmt, True)
    m.data = m.data.astype(">f8")
    path = tmp_path / "m.npz"
    sp.save_npz(path, m, compressed=False)
    try:
        ref = sp.load_npz(path)
    except ValueError:
        # scipy refuses big-endian bsr data: so does onedata, as InvalidFile.
        with pytest.raises(onedata.InvalidFile):
            onedata.load_npz(path)
        return
    ours = onedata.load_npz(path)
    assert ours.data.dtype.str == ">f8"
    assert_same(ours, ref)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "bsr", "dia"])
@pytest.mark.parametrize("index", ["<i8", ">i4", "<i2", "<u4", "<u8", "<i1"])
def test_index_dtype_as_scipy_picks_it(tmp_path, fmt, index):
    """Index members of any integer dtype come back in scipy's index dtype."""
    m = sample(fmt, True, shape=(8, 6))
    arrays = {}
    if fmt in ("csr", "csc", "bsr"):
        arrays.update(indices=m.indices.astype(index), indptr=m.indptr.astype(index))
    elif fmt == "coo":
        arrays.update(row=m.row.astype(index), col=m.col.astype(index))
    else:
        if index[1] == "u":
            pytest.skip("dia offsets are signed")
        arrays.update(offsets=m.offsets.astype(index))
    arrays.update(format=fmt.encode(), shape=m.shape, data=m.data, _is_array=True)
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    ours, ref = onedata.load_npz(path), sp.load_npz(path)
    assert_same(ours, ref)
    assert_over_onedata(ours)


def test_int64_contents_beyond_int32_stay_int64(tmp_path):
    big = 2**31 + 5
    for cls in (sp.coo_array, sp.coo_matrix):
        m = cls((np.array([1.0, 2.0]), (np.array([0, big]), np.array([3, 1]))), shape=(big + 1, 4))
        path = tmp_path / "m.npz"
        sp.save_npz(path, m)
        ours, ref = onedata.load_npz(path), sp.load_npz(path)
        assert type(ours) is type(ref)
        assert ours.row.dtype == ref.row.dtype == np.int64
        for name, want in members(ref).items():
            got = members(ours)[name]
            assert got.dtype.str == want.dtype.str and got.tobytes() == want.tobytes(), name


def test_aligned_stored_file_is_viewed_in_the_map(tmp_path):
    m = sample("csr", True, shape=(50, 40))
    path = tmp_path / "m.npz"
    onedata.save_npz(path, m, compressed=False, aligned=True)
    ours = onedata.load_npz(path)
    assert_same(ours, sp.load_npz(path))
    for name, arr in members(ours).items():
        assert owner(arr).mapped, name
    # A deflated file is decoded into onedata's own memory.
    onedata.save_npz(path, m)
    ours = onedata.load_npz(path)
    assert not owner(ours.data).mapped
    assert_over_onedata(ours)


def test_canonical_format_only_when_verified(tmp_path):
    path = tmp_path / "m.npz"
    sp.save_npz(path, sample("csr", True))
    m = onedata.load_npz(path)
    assert m.__dict__.get("_has_canonical_format") is True
    # Unsorted indices in a row, and a duplicate: not canonical.
    unsorted = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([2, 0, 0]), np.array([0, 2, 3])), shape=(2, 3))
    sp.save_npz(path, unsorted)
    m = onedata.load_npz(path)
    assert "_has_canonical_format" not in m.__dict__
    assert not m.has_canonical_format
    assert_same(m, sp.load_npz(path))
    # COO keeps the file's order; canonical only when sorted and unique.
    coo = sp.coo_array((np.array([1.0, 2.0, 3.0]), (np.array([1, 0, 1]), np.array([0, 2, 0]))), shape=(2, 3))
    sp.save_npz(path, coo)
    m = onedata.load_npz(path)
    assert m.row.tolist() == [1, 0, 1] and not m.has_canonical_format
    assert_same(m, sp.load_npz(path))
    sp.save_npz(path, sp.coo_array(np.eye(3)))
    assert onedata.load_npz(path).has_canonical_format


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("is_array", [True, False])
@pytest.mark.parametrize("compressed", [True, False])
def test_save_npz_reads_back_equal_in_scipy(tmp_path, fmt, is_array, compressed):
    m = sample(fmt, is_array, dtype=np.float32)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs.npz"
    onedata.save_npz(ours, m, compressed=compressed)
    sp.save_npz(theirs, m, compressed=compressed)
    assert (tmp_path / "ours.npz").exists()
    back, ref = sp.load_npz(tmp_path / "ours.npz"), sp.load_npz(theirs)
    assert_same(back, ref)
    with zipfile.ZipFile(tmp_path / "ours.npz") as z, zipfile.ZipFile(theirs) as t:
        assert z.namelist() == t.namelist()
        for n in t.namelist():
            assert z.read(n) == t.read(n), n
            assert z.getinfo(n).compress_type == t.getinfo(n).compress_type
    if not compressed:
        # Stored files are byte for byte what scipy writes.
        assert (tmp_path / "ours.npz").read_bytes() == theirs.read_bytes()


def test_save_npz_refuses_what_scipy_refuses(tmp_path):
    with pytest.raises(NotImplementedError):
        onedata.save_npz(tmp_path / "m.npz", sp.lil_array((2, 2)))


def hostile(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays",
    [
        # index outside the shape
        dict(indices=np.array([0, 9], np.int32), indptr=np.array([0, 1, 2], np.int32), format=b"csr", shape=(2, 3), data=np.ones(2)),
        # negative index
        dict(indices=np.array([0, -1], np.int32), indptr=np.array([0, 1, 2], np.int32), format=b"csr", shape=(2, 3), data=np.ones(2)),
        # indptr decreasing / past the end / wrong length
        dict(indices=np.array([0, 1], np.int32), indptr=np.array([0, 2, 1], np.int32), format=b"csc", shape=(3, 2), data=np.ones(2)),
        dict(indices=np.array([0, 1], np.int32), indptr=np.array([0, 1, 7], np.int32), format=b"csr", shape=(2, 3), data=np.ones(2)),
        dict(indices=np.array([0, 1], np.int32), indptr=np.array([0, 2], np.int32), format=b"csr", shape=(2, 3), data=np.ones(2)),
        # lengths differ
        dict(row=np.array([0, 1]), col=np.array([0]), format=b"coo", shape=(2, 2), data=np.ones(2)),
        dict(row=np.array([0, 5]), col=np.array([0, 1]), format=b"coo", shape=(2, 2), data=np.ones(2)),
        # blocks that do not tile the shape
        dict(indices=np.array([0]), indptr=np.array([0, 1, 1]), format=b"bsr", shape=(4, 3), data=np.ones((1, 2, 2))),
        # duplicate diagonals
        dict(offsets=np.array([1, 1]), format=b"dia", shape=(3, 3), data=np.ones((2, 3))),
        # float indices, object data, unknown format, bad shape
        dict(indices=np.array([0.0]), indptr=np.array([0, 1]), format=b"csr", shape=(1, 1), data=np.ones(1)),
        dict(indices=np.array([0]), indptr=np.array([0, 1]), format=b"xyz", shape=(1, 1), data=np.ones(1)),
        dict(indices=np.array([0]), indptr=np.array([0, 1]), format=b"csr", shape=(1, -1), data=np.ones(1)),
        dict(indices=np.array([0]), indptr=np.array([0, 1]), format=b"csr", shape=(1, 1)),
    ],
)
def test_malformed_archives_raise_invalid_file(tmp_path, arrays):
    path = hostile(tmp_path, **arrays)
    with pytest.raises(onedata.InvalidFile) as e:
        onedata.load_npz(path)
    assert str(e.value.path) == str(path)


def test_corrupt_bytes_raise_not_crash(tmp_path):
    path = tmp_path / "m.npz"
    sp.save_npz(path, sample("csr", True, shape=(30, 30)))
    good = path.read_bytes()
    rng = np.random.default_rng(1)
    for i in range(200):
        b = bytearray(good)
        for _ in range(1 + i % 4):
            b[rng.integers(len(b))] = rng.integers(256)
        bad = tmp_path / f"c{i}.npz"
        bad.write_bytes(bytes(b[: len(b) - (i % 7) * 3]))
        try:
            onedata.load_npz(bad)
        except onedata.Error:
            pass
    for junk in [b"", b"PK", b"PK\x03\x04" + b"\x00" * 100, os.urandom(4096)]:
        bad = tmp_path / "j.npz"
        bad.write_bytes(junk)
        with pytest.raises(onedata.InvalidFile):
            onedata.load_npz(bad)
    with pytest.raises(onedata.FileNotFound):
        onedata.load_npz(tmp_path / "missing.npz")


def test_pickled_members_are_refused_not_run(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, indices=np.array([0]), indptr=np.array([0, 1]), format=np.array(b"csr", dtype=object), shape=(1, 1), data=np.ones(1))
    path = tmp_path / "p.npz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(onedata.InvalidFile):
        onedata.load_npz(path)
