"""numpy's verdict on .npy headers, for the header conformance tests.

Usage: python3 load_headers.py PATH...
       python3 load_headers.py --save DIR < cases.jsonl

Each PATH is a .npy file or a folder of them (read in name order). For each
file one JSON object is printed on its own line:

    {"file": "name.npy", "ok": true, "descr": "<f4", "shape": [3, 4],
     "fortran": false, "structured": false, "version": [1, 0]}
    {"file": "name.npy", "ok": false, "error": "ValueError: ..."}

How the verdict is reached (this is what "numpy accepts the header" means in
tests/interop/npy_headers/):

* Arrays without Python objects: ``np.load(path, mmap_mode='r',
  allow_pickle=False)``, the call that corresponds to onedata's zero-copy
  open. It runs numpy's own header reader (``read_magic``, ``_check_version``,
  ``_read_array_header``: Python-2 filtering, the 10000-character limit, key
  and value checks) and then builds the memmap, which also refuses what no
  array can have: negative, bool or too large dimensions, more than 64 of
  them, byte sizes past ``intp``. The test files carry enough data bytes
  after the header, so a refusal is never for lack of data unless a case
  says so.
* Arrays whose dtype holds Python objects (``|O``, records with ``O``
  fields): these cannot be memory-mapped, and ``allow_pickle=False`` refuses
  them by design, whatever the header says. Their verdict is numpy's header
  reader (the same functions ``np.load`` calls) followed by the shape checks
  ``np.ndarray`` makes for an array of that shape and itemsize, so that a
  header is judged the same whichever dtype it names.

The reported ``descr`` is ``dtype.str`` and ``shape`` and ``fortran`` are the
header's values as numpy read them.

With ``--save DIR`` the script instead reads JSON lines ``{"name": ...,
"expr": ...}`` from stdin and writes ``DIR/<name>.npy`` with ``numpy.save``
of the array the Python expression builds (``np`` is numpy), so that the
tests can compare onedata's header writer with numpy's. It prints
``{"numpy": version}``.
"""

import json
import os
import sys
import warnings

try:
    import numpy as np
    from numpy.lib import format as npy_format
except ImportError as e:  # the Rust side turns this into a clear panic
    print("numpy is missing: %s" % e, file=sys.stderr)
    sys.exit(3)


def _error(e):
    text = str(e).splitlines()[0] if str(e) else ""
    return "%s: %s" % (type(e).__name__, text[:300])


def _header(path):
    with open(path, "rb") as f:
        version = npy_format.read_magic(f)
        npy_format._check_version(version)
        shape, fortran, dtype = npy_format._read_array_header(f, version)
    return version, shape, fortran, dtype


def _check_object_shape(shape, dtype):
    # What np.memmap / np.ndarray refuse for a shape, without allocating:
    # a zero-strided view of one element of the same itemsize.
    for d in shape:
        if not isinstance(d, int) or isinstance(d, bool):
            raise TypeError("an integer is required")
        if d < 0:
            raise ValueError("negative dimensions are not allowed")
    size = max(dtype.itemsize, 1)
    np.ndarray(shape, dtype=np.dtype(("V", size)), buffer=bytearray(size),
               strides=(0,) * len(shape))


def judge(path):
    name = os.path.basename(path)
    with warnings.catch_warnings():
        # Python-2 headers and deprecated aliases warn but load.
        warnings.simplefilter("ignore")
        try:
            version, shape, fortran, dtype = _header(path)
            if dtype.hasobject:
                _check_object_shape(shape, dtype)
            else:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
                del arr
        except BaseException as e:  # noqa: BLE001 - every failure is a refusal
            if isinstance(e, KeyboardInterrupt):
                raise
            return {"file": name, "ok": False, "error": _error(e)}
    return {
        "file": name,
        "ok": True,
        "version": list(version),
        "descr": dtype.str,
        "structured": dtype.names is not None,
        "shape": [int(d) for d in shape],
        "fortran": bool(fortran),
    }


def save(folder):
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        array = eval(case["expr"], {"np": np})  # noqa: S307 - test input
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Stored array in format 2.0/3.0"
            np.save(os.path.join(folder, case["name"] + ".npy"), array)
    print(json.dumps({"numpy": np.__version__}))


def main(args):
    if args[:1] == ["--save"]:
        save(args[1])
        return
    paths = []
    for arg in args:
        if os.path.isdir(arg):
            paths.extend(os.path.join(arg, n) for n in sorted(os.listdir(arg)))
        else:
            paths.append(arg)
    out = sys.stdout
    for path in paths:
        out.write(json.dumps(judge(path)) + "\n")
    out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
