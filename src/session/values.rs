//! `vrExperimentValues.json`: read as one JSON object, written as Python's
//! `json.dump` writes it.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};

pub(super) fn read_values(path: &Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::new(ErrorKind::Values {
            path: path.to_path_buf(),
            message: "the file must hold one JSON object".into(),
        })),
        Err(e) => Err(Error::new(ErrorKind::Values {
            path: path.to_path_buf(),
            message: e.to_string(),
        })),
    }
}

/// Formats JSON as Python's `json.dump` does by default: one line, `", "`
/// between items and `": "` after keys.
struct PythonJson;

/// Writes `", "` before every item but the first.
fn separator<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl serde_json::ser::Formatter for PythonJson {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

/// `value` as Python's `json.dumps(value, ensure_ascii=False)` writes it.
pub(crate) fn python_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonJson);
    value.serialize(&mut ser)?;
    Ok(out)
}

pub(super) fn write_values(path: &Path, values: &Map<String, Value>) -> Result<()> {
    let text = python_json(values).map_err(|e| Error::values(path, e.to_string()))?;
    crate::npy::write_atomic(path, |w| std::io::Write::write_all(w, &text))
}
