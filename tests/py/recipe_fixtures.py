#!/usr/bin/env python3
"""Loading-recipe fixtures and checks for tests/interop/recipe/.

Every warning is an error here (as with `python -W error`): in particular a
DeprecationWarning from unpickling `numpy.core.multiarray._reconstruct`.

Usage:
  recipe_fixtures.py gen OUTDIR
      Writes recipe .npy files the way vrAnalysis does (np.save of a 0-d object
      array), and the same arrays pickled with protocols 2, 3, 4 and 5 under both
      module paths (numpy._core.multiarray as numpy 2 writes, numpy.core.multiarray
      as numpy 1.x writes), plus object arrays that are not recipes. Each file is
      checked to load in numpy. Writes OUTDIR/manifest.json.

  recipe_fixtures.py check CASES.json
      CASES.json is a list of {"file", "expected", "numpy1_identical"}: numpy must
      load "file" (allow_pickle=True, warnings as errors) as a 0-d object array
      whose .item() is exactly "expected" (types, values, key order; floats bit
      for bit). The header must be the one np.save writes for it, and with
      "numpy1_identical" the whole file must be what numpy 1.x's np.save writes
      (protocol 3, numpy.core.multiarray). Prints a JSON list of
      {"file", "ok", "errors"}.

  recipe_fixtures.py run-pickle FILE
      pickle.loads(FILE's bytes): proves that a hostile payload the tests feed
      onedata really runs code when Python unpickles it.

Values cross between Python and Rust in a typed JSON form:
  ["none"], ["bool", b], ["int", "decimal"], ["float", "16 hex digits of the
  IEEE bits, big-endian"], ["str", s], ["bytes", "hex"], ["list", [...]],
  ["tuple", [...]], ["dict", [[key, value], ...]].
"""

import warnings

warnings.simplefilter("error")

import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import random  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

MARKER = "__LOADING_RECIPE__"


def typed(x):
    if x is None:
        return ["none"]
    if x is True or x is False:
        return ["bool", x]
    if type(x) is int:
        return ["int", str(x)]
    if type(x) is float:
        return ["float", struct.pack(">d", x).hex()]
    if type(x) is str:
        return ["str", x]
    if type(x) is bytes:
        return ["bytes", x.hex()]
    if type(x) is list:
        return ["list", [typed(v) for v in x]]
    if type(x) is tuple:
        return ["tuple", [typed(v) for v in x]]
    if type(x) is dict:
        return ["dict", [[typed(k), typed(v)] for k, v in x.items()]]
    raise TypeError(f"no typed form for {type(x).__name__}: {x!r}")


def plain(x):
    """x with every numpy scalar replaced by the Python value it equals, as
    onedata reads numpy scalars."""
    if isinstance(x, np.generic):
        return x.item()
    if type(x) is list:
        return [plain(v) for v in x]
    if type(x) is tuple:
        return tuple(plain(v) for v in x)
    if type(x) is dict:
        return {plain(k): plain(v) for k, v in x.items()}
    return x


