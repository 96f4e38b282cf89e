#!/usr/bin/env python3
"""Writes the .npy fixtures of the numpy interop tests (tests/interop/npy_interop.rs).

Usage: gen_npy_fixtures.py OUTDIR

Every fixture is written by the installed numpy (numpy.save or
numpy.lib.format.write_array), or hand-crafted and then checked to load with
numpy. OUTDIR/manifest.json describes them:

  "arrays": one entry per loadable fixture
      file               fixture file name (in OUTDIR)
      descr              numpy dtype.str of the array as numpy loads it
      shape              list of ints
      fortran_order      the header's fortran_order
      version            [major, minor] of the file format
      data_offset        where the data starts in the file
      expected_bin       file holding the elements in C order, little-endian,
                         booleans as 0/1 bytes
      sha256             hex SHA-256 of expected_bin's bytes
      raw_bin            (booleans only) the raw stored bytes in C order
      numpy_save_native  the file is exactly what numpy.save writes for a
                         native-byte-order array: a rewrite must reproduce it
  "unsupported": [{file, descr}] dtypes numpy loads but onedata does not view
  "flexible":    strings, bytes, datetimes, long doubles, void and records
                 (see flexible_fixtures): file, descr (as numpy loads it),
                 native_descr (as onedata holds it), shape, fortran_order,
                 kind, strings / bytes_hex / ints + unit / fields (by kind),
                 raw_hex (the element bytes in C order, native byte order),
                 digest (hex SHA-256 of the documented numpy expression),
                 resaved (np.save of the array as onedata holds it)
  "truncated":   [{file, source, cut, part, numpy_error}] fixtures cut short
                 after `cut` bytes, in the "header" or the "data"; numpy
                 refuses each of them with numpy_error
"""

import hashlib
import io
import json
import os
import sys

import numpy as np

SHAPES = [(), (0,), (5, 0, 3), (7,), (3, 4), (2, 3, 4), (1, 5), (2, 1, 3)]
CODES = ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8",
         "f2", "f4", "f8", "c8", "c16"]

# Float bit patterns worth round-tripping exactly: NaNs with payloads, a
# negative NaN, signalling NaNs, the smallest subnormal.
FLOAT_BITS = {
    "f2": [0x7E01, 0xFE00, 0x7C01, 0x0001],
    "f4": [0x7FC01234, 0xFFC00000, 0x7F800001, 0x00000001],
    "f8": [0x7FF8DEADBEEF0001, 0xFFF8000000000000, 0x7FF0000000000001,
           0x0000000000000001],
}
UINT_FOR = {"f2": "<u2", "f4": "<u4", "f8": "<u8"}


def float_values(code, n, rng):
    dt = np.dtype("<" + code)
    fi = np.finfo(dt)
    special = np.array(
        [-1.5, np.nan, np.inf, -np.inf, -0.0, 0.0, float(fi.max), float(fi.min),
         float(fi.tiny), float(fi.eps), 1.0 / 3.0],
        dtype=dt,
    )
    bits = np.array(FLOAT_BITS[code], dtype=UINT_FOR[code]).view(dt)
    special = np.concatenate([special[:1], bits, special[1:]])
    with np.errstate(over="ignore"):
        v = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dt)
    m = min(n, len(special))
    v[:m] = special[:m]
    return v


