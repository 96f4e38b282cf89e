"""Object arrays that are not loading recipes, for onedata's interop tests.

    python -W error object_fixtures.py gen OUTDIR

writes OUTDIR/<case>.<variant>.npy for every case and variant, and
OUTDIR/manifest.json: for each file, the value np.load(allow_pickle=True)
gives (its .item() for a 0-d array) as onedata's JSON tree
(PyValue::to_json_tree with hexadecimal array data) and the SHA-256 of its
canonical serialization (PyValue::write_canonical), both computed here from
what numpy loads.

Variants: np.save (protocol 4 in numpy 2), protocol 3 with numpy 1.x's module
path numpy.core.multiarray (what numpy 1.17-1.26 write), and protocol 2 (numpy
< 1.17, bytes as _codecs.encode).
"""

import datetime
import hashlib
import io
import json
import math
import pickle
import struct
import sys

import numpy as np


def obj_array(items, shape=None, order="C"):
    a = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        a[i] = x
    if shape is not None:
        a = a.reshape(shape, order=order)
    return a


def roi(i, pix_dtype):
    n = 3 + i
    ypix = (np.arange(n) + 10 * i).astype(pix_dtype)
    xpix = (np.arange(n)[::-1] + 5).astype(pix_dtype)
    lam = (np.linspace(0.1, 1.0, n)).astype(np.float32)
    return {
        "ypix": ypix,
        "xpix": xpix,
        "lam": lam,
        "med": [np.float64(np.median(ypix)), np.float64(np.median(xpix))],
        "npix": int(xpix.size),
        "npix_soma": np.int64(n - 1),
        "overlap": np.zeros(n, bool),
        "radius": np.float64(1.5 + i),
        "skew": np.float32(0.25 * i),
        "footprint": np.float64(1.0) if i % 2 else 0,
    }


def cases():
    big_dtypes = {
        "f8": np.arange(6.0).reshape(2, 3),
        "f4F": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "i2be": np.array([1, -2, 300], ">i2"),
        "u1": np.array([0, 255], np.uint8),
        "i8": np.array([-(2**63), 2**63 - 1]),
        "u8": np.array([2**64 - 1], np.uint64),
        "b1": np.array([True, False, True]),
        "c16": np.array([1 + 2j, -0.5j]),
        "c8be": np.array([1 - 1j], ">c8"),
        "f2": np.array([1.5, -0.0], np.float16),
        "U": np.array(["ab", "é🐭"]),
        "S": np.array([b"x", b"yz"]),
        "M8D": np.array(["2024-01-01", "NaT"], "M8[D]"),
        "m8_25s": np.array([5, -1], "m8[25s]"),
        "M8ns": np.array(["2024-01-01T00:00:00.000000001"], "M8[ns]"),
        "empty": np.zeros((0, 3)),
        "zero_d": np.array(3.5),
        "noncontig": np.arange(12.0).reshape(3, 4)[:, ::2],
    }
    misc = {
        "list": [1, "a", None, [2.5, (1, 2)], []],
        "tuple1": (1,),
        "set": {1, 2, 3},
        "empty_set": set(),
        "frozenset": frozenset({"a", "b"}),
        "complex": 1 + 2j,
        "np_c64": np.complex64(1 - 0.5j),
        "np_c128": np.complex128(3j),
        "big": 2**200,
        "neg_big": -(2**2100),
        "i128_edge": 2**127,
        "u64_plus": 2**64,
        "dt64": np.datetime64("2024-01-01", "D"),
        "nat": np.datetime64("NaT"),
        "td64": np.timedelta64(5, "s"),
        "td64_25m": np.timedelta64(3, "25m"),
        "nan": float("nan"),
        "inf": math.inf,
        "keys": {1: "a", (1, 2): "b", 2.5: "c", None: "d"},
        "dollar": {"$int": 1},
        "bytes": b"\x00\xff",
        "np_scalars": [np.int64(7), np.float32(0.1), np.bool_(True), np.str_("hé"),
                       np.uint64(2**64 - 1), np.int16(-3), np.bytes_(b"ab")],
        "when": datetime.datetime(2024, 1, 1, 12, 0, 0, 5),
        "when_whole": datetime.datetime(1999, 12, 31, 23, 59, 59),
        "shared": None,
    }
    inner = [1, 2]
    misc["shared"] = [inner, inner]
    yield "dict_arrays", np.array(big_dtypes, dtype=object)
    yield "misc", np.array(misc, dtype=object)
    yield "list", np.array([1, "two", [3.0, None]], dtype=object)
    arrays = obj_array([np.arange(3), np.arange(4.0), np.array([], np.int32)])
    yield "arrays_1d", arrays
    yield "objects_2d", obj_array([1, "a", None, 2.5, (1,), [2]], shape=(2, 3))
    yield "objects_2d_f", np.asfortranarray(obj_array([1, "a", None, 2.5, (1,), [2]], shape=(2, 3)))
    yield "nested", np.array({"outer": obj_array([obj_array([1, 2]), {"k": np.arange(2)}])}, dtype=object)
    stat = obj_array([roi(i, np.int64 if i % 2 else np.int32) for i in range(5)])
    yield "stat", stat
    ops = {
        "meanImg": np.arange(64 * 48, dtype=np.float32).reshape(64, 48) / 7,
        "refImg": (np.arange(64 * 48) % 300).astype(np.int16).reshape(64, 48),
        "badframes": np.zeros(10, bool),
        "frames_per_folder": np.array([10], np.int32),
        "rmin": np.int16(-5),
        "rmax": np.int16(900),
        "data_path": ["/data/x", "/data/y"],
        "diameter": [12, 12],
        "timing": {"registration": 1.25, "detection": 3.5},
        "date_proc": datetime.datetime(2023, 5, 6, 7, 8, 9, 123456),
        "classifier_path": 0,
        "outer_neuropil_radius": math.inf,
        "yrange": [0, 64],
        "nframes": 10,
        "do_registration": True,
        "save_path": "/data/x/suite2p/plane0",
    }
    yield "ops", np.array(ops, dtype=object)


