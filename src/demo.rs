//! A realistic synthetic session in the vrAnalysis B2 layout, for the
//! `onedata demo` command, the benchmarks and the tests.
//!
//! The session has suite2p output for each plane
//! (`suite2p/plane*/{F,Fneu,spks,iscell}.npy`, ROIs x frames as suite2p
//! writes them), a `vrExperimentValues.json` as registration writes it, and
//! in `oneData/` the behaviour and imaging arrays registration saves.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Axis};
use serde_json::json;

use crate::error::{Error, Result};
use crate::npy::write_npy;
use crate::recipe::{write_recipe, LoadingRecipe};
use crate::session::{python_json, SessionId, ONE_DIR, OPTIONS_FILE, VALUES_FILE};
use crate::sparse::write_npz;

/// What the demo session holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSpec {
    /// Mouse name.
    pub mouse: String,
    /// Session date, `YYYY-MM-DD`.
    pub date: String,
    /// Session id.
    pub session_id: String,
    /// Imaging frames registered (`numFrames`).
    pub frames: usize,
    /// ROIs in each imaging plane.
    pub rois_per_plane: Vec<usize>,
    /// Seed of the generated values.
    pub seed: u64,
}

impl Default for DemoSpec {
    /// Two planes of 640 ROIs and 20000 frames: about 100 MB of float32 spks.
    fn default() -> Self {
        DemoSpec {
            mouse: "ATL027".into(),
            date: "2024-06-12".into(),
            session_id: "701".into(),
            frames: 20_000,
            rois_per_plane: vec![640, 640],
            seed: 7,
        }
    }
}

impl DemoSpec {
    /// Total ROIs over all planes.
    pub fn rois(&self) -> usize {
        self.rois_per_plane.iter().sum()
    }

    /// The session's identity.
    pub fn id(&self) -> Result<SessionId> {
        SessionId::new(&*self.mouse, &*self.date, Some(&self.session_id))
    }
}

/// The imaging frame rate of the demo, in Hz.
pub const FRAME_RATE: f64 = 6.0;

/// A small deterministic generator (SplitMix64): reproducible demo data
/// without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// What [`write_demo`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoWritten {
    /// The session folder, `root/mouse/date/session_id`.
    pub dir: PathBuf,
    /// Every file written, in the order written, with its length in bytes.
    pub files: Vec<(PathBuf, u64)>,
}

impl DemoWritten {
    /// The bytes of all the files written.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, n)| n).sum()
    }
}

/// Writes the demo session under `root` (at `root/mouse/date/session_id`)
/// and returns the session folder. Files already there are replaced.
pub fn write_demo_session(root: &Path, spec: &DemoSpec) -> Result<PathBuf> {
    write_demo(root, spec).map(|w| w.dir)
}

