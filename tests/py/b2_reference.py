"""What vrAnalysis' B2Session gives for a session, computed with numpy the
way vrAnalysis computes it: each loading recipe resolved through the S2P
loader and the transforms, the corrected spks, and the significant spks
(loadone(sparse=True): load_npz(...).toarray()).

usage: b2_reference.py SESSION_DIR
prints JSON {"recipes": {name: {...}}, "corrected": {...}, "significant": {...}}
"""
import json
import pathlib
import sys

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from onedigest import digest  # noqa: E402

session = pathlib.Path(sys.argv[1])
values = json.loads((session / "vrExperimentValues.json").read_text())
opts_path = session / "vrExperimentOptions.json"
opts = json.loads(opts_path.read_text()) if opts_path.exists() else {}


def load_s2p(var_name):
    # As vrAnalysis' B2Session.load_s2p(var_name, concatenate=True).
    assert var_name in values["available"]
    frame_vars = ["F", "F_chan2", "Fneu", "Fneu_chan2", "spks"]
    var = [
        np.load(session / "suite2p" / plane / f"{var_name}.npy", allow_pickle=True)
        for plane in values["planeNames"]
    ]
    if var_name in frame_vars:
        var = [v[:, : values["numFrames"]] for v in var]
    return np.concatenate(var, axis=0)


loaders = {"S2P": load_s2p}
transforms = {"transpose": lambda x: x.T, "idx_column1": lambda x: x[:, 1]}


def resolve(name):
    data = np.load(session / "oneData" / f"{name}.npy", allow_pickle=True)
    d = data.item()
    assert d["marker"] == "__LOADING_RECIPE__"
    if d["source_arg"] is not None:
        out = loaders[d["loader_type"]](d["source_arg"], **d["kwargs"])
    else:
        out = loaders[d["loader_type"]](**d["kwargs"])
    for t in d["transforms"]:
        out = transforms[t](out)
    return d, out


recipes = {}
for path in sorted((session / "oneData").glob("*.npy")):
    a = np.load(path, allow_pickle=True)
    if a.dtype != object:
        continue
    d, out = resolve(path.stem)
    recipes[path.stem] = {
        "recipe": d,
        "sha256": digest(out),
        "descr": out.dtype.str,
        "shape": list(out.shape),
    }

# loadfcorr(): F - c * (Fneu - mean over frames), ROIs x frames; corrected spks is its transpose.
F = resolve("mpci.roiActivityF")[1].T
Fneu = resolve("mpci.roiNeuropilActivityF")[1].T
meanFneu = np.mean(Fneu, axis=1, keepdims=True)
c = opts.get("neuropilCoefficient", 0.7)
fcorr = F - c * (Fneu - meanFneu)
corrected = fcorr.T
significant = sp.load_npz(session / "oneData" / "mpci.roiSignificantFluorescence.npz").toarray()
print(json.dumps({
    "recipes": recipes,
    "corrected": {"sha256": digest(corrected), "descr": corrected.dtype.str, "shape": list(corrected.shape)},
    "significant": {
        "sha256": digest(significant),
        "shape": list(significant.shape),
        "fortran": bool(significant.flags.f_contiguous and not significant.flags.c_contiguous),
    },
}))
