"""A vrAnalysis-style session type on onedata's SessionData.

Run after `pip install ./python`:

    python3 examples/python_session.py /tmp/onedata-python-example

It writes a small session (two suite2p planes and a few onedata files),
then loads it back through a session type written exactly as one is
written against vrAnalysis's base class: only the import differs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onedata import LoadingRecipe, SessionData

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/onedata-python-example")


@dataclass
class LabSession(SessionData):
    def _init_data_path(self) -> Path:
        return ROOT / self.mouse_name / self.date / self.session_id

    def _additional_loading(self) -> None:
        super()._additional_loading()
        self.set_value("numPlanes", 2)

    @property
    def recipe_loaders(self) -> dict:
        return {"S2P": self.load_s2p}

    @property
    def recipe_transforms(self) -> dict:
        return {"transpose": lambda x: x.T}

    def load_s2p(self, varName: str, planes=None, concatenate: bool = True):
        planes = range(self.get_value("numPlanes")) if planes is None else planes
        parts = [np.load(self.data_path / "suite2p" / f"plane{p}" / f"{varName}.npy") for p in planes]
        return np.concatenate(parts, axis=0) if concatenate else parts

    @property
    def spks(self) -> np.ndarray:
        return self.loadone("mpci.roiActivityDeconvolved")


def main() -> None:
    session = LabSession("ATL001", "2024-03-05", "701")
    rng = np.random.default_rng(0)
    for p in range(2):
        folder = session.data_path / "suite2p" / f"plane{p}"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "F.npy", rng.standard_normal((100, 2000)).astype(np.float32))
    session.saveone(rng.standard_normal((2000, 200)).astype(np.float32), "mpci", "roiActivityDeconvolved")
    session.saveone(LoadingRecipe("S2P", "F", ["transpose"]), "mpci", "roiActivityF")
    session.clear_cache()

    spks = session.spks  # a read-only view of the file's memory map
    print("spks", spks.shape, spks.dtype, "writeable:", spks.flags.writeable, "base:", spks.base)
    f = session.loadone("mpci", "roiActivityF")  # the recipe, resolved by load_s2p + transpose
    print("roiActivityF", f.shape, "from", session.print_saved_one())


if __name__ == "__main__":
    main()
