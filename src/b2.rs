//! [`B2Session`]: the vrAnalysis B2 session type.
//!
//! A B2 session keeps suite2p output under `suite2p/<plane>/`, its values in
//! `vrExperimentValues.json` and its registration options in
//! `vrExperimentOptions.json`. Registration saves loading recipes rather
//! than copies of the suite2p arrays: `mpci.roiActivityF` is the recipe
//! `S2P("F")` + `transpose`. `B2Session` registers the loader `S2P` and the
//! transforms `transpose` and `idx_column1`, so those recipes resolve.
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use onedata::b2::{B2Session, SpksType};
//! use onedata::demo::{write_demo_session, DemoSpec};
//! use onedata::SessionData;
//!
//! let root = tempfile::tempdir().unwrap();
//! let spec = DemoSpec { frames: 50, rois_per_plane: vec![4, 3], ..DemoSpec::default() };
//! let dir = write_demo_session(root.path(), &spec)?;
//! let session = B2Session::open(&dir)?;
//! let f = session.loadone("mpci.roiActivityF")?;  // S2P("F") then transpose: frames x ROIs
//! assert_eq!(f.shape(), &[50, 7]);
//! let oasis = session.clone_with_spks_type(SpksType::Oasis).spks()?;
//! assert_eq!(oasis.shape(), &[50, 7]);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use ndarray::{Array2, Ix2};
use serde_json::{Map, Value};

use crate::data::OneData;
use crate::error::{Error, ErrorKind, Fault, Result};
use crate::npy::{with_element_type, AlignedBuf, Dtype, ElementKind, Header, NpyArray};
use crate::pyjson::{dict_get, PyJson};
use crate::recipe::{LoadingRecipe, PyValue};
use crate::session::{
    read_json_object, LoadOptions, SessionCore, SessionData, SessionId, OPTIONS_FILE,
};

/// The suite2p variables that have one column per imaging frame.
pub const FRAME_VARIABLES: [&str; 5] = ["F", "F_chan2", "Fneu", "Fneu_chan2", "spks"];

/// The neuropil coefficient when neither the session nor its options set one.
pub const DEFAULT_NEUROPIL_COEFFICIENT: f64 = 0.7;

/// Which activity `spks()` returns, as vrAnalysis' `spks_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpksType {
    /// `mpci.roiSignificantFluorescence` (sparse, densified). The default.
    #[default]
    Significant,
    /// `mpci.roiActivityDeconvolvedOasis`.
    Oasis,
    /// `mpci.roiActivityDeconvolved` (suite2p spks).
    Deconvolved,
    /// `mpci.roiActivityF`.
    Raw,
    /// `mpci.roiNeuropilActivityF`.
    Neuropil,
    /// `mpci.roiSignificantFluorescenceBase` (sparse, densified).
    Sigbase,
    /// `mpci.roiSignificantFluorescenceRebase` (sparse, densified).
    Sigrebase,
    /// F - c * (Fneu - mean over frames of Fneu), frames x ROIs.
    Corrected,
}

impl SpksType {
    /// Every spks type, in vrAnalysis' order.
    pub const ALL: [SpksType; 8] = [
        SpksType::Oasis,
        SpksType::Deconvolved,
        SpksType::Raw,
        SpksType::Neuropil,
        SpksType::Significant,
        SpksType::Corrected,
        SpksType::Sigbase,
        SpksType::Sigrebase,
    ];

