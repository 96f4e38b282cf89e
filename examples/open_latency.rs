//! Time to open a large `.npy` file and get a typed view, beside
//! `numpy.load(path, mmap_mode='r')` on the same file in the same run.
//!
//! ```text
//! cargo run --release --example open_latency -- [SIZE_MB] [ITERATIONS]
//! ```
//!
//! Writes a float32 frames x ROIs file of SIZE_MB (default 400) to a
//! temporary folder, then reports the median of ITERATIONS (default 2000)
//! opens for each side. The page cache is warm for both.

use std::process::Command;
use std::time::Instant;

use ndarray::Array2;
use onedata::npy::{write_npy, NpyArray};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let size_mb: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(400);
    let iterations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let rois = 1000;
    let frames = size_mb * 1024 * 1024 / 4 / rois;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("mpci.roiActivityDeconvolvedOasis.npy");
    let spks = Array2::<f32>::from_shape_fn((frames, rois), |(t, r)| ((t * 31 + r) % 1000) as f32);
    write_npy(&path, &spks)?;
    drop(spks);
    let bytes = std::fs::metadata(&path)?.len();

    let mut times = Vec::with_capacity(iterations);
    let mut check = 0.0f32;
    for _ in 0..iterations {
        let start = Instant::now();
        let array = NpyArray::open(&path)?;
        let view = array.view2::<f32>()?;
        check += view[[frames - 1, rois - 1]];
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let ours = median(times);

    let script = format!(
        "import numpy as np, time, statistics\n\
         p = {path:?}\n\
         t = []\n\
         for _ in range({iterations}):\n    \
             s = time.perf_counter(); a = np.load(p, mmap_mode='r'); x = a[-1, -1]; t.append(time.perf_counter() - s); del a\n\
         print(statistics.median(t) * 1e6)\n",
        path = path.display().to_string()
    );
    let python = std::env::var("ONEDATA_PYTHON").unwrap_or_else(|_| "python3".into());
    let numpy = Command::new(python).arg("-c").arg(script).output();
    println!(
        "file: {frames} x {rois} float32, {:.1} MB ({check})",
        bytes as f64 / 1e6
    );
    println!("onedata NpyArray::open + view2::<f32>   median {ours:8.2} us");
    match numpy {
        Ok(out) if out.status.success() => {
            let theirs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
            println!("numpy.load(path, mmap_mode='r')        median {theirs:8.2} us");
            println!(
                "ratio (numpy / onedata)                       {:8.1}x",
                theirs / ours
            );
        }
        Ok(out) => println!(
            "numpy side failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("python3 not available: {e}"),
    }
    Ok(())
}
