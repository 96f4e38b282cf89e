"""Durable saves: ``durable=True`` (the default) and ``durable=False`` write the
same bytes as numpy and scipy; strace shows what each syncs."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import onedata

STRACE = shutil.which("strace")
NEED_STRACE = "strace is not installed; install it with `apt-get install strace` to run this test"


def np_save_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


ARRAYS = [
    np.arange(24, dtype="<f8").reshape(2, 3, 4) - 7.25,
    np.asfortranarray(np.arange(12, dtype=">i4").reshape(3, 4)),
    np.array(["ab", "cdé", ""], dtype="<U3"),
    np.zeros((0, 5), dtype="<f4"),
]


@pytest.mark.parametrize("durable", [True, False])
@pytest.mark.parametrize("k", range(len(ARRAYS)))
def test_save_writes_np_save_bytes_either_way(tmp_path, durable, k):
    array = ARRAYS[k]
    path = tmp_path / "x.npy"
    onedata.save(path, array, durable=durable)
    assert path.read_bytes() == np_save_bytes(array)
    back = onedata.load(path)
    assert back.dtype.str == array.dtype.str and back.shape == array.shape
    assert back.tobytes(order="A") == array.tobytes(order="A")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("durable", [True, False])
def test_large_save_direct_io_either_way(tmp_path, durable):
    # 64 MiB and more go through direct I/O: the same bytes, and synced (or not) the same way.
    array = (np.arange((64 << 20) // 8 + 3, dtype="<f8") * 0.5).reshape(-1, 1)
    path = tmp_path / "large.npy"
    onedata.save(path, array, durable=durable)
    assert path.read_bytes() == np_save_bytes(array)
    back = onedata.load(path)
    assert back.shape == array.shape and np.array_equal(back.view("<u8"), array.view("<u8"))


@pytest.mark.parametrize("durable", [True, False])
def test_save_npz_either_way(tmp_path, durable):
    m = sp.random(50, 20, density=0.1, format="csc", random_state=3, dtype=np.float64)
    ours, theirs = tmp_path / "ours.npz", tmp_path / "theirs.npz"
    onedata.save_npz(ours, m, durable=durable)
    sp.save_npz(theirs, m)
    a, b = sp.load_npz(ours), sp.load_npz(theirs)
    assert a.format == b.format and a.shape == b.shape
    assert np.array_equal(a.toarray().view("<u8"), b.toarray().view("<u8"))


def session_class(durable: bool):
    @dataclass
    class Lab(onedata.SessionData):
        def _init_data_path(self):
            return Path(self.mouse_name)

        @property
        def spks(self):
            return self.loadone("mpci", "roiActivityDeconvolvedOasis")

    Lab.durable_saves = durable
    return Lab


@pytest.mark.parametrize("durable", [True, False])
def test_saveone_follows_durable_saves(tmp_path, durable):
    cls = session_class(durable)
    assert onedata.SessionData.durable_saves is True
    s = cls(str(tmp_path / "ATL001"), "2024-05-03", "701")
    assert s.durable_saves is durable
    spks = np.arange(40, dtype=np.float32).reshape(8, 5)
    s.saveone(spks, "mpci", "roiActivityDeconvolvedOasis")
    m = sp.csc_array(np.eye(4, dtype=np.float32))
    s.saveone(m, "mpci", "roiSignificantFluorescence", sparse=True)
    s.saveone(onedata.LoadingRecipe("S2P", "F", ["transpose"]), "mpci", "roiActivityF")
    s.clear_cache()
    got = s.loadone("mpci", "roiActivityDeconvolvedOasis")
    assert got.tobytes() == spks.tobytes() and got.dtype == spks.dtype
    assert (s.one_path / "mpci.roiActivityDeconvolvedOasis.npy").read_bytes() == np_save_bytes(spks)
    kept = s.loadone("mpci", "roiSignificantFluorescence", sparse=True, keep_sparse=True)
    assert np.array_equal(kept.toarray(), m.toarray())
    assert onedata.read_recipe(s.one_path / "mpci.roiActivityF.npy")["loader_type"] == "S2P"


def test_b2_session_durable_saves(tmp_path):
    d = tmp_path / "ATL001" / "2024-05-03" / "701"
    d.mkdir(parents=True)
    (d / "vrExperimentValues.json").write_text(json.dumps({"numFrames": 3}))
    s = onedata.B2Session.open(d)
    assert s.durable_saves is True
    s.durable_saves = False
    assert s.durable_saves is False
    s.set_value("note", [1, 2.5])
    s.durable_saves = True
    s.set_value("other", "x")
    assert json.loads((d / "vrExperimentValues.json").read_text()) == {"numFrames": 3, "note": [1, 2.5], "other": "x"}


TRACED = textwrap.dedent(
    """
    import sys, numpy as np, onedata
    onedata.save(sys.argv[1], np.arange(1000, dtype=np.float32), durable=sys.argv[2] == "1")
    """
)


def traced_calls(tmp_path: Path, durable: bool) -> tuple[list[str], Path]:
    log = tmp_path / "trace.log"
    target = tmp_path / "traced.npy"
    subprocess.run(
        [STRACE, "-f", "-qq", "-e", "trace=openat,close,fsync,fdatasync,rename,renameat,renameat2",
         "-o", str(log), sys.executable, "-c", TRACED, str(target), "1" if durable else "0"],
        check=True,
    )
    return log.read_text().splitlines(), target


def call(line: str) -> tuple[str, str, str]:
    """(name, arguments, result) of an strace line ``PID name(args) = result``."""
    body = line.split(" ", 1)[1].strip()
    name, rest = body.split("(", 1)
    args, result = rest.rsplit(" = ", 1)
    return name, args.rstrip()[:-1], result.split()[0]


@pytest.mark.skipif(STRACE is None, reason=NEED_STRACE)
def test_durable_save_syncs_file_before_rename_and_folder_after(tmp_path):
    lines, target = traced_calls(tmp_path, True)
    calls = [call(l) for l in lines if "(" in l and " = " in l and "resumed" not in l and "unfinished" not in l]
    fds: dict = {}
    events = []
    for name, args, result in calls:
        if name == "openat" and not result.startswith("-"):
            fds[result] = args.split('"')[1]
        elif name == "close":
            fds.pop(args.strip(), None)
        elif name in ("fsync", "fdatasync") and result == "0":
            events.append(("sync", fds.get(args.strip())))
        elif name.startswith("rename") and result == "0":
            paths = args.split('"')[1::2]
            events.append(("rename", tuple(paths)))
    renames = [i for i, (kind, p) in enumerate(events) if kind == "rename" and p[1] == str(target)]
    assert len(renames) == 1, events
    r = renames[0]
    tmp = events[r][1][0]
    assert os.path.basename(tmp).startswith(".onedata-") and tmp.endswith(".tmp")
    assert ("sync", tmp) in events[:r], events
    assert ("sync", str(tmp_path)) in events[r + 1:], events


@pytest.mark.skipif(STRACE is None, reason=NEED_STRACE)
def test_scratch_save_syncs_nothing(tmp_path):
    lines, target = traced_calls(tmp_path, False)
    assert any(str(target) in l and "rename" in l for l in lines)
    assert not [l for l in lines if "fsync(" in l or "fdatasync(" in l]
    assert target.read_bytes() == np_save_bytes(np.arange(1000, dtype=np.float32))


def test_first_saveone_sweeps_what_killed_saves_left(tmp_path):
    # A save killed mid-write leaves a hidden .onedata-*.tmp behind; the
    # session's first save deletes those over a minute old that no save
    # holds, and leaves a recent one (a save that may still be running).
    s = session_class(True)(str(tmp_path / "ATL001"), "2024-05-03", "701")
    s.one_path.mkdir(parents=True)
    stale = s.one_path / ".onedata-x1y2z3.tmp"
    stale.write_bytes(b"half a file")
    ten_minutes_ago = os.path.getmtime(stale) - 600
    os.utime(stale, (ten_minutes_ago, ten_minutes_ago))
    recent = s.one_path / ".onedata-recent.tmp"
    recent.write_bytes(b"a save elsewhere")
    spks = np.arange(6, dtype=np.float32)
    s.saveone(spks, "mpci", "roiActivityDeconvolvedOasis")
    assert not stale.exists() and recent.exists()
    assert s.get_saved_one() == [s.one_path / "mpci.roiActivityDeconvolvedOasis.npy"]
    # The function itself, on a folder: the same rule, the paths returned.
    os.utime(recent, (ten_minutes_ago, ten_minutes_ago))
    assert [str(p) for p in onedata.remove_stale_temporaries(s.one_path)] == [str(recent)]
    assert onedata.remove_stale_temporaries(tmp_path / "missing") == []
