//! `vrExperimentValues.json`: read as Python's `json.load` reads it, written
//! as vrAnalysis' `json.dump(values, f, ensure_ascii=False)` writes it (see
//! [`crate::pyjson`]).

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::pyjson::{dumps, dumps_dict, loads, to_pyjson, PyJson, PyJsonError};

/// A values dict: keys in insertion order, each once.
pub(crate) type Values = Vec<(String, PyJson)>;

/// Reads a JSON file that must hold one object (values or options), with
/// Python's grammar: `NaN`, `Infinity` and `-Infinity` are floats.
pub(crate) fn read_json_object(path: &Path) -> Result<Values> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    match loads(&text) {
        Ok(PyJson::Dict(items)) => Ok(items),
        Ok(_) => Err(Error::values(path, "the file must hold one JSON object")),
        Err(e) => Err(Error::values(path, e.to_string())),
    }
}

/// `value` as Python's `json.dumps(value, ensure_ascii=False)` writes it.
pub(crate) fn python_json<T: Serialize + ?Sized>(
    value: &T,
) -> std::result::Result<Vec<u8>, PyJsonError> {
    Ok(dumps(&to_pyjson(value)?).into_bytes())
}

/// Writes the values file atomically, and durably unless `durability` is
/// [`Durability::Scratch`](crate::Durability::Scratch).
pub(super) fn write_values(
    path: &Path,
    values: &[(String, PyJson)],
    durability: crate::Durability,
) -> Result<()> {
    let text = dumps_dict(values);
    crate::atomic::write_atomic(path, durability, |w| {
        std::io::Write::write_all(w, text.as_bytes())
    })
}