    /// The vrAnalysis name: `"significant"`, `"oasis"`, ...
    pub fn name(self) -> &'static str {
        match self {
            SpksType::Significant => "significant",
            SpksType::Oasis => "oasis",
            SpksType::Deconvolved => "deconvolved",
            SpksType::Raw => "raw",
            SpksType::Neuropil => "neuropil",
            SpksType::Sigbase => "sigbase",
            SpksType::Sigrebase => "sigrebase",
            SpksType::Corrected => "corrected",
        }
    }

    /// The onedata file this type loads, and whether it is sparse
    /// (`None` for `corrected`, which is computed).
    pub fn onedata(self) -> Option<(&'static str, bool)> {
        Some(match self {
            SpksType::Significant => ("mpci.roiSignificantFluorescence", true),
            SpksType::Oasis => ("mpci.roiActivityDeconvolvedOasis", false),
            SpksType::Deconvolved => ("mpci.roiActivityDeconvolved", false),
            SpksType::Raw => ("mpci.roiActivityF", false),
            SpksType::Neuropil => ("mpci.roiNeuropilActivityF", false),
            SpksType::Sigbase => ("mpci.roiSignificantFluorescenceBase", true),
            SpksType::Sigrebase => ("mpci.roiSignificantFluorescenceRebase", true),
            SpksType::Corrected => return None,
        })
    }
}

impl FromStr for SpksType {
    type Err = Error;

