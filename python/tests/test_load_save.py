"""onedata.load and onedata.save against numpy: bytes, dtypes, flags, lifetime."""

import gc
import io
import os
import pickle
import threading

import numpy as np
import pytest

import onedata

DTYPES = [
    "<f8", "<f4", "<f2", ">f8", ">i4", "<i8", "<u2", "|i1", "|u1", "|b1", "<c8", ">c16",
    "<U6", ">U3", "|S2", "<M8[D]", ">M8[ns]", "<m8[s]", "<m8[25m]", "<f16", "|V3",
]


def sample(dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "U":
        return np.array([["ab", "cdé"], ["", "x"]], dtype=dt)
    if dt.kind == "S":
        return np.array([b"ab", b"c", b""], dtype=dt)
    if dt.kind == "V":
        return np.frombuffer(b"abcdefghijkl", dtype=dt)
    if dt.kind in "Mm":
        return np.array([0, 1, -5, 10**6, np.iinfo(np.int64).min], dtype="<i8").astype(dt.newbyteorder("=")).astype(dt)
    if dt.kind == "b":
        return np.array([[True, False, True]])
    return (np.arange(24) - 7).astype(dt).reshape(2, 3, 4)


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype
    assert a.dtype.str == b.dtype.str
    assert a.shape == b.shape
    assert a.tobytes(order="A") == b.tobytes(order="A")


@pytest.mark.parametrize("dtype", DTYPES)
def test_load_every_dtype_over_the_map(tmp, dtype):
    path = tmp / "x.npy"
    expected = sample(dtype)
    np.save(path, expected)
    got = onedata.load(path)
    assert_same(got, np.load(path))
    assert not got.flags.writeable
    assert not got.flags.owndata
    assert type(got.base).__name__ == "MapOwner"
    assert got.base.mapped


def test_structured_records(tmp):
    path = tmp / "rec.npy"
    dt = np.dtype([("a", "<i4"), ("b", ">f8"), ("c", "S3"), ("d", "<f4", (2,))])
    rec = np.zeros(4, dtype=dt)
    rec["a"] = [1, 2, 3, 4]
    rec["b"] = [0.5, -1, 2, 3]
    rec["c"] = [b"x", b"yy", b"zzz", b""]
    rec["d"] = [[1, 2], [3, 4], [5, 6], [7, 8]]
    np.save(path, rec)
    got = onedata.load(path)
    assert_same(got, np.load(path))
    assert got["b"].tolist() == [0.5, -1, 2, 3]


def test_fortran_order(tmp):
    path = tmp / "f.npy"
    a = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.save(path, a)
    got = onedata.load(path)
    assert got.flags.f_contiguous and not got.flags.c_contiguous
    np.testing.assert_array_equal(got, a)


def test_mmap_false_is_an_owned_writeable_copy(tmp):
    path = tmp / "x.npy"
    np.save(path, np.arange(10, dtype=">i2"))
    got = onedata.load(path, mmap=False)
    assert got.flags.writeable
    assert not got.base.mapped  # onedata's own memory, read from the file
    got[0] = 99
    assert np.load(path)[0] == 0
    assert_same(onedata.load(path, mmap=False), np.load(path))


def test_array_outlives_everything(tmp):
    path = tmp / "x.npy"
    np.save(path, np.arange(1000.0))
    view = onedata.load(path)[10:20]
    gc.collect()
    os.remove(path)
    gc.collect()
    assert view.tolist() == [float(i) for i in range(10, 20)]


def test_zero_size_and_zero_d(tmp):
    for a in [np.zeros((0, 5)), np.array(3.5), np.zeros((2, 0), dtype="<U4"), np.array(b"", dtype="S1")]:
        path = tmp / "z.npy"
        np.save(path, a)
        assert_same(onedata.load(path), np.load(path))


SAVE_CASES = [
    np.arange(10.0),
    np.arange(12, dtype=">i4").reshape(3, 4),
    np.asfortranarray(np.ones((3, 4), dtype="<f4")),
    np.arange(20)[::2],
    np.array("héllo"),
    np.array(["a", "bcd"]),
    np.zeros(3, dtype=[("a", "<i4"), ("b", ">f8")]),
    np.array([np.datetime64("2024-01-02", "D")]),
    np.zeros((0, 3)),
    np.array(True),
    np.array({"x": 1, "y": [1, 2]}, dtype=object),
    np.zeros(70000, dtype="<u1").reshape(70, 1000),
]


@pytest.mark.parametrize("case", range(len(SAVE_CASES)))
def test_save_writes_what_np_save_writes(tmp, case):
    array = SAVE_CASES[case]
    ours, theirs = tmp / "ours.npy", tmp / "theirs.npy"
    onedata.save(ours, array)
    np.save(theirs, array, allow_pickle=True)
    assert ours.read_bytes() == theirs.read_bytes()


def test_save_appends_npy_like_numpy(tmp):
    onedata.save(tmp / "plain", np.arange(3))
    assert (tmp / "plain.npy").is_file()


def test_save_leaves_loaded_views_intact(tmp):
    path = tmp / "x.npy"
    onedata.save(path, np.arange(100.0))
    view = onedata.load(path)
    onedata.save(path, np.zeros(3))
    assert view.sum() == 4950.0
    assert onedata.load(path).tolist() == [0.0, 0.0, 0.0]


# -- object arrays ------------------------------------------------------------


def test_object_values_match_numpy(tmp):
    value = {
        "name": "plane0",
        "n": 3,
        "big": 2**100,
        "neg": -(2**70),
        "x": 1.5,
        "nan": float("nan"),
        "t": (1, None, True),
        "b": b"\x00\xff",
        "s": {1, 2},
        "fs": frozenset(["a"]),
        "z": 1 + 2j,
        "arr": np.arange(6, dtype=">f4").reshape(2, 3),
        "when": np.datetime64("2024-05-06T07:08", "m"),
        "dt": np.timedelta64(25, "s"),
        "nested": [{"a": np.array(["x", "yz"])}, []],
    }
    path = tmp / "v.npy"
    np.save(path, np.array(value, dtype=object), allow_pickle=True)
    got = onedata.load(path)
    ref = np.load(path, allow_pickle=True)
    assert got.dtype == object and got.shape == ()
    g, r = got.item(), ref.item()
    assert g.keys() == r.keys()
    for k in r:
        if isinstance(r[k], np.ndarray):
            assert_same(g[k], r[k])
        elif k == "nan":
            assert np.isnan(g[k])
        elif k == "nested":
            assert_same(g[k][0]["a"], r[k][0]["a"])
            assert g[k][1] == []
        else:
            assert g[k] == r[k] and type(g[k]) is type(r[k]) or (g[k] == r[k]), k


def test_suite2p_stat_object_array(tmp):
    stat = np.empty(3, dtype=object)
    for i in range(3):
        stat[i] = {
            "ypix": np.arange(i + 2, dtype=np.int32),
            "xpix": np.arange(i + 2, dtype=np.int32) + 5,
            "lam": np.linspace(0, 1, i + 2).astype(np.float32),
            "med": [float(i), float(i + 1)],
            "npix": i + 2,
        }
    path = tmp / "stat.npy"
    np.save(path, stat)
    got = onedata.load(path)
    ref = np.load(path, allow_pickle=True)
    assert got.shape == (3,) and got.dtype == object
    for g, r in zip(got, ref):
        for k in r:
            if isinstance(r[k], np.ndarray):
                assert_same(g[k], r[k])
            else:
                assert g[k] == r[k]


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickles_are_refused_and_run_nothing(tmp):
    marker = tmp / "ran"
    evil = np.empty((), dtype=object)
    evil[()] = Evil(str(marker))
    path = tmp / "evil.npy"
    np.save(path, evil, allow_pickle=True)
    with pytest.raises(onedata.InvalidFile) as info:
        onedata.load(path)
    assert isinstance(info.value, ValueError)
    assert "evil.npy" in str(info.value)
    assert not marker.exists()
    # builtins.eval through a handwritten pickle
    header = open(path, "rb").read()[:128]
    bad = header[: 128] if header[8:10] else header
    path2 = tmp / "eval.npy"
    body = b"\x80\x02cbuiltins\neval\nX\x0c\x00\x00\x00__import__()\x85R."
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, {"descr": "|O", "fortran_order": False, "shape": ()})
    path2.write_bytes(raw.getvalue() + body)
    with pytest.raises(onedata.InvalidFile):
        onedata.load(path2)
    del bad


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x93NUMPY",
        b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'",
        b"not a numpy file at all",
        b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }" + b" " * 40 + b"\n",
        b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }" + b" " * 53 + b"\n",
    ],
)
def test_malformed_files_raise_onedata_errors(tmp, content):
    path = tmp / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(onedata.Error) as info:
        onedata.load(path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)


