//! `onedata._onedata.Remote`: one object (or prefix) in object storage, over
//! `onedata::remote::Remote`.
//!
//! Every call that may make a request runs with the GIL released
//! (`py.detach`), so other Python threads (and an asyncio loop's thread) keep
//! running while onedata's own runtime waits on the network. Rows come back
//! as read-only numpy arrays over the memory onedata read them into; faults
//! as `onedata.RemoteError` naming the URL (`url`) and the fault (`fault`).

use std::ops::Range;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

use onedata::remote::{CopyLock, Remote, RemoteEntry, RemoteHeader};
use onedata::RemoteFault;

use crate::arrays::dtype;
use crate::b2::dense_array;
use crate::errors::{self, IntoPyResult};

/// One object or prefix of a store (see `onedata._session` for its use):
/// `Remote("s3://bucket/root/mouse/date/id/oneData/x.npy")`.
#[pyclass(frozen, module = "onedata._onedata", name = "Remote")]
pub struct PyRemote {
    inner: Remote,
}

/// A `.npy` header read from a store, with the object's size and ETag: what
/// `Remote.read_rows(..., header=)` reads rows with, saving the header GET.
/// Kept in the process that read it (it does not pickle).
#[pyclass(frozen, module = "onedata._onedata", name = "RemoteHeader")]
pub struct PyRemoteHeader {
    inner: RemoteHeader,
}

#[pymethods]
impl PyRemoteHeader {
    /// The object's ETag when the header was read.
    #[getter]
    fn etag(&self) -> Option<&str> {
        self.inner.etag.as_deref()
    }

    fn __repr__(&self) -> String {
        format!(
            "RemoteHeader(descr={:?}, shape={:?}, etag={:?})",
            self.inner.header.dtype().descr(),
            self.inner.header.shape(),
            self.inner.etag
        )
    }
}

/// The lock of an object's copy in the cache (`Remote.lock_copy()`): a
/// context manager; the lock goes at `__exit__` (or when it is collected).
#[pyclass(module = "onedata._onedata", name = "CopyLock")]
pub struct PyCopyLock {
    lock: Option<CopyLock>,
}

#[pymethods]
impl PyCopyLock {
    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, PyTuple>) -> bool {
        self.lock = None;
        false
    }

    /// Releases the lock (also done by `__exit__`).
    fn release(&mut self) {
        self.lock = None;
    }
}

/// An entry of a listing as a dict: `name` (its last segment), `size`, `etag`.
fn entry<'py>(py: Python<'py>, e: &RemoteEntry) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &e.name)?;
    d.set_item("size", e.size)?;
    d.set_item("etag", e.etag.as_deref())?;
    Ok(d)
}

/// The row ranges `(start, stop)` as Rust ranges, refusing reversed ones.
fn ranges(py: Python<'_>, ranges: &[(usize, usize)]) -> PyResult<Vec<Range<usize>>> {
    ranges
        .iter()
        .map(|&(a, b)| {
            if b < a {
                Err(errors::argument(
                    py,
                    format!("row range {a}..{b} ends before it starts"),
                ))
            } else {
                Ok(a..b)
            }
        })
        .collect()
}

impl PyRemote {
    /// Refuses `header` unless it was read from the version `etag` of the
    /// object (the rows read with it are then `If-Match` `etag`).
    fn of_version(&self, header: &RemoteHeader, etag: &str) -> onedata::Result<()> {
        if header.etag.as_deref() == Some(etag) {
            return Ok(());
        }
        Err(onedata::Error::remote(
            self.inner.url().as_str(),
            RemoteFault::Changed {
                message: format!(
                    "its ETag is {} where {etag} was expected",
                    header.etag.as_deref().unwrap_or("none")
                ),
            },
        ))
    }
}

#[pymethods]
impl PyRemote {
    /// The object or prefix at `url`, with the store configured from the
    /// environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...) and the
    /// cache under `ONEDATA_CACHE_DIR` (or the platform's cache folder).
    #[new]
    fn new(py: Python<'_>, url: &str) -> PyResult<Self> {
        let inner = py.detach(|| Remote::open(url)).py(py)?;
        Ok(PyRemote { inner })
    }

    /// The URL, as text.
    #[getter]
    fn url(&self) -> &str {
        self.inner.url().as_str()
    }

    /// The object or prefix `relative` (`"oneData/x.npy"`) under this one.
    fn join(&self, py: Python<'_>, relative: &str) -> PyResult<Self> {
        let inner = self.inner.join(relative).py(py)?;
        Ok(PyRemote { inner })
    }

    /// Where this object is (or would be) kept in the local cache.
    fn cache_path(&self, py: Python<'_>) -> PyResult<PathBuf> {
        self.inner.cache_path().py(py)
    }

