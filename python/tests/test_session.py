"""A session type written as vrAnalysis writes its session types, run on
onedata.SessionData and on the reference base: the same answers."""

from __future__ import annotations

import pickle
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csc_array, random as sparse_random

import onedata
from reference_base import RefLoadingRecipe, RefSessionData

ROOT: dict = {}


def session_type(base, recipe_cls):
    """The same subclass source on either base (as a lab's session type is)."""

    @dataclass
    class LabSession(base):
        def _init_data_path(self):
            return Path(ROOT["path"]) / self.mouse_name / self.date / self.session_id

        def _additional_loading(self):
            super()._additional_loading()
            self.set_value("numPlanes", 2)
            self.set_value("fs", 30.0)

        @property
        def recipe_loaders(self):
            return {"S2P": self.load_s2p, "const": self.load_const}

        @property
        def recipe_transforms(self):
            return {"transpose": lambda x: x.T, "double": lambda x: x * 2}

        def load_s2p(self, varName, planes=None, concatenate=True):
            planes = range(self.get_value("numPlanes")) if planes is None else planes
            parts = [np.load(self.data_path / "suite2p" / f"plane{p}" / f"{varName}.npy") for p in planes]
            return np.concatenate(parts, axis=0) if concatenate else parts

        def load_const(self, value=0, shape=(2,)):
            return np.full(shape, value)

        @property
        def spks(self):
            return self.loadone("mpci.roiActivityDeconvolved")

    LabSession.Recipe = recipe_cls
    return LabSession


def build_session(root: Path) -> None:
    rng = np.random.default_rng(7)
    folder = root / "ATL001" / "2024-03-05" / "701"
    for p in range(2):
        s2p = folder / "suite2p" / f"plane{p}"
        s2p.mkdir(parents=True)
        np.save(s2p / "F.npy", rng.standard_normal((5 + p, 40)).astype(np.float32))
        np.save(s2p / "spks.npy", rng.standard_normal((5 + p, 40)).astype(np.float32))
    (folder / "oneData").mkdir()


@pytest.fixture
def sessions(tmp_path):
    build_session(tmp_path)
    ROOT["path"] = tmp_path
    Ours = session_type(onedata.SessionData, onedata.LoadingRecipe)
    Ref = session_type(RefSessionData, RefLoadingRecipe)
    return Ours("ATL001", "2024-03-05", "701"), Ref("ATL001", "2024-03-05", "701")


