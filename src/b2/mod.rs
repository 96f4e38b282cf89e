//! [`B2Session`]: the vrAnalysis B2 session type.
//!
//! A B2 session keeps suite2p output under `suite2p/<plane>/`, its values in
//! `vrExperimentValues.json` and its registration options in
//! `vrExperimentOptions.json`. Registration saves loading recipes rather
//! than copies of the suite2p arrays: `mpci.roiActivityF` is the recipe
//! `S2P("F")` + `transpose`. `B2Session` registers the loaders `S2P`
//! ([`B2Session::load_s2p_data`]) and `roiPosition`
//! ([`B2Session::get_roi_position`]) and the transforms `transpose` and
//! `idx_column1`, so those recipes resolve as vrAnalysis resolves them.
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

use crate::data::{ObjectData, OneData};
use crate::error::{Error, ErrorKind, Fault, Result};
use crate::npy::{with_element_type, AlignedBuf, Dtype, ElementKind, Header, NpyArray};
use crate::pyjson::{dict_get, PyJson};
use crate::recipe::{ArrayData, LoadingRecipe, PyArray, PyValue};
use crate::session::{
    read_json_object, LoadOptions, SessionCore, SessionData, SessionId, OPTIONS_FILE,
};

mod concat;
mod numeric;

pub use concat::promote_kinds;
use concat::*;
use numeric::*;

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

/// How [`B2Session::get_roi_position`] places each ROI, as vrAnalysis'
/// `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RoiPositionMode {
    /// `"weightedmean"`: the lam-weighted mean of the pixel coordinates.
    #[default]
    WeightedMean,
    /// `"median"`: the median pixel coordinate.
    Median,
}

