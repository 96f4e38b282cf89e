//! # onedata
//!
//! Fast, numpy-exact loading and saving of the `oneData` files of
//! vrAnalysis recording sessions.
//!
//! A session folder `ROOT/<mouse>/<YYYY-MM-DD>/<session_id>/` keeps one file
//! per array in `oneData/`, named `<object>.<attribute>.npy`. onedata opens a
//! `.npy` file by memory-mapping it and validating its header: the open costs
//! the same for 8 KB and for 8 GB, and the array is a borrowed [`ndarray`]
//! view of the mapped pages. Every file it writes is the file `numpy.save`
//! (or `scipy.sparse.save_npz`, or vrAnalysis's `saveone`) would write.
//!
//! This page is a short tour: one file, a session, a B2 session, sparse
//! matrices and loading recipes. Each part runs as a test.
//!
//! ## One file
//!
//! [`npy::write_npy`] writes what `np.save` writes; [`npy::NpyArray::open`]
//! maps a file and checks its header; the typed views borrow the map.
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use ndarray::Array2;
//! use onedata::npy::{write_npy, NpyArray};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("mpci.roiActivityDeconvolvedOasis.npy");
//!
//! // frames x ROIs, float32, as vrAnalysis keeps spks
//! let spks = Array2::<f32>::from_shape_fn((1000, 64), |(t, r)| (t * r) as f32);
//! write_npy(&path, &spks)?;
//!
//! let loaded = NpyArray::open(&path)?;       // maps the file, checks the header
//! assert!(loaded.is_mapped());
//! assert_eq!(loaded.dtype().descr(), "<f4");
//! let view = loaded.view2::<f32>()?;         // zero copy
//! assert_eq!(view, spks);
//! assert!(loaded.view2::<f64>().is_err());   // the wrong type is a typed error
//! # Ok(()) }
//! ```
//!
//! ## A session: `loadone`, `saveone`, values
//!
//! [`Session`] is a plain session folder; every session type implements
//! [`SessionData`], whose methods keep vrAnalysis's names. `loadone` maps the
//! file once and caches the handle by file name; `saveone` writes atomically
//! and caches what it wrote; values live in `vrExperimentValues.json`, read
//! and written as Python's `json` does ([`pyjson`]: `NaN` and `Infinity`
//! included).
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use ndarray::{array, Array1};
//! use onedata::{LoadOptions, Session, SessionData, SessionId};
//!
//! let root = tempfile::tempdir().unwrap();
//! let id = SessionId::new("ATL027", "2024-06-12", Some("701"))?;
//! let session = Session::from_root(root.path(), id)?;   // ROOT/ATL027/2024-06-12/701
//!
//! session.saveone(&array![[0.5f32, 1.5], [2.5, 3.5]], "mpci.roiActivityF")?;
//! session.saveone(&Array1::<f64>::linspace(0.0, 1.0, 5), "mpci.times")?;
//! assert_eq!(session.print_saved_one(false, false)?, ["mpci.roiActivityF", "mpci.times"]);
//!
//! let f = session.loadone("mpci.roiActivityF")?;       // Arc<OneData>, from the cache
//! assert_eq!(f.view2::<f32>()?[[1, 0]], 2.5);
//! let times = session.loadone_with("mpci.times", LoadOptions::force())?; // re-read the file
//! assert_eq!(times.view1::<f64>()?[4], 1.0);
//!
//! session.set_value("numFrames", &2)?;
//! let frames: usize = session.get_value("numFrames")?;
//! assert_eq!(frames, 2);
//! session.set_value("samplingDeviationMedianPercentError", &f64::NAN)?;
//! assert!(session.get_value::<f64>("samplingDeviationMedianPercentError")?.is_nan());
//!
//! // A missing file names the session and lists what is saved.
//! let err = session.loadone("mpci.roiActivityFF").unwrap_err();
//! assert!(err.to_string().contains("saved onedata: mpci.roiActivityF.npy, mpci.times.npy"));
//! # Ok(()) }
//! ```
//!
//! Walking every session under a root is [`discover::iter_sessions`].
//!
//! ## A B2 session
//!
//! [`b2::B2Session`] is vrAnalysis's B2 session type: it reads its values and
//! options from the session's json files, resolves the loading recipes that
//! registration saves (suite2p output per plane, concatenated), and gives
//! `spks()` by spks type. [`demo::write_demo_session`] writes a small
//! synthetic one.
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use onedata::b2::{B2Session, SpksType};
//! use onedata::demo::{write_demo_session, DemoSpec};
//! use onedata::SessionData;
//!
//! let root = tempfile::tempdir().unwrap();
//! let spec = DemoSpec { frames: 40, rois_per_plane: vec![5, 3], ..DemoSpec::default() };
//! let dir = write_demo_session(root.path(), &spec)?;
//!
//! let session = B2Session::open(&dir)?;
//! let f = session.loadone("mpci.roiActivityF")?;       // the recipe S2P("F") -> transpose
//! assert_eq!(f.shape(), [40, 8]);                      // frames x ROIs of both planes
//! let corrected = session.get_spks(SpksType::Corrected)?; // F - c * (Fneu - mean), as numpy
//! assert_eq!(corrected.shape(), [40, 8]);
//! # Ok(()) }
//! ```
//!
//! ## Sparse matrices and loading recipes
//!
//! `saveone` of a sparse matrix writes the `.npz` that `scipy.sparse.save_npz`
//! writes; `loadone_with(name, LoadOptions::sparse(keep_sparse))` reads it
//! back kept sparse (an [`sprs`] matrix) or densified as scipy's `toarray()`.
//! A [`LoadingRecipe`] is a small pickled dict that points at data kept
//! elsewhere; saving one writes what vrAnalysis writes, and loading it
//! resolves it through the session type's loaders and transforms.
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use onedata::{LoadOptions, LoadingRecipe, Session, SessionData, SessionId};
//!
//! let root = tempfile::tempdir().unwrap();
//! let session = Session::from_root(root.path(), SessionId::new("ATL027", "2024-06-12", Some("701"))?)?;
//!
//! let mut tri = sprs::TriMatI::<f32, i32>::new((3, 4));
//! tri.add_triplet(0, 1, 2.0f32);
//! tri.add_triplet(2, 3, 5.0f32);
//! session.saveone(&tri.to_csc::<i32>(), "mpci.roiSignificantFluorescence")?; // .npz
//!
//! let dense = session.loadone_with("mpci.roiSignificantFluorescence", LoadOptions::sparse(false))?;
//! assert_eq!(dense.view2::<f32>()?[[2, 3]], 5.0);
//! let kept = session.loadone_with("mpci.roiSignificantFluorescence", LoadOptions::sparse(true))?;
//! assert_eq!(kept.as_sparse().unwrap().nnz(), 2);
//!
//! let recipe = LoadingRecipe::new("S2P", Some("F"), ["transpose"]);
//! session.saveone(&recipe, "mpci.roiActivityF")?;
//! let path = session.one_path().join(session.get_one_filename("mpci.roiActivityF")?);
//! assert_eq!(onedata::recipe::read_recipe(&path)?, recipe);
//! // A plain Session registers no loaders, so loading the recipe says so.
//! let err = session.loadone("mpci.roiActivityF").unwrap_err();
//! assert!(err.to_string().contains("registers no recipe loaders"));
//! # Ok(()) }
//! ```
//!
//! ## Errors
//!
//! Nothing read from disk can make onedata panic: a malformed file is an
//! [`ErrorKind::Invalid`] naming the file and the [`Fault`]. An [`Error`] is
//! one boxed [`ErrorKind`], so every `Result` is one word wide.
//!
//! ## Memory maps and files changed by other programs
//!
//! onedata checks at open that a file holds every byte its header promises,
//! so no access to a view can fall outside the file as it was opened. A
//! shared map shows its file as it is now, so another program rewriting a
//! mapped file *in place* (as `np.save` to the same path does) could change
//! the values under a view, or make a read past a truncation raise SIGBUS.
//! On Linux every map holds a read lease on its file: such a writer waits in
//! its `open` or `truncate` while onedata moves the map into private memory
//! at the same addresses, and views never change
//! ([`NpyArray::is_protected`](npy::NpyArray::is_protected)). The copy is
//! owned memory from then on: a session's cache counts it against
//! [`CacheLimits::max_owned_bytes`] and evicts to keep it. Where no lease
//! can be had (network and FUSE filesystems, other users' files, other
//! platforms), [`MapPolicy`](npy::MapPolicy) decides: by default such files
//! are read into owned memory. onedata itself never writes to a file in
//! place: it writes a new file and renames it over the old one, by default
//! syncing the file before the rename and its folder after it, so that a
//! power cut leaves the old file or the new one ([`Durability`]).

#![warn(missing_docs)]
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod atomic;
pub mod b2;
mod cache;
mod data;
pub mod demo;
pub mod describe;
pub mod digest;
pub mod discover;
mod error;
pub mod memory;
pub mod names;
pub mod npy;
pub mod pyjson;
pub mod recipe;
#[cfg(feature = "remote")]
pub mod remote;
pub mod session;
pub mod sparse;

/// The crates of the `float16` and complex element types, re-exported so
/// that callers name the very types onedata's [`npy::Element`] covers.
pub use {half, num_complex};

pub use atomic::{remove_stale_temporaries, Durability};
pub use cache::{CacheLimits, CacheStats};
pub use data::{ObjectData, OneData};
pub use error::{
    Error, ErrorKind, Fault, HeaderError, PickleError, RecipeError, RemoteFault, Result,
    SparseError,
};
pub use recipe::{LoadingRecipe, PyValue};
pub use session::{
    Aligned, ClearOutcome, LoadOptions, SaveOne, Session, SessionCore, SessionData, SessionId,
};
