//! scipy sparse matrices in `.npz` files, as `scipy.sparse.save_npz` writes
//! them and `scipy.sparse.load_npz` reads them.
//!
//! [`read_npz`] loads CSC, CSR, COO, BSR and DIA matrices (`*_array` and
//! legacy `*_matrix` classes, stored or deflated, any integer index dtype,
//! every numeric data dtype) into a [`SparseMatrix`]: a canonical
//! [`sprs`] matrix (CSC or CSR as stored; COO and BSR become CSR, DIA
//! becomes CSC, as scipy's `tocsr()` and `tocsc()` give them) of the file's
//! element type; [`SparseMatrix::format`] still reports the file's format. [`SparseMatrix::to_dense`] gives exactly what scipy's
//! `toarray()` gives. [`write_npz`] writes a sprs matrix as scipy writes a
//! `csc_array`/`csr_array`.
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use onedata::sparse::{read_npz, write_npz, SparseFormat};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("mpci.roiActivityF.npz");
//! // 3 x 2, stored by columns: (0, 0) = 1.5, (2, 1) = -2.0
//! let m = sprs::CsMatI::<f32, i32>::new_csc((3, 2), vec![0, 1, 2], vec![0, 2], vec![1.5, -2.0]);
//! write_npz(&path, &m, true)?;
//!
//! let back = read_npz(&path)?;
//! assert_eq!(back.format(), SparseFormat::Csc);
//! assert_eq!(back.shape(), [3, 2]);
//! assert_eq!(back.nnz(), 2);
//! assert_eq!(back.csmat::<f32, i32>()?, &m);
//! let dense = back.to_dense()?;                 // scipy's toarray(), C order
//! assert_eq!(dense.view2::<f32>()?[[2, 1]], -2.0);
//! # Ok(()) }
//! ```
//!
//! ## What is checked
//!
//! Nothing in a file can make the reader panic or allocate more than the
//! file's own headers promise. The zip directory, each member's `.npy`
//! header and the sparse structure are checked: a member's size must equal
//! what its header promises and what its compressed bytes can expand to (so
//! no zip bomb gets decompressed), every member's CRC-32 must match, the
//! index pointer must start at 0, never decrease and end within the stored
//! entries, and every index must be within the shape. BSR blocks must tile
//! the shape; DIA offsets must be unique (scipy refuses duplicates too). Faults are
//! [`crate::SparseError`]s inside [`crate::ErrorKind::Invalid`], naming the file.
//!
//! scipy allows unsorted indices and duplicate entries within a row or
//! column; onedata sorts them and sums duplicates in stored order, as
//! scipy's `sum_duplicates` and `toarray` do (BSR blocks sharing a block
//! column included). [`SparseMatrix::nnz`] still reports the entries as
//! stored, as scipy's `.nnz` does. DIA entries are placed as scipy's
//! `tocsc` places them: `data[i, j]` at row `j - offsets[i]`, column `j`,
//! where that is inside the matrix; zeros are dropped, NaN kept.
//!
//! Where onedata differs from `load_npz`: it is stricter (index bounds and
//! index pointer order are checked, which scipy leaves to later
//! operations; index members must have an integer dtype; 1-d `csr_array`
//! and n-d `coo_array` files are refused; a COO file whose row count is
//! out of all proportion to its entries is refused rather than given an
//! index pointer of gigabytes; so is a BSR or DIA file whose row or column
//! count is; a BSR blocksize must divide both dimensions, where `load_npz`
//! checks only the rows), and it also reads `float16` data, which
//! scipy loads but cannot densify. DIA offsets are taken as the integers
//! stored (scipy casts them to its index dtype first, so an `int64` offset
//! past `int32` may wrap there). `lil` and `dok` files (which `save_npz`
//! cannot write) are refused as unsupported.
//!
//! ## Speed
//!
//! The archive is memory-mapped; every member's header is read first, so
//! sizes are cross-checked before any large member is decompressed; the
//! large members (`data`, `indices`) are then inflated in parallel with
//! libdeflate, each straight into the vector the sprs matrix will own.
//! Densifying writes each stored value once into fresh zeroed memory
//! (huge pages advised), on all cores for large outputs.

mod dense;
mod element;
mod member;
mod parts;
mod read;
mod stored;
mod structure;
mod write;
mod zip;

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use sprs::{CsMatBase, CsMatI, SpIndex};

