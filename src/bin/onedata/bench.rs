//! `onedata bench`: the load workloads timed side by side with numpy and
//! scipy (run by python3 on the same files, in the same run) and with the
//! physical floor of a mapped load.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ndarray::Array2;
use onedata::{Error, LoadOptions, Result, Session, SessionData, SessionId};
use serde_json::{json, Value};

/// How many times each workload runs; medians are reported.
struct Plan {
    cold: usize,
    scan: usize,
    sparse: usize,
    save: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Untimed runs before each timed workload, on both sides: the first runs
/// pay for memory the kernel (or a virtual machine's host) hands out for the
/// first time, and for files not yet in the page cache.
const WARMUP: usize = 3;

/// Median microseconds of `f` over `n` runs, each preceded by `setup`,
/// after `warmup` untimed runs.
fn time_us(
    n: usize,
    warmup: usize,
    mut setup: impl FnMut(),
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let mut times = Vec::with_capacity(n);
    for k in 0..warmup + n.max(1) {
        setup();
        let start = Instant::now();
        f()?;
        if k >= warmup {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(median(times))
}

const PYTHON_SIDE: &str = r#"
import json, statistics, sys, time
import numpy as np
out = {}
try:
    import scipy.sparse as sp
except ImportError:
    sp = None
small, large, npz, save_to = sys.argv[1:5]
cold, scan, sparse_n, save_n, WARMUP = map(int, sys.argv[5:10])

def med(f, n, setup=None, warmup=WARMUP):
    t = []
    for k in range(warmup + n):
        if setup:
            setup()
        s = time.perf_counter(); f(); e = time.perf_counter() - s
        if k >= warmup:
            t.append(e)
    return statistics.median(t) * 1e6

import os
saves = []
def fresh_target():
    # Each save writes a new file with no dirty pages pending, as ours does;
    # nothing is deleted while timing.
    saves.append(f"{save_to}.{len(saves)}.npy")
    os.sync()

out["cold_load_small"] = med(lambda: np.load(small), cold)
out["cold_load_large"] = med(lambda: np.load(large), max(scan, 3))
out["cold_load_large_mmap"] = med(lambda: np.load(large, mmap_mode="r"), cold)

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
s = Session()
s.loadone("bench.large")
reps = 1000
t = []
for _ in range(200):
    a = time.perf_counter()
    for _ in range(reps):
        s.loadone("bench.large")
    t.append((time.perf_counter() - a) / reps)
out["cache_hit"] = statistics.median(t) * 1e6

out["full_scan_large"] = med(lambda: np.load(large).sum(), scan)
if sp is not None:
    out["sparse_load"] = med(lambda: sp.load_npz(npz), sparse_n)
    out["sparse_dense"] = med(lambda: sp.load_npz(npz).toarray(), sparse_n)
arr = np.load(large)
out["save_large"] = med(lambda: np.save(saves[-1], arr), save_n, fresh_target, warmup=0)
for p in saves:
    os.remove(p)
out["numpy"] = np.__version__
out["scipy"] = None if sp is None else __import__("scipy").__version__
print(json.dumps(out))
"#;

/// Runs the benchmark and prints a table, or JSON with `as_json`.
pub fn bench(as_json: bool, size_mb: usize, quick: bool, plot: Option<&Path>) -> Result<()> {
    let plan = if quick {
        Plan {
            cold: 200,
            scan: 3,
            sparse: 3,
            save: 2,
        }
    } else {
        Plan {
            cold: 2000,
            scan: 7,
            sparse: 15,
            save: 5,
        }
    };
    let tmp = tempfile::tempdir().map_err(|e| Error::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let id = SessionId::new("BENCH", "2024-01-01", Some("1"))?;
    let session = Session::from_root(tmp.path(), id)?;
    let rois = 1000;
    let frames = (size_mb << 20) / 4 / rois;
    let large = Array2::from_shape_fn((frames.max(1), rois), |(t, r)| {
        ((t * 31 + r) % 1000) as f32 * 0.01
    });
    let small = Array2::from_shape_fn((8, 256), |(t, r)| (t * 256 + r) as f32);
    session.saveone(&small, "bench.small")?;
    session.saveone(&large, "bench.large")?;
    let sparse = onedata::demo::random_csc(40_000, 2_500, 0.05, 11);
    session.saveone(&sparse, "bench.sparse")?;
    let one = session.one_path().to_path_buf();
    let (small_path, large_path) = (one.join("bench.small.npy"), one.join("bench.large.npy"));
    let npz_path = one.join("bench.sparse.npz");
    session.clear_cache(None);

    let clear = || session.clear_cache(None);
    // A cold load ends with a typed view in hand and no page of data read,
    // as `np.load(mmap_mode='r')` ends with a memmap and none read: reading
    // a page costs the kernel's page fault on either side.
    let cold_small = time_us(plan.cold, WARMUP, clear, || {
        let d = session.loadone("bench.small")?;
        std::hint::black_box(d.view2::<f32>()?.dim());
        Ok(())
    })?;
    let cold_large = time_us(plan.cold, WARMUP, clear, || {
        let d = session.loadone("bench.large")?;
        std::hint::black_box(d.view2::<f32>()?.dim());
        Ok(())
    })?;
    // The floor's map is unmapped outside the timing, as the loads' maps are.
    let floor_map = std::cell::RefCell::new(None);
    let floor = time_us(
        plan.cold,
        WARMUP,
        || drop(floor_map.take()),
        || {
            let (byte, map) =
                onedata::npy::floor_open_read_map(&large_path).map_err(|e| Error::Io {
                    path: large_path.clone(),
                    source: e,
                })?;
            std::hint::black_box(byte);
            *floor_map.borrow_mut() = Some(map);
            Ok(())
        },
    )?;
    drop(floor_map);
    session.loadone("bench.large")?;
    let reps = 1000;
    let mut hits = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(session.loadone(std::hint::black_box("bench.large"))?);
        }
        hits.push(start.elapsed().as_secs_f64() * 1e6 / reps as f64);
    }
    let cache_hit = median(hits);
    let scan = time_us(plan.scan, WARMUP, clear, || {
        let d = session.loadone("bench.large")?;
        let arr = d.dense()?;
        arr.prefetch();
        std::hint::black_box(arr.view2::<f32>()?.sum());
        Ok(())
    })?;
    let sparse_load = time_us(plan.sparse, WARMUP, clear, || {
        std::hint::black_box(session.loadone_with("bench.sparse", LoadOptions::sparse(true))?);
        Ok(())
    })?;
    let sparse_dense = time_us(plan.sparse, WARMUP, clear, || {
        std::hint::black_box(session.loadone_with("bench.sparse", LoadOptions::sparse(false))?);
        Ok(())
    })?;
    // Each save writes a new file with no dirty pages pending, as numpy's
    // does; nothing is deleted while timing.
    let count = std::cell::Cell::new(0);
    // No warm-up: each save writes a new 400 MB file, on both sides.
    let save = time_us(
        plan.save,
        0,
        || {
            count.set(count.get() + 1);
            let _ = Command::new("sync").status();
        },
        || {
            session.saveone(&large, &format!("bench.saved{}", count.get()))?;
            Ok(())
        },
    )?;
    let count = count.get();
    for i in 1..=count {
        let _ = std::fs::remove_file(one.join(format!("bench.saved{i}.npy")));
    }
    drop(large);

    let save_to = one.join("numpy.saved.npy");
    let python = std::env::var("ONEDATA_PYTHON").unwrap_or_else(|_| "python3".into());
    let args = [
        small_path.display().to_string(),
        large_path.display().to_string(),
        npz_path.display().to_string(),
        save_to.display().to_string(),
        plan.cold.to_string(),
        plan.scan.to_string(),
        plan.sparse.to_string(),
        plan.save.to_string(),
        WARMUP.to_string(),
    ];
    let (theirs, missing) = match Command::new(&python)
        .arg("-c")
        .arg(PYTHON_SIDE)
        .args(&args)
        .output()
    {
        Ok(out) if out.status.success() => match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(v) => (v, None),
            Err(e) => (
                Value::Null,
                Some(format!("python3 printed no results: {e}")),
            ),
        },
        Ok(out) => (
            Value::Null,
            Some(format!(
                "numpy side did not run ({}); install with: pip install numpy scipy",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
        ),
        Err(e) => (
            Value::Null,
            Some(format!(
                "{python} not found ({e}); install python3 with numpy and scipy"
            )),
        ),
    };
    let np = |k: &str| theirs.get(k).and_then(Value::as_f64);
    let case = |name: &str, ours: f64, numpy: Option<f64>| {
        let mut c = json!({
            "name": name,
            "onedata_us": round(ours),
            "numpy_us": numpy.map(round),
            "ratio_vs_numpy": numpy.map(|n| round(n / ours)),
        });
        if name == "cold_load_large" {
            c["numpy_mmap_us"] = json!(np("cold_load_large_mmap").map(round));
            c["ratio_vs_numpy_mmap"] = json!(np("cold_load_large_mmap").map(|n| round(n / ours)));
            c["floor_us"] = json!(round(floor));
            c["ratio_vs_floor"] = json!(round(ours / floor));
        }
        c
    };
    let cases = vec![
        case("cold_load_small", cold_small, np("cold_load_small")),
        case("cold_load_large", cold_large, np("cold_load_large")),
        case("cache_hit", cache_hit, np("cache_hit")),
        case("full_scan_large", scan, np("full_scan_large")),
        case("sparse_load", sparse_load, np("sparse_load")),
        case("sparse_dense", sparse_dense, np("sparse_dense")),
        case("save_large", save, np("save_large")),
    ];
    let report = json!({
        "size_mb": size_mb,
        "large_shape": [frames, rois],
        "sparse_shape": [40_000, 2_500],
        "sparse_density": 0.05,
        "numpy": theirs.get("numpy"),
        "scipy": theirs.get("scipy"),
        "missing": missing,
        "warmup_runs": WARMUP,
        "timed_runs": {"cold": plan.cold, "scan": plan.scan, "sparse": plan.sparse, "save": plan.save},
        "cases": cases,
    });
    if let Some(png) = plot {
        crate::plot::write_png(&report, png)?;
    }
    if as_json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "onedata bench: {size_mb} MB float32 spks ({frames} x {rois}), 40000 x 2500 float32 CSC at 5%; medians"
    );
    println!(
        "{:<18} {:>14} {:>14} {:>10}",
        "case", "onedata (us)", "numpy (us)", "numpy/ours"
    );
    for c in &cases {
        let f = |k: &str| c[k].as_f64().map_or("-".to_string(), |v| format!("{v}"));
        println!(
            "{:<18} {:>14} {:>14} {:>10}",
            c["name"].as_str().unwrap_or(""),
            f("onedata_us"),
            f("numpy_us"),
            f("ratio_vs_numpy")
        );
    }
    let large_case = &cases[1];
    println!(
        "cold_load_large: numpy mmap_mode='r' {} us ({}x ours); floor (open + read 128 B + mmap + close) {} us, ours/floor {}",
        large_case["numpy_mmap_us"],
        large_case["ratio_vs_numpy_mmap"],
        large_case["floor_us"],
        large_case["ratio_vs_floor"]
    );
    if let Some(m) = report["missing"].as_str() {
        println!("note: {m}");
    }
    Ok(())
}

fn round(x: f64) -> f64 {
    if x >= 100.0 {
        x.round()
    } else {
        (x * 1000.0).round() / 1000.0
    }
}
