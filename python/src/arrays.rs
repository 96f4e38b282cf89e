//! numpy arrays over onedata's bytes: the Python buffer boundary.
//!
//! An array made here points into memory a [`Keep`] holds (a read-only map
//! of the file, or a buffer onedata decoded), and its numpy `base` is the
//! [`MapOwner`] holding that `Keep`: the bytes live exactly as long as some
//! array over them does, whatever happens to the session or cache that
//! loaded them.

use std::ffi::c_void;
use std::ptr;

use numpy::npyffi::{self, npy_intp, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use onedata::npy::{Dtype, NpyArray, NpyOwned, NpyStored};

/// What keeps an array's bytes alive.
pub(crate) enum Keep {
    /// A `.npy` file mapped as stored.
    Stored(NpyStored),
    /// An array onedata loaded or computed (native order).
    Array(NpyArray),
    /// Bytes onedata decoded into memory (sparse members, pickled arrays).
    Bytes(Vec<u8>),
    /// Typed memory (sparse index and value buffers).
    #[allow(dead_code)] // no binding hands out typed vectors yet
    Words(Box<dyn AsBytes>),
    /// A file read into memory of its own, handed to numpy writeable: Rust
    /// makes no reference to these bytes once an array is over them.
    Owned(#[allow(dead_code)] NpyOwned),
    /// A member of a sparse archive: a range of its map, or decoded bytes.
    Member(onedata::sparse::PartBytes),
}

/// Memory that can be viewed as bytes and sent between threads.
pub(crate) trait AsBytes: Send + Sync {
    /// The bytes.
    fn as_bytes(&self) -> &[u8];
}

impl<T: bytemuck::Pod + Send + Sync> AsBytes for Vec<T> {
    fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self)
    }
}

impl Keep {
    /// The bytes, for read-only arrays (`None` for [`Keep::Owned`], whose
    /// bytes numpy may be writing).
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Keep::Stored(s) => Some(s.bytes()),
            Keep::Array(a) => Some(a.data_bytes()),
            Keep::Bytes(b) => Some(b),
            Keep::Words(w) => Some(w.as_bytes()),
            Keep::Member(m) => Some(m.as_bytes()),
            Keep::Owned(_) => None,
        }
    }

    fn is_mapped(&self) -> bool {
        match self {
            Keep::Stored(s) => s.is_mapped(),
            Keep::Array(a) => a.is_mapped(),
            Keep::Member(m) => m.is_mapped(),
            Keep::Bytes(_) | Keep::Words(_) | Keep::Owned(_) => false,
        }
    }

    fn is_protected(&self) -> bool {
        match self {
            Keep::Stored(s) => s.is_protected(),
            Keep::Array(a) => a.is_protected(),
            Keep::Member(m) => m.is_protected(),
            Keep::Bytes(_) | Keep::Words(_) | Keep::Owned(_) => true,
        }
    }
}

/// The owner of the memory under arrays onedata returns: the `base` of
/// each such numpy array. It holds a file's map (or a decoded buffer) and
/// releases it when the last array over it is gone.
#[pyclass(frozen, module = "onedata._onedata")]
pub struct MapOwner {
    // Held for its memory, which arrays point into; read only to ask
    // whether it is still protected.
    keep: Keep,
    len: usize,
    mapped: bool,
}

#[pymethods]
impl MapOwner {
    /// Whether the memory is a map of the file (False: onedata's own buffer).
    #[getter]
    fn mapped(&self) -> bool {
        self.mapped
    }

    /// Whether no other program can change the memory under the array:
    /// True for onedata's own buffers and for maps holding a read lease on
    /// their file (a writer that opens or truncates the file waits until
    /// the map has moved into private memory); False for a map without a
    /// lease (``policy="always"`` where none can be had). Asked of the
    /// lease each time: False also once a writer's ``open`` found no memory
    /// for the copy (the map then shows the file as rewritten).
    #[getter]
    fn protected(&self) -> bool {
        self.keep.is_protected()
    }

    /// The size of the memory held, in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.len
    }

    fn __repr__(&self) -> String {
        format!(
            "<onedata map owner: {} bytes, {}>",
            self.nbytes(),
            match (self.mapped, self.protected()) {
                (true, true) => "mapped, protected",
                (true, false) => "mapped, unprotected",
                _ => "in memory",
            }
        )
    }
}

