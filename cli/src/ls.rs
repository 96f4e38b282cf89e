//! `onedata ls`: a session, a `oneData` folder, or the sessions under a root.

use std::path::Path;

use onedata::discover::SessionDir;
use onedata::session::{ONE_DIR, ONE_DIR_LOWER};
use onedata::{Error, Result};

use crate::info::{human_bytes, recipe_text, shape_text, shell_word};
use onedata::describe::{describe_file, Description};

/// One row of `onedata ls`.
pub struct Row {
    pub name: String,
    pub kind: String,
    pub dtype: String,
    pub shape: String,
    pub size: String,
}

fn describe(path: &Path) -> Row {
    let name = onedata::names::format_saved(path, false, true);
    let size = std::fs::metadata(path)
        .map(|m| human_bytes(m.len()))
        .unwrap_or_else(|_| "?".into());
    row_for(name, size, describe_file(path))
}

/// The row of the file `name` of `size` (as shown) that `described` says
/// what it holds, or why it could not be read.
pub fn row_for(name: String, size: String, described: Result<Description>) -> Row {
    // A file the OS (or the store) will not let us read is "unreadable",
    // with the reason; one whose contents are at fault is "invalid", with
    // the fault.
    let invalid = |e: onedata::Error| {
        let (kind, why) = match (e.io_error(), e.remote_fault()) {
            (Some(source), _) => ("unreadable", source.to_string()),
            (None, Some(fault)) => ("unreadable", fault.to_string()),
            (None, None) => (
                "invalid",
                e.fault()
                    .map(|f| f.to_string())
                    .unwrap_or_else(|| e.to_string()),
            ),
        };
        Row {
            name: name.clone(),
            kind: kind.into(),
            dtype: "-".into(),
            shape: why,
            size: size.clone(),
        }
    };
    match described {
        Ok(Description::Dense(header)) => Row {
            name,
            kind: "dense".into(),
            dtype: header.dtype().descr(),
            shape: shape_text(header.shape()),
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
            shape: recipe_text(&r),
            size,
        },
        Ok(Description::Object(header, value)) => Row {
            name,
            kind: "object".into(),
            dtype: "|O".into(),
            shape: match &value {
                // A 0-d array: what its one object is.
                _ if header.shape().is_empty() => value.summary(),
                _ => format!("object array {}", shape_text(header.shape())),
            },
            size,
        },
        Err(e) => invalid(e),
    }
}

/// Prints `rows` under `headers` in aligned columns; the columns numbered
/// in `right` are right-aligned.
pub fn print_table<const N: usize>(headers: [&str; N], rows: &[[String; N]], right: &[usize]) {
    let mut widths = headers.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if right.contains(&i) {
                s.push_str(&format!("{cell:>w$}"));
            } else {
                s.push_str(&format!("{cell:<w$}"));
            }
        }
        out!("{}", s.trim_end());
    };
    line(headers);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
}

/// Whether `dir` is a session's onedata folder itself (`oneData`, or
/// `onedata` as some vrAnalysis versions spell it).
fn is_one_dir(dir: &Path) -> bool {
    let named = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n == ONE_DIR || n == ONE_DIR_LOWER)
    };
    dir.is_dir() && (named(dir) || std::fs::canonicalize(dir).is_ok_and(|p| named(&p)))
}

/// Lists what `dir` holds: the onedata files of a session folder or of a
/// `oneData` folder itself, or the sessions under a data root
/// (`<mouse>/<YYYY-MM-DD>/<session_id>/oneData`).
pub fn ls(dir: &Path) -> Result<()> {
    let one = [ONE_DIR, ONE_DIR_LOWER]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_dir());
    if let Some(one) = one {
        return list_one(&one);
    }
    if is_one_dir(dir) {
        return list_one(dir);
    }
    let sessions = onedata::discover::iter_sessions(dir)?;
    if sessions.is_empty() {
        return Err(Error::argument(format!(
            "{}: no onedata here: not a session folder (no {ONE_DIR} inside), not a {ONE_DIR} folder, \
             and no sessions under it as <mouse>/<YYYY-MM-DD>/<session_id>/{ONE_DIR}",
            dir.display()
        )));
    }
    list_sessions(dir, &sessions)
}

/// Lists every onedata file in the onedata folder `one`.
fn list_one(one: &Path) -> Result<()> {
    let files = onedata::names::saved_one_files(one)?;
    let rows: Vec<[String; 5]> = files
        .iter()
        .map(|p| {
            let r = describe(p);
            [r.name, r.kind, r.dtype, r.shape, r.size]
        })
        .collect();
    print_table(["name", "kind", "dtype", "shape", "size"], &rows, &[4]);
    out!("{} onedata file(s) in {}", rows.len(), one.display());
    Ok(())
}

/// Lists the sessions found under `root`: name, onedata files, their size.
fn list_sessions(root: &Path, sessions: &[SessionDir]) -> Result<()> {
    let mut rows = Vec::with_capacity(sessions.len());
    for found in sessions {
        let files = onedata::names::saved_one_files(&found.path.join(ONE_DIR))?;
        let bytes: u64 = files
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        rows.push([
            found.id.session_print("/"),
            files.len().to_string(),
            human_bytes(bytes),
            found.path.display().to_string(),
        ]);
    }
    print_table(["session", "files", "size", "path"], &rows, &[1, 2]);
    out!(
        "{} session(s) under {}; list one with: onedata ls {}",
        rows.len(),
        root.display(),
        shell_word(&sessions[0].path.display().to_string())
    );
    Ok(())
}
