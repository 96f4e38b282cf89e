//! `onedata demo`.

use std::path::Path;
use std::time::{Duration, Instant};

use onedata::b2::B2Session;
use onedata::demo::{write_demo, DemoSpec};
use onedata::{Error, LoadOptions, OneData, Result, SessionData};

use crate::info::{human_bytes, recipe_text, shape_text, shell_word};
use crate::ls::print_table;
use onedata::describe::{describe_file, Description};

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} us")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// What a loaded onedata occupies: `97.7 MiB mapped`, `1.2 MiB owned`.
fn memory_text(data: &OneData) -> String {
    let (mapped, owned) = (data.mapped_bytes() as u64, data.owned_bytes() as u64);
    match (mapped, owned) {
        (0, owned) => format!("{} owned", human_bytes(owned)),
        (mapped, 0) => format!("{} mapped", human_bytes(mapped)),
        (mapped, owned) => format!(
            "{} mapped + {} owned",
            human_bytes(mapped),
            human_bytes(owned)
        ),
    }
}

/// What a saved file is, read from its header: `dense <f4`, `sparse csc
/// <f4`, `recipe S2P(F) -> transpose`.
fn kind_text(path: &Path) -> Result<String> {
    Ok(match describe_file(path)? {
        Description::Dense(header) => format!("dense {}", header.dtype().descr()),
        Description::Sparse(info) => format!("sparse {} {}", info.format, info.dtype.descr()),
        Description::Recipe(r) => format!("recipe {}", recipe_text(&r)),
        Description::Object(_, value) => format!("object {}", value.summary()),
    })
}

/// Refuses to write over a folder that holds files, unless `force`: the
/// error gives the command again with `--force`.
fn refuse_overwrite(dir: &Path, force: bool) -> Result<()> {
    let held = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if !held || force {
        return Ok(());
    }
    let mut again: Vec<String> = vec!["onedata".into()];
    again.extend(std::env::args().skip(1).map(|a| shell_word(&a)));
    again.push("--force".into());
    Err(Error::argument(format!(
        "{} is not empty (a session written before?): the demo does not overwrite it \
         unless given --force; to replace its files: {}",
        dir.display(),
        again.join(" ")
    )))
}

/// Writes a demo session under `root`, loads everything back and prints a
/// summary. An existing session is overwritten only with `force`.
pub fn demo(
    root: &Path,
    frames: usize,
    rois_per_plane: usize,
    planes: usize,
    force: bool,
) -> Result<()> {
    let spec = DemoSpec {
        frames,
        rois_per_plane: vec![rois_per_plane; planes],
        ..DemoSpec::default()
    };
    refuse_overwrite(&spec.id()?.path_under(root), force)?;
    let started = Instant::now();
    let written = write_demo(root, &spec)?;
    let elapsed = started.elapsed();
    let dir = &written.dir;
    out!(
        "wrote demo session {} ({} frames x {} ROIs in {} planes): {} files, {} ({} bytes) in {:.2} s",
        dir.display(),
        spec.frames,
        spec.rois(),
        planes,
        written.files.len(),
        human_bytes(written.total_bytes()),
        written.total_bytes(),
        elapsed.as_secs_f64()
    );

    let session = B2Session::open(dir)?;
    out!(
        "session {}: values numFrames={} planeNames={}",
        session.session_print("/"),
        session.get_value_json("numFrames")?,
        session.get_value_json("planeNames")?
    );
    let mut rows = Vec::new();
    for path in onedata::names::saved_one_files(session.one_path())? {
        let name = onedata::names::format_saved(&path, false, false);
        let opts = LoadOptions {
            sparse: path.extension().is_some_and(|e| e == "npz"),
            ..LoadOptions::default()
        };
        let on_disk = std::fs::metadata(&path)
            .map_err(|e| Error::io(path.clone(), e))?
            .len();
        let start = Instant::now();
        let data = session.loadone_with(&name, opts)?;
        let cold = start.elapsed();
        let start = Instant::now();
        let again = session.loadone_with(&name, opts)?;
        let hit = start.elapsed();
        debug_assert!(std::sync::Arc::ptr_eq(&data, &again));
        rows.push([
            name,
            kind_text(&path)?,
            shape_text(&data.shape()),
            human_bytes(on_disk),
            memory_text(&data),
            format!("{} / {}", micros(cold), micros(hit)),
        ]);
    }
    print_table(
        [
            "name",
            "kind",
            "shape",
            "on disk",
            "in memory",
            "load / cache hit",
        ],
        &rows,
        &[3, 4, 5],
    );
    let spks_type = session.spks_type();
    let spks = session.spks()?;
    let from = match spks_type.onedata() {
        Some((name, true)) => format!("{name}.npz"),
        Some((name, false)) => format!("{name}.npy"),
        None => "suite2p F and Fneu".to_string(),
    };
    out!(
        "spks ({}): {} {} {} from {from} ({})",
        spks_type.name(),
        spks.kind(),
        spks.as_dense()
            .map(|a| a.dtype().descr())
            .unwrap_or_else(|| "-".into()),
        shape_text(&spks.shape()),
        if spks.as_dense().is_some_and(|a| a.is_mapped()) {
            "memory-mapped, zero copy"
        } else {
            "owned"
        }
    );
    Ok(())
}
