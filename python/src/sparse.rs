//! Sparse `.npz` archives: their members as numpy arrays over onedata's
//! memory (the map itself for aligned stored files), for
//! `onedata._sparse.load_npz` to build the scipy object from, and the
//! writer behind `onedata.save_npz`.

use std::path::PathBuf;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use onedata::sparse::{read_npz_parts, write_npz_members, NpzOptions};

use crate::arrays::{array_over, dtype, Keep};
use crate::errors::{self, IntoPyResult};

/// The members of a sparse `.npz` file, checked in full, as scipy's
/// constructor for its format takes them: a dict with `format` (str),
/// `shape` (tuple), `is_array`, `canonical` (bool), `index_dtype` (str) and
/// `arrays` (a dict of read-only numpy arrays whose base owns the memory:
/// `data` as stored, index members in `index_dtype`).
#[pyfunction]
pub(crate) fn npz_parts(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let parts = py.detach(|| read_npz_parts(&path)).py(py)?;
    let out = PyDict::new(py);
    out.set_item("format", parts.format().as_str())?;
    let [rows, cols] = parts.shape();
    out.set_item("shape", PyTuple::new(py, [rows, cols])?)?;
    out.set_item("is_array", parts.is_array())?;
    out.set_item("canonical", parts.is_canonical())?;
    out.set_item("mapped", parts.is_mapped())?;
    out.set_item("index_dtype", parts.index_kind().native_descr())?;
    let arrays = PyDict::new(py);
    for part in parts.parts() {
        let descr = dtype(py, part.dtype())?;
        let array = array_over(
            py,
            Keep::Member(part.bytes().clone()),
            descr,
            part.shape(),
            part.is_fortran(),
        )?;
        arrays.set_item(part.name(), array)?;
    }
    out.set_item("arrays", arrays)?;
    Ok(out)
}

/// Writes a sparse `.npz` file atomically from members given as
/// `(key, npy header bytes, data buffer)` tuples, deflated when
/// `compressed`, else stored (64-byte aligned data when `aligned`);
/// `durable` syncs the file before its rename and the folder after it.
#[pyfunction]
#[pyo3(signature = (path, members, compressed, aligned, durable = true))]
pub(crate) fn write_npz(
    py: Python<'_>,
    path: PathBuf,
    members: Vec<(String, Vec<u8>, Bound<'_, PyAny>)>,
    compressed: bool,
    aligned: bool,
    durable: bool,
) -> PyResult<()> {
    let mut views = Vec::with_capacity(members.len());
    for (key, header, data) in &members {
        let buffer = PyBuffer::<u8>::get(data)?;
        if !buffer.is_c_contiguous() {
            return Err(errors::argument(
                py,
                format!("member {key:?} needs a contiguous byte buffer"),
            ));
        }
        views.push((key.clone(), header.clone(), buffer));
    }
    // As addresses, so the closure can cross to the thread-free section.
    let spans: Vec<(String, Vec<u8>, usize, usize)> = views
        .iter()
        .map(|(k, h, b)| (k.clone(), h.clone(), b.buf_ptr() as usize, b.len_bytes()))
        .collect();
    let options = if compressed {
        NpzOptions::COMPRESSED
    } else if aligned {
        NpzOptions::ALIGNED
    } else {
        NpzOptions::STORED
    }
    .with_durability(crate::durability(durable));
    // The slices are made and used inside the closure, while `views` (whose
    // buffers keep the exporters' memory valid) is alive.
    let result = py.detach(|| {
        let datas: Vec<&[u8]> = spans
            .iter()
            .map(|&(_, _, addr, len)| {
                // SAFETY: each `PyBuffer` in `views` holds a buffer view of
                // `len` contiguous bytes at `addr`, valid until it is
                // released after this call returns. Another Python thread
                // may write to an array meanwhile; that can change which
                // bytes are written (as with np.savez) but not where they
                // are read from.
                unsafe { std::slice::from_raw_parts(addr as *const u8, len) }
            })
            .collect();
        let list: Vec<(&str, &[u8], &[u8])> = spans
            .iter()
            .zip(&datas)
            .map(|((k, h, _, _), d)| (k.as_str(), h.as_slice(), *d))
            .collect();
        write_npz_members(&path, &list, options)
    });
    drop(views);
    result.py(py)
}
