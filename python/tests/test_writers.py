"""Other programs rewriting files onedata holds mapped.

A second process runs ``np.save`` over the very files whose arrays are
held (``np.save`` truncates and rewrites the same inode): shorter, same
length, longer, in a loop, while threads scan the arrays. No array changes
or faults, every save completes, and fresh loads see numpy's files.
"""

import os
import subprocess
import sys
import threading
from dataclasses import dataclass

import numpy as np
import pytest

import onedata

LINUX = sys.platform.startswith("linux")

WRITER = r"""
import sys, numpy as np
rounds, paths = int(sys.argv[1]), sys.argv[2:]
n = 0
for r in range(rounds):
    for k, p in enumerate(paths):
        size = [10, 250_000, 500_000][(r + k) % 3]
        np.save(p, np.full(size, -float(r + 1)))
        n += 1
print(n)
"""


def first(k):
    return np.arange(250_000, dtype=np.float64) + k * 1e7


@pytest.mark.skipif(not LINUX, reason="leases are Linux's")
def test_np_save_over_loaded_arrays_changes_none(tmp):
    paths = [str(tmp / f"mpci.part{k}.npy") for k in range(3)]
    for k, p in enumerate(paths):
        np.save(p, first(k))
    arrays = [onedata.load(p) for p in paths]
    assert all(a.base.mapped and a.base.protected for a in arrays)
    done = threading.Event()
    bad = []

    def scan():
        while True:
            finished = done.is_set()
            for k, a in enumerate(arrays):
                if a.tobytes() != first(k).tobytes():
                    bad.append(k)
            if finished:
                return

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for t in threads:
        t.start()
    rounds = 6
    out = subprocess.run([sys.executable, "-c", WRITER, str(rounds), *paths], capture_output=True, text=True, timeout=300)
    done.set()
    for t in threads:
        t.join()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(rounds * len(paths))
    assert bad == []
    for k, (a, p) in enumerate(zip(arrays, paths)):
        assert a.tobytes() == first(k).tobytes()
        size = [10, 250_000, 500_000][(rounds - 1 + k) % 3]
        assert np.array_equal(onedata.load(p), np.full(size, -float(rounds)))


@pytest.mark.skipif(not LINUX, reason="leases are Linux's")
def test_session_arrays_survive_np_save_over_their_files(tmp):
    @dataclass
    class S(onedata.SessionData):
        def _init_data_path(self):
            return tmp / self.mouse_name / self.date / self.session_id

        @property
        def spks(self):
            return self.loadone("mpci.roiActivityDeconvolved")

    s = S("ATL001", "2024-03-05", "701")
    spks = np.arange(200_000, dtype=np.float32).reshape(2000, 100)
    s.saveone(spks, "mpci.roiActivityDeconvolved")
    s.clear_cache()
    held = s.loadone("mpci.roiActivityDeconvolved")
    assert held.base.protected
    path = s.one_path / s.get_one_filename("mpci.roiActivityDeconvolved")
    subprocess.run([sys.executable, "-c", f"import numpy as np; np.save({str(path)!r}, np.zeros(3))"], check=True, timeout=120)
    assert held.tobytes() == spks.tobytes()
    s.clear_cache()
    assert np.array_equal(s.loadone("mpci.roiActivityDeconvolved"), np.zeros(3))


def test_without_a_lease_the_policy_decides_and_says_so(tmp):
    path = tmp / "mpci.x.npy"
    values = np.arange(5000, dtype="<i8")
    np.save(path, values)

    def got(policy):
        a = onedata.load(path, policy=policy)
        assert a.tobytes() == values.tobytes() and a.dtype == values.dtype
        assert not a.flags.writeable
        return a.base.mapped, a.base.protected

    assert got("auto") == (LINUX, True)
    assert got("always") == (True, LINUX)
    assert got("never") == (False, True)
    # Another handle open for writing: the kernel refuses a read lease.
    with open(path, "r+b"):
        assert got("auto") == (False, True)
        assert got("always") == (True, False)
        assert got("never") == (False, True)
    assert got("auto") == (LINUX, True)
    with pytest.raises(onedata.InvalidArgument, match="policy"):
        onedata.load(path, policy="sometimes")