def test_missing_file_is_file_not_found(tmp):
    with pytest.raises(FileNotFoundError) as info:
        onedata.load(tmp / "nope.npy")
    assert isinstance(info.value, onedata.FileNotFound)


def test_loads_from_many_threads(tmp):
    paths = []
    for i in range(8):
        p = tmp / f"a{i}.npy"
        np.save(p, np.arange(10_000, dtype=np.float64) * i)
        paths.append(p)
    results = {}

    def work(i):
        for _ in range(50):
            a = onedata.load(paths[i])
            results[i] = float(a.sum())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: float(np.arange(10_000).sum() * i) for i in range(8)}


def test_arrays_pickle_by_value(tmp):
    path = tmp / "x.npy"
    np.save(path, np.arange(5, dtype=">u4"))
    back = pickle.loads(pickle.dumps(onedata.load(path)))
    # as numpy's own arrays do (numpy's unpickling gives native byte order)
    assert_same(back, pickle.loads(pickle.dumps(np.load(path))))


def test_read_recipe(tmp):
    path = tmp / "r.npy"
    recipe = {"marker": "__LOADING_RECIPE__", "loader_type": "S2P", "source_arg": "F", "transforms": ["transpose"], "kwargs": {"planes": [0, 1]}}
    np.save(path, np.array(recipe, dtype=object))
    assert onedata.read_recipe(path) == recipe
    np.save(path, np.arange(3))
    with pytest.raises(onedata.Error):
        onedata.read_recipe(path)


