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
        let plane_idx: Vec<f64> = ids
            .iter()
            .zip(&per_plane)
            .flat_map(|(&id, &n)| std::iter::repeat_n(id as u8 as f64, n))
            .collect();
        if plane_idx.len() != rois.len() || ids.len() != per_plane.len() {
            return Err(Error::argument(format!(
                "session {session}: stat holds {} ROIs but planeIDs/roiPerPlane give {}",
                rois.len(),
                plane_idx.len()
            )));
        }
        let n = rois.len();
        let mut out = vec![0f64; n * 3];
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
        let mut buf = AlignedBuf::try_zeroed(n * 3 * 8).ok_or_else(|| {
            Error::new(ErrorKind::OutOfMemory {
                what: format!("the ROI positions {}", label.display()),
                bytes: (n * 24) as u128,
            })
        })?;
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

/// Python's truth value of a keyword argument (`bool(value)`). A numpy
/// array other than a one-element one has no truth value (numpy raises).
fn py_truth(value: &PyValue) -> std::result::Result<bool, String> {
    Ok(match value {
        PyValue::None => false,
        PyValue::Bool(b) => *b,
        PyValue::Int(i) => *i != 0,
        PyValue::BigInt(_) => true,
        PyValue::Float(x) => *x != 0.0,
        PyValue::Complex(re, im) => *re != 0.0 || *im != 0.0,
        PyValue::Str(x) => !x.is_empty(),
        PyValue::Bytes(x) => !x.is_empty(),
        PyValue::List(x) | PyValue::Tuple(x) | PyValue::Set(x) | PyValue::FrozenSet(x) => {
            !x.is_empty()
        }
        PyValue::Dict(x) => !x.is_empty(),
        PyValue::DateTime(_) => true,
        PyValue::Datetime64(t) | PyValue::Timedelta64(t) => t.value != 0,
        PyValue::Array(a) => match (&a.data, a.len()) {
            (ArrayData::Objects(items), Some(1)) => py_truth(&items[0])?,
            (ArrayData::Raw(bytes), Some(1)) => bytes.iter().any(|&b| b != 0),
            _ => {
                return Err(format!(
                    "the truth value of an array of shape {:?} is ambiguous",
                    a.shape
                ))
            }
        },
    })
}

/// A plane's object array, decoded: the shape and the value (the element
/// for a 0-d array, else an object [`PyValue::Array`]).
fn decode_plane(a: &NpyArray) -> Result<(Vec<u64>, PyValue)> {
    let (shape, value) = crate::recipe::pickle_decode_shaped(a.data_bytes())
        .map_err(|e| Error::invalid(a.path(), e))?;
    let header: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
    if shape != header {
        return Err(Error::argument(format!(
            "{}: pickled object array has shape {shape:?}, the header says {header:?}",
            a.path().display()
        )));
    }
    Ok((shape, value))
}

/// `np.load(path, allow_pickle=True).item()` of a one-element object array.
fn object_item(a: &NpyArray) -> Result<PyValue> {
    if *a.dtype() != Dtype::Object {
        return Err(Error::argument(format!(
            "{}: expected an object array (a pickled dict), found dtype {}",
            a.path().display(),
            a.dtype().descr()
        )));
    }
    match decode_plane(a)? {
        (shape, value) if shape.is_empty() => Ok(value),
        (_, PyValue::Array(arr)) => match arr.data {
            ArrayData::Objects(mut items) if items.len() == 1 => Ok(items.remove(0)),
            _ => Err(Error::argument(format!(
                "{}: can only convert an array of size 1 to a Python scalar (shape {:?})",
                a.path().display(),
                arr.shape
            ))),
        },
        (_, other) => Ok(other),
    }
}

/// `np.load(path, allow_pickle=True)` of one plane, as a [`PyValue::Array`].
fn plane_value(a: &NpyArray) -> Result<PyValue> {
    let shape: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
    if *a.dtype() == Dtype::Object {
        return Ok(match decode_plane(a)? {
            (_, PyValue::Array(arr)) => PyValue::Array(arr),
            (_, element) => PyValue::Array(Box::new(PyArray {
                descr: "|O".into(),
                shape,
                fortran: false,
                data: ArrayData::Objects(vec![element]),
            })),
        });
    }
    // Fortran-ordered only when not also C-contiguous, as numpy pickles.
    let fortran = a.is_fortran() && a.shape().iter().filter(|&&d| d > 1).count() > 1;
    Ok(PyValue::Array(Box::new(PyArray {
        descr: a.dtype().descr(),
        shape,
        fortran,
        data: ArrayData::Raw(a.data_bytes().to_vec()),
    })))
}