use element::{with_values, Values};
pub use element::{CsMatrix, SparseElement, SparseIndex};
pub use parts::{read_npz_parts, read_npz_parts_bytes, NpzPart, NpzParts, PartBytes};
pub use stored::{read_npz_stored, read_npz_stored_bytes, StoredMatrix, StoredView};
pub use write::{write_npz_members, write_npz_with, NpzOptions};

use crate::error::{Error, ErrorKind, Result, SparseError};
use crate::npy::{Dtype, Element, ElementKind, Header, NpyArray, OpenedFile};

/// The sparse format of a matrix as stored in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SparseFormat {
    /// Compressed sparse columns (`csc_array`, `csc_matrix`).
    Csc,
    /// Compressed sparse rows (`csr_array`, `csr_matrix`).
    Csr,
    /// Coordinates (`coo_array`, `coo_matrix`): `row`, `col`, `data`.
    Coo,
    /// Block sparse rows (`bsr_array`, `bsr_matrix`): `data` of shape
    /// `(blocks, R, C)`, `indices` (block columns), `indptr` (per block row).
    /// Held as CSR.
    Bsr,
    /// Diagonals (`dia_array`, `dia_matrix`): `data` of shape
    /// `(diagonals, L)` and `offsets`. Held as CSC.
    Dia,
}

impl SparseFormat {
    /// scipy's name: `"csc"`, `"csr"`, `"coo"`, `"bsr"` or `"dia"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SparseFormat::Csc => "csc",
            SparseFormat::Csr => "csr",
            SparseFormat::Coo => "coo",
            SparseFormat::Bsr => "bsr",
            SparseFormat::Dia => "dia",
        }
    }

    /// The sparse storage onedata holds a matrix of this format in: CSC for
    /// `csc` and `dia` (what scipy's `dia.tocsc()` gives directly), CSR for
    /// `csr`, `coo` and `bsr` (scipy's `tocsr()`).
    pub const fn held_as(self) -> SparseFormat {
        match self {
            SparseFormat::Csc | SparseFormat::Dia => SparseFormat::Csc,
            SparseFormat::Csr | SparseFormat::Coo | SparseFormat::Bsr => SparseFormat::Csr,
        }
    }
}

impl std::fmt::Display for SparseFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sparse matrix loaded from a scipy `.npz` file.
///
/// It holds a canonical sprs matrix (indices sorted and unique in each lane)
/// of the file's element type with `i32` or `i64` indices: CSC for `csc`
/// and `dia` files, CSR for `csr`, `coo` and `bsr` files. Typed access goes through
/// [`SparseMatrix::cs`] or [`SparseMatrix::csmat`].
#[derive(Clone)]
pub struct SparseMatrix {
    path: Arc<Path>,
    format: SparseFormat,
    shape: [usize; 2],
    is_array: bool,
    nnz: usize,
    canonical: bool,
    values: Values,
}

impl std::fmt::Debug for SparseMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseMatrix")
            .field("path", &self.path)
            .field("format", &self.format.as_str())
            .field("shape", &self.shape)
            .field("nnz", &self.nnz)
            .field("dtype", &self.dtype().descr())
            .field("index", &self.index_kind().native_descr())
            .field("is_array", &self.is_array)
            .field("canonical", &self.canonical)
            .finish()
    }
}

/// What [`read_npz_info`] reports about a sparse `.npz` file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SparseInfo {
    /// The format as stored.
    pub format: SparseFormat,
    /// `[rows, cols]`.
    pub shape: [usize; 2],
    /// The data dtype as the file spells it (it may be big-endian).
    pub dtype: Dtype,
    /// The data's element kind.
    pub kind: ElementKind,
    /// The dtype of `indices` (`row` for COO, `offsets` for DIA) as the file
    /// spells it.
    pub index_dtype: Dtype,
    /// Stored entries, duplicates included: scipy's `.nnz` (see
    /// [`SparseMatrix::nnz`] for `bsr` and `dia`).
    pub nnz: usize,
    /// Whether the file holds a sparse array (`_is_array`), not a matrix.
    pub is_array: bool,
}

