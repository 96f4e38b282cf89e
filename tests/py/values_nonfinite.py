"""Values files as vrAnalysis writes them, NaN and Infinity included.

usage: values_nonfinite.py write FILE RAW_FILE  -- json.dump VALUES to FILE (as
                                                  B2Session.save_session_prms);
                                                  write RAW text to RAW_FILE; print
                                                  json.dumps(json.loads(RAW))
       values_nonfinite.py check FILE           -- FILE must be VALUES updated as the
                                                  Rust test does, byte for byte
       values_nonfinite.py check-raw RAW_FILE   -- RAW_FILE must be json.loads(RAW)
                                                  plus "touched": 1, byte for byte
"""
import json
import math
import sys

VALUES = {
    "numFrames": 1000,
    "planeNames": ["plane0", "plane1"],
    "samplingDeviationMedianPercentError": float("nan"),
    "samplingDeviationMaximumPercentError": float("inf"),
    "neg": float("-inf"),
    "f32": 0.10000000149011612,
    "small": 1e-05,
    "tiny": 1e-07,
    "big": 1e16,
    "hundred": 100.0,
    "neg0": -0.0,
    "arr": [1.5, float("nan"), float("-inf"), [[]], {}],
    "bigint": 2 ** 70,
    "negbig": -(10 ** 40) - 7,
    "i64max": 2 ** 63 - 1,
    "b": True,
    "none": None,
    "nested": {"1": None, "2": [True, False], "deep": {"x": float("inf")}},
    "c": {"real": 1.0, "imag": 2.0},
    "unicode": "\u00e9t\u00e9 \u540d\u524d \U0001f600 \u2028 \x7f \"q\" \\ \n\t\x01/",
}

# Text json.loads accepts, written by hand: duplicate keys (the last wins, at
# the first key's place), exponent spellings, 1e400, escapes, whitespace.
RAW = (
    ' {"a": 1, "b" :2,"a" : 3,\n "e": [1E5, 1e-7, 2.50, -0, -0.0, 1e400, -1e400, 12345678901234567890123],'
    ' "s": "\\u00e9\\ud83d\\ude00\\/\\b", "n": [NaN, Infinity, -Infinity]}\n'
)


def updated():
    """VALUES after the Rust side's set_value calls."""
    v = dict(VALUES)
    v["numFrames"] = 1001
    v["added"] = {"tau": 1e-07, "nan": float("nan"), "inf": float("-inf"),
                  "label": "\u00fc\n", "big": 2 ** 100}
    v["nanValue"] = float("nan")
    return v


mode, path = sys.argv[1], sys.argv[2]
if mode == "write":
    with open(path, "w", encoding="utf-8") as f:
        json.dump(VALUES, f, ensure_ascii=False)
    with open(sys.argv[3], "w", encoding="utf-8") as f:
        f.write(RAW)
    print(json.dumps(json.loads(RAW), ensure_ascii=False))
elif mode in ("check", "check-raw"):
    text = open(path, encoding="utf-8").read()
    got = json.loads(text)
    if mode == "check":
        want = updated()
        assert math.isnan(got["samplingDeviationMedianPercentError"])
        assert math.isnan(got["added"]["nan"]) and got["added"]["inf"] == float("-inf")
        assert got["bigint"] == 2 ** 70 and got["added"]["big"] == 2 ** 100
    else:
        want = json.loads(RAW)
        want["touched"] = 1
    # NaN != NaN, so compare the text: keys, order, numbers and strings.
    assert json.dumps(got, ensure_ascii=False) == json.dumps(want, ensure_ascii=False), \
        f"python read {got!r}, expected {want!r}"
    assert text == json.dumps(want, ensure_ascii=False), f"layout differs: {text!r}"
    print("ok")
else:
    raise SystemExit(f"unknown mode {mode}")