def test_recipes_with_every_kwarg_kind_round_trip_with_numpy(tmp):
    """A recipe written by onedata from Python values of every kind reads back
    in numpy (allow_pickle) and in onedata with the same values and types."""
    import datetime

    kwargs = {
        "s": {1, 2, 3},
        "fs": frozenset({"a"}),
        "z": 1 - 2j,
        "zn": np.complex64(0.5 + 1j),
        "big": 2**200 + 1,
        "neg": -(2**130),
        "when": np.datetime64("2024-01-02", "D"),
        "span": np.timedelta64(25, "m"),
        "arr": np.arange(6, dtype=">i2").reshape(2, 3),
        "farr": np.asfortranarray(np.ones((2, 2))),
        "objs": np.array([{"k": 1}, [2]], dtype=object),
        "dt": datetime.datetime(2024, 5, 6, 7, 8, 9, 10),
        "nested": [{"t": (1, None)}],
    }
    recipe = onedata.LoadingRecipe("const", None, ["transpose"], **kwargs)
    path = tmp / "r.npy"
    onedata._onedata.write_recipe(path, recipe.to_dict())
    theirs = np.load(path, allow_pickle=True).item()["kwargs"]
    ours = onedata.read_recipe(path)["kwargs"]
    for got in (theirs, ours):
        assert got.keys() == kwargs.keys()
        for k, v in kwargs.items():
            if isinstance(v, np.ndarray):
                # as numpy's own pickling gives it back (native byte order)
                want = pickle.loads(pickle.dumps(v))
                assert got[k].dtype == want.dtype and got[k].shape == want.shape
                assert got[k].tolist() == want.tolist(), k
            else:
                assert got[k] == v, k
                if k not in ("zn",):
                    assert type(got[k]) is type(v) or isinstance(v, np.generic), k


def test_copies_reuse_kept_buffers_and_read_only_their_own_file(tmp):
    # Two files of close sizes and different bytes: a copy of the second,
    # made into the buffer the first copy left behind, holds the second's
    # bytes exactly, and is an ordinary owned, writeable array.
    rng = np.random.default_rng(7)
    first = rng.standard_normal((1300, 1000)).astype(np.float32)
    second = rng.integers(-(2**31), 2**31, (1200, 1000), dtype=np.int32)
    np.save(tmp / "first.npy", first)
    np.save(tmp / "second.npy", second)
    onedata.set_retained_limit(1 << 30)
    a = onedata.load(tmp / "first.npy", mmap=False)
    assert np.array_equal(a, first)
    del a
    gc.collect()
    if os.uname().sysname == "Linux":
        assert onedata.retained_bytes() >= first.nbytes
    b = onedata.load(tmp / "second.npy", mmap=False)
    assert b.dtype == second.dtype and b.shape == second.shape
    assert b.tobytes() == second.tobytes()
    assert b.flags.writeable and b.flags.owndata is False
    b[0, 0] = 5
    assert np.load(tmp / "second.npy")[0, 0] == second[0, 0]
    del b
    onedata.set_retained_limit(0)
    assert onedata.retained_bytes() == 0
    assert onedata.retained_limit() == 0
    c = onedata.load(tmp / "first.npy", mmap=False)
    assert c.tobytes() == first.tobytes()
    onedata.set_retained_limit(1 << 30)
