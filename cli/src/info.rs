//! `onedata info` and `onedata digest`.

use std::path::Path;

use onedata::describe::{describe_file, Description};
pub use onedata::describe::{digest_command, recipe_summary, shell_word};
use onedata::npy::NpyArray;
use onedata::recipe::{json_text, LoadingRecipe};
use onedata::{Error, Result};

/// Describes one file.
pub fn info(path: &Path, as_json: bool) -> Result<()> {
    let file_bytes = std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Error::io(path, e))?;
    let value = describe_file(path)?.to_json(path, file_bytes)?;
    print_info(&path.display().to_string(), &value, as_json);
    Ok(())
}

/// Prints what `info` prints for the file shown as `shown` that `value`
/// (its [`Description::to_json`]) describes.
pub fn print_info(shown: &str, value: &serde_json::Value, as_json: bool) {
    if as_json {
        out!("{}", json_text(value));
        return;
    }
    out!("file           {shown}");
    if let serde_json::Value::Object(map) = value {
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
            out!("{k:<14} {text}");
        }
    }
}

/// Prints the content digest of one file (for `.npz`, of the dense array).
/// A loading recipe has no elements of its own: the error says so and gives
/// the command that digests what it loads.
pub fn digest(path: &Path) -> Result<()> {
    digest_file(path, &path.display().to_string(), &digest_command(path))
}

/// [`digest`] of the file at `path`, shown as `shown` in the error about a
/// recipe, which gives `command` to digest what it loads.
pub fn digest_file(path: &Path, shown: &str, command: &str) -> Result<()> {
    let d = match describe_file(path)? {
        Description::Sparse(_) => {
            onedata::digest::digest(&onedata::sparse::read_npz(path)?.to_dense()?)?
        }
        Description::Recipe(recipe) => {
            return Err(Error::argument(format!(
                "{shown}: {}, not an array: it has no elements to digest; digest what it loads with: {command}",
                recipe_summary(&recipe),
            )))
        }
        Description::Object(_, value) => onedata::digest::digest_value(&value),
        Description::Dense(_) => onedata::digest::digest(&NpyArray::open(path)?)?,
    };
    out!("{}", onedata::digest::to_hex(&d));
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
