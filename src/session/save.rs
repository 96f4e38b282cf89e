//! [`SaveOne`]: what `saveone` can write, and how each kind is written and
//! cached.

use std::path::Path;

use ndarray::{ArrayBase, Data, Dimension};

use crate::data::OneData;
use crate::error::Result;
use crate::names::Extension;
use crate::npy::{write_npy, Element, NpyArray};
use crate::recipe::LoadingRecipe;
use crate::sparse::SparseMatrix;

/// Data that `saveone` can write: dense arrays now; the extension point for
/// sparse matrices and loading recipes.
pub trait SaveOne {
    /// The file extension written: [`Extension::Npy`] or [`Extension::Npz`].
    fn extension(&self) -> Extension;
    /// Writes the data to `path`, atomically.
    fn write_to(&self, path: &Path) -> Result<()>;
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
        write_npy(path, self)
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
        crate::npy::write_npy_array(path, self)
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
        crate::recipe::write_recipe(path, self)
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
        self.write_npz(path, true)
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
        crate::sparse::write_npz(path, self, true)
    }

    fn cache_entry(&self, _path: &Path) -> Result<Option<OneData>> {
        Ok(None)
    }
}
