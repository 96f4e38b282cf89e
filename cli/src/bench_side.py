"""The numpy/scipy side of `onedata bench` (and the onedata Python package's
cases), run by python3 on the bench's files: see bench.rs."""
import json, os, sys, time
import numpy as np
try:
    import scipy
    import scipy.sparse as sp
except ImportError:
    sp = None
small, large, npz, save_to, stored_npz = sys.argv[1:6]

def samples(f, runs, warmup, setup=None):
    t = []
    for k in range(warmup + runs):
        if setup:
            setup()
        # The result is freed after the timing, as ours stays in the cache.
        s = time.perf_counter(); r = f(); e = time.perf_counter() - s
        del r
        if k >= warmup:
            t.append(e * 1e6)
    return t

# A cache hit as vrAnalysis' SessionData.loadone serves it.
class Session:
    def __init__(self):
        self.one_cache = {}
    def get_one_filename(self, *names):
        return ".".join(names) + ".npy"
    def loadone(self, *names, force=False, sparse=False, keep_sparse=False):
        file_name = self.get_one_filename(*names)
        if not force and file_name in self.one_cache.keys():
            return self.one_cache[file_name]
        data = np.load(large, mmap_mode="r")
        self.one_cache[file_name] = data
        return data

def cache_hit(runs, warmup):
    s = Session()
    s.loadone("bench.large")
    reps, t = 1000, []
    for _ in range(runs):
        a = time.perf_counter()
        for _ in range(reps):
            s.loadone("bench.large")
        t.append((time.perf_counter() - a) / reps * 1e6)
    return t

saves = []
def fresh_target():
    # Each save writes a new file with no dirty pages pending, as ours does;
    # nothing is deleted while timing.
    saves.append(f"{save_to}.{len(saves)}.npy")
    os.sync()

arr = None
def save(runs, warmup):
    global arr
    if arr is None:
        arr = np.load(large)
    return samples(lambda: np.save(saves[-1], arr), runs, warmup, fresh_target)

def save_fsync_once(path):
    # np.save, then what makes it durable: fsync of the file, then of its folder.
    with open(path, "wb") as f:
        np.save(f, arr)
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def save_fsync(runs, warmup):
    global arr
    if arr is None:
        arr = np.load(large)
    return samples(lambda: save_fsync_once(saves[-1]), runs, warmup, fresh_target)

cases = {
    "cold_load_small": lambda n, w: samples(lambda: np.load(small), n, w),
    "cold_load_large": lambda n, w: samples(lambda: np.load(large), n, w),
    "cold_load_large_mmap": lambda n, w: samples(lambda: np.load(large, mmap_mode="r"), n, w),
    "cache_hit": cache_hit,
    "full_scan_large": lambda n, w: samples(lambda: np.load(large).sum(), n, w),
    "save_large": save_fsync,
    "save_large_scratch": save,
}
# vrAnalysis's SessionData.loadone on a miss: np.load(allow_pickle=True), then the dict.
class VrSession(Session):
    def loadone(self, *names, force=False, sparse=False, keep_sparse=False):
        file_name = self.get_one_filename(*names)
        if not force and file_name in self.one_cache.keys():
            return self.one_cache[file_name]
        data = np.load(large, allow_pickle=True)
        self.one_cache[file_name] = data
        return data

def vr_cold(runs, warmup):
    s = VrSession()
    return samples(lambda: s.loadone("bench.large"), runs, warmup, s.one_cache.clear)

cases["vr_loadone_cold"] = vr_cold

# The same cases through the onedata Python package, in this process.
try:
    import onedata as od
except ImportError:
    od = None
if od is not None:
    from dataclasses import dataclass
    from pathlib import Path

    @dataclass
    class BenchSession(od.SessionData):
        def _init_data_path(self):
            return Path(large).parent.parent

        @property
        def spks(self):
            return self.loadone("bench.large")

    ours = BenchSession("BENCH", "2024-01-01", "1")

    def py_hit(runs, warmup):
        ours.loadone("bench.large")
        reps, t = 1000, []
        for _ in range(runs):
            a = time.perf_counter()
            for _ in range(reps):
                ours.loadone("bench.large")
            t.append((time.perf_counter() - a) / reps * 1e6)
        return t

    cases["py_load_large"] = lambda n, w: samples(lambda: od.load(large), n, w)
    cases["py_load_large_copy"] = lambda n, w: samples(lambda: od.load(large, mmap=False), n, w)
    cases["py_loadone_cold"] = lambda n, w: samples(lambda: ours.loadone("bench.large"), n, w, ours.clear_cache)
    cases["py_loadone_hit"] = py_hit
    cases["py_full_scan_large"] = lambda n, w: samples(lambda: od.load(large).sum(), n, w)
    if hasattr(od, "load_npz"):
        cases["py_load_npz"] = lambda n, w: samples(lambda: od.load_npz(npz), n, w)

if sp is not None:
    cases["sparse_load"] = lambda n, w: samples(lambda: sp.load_npz(npz), n, w)
    cases["sparse_dense"] = lambda n, w: samples(lambda: sp.load_npz(npz).toarray(), n, w)
    cases["sparse_load_stored"] = lambda n, w: samples(lambda: sp.load_npz(stored_npz), n, w)

print(json.dumps({"numpy": np.__version__, "scipy": None if sp is None else scipy.__version__,
                  "onedata_python": None if od is None else od.__version__}), flush=True)
try:
    for line in sys.stdin:
        name, runs, warmup = line.split()
        f = cases.get(name)
        print(json.dumps({"samples": None if f is None else f(int(runs), int(warmup))}), flush=True)
finally:
    for p in saves:
        os.remove(p)
