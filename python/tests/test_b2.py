"""onedata.B2Session against numpy computing what vrAnalysis's B2Session computes."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

import onedata
from onedata import _onedata
from onedata._onedata import MapOwner

PLANES = ["plane0", "plane1", "plane2"]
ROIS = [5, 3, 4]
FRAMES = 40
FRAME_PER_PLANE = [FRAMES + 2, FRAMES, FRAMES + 1]


def recipe(loader, source, transforms=(), **kwargs):
    return {
        "marker": "__LOADING_RECIPE__",
        "loader_type": loader,
        "source_arg": source,
        "transforms": list(transforms),
        "kwargs": kwargs,
    }


@pytest.fixture
def session(tmp_path):
    """A suite2p-shaped B2 session: root/ATL001/2024-05-03/701."""
    root = tmp_path
    d = root / "ATL001" / "2024-05-03" / "701"
    rng = np.random.default_rng(5)
    layouts = [("f4", False), ("f8", True), ("f4", True)]
    for p, (plane, n) in enumerate(zip(PLANES, ROIS)):
        (d / "suite2p" / plane).mkdir(parents=True)
        dt, fortran = layouts[p]
        f = rng.standard_normal((n, FRAME_PER_PLANE[p])).astype(dt)
        np.save(d / "suite2p" / plane / "F.npy", np.asfortranarray(f) if fortran else f)
        # Fneu of F's dtype: loadfcorr needs F and Fneu of one dtype.
        fneu = np.asfortranarray(rng.standard_normal((n, FRAME_PER_PLANE[p])).astype(dt))
        np.save(d / "suite2p" / plane / "Fneu.npy", fneu)
        np.save(d / "suite2p" / plane / "spks.npy", rng.random((n, FRAME_PER_PLANE[p])).astype("f4"))
        np.save(d / "suite2p" / plane / "iscell.npy", rng.random((n, 2)))
        stats = []
        for k in range(n):
            size = [1, 7, 9, 130, 300][k % 5]
            stats.append({
                "ypix": rng.integers(0, 512, size).astype(np.int64 if p != 1 else np.int32),
                "xpix": rng.integers(0, 512, size).astype(np.int64 if p != 1 else np.int32),
                "lam": rng.random(size, dtype=np.float32) * np.float32(3.5),
                "npix": size,
            })
        np.save(d / "suite2p" / plane / "stat.npy", np.array(stats))
    values = {
        "planeNames": PLANES,
        "planeIDs": [0, 1, 2],
        "roiPerPlane": ROIS,
        "framePerPlane": FRAME_PER_PLANE,
        "numROIs": sum(ROIS),
        "numFrames": FRAMES,
        "available": ["F", "Fneu", "spks", "iscell", "stat"],
    }
    (d / "vrExperimentValues.json").write_text(json.dumps(values))
    (d / "vrExperimentOptions.json").write_text(json.dumps({"neuropilCoefficient": 0.5, "imaging": True}))
    one = d / "oneData"
    one.mkdir()
    _onedata.write_recipe(str(one / "mpci.roiActivityF.npy"), recipe("S2P", "F", ["transpose"]))
    _onedata.write_recipe(str(one / "mpci.roiNeuropilActivityF.npy"), recipe("S2P", "Fneu", ["transpose"]))
    _onedata.write_recipe(str(one / "mpci.roiActivityDeconvolved.npy"), recipe("S2P", "spks", ["transpose"]))
    _onedata.write_recipe(str(one / "mpciROIs.isCell.npy"), recipe("S2P", "iscell", ["idx_column1"]))
    _onedata.write_recipe(str(one / "mpciROIs.stackPosition.npy"), recipe("roiPosition", None, mode="weightedmean"))
    _onedata.write_recipe(str(one / "mpciROIs.medianPosition.npy"), recipe("roiPosition", "median"))
    np.save(one / "mpci.times.npy", np.arange(FRAMES) / 30.0)
    sig = sp.random(FRAMES, sum(ROIS), density=0.2, format="csc", random_state=1, dtype=np.float32)
    sp.save_npz(one / "mpci.roiSignificantFluorescence.npz", sig)
    return root, d, values


def load_s2p(d, values, var):
    frame_vars = ["F", "F_chan2", "Fneu", "Fneu_chan2", "spks"]
    planes = [np.load(d / "suite2p" / p / f"{var}.npy", allow_pickle=True) for p in values["planeNames"]]
    if var in frame_vars:
        planes = [v[:, : values["numFrames"]] for v in planes]
    return np.concatenate(planes, axis=0)


def roi_position(d, values, mode):
    plane_idx = np.repeat(values["planeIDs"], values["roiPerPlane"]).astype(np.uint8)
    stat = load_s2p(d, values, "stat")
    lam = [s["lam"] for s in stat]
    ypix = [s["ypix"] for s in stat]
    xpix = [s["xpix"] for s in stat]
    if mode == "weightedmean":
        yc = np.array([np.sum(l * y) / np.sum(l) for l, y in zip(lam, ypix)])
        xc = np.array([np.sum(l * x) / np.sum(l) for l, x in zip(lam, xpix)])
    else:
        yc = np.array([np.median(y) for y in ypix])
        xc = np.array([np.median(x) for x in xpix])
    return np.stack((xc, yc, plane_idx)).T


def assert_exact(ours, want, layout=True):
    """Same dtype, shape and bits (and memory order, unless ``layout`` is False)."""
    assert isinstance(ours, np.ndarray)
    assert ours.dtype.str == want.dtype.str
    assert ours.shape == want.shape
    if layout and want.ndim > 1:
        assert ours.flags.f_contiguous == want.flags.f_contiguous
        assert ours.flags.c_contiguous == want.flags.c_contiguous
    assert ours.tobytes("C") == np.asarray(want).tobytes("C")


def test_recipes_resolve_as_numpy_computes_them(session):
    root, d, values = session
    s = onedata.B2Session(root, "ATL001", "2024-05-03", "701")
    assert s.session_name == ["ATL001", "2024-05-03", "701"]
    assert str(s.data_path) == str(d)
    for name, var, transform in [
        ("mpci.roiActivityF", "F", lambda x: x.T),
        ("mpci.roiNeuropilActivityF", "Fneu", lambda x: x.T),
        ("mpci.roiActivityDeconvolved", "spks", lambda x: x.T),
        ("mpciROIs.isCell", "iscell", lambda x: x[:, 1]),
    ]:
        want = transform(load_s2p(d, values, var))
        ours = s.loadone(name)
        assert_exact(ours, want)
        assert not ours.flags.writeable
        assert isinstance(ours.base, MapOwner)
    assert_exact(s.loadone("mpciROIs.stackPosition"), roi_position(d, values, "weightedmean"))
    assert_exact(s.loadone("mpciROIs.medianPosition"), roi_position(d, values, "median"))
    assert_exact(s.get_roi_position("median"), roi_position(d, values, "median"))
    assert_exact(s.load_s2p("F"), load_s2p(d, values, "F"))


def test_dense_files_are_viewed_in_the_map(session):
    root, d, _ = session
    s = onedata.B2Session.open(d)
    t = s.loadone("mpci.times")
    assert_exact(t, np.load(d / "oneData" / "mpci.times.npy"))
    assert t.base.mapped
    # Cached: the same memory again, until forced.
    assert np.shares_memory(t, s.loadone("mpci.times"))


def test_sparse_loads_dense_or_kept_sparse(session):
    root, d, _ = session
    s = onedata.B2Session.open(d)
    path = d / "oneData" / "mpci.roiSignificantFluorescence.npz"
    ref = sp.load_npz(path)
    dense = s.loadone("mpci.roiSignificantFluorescence", sparse=True)
    assert_exact(dense, ref.toarray())
    kept = s.loadone("mpci.roiSignificantFluorescence", sparse=True, keep_sparse=True)
    assert type(kept) is type(ref)
    assert kept.data.tobytes() == ref.data.tobytes()
    # spks of the default type (significant) is that matrix, densified.
    assert_exact(s.spks(), ref.toarray())


def test_spks_types_and_fcorr(session):
    root, d, values = session
    s = onedata.B2Session.open(d)
    assert s.spks_type == "significant"
    raw = s.with_spks_type("raw")
    assert raw.spks_type == "raw"
    assert_exact(raw.spks(), load_s2p(d, values, "F").T)
    F = load_s2p(d, values, "F")
    Fneu = load_s2p(d, values, "Fneu")
    assert s.neuropil_coefficient == 0.5
    want = F - 0.5 * (Fneu - np.mean(Fneu, axis=1, keepdims=True))
    # numpy's layout of the result of mixed-order operands is its own affair.
    assert_exact(s.loadfcorr(), want, layout=False)
    assert_exact(s.spks("corrected"), want.T, layout=False)
    with pytest.raises(onedata.InvalidArgument):
        s.spks("nonsense")


def test_values_and_saved_one(session):
    root, d, values = session
    s = onedata.B2Session.open(d)
    assert s.get_value("roiPerPlane") == ROIS
    assert s.get_value("planeNames") == PLANES
    s.set_value("note", {"a": [1, 2.5, None], "b": "x"})
    assert s.get_value("note") == {"a": [1, 2.5, None], "b": "x"}
    again = onedata.B2Session.open(d)
    assert again.get_value("note") == {"a": [1, 2.5, None], "b": "x"}
    with pytest.raises(onedata.MissingValue):
        s.get_value("nope")
    assert s.opts["neuropilCoefficient"] == 0.5
    saved = sorted(str(p).rsplit("/", 1)[-1] for p in s.get_saved_one())
    assert "mpci.times.npy" in saved and "mpci.roiSignificantFluorescence.npz" in saved


def test_missing_and_unknown(session, tmp_path):
    root, d, _ = session
    s = onedata.B2Session.open(d)
    with pytest.raises(onedata.NotAvailable):
        s.loadone("mpci.nothing")
    _onedata.write_recipe(str(d / "oneData" / "x.bad.npy"), recipe("Nope", "F"))
    with pytest.raises(onedata.UnknownRecipe):
        s.loadone("x.bad")
    with pytest.raises(onedata.Error):
        onedata.B2Session(root, "ATL001", "03/05/2024")
