//! Median latency of `loadone` on the demo session's spks: cold (not in the
//! cache; page cache warm) and cache hit.
//!
//! ```text
//! cargo run --release --example session_latency -- [ITERATIONS]
//! ```

use std::time::Instant;

use onedata::demo::{write_demo_session, DemoSpec};
use onedata::{Session, SessionData};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5000);
    let root = tempfile::tempdir()?;
    let spec = DemoSpec::default();
    let dir = write_demo_session(root.path(), &spec)?;
    let session = Session::open(&dir)?;
    let name = "mpci.roiActivityDeconvolvedOasis";
    let bytes = std::fs::metadata(session.one_path().join(format!("{name}.npy")))?.len();

    let mut cold = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        session.clear_cache(None);
        let start = Instant::now();
        let spks = session.loadone(name)?;
        let view = spks.view2::<f32>()?;
        std::hint::black_box(view[[0, 0]]);
        cold.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let mut hit = Vec::with_capacity(iterations);
    session.loadone(name)?;
    for _ in 0..iterations {
        let start = Instant::now();
        let spks = session.loadone(name)?;
        std::hint::black_box(&spks);
        hit.push(start.elapsed().as_secs_f64() * 1e6);
    }
    // A batch timing of hits, free of the clock's own cost per call.
    let batch = 100_000;
    let start = Instant::now();
    for _ in 0..batch {
        std::hint::black_box(session.loadone(name)?);
    }
    let per_hit = start.elapsed().as_secs_f64() * 1e6 / batch as f64;

    println!(
        "spks {name}: {} frames x {} ROIs float32, {:.1} MB",
        spec.frames,
        spec.rois(),
        bytes as f64 / 1e6
    );
    println!(
        "cold loadone + view2 (median of {iterations}): {:8.2} us",
        median(cold)
    );
    println!(
        "cache hit loadone    (median of {iterations}): {:8.3} us",
        median(hit)
    );
    println!("cache hit loadone    (mean of {batch} in a loop): {per_hit:8.3} us");
    Ok(())
}
