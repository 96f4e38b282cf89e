"""vrAnalysis' SessionData naming and listing, run on a oneData folder.

usage: vranalysis_names.py ONE_PATH

Saves as vrAnalysis' saveone does (`".".join(names) + ".npy"`):
`saveone(x, "mpci", "")` -> mpci..npy and a dot-file .hidden.npy, makes a
folder dir.like.npy, then prints get_saved_one's names
(`glob("*.npy") + glob("*.npz")`, sorted here) and which of them are files.
"""
import json
import sys
from pathlib import Path

import numpy as np

one = Path(sys.argv[1])
one.mkdir(parents=True, exist_ok=True)


def get_one_filename(*names):
    return ".".join(names) + ".npy"


np.save(one / get_one_filename("mpci", ""), np.arange(6, dtype=np.float64).reshape(2, 3))
np.save(one / get_one_filename(".hidden"), np.array([1, 2, 3], dtype=np.int32))
np.save(one / get_one_filename("plain", "name"), np.array([True, False]))
(one / "dir.like.npy").mkdir(exist_ok=True)
saved = list(one.glob("*.npy")) + list(one.glob("*.npz"))
print(json.dumps({
    "listed": sorted(p.name for p in saved),
    "files": sorted(p.name for p in saved if p.is_file()),
}))
