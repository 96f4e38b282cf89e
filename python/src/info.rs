//! `onedata.info`: what `onedata info --json` prints for a file.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::errors::IntoPyResult;

/// The JSON text `onedata info --json` prints for the file at `path` (the
/// library's `describe_json`), read with the GIL released.
#[pyfunction]
pub(crate) fn info_json(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| onedata::describe::describe_json(&path).map(|v| onedata::recipe::json_text(&v)))
        .py(py)
}
