"""Python's json as the oracle for onedata::pyjson.

usage: json_oracle.py CASES_FILE  -- CASES_FILE holds a JSON list of strings;
prints a JSON list (ASCII) with, for each string s, either
["ok", json.dumps(json.loads(s), ensure_ascii=False)] or ["err", str(error)]
(["lone", ...] when the result holds a lone surrogate).
"""
import json
import sys

cases = json.load(open(sys.argv[1], encoding="utf-8"))
out = []
for s in cases:
    try:
        text = json.dumps(json.loads(s), ensure_ascii=False)
        try:
            text.encode("utf-8")
            out.append(["ok", text])
        except UnicodeEncodeError:
            # A lone surrogate (from "\ud800"): a str Python allows, UTF-8 does not.
            out.append(["lone", ascii(text)])
    except json.JSONDecodeError as e:
        out.append(["err", str(e)])
    except (ValueError, RecursionError) as e:
        out.append(["other", f"{type(e).__name__}: {e}"])
print(json.dumps(out))
