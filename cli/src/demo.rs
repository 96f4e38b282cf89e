//! `onedata demo`.

use std::path::Path;
use std::time::{Duration, Instant};

use onedata::b2::B2Session;
use onedata::demo::{write_demo_session, DemoSpec};
use onedata::{LoadOptions, Result, SessionData};

use crate::info::{human_bytes, shape_text};
use crate::ls::print_table;

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} us")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// Writes a demo session under `root`, loads everything back and prints a summary.
pub fn demo(root: &Path, frames: usize, rois_per_plane: usize, planes: usize) -> Result<()> {
    let spec = DemoSpec {
        frames,
        rois_per_plane: vec![rois_per_plane; planes],
        ..DemoSpec::default()
    };
    let started = Instant::now();
    let dir = write_demo_session(root, &spec)?;
    let written = started.elapsed();
    println!(
        "wrote demo session {} ({} frames x {} ROIs in {} planes) in {:.2} s",
        dir.display(),
        spec.frames,
        spec.rois(),
        planes,
        written.as_secs_f64()
    );

    let session = B2Session::open(&dir)?;
    println!(
        "session {}: values numFrames={} planeNames={}",
        session.session_print("/"),
        session.get_value_json("numFrames")?,
        session.get_value_json("planeNames")?
    );
    let mut rows = Vec::new();
    for name in session.print_saved_one(false, false)? {
        let path = session.one_path().join(format!("{name}.npy"));
        let sparse = !path.is_file();
        let opts = LoadOptions {
            sparse,
            ..LoadOptions::default()
        };
        let start = Instant::now();
        let data = session.loadone_with(&name, opts)?;
        let cold = start.elapsed();
        let start = Instant::now();
        let again = session.loadone_with(&name, opts)?;
        let hit = start.elapsed();
        debug_assert!(std::sync::Arc::ptr_eq(&data, &again));
        let dtype = data
            .as_dense()
            .map(|a| a.dtype().descr())
            .unwrap_or_else(|| "-".into());
        let bytes = data.owned_bytes() + data.mapped_bytes();
        rows.push([
            name,
            format!("{} {}", data.kind(), dtype),
            shape_text(&data.shape()),
            human_bytes(bytes as u64),
            format!("{} / {}", micros(cold), micros(hit)),
        ]);
    }
    print_table(
        ["name", "kind", "shape", "size", "load / cache hit"],
        &rows,
        &[3, 4],
    );
    let spks = session.spks()?;
    println!(
        "spks: {} {} ({})",
        spks.kind(),
        shape_text(&spks.shape()),
        if spks.as_dense().is_some_and(|a| a.is_mapped()) {
            "memory-mapped, zero copy"
        } else {
            "owned"
        }
    );
    Ok(())
}
