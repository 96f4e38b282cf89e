//! `onedata._onedata`: the compiled core of the onedata Python package.
//!
//! Thin bindings over the `onedata` crate: every file is opened, validated
//! and decoded by the library, with the GIL released; this crate turns the
//! results into numpy arrays over the library's memory ([`arrays`]), Python
//! objects built from its safe value tree ([`values`]), and exceptions of
//! the package's own hierarchy ([`errors`]). The pure-Python layer
//! (`python/python/onedata/`) builds the public API on top.

use std::path::PathBuf;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use onedata::npy::{Dtype, NpyOwned, NpyStored};
use onedata::recipe::decode_object_npy;
use onedata::{LoadingRecipe, PyValue};

mod arrays;
mod b2;
mod errors;
mod info;
mod remote;
mod sparse;
mod values;

use arrays::{array_over, dtype, Keep, MapOwner};
use errors::IntoPyResult;

/// What a `.npy` file holds once opened: a numpy array over the file's map
/// (any dtype but objects), or for an object array the value onedata's
/// restricted pickle reader decoded (a 0-d array's element, or an object
/// ndarray of the elements).
///
/// `mmap=False` gives a writeable copy that owns its memory; with
/// `mmap=True`, `policy` ("auto", "always" or "never") is the map policy.
#[pyfunction]
#[pyo3(signature = (path, mmap = true, policy = "auto"))]
fn load<'py>(
    py: Python<'py>,
    path: PathBuf,
    mmap: bool,
    policy: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let policy = map_policy(py, policy)?;
    if !mmap {
        match py.detach(|| NpyOwned::read(&path)) {
            Ok(owned) => {
                let descr = dtype(py, owned.header().dtype())?;
                return arrays::array_owned(py, owned, descr);
            }
            // An object array: its pickle is decoded below, into objects
            // of their own.
            Err(e) if matches!(e.kind(), onedata::ErrorKind::TypeMismatch { .. }) => {}
            // Never a read-only map in place of the copy asked for.
            Err(e) => return Err(errors::to_py(py, e)),
        }
    }
    let stored = py.detach(|| NpyStored::open_with(&path, policy)).py(py)?;
    let header = stored.header();
    if *header.dtype() == Dtype::Object {
        let value = py
            .detach(|| decode_object_npy(stored.bytes()))
            .map_err(|e| errors::to_py(py, onedata::Error::invalid(&path, e)))?;
        let value = values::to_python(py, &value)?;
        return object_array(py, value);
    }
    let descr = dtype(py, header.dtype())?;
    let shape = header.shape().to_vec();
    let fortran = header.fortran_order();
    array_over(py, Keep::Stored(stored), descr, &shape, fortran)
}

/// The map policy named by `name`.
pub(crate) fn map_policy(py: Python<'_>, name: &str) -> PyResult<onedata::npy::MapPolicy> {
    use onedata::npy::MapPolicy;
    match name {
        "auto" => Ok(MapPolicy::Auto),
        "always" => Ok(MapPolicy::Always),
        "never" => Ok(MapPolicy::Never),
        other => Err(errors::argument(
            py,
            format!("policy must be \"auto\", \"always\" or \"never\", not {other:?}"),
        )),
    }
}

/// The library's durability for the Python flag `durable`.
pub(crate) fn durability(durable: bool) -> onedata::Durability {
    if durable {
        onedata::Durability::Durable
    } else {
        onedata::Durability::Scratch
    }
}

/// An object ndarray as `np.load(allow_pickle=True)` returns it: for a
/// value decoded from a 0-d array, a 0-d object array holding it.
pub(crate) fn object_array<'py>(
    py: Python<'py>,
    value: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let np = py.import("numpy")?;
    if value.is_instance(&np.getattr("ndarray")?)?
        && value
            .getattr("dtype")?
            .getattr("kind")?
            .extract::<String>()?
            == "O"
    {
        return Ok(value);
    }
    let out = np.call_method1("empty", ((), "O"))?;
    out.set_item((), value)?;
    Ok(out)
}

/// Writes a `.npy` file atomically from numpy's header bytes and the
/// element bytes (any object exporting a contiguous byte buffer); `durable`
/// syncs the file before its rename and the folder after it.
#[pyfunction]
#[pyo3(signature = (path, header, data, durable = true))]
fn write_npy(
    py: Python<'_>,
    path: PathBuf,
    header: &[u8],
    data: &Bound<'_, PyAny>,
    durable: bool,
) -> PyResult<()> {
    let buffer = PyBuffer::<u8>::get(data)?;
    if !buffer.is_c_contiguous() {
        return Err(errors::argument(
            py,
            "write_npy needs a contiguous byte buffer",
        ));
    }
    let len = buffer.len_bytes();
    // As an address, so the closure can cross to the thread-free section.
    let addr = buffer.buf_ptr() as usize;
    let header = header.to_vec();
    // The slice is made and used inside the closure, while `buffer` (which
    // keeps the exporter's memory valid) is alive.
    let result = py.detach(|| {
        // SAFETY: `buffer` holds a buffer view of `len` contiguous bytes at
        // `addr`, valid until it is released after this call returns. Another
        // Python thread may write to the array meanwhile; that can change
        // which bytes are written (as with np.save) but not where they are
        // read from.
        let data = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
        onedata::npy::write_npy_parts_with(&path, &header, data, durability(durable))
    });
    drop(buffer);
    result.py(py)
}

