"""Loading recipes whose kwargs hold every value kind onedata's object-array
decoder reads, for tests/interop/recipe/kinds.rs.

    python -W error recipe_kinds.py gen OUTDIR
        Writes OUTDIR/<case>.<variant>.npy: each recipe dict saved as
        vrAnalysis's saveone does (np.save of np.array(dict, dtype=object),
        protocol 4 in numpy 2), as numpy 1.x writes it (protocol 3,
        numpy.core.multiarray), as numpy < 1.17 wrote it (protocol 2), and in
        size-1 object arrays of shape (1,) and (1, 1) (LoadingRecipe.is_recipe
        and loadone read data.item(), which accepts any size-1 array). Writes
        OUTDIR/manifest.json: for each file, the recipe dict np.load gives
        (.item()) as onedata's JSON tree (PyValue::to_json_tree, hexadecimal
        array data; object_fixtures.tree).

    python -W error recipe_kinds.py check CASES.json
        CASES.json is a list of {"file", "tree"}: numpy must load "file"
        (allow_pickle=True, every warning an error) as a 0-d object array
        whose .item() has exactly that tree (sets compared as sets), and every
        value must have the Python type the tree says (set, frozenset,
        complex, int, datetime, numpy datetime64/timedelta64 and ndarray with
        the same dtype, shape, memory order and bytes). Prints a JSON list of
        {"file", "ok", "errors"}.
"""

import warnings

warnings.simplefilter("error")

import datetime  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from object_fixtures import obj_array, tree  # noqa: E402

MARKER = "__LOADING_RECIPE__"


def recipe(loader_type, source_arg, transforms, **kwargs):
    # vrAnalysis's LoadingRecipe.to_dict(), key order included.
    return {
        "marker": MARKER,
        "loader_type": loader_type,
        "source_arg": source_arg,
        "transforms": transforms,
        "kwargs": kwargs,
    }


def cases():
    return {
        "sets": recipe(
            "s2p", "F", ["transpose"],
            s={1, 2, "a", (3, b"x")}, empty=set(), fs=frozenset({(1, 2), 3.5}),
            nested=[{frozenset({1})}, frozenset()],
        ),
        "complex": recipe(
            "numpy", None, [],
            z=1 + 2j, zneg=complex(-0.0, float("inf")), c64=np.complex64(1.5 - 2j),
            c128=np.complex128(-1.5j), zs=[0j, complex(float("nan"), 1)],
        ),
        "times": recipe(
            "numpy", "F", [],
            day=np.datetime64("2024-06-12"),
            ns=np.datetime64("2024-06-12T01:02:03.123456789"),
            nat=np.datetime64("NaT"), td=np.timedelta64(5, "s"),
            td25=np.timedelta64(3, "25m"), tdnat=np.timedelta64("NaT", "D"),
            year=np.datetime64("1969", "Y"),
            when=datetime.datetime(2024, 1, 1, 12, 0, 0, 5),
            leap=datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
            first=datetime.datetime(1, 1, 1),
        ),
        "bigints": recipe(
            "s2p", "F", [],
            i64max=2**63 - 1, u64max=2**64 - 1, i70=2**70, neg70=-(2**70),
            i127=2**127 - 1, i128=2**128, neg129=-(2**128) - 1, i200=2**200,
            huge=3**2000, neghuge=-(7**900), in_list=[2**100, -(2**65)],
        ),
        "arrays": recipe(
            "s2p", "F", ["transpose"],
            f8=np.arange(6.0).reshape(2, 3),
            f4F=np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
            be=np.array([1, -2], ">i4"), u1=np.arange(3, dtype=np.uint8),
            i8=np.array([-(2**63), 2**63 - 1]), f2=np.array([0.5, -1], np.float16),
            b=np.array([True, False]), c8=np.array([1 + 2j], np.complex64),
            c16be=np.array([3 - 4j], ">c16"),
            u=np.array(["hé", "x"]), ube=np.array(["ab"], ">U3"),
            S=np.array([b"ab", b""]), V=np.array([b"\x01\x02\x03"], "V3"),
            m8=np.array(["2024-01-01", "NaT"], "M8[D]"),
            td=np.array([1, 2], ">m8[25ms]"),
            empty=np.zeros((0, 3)), zero_d=np.array(3.5), sliced=np.arange(10.0)[::3],
            ld=np.array([1.5, -2.25], np.longdouble),
            ldbe=np.array([1.5], np.longdouble).astype(">f16"),
            cld=np.array([1 + 2j], np.clongdouble),
            obj=obj_array([None, {1, 2}, np.arange(2), "s"], shape=(2, 2)),
            objF=obj_array([1, 2, 3, 4], shape=(2, 2), order="F"),
            nested=obj_array([obj_array([np.arange(3)])]),
            big=np.arange(300, dtype=np.int64),
        ),
        "structured": recipe(
            "numpy", None, [],
            rec=np.array([(1, 2.5), (-3, 0.0)], dtype=[("a", ">i4"), ("b", "<f8")]),
            nested=np.zeros(2, dtype=[("x", "u1"), ("n", [("y", "<i2"), ("z", "S2")]),
                                      ("sub", "<f4", (2, 3)), ("t", "M8[s]")]),
            aligned=np.ones(3, dtype=np.dtype([("c", "u1"), ("d", "<f8")], align=True)),
            padded=np.zeros(1, dtype={"names": ["p"], "formats": ["<u2"], "offsets": [2],
                                      "itemsize": 8}),
        ),
        "mixed": recipe(
            "roiPosition", None, [],
            mode="weightedmean",
            cfg={"planes": {0, 1}, "scale": 2j, "t0": np.datetime64("2024-06-12T10:00", "m"),
                 "frames": np.array([10, 20], np.int32), "id": 2**90,
                 "made": datetime.datetime(2024, 6, 12)},
            t=(frozenset({"a"}), 1 + 0j, np.arange(2.0)),
        ),
    }


