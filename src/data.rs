//! [`OneData`]: what `loadone` returns.

use bytemuck::AnyBitPattern;
use ndarray::{ArrayView1, ArrayView2, ArrayViewD};

use crate::error::{Error, ErrorKind, Result};
use crate::npy::{Dtype, Element, NpyArray};
use crate::recipe::PyValue;
use crate::sparse::SparseMatrix;

/// One loaded onedata file, shared through `Arc` by the cache and callers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OneData {
    /// A dense array: mapped from a `.npy` file, or owned (decoded or computed).
    Dense(NpyArray),
    /// A sparse matrix from a scipy `.npz` file, kept sparse (`keep_sparse`).
    Sparse(SparseMatrix),
    /// The Python value of an object array (`|O`) that is not a loading
    /// recipe: a dict saved with `np.save(path, a_dict)`, suite2p's
    /// `ops.npy`, a 1-d object array such as `stat.npy`, ...
    Object(ObjectData),
}

/// The value of an object-array file (see
/// [`decode_object_npy`](crate::recipe::decode_object_npy)): for a 0-d
/// array its element, otherwise a [`PyValue::Array`] of the elements.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectData {
    path: std::path::PathBuf,
    value: PyValue,
}

impl ObjectData {
    /// The value read from `path`.
    pub fn new(path: impl Into<std::path::PathBuf>, value: PyValue) -> Self {
        ObjectData {
            path: path.into(),
            value,
        }
    }

    /// The file it was read from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The value.
    pub fn value(&self) -> &PyValue {
        &self.value
    }

    /// The value, owned.
    pub fn into_value(self) -> PyValue {
        self.value
    }
}

impl OneData {
    /// The dense array, if this is one.
    pub fn as_dense(&self) -> Option<&NpyArray> {
        match self {
            OneData::Dense(a) => Some(a),
            OneData::Sparse(_) | OneData::Object(_) => None,
        }
    }

    /// The object value, if this is one.
    pub fn as_object(&self) -> Option<&ObjectData> {
        match self {
            OneData::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The sparse matrix, if this is one.
    pub fn as_sparse(&self) -> Option<&SparseMatrix> {
        match self {
            OneData::Sparse(m) => Some(m),
            OneData::Dense(_) | OneData::Object(_) => None,
        }
    }

    /// The dense array, or an error saying what this is instead.
    pub fn dense(&self) -> Result<&NpyArray> {
        self.as_dense().ok_or_else(|| {
            Error::new(ErrorKind::KindMismatch {
                path: self.path().to_path_buf(),
                requested: "dense",
                found: self.kind(),
            })
        })
    }

    /// The file this onedata was loaded from (or names, for computed data).
    pub fn path(&self) -> &std::path::Path {
        match self {
            OneData::Dense(a) => a.path(),
            OneData::Sparse(m) => m.path(),
            OneData::Object(o) => o.path(),
        }
    }

    /// What kind of data this is: `"dense"`, `"sparse"` or `"object"`.
    pub fn kind(&self) -> &'static str {
        match self {
            OneData::Dense(_) => "dense",
            OneData::Sparse(_) => "sparse",
            OneData::Object(_) => "object",
        }
    }

    /// The shape (for an object value, that of the object array: `()` for
    /// a 0-d one).
    pub fn shape(&self) -> Vec<usize> {
        match self {
            OneData::Dense(a) => a.shape().to_vec(),
            OneData::Sparse(m) => m.shape().to_vec(),
            OneData::Object(o) => match o.value() {
                PyValue::Array(a) if a.is_object() => a.shape.iter().map(|&d| d as usize).collect(),
                _ => Vec::new(),
            },
        }
    }

    /// The element dtype (native byte order for loaded numbers).
    pub fn dtype(&self) -> Dtype {
        match self {
            OneData::Dense(a) => a.dtype().clone(),
            OneData::Sparse(m) => m.dtype(),
            OneData::Object(_) => Dtype::Object,
        }
    }

    /// A zero-copy view of a dense array (see [`NpyArray::view`]).
    pub fn view<T: Element + AnyBitPattern>(&self) -> Result<ArrayViewD<'_, T>> {
        self.dense()?.view()
    }

    /// A zero-copy one-dimensional view of a dense array.
    pub fn view1<T: Element + AnyBitPattern>(&self) -> Result<ArrayView1<'_, T>> {
        self.dense()?.view1()
    }

    /// A zero-copy two-dimensional view of a dense array.
    pub fn view2<T: Element + AnyBitPattern>(&self) -> Result<ArrayView2<'_, T>> {
        self.dense()?.view2()
    }

    /// The content digest of the values (see [`crate::digest`]); for a
    /// sparse matrix, that of the dense array scipy's `toarray()` gives; for
    /// an object value, [`crate::digest::digest_value`].
    pub fn digest(&self) -> Result<[u8; 32]> {
        match self {
            OneData::Dense(a) => crate::digest::digest(a),
            OneData::Sparse(m) => crate::digest::digest(&m.to_dense()?),
            OneData::Object(o) => Ok(crate::digest::digest_value(o.value())),
        }
    }

    /// Heap bytes held (zero for mapped arrays).
    pub fn owned_bytes(&self) -> usize {
        match self {
            OneData::Dense(a) => a.owned_bytes(),
            OneData::Sparse(m) => m.owned_bytes(),
            OneData::Object(o) => {
                let mut n = 0usize;
                o.value().write_canonical(&mut |b| n += b.len());
                n
            }
        }
    }

    /// Bytes of mapped file data held.
    pub fn mapped_bytes(&self) -> usize {
        match self {
            OneData::Dense(a) => a.mapped_bytes(),
            OneData::Sparse(_) | OneData::Object(_) => 0,
        }
    }
}

impl From<NpyArray> for OneData {
    fn from(a: NpyArray) -> Self {
        OneData::Dense(a)
    }
}

impl From<SparseMatrix> for OneData {
    fn from(m: SparseMatrix) -> Self {
        OneData::Sparse(m)
    }
}