/// Like [`write_demo_session`], and says which files it wrote and their sizes.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::demo::{write_demo, DemoSpec};
/// let root = tempfile::tempdir().unwrap();
/// let spec = DemoSpec { frames: 20, rois_per_plane: vec![3], ..DemoSpec::default() };
/// let written = write_demo(root.path(), &spec)?;
/// // suite2p's 4 files for the plane, 10 onedata files, 3 json files.
/// assert_eq!(written.files.len(), 4 + 10 + 3);
/// let on_disk: u64 = written.files.iter().map(|(p, _)| std::fs::metadata(p).unwrap().len()).sum();
/// assert_eq!(written.total_bytes(), on_disk);
/// # Ok(()) }
/// ```
pub fn write_demo(root: &Path, spec: &DemoSpec) -> Result<DemoWritten> {
    if spec.frames == 0 || spec.rois_per_plane.is_empty() || spec.rois() == 0 {
        return Err(Error::argument(
            "a demo session needs at least one frame and one ROI",
        ));
    }
    let id = spec.id()?;
    let dir = id.path_under(root);
    let one = dir.join(ONE_DIR);
    std::fs::create_dir_all(&one).map_err(|e| Error::io(&one, e))?;
    let mut rng = SplitMix(spec.seed);
    // Every file written, in order.
    let mut written: Vec<PathBuf> = Vec::new();

    // suite2p output, ROIs x frames per plane. Later planes have one more
    // frame than registration keeps, as real multi-plane recordings do.
    let mut oasis_planes = Vec::new();
    for (plane, &rois) in spec.rois_per_plane.iter().enumerate() {
        let frames = spec.frames + plane;
        let plane_dir = dir.join("suite2p").join(format!("plane{plane}"));
        std::fs::create_dir_all(&plane_dir).map_err(|e| Error::io(&plane_dir, e))?;
        let mut f = Array2::<f32>::zeros((rois, frames));
        let mut fneu = Array2::<f32>::zeros((rois, frames));
        let mut spks = Array2::<f32>::zeros((rois, frames));
        for r in 0..rois {
            let baseline = 200.0 + 400.0 * rng.unit();
            let mut calcium = 0.0f32;
            for t in 0..frames {
                let event = if rng.unit() < 0.02 {
                    50.0 + 200.0 * rng.unit()
                } else {
                    0.0
                };
                calcium = calcium * 0.85 + event;
                spks[[r, t]] = event;
                fneu[[r, t]] = 0.5 * baseline + 20.0 * rng.unit();
                f[[r, t]] = baseline + calcium + 10.0 * rng.unit();
            }
        }
        let iscell = Array2::<f64>::from_shape_fn((rois, 2), |(_, c)| {
            let p = rng.unit() as f64;
            if c == 0 {
                (p > 0.3) as u8 as f64
            } else {
                p
            }
        });
        write_npy(plane_dir.join("F.npy"), &f)?;
        write_npy(plane_dir.join("Fneu.npy"), &fneu)?;
        write_npy(plane_dir.join("spks.npy"), &spks)?;
        write_npy(plane_dir.join("iscell.npy"), &iscell)?;
        for file in ["F.npy", "Fneu.npy", "spks.npy", "iscell.npy"] {
            written.push(plane_dir.join(file));
        }
        // OASIS deconvolution of the registered frames: frames x ROIs.
        let kept = spks.slice(ndarray::s![.., ..spec.frames]);
        oasis_planes.push(kept.t().mapv(|x| x * 0.01));
    }
    let views: Vec<_> = oasis_planes.iter().map(|a| a.view()).collect();
    let oasis = ndarray::concatenate(Axis(1), &views)
        .map_err(|e| Error::argument(format!("demo planes do not stack: {e}")))?;
    write_npy(one.join("mpci.roiActivityDeconvolvedOasis.npy"), &oasis)?;
    written.push(one.join("mpci.roiActivityDeconvolvedOasis.npy"));

    // Significant fluorescence: frames x ROIs, zero outside transients,
    // kept as a CSC matrix with int32 indices as scipy saves it.
    let (frames, rois) = oasis.dim();
    let mut indptr: Vec<i32> = Vec::with_capacity(rois + 1);
    let mut indices: Vec<i32> = Vec::new();
    let mut data: Vec<f32> = Vec::new();
    indptr.push(0);
    for r in 0..rois {
        for t in 0..frames {
            let x = oasis[[t, r]];
            if x > 0.0 {
                indices.push(t as i32);
                data.push(x * 100.0 + 0.25);
            }
        }
        indptr.push(indices.len() as i32);
    }
    let significant = sprs::CsMatI::<f32, i32>::try_new_csc((frames, rois), indptr, indices, data)
        .map_err(|e| Error::argument(format!("demo sparse matrix: {}", e.3)))?;
    write_npz(
        one.join("mpci.roiSignificantFluorescence.npz"),
        &significant,
        true,
    )?;
    written.push(one.join("mpci.roiSignificantFluorescence.npz"));

    // The recipes registration saves instead of copies of suite2p output.
    for (name, var, transforms) in [
        ("mpci.roiActivityF", "F", &["transpose"][..]),
        ("mpci.roiNeuropilActivityF", "Fneu", &["transpose"][..]),
        ("mpci.roiActivityDeconvolved", "spks", &["transpose"][..]),
        ("mpciROIs.isCell", "iscell", &[][..]),
    ] {
        let recipe = LoadingRecipe::new("S2P", Some(var), transforms.iter().copied());
        write_recipe(one.join(format!("{name}.npy")), &recipe)?;
        written.push(one.join(format!("{name}.npy")));
    }

    // Imaging and behaviour timestamps, position and trials.
    let mpci_times = Array1::from_shape_fn(spec.frames, |t| t as f64 / FRAME_RATE);
    write_npy(one.join("mpci.times.npy"), &mpci_times)?;
    let samples = spec.frames * 10;
    let pos_times = Array1::from_shape_fn(samples, |i| i as f64 / (FRAME_RATE * 10.0));
    let track = 200.0;
    let position = Array1::from_shape_fn(samples, |i| (i as f64 * 0.37) % track);
    write_npy(one.join("positionTracking.times.npy"), &pos_times)?;
    write_npy(one.join("positionTracking.position.npy"), &position)?;
    let trials = (samples as f64 * 0.37 / track).ceil() as usize;
    let env = Array1::from_shape_fn(trials, |i| ((i / 20) % 3) as i16);
    write_npy(one.join("trials.environmentIndex.npy"), &env)?;
    for name in [
        "mpci.times",
        "positionTracking.times",
        "positionTracking.position",
        "trials.environmentIndex",
    ] {
        written.push(one.join(format!("{name}.npy")));
    }

    // Values, options and preprocessing, as registration writes them.
    let planes = spec.rois_per_plane.len();
    let plane_names: Vec<String> = (0..planes).map(|p| format!("plane{p}")).collect();
    let plane_ids: Vec<usize> = (0..planes).collect();
    let frame_per_plane: Vec<usize> = (0..planes).map(|p| spec.frames + p).collect();
    let values = json!({
        "numTrials": trials,
        "numBehaveTimestamps": samples,
        "planeNames": plane_names,
        "planeIDs": plane_ids,
        "available": ["F", "Fneu", "spks", "iscell"],
        "roiPerPlane": spec.rois_per_plane,
        "framePerPlane": frame_per_plane,
        "numROIs": spec.rois(),
        "numFrames": spec.frames,
        "samplingDeviationMedianPercentError": 1.0,
        "samplingDeviationMaximumPercentError": 1.0,
    });
    let options = json!({
        "vrBehaviorVersion": 1,
        "facecam": false,
        "imaging": true,
        "oasis": true,
        "redCellProcessing": false,
        "clearOne": true,
        "neuropilCoefficient": 0.7,
        "tau": 1.5,
        "fs": FRAME_RATE as i64,
        "moveRawData": false,
    });
    let preprocessing = json!(["timeline", "vrBehavior", "imaging"]);
    for (file, value) in [
        (VALUES_FILE, values),
        (OPTIONS_FILE, options),
        ("vrExperimentPreprocessing.json", preprocessing),
    ] {
        let path = dir.join(file);
        let text = python_json(&value).map_err(|e| Error::argument(e.to_string()))?;
        crate::atomic::write_atomic(&path, crate::Durability::Durable, |w| {
            std::io::Write::write_all(w, &text)
        })?;
        written.push(path);
    }
    let files = written
        .into_iter()
        .map(|path| {
            let len = std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, e))?
                .len();
            Ok((path, len))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DemoWritten { dir, files })
}

/// A random `rows` x `cols` float32 CSC matrix with about `density` of its
/// entries stored, int32 indices as scipy saves them: the sparse workload
/// of the benchmarks.
pub fn random_csc(rows: usize, cols: usize, density: f64, seed: u64) -> sprs::CsMatI<f32, i32> {
    let mut rng = SplitMix(seed);
    let mut indptr: Vec<i32> = Vec::with_capacity(cols + 1);
    let mut indices: Vec<i32> = Vec::new();
    let mut data: Vec<f32> = Vec::new();
    indptr.push(0);
    let threshold = (density.clamp(0.0, 1.0) * (1u64 << 24) as f64) as u64;
    for _ in 0..cols {
        for r in 0..rows {
            if (rng.next_u64() >> 40) < threshold {
                indices.push(r as i32);
                data.push(rng.unit() * 10.0);
            }
        }
        indptr.push(indices.len() as i32);
    }
    sprs::CsMatI::new_csc((rows, cols), indptr, indices, data)
}
