"""Reads a onedata session the way vrAnalysis does and prints, as JSON, the
digest, dtype and shape of every dense onedata file, plus the session values.

usage: session_digests.py SESSION_DIR
"""
import hashlib
import json
import pathlib
import sys

import numpy as np


def digest(a):
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype("u1")
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return hashlib.sha256(le.tobytes()).hexdigest()


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