/// The numpy dtype for a `.npy` descr (`<f8`, `>i4`, `<U6`, `<M8[D]`, or
/// the list text of a structured dtype), cached per descr.
pub(crate) fn dtype<'py>(py: Python<'py>, dtype: &Dtype) -> PyResult<Bound<'py, PyArrayDescr>> {
    static CACHE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    let cache = CACHE.get_or_init(py, || PyDict::new(py).unbind()).bind(py);
    let descr = dtype.descr();
    if let Some(d) = cache.get_item(&descr)? {
        return Ok(d.cast_into()?);
    }
    let made: Bound<'py, PyArrayDescr> = if descr.starts_with('[') || descr.starts_with('{') {
        // A structured dtype: its header text is a Python literal, which
        // numpy's own reader turns into a dtype (literal_eval runs no code).
        py.import("onedata._dtypes")?
            .call_method1("from_header_descr", (&descr,))?
            .cast_into()?
    } else {
        PyArrayDescr::new(py, &descr)?
    };
    cache.set_item(&descr, &made)?;
    Ok(made)
}

/// A read-only numpy array of `dtype` and `shape` over the bytes `keep`
/// holds, in C or Fortran order, whose base owns them.
pub(crate) fn array_over<'py>(
    py: Python<'py>,
    keep: Keep,
    descr: Bound<'py, PyArrayDescr>,
    shape: &[usize],
    fortran: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (addr, len) = match keep.bytes() {
        Some(b) => (b.as_ptr() as usize, b.len()),
        None => {
            return Err(crate::errors::argument(
                py,
                "internal: owned memory given as read-only",
            ))
        }
    };
    let mapped = keep.is_mapped();
    new_array(py, keep, addr, len, mapped, descr, shape, fortran, false)
}

/// A writeable numpy array over a file read into memory of its own.
pub(crate) fn array_owned<'py>(
    py: Python<'py>,
    mut owned: NpyOwned,
    descr: Bound<'py, PyArrayDescr>,
) -> PyResult<Bound<'py, PyAny>> {
    let shape = owned.header().shape().to_vec();
    let fortran = owned.header().fortran_order();
    let bytes = owned.bytes_mut();
    // The buffer lives on the heap (or in an anonymous map): moving `owned`
    // into the owner below does not move it, so the address stays valid.
    let (addr, len) = (bytes.as_mut_ptr() as usize, bytes.len());
    new_array(
        py,
        Keep::Owned(owned),
        addr,
        len,
        false,
        descr,
        &shape,
        fortran,
        true,
    )
}

#[allow(clippy::too_many_arguments)]
fn new_array<'py>(
    py: Python<'py>,
    keep: Keep,
    addr: usize,
    len: usize,
    mapped: bool,
    descr: Bound<'py, PyArrayDescr>,
    shape: &[usize],
    fortran: bool,
    writeable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let itemsize = descr.itemsize();
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(itemsize));
    if count != Some(len) {
        return Err(crate::errors::argument(
            py,
            format!("internal size mismatch: shape {shape:?} of {itemsize}-byte elements over {len} bytes"),
        ));
    }
    let mut dims: Vec<npy_intp> = Vec::with_capacity(shape.len());
    for &d in shape {
        dims.push(npy_intp::try_from(d).map_err(|_| {
            crate::errors::argument(py, format!("dimension {d} is too large for numpy"))
        })?);
    }
    let ndim = i32::try_from(dims.len())
        .map_err(|_| crate::errors::argument(py, "too many dimensions for numpy"))?;
    let mut flags = if fortran {
        npyffi::NPY_ARRAY_F_CONTIGUOUS
    } else {
        npyffi::NPY_ARRAY_C_CONTIGUOUS
    };
    if writeable {
        flags |= npyffi::NPY_ARRAY_WRITEABLE;
    }
    let owner = Bound::new(py, MapOwner { keep, len, mapped })?;
    // SAFETY: `addr` is the start of `len` bytes owned by `owner`'s `Keep`
    // (a map or a heap buffer, which never moves while the owner lives),
    // and the check above makes shape x itemsize exactly that many bytes,
    // so numpy's contiguous strides (computed from `dims`; no strides are
    // passed) stay inside it. WRITEABLE is set only for `Keep::Owned`,
    // memory no one else holds and Rust never reads again; maps and shared
    // buffers give read-only arrays. `descr` is a new reference, which
    // PyArray_NewFromDescr steals. numpy computes the ALIGNED flag itself.
    let array = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr.into_ptr() as *mut npyffi::PyArray_Descr,
            ndim,
            dims.as_mut_ptr(),
            ptr::null_mut(),
            addr as *mut c_void,
            flags,
            ptr::null_mut(),
        )
    };
    if array.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `array` is a new, non-null reference to the ndarray just
    // made; owning it in a Bound releases it on every path below.
    let array = unsafe { Bound::from_owned_ptr(py, array) };
    // SAFETY: `array` is an ndarray (made above) with no base yet, and
    // PyArray_SetBaseObject steals the reference to `owner` passed here,
    // which keeps the memory under the array alive for its lifetime.
    let status = unsafe {
        PY_ARRAY_API.PyArray_SetBaseObject(
            py,
            array.as_ptr() as *mut npyffi::PyArrayObject,
            owner.into_ptr(),
        )
    };
    if status != 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(array)
}