def values(code, n, seed):
    """n deterministic, interesting little-endian values of dtype `code`."""
    rng = np.random.default_rng(seed)
    if code == "b1":
        return (rng.integers(0, 3, n) == 0) | (np.arange(n) % 5 == 1)
    if code[0] in "iu":
        dt = np.dtype("<" + code)
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, n, endpoint=True, dtype=dt)
        special = ([-1, info.min, info.max, 0, 1, info.min + 1, info.max - 1]
                   if code[0] == "i" else
                   [info.max, 0, 1, info.max - 1, info.max // 2 + 1])
        m = min(n, len(special))
        v[:m] = np.array(special[:m], dtype=dt)
        return v
    if code[0] == "f":
        return float_values(code, n, rng)
    part = "f4" if code == "c8" else "f8"
    re = float_values(part, n, rng)
    im = float_values(part, n, np.random.default_rng(seed + 1000003))[::-1]
    out = np.empty(n, dtype="<" + code)
    out.real = re
    out.imag = -im
    return out


def shape_name(shape):
    return "x".join(str(d) for d in shape) if shape else "scalar"


def header_info(path):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            # numpy has no public reader for 3.0; its private one is stable.
            shape, fortran, dtype = np.lib.format._read_array_header(f, version)
        return version, shape, fortran, dtype, f.tell()


def expected_bytes(a):
    """The digest bytes: C order, little-endian, booleans as 0/1."""
    c = np.array(a, order="C", copy=True)
    if c.dtype.kind == "b":
        return (c.view("u1") != 0).astype("u1").tobytes()
    return c.astype(c.dtype.newbyteorder("<")).tobytes(order="C")


def npsave_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


class Gen:
    def __init__(self, outdir):
        self.outdir = outdir
        self.arrays = []
        self.names = set()

    def path(self, name):
        assert name not in self.names, name
        self.names.add(name)
        return os.path.join(self.outdir, name)

    def record(self, name, intended):
        """Loads fixture `name` with numpy, checks it holds `intended`
        (bit for bit), and adds its manifest entry."""
        path = os.path.join(self.outdir, name)
        loaded = np.load(path)
        version, shape, fortran, dtype, offset = header_info(path)
        assert loaded.dtype == intended.dtype, (name, loaded.dtype, intended.dtype)
        assert loaded.shape == intended.shape == shape, name
        assert dtype == loaded.dtype, name
        assert loaded.tobytes(order="C") == intended.tobytes(order="C"), name
        exp = expected_bytes(loaded)
        assert len(exp) == loaded.size * loaded.dtype.itemsize
        bin_name = name + ".expected.bin"
        with open(os.path.join(self.outdir, bin_name), "wb") as f:
            f.write(exp)
        native = loaded.dtype.isnative or loaded.dtype.itemsize == 1
        with open(path, "rb") as f:
            file_bytes = f.read()
        entry = {
            "file": name,
            "descr": loaded.dtype.str,
            "shape": list(shape),
            "fortran_order": bool(fortran),
            "version": list(version),
            "data_offset": offset,
            "expected_bin": bin_name,
            "sha256": hashlib.sha256(exp).hexdigest(),
            "numpy_save_native": bool(native and file_bytes == npsave_bytes(loaded)),
        }
        if loaded.dtype.kind == "b":
            raw_name = name + ".raw.bin"
            with open(os.path.join(self.outdir, raw_name), "wb") as f:
                f.write(np.array(loaded, order="C").view("u1").tobytes())
            entry["raw_bin"] = raw_name
        self.arrays.append(entry)

    def save(self, name, a, **kw):
        with open(self.path(name), "wb") as f:
            np.save(f, a, **kw)

    def write_array(self, name, a, version):
        with open(self.path(name), "wb") as f:
            np.lib.format.write_array(f, a, version=version)
        self.record(name, a)

    def handcrafted(self, name, a, data_offset, fortran=False):
        """A version 1.0 file whose header is padded so that the data starts
        at `data_offset` (numpy itself always aligns it to 64 bytes)."""
        shape = a.shape
        text = "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (
            a.dtype.str, fortran, shape)
        pad = data_offset - 10 - len(text) - 1
        assert pad >= 0, (name, data_offset)
        header = text + " " * pad + "\n"
        raw = (np.lib.format.MAGIC_PREFIX + bytes([1, 0])
               + len(header).to_bytes(2, "little") + header.encode("latin1"))
        assert len(raw) == data_offset
        with open(self.path(name), "wb") as f:
            f.write(raw + a.tobytes(order="F" if fortran else "C"))
        self.record(name, a)


FLEX_SWAPPED = "UMmfc"  # kinds decoded into native byte order when loaded


def header_descr(dtype):
    """The descr as the header spells it: dtype.str, or a record list's repr."""
    return dtype.str if dtype.names is None else repr(np.lib.format.dtype_to_descr(dtype))


def flexible_fixtures(g):
    """Strings, bytes, datetimes, long doubles, void and structured arrays,
    in both byte orders where they have one and in C and Fortran order,
    each with what numpy makes of it."""
    out = []

    def add(name, a, kind, fortran=False):
        if fortran:
            a = np.asfortranarray(a)
        g.save(name, a)
        path = os.path.join(g.outdir, name)
        loaded = np.load(path)
        assert loaded.dtype == a.dtype and loaded.shape == a.shape, name
        assert loaded.tobytes() == a.tobytes(), name
        _, shape, fort, _, _ = header_info(path)
        swapped = loaded.dtype.kind in FLEX_SWAPPED
        native = loaded.astype(loaded.dtype.newbyteorder("="), order="K") if swapped else loaded
        if swapped:
            little = np.ascontiguousarray(loaded, loaded.dtype.newbyteorder("<"))
        else:
            little = np.ascontiguousarray(loaded)
        entry = {
            "file": name,
            "descr": header_descr(loaded.dtype),
            "native_descr": header_descr(native.dtype),
            "shape": list(shape),
            "fortran_order": bool(fort),
            "kind": kind,
            "itemsize": loaded.dtype.itemsize,
            "raw_hex": np.ascontiguousarray(native).tobytes().hex(),
            "digest": hashlib.sha256(little.tobytes()).hexdigest(),
        }
        flat = loaded.ravel(order="C")
        if kind == "U":
            entry["strings"] = [str(x) for x in flat.tolist()]
        elif kind == "S":
            entry["bytes_hex"] = [bytes(x).hex() for x in flat.tolist()]
        elif kind in ("M", "m"):
            entry["ints"] = [int(x) for x in
                             flat.astype(flat.dtype.newbyteorder("<")).view("<i8").tolist()]
            unit, count = np.datetime_data(loaded.dtype)
            entry["unit"] = [unit, int(count)]
        elif kind == "struct":
            fields = []
            for fname in loaded.dtype.names:
                fdt, offset = loaded.dtype.fields[fname][:2]
                base = fdt.base
                fields.append({
                    "name": fname,
                    "offset": offset,
                    "descr": repr(base.descr) if base.names is not None else base.str,
                    "shape": list(fdt.shape),
                    "size": fdt.itemsize,
                })
            entry["fields"] = fields
        resaved = name + ".resaved.npy"
        with open(g.path(resaved), "wb") as f:
            np.save(f, native)
        entry["resaved"] = resaved
        out.append(entry)

    u = np.array([["abcde", "x", "\u00e9t\u00e9"], ["", "\U0001f42d!", "a\x00b"]], dtype="<U5")
    for bo in "<>":
        for mem in "CF":
            add(f"U5_{'le' if bo == '<' else 'be'}_{mem}_2x3.npy",
                u.astype(u.dtype.newbyteorder(bo)), "U", fortran=mem == "F")
    add("U6_le_C_4.npy", np.array(["mouse", "r\u00f6i", "", "\u4e2d\u6587"], dtype="<U6"), "U")
    add("U1_le_C_0.npy", np.array([], dtype="<U1"), "U")
    add("U3_le_C_scalar.npy", np.array("ab", dtype="<U3"), "U")

    b = np.array([[b"ab", b"a\x00b"], [b"", b"\x00\x00z"], [b"\xff", b"xyz"]], dtype="S3")
    for mem in "CF":
        add(f"S3_{mem}_3x2.npy", b, "S", fortran=mem == "F")
    add("S2_C_4.npy", np.array([b"ab", b"\x00", b"a", b"\x00b"], dtype="S2"), "S")

    dates = ["2024-01-01", "NaT", "1970-01-01", "1969-12-31", "2262-04-11", "1800-06-30"]
    for unit in ["D", "s", "ms", "ns", "M", "25ms"]:
        for bo in "<>":
            a = np.array(dates, dtype=f"M8[{unit}]").astype(f"{bo}M8[{unit}]")
            add(f"M8_{unit}_{'le' if bo == '<' else 'be'}_C_6.npy", a, "M")
    add("M8_D_le_F_2x3.npy", np.array(dates, dtype="<M8[D]").reshape(2, 3), "M", fortran=True)
    td = np.array([0, 1, -1, np.iinfo(np.int64).max, -(2**40)], dtype="i8").astype("m8[s]")
    td[3] = np.timedelta64("NaT")
    for bo in "<>":
        for unit in ["s", "us", "h"]:
            add(f"m8_{unit}_{'le' if bo == '<' else 'be'}_C_5.npy",
                td.astype(f"m8[{unit}]", casting="unsafe").astype(f"{bo}m8[{unit}]"), "m")
    add("m8_generic_C_3.npy", np.array([1, 2, 3], dtype="m8"), "m")

    ld = np.array([[1.5, -2.0, 1e300], [0.1, np.inf, np.nan]], dtype=np.longdouble)
    for bo in "<>":
        for mem in "CF":
            add(f"f16_{'le' if bo == '<' else 'be'}_{mem}_2x3.npy",
                ld.astype(ld.dtype.newbyteorder(bo)), "longdouble", fortran=mem == "F")
    with np.errstate(invalid="ignore"):
        cld = (ld + 1j * ld[::-1]).astype(np.clongdouble)
    for bo in "<>":
        add(f"c32_{'le' if bo == '<' else 'be'}_C_2x3.npy",
            cld.astype(cld.dtype.newbyteorder(bo)), "longdouble")

    v = np.frombuffer(bytes(range(24)), dtype="V4").reshape(2, 3)
    add("V4_C_2x3.npy", v, "V")
    add("V4_F_2x3.npy", v, "V", fortran=True)

    rec = np.dtype([("x", "<i2"), ("name", "S3"), ("t", ">f8", (2,)), ("u", "<U2")])
    r = np.zeros((2, 2), dtype=rec)
    r["x"] = [[1, -2], [3, 4]]
    r["name"] = [[b"ab", b""], [b"c\x00d", b"xyz"]]
    r["t"] = np.arange(8.0).reshape(2, 2, 2)
    r["u"] = [["\u00e9", "z"], ["", "ok"]]
    add("struct_C_2x2.npy", r, "struct")
    add("struct_F_2x2.npy", r, "struct", fortran=True)
    inner = np.dtype({"names": ["a", "b"], "formats": ["u1", "<i4"],
                      "offsets": [0, 4], "itemsize": 12})
    nested = np.dtype({"names": ["id", "pos", "when"],
                       "formats": ["<u2", inner, "<M8[us]"],
                       "offsets": [2, 8, 24], "itemsize": 40})
    n = np.zeros(3, dtype=nested)
    n["id"] = [7, 8, 9]
    n["pos"]["a"] = [1, 2, 3]
    n["pos"]["b"] = [-1, 0, 2**30]
    n["when"] = np.array(["2024-05-01T12:00", "NaT", "1970-01-01"], dtype="M8[us]")
    add("struct_nested_padded_C_3.npy", n, "struct")
    aligned = np.dtype([("a", "u1"), ("b", "<f8"), ("c", "<i2")], align=True)
    add("struct_aligned_C_4.npy", np.array([(1, 0.5, -3), (2, 1.5, 4), (3, 2.5, 5), (4, 3.5, 6)],
                                           dtype=aligned), "struct")
    return out


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    g = Gen(outdir)
    seed = 0

    # Every dtype x byte order x memory order x shape, through numpy.save.
    for code in CODES:
        orders = ["|"] if np.dtype(code).itemsize == 1 else ["<", ">"]
        for bo in orders:
            for shape in SHAPES:
                seed += 1
                n = int(np.prod(shape, dtype=np.int64))
                base = values(code, n, seed).reshape(shape)
                dt = np.dtype(code).newbyteorder(bo) if bo != "|" else np.dtype(code)
                a = base.astype(dt)
                tag = {"<": "le", ">": "be", "|": "na"}[bo]
                for mem in ["C", "F"]:
                    arr = np.array(a, order=mem, copy=True)
                    name = f"{code}_{tag}_{mem}_{shape_name(shape)}.npy"
                    g.save(name, arr)
                    g.record(name, arr)

    # Booleans stored as bytes other than 0 and 1, which numpy reads as True
    # and keeps as they are.
    pattern = [0, 1, 2, 0xFF, 0x80, 0, 0x7F, 1, 0x10, 0, 3, 0xFE, 0, 0x01, 0x40,
               0xAA, 0, 0x55, 0x02, 0, 0xFF, 0x09, 0, 0x11]
    for shape in [(), (7,), (3, 4), (2, 3, 4)]:
        for mem in ["C", "F"]:
            n = int(np.prod(shape, dtype=np.int64))
            raw = bytes(pattern[(i + len(shape)) % len(pattern)] for i in range(n))
            if shape == ():
                raw = b"\x02"
            a = np.frombuffer(raw, dtype="u1").view("?").reshape(shape, order=mem)
            a = np.array(a, order=mem, copy=True)
            name = f"b1_rawbytes_{mem}_{shape_name(shape)}.npy"
            g.save(name, a)
            loaded = np.load(os.path.join(outdir, name))
            assert np.array(loaded, order="C").view("u1").tobytes() == \
                np.array(a, order="C").view("u1").tobytes(), name
            assert any(b not in (0, 1) for b in raw), name
            g.record(name, a)

    # Format versions 2.0 and 3.0.
    seed += 1
    g.write_array("f8_le_C_3x4_v2.npy", values("f8", 12, seed).reshape(3, 4), (2, 0))
    seed += 1
    g.write_array("i4_be_F_2x3x4_v2.npy",
                  np.asfortranarray(values("i4", 24, seed).reshape(2, 3, 4).astype(">i4")),
                  (2, 0))
    seed += 1
    g.write_array("c16_le_C_2x3x4_v3.npy", values("c16", 24, seed).reshape(2, 3, 4), (3, 0))
    seed += 1
    g.write_array("b1_na_F_3x4_v3.npy",
                  np.asfortranarray(values("b1", 12, seed).reshape(3, 4)), (3, 0))

    # Data that does not start at a multiple of the element alignment.
    for name, code, shape, offset, fortran in [
        ("f8_le_C_3x4_misaligned.npy", "<f8", (3, 4), 84, False),
        ("f8_be_C_3x4_misaligned.npy", ">f8", (3, 4), 93, False),
        ("f8_le_F_2x3x4_misaligned.npy", "<f8", (2, 3, 4), 100, True),
        ("c8_le_C_7_misaligned.npy", "<c8", (7,), 83, False),
        ("c16_le_C_3x4_misaligned.npy", "<c16", (3, 4), 108, False),
        ("i4_le_C_3x4_misaligned.npy", "<i4", (3, 4), 90, False),
        ("f2_le_C_7_misaligned.npy", "<f2", (7,), 81, False),
        ("u8_be_F_3x4_misaligned.npy", ">u8", (3, 4), 84, True),
        ("u2_le_C_scalar_misaligned.npy", "<u2", (), 79, False),
    ]:
        seed += 1
        n = int(np.prod(shape, dtype=np.int64))
        a = values(code[1:], n, seed).reshape(shape).astype(code)
        if fortran:
            a = np.asfortranarray(a)
        assert offset % np.dtype(code).alignment != 0, name
        g.handcrafted(name, a, offset, fortran)

    # Larger arrays: more than one chunk for the digest and the writer.
    seed += 1
    g.save("f4_le_F_300x500.npy",
           np.asfortranarray(values("f4", 150000, seed).reshape(300, 500)))
    g.record("f4_le_F_300x500.npy", np.load(os.path.join(outdir, "f4_le_F_300x500.npy")))
    seed += 1
    big = values("i2", 257 * 301, seed).reshape(257, 301).astype(">i2")
    g.save("i2_be_C_257x301.npy", big)
    g.record("i2_be_C_257x301.npy", big)
    seed += 1
    bools = values("b1", 70000, seed).reshape(7, 10000)
    g.save("b1_na_F_7x10000.npy", np.asfortranarray(bools))
    g.record("b1_na_F_7x10000.npy", bools)

    # Bytes after the data, which numpy ignores.
    seed += 1
    a = values("f8", 12, seed).reshape(3, 4)
    g.save("f8_le_C_3x4_trailing.npy", a)
    with open(os.path.join(outdir, "f8_le_C_3x4_trailing.npy"), "ab") as f:
        f.write(b"trailing garbage")
    g.record("f8_le_C_3x4_trailing.npy", a)

    # Dtypes numpy loads and onedata refuses to view.
    unsupported = []

    def add_unsupported(name, a, **kw):
        g.save(name, a, **kw)
        loaded = np.load(os.path.join(outdir, name), allow_pickle=True)
        assert loaded.shape == a.shape and loaded.dtype == a.dtype, name
        unsupported.append({"file": name, "descr": loaded.dtype.str,
                            "shape": list(a.shape)})

    obj = np.empty(3, dtype=object)
    obj[0], obj[1], obj[2] = {"speed": 1.5}, [1, 2, 3], "lick"
    add_unsupported("object_3.npy", obj, allow_pickle=True)

    flexible = flexible_fixtures(g)

    # Valid fixtures cut short, each refused by numpy.
    truncated = []
    for source, cut_spec, part in [
        ("f8_le_C_3x4.npy", -1, "data"),
        ("f8_be_C_3x4.npy", -1, "data"),
        ("i2_le_F_2x3x4.npy", -1, "data"),
        ("b1_na_C_7.npy", -1, "data"),
        ("f8_le_C_3x4.npy", 128, "data"),
        ("f8_le_C_3x4.npy", 60, "header"),
        ("f8_le_C_3x4.npy", 127, "header"),
        ("f8_le_C_3x4.npy", 100, "header"),
        ("f8_le_C_3x4.npy", 9, "header"),
        ("f8_le_C_3x4.npy", 5, "header"),
        ("f8_le_C_3x4.npy", 0, "header"),
        ("f8_le_C_3x4_v2.npy", 11, "header"),
        ("f8_le_C_3x4_v2.npy", 100, "header"),
        ("f8_le_C_3x4_v2.npy", -1, "data"),
    ]:
        with open(os.path.join(outdir, source), "rb") as f:
            full = f.read()
        cut = len(full) + cut_spec if cut_spec < 0 else cut_spec
        name = f"trunc_{cut}_{source}"
        with open(g.path(name), "wb") as f:
            f.write(full[:cut])
        try:
            np.load(os.path.join(outdir, name))
        except Exception as e:  # numpy raises ValueError or EOFError
            err = f"{type(e).__name__}: {e}"
        else:
            raise AssertionError(f"numpy loaded truncated file {name}")
        truncated.append({"file": name, "source": source, "cut": cut, "part": part,
                          "numpy_error": err})

    manifest = {
        "numpy_version": np.__version__,
        "arrays": g.arrays,
        "unsupported": unsupported,
        "flexible": flexible,
        "truncated": truncated,
    }
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps({"arrays": len(g.arrays), "unsupported": len(unsupported),
                      "flexible": len(flexible),
                      "truncated": len(truncated)}))


if __name__ == "__main__":
    main()
