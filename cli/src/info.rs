//! `onedata info` and `onedata digest`.

use std::path::{Path, PathBuf};

use onedata::describe::{describe_file, Description};
use onedata::npy::NpyArray;
use onedata::recipe::{json_text, ArrayBytes, LoadingRecipe};
use onedata::{Error, Result};
use serde_json::json;

/// Describes one file.
pub fn info(path: &Path, as_json: bool) -> Result<()> {
    let file_bytes = std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Error::io(path, e))?;
    let value = match describe_file(path)? {
        Description::Dense(header) => {
            let (major, minor) = header.version();
            json!({
                "kind": "dense",
                "descr": header.dtype().descr(),
                "shape": header.shape(),
                "fortran_order": header.fortran_order(),
                "version": format!("{major}.{minor}"),
                // Numbers view as typed arrays; strings, datetimes, records,
                // voids and long doubles load with their own accessors.
                "supported": header.dtype().kind().is_some()
                    || header.dtype().other_kind().is_some(),
                "element": element_text(header.dtype()),
                "data_offset": header.data_offset(),
                "data_bytes": header.data_len(),
                "file_bytes": file_bytes,
            })
        }
        Description::Sparse(i) => json!({
            "kind": "sparse",
            "format": i.format.as_str(),
            "descr": i.dtype.descr(),
            "shape": i.shape,
            "nnz": i.nnz,
            "index_descr": i.index_dtype.descr(),
            "is_array": i.is_array,
            "file_bytes": file_bytes,
        }),
        Description::Recipe(r) => {
            // The JSON tree of the kwargs (ints beyond 64 bits print as
            // digits, see `json_text`; sets, arrays, ... as `$`-objects).
            let kwargs = r.to_dict().to_json_tree(ArrayBytes::Count)["kwargs"].take();
            json!({
                "kind": "recipe",
                "loader_type": r.loader_type,
                "source_arg": r.source_arg,
                "transforms": r.transforms,
                "kwargs": kwargs,
                "file_bytes": file_bytes,
                "note": format!("{}, not an array", recipe_summary(&r)),
                "digest_with": digest_command(path),
            })
        }
        Description::Object(header, v) => json!({
            "kind": "object",
            "descr": "|O",
            "shape": header.shape(),
            "summary": v.summary(),
            "file_bytes": file_bytes,
            "value": v.to_json_tree(ArrayBytes::Count),
        }),
    };
    if as_json {
        println!("{}", json_text(&value));
        return Ok(());
    }
    println!("file           {}", path.display());
    if let serde_json::Value::Object(map) = &value {
        for (k, v) in map {
            if k == "value" {
                // The value tree is for --json; the summary says what it is.
                continue;
            }
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) if k == "shape" => {
                    let dims: Vec<usize> = a
                        .iter()
                        .filter_map(|d| d.as_u64())
                        .map(|d| d as usize)
                        .collect();
                    shape_text(&dims)
                }
                other => json_text(other),
            };
            let text = match k.as_str() {
                "file_bytes" | "data_bytes" => v.as_u64().map(human_bytes).unwrap_or(text),
                _ => text,
            };
            println!("{k:<14} {text}");
        }
    }
    Ok(())
}

/// Prints the content digest of one file (for `.npz`, of the dense array).
/// A loading recipe has no elements of its own: the error says so and gives
/// the command that digests what it loads.
pub fn digest(path: &Path) -> Result<()> {
    let d = match describe_file(path)? {
        Description::Sparse(_) => {
            onedata::digest::digest(&onedata::sparse::read_npz(path)?.to_dense()?)?
        }
        Description::Recipe(recipe) => {
            return Err(Error::argument(format!(
                "{}: {}, not an array: it has no elements to digest; digest what it loads with: {}",
                path.display(),
                recipe_summary(&recipe),
                digest_command(path)
            )))
        }
        Description::Object(_, value) => onedata::digest::digest_value(&value),
        Description::Dense(_) => onedata::digest::digest(&NpyArray::open(path)?)?,
    };
    println!("{}", onedata::digest::to_hex(&d));
    Ok(())
}

