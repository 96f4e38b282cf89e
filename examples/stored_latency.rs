//! Time to load a stored, aligned sparse `.npz` file kept sparse (a view of
//! the map: `sparse::read_npz_stored`) beside a dense cold open
//! (`NpyArray::open` and a typed view) of a large `.npy` file, in the same
//! run, alternating blocks of each. For profiling the stored load alone
//! (`strace -c`, `/usr/bin/time -v`), pass `stored` as MODE.
//!
//! ```text
//! cargo run --release --example stored_latency -- [ITERATIONS] [MODE]
//! ```
//!
//! The matrix is `onedata bench`'s (40000 x 2500 CSC, 5% dense: 40 MB);
//! the dense file is 64 MB. Maps are dropped outside the timing, as the
//! bench drops them. MODE is `both` (default), `stored` or `dense`.

use std::time::Instant;

use ndarray::Array2;
use onedata::npy::{write_npy, NpyArray};
use onedata::sparse::{read_npz_stored, write_npz_with, NpzOptions};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let mode = args.next().unwrap_or_else(|| "both".into());
    let dir = tempfile::tempdir()?;
    let stored = dir.path().join("m.npz");
    let dense = dir.path().join("spks.npy");
    let m = onedata::demo::random_csc(40_000, 2_500, 0.05, 11);
    write_npz_with(&stored, &m, NpzOptions::ALIGNED)?;
    drop(m);
    let frames = (64 << 20) / 4 / 1000;
    write_npy(
        &dense,
        &Array2::<f32>::from_shape_fn((frames, 1000), |(t, r)| ((t + r) % 7) as f32),
    )?;

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let blocks = 10;
    for b in 0..blocks {
        let n = iterations / blocks;
        if mode != "dense" {
            for k in 0..n + usize::from(b == 0) * 3 {
                let start = Instant::now();
                let s = read_npz_stored(&stored)?;
                std::hint::black_box(s.view::<f32, i32>()?.nnz());
                let t = start.elapsed().as_secs_f64() * 1e6;
                drop(s);
                if b > 0 || k >= 3 {
                    ours.push(t);
                }
            }
        }
        if mode != "stored" {
            for k in 0..n + usize::from(b == 0) * 3 {
                let start = Instant::now();
                let a = NpyArray::open(&dense)?;
                std::hint::black_box(a.view2::<f32>()?.dim());
                let t = start.elapsed().as_secs_f64() * 1e6;
                drop(a);
                if b > 0 || k >= 3 {
                    theirs.push(t);
                }
            }
        }
    }
    if !ours.is_empty() {
        println!("stored sparse load: median {:.2} us", median(ours.clone()));
    }
    if !theirs.is_empty() {
        println!(
            "dense cold open:    median {:.2} us",
            median(theirs.clone())
        );
    }
    if !ours.is_empty() && !theirs.is_empty() {
        println!("ratio: {:.2}x", median(ours) / median(theirs));
    }
    Ok(())
}
