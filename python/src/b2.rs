//! `onedata._onedata.B2Session`: the vrAnalysis B2 session type over
//! `onedata::b2::B2Session`. Loads run with the GIL released; dense results
//! are read-only numpy arrays over the memory the Rust `OneData` holds (the
//! file's map for mapped arrays), object values Python objects built from
//! onedata's safe value tree.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;

use onedata::b2::{RoiPositionMode, SpksType};
use onedata::npy::NpyArray;
use onedata::session::LoadOptions;
use onedata::{OneData, SessionData, SessionId};

use crate::arrays::{array_over, dtype, Keep};
use crate::errors::{self, IntoPyResult};

/// A vrAnalysis B2 session (see `onedata.B2Session`).
#[pyclass(frozen, module = "onedata._onedata", name = "B2Session")]
pub struct PyB2Session {
    inner: onedata::b2::B2Session,
}

/// A read-only numpy array over a dense array's memory.
pub(crate) fn dense_array<'py>(py: Python<'py>, a: &NpyArray) -> PyResult<Bound<'py, PyAny>> {
    let descr = dtype(py, a.dtype())?;
    let shape = a.shape().to_vec();
    let fortran = a.is_fortran();
    array_over(py, Keep::Array(a.clone()), descr, &shape, fortran)
}

/// What `loadone` gives in Python: a numpy array for a dense array, the
/// Python value of an object array, or for a matrix kept sparse the path of
/// its `.npz` file (which `onedata._b2` loads with `onedata.load_npz`).
fn one_to_python<'py>(py: Python<'py>, data: &OneData) -> PyResult<Bound<'py, PyAny>> {
    match data {
        OneData::Dense(a) => dense_array(py, a),
        OneData::Object(o) => {
            let value = crate::values::to_python(py, o.value())?;
            crate::object_array(py, value)
        }
        OneData::Sparse(m) => {
            let tuple = ("sparse", m.path().to_path_buf());
            Ok(tuple.into_pyobject(py)?.into_any())
        }
        _ => Err(errors::argument(
            py,
            "onedata returned data of an unknown kind",
        )),
    }
}

fn spks_type(py: Python<'_>, name: &str) -> PyResult<SpksType> {
    name.parse::<SpksType>().py(py)
}

#[pymethods]
impl PyB2Session {
    /// The session under `root` in vrAnalysis's layout
    /// (`root/mouse_name/date/session_id`).
    #[new]
    #[pyo3(signature = (root, mouse_name, date, session_id = None, spks_type = None))]
    fn new(
        py: Python<'_>,
        root: PathBuf,
        mouse_name: String,
        date: String,
        session_id: Option<String>,
        spks_type: Option<String>,
    ) -> PyResult<Self> {
        let kind = spks_type.map(|s| self::spks_type(py, &s)).transpose()?;
        let inner = py
            .detach(|| {
                let id = SessionId::new(mouse_name, date.as_str(), session_id.as_deref())?;
                onedata::b2::B2Session::from_root(&root, id)
            })
            .py(py)?;
        let inner = match kind {
            Some(k) => inner.with_spks_type(k),
            None => inner,
        };
        Ok(PyB2Session { inner })
    }

    /// The session `mouse_name/date/session_id` under the root URL `root`
    /// (`s3://bucket/root`): listings ask the store, loads fetch into the
    /// download cache, saves of values upload.
    #[staticmethod]
    #[pyo3(signature = (root, mouse_name, date, session_id = None, spks_type = None))]
    fn from_url(
        py: Python<'_>,
        root: &str,
        mouse_name: String,
        date: String,
        session_id: Option<String>,
        spks_type: Option<String>,
    ) -> PyResult<Self> {
        let kind = spks_type.map(|s| self::spks_type(py, &s)).transpose()?;
        let inner = py
            .detach(|| {
                let id = SessionId::new(mouse_name, date.as_str(), session_id.as_deref())?;
                onedata::b2::B2Session::from_url(root, id)
            })
            .py(py)?;
        let inner = match kind {
            Some(k) => inner.with_spks_type(k),
            None => inner,
        };
        Ok(PyB2Session { inner })
    }

    /// The session at the URL `url` (`s3://bucket/root/mouse/date/id`), its
    /// identity read from the URL's last segments.
    #[staticmethod]
    fn open_url(py: Python<'_>, url: &str) -> PyResult<Self> {
        let inner = py.detach(|| onedata::b2::B2Session::open_url(url)).py(py)?;
        Ok(PyB2Session { inner })
    }

    /// The session folder's URL, for a session opened from one (else None).
    #[getter]
    fn url(&self) -> Option<String> {
        self.inner
            .core()
            .remote()
            .map(|r| r.url().as_str().to_string())
    }