/// `np.concatenate` of object arrays along axis 0 (every plane an object
/// array of one or more dimensions, the same trailing shape); the result
/// keeps the elements in C order.
fn concatenate_objects(label: &Path, arrays: &[NpyArray]) -> Result<ObjectData> {
    let mut items = Vec::new();
    let mut shape: Option<Vec<u64>> = None;
    let mut rows = 0u64;
    for a in arrays {
        if *a.dtype() != Dtype::Object {
            return Err(Error::argument(format!(
                "{}: planes mix object and {} arrays; onedata concatenates only object arrays with object arrays",
                a.path().display(),
                a.dtype().descr()
            )));
        }
        let (plane_shape, value) = decode_plane(a)?;
        if plane_shape.is_empty() {
            return Err(Error::argument(format!(
                "{}: zero-dimensional arrays cannot be concatenated",
                a.path().display()
            )));
        }
        let tail = plane_shape[1..].to_vec();
        if *shape.get_or_insert_with(|| tail.clone()) != tail {
            return Err(Error::argument(format!(
                "{}: shape {plane_shape:?} does not match the first plane's trailing dimensions",
                a.path().display()
            )));
        }
        rows += plane_shape[0];
        match value {
            PyValue::Array(arr) => match arr.data {
                ArrayData::Objects(x) => items.extend(x),
                ArrayData::Raw(_) => unreachable!("an object array decodes to objects"),
            },
            other => items.push(other),
        }
    }
    let Some(tail) = shape else {
        return Err(Error::argument(format!(
            "{}: the session has no imaging planes",
            label.display()
        )));
    };
    let mut full = vec![rows];
    full.extend(tail);
    Ok(ObjectData::new(
        label,
        PyValue::Array(Box::new(PyArray {
            descr: "|O".into(),
            shape: full,
            fortran: false,
            data: ArrayData::Objects(items),
        })),
    ))
}

/// numpy's type promotion (`np.result_type`) of two numeric kinds.
pub fn promote_kinds(a: ElementKind, b: ElementKind) -> ElementKind {
    use ElementKind as K;
    // (category, bits): 0 bool, 1 unsigned, 2 signed, 3 float, 4 complex
    // (bits of each component).
    fn class(k: ElementKind) -> (u8, u32) {
        match k {
            K::Bool => (0, 1),
            K::U8 => (1, 8),
            K::U16 => (1, 16),
            K::U32 => (1, 32),
            K::U64 => (1, 64),
            K::I8 => (2, 8),
            K::I16 => (2, 16),
            K::I32 => (2, 32),
            K::I64 => (2, 64),
            K::F16 => (3, 16),
            K::F32 => (3, 32),
            K::F64 => (3, 64),
            K::C64 => (4, 32),
            K::C128 => (4, 64),
        }
    }
    fn int(signed: bool, bits: u32) -> ElementKind {
        match (signed, bits) {
            (false, 8) => K::U8,
            (false, 16) => K::U16,
            (false, 32) => K::U32,
            (false, _) => K::U64,
            (true, 8) => K::I8,
            (true, 16) => K::I16,
            (true, 32) => K::I32,
            (true, _) => K::I64,
        }
    }
    fn float(complex: bool, bits: u32) -> ElementKind {
        match (complex, bits) {
            (false, 16) => K::F16,
            (false, 32) => K::F32,
            (false, _) => K::F64,
            (true, 64) => K::C128,
            (true, _) => K::C64,
        }
    }
    // The float width that holds an integer of `bits` bits.
    fn int_float_bits(bits: u32) -> u32 {
        match bits {
            8 => 16,
            16 => 32,
            _ => 64,
        }
    }
    if a == b {
        return a;
    }
    let ((ca, ba), (cb, bb)) = (class(a), class(b));
    let ((ca, ba), (cb, bb)) = if ca <= cb {
        ((ca, ba), (cb, bb))
    } else {
        ((cb, bb), (ca, ba))
    };
    match (ca, cb) {
        (0, _) => b.max_by_class(a),
        (1, 1) | (2, 2) => int(ca == 2, ba.max(bb)),
        // unsigned `ba` with signed `bb`
        (1, 2) => {
            if bb > ba {
                int(true, bb)
            } else if ba < 64 {
                int(true, ba * 2)
            } else {
                K::F64
            }
        }
        (1 | 2, 3) => float(false, bb.max(int_float_bits(ba))),
        (1 | 2, 4) => {
            let need = int_float_bits(ba).max(32);
            float(true, bb.max(need))
        }
        (3, 3) | (4, 4) => float(ca == 4, ba.max(bb)),
        // float `ba` with complex `bb`
        _ => float(true, bb.max(ba.max(32))),
    }
}

