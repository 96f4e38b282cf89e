//! onedata's errors as Python exceptions of the package's own hierarchy
//! (`onedata.Error` and its subclasses, defined in `onedata/_errors.py`,
//! each also deriving from the builtin a Python caller would catch).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

use onedata::{Error, ErrorKind};

/// The exception class of `onedata._errors` named `name`.
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || py.import("onedata._errors").map(Bound::unbind))?;
    module
        .bind(py)
        .getattr(name)?
        .cast_into()
        .map_err(PyErr::from)
}

/// The name of the class in `onedata._errors` that stands for `error`.
fn class_name(error: &Error) -> &'static str {
    match error.kind() {
        ErrorKind::Io { .. } if error.is_file_not_found() => "FileNotFound",
        ErrorKind::Io { .. }
            if error
                .io_error()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied) =>
        {
            "PermissionDenied"
        }
        ErrorKind::Io { .. } => "IOError",
        ErrorKind::Invalid { .. } => "InvalidFile",
        ErrorKind::Unwritable { .. } => "Unwritable",
        ErrorKind::TypeMismatch { .. } | ErrorKind::KindMismatch { .. } => "TypeMismatch",
        ErrorKind::DimensionMismatch { .. } => "DimensionMismatch",
        ErrorKind::InvalidName { .. } => "InvalidName",
        ErrorKind::NotFound { .. } => "NotAvailable",
        ErrorKind::UnknownRecipeLoader { .. } | ErrorKind::UnknownRecipeTransform { .. } => {
            "UnknownRecipe"
        }
        ErrorKind::RecipeCycle { .. } => "RecipeCycle",
        ErrorKind::MissingValue { .. } => "MissingValue",
        ErrorKind::Values { .. } => "ValuesError",
        ErrorKind::OutOfMemory { .. } => "OutOfMemory",
        ErrorKind::Remote { .. } => "RemoteError",
        _ => "InvalidArgument",
    }
}

/// The Python exception for a onedata error: its class by kind, its message
/// the error's own (which names the file and the fault), with `path` (and for
/// OSError subclasses `filename`) set to the file it concerns (or None).
pub(crate) fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    let path = error.path().map(|p| p.to_string_lossy().into_owned());
    let build = || -> PyResult<PyErr> {
        let cls = class(py, class_name(&error))?;
        let exc = cls.call1((message.clone(),))?;
        exc.setattr("path", path.clone())?;
        if let ErrorKind::RecipeCycle { files, .. } = error.kind() {
            exc.setattr("files", files.clone())?;
        }
        if let Some(url) = error.url() {
            exc.setattr("url", url)?;
        }
        if let Some(fault) = error.remote_fault() {
            exc.setattr("fault", fault_name(fault))?;
        }
        if path.is_some() && exc.hasattr("filename")? {
            // OSError subclasses: where `except OSError as e: e.filename` looks.
            exc.setattr("filename", path.clone())?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

/// The name of a remote fault's variant (`"NotFound"`, `"Auth"`, ...), as
/// `onedata.RemoteError.fault` gives it.
fn fault_name(fault: &onedata::RemoteFault) -> String {
    let debug = format!("{fault:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Converts a onedata result for Python.
pub(crate) trait IntoPyResult<T> {
    /// The value, or the error as a Python exception.
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for onedata::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

/// An `InvalidArgument` exception with `message`.
pub(crate) fn argument(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py(py, Error::argument(message.into()))
}