    /// Rows `start..stop` of the dense array `name`: a copy from the map
    /// of a local (or already downloaded) file, ranged GETs of just those
    /// rows for a file of a remote session not downloaded yet.
    fn loadone_rows<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        start: usize,
        stop: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        if stop < start {
            return Err(errors::argument(
                py,
                format!("rows {start}..{stop} end before they start"),
            ));
        }
        let a = py
            .detach(|| self.inner.loadone_rows(name, start..stop))
            .py(py)?;
        dense_array(py, &a)
    }

    /// The session kept in `data_path`, its identity read from the folder
    /// names (`.../mouse/YYYY-MM-DD[/session_id]`).
    #[staticmethod]
    fn open(py: Python<'_>, data_path: PathBuf) -> PyResult<Self> {
        let inner = py
            .detach(|| onedata::b2::B2Session::open(data_path))
            .py(py)?;
        Ok(PyB2Session { inner })
    }

    /// The same session (sharing its cache and values) with another spks type.
    fn with_spks_type(&self, py: Python<'_>, spks_type: &str) -> PyResult<Self> {
        let k = self::spks_type(py, spks_type)?;
        Ok(PyB2Session {
            inner: self.inner.clone_with_spks_type(k),
        })
    }

    /// The spks type in force (`"significant"`, `"oasis"`, ...).
    #[getter]
    fn spks_type(&self) -> &'static str {
        self.inner.spks_type().name()
    }

    /// `(mouse_name, date[, session_id])`.
    #[getter]
    fn session_name(&self) -> Vec<String> {
        self.inner
            .session_name()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// The session's parts joined by `joinby`.
    #[pyo3(signature = (joinby = "/"))]
    fn session_print(&self, joinby: &str) -> String {
        self.inner.session_print(joinby)
    }

    /// The session folder.
    #[getter]
    fn data_path(&self) -> PathBuf {
        self.inner.data_path().to_path_buf()
    }

    /// The session's `oneData` folder.
    #[getter]
    fn one_path(&self) -> PathBuf {
        self.inner.one_path().to_path_buf()
    }

    /// `data_path/suite2p`.
    #[getter]
    fn s2p_path(&self) -> PathBuf {
        self.inner.s2p_path()
    }

    /// The neuropil coefficient of `corrected` spks.
    #[getter]
    fn neuropil_coefficient(&self) -> f64 {
        self.inner.neuropil_coefficient()
    }

    /// The registration options as JSON text (Python's `json` grammar).
    fn options_json(&self) -> String {
        onedata::pyjson::dumps_dict(self.inner.options_py())
    }

    /// Loads a onedata file, resolving loading recipes (see `onedata.B2Session.loadone`).
    #[pyo3(signature = (name, force = false, sparse = false, keep_sparse = false))]
    fn loadone<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        force: bool,
        sparse: bool,
        keep_sparse: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let opts = LoadOptions {
            force,
            sparse,
            keep_sparse,
        };
        let data: Arc<OneData> = py.detach(|| self.inner.loadone_with(name, opts)).py(py)?;
        one_to_python(py, &data)
    }

    /// The activity of the session's spks type (or of `spks_type`).
    #[pyo3(signature = (spks_type = None))]
    fn spks<'py>(&self, py: Python<'py>, spks_type: Option<&str>) -> PyResult<Bound<'py, PyAny>> {
        let k = match spks_type {
            Some(s) => self::spks_type(py, s)?,
            None => self.inner.spks_type(),
        };
        let data = py.detach(|| self.inner.get_spks(k)).py(py)?;
        one_to_python(py, &data)
    }

    /// vrAnalysis's `load_s2p(var, concatenate)`.
    #[pyo3(signature = (var, concatenate = true))]
    fn load_s2p<'py>(
        &self,
        py: Python<'py>,
        var: &str,
        concatenate: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = py
            .detach(|| self.inner.load_s2p_data(var, concatenate))
            .py(py)?;
        one_to_python(py, &data)
    }

    /// vrAnalysis's `get_roi_position(mode)`: `(nROIs, 3)` float64, `[x, y, planeID]`.
    #[pyo3(signature = (mode = "weightedmean"))]
    fn get_roi_position<'py>(&self, py: Python<'py>, mode: &str) -> PyResult<Bound<'py, PyAny>> {
        let mode: RoiPositionMode = mode.parse().py(py)?;
        let a = py.detach(|| self.inner.get_roi_position(mode)).py(py)?;
        dense_array(py, &a)
    }

    /// vrAnalysis's `loadfcorr()`: `F - neuropil_coefficient * Fneu`, ROIs x frames.
    fn loadfcorr<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = py.detach(|| self.inner.loadfcorr()).py(py)?;
        dense_array(py, &a)
    }

    /// The value stored under `key`, as JSON text (Python's `json` grammar).
    fn get_value_json(&self, py: Python<'_>, key: &str) -> PyResult<String> {
        let v = py.detach(|| self.inner.get_value_py(key)).py(py)?;
        Ok(onedata::pyjson::dumps(&v))
    }

    /// Sets `key` to the value the JSON text holds and saves the values file.
    fn set_value_json(&self, py: Python<'_>, key: &str, text: &str) -> PyResult<()> {
        let value = onedata::pyjson::loads(text)
            .map_err(|e| errors::argument(py, format!("not a JSON value: {e}")))?;
        py.detach(|| self.inner.set_value_py(key, value)).py(py)
    }

    /// Whether saves of the values file `fsync` it and its folder.
    #[getter]
    fn durable_saves(&self) -> bool {
        self.inner.core().durability().is_durable()
    }

    #[setter]
    fn set_durable_saves(&self, durable: bool) {
        self.inner.core().set_durability(crate::durability(durable));
    }

    /// Every value, as JSON text of a dict.
    fn values_json(&self) -> String {
        onedata::pyjson::dumps_dict(&self.inner.values_py())
    }

    /// The files of the session's `oneData` folder.
    fn get_saved_one(&self, py: Python<'_>) -> PyResult<Vec<PathBuf>> {
        py.detach(|| self.inner.get_saved_one()).py(py)
    }

    /// Drops cached loads (all, or of these file names).
    #[pyo3(signature = (file_names = None))]
    fn clear_cache(&self, file_names: Option<Vec<String>>) {
        let names: Option<Vec<&str>> = file_names
            .as_ref()
            .map(|v| v.iter().map(String::as_str).collect());
        self.inner.clear_cache(names.as_deref());
    }

    fn __repr__(&self) -> String {
        format!("B2Session({:?})", self.inner.session_print("/"))
    }
}