trait MaxByClass {
    fn max_by_class(self, other: Self) -> Self;
}

impl MaxByClass for ElementKind {
    /// With a bool, the other kind (bool promotes to anything).
    fn max_by_class(self, other: ElementKind) -> ElementKind {
        if self == ElementKind::Bool {
            other
        } else {
            self
        }
    }
}

/// One element read in a kind that holds it exactly.
#[derive(Clone, Copy)]
enum Scalar {
    Int(i128),
    Float(f64),
    Complex(f64, f64),
}

fn read_scalar(kind: ElementKind, b: &[u8]) -> Scalar {
    use ElementKind as K;
    let f32_at = |i: usize| f32::from_ne_bytes(b[i..i + 4].try_into().unwrap()) as f64;
    let f64_at = |i: usize| f64::from_ne_bytes(b[i..i + 8].try_into().unwrap());
    match kind {
        K::Bool => Scalar::Int((b[0] != 0) as i128),
        K::I8 => Scalar::Int(b[0] as i8 as i128),
        K::U8 => Scalar::Int(b[0] as i128),
        K::I16 => Scalar::Int(i16::from_ne_bytes([b[0], b[1]]) as i128),
        K::U16 => Scalar::Int(u16::from_ne_bytes([b[0], b[1]]) as i128),
        K::I32 => Scalar::Int(i32::from_ne_bytes(b[..4].try_into().unwrap()) as i128),
        K::U32 => Scalar::Int(u32::from_ne_bytes(b[..4].try_into().unwrap()) as i128),
        K::I64 => Scalar::Int(i64::from_ne_bytes(b[..8].try_into().unwrap()) as i128),
        K::U64 => Scalar::Int(u64::from_ne_bytes(b[..8].try_into().unwrap()) as i128),
        K::F16 => Scalar::Float(half::f16::from_ne_bytes([b[0], b[1]]).to_f64()),
        K::F32 => Scalar::Float(f32_at(0)),
        K::F64 => Scalar::Float(f64_at(0)),
        K::C64 => Scalar::Complex(f32_at(0), f32_at(4)),
        K::C128 => Scalar::Complex(f64_at(0), f64_at(8)),
    }
}

/// Writes `x` as `kind`; `kind` is a promotion of `x`'s kind, so every cast
/// here is numpy's safe cast (exact, or for 64-bit integers to `f8` the
/// nearest double, as C's conversion gives).
fn write_scalar(kind: ElementKind, x: Scalar, out: &mut [u8]) {
    use ElementKind as K;
    let (re, im) = match x {
        Scalar::Int(i) => (i as f64, 0.0),
        Scalar::Float(f) => (f, 0.0),
        Scalar::Complex(r, i) => (r, i),
    };
    let int = match x {
        Scalar::Int(i) => i,
        _ => 0,
    };
    match kind {
        K::Bool => out[0] = (int != 0) as u8,
        K::I8 => out.copy_from_slice(&(int as i8).to_ne_bytes()),
        K::U8 => out.copy_from_slice(&(int as u8).to_ne_bytes()),
        K::I16 => out.copy_from_slice(&(int as i16).to_ne_bytes()),
        K::U16 => out.copy_from_slice(&(int as u16).to_ne_bytes()),
        K::I32 => out.copy_from_slice(&(int as i32).to_ne_bytes()),
        K::U32 => out.copy_from_slice(&(int as u32).to_ne_bytes()),
        K::I64 => out.copy_from_slice(&(int as i64).to_ne_bytes()),
        K::U64 => out.copy_from_slice(&(int as u64).to_ne_bytes()),
        K::F16 => out.copy_from_slice(&half::f16::from_f64(re).to_ne_bytes()),
        K::F32 => out.copy_from_slice(&(re as f32).to_ne_bytes()),
        K::F64 => out.copy_from_slice(&re.to_ne_bytes()),
        K::C64 => {
            out[..4].copy_from_slice(&(re as f32).to_ne_bytes());
            out[4..].copy_from_slice(&(im as f32).to_ne_bytes());
        }
        K::C128 => {
            out[..8].copy_from_slice(&re.to_ne_bytes());
            out[8..].copy_from_slice(&im.to_ne_bytes());
        }
    }
}