def npy_header(arr):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    return buf.getvalue()


def to_numpy1_module(p):
    old, new = b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
    assert p.count(old) >= 1
    return p.replace(old, new)


def np_save_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def gen(outdir):
    files = []
    for name, d in cases().items():
        arr = np.array(d, dtype=object)
        header = npy_header(arr)
        variants = [
            ("npsave", np_save_bytes(arr)),
            ("p3_core1", header + to_numpy1_module(pickle.dumps(arr, protocol=3))),
            ("p2", header + pickle.dumps(arr, protocol=2)),
            ("shape1", np_save_bytes(obj_array([d]))),
            ("shape11", np_save_bytes(obj_array([d], shape=(1, 1)))),
        ]
        for variant, data in variants:
            file = f"{name}.{variant}.npy"
            with open(f"{outdir}/{file}", "wb") as f:
                f.write(data)
            loaded = np.load(f"{outdir}/{file}", allow_pickle=True)
            assert loaded.dtype == object and loaded.size == 1
            item = loaded.item()
            assert isinstance(item, dict) and item.get("marker") == MARKER
            files.append({
                "file": file,
                "case": name,
                "shape": list(loaded.shape),
                "tree": tree(item),
            })
    manifest = {"numpy_version": np.__version__, "files": files}
    with open(f"{outdir}/manifest.json", "w") as f:
        json.dump(manifest, f, allow_nan=False)


def canonical(t):
    """The tree with set elements in a fixed order."""
    if isinstance(t, list):
        return [canonical(x) for x in t]
    if isinstance(t, dict):
        out = {}
        for k, v in t.items():
            v = canonical(v)
            if k in ("$set", "$frozenset"):
                v = sorted(v, key=lambda x: json.dumps(x, sort_keys=True))
            out[k] = v
        return out
    return t


def type_errors(v, t, where, errors):
    """Checks that v has the Python type the tree t says."""
    if isinstance(t, dict) and len(t) == 1:
        (k, x), = t.items()
        want = {
            "$set": set, "$frozenset": frozenset, "$complex": complex, "$int": int,
            "$datetime": datetime.datetime, "$datetime64": np.datetime64,
            "$timedelta64": np.timedelta64, "$ndarray": np.ndarray, "$tuple": tuple,
            "$bytes": bytes,
        }.get(k)
        if want is not None and type(v) is not want and not (
            want is complex and isinstance(v, complex)
        ):
            errors.append(f"{where}: {type(v).__name__}, expected {want.__name__}")
            return
        if k == "$tuple":
            for i, (a, b) in enumerate(zip(v, x)):
                type_errors(a, b, f"{where}[{i}]", errors)
        if k == "$ndarray" and v.dtype == object:
            for i, (a, b) in enumerate(zip(v.ravel(order="C"), x["data"])):
                type_errors(a, b, f"{where}.flat[{i}]", errors)
        return
    if isinstance(t, dict):
        for key, b in t.items():
            type_errors(v[key], b, f"{where}[{key!r}]", errors)
    elif isinstance(t, list):
        if type(v) is not list:
            errors.append(f"{where}: {type(v).__name__}, expected list")
            return
        for i, (a, b) in enumerate(zip(v, t)):
            type_errors(a, b, f"{where}[{i}]", errors)
    elif type(t) is int and type(v) is not int:
        errors.append(f"{where}: {type(v).__name__}, expected int")
    elif type(t) is float and type(v) is not float:
        errors.append(f"{where}: {type(v).__name__}, expected float")


def check(cases_path):
    with open(cases_path, encoding="utf-8") as f:
        entries = json.load(f)
    results = []
    for entry in entries:
        errors = []
        try:
            a = np.load(entry["file"], allow_pickle=True)
            if a.dtype != object or a.shape != ():
                errors.append(f"np.load gives dtype {a.dtype} shape {a.shape}")
            item = a.item()
            got = canonical(tree(item))
            want = canonical(entry["tree"])
            if got != want:
                errors.append(f"numpy loads {json.dumps(got)}, expected {json.dumps(want)}")
            type_errors(item, entry["tree"], "recipe", errors)
        except Exception as e:  # noqa: BLE001 - reported to the Rust test
            errors.append(f"{type(e).__name__}: {e}")
        results.append({"file": entry["file"], "ok": not errors, "errors": errors})
    json.dump(results, sys.stdout)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("gen", "check"):
        sys.exit(__doc__)
    {"gen": gen, "check": check}[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
