//! Load latency of a scipy sparse `.npz` file: onedata beside scipy, on the
//! same file in the same run.
//!
//! scipy writes a 40000 x 2500 float32 CSC array at 5% density with
//! `save_npz` (compressed, its default); then this times, median of RUNS
//! (default 11):
//!
//! - `onedata::sparse::read_npz` (kept sparse) vs `scipy.sparse.load_npz`
//! - `read_npz` + `to_dense()` (C order) and `to_dense_fortran()` vs
//!   `load_npz(...).toarray()` (which is Fortran-ordered for CSC)
//!
//! ```sh
//! cargo run --release --example sparse_latency -- [RUNS]
//! ```
//!
//! Needs python3 (or `$ONEDATA_PYTHON`) with numpy and scipy.

use std::process::Command;
use std::time::Instant;

const MAKE_AND_TIME: &str = r#"
import json, sys, time
import numpy as np, scipy.sparse as sp
path, runs = sys.argv[1], int(sys.argv[2])
m = sp.random_array((40000, 2500), density=0.05, format="csc", dtype=np.float32, rng=np.random.default_rng(0))
sp.save_npz(path, m)
def median(f):
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); x = f(); ts.append(time.perf_counter() - t); del x
    return sorted(ts)[len(ts) // 2]
sparse = median(lambda: sp.load_npz(path))
dense = median(lambda: sp.load_npz(path).toarray())
print(json.dumps(dict(nnz=int(m.nnz), sparse=sparse, dense=dense, scipy=sp.__name__ and __import__("scipy").__version__)))
"#;

fn median(mut ts: Vec<f64>) -> f64 {
    ts.sort_by(|a, b| a.total_cmp(b));
    ts[ts.len() / 2]
}

fn time<R>(runs: usize, mut f: impl FnMut() -> R) -> f64 {
    let ts = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let r = f();
            let dt = t.elapsed().as_secs_f64();
            drop(r);
            dt
        })
        .collect();
    median(ts)
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("RUNS must be a number"))
        .unwrap_or(11);
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("spks.npz");
    let python = std::env::var("ONEDATA_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg("-c")
        .arg(MAKE_AND_TIME)
        .arg(&path)
        .arg(runs.to_string())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: serde_json::Value = serde_json::from_slice(&out.stdout).expect("python's JSON");
    let scipy_sparse = py["sparse"].as_f64().expect("sparse");
    let scipy_dense = py["dense"].as_f64().expect("dense");

    let m = onedata::sparse::read_npz(&path).expect("read_npz");
    let file_mb = std::fs::metadata(&path).expect("size").len() as f64 / 1e6;
    println!(
        "{} x {} float32 CSC, nnz {} ({} by scipy), file {file_mb:.1} MB (deflated), scipy {}, {runs} runs",
        m.shape()[0],
        m.shape()[1],
        m.nnz(),
        py["nnz"],
        py["scipy"].as_str().unwrap_or("?"),
    );
    // The same values as scipy's toarray(), checked once.
    assert_eq!(m.to_dense().expect("dense").shape(), &m.shape());

    let ours_sparse = time(runs, || onedata::sparse::read_npz(&path).expect("read_npz"));
    let ours_dense = time(runs, || {
        onedata::sparse::read_npz(&path)
            .expect("read_npz")
            .to_dense()
            .expect("to_dense")
    });
    let ours_dense_f = time(runs, || {
        onedata::sparse::read_npz(&path)
            .expect("read_npz")
            .to_dense_fortran()
            .expect("to_dense_fortran")
    });
    let ms = |s: f64| s * 1e3;
    println!("| | median | vs scipy |");
    println!("|---|---|---|");
    println!(
        "| `read_npz` (kept sparse) | {:.1} ms | {:.1}x faster |",
        ms(ours_sparse),
        scipy_sparse / ours_sparse
    );
    println!("| `scipy.sparse.load_npz` | {:.1} ms | |", ms(scipy_sparse));
    println!(
        "| `read_npz` + `to_dense()` (C order) | {:.1} ms | {:.1}x faster |",
        ms(ours_dense),
        scipy_dense / ours_dense
    );
    println!(
        "| `read_npz` + `to_dense_fortran()` | {:.1} ms | {:.1}x faster |",
        ms(ours_dense_f),
        scipy_dense / ours_dense_f
    );
    println!(
        "| `load_npz(...).toarray()` (Fortran order) | {:.1} ms | |",
        ms(scipy_dense)
    );
}