/// What one element is, for `info`: `float32`, `unicode (6 chars)`, ...
fn element_text(dtype: &onedata::npy::Dtype) -> String {
    use onedata::npy::OtherKind;
    if let Some(kind) = dtype.kind() {
        return format!("{kind:?}").to_lowercase();
    }
    match dtype.other_kind() {
        Some(OtherKind::Unicode { chars }) => format!("unicode ({chars} chars)"),
        Some(OtherKind::Bytes { len }) => format!("bytes ({len})"),
        Some(OtherKind::Datetime(unit)) => format!("datetime64 [{}], as i64", unit_text(unit)),
        Some(OtherKind::Timedelta(unit)) => {
            format!("timedelta64 [{}], as i64", unit_text(unit))
        }
        Some(OtherKind::Structured) => match dtype.fields() {
            Some(fields) => format!(
                "record of {} field(s): {}",
                fields.len(),
                fields
                    .iter()
                    .map(|f| f.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "record".to_string(),
        },
        Some(other) => format!("{other:?}").to_lowercase(),
        None => "object".to_string(),
    }
}

/// A datetime unit as numpy spells it: `D`, `25ms`, `generic`.
fn unit_text(unit: onedata::npy::DatetimeUnit) -> String {
    match (unit.count, unit.base.code()) {
        (_, "") => "generic".to_string(),
        (1, code) => code.to_string(),
        (n, code) => format!("{n}{code}"),
    }
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

/// A recipe's loader, source and transforms as `ls` shows them:
/// `S2P(F) -> transpose`.
pub fn recipe_text(r: &LoadingRecipe) -> String {
    format!(
        "{}({}){}",
        r.loader_type,
        r.source_arg.as_deref().unwrap_or(""),
        r.transforms
            .iter()
            .map(|t| format!(" -> {t}"))
            .collect::<String>()
    )
}

/// `a loading recipe (loader S2P, source F, then transpose)`.
pub fn recipe_summary(r: &LoadingRecipe) -> String {
    let source = match &r.source_arg {
        Some(s) => format!("source {s}"),
        None => "no source".to_string(),
    };
    let then = if r.transforms.is_empty() {
        String::new()
    } else {
        format!(", then {}", r.transforms.join(", "))
    };
    format!(
        "a loading recipe (loader {}, {source}{then})",
        r.loader_type
    )
}

/// The session folder and onedata name of a file in a session's `oneData`
/// folder (`DIR/oneData/NAME.npy`), or `None` when it is not in one.
pub fn session_of(path: &Path) -> Option<(PathBuf, String)> {
    let in_one = |p: &Path| {
        p.parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == onedata::session::ONE_DIR || n == onedata::session::ONE_DIR_LOWER)
    };
    let path = if in_one(path) {
        path.to_path_buf()
    } else {
        let full = std::fs::canonicalize(path).ok()?;
        if !in_one(&full) {
            return None;
        }
        full
    };
    let name = path.file_stem()?.to_str()?.to_string();
    let dir = path.parent()?.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    Some((dir, name))
}

/// `onedata digest --session DIR NAME` for a recipe file, with DIR and NAME
/// filled in when the file is in a session's `oneData` folder.
pub fn digest_command(path: &Path) -> String {
    match session_of(path) {
        Some((dir, name)) => format!(
            "onedata digest --session {} {}",
            shell_word(&dir.display().to_string()),
            shell_word(&name)
        ),
        None => {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!(
                "onedata digest --session SESSION_DIR {} (SESSION_DIR: the folder whose oneData/ holds it)",
                shell_word(&name)
            )
        }
    }
}

/// `s` as one shell word: as it is when it holds nothing a shell would
/// split or expand, else in single quotes.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./,:=+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