def test_session_map_policy(tmp):
    @dataclass
    class S(onedata.SessionData):
        map_policy = "never"

        def _init_data_path(self):
            return tmp / self.mouse_name / self.date / self.session_id

        @property
        def spks(self):
            return self.loadone("mpci.roiActivityDeconvolved")

    s = S("ATL001", "2024-03-05", "702")
    s.saveone(np.arange(10.0), "mpci.x")
    s.clear_cache()
    a = s.loadone("mpci.x")
    assert not a.base.mapped and a.base.protected
    assert np.array_equal(a, np.arange(10.0))


_INHERITED = None


def _child_drops_inherited():
    # The parent's array, mapped, as the fork left it: no service of the
    # child guards it, so it is not protected here; dropping it must leave
    # the parent's lease in place.
    import gc

    global _INHERITED
    seen = bool(_INHERITED.base.mapped), bool(_INHERITED.base.protected)
    _INHERITED = None
    gc.collect()
    return seen


def _child_load(path):
    a = onedata.load(path)
    # No lease service in a forked child: Auto reads the file into memory.
    return bool(a.base.mapped), bool(a.base.protected), float(a.sum())


@pytest.mark.skipif(not LINUX, reason="leases are Linux's")
def test_forked_children_and_leases(tmp):
    import multiprocessing as mp

    path = str(tmp / "mpci.x.npy")
    np.save(path, np.arange(100_000, dtype=np.float64))
    global _INHERITED
    held = onedata.load(path)
    assert held.base.protected
    _INHERITED = held
    with mp.get_context("fork").Pool(1) as pool:
        _INHERITED = None
        assert pool.apply(_child_drops_inherited) == (True, False)
        assert held.base.protected
        assert pool.apply(_child_load, (path,)) == (False, True, float(np.arange(100_000).sum()))
        # The child holds the parent's open files; a writer still gets
        # through once the parent's array is dropped, and meanwhile waits
        # only for the copy.
        subprocess.run([sys.executable, "-c", f"import numpy as np; np.save({path!r}, np.ones(5))"], check=True, timeout=30)
        assert np.array_equal(held, np.arange(100_000, dtype=np.float64))
        del held
        again = onedata.load(path)
        assert np.array_equal(again, np.ones(5))
        del again
        subprocess.run([sys.executable, "-c", f"import numpy as np; np.save({path!r}, np.zeros(2))"], check=True, timeout=30)
    assert np.array_equal(onedata.load(path), np.zeros(2))


THEIRS = r"""
import sys, onedata
status = open("/proc/self/status").read()
eff = int(next(l for l in status.splitlines() if l.startswith("CapEff:")).split()[1], 16)
print("cap_lease", bool(eff & (1 << 28)))
for policy in ("auto", "always", "never"):
    a = onedata.load(sys.argv[1], policy=policy)
    print(policy, bool(a.base.mapped), bool(a.base.protected), float(a.sum()))
"""


def _drop_cap_lease():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP, CAP_LEASE = 24, 28
    if libc.prctl(PR_CAPBSET_DROP, CAP_LEASE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_LEASE)")


@pytest.mark.skipif(not LINUX, reason="leases are Linux's")
def test_a_file_of_another_user_gets_the_documented_policy(tmp):
    # F_SETLEASE needs the file's owner or CAP_LEASE: a child without
    # CAP_LEASE loading a file owned by uid 65534 gets no lease, and the
    # policy decides as the README says.
    path = str(tmp / "theirs.npy")
    x = np.arange(4000, dtype=np.float64)
    np.save(path, x)
    try:
        os.chown(path, 65534, 65534)
    except PermissionError:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root, which this test needs to give a file to another user")
        pytest.skip("giving a file to another user needs root")
    out = subprocess.run(
        [sys.executable, "-c", THEIRS, path],
        preexec_fn=_drop_cap_lease,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    total = float(x.sum())
    assert out[:4] == [
        "cap_lease False",
        f"auto False True {total}",
        f"always True False {total}",
        f"never False True {total}",
    ], out
