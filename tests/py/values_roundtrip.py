"""Values interop with Python's json module.

usage: values_roundtrip.py check FILE EXPECTED_JSON  -- json.load(FILE) must equal EXPECTED_JSON
       values_roundtrip.py write FILE               -- json.dump a known dict to FILE
"""
import json
import sys

KNOWN = {
    "planeNames": ["plane0", "plane1"],
    "planeIDs": [0, 1],
    "roiPerPlane": [640, 612],
    "numFrames": 20000,
    "available": ["F", "Fneu", "spks", "iscell"],
    "fs": 6.0,
    "ratio": 0.1,
    "nested": {"a": [1, 2.5, None, True], "b": "\u00e9t\u00e9"},
}

mode, path = sys.argv[1], sys.argv[2]
if mode == "check":
    got = json.load(open(path, encoding="utf-8"))
    want = json.loads(sys.argv[3])
    assert got == want, f"python read {got!r}, expected {want!r}"
    # The file is laid out as Python's json.dump writes it (one line, ", " and ": ").
    text = open(path, encoding="utf-8").read()
    assert text == json.dumps(want, ensure_ascii=False), f"layout differs: {text!r}"
    print("ok")
elif mode == "write":
    with open(path, "w", encoding="utf-8") as f:
        json.dump(KNOWN, f)
    print(json.dumps(KNOWN))
else:
    raise SystemExit(f"unknown mode {mode}")
