//! # onedata
//!
//! Fast, numpy-exact loading and saving of the `oneData` files of
//! vrAnalysis recording sessions.
//!
//! A session folder keeps one file per array in `oneData/`, named
//! `<object>.<attribute>.npy`. onedata opens a `.npy` file by memory-mapping
//! it and validating its header: the open costs the same for 8 KB and for
//! 8 GB, and the array is a borrowed [`ndarray`] view of the mapped pages.
//! Every file it writes is the file `numpy.save` would write.
//!
//! ## Reading and writing one file
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
//! let view = loaded.view2::<f32>()?;         // zero copy
//! assert_eq!(view, spks);
//! # Ok(()) }
//! ```
//!
//! ## Errors
//!
//! Nothing read from disk can make onedata panic: a malformed file is an
//! [`Error::Invalid`] naming the file and the [`Fault`].
//!
//! ## Memory maps and files changed by other programs
//!
//! onedata checks at open that a file holds every byte its header promises,
//! so no access to a view can fall outside the file. A mapped file that
//! another program later truncates *in place* can still make a read fault
//! (SIGBUS), as with any memory map; onedata itself never writes to a file in
//! place, it writes a new file and renames it over the old one, which leaves
//! existing maps valid.

#![warn(missing_docs)]
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod b2;
mod cache;
mod data;
pub mod demo;
pub mod describe;
pub mod digest;
pub mod discover;
mod error;
pub mod names;
pub mod npy;
pub mod recipe;
pub mod session;
pub mod sparse;

/// The crates of the `float16` and complex element types, re-exported so
/// that callers name the very types onedata's [`npy::Element`] covers.
pub use {half, num_complex};

pub use cache::{CacheLimits, CacheStats};
pub use data::OneData;
pub use error::{
    Error, ErrorKind, Fault, HeaderError, PickleError, RecipeError, Result, SparseError,
};
pub use recipe::{LoadingRecipe, PyValue};
pub use session::{
    ClearOutcome, LoadOptions, SaveOne, Session, SessionCore, SessionData, SessionId,
};
