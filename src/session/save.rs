//! [`SaveOne`]: what `saveone` can write, and how each kind is written and
//! cached.

use std::path::Path;

use ndarray::{ArrayBase, Data, Dimension};

use crate::data::OneData;
use crate::error::Result;
use crate::names::Extension;
use crate::npy::{write_npy_with, Element, NpyArray};
use crate::recipe::LoadingRecipe;
use crate::sparse::{NpzOptions, SparseMatrix};
use crate::Durability;

/// Data that `saveone` can write: dense arrays now; the extension point for
/// sparse matrices and loading recipes.
pub trait SaveOne {
    /// The file extension written: [`Extension::Npy`] or [`Extension::Npz`].
    fn extension(&self) -> Extension;
    /// Writes the data to `path`, atomically and durably.
    fn write_to(&self, path: &Path) -> Result<()>;
    /// Writes the data to `path`, atomically, with the given
    /// [`Durability`] (what `saveone` calls, with the session's setting).
    /// The default ignores `durability` and calls
    /// [`write_to`](Self::write_to), which is always durable.
    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        let _ = durability;
        self.write_to(path)
    }
    /// What the cache holds for the file once written (`None`: nothing).
    fn cache_entry(&self, path: &Path) -> Result<Option<OneData>>;
}

impl<S, D> SaveOne for ArrayBase<S, D>
where
    S: Data,
    S::Elem: Element,
    D: Dimension,
{
    fn extension(&self) -> Extension {
        Extension::Npy
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_to_with(path, Durability::Durable)
    }

    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        write_npy_with(path, self, durability)
    }

    /// The file just written, mapped: the cache holds the same values
    /// without a second copy in memory.
    fn cache_entry(&self, path: &Path) -> Result<Option<OneData>> {
        Ok(Some(OneData::Dense(NpyArray::open(path)?)))
    }
}

/// A loaded array of any dtype but objects (strings, datetimes, records, ...),
/// written as `numpy.save` writes it.
impl SaveOne for NpyArray {
    fn extension(&self) -> Extension {
        Extension::Npy
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_to_with(path, Durability::Durable)
    }

    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        crate::npy::write_npy_array_with(path, self, durability)
    }

    fn cache_entry(&self, path: &Path) -> Result<Option<OneData>> {
        Ok(Some(OneData::Dense(NpyArray::open(path)?)))
    }
}

impl SaveOne for LoadingRecipe {
    fn extension(&self) -> Extension {
        Extension::Npy
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_to_with(path, Durability::Durable)
    }

    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        crate::recipe::write_recipe_with(path, self, durability)
    }

    /// Nothing: the recipe resolves on the next `loadone`, as in vrAnalysis.
    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}

impl SaveOne for SparseMatrix {
    fn extension(&self) -> Extension {
        Extension::Npz
    }

    /// Compressed, as `save_npz` writes by default.
    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_to_with(path, Durability::Durable)
    }

    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        self.write_npz_with(path, NpzOptions::COMPRESSED.with_durability(durability))
    }

    /// Nothing, as in vrAnalysis: the next `loadone` reads the file in the
    /// form it asks for.
    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}

impl<N, I> SaveOne for sprs::CsMatI<N, I>
where
    N: Element,
    I: sprs::SpIndex + bytemuck::NoUninit,
{
    fn extension(&self) -> Extension {
        Extension::Npz
    }

    /// Compressed, as `save_npz` writes by default.
    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_to_with(path, Durability::Durable)
    }

    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        let options = NpzOptions::COMPRESSED.with_durability(durability);
        crate::sparse::write_npz_with(path, self, options)
    }

    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}

/// A sparse matrix that `saveone` writes stored (not deflated), each
/// member's data 64-byte aligned in the file
/// ([`NpzOptions::ALIGNED`](crate::sparse::NpzOptions::ALIGNED)): still a
/// file `scipy.sparse.load_npz` reads, and one that
/// [`read_npz_stored`](crate::sparse::read_npz_stored) views in place,
/// without a copy. Larger on disk than the default deflated file.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::Aligned;
/// use onedata::sparse::read_npz_stored;
/// use onedata::{Session, SessionData, SessionId};
///
/// let dir = tempfile::tempdir().unwrap();
/// let session = Session::from_root(dir.path(), SessionId::new("ATL027", "2024-06-12", Some("701"))?)?;
/// let m = sprs::CsMatI::<f32, i32>::new_csc((3, 2), vec![0, 1, 2], vec![0, 2], vec![1.5, -2.0]);
/// let path = session.saveone(&Aligned(&m), "mpci.roiActivityF")?;
/// assert!(read_npz_stored(&path)?.is_mapped());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Aligned<'a, M>(pub &'a M);

impl SaveOne for Aligned<'_, SparseMatrix> {
    fn extension(&self) -> Extension {
        Extension::Npz
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_to_with(path, Durability::Durable)
    }

    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        let options = NpzOptions::ALIGNED.with_durability(durability);
        self.0.write_npz_with(path, options)
    }

    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}

impl<N, I> SaveOne for Aligned<'_, sprs::CsMatI<N, I>>
where
    N: Element,
    I: sprs::SpIndex + bytemuck::NoUninit,
{
    fn extension(&self) -> Extension {
        Extension::Npz
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        self.write_to_with(path, Durability::Durable)
    }

    fn write_to_with(&self, path: &Path, durability: Durability) -> Result<()> {
        let options = NpzOptions::ALIGNED.with_durability(durability);
        crate::sparse::write_npz_with(path, self.0, options)
    }

    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}