# -- the value as onedata's JSON tree -------------------------------------------


def fortran(a):
    return bool(a.flags.f_contiguous and not a.flags.c_contiguous)


def unit_text(dtype):
    unit, count = np.datetime_data(dtype)
    if unit == "generic":
        return "generic"
    return unit if count == 1 else f"{count}{unit}"


def float_tree(f):
    if math.isnan(f):
        return {"$float": "nan"}
    if math.isinf(f):
        return {"$float": "inf" if f > 0 else "-inf"}
    return f


def tree(v):
    if isinstance(v, np.ndarray):
        order = "F" if fortran(v) else "C"
        # A structured dtype as its dtype.descr list (a .npy header's spelling).
        descr = repr(v.dtype.descr) if v.dtype.names else v.dtype.str
        d = {"dtype": descr, "shape": list(v.shape), "fortran": fortran(v)}
        if v.dtype == object:
            # numpy pickles object elements in C order, whatever the flag.
            d["data"] = [tree(x) for x in v.ravel(order="C")]
        else:
            d["data"] = v.tobytes(order=order).hex()
        return {"$ndarray": d}
    if isinstance(v, np.generic):
        if isinstance(v, np.datetime64):
            return {"$datetime64": [int(v.view("i8")), unit_text(v.dtype)]}
        if isinstance(v, np.timedelta64):
            return {"$timedelta64": [int(v.view("i8")), unit_text(v.dtype)]}
        return tree(v.item())
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        if -(2**63) <= v < 2**64:
            return v
        return {"$int": str(v)}
    if isinstance(v, float):
        return float_tree(v)
    if isinstance(v, complex):
        return {"$complex": [float_tree(v.real), float_tree(v.imag)]}
    if isinstance(v, bytes):
        return {"$bytes": v.hex()}
    if isinstance(v, list):
        return [tree(x) for x in v]
    if isinstance(v, tuple):
        return {"$tuple": [tree(x) for x in v]}
    if isinstance(v, frozenset):
        return {"$frozenset": [tree(x) for x in v]}
    if isinstance(v, set):
        return {"$set": [tree(x) for x in v]}
    if isinstance(v, datetime.datetime):
        return {"$datetime": v.isoformat()}
    if isinstance(v, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in v):
            return {k: tree(x) for k, x in v.items()}
        return {"$dict": [[tree(k), tree(x)] for k, x in v.items()]}
    raise TypeError(type(v))


