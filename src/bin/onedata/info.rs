//! `onedata info` and `onedata digest`.

use std::path::Path;

use onedata::npy::{read_header, Dtype, NpyArray};
use onedata::Result;
use serde_json::json;

/// Describes one file.
pub fn info(path: &Path, as_json: bool) -> Result<()> {
    let header = read_header(path)?;
    let file_bytes = std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| onedata::Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    let kind = match header.dtype() {
        Dtype::Object => "object",
        _ => "dense",
    };
    let (major, minor) = header.version();
    let supported = header.dtype().kind().is_some();
    let value = json!({
        "kind": kind,
        "descr": header.dtype().descr(),
        "shape": header.shape(),
        "fortran_order": header.fortran_order(),
        "version": format!("{major}.{minor}"),
        "supported": supported,
        "data_offset": header.data_offset(),
        "data_bytes": header.data_len(),
        "file_bytes": file_bytes,
    });
    if as_json {
        println!("{value}");
        return Ok(());
    }
    println!("file           {}", path.display());
    println!("kind           {kind}");
    let note = if supported {
        ""
    } else {
        "  (not loadable as numbers)"
    };
    println!("descr          {}{note}", header.dtype().descr());
    println!("shape          {}", shape_text(header.shape()));
    println!("fortran_order  {}", header.fortran_order());
    println!("version        {major}.{minor}");
    match header.data_len() {
        Some(n) => println!(
            "data           {} at offset {}",
            human_bytes(n as u64),
            header.data_offset()
        ),
        None => println!("data           pickle at offset {}", header.data_offset()),
    }
    println!("file size      {}", human_bytes(file_bytes));
    Ok(())
}

/// Prints the content digest of one file.
pub fn digest(path: &Path) -> Result<()> {
    let array = NpyArray::open(path)?;
    let d = onedata::digest::digest(&array)?;
    println!("{}", onedata::digest::to_hex(&d));
    Ok(())
}

/// A shape as Python prints a tuple: `()`, `(3,)`, `(3, 4)`.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// A byte count for people: `512 B`, `3.8 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
