#!/usr/bin/env python3
r"""numpy's verdict on the inputs of the npy_header_diff fuzz target.

Usage: python3 fuzz/diff_oracle.py [--binary PATH] [--show N] [--list] INPUT...

Each INPUT is a file or a folder of files (e.g. corpus/npy_header_diff, or
artifacts). The script runs the npy_header_diff fuzz binary over them once
(`-runs=0`, with ONEDATA_DIFF_LOG set, so the target logs onedata's and
npyz's verdicts and the class of each input), then judges every input with
numpy 2.2 exactly as tests/interop/npy_headers/ does (tests/py/load_headers.py:
`np.load(path, mmap_mode='r')`, or numpy's header reader and ndarray's shape
checks for object dtypes), after giving the file as many data bytes as the
header promises (a sparse file).

It prints, per class, how many inputs numpy judges as onedata does (same
verdict, and when both accept the same descr for non-record dtypes, shape
and order). Every class of difference is one where numpy sides with
onedata, so any other outcome is a finding: the inputs are printed and the
exit status is 1. Inputs that onedata refuses for one of the differences
from numpy documented in src/npy/header/mod.rs (`\N{name}` escapes, comma-string
dtypes, datetime unit divisors, zero-size dtypes with more elements than
usize counts) are listed apart and do not count as findings.

Build the binary first: RUSTC_BOOTSTRAP=1 cargo fuzz build npy_header_diff
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "py"))
import load_headers as lh  # noqa: E402

DEFAULT_BINARY = os.path.join(
    HERE, "target", "x86_64-unknown-linux-gnu", "release", "npy_header_diff"
)
# Sparse files up to this size are made to hold the data a header promises.
MAX_SPARSE = 1 << 42


def header_end(data):
    if data[:6] != b"\x93NUMPY" or len(data) < 10:
        return None
    if data[6] == 1:
        return 10 + int.from_bytes(data[8:10], "little")
    if len(data) < 12:
        return None
    return 12 + int.from_bytes(data[8:12], "little")


def numpy_verdict(data, tmpdir):
    path = os.path.join(tmpdir, "case.npy")
    with open(path, "wb") as f:
        f.write(data)
    end = header_end(data)
    # Give the file the data numpy's header reader says it promises.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            version, shape, fortran, dtype = lh._header(path)
            n = dtype.itemsize
            for d in shape:
                n *= max(int(d), 0)
            if end is not None and 0 <= n <= MAX_SPARSE:
                with open(path, "r+b") as f:
                    f.truncate(max(end + n, len(data)))
            elif n > MAX_SPARSE:
                # Too large even for a sparse file: judge the header and the
                # shape as load_headers.py judges object arrays (no mmap).
                lh._check_object_shape(shape, dtype)
                return {
                    "ok": True,
                    "version": list(version),
                    "descr": dtype.str,
                    "structured": dtype.names is not None,
                    "shape": [int(d) for d in shape],
                    "fortran": bool(fortran),
                    "note": "no mmap: data past %d bytes" % MAX_SPARSE,
                }
        except BaseException as e:  # noqa: BLE001 - judge() reports the refusal
            if isinstance(e, KeyboardInterrupt):
                raise
    return lh.judge(path)


def documented_limit(ours, numpy):
    """Whether onedata refuses, where numpy accepts, for one of the known
    differences listed in src/npy/header/mod.rs (which npyz refuses too)."""
    if ours["ok"] or not numpy["ok"]:
        return None
    err = ours["error"]
    if "(known difference)" in err:
        return "documented: " + err.split(": ", 1)[-1]
    if "with 0-byte elements overflows" in err:
        return "documented: zero-size dtype with more elements than usize counts"
    m = re.match(r'unknown descr "(.*)"$', err)
    if m:
        d = m.group(1).lstrip("<>|=")
        if "," in d or d[:1].isdigit() or d[:1] == "(":
            return "documented: numpy's comma-string dtype language"
        if "/" in d:
            return "documented: datetime unit divisor"
    return None


def same(ours, numpy):
    if ours["ok"] != numpy["ok"]:
        return False
    if not ours["ok"]:
        return True
    if ours["shape"] != numpy["shape"] or ours["fortran"] != numpy["fortran"]:
        return False
    # onedata keeps a record list's text; numpy reports '|V<itemsize>'.
    return numpy["structured"] or ours["descr"] == numpy["descr"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default=DEFAULT_BINARY)
    ap.add_argument("--show", type=int, default=5, help="disagreements shown per class")
    ap.add_argument("--list", action="store_true", help="print every input's verdicts")
    ap.add_argument("inputs", nargs="+")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.jsonl")
        env = dict(os.environ, ONEDATA_DIFF_LOG=log)
        subprocess.run(
            [args.binary, "-runs=0", *args.inputs],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        seen = set()
        stats = collections.OrderedDict()
        bad = collections.defaultdict(list)
        limits = collections.defaultdict(list)
        with open(log) as f:
            entries = [json.loads(line) for line in f]
        for e in entries:
            if e["hex"] in seen:
                continue
            seen.add(e["hex"])
            data = bytes.fromhex(e["hex"])
            numpy = numpy_verdict(data, tmp)
            cls = e["class"]
            total, agree = stats.get(cls, (0, 0))
            ok = same(e["ours"], numpy)
            stats[cls] = (total + 1, agree + ok)
            limit = None if ok else documented_limit(e["ours"], numpy)
            if limit:
                limits[limit].append(data)
            elif not ok:
                bad[cls].append((data, e["ours"], e["npyz"], numpy))
            if args.list:
                end = header_end(data) or len(data)
                print(f"{cls}: {data[:min(end, 160)]!r}")
                print(f"    onedata {e['ours']}\n    npyz    {e['npyz']}\n    numpy   {numpy}")

    print(f"{'class':22} {'inputs':>7} {'numpy = onedata':>16}")
    for cls in sorted(stats):
        total, agree = stats[cls]
        print(f"{cls:22} {total:7} {agree:16}")
    for limit, cases in limits.items():
        print(f"\n{limit}: numpy accepts, onedata refuses {len(cases)} input(s), e.g.")
        end = header_end(cases[0]) or len(cases[0])
        print(f"  header: {cases[0][:min(end, 400)]!r}")
    for cls, cases in bad.items():
        print(f"\n== {cls}: numpy differs from onedata on {len(cases)} input(s)")
        for data, ours, npyz, numpy in cases[: args.show]:
            end = header_end(data) or len(data)
            print(f"  header: {data[:min(end, 400)]!r}")
            print(f"  onedata: {ours}")
            print(f"  npyz:    {npyz}")
            print(f"  numpy:   {numpy}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
