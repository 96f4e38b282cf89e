"""Reads a onedata session the way vrAnalysis does and prints, as JSON, the
digest, dtype and shape of every dense onedata file, plus the session values.

usage: session_digests.py SESSION_DIR
"""
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from onedigest import digest  # noqa: E402


def main():
    session = pathlib.Path(sys.argv[1])
    one = session / "oneData"
    files = {}
    for path in sorted(one.glob("*.npy")):
        a = np.load(path, allow_pickle=True)
        if a.dtype == object:
            continue
        files[path.stem] = {
            "sha256": digest(a),
            "descr": a.dtype.str,
            "shape": list(a.shape),
        }
    values_path = session / "vrExperimentValues.json"
    values = json.loads(values_path.read_text()) if values_path.exists() else None
    print(json.dumps({"files": files, "values": values}))


main()