/// `np.concatenate(arrays, axis=0)` of 2-d numeric arrays after keeping the
/// first `cols` columns of each (all of them when `None`): one owned array
/// of the promoted dtype (native byte order), Fortran-ordered when every
/// plane is Fortran-ordered, else C-ordered, as numpy lays it out.
fn concatenate_rows(label: &Path, arrays: &[NpyArray], cols: Option<usize>) -> Result<NpyArray> {
    let Some(first) = arrays.first() else {
        return Err(Error::argument(format!(
            "{}: the session has no imaging planes",
            label.display()
        )));
    };
    let mut kind = first.kind()?;
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
        if a.ndim() != 2 {
            return Err(misfit(a, "every plane must hold a 2-d array".into()));
        }
        kind = promote_kinds(kind, a.kind()?);
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
    // A plane is Fortran-ordered for numpy if it is F- but not C-contiguous
    // (a 1-row or 1-column plane is both); np.concatenate gives F order when
    // every input is F-contiguous.
    let fortran = arrays
        .iter()
        .all(|a| a.is_fortran() || a.shape()[0] <= 1 || a.shape()[1] <= 1)
        && arrays.iter().any(|a| a.is_fortran());
    let size = kind.itemsize();
    let header = Header::new(Dtype::native(kind), fortran, &[rows, keep]);
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
    let mut row0 = 0;
    for a in arrays {
        let (r, c) = (a.shape()[0], a.shape()[1]);
        let src = a.data_bytes();
        let from = a.kind()?;
        let isz = from.itemsize();
        for i in 0..r {
            for j in 0..keep {
                let s = if a.is_fortran() { j * r + i } else { i * c + j } * isz;
                let d = if fortran {
                    j * rows + row0 + i
                } else {
                    (row0 + i) * keep + j
                } * size;
                if from == kind {
                    out[d..d + size].copy_from_slice(&src[s..s + size]);
                } else {
                    write_scalar(
                        kind,
                        read_scalar(from, &src[s..s + isz]),
                        &mut out[d..d + size],
                    );
                }
            }
        }
        row0 += r;
    }
    NpyArray::from_parts(label, header, buf)
}

/// The elements of a raw 1-d array as `(kind, native-order bytes)`.
fn raw_elements(a: &PyArray) -> Option<(ElementKind, Vec<u8>)> {
    let ArrayData::Raw(bytes) = &a.data else {
        return None;
    };
    let dtype = Dtype::parse(&a.descr)?;
    let kind = dtype.kind()?;
    let mut bytes = bytes.clone();
    if !dtype.is_native() && kind.itemsize() > 1 {
        for chunk in bytes.chunks_mut(kind.swap_unit()) {
            chunk.reverse();
        }
    }
    Some((kind, bytes))
}

/// A 1-d array of 32- or 64-bit integers, as f64 (numpy's cast when a
/// float32 array multiplies it, which promotes to float64).
fn wide_int_values(a: &PyArray) -> Option<Vec<f64>> {
    use ElementKind as K;
    let (kind, bytes) = raw_elements(a)?;
    if !matches!(kind, K::I32 | K::U32 | K::I64 | K::U64) {
        return None;
    }
    Some(
        bytes
            .chunks(kind.itemsize())
            .map(|b| match read_scalar(kind, b) {
                Scalar::Int(i) => i as f64,
                _ => unreachable!(),
            })
            .collect(),
    )
}

/// A 1-d float32 or float64 array, as f64 (exact).
fn float_values(a: &PyArray) -> Option<Vec<f64>> {
    let (kind, bytes) = raw_elements(a)?;
    if !matches!(kind, ElementKind::F32 | ElementKind::F64) {
        return None;
    }
    Some(
        bytes
            .chunks(kind.itemsize())
            .map(|b| match read_scalar(kind, b) {
                Scalar::Float(f) => f,
                _ => unreachable!(),
            })
            .collect(),
    )
}

fn lam_is_f32(a: &PyArray) -> Option<bool> {
    Some(raw_elements(a)?.0 == ElementKind::F32)
}

/// `np.sum(a)` of a contiguous 1-d array: numpy's pairwise summation in
/// blocks of 8192, accumulated in `T`.
fn numpy_sum<T: Float>(a: &[T]) -> T {
    let mut acc = T::ZERO;
    for block in a.chunks(8192) {
        acc = acc + pairwise_sum(block);
    }
    acc
}

/// `np.median(a)` in float64: the middle value, or the mean of the two
/// middle values (`(lo + hi) / 2`); NaN for an empty array.
fn numpy_median(mut a: Vec<f64>) -> f64 {
    let n = a.len();
    if n == 0 {
        return f64::NAN;
    }
    a.sort_by(f64::total_cmp);
    if n % 2 == 1 {
        a[n / 2]
    } else {
        (a[n / 2 - 1] + a[n / 2]) / 2.0
    }
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