def untyped(t):
    kind = t[0]
    if kind == "none":
        return None
    if kind == "bool":
        return bool(t[1])
    if kind == "int":
        return int(t[1])
    if kind == "float":
        return struct.unpack(">d", bytes.fromhex(t[1]))[0]
    if kind == "str":
        # A fresh object, as a pickler sees a value built at run time.
        return "".join(list(t[1]))
    if kind == "bytes":
        return bytes.fromhex(t[1])
    if kind == "list":
        return [untyped(v) for v in t[1]]
    if kind == "tuple":
        return tuple(untyped(v) for v in t[1])
    if kind == "dict":
        return {untyped(k): untyped(v) for k, v in t[1]}
    raise ValueError(f"unknown typed kind {kind!r}")


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
    shared = [1, 2, 3]
    text = "a string shared by reference"
    return {
        "basic": recipe("numpy", "F", ["transpose", "zscore"]),
        "s2p_planes": recipe("s2p", "F", ["transpose"], planes=[0, 1], keep_planes=None),
        "no_source": recipe("custom", None, []),
        "ints": recipe(
            "numpy",
            "spks",
            [],
            zero=0,
            byte=255,
            b256=256,
            word=65535,
            w65536=65536,
            neg=-1,
            i32min=-(2**31),
            i32max=2**31 - 1,
            above_i32=2**31,
            below_i32=-(2**31) - 1,
            i64max=2**63 - 1,
            i64min=-(2**63),
            u64max=2**64 - 1,
            big=2**100,
            negbig=-(2**100),
            i128max=2**127 - 1,
            i128min=-(2**127),
        ),
        "floats": recipe(
            "numpy",
            "F",
            [],
            zero=0.0,
            negzero=-0.0,
            half=1.5,
            third=1 / 3,
            tiny=5e-324,
            huge=1e300,
            nan=float("nan"),
            inf=float("inf"),
            ninf=float("-inf"),
        ),
        "misc": recipe(
            "numpy",
            "ops",
            ["a", "b"],
            none=None,
            yes=True,
            no=False,
            text="μs ✓ 日本語 🐭",
            empty="",
            raw=b"\x00\xff\x80",
            quote="it's \"q\"\n\t\\",
            nested=[[1, [2, [3, []]]], {"a": {"b": {"c": [None]}}}],
            tup=(1, "a", (2.5, None)),
            tup4=(1, 2, 3, 4),
            empty_tuple=(),
            empty_list=[],
            empty_dict={},
            int_keys={1: "one", 2: "two", -3: "minus three"},
            tuple_keys={(1, 2): "x", ("a", None): "y"},
            float_keys={1.5: "x", -0.25: "y"},
            other_keys={True: 1, None: 2, b"k": 3},
            single=[7],
            single_dict={"k": "v"},
        ),
        "batches": recipe(
            "numpy",
            "F",
            [f"t{i}" for i in range(1001)],
            rng=list(range(2500)),
            d1000={f"k{i}": i for i in range(1000)},
            d2500={str(i): i * 0.5 for i in range(2500)},
        ),
        "shared": recipe(
            "numpy", "F", [text, text], a=shared, b=shared, c=[text, text], d={"x": shared}
        ),
        "long_text": recipe("numpy", "x" * 300, ["y" * 70000], blob=bytes(range(256)) * 300),
        # kwargs that came out of numpy: read as the Python values they equal.
        "numpy_scalars": recipe(
            "s2p",
            "F",
            ["transpose"],
            plane=np.int64(1),
            planes=[np.int64(0), np.int64(2)],
            i8=np.int8(-5),
            u8=np.uint8(255),
            i16=np.int16(-300),
            u16=np.uint16(65535),
            i32=np.int32(-(2**31)),
            u32=np.uint32(2**32 - 1),
            i64min=np.int64(-(2**63)),
            u64max=np.uint64(2**64 - 1),
            f16=np.float16(1.5),
            f32=np.float32(0.1),
            f64=np.float64(-0.0),
            f32nan=np.float32("nan"),
            f64inf=np.float64("inf"),
            yes=np.bool_(True),
            no=np.bool_(False),
            name=np.str_("plane0 μ 🐭"),
            empty_name=np.str_(""),
            raw=np.bytes_(b"a\x00b"),
            keys={np.int64(3): "three", np.str_("k"): np.float32(2.5)},
        ),
    }


def not_recipes():
    """Object arrays (and one numeric array) that are not recipes, with the
    fault onedata must report."""
    return {
        "obj_dict": (np.array({"a": 1}, dtype=object), "not_a_recipe"),
        "obj_list": (np.array([1, "x"], dtype=object), "not_zero_dim"),
        "obj_str": (np.array("hello", dtype=object), "not_a_recipe"),
        "float_array": (np.arange(3.0), "not_object"),
        "wrong_marker": (
            np.array(dict(recipe("numpy", "F", []), marker="nope"), dtype=object),
            "not_a_recipe",
        ),
        "bad_loader_type": (
            np.array(dict(recipe("numpy", "F", []), loader_type=3), dtype=object),
            "malformed",
        ),
        "missing_kwargs": (
            np.array(
                {"marker": MARKER, "loader_type": "x", "source_arg": None, "transforms": []},
                dtype=object,
            ),
            "malformed",
        ),
        "forbidden_global": (
            np.array(recipe("numpy", "F", [], fill=np.timedelta64), dtype=object),
            "forbidden_global",
        ),
        # vrAnalysis reads data.item(): a size-1 array is a recipe if its
        # element is; this one's is a plain dict.
        "obj_len1_dict": (np.array([{"a": 1}], dtype=object), "not_a_recipe"),
    }


def npy_header(arr):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    return buf.getvalue()


def np_save_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def to_numpy1_module(p, protocol):
    """The pickle as numpy 1.x names its reconstructors: numpy.core.multiarray."""
    if protocol <= 3:
        old, new = b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
        assert p.count(old) >= 1
        return p.replace(old, new)
    old, new = b"\x8c\x16numpy._core.multiarray", b"\x8c\x15numpy.core.multiarray"
    # The module name (memoized, so written once) is in the first frame,
    # which is now one byte shorter.
    assert p.count(old) == 1
    assert p[2] == 0x95
    length = int.from_bytes(p[3:11], "little")
    assert p.index(old) < 11 + length
    p = p.replace(old, new)
    return p[:3] + (length - 1).to_bytes(8, "little") + p[11:]