    /// The objects directly under this prefix, sorted by name (one paged LIST).
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let entries = py.detach(|| self.inner.list()).py(py)?;
        entries.iter().map(|e| entry(py, e)).collect()
    }

    /// The names of the "folders" directly under this prefix.
    fn list_dirs(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_dirs()).py(py)
    }

    /// The object's name, size and ETag (one HEAD).
    fn head<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = py.detach(|| self.inner.head()).py(py)?;
        entry(py, &e)
    }

    /// The local path of a complete, verified copy of the object: downloaded
    /// (parallel ranged GETs) into the cache unless it is there already; a
    /// warm cache answers with no request, or one HEAD when `revalidate`.
    #[pyo3(signature = (revalidate = false))]
    fn fetch(&self, py: Python<'_>, revalidate: bool) -> PyResult<PathBuf> {
        py.detach(|| self.inner.fetch(revalidate)).py(py)
    }

    /// Whether the cache holds a verified copy (no request is made).
    fn is_cached(&self, py: Python<'_>) -> bool {
        py.detach(|| self.inner.is_cached())
    }

    /// The `.npy` header of the object (one small ranged GET): a dict of
    /// `descr`, `dtype` (numpy's), `shape`, `fortran_order`, `size` (bytes
    /// of the object), `etag`, and `header` (a `RemoteHeader`, for
    /// `read_rows`).
    fn npy_header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = py.detach(|| self.inner.npy_header()).py(py)?;
        let d = PyDict::new(py);
        d.set_item("descr", h.header.dtype().descr())?;
        d.set_item("dtype", dtype(py, h.header.dtype())?)?;
        d.set_item("shape", PyTuple::new(py, h.header.shape())?)?;
        d.set_item("fortran_order", h.header.fortran_order())?;
        d.set_item("size", h.size)?;
        d.set_item("etag", h.etag.as_deref())?;
        d.set_item("header", PyRemoteHeader { inner: h })?;
        Ok(d)
    }

    /// Rows `start..stop` (axis 0) of the dense array the object holds,
    /// read with ranged GETs of just their bytes: the header, then the
    /// rows; with `header` (from `npy_header()`), the rows only, `If-Match`
    /// the header's ETag (an object rewritten since is a `RemoteError`).
    /// With `etag`, only that version of the object is read (see
    /// `read_row_ranges`).
    #[pyo3(signature = (start, stop, header = None, etag = None))]
    fn read_rows<'py>(
        &self,
        py: Python<'py>,
        start: usize,
        stop: usize,
        header: Option<PyRef<'py, PyRemoteHeader>>,
        etag: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut arrays = self.read_row_ranges(py, vec![(start, stop)], header, etag)?;
        Ok(arrays.remove(0))
    }

    /// Rows `a..b` for each `(a, b)` of `ranges`, in as few GETs as they
    /// coalesce into (each checked against one ETag); with `header`, no GET
    /// of the header.
    ///
    /// With `etag` (an ETag recorded earlier, as `onedata.RowSource` records
    /// the version it was opened at), the rows are read from that version
    /// only: a header of another version is refused before any request, and
    /// every GET is `If-Match` `etag`. An object no longer at that version is
    /// a `RemoteError` whose `fault` is `"Changed"`, never rows of another
    /// version.
    #[pyo3(signature = (ranges, header = None, etag = None))]
    fn read_row_ranges<'py>(
        &self,
        py: Python<'py>,
        ranges: Vec<(usize, usize)>,
        header: Option<PyRef<'py, PyRemoteHeader>>,
        etag: Option<String>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let ranges = self::ranges(py, &ranges)?;
        let header = header.map(|h| h.inner.clone());
        let arrays = py
            .detach(|| match (&header, &etag) {
                (Some(h), None) => self.inner.read_row_ranges_with(h, &ranges),
                (None, None) => self.inner.read_row_ranges(&ranges),
                (h, Some(expected)) => {
                    let h = match h {
                        Some(h) => h.clone(),
                        None => self.inner.npy_header()?,
                    };
                    self.of_version(&h, expected)?;
                    self.inner.read_row_ranges_with(&h, &ranges)
                }
            })
            .py(py)?;
        if arrays.len() != ranges.len() {
            return Err(errors::argument(py, "internal: a row range was not read"));
        }
        arrays.iter().map(|a| dense_array(py, a)).collect()
    }

    /// Uploads the local file `local` to this object (readers never see a
    /// partial object); when `local` is this object's cache path, the cache
    /// then holds the new object. With `expected_etag` (what
    /// `cached_etag()` gave before the file was rewritten) the upload
    /// succeeds only if nobody replaced the object meanwhile (a
    /// `RemoteError` whose `fault` is `"Precondition"` otherwise). Gives the
    /// new object's entry.
    #[pyo3(signature = (local, expected_etag = None))]
    fn upload<'py>(
        &self,
        py: Python<'py>,
        local: PathBuf,
        expected_etag: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let e = py
            .detach(|| self.inner.upload(&local, expected_etag))
            .py(py)?;
        entry(py, &e)
    }

    /// The ETag the cached copy was downloaded (or uploaded) with, when the
    /// cache holds a complete copy (no request is made).
    fn cached_etag(&self, py: Python<'_>) -> Option<String> {
        py.detach(|| self.inner.cached_etag())
    }

    /// The ETag this cache last saw the object at (downloaded or uploaded),
    /// even if the copy has been rewritten since: what a save's upload is
    /// conditional on.
    fn last_seen_etag(&self, py: Python<'_>) -> Option<String> {
        py.detach(|| self.inner.last_seen_etag())
    }

    /// Takes the lock of this object's copy in the cache, waiting for it
    /// (with the GIL released): downloads and saves of one copy, in this
    /// process or another, take turns. Use as `with remote.lock_copy(): ...`.
    fn lock_copy(&self, py: Python<'_>) -> PyResult<PyCopyLock> {
        let lock = py.detach(|| self.inner.lock_copy()).py(py)?;
        Ok(PyCopyLock { lock: Some(lock) })
    }

    /// Deletes the object, and its copy in the cache.
    fn delete(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.delete()).py(py)
    }

    /// A Remote pickles as its URL (the client and cache are the process's own).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyType>, (String,))> {
        let url = slf.get().inner.url().as_str().to_string();
        Ok((slf.get_type(), (url,)))
    }

    fn __repr__(&self) -> String {
        format!("Remote({:?})", self.inner.url().as_str())
    }
}