impl FromStr for RoiPositionMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<RoiPositionMode> {
        match s {
            "weightedmean" => Ok(RoiPositionMode::WeightedMean),
            "median" => Ok(RoiPositionMode::Median),
            other => Err(Error::argument(format!(
                "roiPosition mode {other:?} not recognized; expected weightedmean or median"
            ))),
        }
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
        B2Session::with_core(SessionCore::new(id, data_path)?)
    }

    /// The session `id` under the root URL `root` (`s3://bucket/root`; see
    /// [`Session::from_url`](crate::Session::from_url)). Its options and
    /// values files are fetched into the cache when the store has them.
    /// Recipes that read suite2p output fetch each plane's file into the
    /// cache folder (`suite2p/<plane>/<var>.npy`), then map it.
    #[cfg(feature = "remote")]
    pub fn from_url(root: &str, id: SessionId) -> Result<B2Session> {
        let folder = crate::session::folder_under(root, &id)?;
        B2Session::with_core(SessionCore::open_remote(id, folder)?)
    }

    /// The session at the URL `url`, its identity read from the URL's last
    /// segments (see [`Session::open_url`](crate::Session::open_url)).
    #[cfg(feature = "remote")]
    pub fn open_url(url: &str) -> Result<B2Session> {
        B2Session::open_remote(crate::remote::Remote::open(url)?)
    }

    /// The session at the store prefix `folder` (see
    /// [`Session::open_remote`](crate::Session::open_remote)).
    #[cfg(feature = "remote")]
    pub fn open_remote(folder: crate::remote::Remote) -> Result<B2Session> {
        let id = crate::session::id_from_url(&folder)?;
        B2Session::with_core(SessionCore::open_remote(id, folder)?)
    }

    fn with_core(core: SessionCore) -> Result<B2Session> {
        let mut session = B2Session {
            core: Arc::new(core),
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

    /// Sets whether saves (`saveone`, the values file) `fsync` what they
    /// write (see [`Durability`](crate::Durability); the default is
    /// `Durable`). The setting is the session's, shared by its
    /// [`clone_with_spks_type`](Self::clone_with_spks_type) clones.
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use onedata::b2::B2Session;
    /// use onedata::demo::{write_demo_session, DemoSpec};
    /// use onedata::{Durability, SessionData};
    /// let root = tempfile::tempdir().unwrap();
    /// let dir = write_demo_session(root.path(), &DemoSpec::default())?;
    /// let session = B2Session::open(&dir)?.with_durability(Durability::Scratch);
    /// session.saveone(&ndarray::array![1u8, 2], "mpci.scratch")?;
    /// assert_eq!(session.core().durability(), Durability::Scratch);
    /// # Ok(()) }
    /// ```
    pub fn with_durability(self, durability: crate::Durability) -> B2Session {
        self.core.set_durability(durability);
        self
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
    /// concatenated along axis 0 (see [`load_s2p_data`](Self::load_s2p_data)
    /// for the dtype and memory order). The planes are mapped; the
    /// concatenation is the one copy. Numeric variables only: `ops` and
    /// `stat` are Python objects, which [`load_s2p_data`](Self::load_s2p_data)
    /// returns.
    pub fn load_s2p(&self, var: &str) -> Result<NpyArray> {
        match self.load_s2p_data(var, true)? {
            OneData::Dense(a) => Ok(a),
            other => Err(Error::new(ErrorKind::KindMismatch {
                path: other.path().to_path_buf(),
                requested: "dense",
                found: other.kind(),
            })),
        }
    }

    /// vrAnalysis' `load_s2p(var, concatenate)`, with every result it can give:
    ///
    /// - `ops`: a [`OneData::Object`] holding a [`PyValue::List`] of each
    ///   plane's ops dict (`concatenate` is ignored, as in vrAnalysis).
    /// - `concatenate` false: a [`OneData::Object`] holding a
    ///   [`PyValue::List`] of the planes' arrays, untrimmed, each a
    ///   [`PyValue::Array`] (numeric planes with their file's dtype, byte
    ///   order and memory order; object planes with their elements).
    /// - object planes (`stat`), concatenated: a [`OneData::Object`]
    ///   holding one object [`PyValue::Array`] of all planes' elements
    ///   (`np.concatenate` of the planes' 1-d object arrays of dicts).
    /// - numeric planes, concatenated: a [`OneData::Dense`] array, frame
    ///   variables trimmed to `numFrames` columns, in the dtype numpy's
    ///   promotion gives the planes' dtypes (`f4` + `f8` is `f8`, `i4` +
    ///   `f4` is `f8`, `u1` + `i1` is `i2`), native byte order, and in
    ///   Fortran order when every plane is Fortran-ordered, else C order
    ///   (as `np.concatenate` lays its result out).
    pub fn load_s2p_data(&self, var: &str, concatenate: bool) -> Result<OneData> {
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
        let s2p = self.s2p_path();
        let mut arrays = Vec::with_capacity(planes.len());
        for plane in &planes {
            if plane.is_empty() || plane.contains(['/', '\\', '\0']) || plane == ".." {
                return Err(Error::new(ErrorKind::InvalidName {
                    name: plane.clone(),
                    reason: "a plane name must be a plain folder name",
                }));
            }
            // A remote session fetches the plane's file into its cache.
            self.core
                .fetch_folder_file(&format!("suite2p/{plane}/{var}.npy"))?;
            arrays.push(NpyArray::open(s2p.join(plane).join(format!("{var}.npy")))?);
        }
        let label = s2p.join(format!("{}/{var}.npy", planes.join("+")));
        if var == "ops" {
            // [np.load(...).item() for each plane]
            let items = arrays.iter().map(object_item).collect::<Result<_>>()?;
            return Ok(OneData::Object(ObjectData::new(
                &label,
                PyValue::List(items),
            )));
        }
        if !concatenate {
            let items = arrays.iter().map(plane_value).collect::<Result<_>>()?;
            return Ok(OneData::Object(ObjectData::new(
                &label,
                PyValue::List(items),
            )));
        }
        if arrays.iter().any(|a| *a.dtype() == Dtype::Object) {
            return concatenate_objects(&label, &arrays).map(OneData::Object);
        }
        let frames: Option<usize> = if FRAME_VARIABLES.contains(&var) {
            Some(self.get_value("numFrames")?)
        } else {
            None
        };
        concatenate_rows(&label, &arrays, frames).map(OneData::Dense)
    }

    /// The arguments of an `S2P` recipe bound as Python binds
    /// `load_s2p(source_arg, **kwargs)`: `varName` positionally from
    /// `source_arg` or by keyword, and `concatenate` by its truthiness
    /// (default true).
    fn s2p_arguments(&self, recipe: &LoadingRecipe) -> Result<(String, bool)> {
        let session = self.session_print("/");
        let mut var = recipe.source_arg.clone();
        let mut concatenate = true;
        for (key, value) in &recipe.kwargs {
            match key.as_str() {
                "varName" => {
                    if var.is_some() {
                        return Err(Error::argument(format!(
                            "session {session}: load_s2p() got multiple values for argument 'varName'"
                        )));
                    }
                    var = Some(
                        value
                            .as_str()
                            .ok_or_else(|| {
                                Error::argument(format!(
                                    "session {session}: the S2P loader's varName must be a str, not {}",
                                    value.type_name()
                                ))
                            })?
                            .to_string(),
                    );
                }
                "concatenate" => {
                    concatenate = py_truth(value).map_err(|why| {
                        Error::argument(format!(
                            "session {session}: the S2P loader's concatenate: {why}"
                        ))
                    })?
                }
                other => {
                    return Err(Error::argument(format!(
                        "session {session}: the S2P loader takes no keyword argument {other:?}"
                    )))
                }
            }
        }
        let var = var.ok_or_else(|| {
            Error::argument(format!(
                "session {session}: the S2P loader needs a source_arg or a varName kwarg naming a suite2p variable"
            ))
        })?;
        Ok((var, concatenate))
    }

    /// The mode of a `roiPosition` recipe: `source_arg` or the kwarg
    /// `mode`, `weightedmean` by default.
    fn roi_position_arguments(&self, recipe: &LoadingRecipe) -> Result<RoiPositionMode> {
        let session = self.session_print("/");
        let mut mode = recipe.source_arg.clone();
        for (key, value) in &recipe.kwargs {
            if key != "mode" {
                return Err(Error::argument(format!(
                    "session {session}: the roiPosition loader takes no keyword argument {key:?}"
                )));
            }
            if mode.is_some() {
                return Err(Error::argument(format!(
                    "session {session}: get_roi_position() got multiple values for argument 'mode'"
                )));
            }
            mode = Some(
                value
                    .as_str()
                    .ok_or_else(|| {
                        Error::argument(format!(
                            "session {session}: the roiPosition mode must be a str, not {}",
                            value.type_name()
                        ))
                    })?
                    .to_string(),
            );
        }
        mode.as_deref()
            .map_or(Ok(RoiPositionMode::default()), str::parse)
    }

    /// vrAnalysis' `get_roi_position(mode)`: each ROI's position from the
    /// concatenated `stat` (`lam`, `ypix`, `xpix`), as a float64 array of
    /// shape `(nROIs, 3)` with columns `[x, y, planeID]`, Fortran-ordered as
    /// vrAnalysis returns it (`np.stack((xc, yc, planeIdx)).T`). The planeID
    /// is the plane folder's number (`planeIDs` repeated `roiPerPlane`
    /// times, cast to uint8). For `weightedmean`,
    /// `np.sum(lam * pix) / np.sum(lam)` is computed as numpy computes it:
    /// the product in float64 (lam float32, pixels 32- or 64-bit integers),
    /// both sums pairwise in their own dtype (the denominator in float32 for
    /// float32 lam), so results are bit-exact. For `median`,
    /// `np.median(pix)` in float64.
    pub fn get_roi_position(&self, mode: RoiPositionMode) -> Result<NpyArray> {
        let session = self.session_print("/");
        let stat = self.load_s2p_data("stat", true)?;
        let label = stat.path().with_file_name("roiPosition");
        let Some(PyValue::Array(stat)) = stat.as_object().map(ObjectData::value) else {
            return Err(Error::argument(format!(
                "session {session}: stat.npy must hold object arrays of dicts"
            )));
        };
        let ArrayData::Objects(rois) = &stat.data else {
            unreachable!("stat is an object array")
        };
        let ids: Vec<i64> = self.get_value("planeIDs")?;
        let per_plane: Vec<usize> = self.get_value("roiPerPlane")?;
        // The counts come from the values file: check them before building
        // anything of their size.
        let claimed = per_plane
            .iter()
            .try_fold(0usize, |sum, &n| sum.checked_add(n));
        if claimed != Some(rois.len()) || ids.len() != per_plane.len() {
            return Err(Error::argument(format!(
                "session {session}: stat holds {} ROIs but planeIDs/roiPerPlane give {}",
                rois.len(),
                claimed.map_or("more than fit in memory".to_string(), |n| n.to_string())
            )));
        }
        let plane_idx: Vec<f64> = ids
            .iter()
            .zip(&per_plane)
            .flat_map(|(&id, &n)| std::iter::repeat_n(id as u8 as f64, n))
            .collect();
        let n = rois.len();
        let what = || format!("the ROI positions {}", label.display());
        let len = n
            .checked_mul(3)
            .ok_or_else(|| Error::out_of_memory(what(), n as u128 * 24))?;
        let mut out = crate::memory::try_with_capacity::<f64>(len, what)?;
        out.resize(len, 0.0);
        for (i, roi) in rois.iter().enumerate() {
            let field = |key: &str| -> Result<&PyArray> {
                match roi.get(key) {
                    Some(PyValue::Array(a)) if !a.is_object() && a.shape.len() == 1 => Ok(a),
                    _ => Err(Error::argument(format!(
                        "session {session}: stat[{i}][{key:?}] must be a 1-d numeric array"
                    ))),
                }
            };
            let (y, x) = (field("ypix")?, field("xpix")?);
            let (yc, xc) = match mode {
                RoiPositionMode::WeightedMean => {
                    let lam = field("lam")?;
                    let lam_values = float_values(lam)
                        .and_then(|l| Some((l, lam_is_f32(lam)?)))
                        .ok_or_else(|| {
                            Error::argument(format!(
                                "session {session}: stat[{i}]['lam'] must be float32 or float64, not {}",
                                lam.descr
                            ))
                        })?;
                    let (lam_values, lam_f32) = lam_values;
                    let denominator = if lam_f32 {
                        let l: Vec<f32> = lam_values.iter().map(|&v| v as f32).collect();
                        numpy_sum(&l) as f64
                    } else {
                        numpy_sum(&lam_values)
                    };
                    let weighted = |pix: &PyArray, key: &str| -> Result<f64> {
                        let p = wide_int_values(pix).ok_or_else(|| {
                            Error::argument(format!(
                                "session {session}: stat[{i}][{key:?}] must be a 32- or 64-bit integer array, not {}",
                                pix.descr
                            ))
                        })?;
                        if p.len() != lam_values.len() {
                            return Err(Error::argument(format!(
                                "session {session}: stat[{i}]: {key:?} and 'lam' differ in length"
                            )));
                        }
                        let prod: Vec<f64> =
                            lam_values.iter().zip(&p).map(|(&l, &v)| l * v).collect();
                        Ok(numpy_sum(&prod) / denominator)
                    };
                    (weighted(y, "ypix")?, weighted(x, "xpix")?)
                }
                RoiPositionMode::Median => {
                    let median = |pix: &PyArray, key: &str| -> Result<f64> {
                        let p = wide_int_values(pix)
                            .or_else(|| float_values(pix))
                            .ok_or_else(|| {
                                Error::argument(format!(
                                "session {session}: stat[{i}][{key:?}] has unsupported dtype {}",
                                pix.descr
                            ))
                            })?;
                        Ok(numpy_median(p))
                    };
                    (median(y, "ypix")?, median(x, "xpix")?)
                }
            };
            out[i] = xc;
            out[n + i] = yc;
            out[2 * n + i] = plane_idx[i];
        }
        let header = Header::new(Dtype::native(ElementKind::F64), true, &[n, 3]);
        let mut buf = AlignedBuf::try_zeroed(len * 8)
            .ok_or_else(|| Error::out_of_memory(what(), len as u128 * 8))?;
        buf.as_bytes_mut()
            .copy_from_slice(bytemuck::cast_slice(&out));
        NpyArray::from_parts(&label, header, buf)
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
        vec!["S2P", "roiPosition"]
    }

    fn recipe_transforms(&self) -> Vec<&str> {
        vec!["transpose", "idx_column1"]
    }

    fn load_recipe_source(&self, recipe: &LoadingRecipe) -> Result<OneData> {
        match recipe.loader_type.as_str() {
            "S2P" => {
                let (var, concatenate) = self.s2p_arguments(recipe)?;
                self.load_s2p_data(&var, concatenate)
            }
            "roiPosition" => {
                let mode = self.roi_position_arguments(recipe)?;
                Ok(OneData::Dense(self.get_roi_position(mode)?))
            }
            _ => Err(Error::new(ErrorKind::UnknownRecipeLoader {
                session: self.session_print("/"),
                loader: recipe.loader_type.clone(),
                registered: vec!["S2P".into(), "roiPosition".into()],
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `np.result_type` of every pair of numeric dtypes (numpy 2.2.6).
    const NUMPY_RESULT_TYPE: &str = "b1:b1:b1 b1:i1:i1 b1:u1:u1 b1:i2:i2 b1:u2:u2 b1:i4:i4 b1:u4:u4 b1:i8:i8 b1:u8:u8 b1:f2:f2 b1:f4:f4 b1:f8:f8 b1:c8:c8 b1:c16:c16 i1:b1:i1 i1:i1:i1 i1:u1:i2 i1:i2:i2 i1:u2:i4 i1:i4:i4 i1:u4:i8 i1:i8:i8 i1:u8:f8 i1:f2:f2 i1:f4:f4 i1:f8:f8 i1:c8:c8 i1:c16:c16 u1:b1:u1 u1:i1:i2 u1:u1:u1 u1:i2:i2 u1:u2:u2 u1:i4:i4 u1:u4:u4 u1:i8:i8 u1:u8:u8 u1:f2:f2 u1:f4:f4 u1:f8:f8 u1:c8:c8 u1:c16:c16 i2:b1:i2 i2:i1:i2 i2:u1:i2 i2:i2:i2 i2:u2:i4 i2:i4:i4 i2:u4:i8 i2:i8:i8 i2:u8:f8 i2:f2:f4 i2:f4:f4 i2:f8:f8 i2:c8:c8 i2:c16:c16 u2:b1:u2 u2:i1:i4 u2:u1:u2 u2:i2:i4 u2:u2:u2 u2:i4:i4 u2:u4:u4 u2:i8:i8 u2:u8:u8 u2:f2:f4 u2:f4:f4 u2:f8:f8 u2:c8:c8 u2:c16:c16 i4:b1:i4 i4:i1:i4 i4:u1:i4 i4:i2:i4 i4:u2:i4 i4:i4:i4 i4:u4:i8 i4:i8:i8 i4:u8:f8 i4:f2:f8 i4:f4:f8 i4:f8:f8 i4:c8:c16 i4:c16:c16 u4:b1:u4 u4:i1:i8 u4:u1:u4 u4:i2:i8 u4:u2:u4 u4:i4:i8 u4:u4:u4 u4:i8:i8 u4:u8:u8 u4:f2:f8 u4:f4:f8 u4:f8:f8 u4:c8:c16 u4:c16:c16 i8:b1:i8 i8:i1:i8 i8:u1:i8 i8:i2:i8 i8:u2:i8 i8:i4:i8 i8:u4:i8 i8:i8:i8 i8:u8:f8 i8:f2:f8 i8:f4:f8 i8:f8:f8 i8:c8:c16 i8:c16:c16 u8:b1:u8 u8:i1:f8 u8:u1:u8 u8:i2:f8 u8:u2:u8 u8:i4:f8 u8:u4:u8 u8:i8:f8 u8:u8:u8 u8:f2:f8 u8:f4:f8 u8:f8:f8 u8:c8:c16 u8:c16:c16 f2:b1:f2 f2:i1:f2 f2:u1:f2 f2:i2:f4 f2:u2:f4 f2:i4:f8 f2:u4:f8 f2:i8:f8 f2:u8:f8 f2:f2:f2 f2:f4:f4 f2:f8:f8 f2:c8:c8 f2:c16:c16 f4:b1:f4 f4:i1:f4 f4:u1:f4 f4:i2:f4 f4:u2:f4 f4:i4:f8 f4:u4:f8 f4:i8:f8 f4:u8:f8 f4:f2:f4 f4:f4:f4 f4:f8:f8 f4:c8:c8 f4:c16:c16 f8:b1:f8 f8:i1:f8 f8:u1:f8 f8:i2:f8 f8:u2:f8 f8:i4:f8 f8:u4:f8 f8:i8:f8 f8:u8:f8 f8:f2:f8 f8:f4:f8 f8:f8:f8 f8:c8:c16 f8:c16:c16 c8:b1:c8 c8:i1:c8 c8:u1:c8 c8:i2:c8 c8:u2:c8 c8:i4:c16 c8:u4:c16 c8:i8:c16 c8:u8:c16 c8:f2:c8 c8:f4:c8 c8:f8:c16 c8:c8:c8 c8:c16:c16 c16:b1:c16 c16:i1:c16 c16:u1:c16 c16:i2:c16 c16:u2:c16 c16:i4:c16 c16:u4:c16 c16:i8:c16 c16:u8:c16 c16:f2:c16 c16:f4:c16 c16:f8:c16 c16:c8:c16 c16:c16:c16";

    #[test]
    fn promotion_is_numpys_result_type() {
        let kind = |code: &str| {
            ElementKind::ALL
                .into_iter()
                .find(|k| k.code() == code)
                .unwrap_or_else(|| panic!("{code}"))
        };
        for entry in NUMPY_RESULT_TYPE.split(' ') {
            let [a, b, r]: [&str; 3] = entry.split(':').collect::<Vec<_>>().try_into().unwrap();
            assert_eq!(promote_kinds(kind(a), kind(b)), kind(r), "{a} + {b}");
        }
    }

    #[test]
    fn truthiness_is_pythons() {
        for v in [
            PyValue::Int(1),
            PyValue::Str("no".into()),
            PyValue::List(vec![PyValue::Int(0)]),
        ] {
            assert_eq!(py_truth(&v), Ok(true), "{v:?}");
        }
        for v in [
            PyValue::Bool(false),
            PyValue::Int(0),
            PyValue::Float(0.0),
            PyValue::Str(String::new()),
            PyValue::None,
            PyValue::List(vec![]),
        ] {
            assert_eq!(py_truth(&v), Ok(false), "{v:?}");
        }
    }

    #[test]
    fn median_is_numpys() {
        assert_eq!(numpy_median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(numpy_median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(numpy_median(vec![]).is_nan());
    }
}
