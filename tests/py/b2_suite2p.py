"""Turns a demo B2 session into a suite2p-shaped one with numpy, saves
loading recipes as vrAnalysis saves them, and resolves each recipe the way
vrAnalysis' B2Session does (load_s2p and get_roi_position re-implemented
from vrAnalysis/sessions/b2session.py, the same numpy expressions).

Writes into SESSION_DIR:
- suite2p/<plane>/F.npy of mixed dtypes and memory orders (f4 C, f8 F, f4 F),
  Fneu.npy all Fortran-ordered, mix*.npy planes of mixed numeric dtypes,
  stat.npy (1-d object arrays of dicts: int64/int32 ypix/xpix, float32 lam),
  ops.npy (0-d object array of a dict holding arrays and a datetime);
- oneData/t.*.npy recipes.

usage: b2_suite2p.py SESSION_DIR
prints JSON {name: reference}, each reference describing what loadone gives.
"""
import datetime
import json
import pathlib
import sys
import warnings

import numpy as np

warnings.simplefilter("error")

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from onedigest import digest  # noqa: E402

session = pathlib.Path(sys.argv[1])
values_path = session / "vrExperimentValues.json"
values = json.loads(values_path.read_text())
rng = np.random.default_rng(13)
planes = values["planeNames"]
rois = values["roiPerPlane"]
s2p = session / "suite2p"

# F: planes of different dtypes and memory orders (framePerPlane columns).
f_layout = [("f4", False), ("f8", True), ("f4", True)]
for p, (plane, n) in enumerate(zip(planes, rois)):
    frames = values["framePerPlane"][p]
    dt, fortran = f_layout[p % 3]
    f = rng.standard_normal((n, frames)).astype(dt)
    np.save(s2p / plane / "F.npy", np.asfortranarray(f) if fortran else f)
    fneu = rng.standard_normal((n, frames)).astype("f4")
    np.save(s2p / plane / "Fneu.npy", np.asfortranarray(fneu))

# Non-frame variables whose planes promote: result types checked by numpy.
mixes = {
    "mixA": ["u1", "i1", "b1"],  # i2
    "mixB": ["i4", "f4", "f4"],  # f8
    "mixC": ["u8", "i8", "i8"],  # f8
    "mixD": ["f2", "u1", "i1"],  # f2
    "mixE": ["c8", "f8", "i2"],  # c16
    "mixF": [">f4", ">f4", ">f4"],  # <f4
}
for var, dts in mixes.items():
    for p, (plane, n) in enumerate(zip(planes, rois)):
        dt = np.dtype(dts[p % 3])
        if dt.kind == "b":
            a = rng.integers(0, 2, (n, 3)).astype(dt)
        elif dt.kind in "iu":
            info = np.iinfo(dt)
            a = rng.integers(max(info.min, -(2**62)), min(info.max, 2**62), (n, 3), endpoint=True).astype(dt)
            if dt == np.uint64:
                a[0, 0] = np.uint64(2**64 - 1)  # rounds in f8
        elif dt.kind == "c":
            a = (rng.standard_normal((n, 3)) + 1j * rng.standard_normal((n, 3))).astype(dt)
        else:
            a = (rng.standard_normal((n, 3)) * 100).astype(dt)
        np.save(s2p / plane / f"{var}.npy", np.asfortranarray(a) if p == 1 else a)

# stat: suite2p's ROI dicts. Sizes cover numpy's pairwise summation
# (< 8, <= 128, > 128, > 8192 elements).
sizes = [1, 2, 5, 8, 9, 17, 127, 128, 129, 300, 1000, 9000, 20000, 3, 4, 6, 7, 64, 65, 250, 33, 2, 11, 12, 13, 14]
k = 0
for p, (plane, n) in enumerate(zip(planes, rois)):
    stats = []
    pix_dt = np.int32 if p == 1 else np.int64
    for _ in range(n):
        size = sizes[k % len(sizes)]
        k += 1
        ypix = rng.integers(0, 512, size).astype(pix_dt)
        xpix = rng.integers(0, 512, size).astype(pix_dt)
        lam = rng.random(size, dtype=np.float32) * np.float32(rng.random() * 10)
        stats.append({
            "ypix": ypix,
            "xpix": xpix,
            "lam": lam,
            "med": [np.median(ypix), np.median(xpix)],
            "npix": int(xpix.size),
            "npix_soma": np.int64(size),
            "footprint": np.float64(1.5),
            "skew": np.float32(0.25),
            "overlap": np.zeros(size, dtype=bool),
        })
    np.save(s2p / plane / "stat.npy", np.array(stats))
    ops = {
        "nplanes": len(planes),
        "fs": 30.0,
        "outer_neuropil_radius": np.inf,
        "do_registration": True,
        "save_path": str(s2p / plane),
        "diameter": [12, 12],
        "meanImg": rng.standard_normal((8, 6)).astype("f4"),
        "refImg": rng.integers(0, 100, (8, 6)).astype("i2"),
        "rmin": np.int16(-3),
        "timing": {"registration": 1.25},
        "date_proc": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
        "plane": p,
    }
    np.save(s2p / plane / "ops.npy", np.array(ops))

