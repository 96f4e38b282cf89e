//! `onedata ls`, `onedata digest --session` and `onedata demo`.

use std::path::Path;
use std::time::{Duration, Instant};

use onedata::b2::B2Session;
use onedata::demo::{write_demo_session, DemoSpec};
use onedata::{Error, LoadOptions, Result, Session, SessionData};

use crate::info::{describe_file, human_bytes, shape_text, Description};

/// One row of `onedata ls`.
struct Row {
    name: String,
    kind: String,
    dtype: String,
    shape: String,
    size: String,
}

fn describe(path: &Path) -> Row {
    let name = onedata::names::format_saved(path, false, true);
    let size = std::fs::metadata(path)
        .map(|m| human_bytes(m.len()))
        .unwrap_or_else(|_| "?".into());
    let invalid = |e: onedata::Error| Row {
        name: name.clone(),
        kind: "invalid".into(),
        dtype: "-".into(),
        shape: e
            .fault()
            .map(|f| f.to_string())
            .unwrap_or_else(|| e.to_string()),
        size: size.clone(),
    };
    match describe_file(path) {
        Ok(Description::Dense { descr, shape, .. }) => Row {
            name,
            kind: "dense".into(),
            dtype: descr,
            shape: shape_text(&shape),
            size,
        },
        Ok(Description::Sparse(info)) => Row {
            name,
            kind: format!("sparse {}", info.format),
            dtype: info.dtype.descr(),
            shape: format!("{} nnz={}", shape_text(&info.shape), info.nnz),
            size,
        },
        Ok(Description::Recipe(r)) => Row {
            name,
            kind: "recipe".into(),
            dtype: "-".into(),
            shape: format!(
                "{}({}){}",
                r.loader_type,
                r.source_arg.as_deref().unwrap_or(""),
                r.transforms
                    .iter()
                    .map(|t| format!(" -> {t}"))
                    .collect::<String>()
            ),
            size,
        },
        Ok(Description::Object) => Row {
            name,
            kind: "object".into(),
            dtype: "|O".into(),
            shape: "(not a recipe)".into(),
            size,
        },
        Err(e) => invalid(e),
    }
}

fn print_table(headers: [&str; 5], rows: &[[String; 5]]) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if i == 4 {
                s.push_str(&format!("{cell:>w$}"));
            } else {
                s.push_str(&format!("{cell:<w$}"));
            }
        }
        println!("{}", s.trim_end());
    };
    line(headers);
    for row in rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]].map(|s| s.as_str()));
    }
}

/// Lists every onedata file of the session in `dir`.
pub fn ls(dir: &Path) -> Result<()> {
    let one = dir.join(onedata::session::ONE_DIR);
    if !one.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{}: not a session folder (no {} inside)",
            dir.display(),
            onedata::session::ONE_DIR
        )));
    }
    let files = onedata::names::saved_one_files(&one)?;
    let rows: Vec<[String; 5]> = files
        .iter()
        .map(|p| {
            let r = describe(p);
            [r.name, r.kind, r.dtype, r.shape, r.size]
        })
        .collect();
    print_table(["name", "kind", "dtype", "shape", "size"], &rows);
    println!("{} onedata file(s) in {}", rows.len(), one.display());
    Ok(())
}

/// The session in `dir`: a vrAnalysis B2 session (recipes resolve through
/// suite2p output) when it has `vrExperimentValues.json`, else a plain one.
pub fn open_session(dir: &Path) -> Result<Box<dyn SessionData>> {
    if dir.join(onedata::session::VALUES_FILE).is_file() {
        Ok(Box::new(B2Session::open(dir)?))
    } else {
        Ok(Box::new(Session::open(dir)?))
    }
}

/// Prints the digest of what `loadone` returns for `name` in the session at `dir`.
pub fn digest_session(dir: &Path, name: &str, sparse: bool) -> Result<()> {
    let session = open_session(dir)?;
    let opts = LoadOptions {
        sparse,
        ..LoadOptions::default()
    };
    let data = session.loadone_with(name, opts)?;
    println!("{}", onedata::digest::to_hex(&data.digest()?));
    Ok(())
}

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
    print_table(["name", "kind", "shape", "size", "load / cache hit"], &rows);
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
