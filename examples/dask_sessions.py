"""Many sessions' spks reduced on a dask.distributed cluster, read by onedata.

Run after `pip install ./python 'dask[array]' distributed`:

    python3 examples/dask_sessions.py [ROOT]

It writes a few small synthetic sessions in vrAnalysis's layout
(ROOT/mouse/date/id/oneData/, a temporary folder unless ROOT is given),
starts a LocalCluster of two worker processes, and builds one dask array per
session with `onedata.dask.from_onedata`: chunks are frame ranges, each read
by a worker as a slice of the file's map (for sessions in object storage, a
ranged read of those rows). The graphs hold where each file is, not its
data. It then reduces them: every session's mean activity per ROI, and the
mean per ROI over all sessions' frames; checks both against numpy on the
same files, and prints them.
"""

from __future__ import annotations

import logging
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dask.array as da
from dask.distributed import Client, LocalCluster

import onedata
from onedata.dask import from_onedata

ROIS = 48
SESSIONS = [("ATL001", "2024-03-0%d" % day, "70%d" % k) for day in (4, 5, 6) for k in (1, 2)]
ROOT = {"path": ""}


@dataclass
class LabSession(onedata.SessionData):
    """A session type as a lab writes one against vrAnalysis's base class."""

    def _init_data_path(self) -> Path:
        return Path(ROOT["path"]) / self.mouse_name / self.date / self.session_id

    @property
    def spks(self) -> np.ndarray:
        return self.loadone("mpci.roiActivityDeconvolved")


def write_sessions() -> list:
    rng = np.random.default_rng(16)
    sessions = []
    for i, (mouse, date, sid) in enumerate(SESSIONS):
        s = LabSession(mouse, date, sid)
        frames = 2000 + 397 * i
        # Non-negative, sparse-ish deconvolved activity, as suite2p's spks.
        spks = rng.gamma(0.3, 2.0, (frames, ROIS)).astype(np.float32) * (rng.random((frames, ROIS)) < 0.2)
        s.saveone(spks, "mpci", "roiActivityDeconvolved")
        s.saveone(np.arange(frames) / 30.0, "mpci", "times")
        sessions.append(s)
    return sessions


def main() -> int:
    if len(sys.argv) > 1:
        ROOT["path"] = sys.argv[1]
        return run()
    with tempfile.TemporaryDirectory(prefix="onedata-dask-") as root:
        ROOT["path"] = root
        return run()


def run() -> int:
    t0 = time.perf_counter()
    sessions = write_sessions()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        arrays = [from_onedata(s, "mpci.roiActivityDeconvolved", chunks=500) for s in sessions]
        graph_bytes = sum(len(pickle.dumps(a)) for a in arrays)
        data_bytes = sum(a.nbytes for a in arrays)

        per_session = [a.mean(axis=0) for a in arrays]
        everything = da.concatenate(arrays, axis=0)
        means, grand = client.compute([da.stack(per_session), everything.mean(axis=0)], sync=True)

    # The same reductions by numpy, on the same files.
    loaded = [np.load(s.one_path / "mpci.roiActivityDeconvolved.npy") for s in sessions]
    np.testing.assert_allclose(means, np.stack([x.mean(axis=0) for x in loaded]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grand, np.concatenate(loaded).mean(axis=0), rtol=1e-5, atol=1e-6)

    print(f"{len(sessions)} sessions under {ROOT['path']}, {ROIS} ROIs each, "
          f"{sum(len(x) for x in loaded)} frames in {sum(a.numblocks[0] for a in arrays)} chunks")
    print(f"graphs pickle to {graph_bytes} bytes for {data_bytes} bytes of spks")
    for s, m in zip(sessions, means):
        print(f"  {s.session_print():<24} mean per ROI: {np.array2string(m[:5], precision=3)} ...")
    print(f"  {'all sessions':<24} mean per ROI: {np.array2string(grand[:5], precision=3)} ...")
    print(f"matches numpy; {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