def same(a, b):
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        if b.dtype == object:
            assert a.tolist() == b.tolist()
        else:
            assert a.tobytes() == b.tobytes()
    elif isinstance(b, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert a == b


def test_identity_and_values(sessions):
    ours, ref = sessions
    assert ours.session_name == ref.session_name == ("ATL001", "2024-03-05", "701")
    assert ours.session_print() == ref.session_print()
    assert ours.session_print("_") == ref.session_print("_")
    assert ours.get_value("numPlanes") == ref.get_value("numPlanes") == 2
    assert ours.data_path == ref.data_path
    assert ours.one_path == ref.one_path
    with pytest.raises(AttributeError):
        ours.get_value("missing")


def test_arrays_save_and_load_the_same(sessions):
    ours, ref = sessions
    data = {
        ("mpci", "roiActivityDeconvolved"): np.arange(24, dtype=np.float32).reshape(4, 6),
        ("positionTracking", "position"): np.linspace(0, 1, 50),
        ("mpci", "roiPlaneIdx"): np.array([0, 0, 1], dtype=np.uint8),
        ("mpci", ""): np.array(["a", "bc"]),
        ("trials", "info"): np.array({"n": 3, "env": [1, 2]}, dtype=object),
    }
    for names, array in data.items():
        ours.saveone(array, *names)
        ref.saveone(array, *names)
    for names in data:
        same(ours.loadone(*names), ref.loadone(*names))
        ours.clear_cache()
        ref.clear_cache()
        a, b = ours.loadone(*names), ref.loadone(*names)
        if b.dtype == object:
            assert a.item() == b.item()
        else:
            same(a, b)
            assert not a.flags.writeable
    same(ours.spks, ref.spks)
    assert ours.print_saved_one() == ref.print_saved_one()
    assert ours.print_saved_one(include_extension=True) == ref.print_saved_one(include_extension=True)
    assert ours.get_saved_one() == ref.get_saved_one()


def test_files_are_interchangeable(sessions):
    """What one base writes, the other reads."""
    ours, ref = sessions
    ours.saveone(np.arange(5.0), "a", "x")
    ref.saveone(np.arange(6, dtype=">i2"), "b", "y")
    ours.clear_cache()
    ref.clear_cache()
    same(ref.loadone("a", "x"), np.arange(5.0))
    same(ours.loadone("b", "y"), np.arange(6, dtype=">i2"))
    assert (ours.one_path / "a.x.npy").read_bytes() == _np_save_bytes(np.arange(5.0))


def _np_save_bytes(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@pytest.mark.parametrize(
    "recipe",
    [
        ("S2P", "F", ["transpose"], {}),
        ("S2P", "spks", [], {"planes": [1]}),
        ("S2P", "F", [], {"concatenate": False}),
        ("S2P", "F", ["transpose", "double"], {"planes": [1, 0]}),
        ("const", None, [], {"value": 7, "shape": (3, 2)}),
    ],
)
def test_recipes_resolve_through_the_subclass_loaders(sessions, recipe):
    ours, ref = sessions
    loader, source, transforms, kwargs = recipe
    ours.saveone(onedata.LoadingRecipe(loader, source, transforms, **kwargs), "mpci", "recipe")
    ours_file = (ours.one_path / "mpci.recipe.npy").read_bytes()
    ref.saveone(RefLoadingRecipe(loader, source, transforms, **kwargs), "mpci", "recipe2")
    # each base reads the other's recipe file
    assert ours.loadone("mpci", "recipe2") is not None
    got, want = ours.loadone("mpci", "recipe"), ref.loadone("mpci", "recipe")
    same(got, want)
    same(ours.loadone("mpci", "recipe2"), ref.loadone("mpci", "recipe2"))
    assert ours_file == (ours.one_path / "mpci.recipe.npy").read_bytes()
    assert onedata.read_recipe(ours.one_path / "mpci.recipe2.npy") == RefLoadingRecipe(loader, source, transforms, **kwargs).to_dict()


def test_sparse_saveone_and_loadone(sessions):
    ours, ref = sessions
    m = csc_array(sparse_random(30, 20, density=0.1, random_state=3, dtype=np.float64))
    ours.saveone(m, "mpci", "sparseThing", sparse=True)
    ref.saveone(m, "mpci", "sparseOther", sparse=True)
    for name in ["sparseThing", "sparseOther"]:
        a = ours.loadone("mpci", name, sparse=True)
        b = ref.loadone("mpci", name, sparse=True)
        same(a, b)
        ours.clear_cache()
        ks = ours.loadone("mpci", name, sparse=True, keep_sparse=True)
        same(ks.toarray(), m.toarray())
    with pytest.raises(ValueError):
        ours.saveone(np.zeros(3), "mpci", "notSparse", sparse=True)


def test_cache_behaviour(sessions):
    ours, ref = sessions
    x = np.arange(4.0)
    ours.saveone(x, "c", "x")
    ref.saveone(x, "c", "x")
    assert ours.loadone("c", "x") is x and ref.loadone("c", "x") is x
    assert "c.x.npy" in ours.one_cache and "c.x.npy" in ref.one_cache
    assert ours.one_cache["c.x.npy"] is x
    assert ours.loadone("c", "x", force=True) is not x
    ours.clear_cache(["c.x.npy"])
    assert "c.x.npy" not in ours.one_cache
    ours.loadone("c", "x")
    ours.clear_cache()
    assert len(ours.one_cache) == 0


def test_cache_is_bounded(sessions):
    ours, _ = sessions
    ours.one_cache.max_items = 3
    for i in range(5):
        ours.saveone(np.arange(i + 1), "b", str(i))
    assert list(ours.one_cache) == ["b.2.npy", "b.3.npy", "b.4.npy"]


def test_missing_file_is_a_value_error_naming_it(sessions):
    ours, ref = sessions
    ours.saveone(np.arange(2), "here", "x")
    with pytest.raises(ValueError) as info:
        ours.loadone("not", "there")
    with pytest.raises(ValueError):
        ref.loadone("not", "there")
    assert isinstance(info.value, onedata.NotAvailable)
    assert "not.there.npy" in str(info.value) and "here.x.npy" in str(info.value)


def test_names_that_leave_the_folder_are_refused(sessions):
    ours, _ = sessions
    # ("..", "x") is the file "...x.npy": one file inside oneData, valid.
    ours.saveone(np.zeros(1), "..", "x")
    assert (ours.one_path / "...x.npy").is_file()
    for names in [("a/b",), ("c:d",), ("x\\y",), ("nul\0",)]:
        with pytest.raises(onedata.InvalidName):
            ours.saveone(np.zeros(1), *names)
    with pytest.raises(onedata.InvalidName):
        ours.loadone("../../etc/passwd")


@pytest.mark.parametrize(
    "names, why",
    [
        (("CON",), "device name"),
        (("con", "anything"), "device name"),
        (("NUL ", "x"), "device name"),
        (("COM\u00b9",), "device name"),
        (("a?b",), '< > " | ? *'),
        (("a", "b*"), '< > " | ? *'),
        (("tab\there",), "control characters"),
        (("C:data",), "drive prefix"),
    ],
)
def test_names_windows_refuses_are_refused_everywhere(sessions, names, why):
    ours, _ = sessions
    for call in [lambda: ours.saveone(np.zeros(1), *names), lambda: ours.loadone(*names, force=True)]:
        with pytest.raises(onedata.InvalidName) as info:
            call()
        assert why in str(info.value) and isinstance(info.value, ValueError)
    assert ours.get_saved_one() == []
    # Names that only look like them are fine, and so is vrAnalysis's "mpci." (mpci..npy).
    for ok in [("console",), ("x", "con"), ("com10",), ("mpci", "")]:
        ours.saveone(np.arange(2), *ok)
        assert ours.loadone(*ok, force=True).tolist() == [0, 1]


def test_clear_one_data(sessions, capsys):
    ours, _ = sessions
    for n in ["a", "b", "c"]:
        ours.saveone(np.arange(3), n, "x")
    ours.clear_one_data(["a.x"])  # no certainty: nothing happens
    assert len(ours.get_saved_one()) == 3
    ours.clear_one_data([], certainty=True)  # onedata: an empty list deletes nothing
    assert len(ours.get_saved_one()) == 3
    ours.clear_one_data(["a.x"], certainty=True)
    assert ours.print_saved_one() == ["b.x", "c.x"]
    assert "a.x.npy" not in ours.one_cache
    ours.clear_one_data(certainty=True)
    assert ours.get_saved_one() == []
    assert "Cleared onedata" in capsys.readouterr().out


def test_get_saved_one_lists_regular_files_and_dot_files(sessions):
    ours, _ = sessions
    (ours.one_path / "dir.like.npy").mkdir()
    np.save(ours.one_path / ".hidden.npy", np.zeros(1))
    ours.saveone(np.zeros(1), "z")
    assert [p.name for p in ours.get_saved_one()] == [".hidden.npy", "z.npy"]


PickleSession = session_type(onedata.SessionData, onedata.LoadingRecipe)
PickleSession.__qualname__ = "PickleSession"


def test_sessions_pickle_without_their_cache(sessions):
    ours = PickleSession("ATL001", "2024-03-05", "701")
    ours.saveone(np.arange(3.0), "p", "x")
    back = pickle.loads(pickle.dumps(ours))
    assert len(back.one_cache) == 0
    assert back.session_name == ours.session_name
    same(back.loadone("p", "x"), np.arange(3.0))


def test_loadone_from_threads(sessions):
    ours, _ = sessions
    for i in range(4):
        ours.saveone(np.arange(1000.0) * i, "t", str(i))
    ours.clear_cache()
    errors = []

    def work():
        try:
            for _ in range(100):
                for i in range(4):
                    assert ours.loadone("t", str(i)).sum() == 499500.0 * i
                ours.clear_cache()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_dates(tmp_path):
    from datetime import datetime

    build_session(tmp_path)
    ROOT["path"] = tmp_path
    Ours = session_type(onedata.SessionData, onedata.LoadingRecipe)
    assert Ours("ATL001", datetime(2024, 3, 5, 13, 0), "701").date == "2024-03-05"
    with pytest.raises(ValueError):
        Ours("ATL001", "5 March", "701")


def _child_sum(session, name):
    return float(session.loadone(name).sum())


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_sessions_go_to_worker_processes(sessions, method):
    import multiprocessing as mp

    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    ours = PickleSession("ATL001", "2024-03-05", "701")
    ours.saveone(np.arange(100.0), "w", "x")
    held = ours.loadone("w", "x")  # a live map in the parent, inherited by a forked child
    with mp.get_context(method).Pool(2) as pool:
        results = pool.starmap(_child_sum, [(ours, "w.x")] * 4)
    assert results == [4950.0] * 4
    assert held.sum() == 4950.0


def test_forked_child_loads(sessions):
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    ours, _ = sessions
    ours.saveone(np.arange(10.0), "f", "x")
    parent_view = ours.loadone("f", "x")
    pid = os.fork()
    if pid == 0:  # the child: uses the inherited map and loads anew, then exits
        ok = parent_view.sum() == 45.0 and onedata.load(ours.one_path / "f.x.npy").sum() == 45.0
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_overridden_get_one_filename_is_used(tmp_path):
    @dataclass
    class Prefixed(onedata.SessionData):
        def _init_data_path(self):
            return tmp_path

        def get_one_filename(self, *names):
            return "lab." + ".".join(names) + ".npy"

        @property
        def spks(self):
            return self.loadone("mpci", "spks")

    s = Prefixed("ATL001", "2024-03-05", "1")
    s.saveone(np.arange(3.0), "mpci", "spks")
    assert (s.one_path / "lab.mpci.spks.npy").is_file()
    s.clear_cache()
    assert s.spks.tolist() == [0.0, 1.0, 2.0]
    assert list(s.one_cache) == ["lab.mpci.spks.npy"]


def cycle_session_type(base, tmp_path):
    """A session type whose loader ``"onedata"`` loads another onedata name of the session."""

    @dataclass
    class Chained(base):
        def _init_data_path(self):
            return tmp_path

        @property
        def recipe_loaders(self):
            return {"onedata": lambda name: self.loadone(name)}

        @property
        def recipe_transforms(self):
            return {}

        @property
        def spks(self):
            return self.loadone("spks")

    return Chained("ATL001", "2024-03-05", "1")


@pytest.mark.parametrize(
    "links, start, files",
    [
        ({"self": "self"}, "self", ["self.npy", "self.npy"]),
        ({"a": "b", "b": "a"}, "a", ["a.npy", "b.npy", "a.npy"]),
        ({"entry": "a", "a": "b", "b": "c", "c": "a"}, "entry", ["a.npy", "b.npy", "c.npy", "a.npy"]),
    ],
)
def test_a_recipe_that_asks_for_itself_is_a_recipe_cycle(tmp_path, links, start, files):
    ours = cycle_session_type(onedata.SessionData, tmp_path)
    ref = cycle_session_type(RefSessionData, tmp_path)
    for name, target in links.items():
        ours.saveone(onedata.LoadingRecipe("onedata", target), name)
    with pytest.raises(onedata.RecipeCycle) as info:
        ours.loadone(start)
    assert info.value.files == files
    assert " -> ".join(files) in str(info.value) and "recipe cycle in session ATL001/2024-03-05/1" in str(info.value)
    # A RecursionError, as vrAnalysis's endless recursion ends in.
    assert isinstance(info.value, RecursionError) and isinstance(info.value, onedata.Error)
    with pytest.raises(RecursionError):
        ref.loadone(start)
    # Nothing half-resolved is cached, and the thread's state is clean: a
    # plain file saved under the name loads.
    assert list(ours.one_cache) == []
    ours.saveone(np.arange(3.0), start)
    assert ours.loadone(start, force=True).tolist() == [0.0, 1.0, 2.0]


def test_a_recipe_cycle_in_other_threads_is_theirs_alone(tmp_path):
    ours = cycle_session_type(onedata.SessionData, tmp_path)
    ours.saveone(onedata.LoadingRecipe("onedata", "b"), "a")
    ours.saveone(onedata.LoadingRecipe("onedata", "a"), "b")
    ours.saveone(np.arange(2), "plain")
    ours.saveone(onedata.LoadingRecipe("onedata", "plain"), "pointer")
    errors = []

    def run(name):
        try:
            ours.loadone(name, force=True)
        except onedata.RecipeCycle as e:
            errors.append(e.files)

    threads = [threading.Thread(target=run, args=(n,)) for n in ["a", "b"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    # Every thread is refused, with the cycle named from either end (which
    # end depends on the thread that closed it).
    assert len(errors) == 8
    assert all(tuple(e) in {("a.npy", "b.npy", "a.npy"), ("b.npy", "a.npy", "b.npy")} for e in errors), errors
    # A recipe that points at a plain file is no cycle, in any thread.
    assert ours.loadone("pointer").tolist() == [0, 1]
