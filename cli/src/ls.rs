//! `onedata ls`.

use std::path::Path;

use onedata::{Error, Result};

use crate::info::{describe_file, human_bytes, recipe_text, shape_text, Description};

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
            shape: recipe_text(&r),
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

/// Prints `rows` under `headers` in aligned columns, the last right-aligned.
pub fn print_table(headers: [&str; 5], rows: &[[String; 5]]) {
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