    fn from_str(s: &str) -> Result<SpksType> {
        SpksType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = SpksType::ALL.iter().map(|t| t.name()).collect();
                Error::argument(format!(
                    "spks_type {s:?} not recognized; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A vrAnalysis B2 session.
#[derive(Debug)]
pub struct B2Session {
    core: Arc<SessionCore>,
    options: Map<String, Value>,
    options_py: Arc<Vec<(String, PyJson)>>,
    spks_type: SpksType,
    neuropil_coefficient: Option<f64>,
}

impl B2Session {
    /// The session under `root` in vrAnalysis' layout, `root/mouse/date/session_id`.
    pub fn from_root(root: impl AsRef<Path>, id: SessionId) -> Result<B2Session> {
        let path = <B2Session as SessionData>::init_data_path(root.as_ref(), &id);
        B2Session::at(path, id)
    }

    /// The session kept in `data_path`.
    pub fn at(data_path: impl Into<PathBuf>, id: SessionId) -> Result<B2Session> {
        let mut session = B2Session {
            core: Arc::new(SessionCore::new(id, data_path)?),
            options: Map::new(),
            options_py: Arc::new(Vec::new()),
            spks_type: SpksType::default(),
            neuropil_coefficient: None,
        };
        session.additional_loading()?;
        Ok(session)
    }

    /// The session in `data_path`, its identity read from the folder names.
    pub fn open(data_path: impl Into<PathBuf>) -> Result<B2Session> {
        let data_path = data_path.into();
        let id = SessionId::read_from_path(&data_path)?;
        B2Session::at(data_path, id)
    }

    /// Sets which activity `spks()` returns.
    pub fn with_spks_type(mut self, spks_type: SpksType) -> B2Session {
        self.spks_type = spks_type;
        self
    }

    /// The same session (sharing its cache and values) with another spks type.
    pub fn clone_with_spks_type(&self, spks_type: SpksType) -> B2Session {
        B2Session {
            core: self.core.clone(),
            options: self.options.clone(),
            options_py: self.options_py.clone(),
            spks_type,
            neuropil_coefficient: self.neuropil_coefficient,
        }
    }

    /// Sets the neuropil coefficient of `corrected` spks, overriding the
    /// registration options (vrAnalysis' `params.neuropil_coefficient`).
    pub fn with_neuropil_coefficient(mut self, c: f64) -> B2Session {
        self.neuropil_coefficient = Some(c);
        self
    }

    /// The spks type in force.
    pub fn spks_type(&self) -> SpksType {
        self.spks_type
    }

    /// The registration options read from `vrExperimentOptions.json`, as
    /// `serde_json` values: NaN and the infinities are `null` here, integers
    /// beyond 64 bits the nearest float ([`options_py`](Self::options_py)
    /// has them exactly).
    pub fn options(&self) -> &Map<String, Value> {
        &self.options
    }

    /// The registration options, exactly as Python's `json.load` reads them.
    pub fn options_py(&self) -> &[(String, PyJson)] {
        &self.options_py
    }

    /// The neuropil coefficient used for `corrected` spks: the session's
    /// own, else `neuropilCoefficient` from the options, else 0.7. As in
    /// vrAnalysis, a coefficient of zero set on the session falls back to
    /// the options.
    pub fn neuropil_coefficient(&self) -> f64 {
        self.neuropil_coefficient
            .filter(|&c| c != 0.0)
            .or_else(|| dict_get(&self.options_py, "neuropilCoefficient").and_then(PyJson::as_f64))
            .unwrap_or(DEFAULT_NEUROPIL_COEFFICIENT)
    }

    /// `data_path/suite2p`.
    pub fn s2p_path(&self) -> PathBuf {
        self.data_path().join("suite2p")
    }

    /// The spks of a given type (see [`SpksType`]).
    pub fn get_spks(&self, spks_type: SpksType) -> Result<Arc<OneData>> {
        match spks_type.onedata() {
            Some((name, false)) => self.loadone(name),
            Some((name, true)) => self.loadone_with(name, LoadOptions::sparse(false)),
            None => Ok(Arc::new(OneData::Dense(self.loadfcorr()?.transposed()))),
        }
    }

    /// vrAnalysis' `load_s2p(var)`: `suite2p/<plane>/<var>.npy` for each
    /// plane in `planeNames`, frame variables trimmed to `numFrames`,
    /// concatenated along axis 0. The planes are mapped; the concatenation
    /// is the one copy.
    pub fn load_s2p(&self, var: &str) -> Result<NpyArray> {
        let session = self.session_print("/");
        let available: Vec<String> = self.get_value("available")?;
        if !available.iter().any(|a| a == var) {
            return Err(Error::argument(format!(
                "session {session}: suite2p variable {var:?} is not available (available: {})",
                available.join(", ")
            )));
        }
        if var.contains(['/', '\\', '\0']) || var.starts_with('.') {
            return Err(Error::new(ErrorKind::InvalidName {
                name: var.to_string(),
                reason: "a suite2p variable must be a plain file stem",
            }));
        }
        let planes: Vec<String> = self.get_value("planeNames")?;
        let frames: Option<usize> = if FRAME_VARIABLES.contains(&var) {
            Some(self.get_value("numFrames")?)
        } else {
            None
        };
        let s2p = self.s2p_path();
        let mut arrays = Vec::with_capacity(planes.len());
        for plane in &planes {
            if plane.is_empty() || plane.contains(['/', '\\', '\0']) || plane == ".." {
                return Err(Error::new(ErrorKind::InvalidName {
                    name: plane.clone(),
                    reason: "a plane name must be a plain folder name",
                }));
            }
            arrays.push(NpyArray::open(s2p.join(plane).join(format!("{var}.npy")))?);
        }
        let label = s2p.join(format!("{}/{var}.npy", planes.join("+")));
        concatenate_rows(&label, &arrays, frames)
    }

    /// vrAnalysis' `loadfcorr()`: F - c * (Fneu - mean over frames of Fneu),
    /// ROIs x frames, from `mpci.roiActivityF` and `mpci.roiNeuropilActivityF`.
    /// The mean is computed as numpy computes it, so results are bit-exact.
    pub fn loadfcorr(&self) -> Result<NpyArray> {
        let f = self.loadone("mpci.roiActivityF")?;
        let fneu = self.loadone("mpci.roiNeuropilActivityF")?;
        let (f, fneu) = (f.dense()?.transposed(), fneu.dense()?.transposed());
        let c = self.neuropil_coefficient();
        let label = self.one_path().join("mpci.roiActivityF.corrected");
        match f.kind()? {
            ElementKind::F32 => fcorr::<f32>(&label, &f, &fneu, c as f32),
            ElementKind::F64 => fcorr::<f64>(&label, &f, &fneu, c),
            _ => Err(Error::argument(format!(
                "{}: corrected fluorescence needs float32 or float64 F, not {}",
                f.path().display(),
                f.dtype()
            ))),
        }
    }
}

impl SessionData for B2Session {
    fn core(&self) -> &SessionCore {
        &self.core
    }

    fn spks(&self) -> Result<Arc<OneData>> {
        self.get_spks(self.spks_type)
    }

    /// Reads `vrExperimentOptions.json`, if the session has one. (vrAnalysis
    /// refuses sessions without it; onedata uses defaults instead, so that
    /// sessions copied without it still load.)
    fn additional_loading(&mut self) -> Result<()> {
        let path = self.data_path().join(OPTIONS_FILE);
        if !path.is_file() {
            return Ok(());
        }
        // Python's grammar: NaN, Infinity and -Infinity are floats.
        let items = read_json_object(&path)?;
        self.options = items
            .iter()
            .map(|(k, v)| (k.clone(), v.to_serde_lossy()))
            .collect();
        self.options_py = Arc::new(items);
        Ok(())
    }

    fn recipe_loaders(&self) -> Vec<&str> {
        vec!["S2P"]
    }

    fn recipe_transforms(&self) -> Vec<&str> {
        vec!["transpose", "idx_column1"]
    }

    fn load_recipe_source(&self, recipe: &LoadingRecipe) -> Result<OneData> {
        match recipe.loader_type.as_str() {
            "S2P" => {
                let var = recipe.source_arg.as_deref().ok_or_else(|| {
                    Error::argument(format!(
                        "session {}: the S2P loader needs a source_arg naming a suite2p variable",
                        self.session_print("/")
                    ))
                })?;
                if let Some((key, _)) = recipe
                    .kwargs
                    .iter()
                    .find(|(k, v)| k != "concatenate" || *v != PyValue::Bool(true))
                {
                    return Err(Error::argument(format!(
                        "session {}: the S2P loader takes no keyword argument {key:?}",
                        self.session_print("/")
                    )));
                }
                Ok(OneData::Dense(self.load_s2p(var)?))
            }
            _ => Err(Error::new(ErrorKind::UnknownRecipeLoader {
                session: self.session_print("/"),
                loader: recipe.loader_type.clone(),
                registered: vec!["S2P".into()],
            })),
        }
    }

    fn apply_recipe_transform(&self, transform: &str, data: OneData) -> Result<OneData> {
        match transform {
            // x.T: a view, no copy.
            "transpose" => Ok(data.dense()?.transposed().into()),
            // x[:, 1]: the second column, copied.
            "idx_column1" => {
                let a = data.dense()?;
                let kind = a.kind()?;
                with_element_type!(kind, T => {
                    let v = a.view_dim::<T, Ix2>()?;
                    if v.ncols() < 2 {
                        return Err(Error::argument(format!(
                            "{}: idx_column1 needs at least 2 columns, the array has shape {:?}",
                            a.path().display(),
                            a.shape()
                        )));
                    }
                    Ok(NpyArray::from_array(a.path(), &v.column(1)).into())
                })
            }
            other => Err(self.unknown_transform(other)),
        }
    }
}

/// Concatenates 2-d arrays along axis 0, keeping the first `cols` columns of
/// each (all of them when `None`), into one owned C-order array.
fn concatenate_rows(label: &Path, arrays: &[NpyArray], cols: Option<usize>) -> Result<NpyArray> {
    let Some(first) = arrays.first() else {
        return Err(Error::argument(format!(
            "{}: the session has no imaging planes",
            label.display()
        )));
    };
    let kind = first.kind()?;
    let mut keep = None;
    let mut rows = 0usize;
    let misfit = |a: &NpyArray, expected: String| {
        Error::invalid(
            a.path(),
            Fault::Suite2p {
                descr: a.dtype().descr(),
                shape: a.shape().to_vec(),
                expected,
            },
        )
    };
    for a in arrays {
        if a.kind()? != kind || a.ndim() != 2 {
            return Err(misfit(
                a,
                format!(
                    "every plane must hold a 2-d array of the first plane's dtype {}",
                    first.dtype().descr()
                ),
            ));
        }
        let (r, c) = (a.shape()[0], a.shape()[1]);
        let c = cols.map_or(c, |n| n.min(c));
        let first_cols = *keep.get_or_insert(c);
        if first_cols != c {
            return Err(misfit(
                a,
                format!("{c} columns after trimming, but the first plane has {first_cols}"),
            ));
        }
        rows = rows
            .checked_add(r)
            .ok_or_else(|| Error::argument(format!("{}: too many rows", label.display())))?;
    }
    let keep = keep.unwrap_or(0);
    let size = kind.itemsize();
    let header = Header::new(Dtype::native(kind), false, &[rows, keep]);
    let total = header
        .data_len()
        .ok_or_else(|| Error::argument(format!("{}: concatenation too large", label.display())))?;
    let mut buf = AlignedBuf::try_zeroed(total).ok_or_else(|| {
        Error::new(ErrorKind::OutOfMemory {
            what: format!("the concatenation {}", label.display()),
            bytes: total as u128,
        })
    })?;
    let out = buf.as_bytes_mut();
    let row_bytes = keep * size;
    let mut at = 0;
    for a in arrays {
        let (r, c) = (a.shape()[0], a.shape()[1]);
        let src = a.data_bytes();
        if !a.is_fortran() {
            for i in 0..r {
                let start = i * c * size;
                out[at..at + row_bytes].copy_from_slice(&src[start..start + row_bytes]);
                at += row_bytes;
            }
        } else {
            // Column-major plane: gather each row's elements.
            for i in 0..r {
                for j in 0..keep {
                    let s = (j * r + i) * size;
                    out[at..at + size].copy_from_slice(&src[s..s + size]);
                    at += size;
                }
            }
        }
    }
    NpyArray::from_parts(label, header, buf)
}

/// numpy's pairwise summation of a contiguous run (`pairwise_sum` in its
/// loops), which numpy applies in blocks of 8192 elements for reductions.
fn pairwise_sum<T: Float>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        let mut res = T::ZERO;
        for &x in a {
            res = res + x;
        }
        res
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] = r[j] + a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res = res + a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean(row)` for a contiguous row, bit for bit.
fn numpy_mean<T: Float>(row: &[T]) -> T {
    let mut acc = T::ZERO;
    for block in row.chunks(8192) {
        acc = acc + pairwise_sum(block);
    }
    acc / T::from_usize(row.len())
}

/// The float types corrected fluorescence is computed in.
trait Float:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + crate::npy::Element
    + bytemuck::AnyBitPattern
{
    const ZERO: Self;
    fn from_usize(n: usize) -> Self;
}

impl Float for f32 {
    const ZERO: f32 = 0.0;
    fn from_usize(n: usize) -> f32 {
        n as f32
    }
}

impl Float for f64 {
    const ZERO: f64 = 0.0;
    fn from_usize(n: usize) -> f64 {
        n as f64
    }
}

/// F - c * (Fneu - mean(Fneu, axis=1)) for ROIs x frames `f` and `fneu`.
fn fcorr<T: Float>(label: &Path, f: &NpyArray, fneu: &NpyArray, c: T) -> Result<NpyArray> {
    let fv = f.view_dim::<T, Ix2>()?;
    let nv = fneu.view_dim::<T, Ix2>()?;
    if fv.dim() != nv.dim() {
        return Err(Error::argument(format!(
            "{}: F has shape {:?} but Fneu has shape {:?}",
            label.display(),
            fv.shape(),
            nv.shape()
        )));
    }
    let (rois, frames) = fv.dim();
    let mut out = Array2::<T>::from_elem((rois, frames), T::ZERO);
    for r in 0..rois {
        let row = nv.row(r);
        let mean = match row.as_slice() {
            Some(s) => numpy_mean(s),
            // Not contiguous: numpy adds frame by frame.
            None => {
                let mut acc = T::ZERO;
                for &x in row.iter() {
                    acc = acc + x;
                }
                acc / T::from_usize(frames)
            }
        };
        for t in 0..frames {
            out[[r, t]] = fv[[r, t]] - c * (nv[[r, t]] - mean);
        }
    }
    Ok(NpyArray::from_array(label, &out))
}