/// The recipe a `.npy` file holds, as vrAnalysis's `LoadingRecipe.to_dict()`
/// gives it: `{"marker", "loader_type", "source_arg", "transforms", "kwargs"}`.
#[pyfunction]
fn read_recipe(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let recipe = py.detach(|| onedata::recipe::read_recipe(&path)).py(py)?;
    values::to_python(py, &recipe.to_dict())
}

/// Writes a recipe given as its `to_dict()` form, atomically (and durably
/// when `durable`), as vrAnalysis's `saveone` saves one.
#[pyfunction]
#[pyo3(signature = (path, recipe, durable = true))]
fn write_recipe(
    py: Python<'_>,
    path: PathBuf,
    recipe: &Bound<'_, PyDict>,
    durable: bool,
) -> PyResult<()> {
    let value = values::from_python(recipe.as_any(), 0)?;
    let recipe = LoadingRecipe::from_dict(&value)
        .map_err(|e| errors::argument(py, format!("not a loading recipe: {e}")))?;
    py.detach(|| onedata::recipe::write_recipe_with(&path, &recipe, durability(durable)))
        .py(py)
}

/// Deletes the temporary files that saves killed mid-write left in the
/// folder `path` (at least a minute old, and held by no save in progress);
/// returns their paths.
#[pyfunction]
fn remove_stale_temporaries(py: Python<'_>, path: PathBuf) -> PyResult<Vec<PathBuf>> {
    py.detach(|| onedata::remove_stale_temporaries(&path))
        .py(py)
}

/// Decodes a pickle with onedata's restricted reader (executing nothing)
/// and returns the Python value: for tests and for callers holding bytes.
#[pyfunction]
fn decode_object<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let value: PyValue = decode_object_npy(data)
        .map_err(|e| errors::to_py(py, onedata::Error::invalid("<bytes>", e)))?;
    values::to_python(py, &value)
}

/// Sets the bound, in bytes, on the freed copy buffers onedata keeps for
/// reuse (1 GiB unless ``ONEDATA_RETAIN_MB`` says otherwise); ``0`` keeps
/// none and frees those kept now.
///
/// ``onedata.load(path, mmap=False)`` and ``load_npz`` fill owned buffers.
/// On Linux a dropped buffer of 4 MiB or more is kept (marked
/// ``MADV_FREE``, so the kernel reclaims it first when memory is short), and
/// the next owned load of a similar size reuses it instead of paying the
/// kernel to zero fresh pages.
///
/// Examples
/// --------
/// >>> import onedata
/// >>> onedata.set_retained_limit(256 << 20)
/// >>> onedata.retained_limit()
/// 268435456
/// Refuses a onedata file name (with extension) that would leave `oneData`
/// or that Windows refuses (see `onedata::names::check_file_name`).
#[pyfunction]
fn check_file_name(py: Python<'_>, file_name: &str) -> PyResult<()> {
    onedata::names::check_file_name(file_name).py(py)
}

#[pyfunction]
fn set_retained_limit(bytes: usize) {
    onedata::memory::set_retained_limit(bytes);
}

/// The bound, in bytes, on the freed copy buffers kept for reuse.
#[pyfunction]
fn retained_limit() -> usize {
    onedata::memory::retained_limit()
}

/// The bytes of freed copy buffers kept for reuse now.
#[pyfunction]
fn retained_bytes() -> usize {
    onedata::memory::retained_bytes()
}

#[pymodule]
fn _onedata(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<MapOwner>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(write_npy, m)?)?;
    m.add_function(wrap_pyfunction!(read_recipe, m)?)?;
    m.add_function(wrap_pyfunction!(write_recipe, m)?)?;
    m.add_function(wrap_pyfunction!(decode_object, m)?)?;
    m.add_function(wrap_pyfunction!(check_file_name, m)?)?;
    m.add_function(wrap_pyfunction!(sparse::npz_parts, m)?)?;
    m.add_function(wrap_pyfunction!(sparse::write_npz, m)?)?;
    m.add_function(wrap_pyfunction!(info::info_json, m)?)?;
    m.add_function(wrap_pyfunction!(set_retained_limit, m)?)?;
    m.add_function(wrap_pyfunction!(retained_limit, m)?)?;
    m.add_function(wrap_pyfunction!(retained_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(remove_stale_temporaries, m)?)?;
    m.add_class::<b2::PyB2Session>()?;
    m.add_class::<remote::PyRemote>()?;
    m.add_class::<remote::PyRemoteHeader>()?;
    m.add_class::<remote::PyCopyLock>()?;
    Ok(())
}