values["available"] = ["F", "Fneu", "spks", "iscell", "stat", "ops", *mixes]
values_path.write_text(json.dumps(values))


# ---- vrAnalysis' B2Session methods, the same numpy expressions ----
def get_value(key):
    return values[key]


def load_s2p(varName, concatenate=True):
    assert varName in get_value("available"), f"{varName} not available"
    frame_vars = ["F", "F_chan2", "Fneu", "Fneu_chan2", "spks"]
    if varName == "ops":
        concatenate = False
    var = [np.load(s2p / planeName / f"{varName}.npy", allow_pickle=True) for planeName in get_value("planeNames")]
    if varName == "ops":
        var = [cvar.item() for cvar in var]
        return var
    if concatenate:
        if varName in frame_vars:
            var = [v[:, : get_value("numFrames")] for v in var]
        var = np.concatenate(var, axis=0)
    return var


def get_plane_idx():
    return np.repeat(get_value("planeIDs"), get_value("roiPerPlane")).astype(np.uint8)


def get_roi_position(mode="weightedmean"):
    planeIdx = get_plane_idx()
    stat = load_s2p("stat")
    lam = [s["lam"] for s in stat]
    ypix = [s["ypix"] for s in stat]
    xpix = [s["xpix"] for s in stat]
    if mode == "weightedmean":
        yc = np.array([np.sum(l * y) / np.sum(l) for l, y in zip(lam, ypix)])
        xc = np.array([np.sum(l * x) / np.sum(l) for l, x in zip(lam, xpix)])
    elif mode == "median":
        yc = np.array([np.median(y) for y in ypix])
        xc = np.array([np.median(x) for x in xpix])
    stack_position = np.stack((xc, yc, planeIdx)).T
    return stack_position


loaders = {"S2P": load_s2p, "roiPosition": get_roi_position}
transforms = {"transpose": lambda x: x.T, "idx_column1": lambda x: x[:, 1]}


def save_recipe(name, loader_type, source_arg, transforms=(), **kwargs):
    d = {
        "marker": "__LOADING_RECIPE__",
        "loader_type": loader_type,
        "source_arg": source_arg,
        "transforms": list(transforms),
        "kwargs": kwargs,
    }
    np.save(session / "oneData" / f"{name}.npy", np.array(d, dtype=object))


def resolve(name):
    # vrAnalysis' loadone for a recipe file.
    d = np.load(session / "oneData" / f"{name}.npy", allow_pickle=True).item()
    if d["source_arg"] is not None:
        data = loaders[d["loader_type"]](d["source_arg"], **d["kwargs"])
    else:
        data = loaders[d["loader_type"]](**d["kwargs"])
    for t in d["transforms"] or []:
        data = transforms[t](data)
    return data


def describe(a):
    if isinstance(a, np.ndarray) and a.dtype != object:
        return {
            "type": "array",
            "sha256": digest(a),
            "descr": a.dtype.str,
            "shape": list(a.shape),
            "fortran": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
        }
    if isinstance(a, np.ndarray):
        return {"type": "objects", "shape": list(a.shape), "items": [describe_item(x) for x in a.ravel()]}
    if isinstance(a, list):
        return {"type": "list", "items": [describe(x) if isinstance(x, np.ndarray) else describe_item(x) for x in a]}
    raise TypeError(type(a))


def describe_item(x):
    # A stat or ops dict: its keys and its arrays' digests.
    assert isinstance(x, dict)
    return {
        "keys": list(x),
        "arrays": {k: describe(v) for k, v in x.items() if isinstance(v, np.ndarray)},
    }


recipes = [
    ("t.F", "S2P", "F", ["transpose"], {}),
    ("t.Fvarname", "S2P", None, ["transpose"], {"varName": "F"}),
    ("t.Fone", "S2P", "F", [], {"concatenate": 1}),
    ("t.Fno", "S2P", "F", [], {"concatenate": "no"}),
    ("t.Fneu", "S2P", "Fneu", [], {}),
    ("t.FneuT", "S2P", "Fneu", ["transpose"], {}),
    ("t.planes", "S2P", "F", [], {"concatenate": 0}),
    ("t.planesNone", "S2P", None, [], {"varName": "Fneu", "concatenate": None}),
    ("t.stat", "S2P", "stat", [], {}),
    ("t.ops", "S2P", "ops", [], {}),
    ("t.opsc", "S2P", "ops", [], {"concatenate": True}),
    ("t.posDefault", "roiPosition", None, [], {}),
    ("t.posWeighted", "roiPosition", "weightedmean", [], {}),
    ("t.posMedian", "roiPosition", None, [], {"mode": "median"}),
    ("t.posMedianT", "roiPosition", "median", ["transpose"], {}),
] + [(f"t.{var}", "S2P", var, [], {}) for var in mixes] + [("t.mixBcol", "S2P", "mixB", ["idx_column1"], {})]

out = {}
for name, lt, sa, tr, kw in recipes:
    save_recipe(name, lt, sa, tr, **kw)
    out[name] = describe(resolve(name))
print(json.dumps(out))