# -- the canonical serialization (PyValue::write_canonical) ----------------------


def u64(n):
    return struct.pack("<Q", n)


def long_bytes(x):
    """pickle's encode_long: minimal little-endian two's complement."""
    if x == 0:
        return b""
    nbytes = (x.bit_length() >> 3) + 1
    result = x.to_bytes(nbytes, "little", signed=True)
    if x < 0 and nbytes > 1 and result[-1] == 0xFF and (result[-2] & 0x80) != 0:
        result = result[:-1]
    return result


def text(s):
    b = s.encode()
    return b"s" + u64(len(b)) + b


def canon(v):
    if isinstance(v, np.ndarray):
        order = "F" if fortran(v) else "C"
        out = b"a" + text(v.dtype.str) + u64(v.ndim) + b"".join(u64(d) for d in v.shape)
        out += bytes([fortran(v)])
        if v.dtype == object:
            items = list(v.ravel(order="C"))
            return out + b"o" + u64(len(items)) + b"".join(canon(x) for x in items)
        raw = v.tobytes(order=order)
        return out + b"r" + u64(len(raw)) + raw
    if isinstance(v, np.generic):
        if isinstance(v, (np.datetime64, np.timedelta64)):
            tag = b"M" if isinstance(v, np.datetime64) else b"m"
            return tag + struct.pack("<q", int(v.view("i8"))) + text(unit_text(v.dtype))
        return canon(v.item())
    if v is None:
        return b"N"
    if v is True:
        return b"T"
    if v is False:
        return b"F"
    if isinstance(v, int):
        b = long_bytes(v)
        return b"i" + u64(len(b)) + b
    if isinstance(v, float):
        return b"f" + struct.pack("<d", v)
    if isinstance(v, complex):
        return b"c" + struct.pack("<dd", v.real, v.imag)
    if isinstance(v, str):
        return text(v)
    if isinstance(v, bytes):
        return b"b" + u64(len(v)) + v
    if isinstance(v, (list, tuple)):
        tag = b"l" if isinstance(v, list) else b"t"
        return tag + u64(len(v)) + b"".join(canon(x) for x in v)
    if isinstance(v, (set, frozenset)):
        tag = b"R" if isinstance(v, frozenset) else b"S"
        return tag + u64(len(v)) + b"".join(sorted(canon(x) for x in v))
    if isinstance(v, dict):
        return b"d" + u64(len(v)) + b"".join(canon(k) + canon(x) for k, x in v.items())
    if isinstance(v, datetime.datetime):
        return (b"D" + struct.pack("<H", v.year)
                + bytes([v.month, v.day, v.hour, v.minute, v.second])
                + struct.pack("<I", v.microsecond))
    raise TypeError(type(v))


# -- files -----------------------------------------------------------------------


def npy_header(arr):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    return buf.getvalue()


def to_numpy1_module(p):
    old, new = b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
    assert p.count(old) >= 1
    return p.replace(old, new)


def gen(outdir):
    files = []
    for name, arr in cases():
        buf = io.BytesIO()
        np.save(buf, arr)
        variants = [("npsave", buf.getvalue())]
        header = npy_header(arr)
        variants.append(("p3_core1", header + to_numpy1_module(pickle.dumps(arr, protocol=3))))
        variants.append(("p2", header + pickle.dumps(arr, protocol=2)))
        for variant, data in variants:
            file = f"{name}.{variant}.npy"
            with open(f"{outdir}/{file}", "wb") as f:
                f.write(data)
            loaded = np.load(f"{outdir}/{file}", allow_pickle=True)
            value = loaded.item() if loaded.shape == () else loaded
            files.append({
                "file": file,
                "case": name,
                "shape": list(loaded.shape),
                "tree": tree(value),
                "digest": hashlib.sha256(canon(value)).hexdigest(),
            })
    manifest = {"numpy_version": np.__version__, "files": files}
    with open(f"{outdir}/manifest.json", "w") as f:
        json.dump(manifest, f, allow_nan=False)


def main():
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {sys.argv[1]}")


if __name__ == "__main__":
    main()
