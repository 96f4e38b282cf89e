"""onedata.info: the dict of `onedata info --json` (shared with the CLI through the library)."""

import numpy as np
import pytest
import scipy.sparse as sp

import onedata
from onedata import _onedata


def test_dense(tmp_path):
    path = tmp_path / "mpci.times.npy"
    np.save(path, np.asfortranarray(np.zeros((3, 4), ">i2")))
    d = onedata.info(path)
    assert d == {
        "kind": "dense",
        "descr": ">i2",
        "shape": [3, 4],
        "fortran_order": True,
        "version": "1.0",
        "supported": True,
        "element": "i16",
        "data_offset": 128,
        "data_bytes": 24,
        "file_bytes": path.stat().st_size,
    }
    assert list(d) == ["kind", "descr", "shape", "fortran_order", "version", "supported", "element", "data_offset", "data_bytes", "file_bytes"]


def test_strings_and_records(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.array(["ab", "cdef"]))
    d = onedata.info(path)
    assert d["descr"] == "<U4" and d["element"] == "unicode (4 chars)"


def test_sparse(tmp_path):
    path = tmp_path / "m.npz"
    m = sp.random(6, 5, density=0.4, format="coo", random_state=0, dtype=np.float32)
    sp.save_npz(path, m)
    d = onedata.info(path)
    assert d == {
        "kind": "sparse",
        "format": "coo",
        "descr": "<f4",
        "shape": [6, 5],
        "nnz": m.nnz,
        "index_descr": m.row.dtype.str,
        "is_array": False,
        "file_bytes": path.stat().st_size,
    }


def test_recipe(tmp_path):
    one = tmp_path / "ATL001" / "2024-05-03" / "701" / "oneData"
    one.mkdir(parents=True)
    path = one / "mpci.roiActivityF.npy"
    _onedata.write_recipe(str(path), {
        "marker": "__LOADING_RECIPE__", "loader_type": "S2P", "source_arg": "F",
        "transforms": ["transpose"], "kwargs": {"k": 1.5},
    })
    d = onedata.info(path)
    assert d["kind"] == "recipe"
    assert d["loader_type"] == "S2P" and d["source_arg"] == "F"
    assert d["transforms"] == ["transpose"] and d["kwargs"] == {"k": 1.5}
    assert d["note"] == "a loading recipe (loader S2P, source F, then transpose), not an array"
    assert d["digest_with"].startswith("onedata digest --session ")
    assert d["digest_with"].endswith(" mpci.roiActivityF")


def test_object(tmp_path):
    path = tmp_path / "o.npy"
    np.save(path, np.array({"a": 1, "b": [1.5, "x"]}, dtype=object))
    d = onedata.info(path)
    assert d["kind"] == "object" and d["descr"] == "|O" and d["shape"] == []
    assert "summary" in d and "value" in d


def test_errors(tmp_path):
    with pytest.raises(onedata.FileNotFound):
        onedata.info(tmp_path / "missing.npy")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(onedata.InvalidFile):
        onedata.info(bad)