/// Opens `path`, maps it and runs `f` on its zip directory.
fn with_archive<R>(
    path: &Path,
    f: impl FnOnce(&zip::Archive<'_>) -> Result<R, SparseError>,
) -> Result<R> {
    with_opened_archive(&OpenedFile::open(path)?, f)
}

/// Maps a file already opened and runs `f` on its zip directory.
pub(crate) fn with_opened_archive<R>(
    file: &OpenedFile<'_>,
    f: impl FnOnce(&zip::Archive<'_>) -> Result<R, SparseError>,
) -> Result<R> {
    let path = file.path();
    if file.len() < 22 {
        return Err(Error::invalid(
            path,
            SparseError::NotZip("too short to be a zip archive"),
        ));
    }
    let storage = file.map()?;
    with_archive_bytes(path, storage.as_bytes(), f)
}

/// The matrix an opened archive holds.
fn read_matrix(archive: &zip::Archive<'_>, path: &Path) -> Result<SparseMatrix, SparseError> {
    let meta = read::read_meta(archive)?;
    match meta.format {
        SparseFormat::Csc | SparseFormat::Csr => read::read_compressed(archive, &meta, path),
        SparseFormat::Coo => read::read_coo(archive, &meta, path),
        SparseFormat::Bsr => read::read_bsr(archive, &meta, path),
        SparseFormat::Dia => read::read_dia(archive, &meta, path),
    }
}

/// Loads the scipy sparse matrix in the `.npz` file at `path`, as
/// `scipy.sparse.load_npz` does, into a canonical sprs matrix.
///
/// Large members are decompressed in parallel, straight into the vectors
/// the sprs matrix owns.
pub fn read_npz(path: impl AsRef<Path>) -> Result<SparseMatrix> {
    let path = path.as_ref();
    with_archive(path, |archive| read_matrix(archive, path))
}

/// Reads format, shape, dtypes and nnz of a sparse `.npz` file from its
/// headers and small members, without decompressing data or indices (for
/// `onedata info` and `ls`).
pub fn read_npz_info(path: impl AsRef<Path>) -> Result<SparseInfo> {
    let path = path.as_ref();
    with_archive(path, read::read_info)
}

/// [`read_npz_info`] of a file already opened.
pub(crate) fn read_opened_npz_info(file: &OpenedFile<'_>) -> Result<SparseInfo> {
    with_opened_archive(file, read::read_info)
}

// ---------------------------------------------------------------------------
// FUZZING SHIM, used only by fuzz/fuzz_targets/npz.rs: `read_npz` and
// `read_npz_info` on an archive held in memory instead of a mapped file.
// Hidden and not part of the API; it may change or go away at any time.

/// [`with_archive`] on bytes already in memory (`path` names them in errors).
fn with_archive_bytes<R>(
    path: &Path,
    bytes: &[u8],
    f: impl FnOnce(&zip::Archive<'_>) -> Result<R, SparseError>,
) -> Result<R> {
    if bytes.len() < 22 {
        return Err(Error::invalid(
            path,
            SparseError::NotZip("too short to be a zip archive"),
        ));
    }
    let archive = zip::Archive::parse(bytes).map_err(|e| Error::invalid(path, e))?;
    f(&archive).map_err(|e| Error::invalid(path, e))
}

/// Fuzzing shim: [`read_npz`] on the bytes of an `.npz` file.
#[doc(hidden)]
pub fn read_npz_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<SparseMatrix> {
    let path = path.as_ref();
    with_archive_bytes(path, bytes, |archive| read_matrix(archive, path))
}

/// Fuzzing shim: [`read_npz_info`] on the bytes of an `.npz` file.
#[doc(hidden)]
pub fn read_npz_info_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<SparseInfo> {
    with_archive_bytes(path.as_ref(), bytes, read::read_info)
}

// END OF FUZZING SHIM
// ---------------------------------------------------------------------------

/// Writes `matrix` (CSC or CSR, any element type but `f16`, which scipy
/// refuses, any sprs index type) to `path` as `scipy.sparse.save_npz`
/// writes a `csc_array` (or `csr_array`): members `indices`, `indptr`,
/// `format`, `shape`, `data`, `_is_array`, indices as `int32` unless the
/// shape or nnz needs `int64`, deflated when `compressed` (`save_npz`'s
/// default), stored otherwise. The file is written atomically.
///
/// Stored files are byte for byte what `save_npz(..., compressed=False)`
/// writes for the same matrix with int32 indices.
pub fn write_npz<N, I, Iptr, IpS, IS, DS>(
    path: impl AsRef<Path>,
    matrix: &CsMatBase<N, I, IpS, IS, DS, Iptr>,
    compressed: bool,
) -> Result<()>
where
    N: Element,
    I: SpIndex + bytemuck::NoUninit,
    Iptr: SpIndex + bytemuck::NoUninit,
    IpS: Deref<Target = [Iptr]>,
    IS: Deref<Target = [I]>,
    DS: Deref<Target = [N]>,
{
    write::write_cs(path.as_ref(), matrix, compressed, true)
}

impl SparseMatrix {
    pub(crate) fn from_values(
        path: &Path,
        meta: &read::Meta,
        values: Values,
        nnz: usize,
        canonical: bool,
    ) -> SparseMatrix {
        SparseMatrix {
            path: Arc::from(path),
            format: meta.format,
            shape: meta.shape,
            is_array: meta.is_array,
            nnz,
            canonical,
            values,
        }
    }

    /// Wraps a sprs matrix (a `csc_array` or `csr_array` as its storage
    /// says); `path` names it in errors.
    pub fn from_csmat<T: SparseElement, I: SparseIndex>(
        path: impl AsRef<Path>,
        matrix: CsMatI<T, I>,
    ) -> SparseMatrix {
        SparseMatrix {
            path: Arc::from(path.as_ref()),
            format: if matrix.is_csc() {
                SparseFormat::Csc
            } else {
                SparseFormat::Csr
            },
            shape: [matrix.rows(), matrix.cols()],
            is_array: true,
            nnz: matrix.nnz(),
            canonical: true,
            values: T::wrap(I::wrap_cs(matrix)),
        }
    }

    /// The file the matrix came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format as stored in the file, not the storage held: `coo` and
    /// `bsr` files are held as CSR, `dia` files as CSC (see
    /// [`SparseFormat::held_as`]).
    pub fn format(&self) -> SparseFormat {
        self.format
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }

    /// Stored entries as scipy's `.nnz` counts them after loading:
    /// duplicates and explicit zeros included. For `bsr` files, every
    /// element of the blocks in use (`indptr[-1] * R * C`); for `dia` files,
    /// scipy's count from the offsets alone (`min(M, N - k)` per offset `k >
    /// 0`, `min(M + k, N)` otherwise, zeros included; 0 if that sum is
    /// negative), which may differ from the entries held.
    pub fn nnz(&self) -> usize {
        self.nnz
    }

    /// Whether the file was canonical already: indices sorted within each
    /// lane, no duplicates (for COO: ordered by row, then column; for BSR:
    /// block columns strictly increasing in each block row; DIA files,
    /// which cannot repeat a position, always are).
    pub fn is_canonical(&self) -> bool {
        self.canonical
    }

    /// The element kind of the data.
    pub fn kind(&self) -> ElementKind {
        self.values.kind()
    }

    /// The data dtype, in native byte order (as held in memory).
    pub fn dtype(&self) -> Dtype {
        Dtype::native(self.kind())
    }

    /// The index type held: `I32` or `I64`.
    pub fn index_kind(&self) -> ElementKind {
        with_values!(&self.values, m, T => m.index_kind())
    }

    /// Whether the file held a sparse array (`_is_array`) rather than a
    /// legacy sparse matrix.
    pub fn is_array(&self) -> bool {
        self.is_array
    }

    /// Heap bytes held by the matrix's index pointer, indices and data.
    pub fn owned_bytes(&self) -> usize {
        with_values!(&self.values, m, T => m.owned_bytes())
    }

    fn type_mismatch(&self, requested: &'static str, found: String) -> Error {
        Error::new(ErrorKind::TypeMismatch {
            path: self.path.to_path_buf(),
            requested,
            found,
        })
    }

    /// The matrix as `T` elements, with whichever index type it holds.
    pub fn cs<T: SparseElement>(&self) -> Result<&CsMatrix<T>> {
        T::peek(&self.values)
            .ok_or_else(|| self.type_mismatch(T::KIND.native_descr(), self.dtype().descr()))
    }

    /// The sprs matrix with element type `T` and index type `I`, or a
    /// [`ErrorKind::TypeMismatch`] naming what it holds.
    pub fn csmat<T: SparseElement, I: SparseIndex>(&self) -> Result<&CsMatI<T, I>> {
        let cs = self.cs::<T>()?;
        I::peek(cs).ok_or_else(|| {
            self.type_mismatch(
                <I as SparseIndex>::KIND.native_descr(),
                cs.index_kind().native_descr().to_string(),
            )
        })
    }

    /// The matrix as `T` elements, by value (no copy); `Err(self)` if it
    /// holds another element type.
    pub fn into_cs<T: SparseElement>(self) -> std::result::Result<CsMatrix<T>, Box<SparseMatrix>> {
        let SparseMatrix {
            path,
            format,
            shape,
            is_array,
            nnz,
            canonical,
            values,
        } = self;
        T::take(values).map_err(|values| {
            Box::new(SparseMatrix {
                path,
                format,
                shape,
                is_array,
                nnz,
                canonical,
                values,
            })
        })
    }

    /// The dense array scipy's `toarray()` gives, in C order: an owned
    /// [`NpyArray`] of the data's dtype. Duplicates are summed and `-0.0`
    /// becomes `0.0`, as in scipy.
    pub fn to_dense(&self) -> Result<NpyArray> {
        self.dense(false)
    }

    /// Like [`SparseMatrix::to_dense`], in Fortran order: the memory order
    /// scipy's `toarray()` gives for CSC matrices (and the cheaper one to
    /// fill from them).
    pub fn to_dense_fortran(&self) -> Result<NpyArray> {
        self.dense(true)
    }

    /// The dense array scipy's `toarray()` gives, in the memory order it
    /// gives it: Fortran order for `csc` files, C order for `csr`, `coo`,
    /// `bsr` and `dia` files. This is what `loadone` returns for a sparse file loaded dense.
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use onedata::sparse::{read_npz, write_npz};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("m.npz");
    /// let csc = sprs::TriMat::<f32>::from_triplets((2, 3), vec![0, 1], vec![2, 0], vec![1.5, -2.0])
    ///     .to_csc::<usize>();
    /// write_npz(&path, &csc, true)?;
    /// let dense = read_npz(&path)?.toarray()?;
    /// assert!(dense.is_fortran());
    /// assert_eq!(dense.view2::<f32>()?, ndarray::arr2(&[[0.0, 0.0, 1.5], [-2.0, 0.0, 0.0]]));
    /// # Ok(()) }
    /// ```
    pub fn toarray(&self) -> Result<NpyArray> {
        self.dense(self.format == SparseFormat::Csc)
    }

    fn dense(&self, fortran: bool) -> Result<NpyArray> {
        let [rows, cols] = self.shape;
        let kind = self.kind();
        let bytes = (rows as u128) * (cols as u128) * (kind.itemsize() as u128);
        let too_large = || {
            Error::invalid(
                &*self.path,
                SparseError::TooLarge {
                    what: format!("a dense {rows} x {cols} array of {}", kind.native_descr()),
                    bytes,
                },
            )
        };
        let len = usize::try_from(bytes)
            .ok()
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(too_large)?;
        let mut buf = crate::npy::AlignedBuf::try_zeroed(len).ok_or_else(too_large)?;
        with_values!(&self.values, m, T => {
            let out: &mut [T] = bytemuck::cast_slice_mut(buf.as_bytes_mut());
            match m {
                CsMatrix::I32(m) => dense::densify(m, fortran, out),
                CsMatrix::I64(m) => dense::densify(m, fortran, out),
            }
        });
        let header = Header::new(Dtype::native(kind), fortran, &[rows, cols]);
        NpyArray::from_parts(&self.path, header, buf)
    }

    /// Writes the matrix to `path` as scipy's `save_npz` would write the
    /// storage held: CSC and DIA files as `csc`, CSR, COO and BSR files as
    /// `csr`, `_is_array` as read.
    pub fn write_npz(&self, path: impl AsRef<Path>, compressed: bool) -> Result<()> {
        let path = path.as_ref();
        with_values!(&self.values, m, T => match m {
            CsMatrix::I32(m) => write::write_cs(path, m, compressed, self.is_array),
            CsMatrix::I64(m) => write::write_cs(path, m, compressed, self.is_array),
        })
    }
}
