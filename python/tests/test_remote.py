"""Sessions whose root is a URL, against a real S3-protocol server on loopback
(moto behind the counting proxy of tests/remote/s3_fixture.py): the same
arrays as the local session, bit for bit, with the requests counted."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csc_array

import onedata

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "remote" / "s3_fixture.py"
SETUP = (
    "python3 -m venv ~/.cache/onedata-ci/venv-s3 && ~/.cache/onedata-ci/venv-s3/bin/pip install "
    "'moto[server]==5.2.5' && export ONEDATA_MOTO_PYTHON=~/.cache/onedata-ci/venv-s3/bin/python"
)

ROOTS: dict = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The S3 server, and the environment that points onedata at it."""
    python = os.environ.get("ONEDATA_MOTO_PYTHON")
    if not python:
        pytest.fail(
            "the remote tests need a local S3 server: set ONEDATA_MOTO_PYTHON to the python of a venv "
            f"with moto[server]==5.2.5 ({SETUP}; .ci/run does this)",
            pytrace=False,
        )
    proc = subprocess.Popen(
        [python, str(FIXTURE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"{FIXTURE} did not start with {python}: {proc.stderr.read()}", pytrace=False)
    info = json.loads(line)
    env = {
        "AWS_ENDPOINT_URL": info["endpoint"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "ONEDATA_REMOTE_RETRIES": "1",
        "ONEDATA_CACHE_DIR": str(tmp_path_factory.mktemp("onedata-cache")),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield info
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def proxy(server, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server["endpoint"] + path, data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(req, timeout=10) as reply:
        return json.loads(reply.read())


def requests(server, prefix):
    """The requests made under ``prefix`` since the last call (the log is emptied)."""
    return [e for e in proxy(server, "/__log?clear=1") if prefix in e["path"]]


@dataclass
class LabSession(onedata.SessionData):
    root: str = "local"

    def _init_data_path(self):
        root = ROOTS[self.root]
        if onedata._rows.is_url(root):
            return f"{root}/{self.mouse_name}/{self.date}/{self.session_id}"
        return Path(root) / self.mouse_name / self.date / self.session_id

    @property
    def recipe_loaders(self):
        return {"twice": lambda name: np.asarray(self.loadone(name)) * 2}

    @property
    def spks(self):
        return self.loadone("mpci.roiActivityDeconvolved")


def arrays():
    rng = np.random.default_rng(16)
    return {
        "mpci.roiActivityDeconvolved": rng.standard_normal((1500, 40)).astype(np.float32),
        "mpci.roiActivityF": np.asfortranarray(rng.standard_normal((300, 7))),
        "mpci.times": np.cumsum(rng.random(1500)),
        "mpciROIs.stack": rng.integers(-300, 300, (40, 3, 5)).astype(">i2"),
        "mpciROIs.names": np.array(["a", "bc", "def"]),
        "mpciROIs.stats": np.array([{"npix": 3, "lam": np.ones(3, np.float32)}, {"npix": 1}], dtype=object),
    }


@pytest.fixture(scope="module")
def pair(server, tmp_path_factory):
    """The same session twice: in a local folder, and in the bucket (saved there by saveone)."""
    prefix = "root-" + uuid.uuid4().hex[:8]
    ROOTS["local"] = str(tmp_path_factory.mktemp("local-root"))
    ROOTS["remote"] = f"s3://{server['bucket']}/{prefix}"
    local = LabSession("mouse1", "2024-01-02", "701", root="local")
    remote = LabSession("mouse1", "2024-01-02", "701", root="remote")
    assert remote.data_path == f"s3://{server['bucket']}/{prefix}/mouse1/2024-01-02/701"
    assert remote.one_path == remote.data_path + "/oneData" and remote.is_remote
    for s in (local, remote):
        for name, a in arrays().items():
            s.saveone(a, name)
        s.saveone(onedata.LoadingRecipe("twice", "mpci.times"), "mpci.timesTwice")
        s.saveone(csc_array(np.eye(6)[:, :4] * 3.0), "mpciROIs.masks", sparse=True)
    return local, remote, prefix


NAMES = list(arrays()) + ["mpci.timesTwice"]


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.hasobject:
        assert pickle.dumps(a.tolist()) == pickle.dumps(b.tolist()) or repr(a) == repr(b)
        return
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def test_loadone_equals_the_local_session(pair, server):
    local, remote, prefix = pair
    remote.clear_cache()
    # The saves left copies in this cache: drop them, so that every load
    # below downloads from the server.
    for cached in remote.get_saved_one():
        cached.unlink(missing_ok=True)
    requests(server, prefix)
    for name in ["mpci.roiActivityDeconvolved", "mpci.roiActivityF", "mpci.times", "mpciROIs.stack", "mpciROIs.names"]:
        a, b = local.loadone(name), remote.loadone(name, force=True)
        same(a, b)
        assert a.flags.f_contiguous == b.flags.f_contiguous
    stats = remote.loadone("mpciROIs.stats")
    assert stats[0]["npix"] == 3 and np.array_equal(stats[0]["lam"], np.ones(3, np.float32))
    same(remote.loadone("mpci.timesTwice"), local.loadone("mpci.timesTwice"))
    same(remote.loadone("mpciROIs.masks", sparse=True), local.loadone("mpciROIs.masks", sparse=True))
    assert np.array_equal(np.load(remote.get_saved_one()[0]), local.loadone(local.print_saved_one()[0]))
    assert any(e["m"] == "GET" and e["range"] for e in requests(server, prefix))


def test_saved_files_are_listed(pair):
    local, remote, _ = pair
    assert remote.print_saved_one(include_extension=True) == local.print_saved_one(include_extension=True)
    saved = remote.get_saved_one()
    assert all(isinstance(p, Path) for p in saved)
    assert saved[0].parent.parts[-4:] == ("mouse1", "2024-01-02", "701", "oneData")
    assert saved[0].is_relative_to(os.environ["ONEDATA_CACHE_DIR"])


def test_a_warm_cache_makes_no_request(pair, server):
    _, remote, prefix = pair
    for name in NAMES:
        remote.loadone(name)
    remote.loadone("mpciROIs.masks", sparse=True)
    remote.clear_cache()
    requests(server, prefix)
    for name in NAMES:
        remote.loadone(name)
    remote.loadone("mpciROIs.masks", sparse=True)
    assert requests(server, prefix) == []
    # A new session object (as a worker's copy is) reads the same cache.
    again = pickle.loads(pickle.dumps(remote))
    again.loadone("mpci.roiActivityDeconvolved")
    assert requests(server, prefix) == []
    # Revalidation asks, with one HEAD per file.
    again.revalidate = True
    again.loadone("mpci.times", force=True)
    log = requests(server, prefix)
    assert [e["m"] for e in log] == ["HEAD"], log


def uncached(remote, name, data):
    """``data`` saved as ``name`` of the remote session, its copy then dropped
    from the download cache (as on a machine that never loaded it)."""
    remote.saveone(data, name)
    remote.clear_cache()
    cached = Path(onedata._onedata.Remote(remote.one_path + "/" + name + ".npy").cache_path())
    cached.unlink()
    return cached


def test_loadone_rows_makes_ranged_gets_only(pair, server):
    local, remote, prefix = pair
    fresh = arrays()["mpci.roiActivityDeconvolved"][::-1].copy()
    cached = uncached(remote, "mpci.reversed", fresh)
    requests(server, prefix)
    rows = remote.loadone_rows("mpci.reversed", 100, 140)
    same(rows, fresh[100:140])
    # A writeable copy of its own, as a local session's loadone_rows gives.
    assert rows.flags.writeable and rows.flags.owndata
    log = requests(server, prefix)
    # The header, then the rows: two small ranged GETs.
    assert len(log) == 2 and all(e["m"] == "GET" and e["range"] for e in log), log
    assert not cached.exists()  # nothing was downloaded
    # This process knows the header now: one GET of the rows, If-Match its ETag.
    tail = remote.loadone_rows("mpci.reversed", 1490, 1600)
    same(tail, fresh[1490:])
    assert tail.flags.writeable and tail.flags.owndata
    tail[:] = 0  # the caller's own memory: nothing else changes
    same(remote.loadone_rows("mpci.reversed", 1490, 1600), fresh[1490:])
    requests(server, prefix)
    same(remote.loadone_rows("mpci.reversed", 1490, 1600), fresh[1490:])
    log = requests(server, prefix)
    assert len(log) == 1 and log[0]["range"] and log[0]["if_match"], log
    source = remote.one_rows("mpci.reversed")
    assert source.is_remote and source.shape == fresh.shape and source.dtype == fresh.dtype
    requests(server, prefix)
    same(source[200:260, 3], fresh[200:260, 3])
    same(source[-3:], fresh[-3:])
    ranges = [(0, 10), (10, 20), (1000, 1001)]
    for (a, b), r in zip(ranges, source.read_row_ranges(ranges)):
        same(r, fresh[a:b])
    log = requests(server, prefix)
    assert log and all(e["m"] == "GET" and e["range"] for e in log), log
    assert not cached.exists()
    # Once downloaded, rows come from the cached copy, with no request.
    remote.loadone("mpci.reversed")
    requests(server, prefix)
    same(remote.loadone_rows("mpci.reversed", 5, 9), fresh[5:9])
    same(source[7:9], fresh[7:9])
    assert requests(server, prefix) == []
    # Writeable both ways, remote and local, as np.load(...)[a:b].copy() is.
    local.saveone(fresh, "mpci.reversed")
    for session in (remote, local):
        for rows in (session.loadone_rows("mpci.reversed", 5, 9), session.loadone_rows("mpci.times", 3, 8)):
            assert rows.flags.writeable and rows.flags.owndata, session
    same(local.loadone_rows("mpci.reversed", 5, 9), remote.loadone_rows("mpci.reversed", 5, 9))


def test_loadone_rows_of_a_downloaded_file_makes_no_request(pair, server):
    """A file in the download cache but not in the session's cache: its rows
    come from the cached copy, with no request (no header GET either)."""
    local, remote, prefix = pair
    data = np.arange(900.0).reshape(150, 6) - 7
    cached = uncached(remote, "mpci.downloaded", data)
    for name in ("mpci.downloaded", "mpci.timesTwice", "mpci.times"):
        remote.loadone(name)  # downloaded into the cache
    assert cached.exists()
    remote.clear_cache()
    # A session that never loaded it (as on a worker), in a process that
    # never read its header.
    fresh = pickle.loads(pickle.dumps(remote))
    onedata._rows._HEADERS.clear()
    requests(server, prefix)
    for session in (remote, fresh):
        rows = session.loadone_rows("mpci.downloaded", 10, 25)
        same(rows, data[10:25])
        assert rows.flags.writeable and rows.flags.owndata
        same(session.loadone_rows(("mpci", "downloaded"), -3, None), data[-3:])
        # A recipe whose file and source are downloaded: no request either.
        same(session.loadone_rows("mpci.timesTwice", 5, 9), local.loadone("mpci.times")[5:9] * 2)
        assert "mpci.downloaded.npy" not in session.one_cache
    assert requests(server, prefix) == []
    # With revalidate, one HEAD asks that the copy is still the object.
    fresh.revalidate = True
    same(fresh.loadone_rows("mpci.downloaded", 0, 2), data[0:2])
    log = requests(server, prefix)
    assert [e["m"] for e in log] == ["HEAD"], log


def test_from_onedata_over_a_remote_session(pair, server):
    dask = pytest.importorskip("dask")
    from onedata.dask import from_onedata

    local, remote, prefix = pair
    expected = local.loadone("mpci.roiActivityDeconvolved") + 1
    cached = uncached(remote, "mpci.spksPlusOne", expected)
    x = from_onedata(remote, "mpci.spksPlusOne", chunks=400)
    assert x.chunks == ((400, 400, 400, 300), (40,))
    assert len(pickle.dumps(x)) < 8000
    requests(server, prefix)
    with dask.config.set(scheduler="sync"):
        same(x.compute(), expected)
    log = requests(server, prefix)
    # One ranged GET per chunk (the header was read when the array was made); no download.
    assert len(log) == 4 and all(e["m"] == "GET" and e["range"] and e["if_match"] for e in log), log
    assert not cached.exists()
    # Fortran order: read from the fetched copy.
    with dask.config.set(scheduler="sync"):
        same(from_onedata(remote, "mpci.roiActivityF", chunks=100).compute(), local.loadone("mpci.roiActivityF"))


def test_a_dask_array_over_an_object_rewritten_meanwhile(pair, server, tmp_path):
    """A compute whose object another machine rewrites (same shape, new
    bytes) in the middle: the chunks still to read are refused, each GET
    being If-Match the ETag the array was made at; no byte of the new version
    is read, and the error says to rebuild the array."""
    dask = pytest.importorskip("dask")
    import dask.callbacks
    from onedata.dask import from_onedata

    _, remote, prefix = pair
    url = remote.one_path + "/mpci.versioned.npy"
    first = np.arange(6000.0).reshape(600, 10)
    second = first[::-1] * -1  # the same shape and dtype
    uncached(remote, "mpci.versioned", first)
    etag = onedata._onedata.Remote(url).head()["etag"]

    def rewrite(data):
        np.save(tmp_path / "other.npy", data)
        onedata._onedata.Remote(url).upload(tmp_path / "other.npy")

    class RewriteAfterFirstChunk(dask.callbacks.Callback):
        def __init__(self, name):
            super().__init__()
            self.name, self.done = name, False

        def _posttask(self, key, result, dsk, state, id):
            if not self.done and isinstance(key, tuple) and key[0] == self.name:
                self.done = True
                rewrite(second)

    x = from_onedata(remote, "mpci.versioned", chunks=100)
    graph = pickle.dumps(x)
    requests(server, prefix)
    with dask.config.set(scheduler="sync"):
        with RewriteAfterFirstChunk(x.name) as after:
            with pytest.raises(onedata.FileChanged, match="rebuild the array") as e:
                x.compute()
        assert after.done
        assert e.value.url == url and url in str(e.value) and e.value.path is None
        assert isinstance(e.value, onedata.InvalidFile)
        gets = [r for r in requests(server, prefix) if r["m"] == "GET"]
        # The first chunk's rows, then the next chunk's GET refused (412).
        assert [r["status"] for r in gets] == [206, 412], gets
        assert all(r["if_match"] == etag and r["range"] for r in gets), gets
        # A worker's copy of the graph, in a process that never read the
        # header: the header it reads is of another version, so no rows are read.
        onedata._rows._HEADERS.clear()
        with pytest.raises(onedata.FileChanged):
            pickle.loads(graph).compute()
        gets = [r for r in requests(server, prefix) if r["m"] == "GET"]
        assert gets and all(r["range"].startswith("bytes=0-") and not r["if_match"] for r in gets), gets
        # The download cache holding the new version is not read either.
        remote.loadone("mpci.versioned", force=True)
        with pytest.raises(onedata.FileChanged):
            x.blocks[2].compute()
        # Rebuilt, the array reads the new version, bit for bit.
        same(from_onedata(remote, "mpci.versioned", chunks=100).compute(), second)
        uncached(remote, "mpci.versioned", first)
        y = from_onedata(remote, "mpci.versioned", chunks=100)
        requests(server, prefix)
        same(y.compute(), first)
        assert all(r["if_match"] for r in requests(server, prefix) if r["m"] == "GET")


def test_from_onedata_on_a_cluster(pair, server):
    distributed = pytest.importorskip("distributed")
    from onedata.dask import from_onedata

    local, remote, prefix = pair
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    ) as cluster, distributed.Client(cluster) as client:
        # Rows read by the workers with ranged GETs (the file is not in the cache).
        x = from_onedata(remote, "mpci.spksPlusOne", chunks=300)
        same(client.compute(x, sync=True), local.loadone("mpci.roiActivityDeconvolved") + 1)
        assert not onedata._onedata.Remote(remote.one_path + "/mpci.spksPlusOne.npy").is_cached()
        # And from the cache, where it holds the file.
        y = from_onedata(remote, "mpci.roiActivityDeconvolved", chunks=300)
        same(client.compute(y.sum(axis=1), sync=True), y.sum(axis=1).compute(scheduler="sync"))


def test_missing_names_and_files(pair):
    _, remote, _ = pair
    with pytest.raises(onedata.NotAvailable, match="nothing.npy") as e:
        remote.loadone("nothing")
    assert e.value.path == remote.one_path + "/nothing.npy"
    with pytest.raises(onedata.NotAvailable):
        remote.one_rows("nothing")


def test_clear_one_data_deletes_the_object(pair):
    _, remote, _ = pair
    remote.saveone(np.arange(3), "scratch")
    assert "scratch" in remote.print_saved_one()
    cached = [p for p in remote.get_saved_one() if p.name == "scratch.npy"][0]
    remote.clear_one_data(["scratch"], certainty=True)
    assert "scratch" not in remote.print_saved_one()
    assert not cached.exists()
    with pytest.raises(onedata.NotAvailable):
        remote.loadone("scratch")


def test_no_such_bucket(server):
    ROOTS["nobucket"] = "s3://onedata-no-such-bucket/root"
    s = LabSession("mouse1", "2024-01-02", "701", root="nobucket")
    with pytest.raises(onedata.RemoteError) as e:
        s.loadone("mpci.times")
    assert isinstance(e.value, OSError) and e.value.url.startswith("s3://onedata-no-such-bucket/")
    assert e.value.fault == "NoBucket", e.value


def test_forbidden(pair, server):
    _, remote, prefix = pair
    key = "mpciROIs.stack.npy"
    remote.clear_cache()
    cached = [p for p in remote.get_saved_one() if p.name == key][0]
    if cached.exists():
        cached.unlink()
    proxy(server, "/__fault", {"key": key, "status": 403})
    try:
        with pytest.raises(onedata.RemoteError) as e:
            remote.loadone("mpciROIs.stack")
        assert e.value.fault == "Auth" and e.value.url.endswith(key), e.value
        with pytest.raises(onedata.RemoteError):
            remote.loadone_rows("mpciROIs.stack", 0, 2)
    finally:
        proxy(server, "/__fault", {"key": key})
    assert not cached.exists()
    assert remote.loadone("mpciROIs.stack").shape == (40, 3, 5)


def test_a_remote_handle_pickles_as_its_url(pair):
    _, remote, _ = pair
    r = onedata._onedata.Remote(remote.one_path + "/mpci.times.npy")
    assert pickle.loads(pickle.dumps(r)).url == r.url
    assert len(pickle.dumps(r)) < 300


def test_b2_session_from_a_url(pair, server):
    local, remote, prefix = pair
    root = ROOTS["remote"]
    s = onedata.B2Session(root, "mouse1", "2024-01-02", "701")
    assert s.is_remote and s.data_path == remote.data_path and s.one_path == remote.one_path
    assert Path(s.cache_path).parts[-3:] == ("mouse1", "2024-01-02", "701")
    name = "mpci.roiActivityDeconvolved"
    same(s.loadone(name), local.loadone(name))
    assert sorted(p.name for p in s.get_saved_one()) == sorted(p.name for p in remote.get_saved_one())
    # Rows of a file not downloaded: ranged GETs only.
    fresh = np.arange(60.0).reshape(20, 3)
    uncached(remote, "mpci.fresh", fresh)
    requests(server, prefix)
    same(s.loadone_rows("mpci.fresh", 3, 7), fresh[3:7])
    assert all(e["m"] == "GET" and e["range"] for e in requests(server, prefix))
    same(s.one_rows("mpci.fresh")[5:9], fresh[5:9])
    # Pickled by its URL; a worker's copy reads the same store.
    t = pickle.loads(pickle.dumps(s))
    assert t.data_path == s.data_path
    same(t.loadone(name), local.loadone(name))
    assert onedata.B2Session.open(s.data_path).session_name == s.session_name
    dask = pytest.importorskip("dask")
    from onedata.dask import from_onedata

    with dask.config.set(scheduler="sync"):
        same(from_onedata(s, name, chunks=500).compute(), local.loadone(name))


def test_the_lower_case_folder(server, tmp_path):
    """A session whose files are under onedata/ (other vrAnalysis versions' spelling)."""
    ROOTS["lower"] = f"s3://{server['bucket']}/lower-{uuid.uuid4().hex[:8]}"
    s = LabSession("mouse2", "2024-02-03", "1", root="lower")
    a = np.arange(12, dtype=np.int32).reshape(4, 3)
    np.save(tmp_path / "x.npy", a)
    onedata._onedata.Remote(s.data_path + "/onedata/mpci.x.npy").upload(tmp_path / "x.npy")
    same(s.loadone("mpci.x"), a)
    assert s.one_path == s.data_path + "/onedata"
    assert s.print_saved_one() == ["mpci.x"]
    t = LabSession("mouse2", "2024-02-03", "1", root="lower")
    assert t.print_saved_one() == ["mpci.x"]
    same(LabSession("mouse2", "2024-02-03", "1", root="lower").one_rows("mpci.x")[1:3], a[1:3])
    same(LabSession("mouse2", "2024-02-03", "1", root="lower").loadone_rows("mpci.x", 1, 3), a[1:3])
    # A fresh session's first save goes into onedata/ too, not a new oneData/.
    u = LabSession("mouse2", "2024-02-03", "1", root="lower")
    u.saveone(a * 2, "mpci.y")
    assert u.one_path == u.data_path + "/onedata"
    assert LabSession("mouse2", "2024-02-03", "1", root="lower").print_saved_one() == ["mpci.x", "mpci.y"]


def test_a_url_onedata_refuses():
    with pytest.raises(onedata.RemoteError) as e:
        onedata._onedata.Remote("s3://lab-data/sessions/../other")
    assert e.value.fault == "InvalidUrl" and e.value.url == "s3://lab-data/sessions/../other"
    assert isinstance(e.value, OSError) and isinstance(e.value, onedata.Error)
    assert onedata._rows.is_url("s3://b/x") and not onedata._rows.is_url("C:/x") and not onedata._rows.is_url("/a/b")
    # A URL that pathlib mangled is taken back.
    assert onedata._session._url_root(Path("s3://b/root") / "m") == "s3://b/root/m"
    assert onedata._session._url_root(Path("/data/m")) == Path("/data/m")


def test_requests_release_the_gil(pair, server):
    """While a request waits on the network, other Python threads run (and
    so does an asyncio loop's thread): with a switch interval of a second,
    the counter below moves during a call only if the call lets go of the GIL."""
    import threading

    _, remote, _ = pair
    cached = uncached(remote, "mpci.gil", np.arange(1000.0))
    url = remote.one_path + "/mpci.gil.npy"
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    thread = threading.Thread(target=spin)
    thread.start()
    try:
        r = onedata._onedata.Remote(url)
        moved = {}
        for name, call in [
            ("list", lambda: onedata._onedata.Remote(remote.one_path).list()),
            ("npy_header", r.npy_header),
            ("read_rows", lambda: r.read_rows(3, 9)),
            ("fetch", r.fetch),
        ]:
            before = count[0]
            call()
            moved[name] = count[0] - before
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        thread.join()
    assert all(v > 0 for v in moved.values()), moved
    assert cached.exists()


def test_rows_of_an_object_rewritten_meanwhile(pair, server):
    """A header this process kept goes stale when another writer replaces
    the object: the rows' If-Match fails, the header is read again."""
    _, remote, prefix = pair
    first = np.arange(40.0).reshape(20, 2)
    uncached(remote, "mpci.rewritten", first)
    same(remote.loadone_rows("mpci.rewritten", 2, 4), first[2:4])
    rows = remote.one_rows("mpci.rewritten")
    # Another machine's save: the same object, new bytes (and a new ETag).
    other = LabSession("mouse1", "2024-01-02", "701", root="remote")
    second = first * -1
    onedata.save(Path(onedata._onedata.Remote(remote.one_path + "/mpci.rewritten.npy").cache_path()), second)
    onedata._onedata.Remote(remote.one_path + "/mpci.rewritten.npy").upload(
        onedata._onedata.Remote(remote.one_path + "/mpci.rewritten.npy").cache_path()
    )
    Path(onedata._onedata.Remote(remote.one_path + "/mpci.rewritten.npy").cache_path()).unlink()
    same(remote.loadone_rows("mpci.rewritten", 2, 4), second[2:4])
    # A source made before the rewrite reads only the version it was made at.
    with pytest.raises(onedata.FileChanged, match="rebuild"):
        rows[5:7]
    same(remote.one_rows("mpci.rewritten")[5:7], second[5:7])
    same(other.loadone_rows("mpci.rewritten", 0, 1), second[0:1])
    # A new shape: a source opened before refuses to mix the two.
    third = np.arange(9.0)
    onedata._onedata.Remote(remote.one_path + "/mpci.rewritten.npy").delete()
    uncached(remote, "mpci.rewritten", third)
    with pytest.raises(onedata.InvalidFile, match="changed"):
        rows[0:2]
    same(remote.one_rows("mpci.rewritten")[3:5], third[3:5])


def test_a_save_over_another_writers_version_is_refused(pair, tmp_path):
    _, remote, _ = pair
    remote.saveone(np.arange(3.0), "mpci.contended")
    # Another machine replaces the object meanwhile.
    theirs = np.arange(5.0) * 7
    np.save(tmp_path / "theirs.npy", theirs)
    onedata._onedata.Remote(remote.one_path + "/mpci.contended.npy").upload(tmp_path / "theirs.npy")
    with pytest.raises(onedata.RemoteError) as e:
        remote.saveone(np.arange(4.0), "mpci.contended")
    assert e.value.fault == "Precondition", e.value
    assert "mpci.contended.npy" not in remote.one_cache
    # Saving again is refused again, rather than overwriting their version.
    with pytest.raises(onedata.RemoteError):
        remote.saveone(np.arange(4.0), "mpci.contended")
    # Loaded again, their version comes; saved over, it is replaced.
    same(remote.loadone("mpci.contended", force=True), theirs)
    remote.saveone(np.arange(6.0), "mpci.contended")
    remote.clear_cache()
    same(pickle.loads(pickle.dumps(remote)).loadone("mpci.contended"), np.arange(6.0))


#: What the gated recipe loader below waits for (set by the test).
GATE: dict = {}


class GatedSession(LabSession):
    """LabSession whose recipe loader "gated", run on whatever thread loads
    the recipe, first waits until the test opens the gate."""

    @property
    def recipe_loaders(self):
        def gated(name):
            GATE["opened"].append(GATE["event"].wait(timeout=30))
            return np.asarray(self.loadone(name)) * 3

        return {"gated": gated}


def test_coroutines_load_without_blocking_the_event_loop(pair, server):
    """aloadone, aloadone_rows and asaveone run on a worker thread, so the
    event loop keeps running while they are pending.

    Each call is made to wait, inside the call (a recipe loader, the
    conversion of the array saved), until a ticker task on the event loop
    has ticked TICKS times since the call began. A call that ran on the
    loop's thread (or held the loop up) would leave the ticker no turn: the
    wait would time out and the test fail. Each call also makes its real
    requests (a download, an upload) on that thread."""
    import asyncio
    import threading

    local, remote, prefix = pair
    data = np.arange(200_000.0).reshape(2000, 100)
    uncached(remote, "mpci.async", data)
    gated = GatedSession("mouse1", "2024-01-02", "701", root="remote")
    gated.saveone(onedata.LoadingRecipe("gated", "mpci.async"), "mpci.asyncGated")
    TICKS = 25
    GATE.update(event=threading.Event(), opened=[])

    class Converted:
        """An array-like whose conversion (in saveone) waits on the gate."""

        def __array__(self, dtype=None, copy=None):
            GATE["opened"].append(GATE["event"].wait(timeout=30))
            return data * 2

    async def main():
        state = {"ticks": 0, "since": None}
        done = asyncio.Event()

        async def ticker():
            while not done.is_set():
                state["ticks"] += 1
                if state["since"] is not None and state["ticks"] - state["since"] >= TICKS:
                    GATE["event"].set()
                await asyncio.sleep(0)

        async def during(make_call):
            """What the call gives, and the ticks the loop made while it was pending."""
            gated.clear_cache()
            GATE["event"].clear()
            state["since"] = state["ticks"]
            result = await make_call()
            ticks, state["since"] = state["ticks"] - state["since"], None
            return result, ticks

        task = asyncio.create_task(ticker())
        try:
            return [
                await during(lambda: gated.aloadone("mpci.asyncGated")),
                await during(lambda: gated.aloadone_rows("mpci.asyncGated", 10, 20)),
                await during(lambda: gated.asaveone(Converted(), "mpci.asyncTwice")),
            ]
        finally:
            done.set()
            await task

    requests(server, prefix)
    (whole, t_load), (rows, t_rows), (saved, t_save) = asyncio.run(main())
    # Every call waited inside itself for the loop to tick, and was let go.
    assert GATE["opened"] == [True, True, True], GATE["opened"]
    assert min(t_load, t_rows, t_save) >= TICKS, (t_load, t_rows, t_save)
    log = requests(server, prefix)
    assert any(e["m"] == "GET" and e["path"].endswith("mpci.async.npy") for e in log), log
    assert any(e["m"] == "PUT" and "mpci.asyncTwice.npy" in e["path"] for e in log), log
    same(whole, data * 3)
    same(rows, data[10:20] * 3)
    assert saved is None
    remote.clear_cache()
    Path(onedata._onedata.Remote(remote.one_path + "/mpci.asyncTwice.npy").cache_path()).unlink()
    same(remote.loadone("mpci.asyncTwice"), data * 2)