def load_item(path):
    a = np.load(path, allow_pickle=True)
    assert type(a) is np.ndarray and a.dtype == object and a.shape == (), (a.dtype, a.shape)
    return a.item()


def gen(outdir):
    manifest = {
        "numpy_version": np.__version__,
        "cases": {},
        "files": [],
        "not_recipes": [],
        "float_reprs": [],
    }
    for name, d in cases().items():
        expected = typed(plain(d))
        manifest["cases"][name] = expected
        arr = np.array(d, dtype=object)
        variants = [("npsave", None, np_save_bytes(arr))]
        header = npy_header(arr)
        for protocol in (2, 3, 4, 5):
            p = pickle.dumps(arr, protocol=protocol)
            variants.append((f"p{protocol}_core2", protocol, header + p))
            variants.append(
                (f"p{protocol}_core1", protocol, header + to_numpy1_module(p, protocol))
            )
        for tag, protocol, data in variants:
            fname = f"{name}.{tag}.npy"
            path = os.path.join(outdir, fname)
            with open(path, "wb") as f:
                f.write(data)
            got = typed(plain(load_item(path)))
            assert got == expected, f"{fname} does not load back in numpy"
            manifest["files"].append({"file": fname, "case": name, "protocol": protocol})
    for name, (arr, fault) in not_recipes().items():
        fname = f"notrecipe.{name}.npy"
        np.save(os.path.join(outdir, fname), arr)
        manifest["not_recipes"].append({"file": fname, "fault": fault})
    # Header says 0-d, the pickle holds a 1-d object array (np.load returns
    # it; onedata refuses the mismatch).
    arr = np.array([recipe("numpy", "F", [])], dtype=object)
    fname = "notrecipe.header_mismatch.npy"
    with open(os.path.join(outdir, fname), "wb") as f:
        f.write(npy_header(np.array(None, dtype=object)) + pickle.dumps(arr, protocol=4))
    manifest["not_recipes"].append({"file": fname, "fault": "shape_mismatch"})

    rng = random.Random(7)
    floats = [0.1, 1e16, 1e15, 1e-4, 1e-5, 123456789.125, 2.5e-300, -1.75e22, 5e-324]
    floats += [rng.uniform(-1e6, 1e6) for _ in range(100)]
    floats += [struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0] for _ in range(300)]
    for x in floats:
        manifest["float_reprs"].append([struct.pack(">d", x).hex(), repr(x)])

    with open(os.path.join(outdir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)


def check(cases_path):
    with open(cases_path, encoding="utf-8") as f:
        entries = json.load(f)
    results = []
    for entry in entries:
        path = entry["file"]
        errors = []
        try:
            item = load_item(path)
            got = typed(item)
            if got != entry["expected"]:
                errors.append(f"numpy loads {got!r}, expected {entry['expected']!r}")
            with open(path, "rb") as f:
                data = f.read()
            expected_obj = untyped(entry["expected"])
            arr = np.array(expected_obj, dtype=object)
            header = np_save_bytes(arr)[: len(npy_header(arr))]
            if data[: len(header)] != header:
                errors.append(f"header {data[:len(header)]!r} is not np.save's {header!r}")
            if entry.get("numpy1_identical"):
                numpy1 = npy_header(arr) + to_numpy1_module(pickle.dumps(arr, protocol=3), 3)
                if data != numpy1:
                    at = next(
                        (i for i, (x, y) in enumerate(zip(data, numpy1)) if x != y),
                        min(len(data), len(numpy1)),
                    )
                    errors.append(
                        f"differs from numpy 1.x's np.save at byte {at}: "
                        f"{data[at:at + 20]!r} vs {numpy1[at:at + 20]!r}"
                    )
        except Exception as e:  # noqa: BLE001 - reported to the Rust test
            errors.append(f"{type(e).__name__}: {e}")
        results.append({"file": path, "ok": not errors, "errors": errors})
    json.dump(results, sys.stdout)


def run_pickle(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        pickle.loads(data)
    except Exception as e:  # noqa: BLE001 - the side effect is what counts
        print(f"pickle.loads raised {type(e).__name__}: {e}")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("gen", "check", "run-pickle"):
        sys.exit(__doc__)
    {"gen": gen, "check": check, "run-pickle": run_pickle}[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
