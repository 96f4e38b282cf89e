//! What a onedata file holds, read from its headers: what `onedata info`
//! and `onedata ls` print.
//!
//! [`describe_file`] opens the file once, tells a scipy `.npz` archive from
//! a `.npy` file by its first bytes, and reads no more than it needs: the
//! `.npy` header of a dense array, the small members of a sparse archive,
//! the pickle of an object array (a loading recipe or another value).
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use onedata::describe::{describe_file, Description};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("mpci.times.npy");
//! onedata::npy::write_npy(&path, &ndarray::Array1::<f64>::zeros(20_000))?;
//! match describe_file(&path)? {
//!     Description::Dense(header) => {
//!         assert_eq!(header.dtype().descr(), "<f8");
//!         assert_eq!(header.shape(), &[20_000]);
//!     }
//!     other => panic!("expected a dense array, not {other:?}"),
//! }
//!
//! let recipe = onedata::LoadingRecipe::new("S2P", Some("F"), ["transpose"]);
//! let path = dir.path().join("mpci.roiActivityF.npy");
//! onedata::recipe::write_recipe(&path, &recipe)?;
//! assert!(matches!(describe_file(&path)?, Description::Recipe(r) if r == recipe));
//! # Ok(()) }
//! ```

use std::path::Path;

use crate::error::Result;
use crate::npy::{Dtype, Header, OpenedFile};
use crate::recipe::{LoadingRecipe, ObjectFile, PyValue};
use crate::sparse::SparseInfo;

/// What a onedata file holds.
#[derive(Debug, Clone)]
pub enum Description {
    /// A dense array: its validated header.
    Dense(Header),
    /// A scipy sparse matrix (`save_npz`).
    Sparse(SparseInfo),
    /// A vrAnalysis loading recipe.
    Recipe(LoadingRecipe),
    /// An object array that is not a loading recipe: its header and the
    /// value it holds (see [`OneData::Object`](crate::OneData::Object)).
    Object(Header, PyValue),
}

impl Description {
    /// `dense`, `sparse`, `recipe` or `object`.
    pub fn kind(&self) -> &'static str {
        match self {
            Description::Dense(_) => "dense",
            Description::Sparse(_) => "sparse",
            Description::Recipe(_) => "recipe",
            Description::Object(..) => "object",
        }
    }
}

/// Describes the file at `path`, opening it once: a zip archive (an `.npz`
/// file, whatever its name) as a sparse matrix, a `.npy` file by its
/// header, an object array of one element (0-d, or of shape `(1,)`, ...)
/// holding a recipe as that loading recipe, and
/// any other object array as the value it holds.
///
/// A malformed file is an error naming the file and the fault, as a load
/// of it would be.
pub fn describe_file(path: impl AsRef<Path>) -> Result<Description> {
    let path = path.as_ref();
    let file = OpenedFile::open(path)?;
    let named_npz = path.extension().is_some_and(|e| e == "npz");
    if named_npz || file.is_zip() {
        return crate::sparse::read_opened_npz_info(&file).map(Description::Sparse);
    }
    let (header, mapped) = file.npy_header()?;
    if *header.dtype() != Dtype::Object {
        return Ok(Description::Dense(header));
    }
    let storage = match mapped {
        Some(storage) => storage,
        None => file.map()?,
    };
    let data = storage
        .as_bytes()
        .get(header.data_offset()..)
        .unwrap_or(&[]);
    match crate::recipe::object_file_from_parts(path, &header, data)? {
        ObjectFile::Recipe(recipe) => Ok(Description::Recipe(recipe)),
        ObjectFile::Value(value) => Ok(Description::Object(header, value)),
    }
}
