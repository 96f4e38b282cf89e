"""onedata.dask.from_onedata and onedata.RowSource against np.load: the same
bytes, chunks along frames only, graphs that pickle without the data, and a
distributed LocalCluster of worker processes computing them."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

try:
    import dask
    import dask.array as da
    import dask.callbacks
    import distributed
except ImportError as e:  # pragma: no cover
    raise ImportError(
        f"onedata's dask tests need dask and distributed ({e}); install them with "
        "`python3 -m pip install 'dask[array]==2026.8.0' distributed==2026.8.0`"
    ) from e

import onedata
import onedata.dask
from onedata.dask import from_onedata

ROOT: dict = {}


@dataclass
class DaskSession(onedata.SessionData):
    def _init_data_path(self):
        return Path(ROOT["path"]) / self.mouse_name / self.date / self.session_id

    @property
    def recipe_loaders(self):
        return {"twice": lambda name: np.asarray(self.loadone(name)) * 2}

    @property
    def spks(self):
        return self.loadone("mpci.roiActivityDeconvolved")


ARRAYS = {
    "mpci.roiActivityDeconvolved": lambda rng: rng.standard_normal((1003, 37)).astype(np.float32),
    "mpci.roiActivityF": lambda rng: np.asfortranarray(rng.standard_normal((250, 9))),
    "mpci.times": lambda rng: np.cumsum(rng.random(1003)),
    "mpciROIs.stack": lambda rng: rng.integers(-300, 300, (40, 3, 5)).astype(">i2"),
    "mpci.empty": lambda rng: np.zeros((0, 4), np.uint8),
    "scalar": lambda rng: np.array(3.5),
    "mpci.records": lambda rng: np.array(
        [(i, [i, -i]) for i in range(30)], dtype=[("a", "<f4"), ("b", ">i8", (2,))]
    ),
    "mpci.dates": lambda rng: np.arange(50).astype("M8[D]"),
    "mpci.labels": lambda rng: np.array(["x", "yz", "abc"] * 9),
}


@pytest.fixture
def session(tmp_path):
    ROOT["path"] = str(tmp_path)
    s = DaskSession("mouse1", "2024-01-02", "701")
    rng = np.random.default_rng(16)
    s.one_path.mkdir(parents=True)
    for name, make in ARRAYS.items():
        np.save(s.one_path / (name + ".npy"), make(rng))
    s.saveone(onedata.LoadingRecipe("twice", "mpci.times"), "mpci.timesTwice")
    return s


def npload(session, name):
    return np.load(session.one_path / (name + ".npy"))


def graph_values(x):
    """The objects of ``x``'s graph (the data nodes' values as they are)."""
    return [getattr(v, "value", v) for v in dict(x.__dask_graph__()).values()]


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


@pytest.mark.parametrize("name", list(ARRAYS))
def test_values_bit_exact(session, name):
    x = from_onedata(session, name, chunks=17)
    assert isinstance(x, da.Array)
    expected = npload(session, name)
    assert x.shape == expected.shape and x.dtype == expected.dtype
    with dask.config.set(scheduler="sync"):
        same(x.compute(), expected)


def test_chunks_are_frame_ranges(session):
    name = "mpci.roiActivityDeconvolved"
    x = from_onedata(session, name, chunks=100)
    assert x.chunks == ((100,) * 10 + (3,), (37,))
    x = from_onedata(session, name, chunks=(500, 3, 500))
    assert x.chunks == ((500, 3, 500), (37,))
    x = from_onedata(session, name, chunks=((1000, 3), (37,)))
    assert x.chunks == ((1000, 3), (37,))
    assert from_onedata(session, name, chunks=-1).chunks == ((1003,), (37,))
    assert from_onedata(session, name, chunks=None).chunks == ((1003,), (37,))
    auto = from_onedata(session, name)
    assert sum(auto.chunks[0]) == 1003 and auto.chunks[1] == (37,)
    small = from_onedata(session, name, chunks="4KiB")
    assert len(small.chunks[0]) > 1 and small.chunks[1] == (37,)
    x = from_onedata(session, "mpciROIs.stack", chunks=7)
    assert x.chunks == ((7,) * 5 + (5,), (3,), (5,))
    assert from_onedata(session, "scalar").chunks == ()
    # The name as loadone's parts, or with its extension.
    assert from_onedata(session, ("mpci", "roiActivityDeconvolved"), chunks=100).chunks == ((100,) * 10 + (3,), (37,))
    assert from_onedata(session, name + ".npy", chunks=-1).shape == (1003, 37)


def test_chunks_that_split_other_axes_are_refused(session):
    name = "mpci.roiActivityDeconvolved"
    with pytest.raises(onedata.InvalidArgument, match="frames"):
        from_onedata(session, name, chunks=((1003,), (10, 27)))
    with pytest.raises(onedata.InvalidArgument, match="adding up"):
        from_onedata(session, name, chunks=(500, 500))
    with pytest.raises(onedata.InvalidArgument, match="positive"):
        from_onedata(session, name, chunks=0)


def test_each_chunk_reads_its_own_rows(session):
    name = "mpci.roiActivityDeconvolved"
    expected = npload(session, name)
    x = from_onedata(session, name, chunks=100)
    with dask.config.set(scheduler="sync"):
        for i, start in enumerate(range(0, 1003, 100)):
            block = x.blocks[i].compute()
            same(block, expected[start : start + 100])
        same(x[250:260, 3].compute(), expected[250:260, 3])
        same(x[::-7].compute(), expected[::-7])


def test_graph_pickles_without_the_data(session):
    name = "mpci.roiActivityDeconvolved"
    x = from_onedata(session, name, chunks=50)
    nbytes = npload(session, name).nbytes
    graph = dict(x.__dask_graph__())
    size = len(pickle.dumps(graph))
    # 21 tasks and the source: a few KB, for 148 KB of data.
    assert size < 8000 < nbytes, size
    assert len(pickle.dumps(x)) < 8000
    # The whole array computed through a pickled graph: the same bytes.
    y = pickle.loads(pickle.dumps(x))
    with dask.config.set(scheduler="sync"):
        same(y.compute(), npload(session, name))
    # The same file and chunks give the same name (dask reuses results).
    assert from_onedata(session, name, chunks=50).name == x.name
    assert from_onedata(session, name, chunks=51).name != x.name


def test_recipe_names_load_through_the_session(session):
    x = from_onedata(session, "mpci.timesTwice", chunks=100)
    assert x.chunks[0][0] == 100
    assert len(pickle.dumps(x)) < 8000
    with dask.config.set(scheduler="sync"):
        same(x.compute(), npload(session, "mpci.times") * 2)


def test_missing_name(session):
    with pytest.raises(onedata.NotAvailable, match="nothing"):
        from_onedata(session, "nothing")


def test_rows_and_slicing(session):
    name = "mpci.roiActivityDeconvolved"
    expected = npload(session, name)
    rows = session.one_rows(name)
    assert isinstance(rows, onedata.RowSource)
    assert rows.shape == expected.shape and rows.dtype == expected.dtype and rows.ndim == 2 and len(rows) == 1003
    for key in [
        slice(10, 20),
        5,
        -1,
        slice(None),
        slice(None, None, -3),
        slice(990, 2000),
        slice(20, 10),
        slice(30, 2, -4),
        (slice(3, 9), 4),
        (7, slice(1, 5)),
        (Ellipsis, 2),
        (slice(1, 4), Ellipsis),
        (slice(1, 4), [0, 5, 2]),
        (),
    ]:
        same(rows[key], expected[key])
    with pytest.raises(IndexError):
        rows[1003]
    with pytest.raises(onedata.InvalidArgument):
        rows[[1, 2]]
    same(session.loadone_rows(name, 100, 110), expected[100:110])
    assert session.loadone_rows(name, 100, 110).flags.writeable  # a copy, not the map
    same(session.loadone_rows(("mpci", "times"), 5, 9), npload(session, "mpci.times")[5:9])
    same(session.loadone_rows("mpci.timesTwice", 5, 9), npload(session, "mpci.times")[5:9] * 2)
    same(session.one_rows("mpci.roiActivityF")[3:8], npload(session, "mpci.roiActivityF")[3:8])
    same(np.asarray(rows), expected)
    assert pickle.loads(pickle.dumps(rows)) == rows
    assert len(pickle.dumps(rows)) < 500
    with pytest.raises(onedata.NotAvailable):
        session.one_rows("nothing")
    with pytest.raises(onedata.TypeMismatch):
        onedata.RowSource(session.one_path / "mpci.timesTwice.npy")


def test_a_file_changed_since_is_refused(session):
    name = "mpci.times"
    rows = session.one_rows(name)
    onedata.save(session.one_path / (name + ".npy"), np.zeros(5))
    with pytest.raises(onedata.InvalidFile, match="changed"):
        rows[0:2]


class RewriteAfterFirstChunk(dask.callbacks.Callback):
    """Runs ``rewrite`` once the first chunk of the array named ``name`` has
    been read: a file rewritten in the middle of a compute."""

    def __init__(self, name, rewrite):
        super().__init__()
        self.name, self.rewrite, self.chunks_before = name, rewrite, None

    def _posttask(self, key, result, dsk, state, id):
        if self.chunks_before is None and isinstance(key, tuple) and key[0] == self.name:
            self.chunks_before = 1
            self.rewrite()


def test_a_file_rewritten_with_the_same_shape_mid_compute_is_refused(session):
    name = "mpci.roiActivityDeconvolved"
    path = session.one_path / (name + ".npy")
    first = npload(session, name)
    second = first * -2  # the same shape and dtype, other values
    x = from_onedata(session, name, chunks=100)
    worker = pickle.loads(pickle.dumps(x))  # a graph as a worker gets it
    with dask.config.set(scheduler="sync"):
        # The first chunk read, then the file replaced (an atomic save: a new file).
        with RewriteAfterFirstChunk(x.name, lambda: onedata.save(path, second)) as rewrite:
            with pytest.raises(onedata.FileChanged, match="rebuild the array") as e:
                x.compute()
        assert rewrite.chunks_before == 1
        assert e.value.path == str(path) and str(path) in str(e.value)
        assert isinstance(e.value, onedata.InvalidFile) and isinstance(e.value, onedata.Error)
        with pytest.raises(onedata.FileChanged):
            worker.compute()
        with pytest.raises(onedata.FileChanged):
            x.blocks[3].compute()
        # Rebuilt, the array reads the new version, bit for bit.
        y = from_onedata(session, name, chunks=100)
        assert y.name != x.name
        same(y.compute(), second)
        # Only its modification time changed (the same bytes): refused too.
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        with pytest.raises(onedata.FileChanged, match="mtime_ns"):
            y.blocks[0].compute()
        same(from_onedata(session, name, chunks=100).compute(), second)
    # A source over the file as it is reads it.
    rows = session.one_rows(name)
    same(rows[3:9], second[3:9])
    onedata.save(path, first)
    with pytest.raises(onedata.FileChanged):
        rows[3:9]


def test_recipe_graphs_pickle_the_session_by_reference(session, client):
    name = "mpci.timesTwice"
    expected = npload(session, "mpci.times") * 2
    bare = len(pickle.dumps(from_onedata(session, name, chunks=100)))
    # Values and attributes of the session (here 8 MB of them) stay behind.
    session.set_value("frames", np.arange(1_000_000.0))
    session.set_value("note", "x" * 100_000)
    session.scratch = np.ones(10**5)
    session.loadone("mpci.times")
    x = from_onedata(session, name, chunks=100)
    assert len(pickle.dumps(x)) == bare < 8000, (len(pickle.dumps(x)), bare)
    assert len(pickle.dumps(dict(x.__dask_graph__()))) < 8000
    session.revalidate = True  # a setting of the session's own: it goes along
    # The copy a worker unpickles is the session reopened: its identity and
    # settings, none of its values.
    (source,) = {id(v): v for v in graph_values(x) if isinstance(v, onedata.dask.SessionRows)}.values()
    copy = pickle.loads(pickle.dumps(source)).session
    assert type(copy) is DaskSession and copy is not session
    assert copy.session_name == session.session_name and copy.data_path == session.data_path
    assert copy.revalidate is True and not hasattr(copy, "scratch") and vars(copy.values) == {}
    assert len(copy.one_cache) == 0
    with dask.config.set(scheduler="sync"):
        same(pickle.loads(pickle.dumps(x)).compute(), expected)
        same(x.compute(), expected)
    # On worker processes, which reopen the session from the reference.
    same(client.compute(x, sync=True), expected)


def test_b2_session(tmp_path):
    d = tmp_path / "ATL001" / "2024-05-03" / "701"
    (d / "oneData").mkdir(parents=True)
    spks = np.random.default_rng(3).random((120, 6)).astype(np.float32)
    np.save(d / "oneData" / "mpci.roiActivityDeconvolved.npy", spks)
    s = onedata.B2Session(tmp_path, "ATL001", "2024-05-03", "701")
    x = from_onedata(s, "mpci.roiActivityDeconvolved", chunks=50)
    assert x.chunks == ((50, 50, 20), (6,))
    with dask.config.set(scheduler="sync"):
        same(x.compute(), spks)
    # B2 sessions pickle by their folder.
    t = pickle.loads(pickle.dumps(s))
    same(t.loadone("mpci.roiActivityDeconvolved"), spks)
    assert t.session_name == s.session_name


def test_import_without_dask_says_how_to_install():
    code = "import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None\nimport onedata.dask"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0
    assert "ImportError" in run.stderr and "pip install 'dask[array]'" in run.stderr, run.stderr


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_local_cluster(session, client):
    names = ["mpci.roiActivityDeconvolved", "mpciROIs.stack", "mpci.roiActivityF"]
    arrays = [from_onedata(session, n, chunks=64) for n in names]
    results = client.compute(arrays, sync=True)
    for n, r in zip(names, results):
        same(r, npload(session, n))
    spks = arrays[0]
    mean = client.compute(spks.mean(axis=0), sync=True)
    np.testing.assert_allclose(mean, npload(session, names[0]).mean(axis=0, dtype=np.float64), rtol=1e-5, atol=1e-6)
    # The chunks were read in the workers, not in this process.
    pids = client.run(os.getpid)
    assert os.getpid() not in pids.values() and len(pids) == 2


def test_the_dask_example_runs(tmp_path):
    """examples/dask_sessions.py: a LocalCluster reducing many sessions' spks."""
    example = Path(__file__).resolve().parents[2] / "examples" / "dask_sessions.py"
    run = subprocess.run(
        [sys.executable, str(example), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "matches numpy" in run.stdout, run.stdout
    assert (tmp_path / "ATL001" / "2024-03-04" / "701" / "oneData" / "mpci.roiActivityDeconvolved.npy").is_file()
