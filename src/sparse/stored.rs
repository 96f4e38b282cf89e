//! Stored sparse `.npz` files viewed in place: [`read_npz_stored`] maps the
//! archive and, for members that are stored (not deflated), native-endian
//! and aligned for their element type, hands out slices of the map itself.
//! [`write_npz_with`](super::write_npz_with) with [`NpzOptions::ALIGNED`]
//! writes files laid out so; `save_npz(..., compressed=False)` files are
//! usually not aligned and are copied once (deflated members are inflated).
//!
//! ## What is checked, and when
//!
//! Loading takes time independent of the number of stored entries: the zip
//! directory, every member's `.npy` header, the member sizes, the shape and
//! the index pointer (starts at 0, never decreases, ends within the stored
//! entries: `O(major dimension)`) are checked. Not checked on load, since
//! that would read every entry: mapped members' CRC-32, and whether each
//! index lies within the inner dimension and lanes are sorted. Nothing here
//! trusts those: every accessor of [`StoredView`] is bounds-checked, so a
//! malformed file gives wrong values (an out-of-range index is simply never
//! matched by [`StoredView::get`]) or an error, never a panic or undefined
//! behaviour. [`StoredView::to_sprs`] runs sprs's full structure check
//! (`O(nnz)`) and gives a `sprs::CsMatViewI` over the same bytes.
//!
//! The load reads no page of the map: the zip directory, the local and
//! `.npy` headers, the small members and the index pointer are read with
//! `pread` (the file's first 4 KiB when it is opened, its last 4 KiB, then
//! one read per cluster of the rest), as a dense open reads its header, and
//! checked in those copies; only what they miss is read from the map.
//!
//! [`NpzOptions::ALIGNED`]: super::NpzOptions::ALIGNED

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::element::{SparseElement, SparseIndex};
use super::member::Member;
use super::structure::check_indptr;
use super::zip::{Archive, Copies, Want};
use super::{read, SparseFormat};
use crate::error::{Error, ErrorKind, Result, SparseError};
use crate::npy::{AlignedBuf, ElementKind, OpenedFile, Storage};

/// Bytes of one member's data: a range of a shared map, or an owned copy.
#[derive(Clone)]
struct Part {
    storage: Arc<Storage>,
    range: Range<usize>,
}

impl Part {
    fn bytes(&self) -> &[u8] {
        // The range was taken from these very bytes; `get` keeps this total.
        self.storage
            .as_bytes()
            .get(self.range.clone())
            .unwrap_or(&[])
    }

    fn is_mapped(&self) -> bool {
        self.storage.is_mapped()
    }
}

/// A CSC or CSR matrix of a stored `.npz` file, its members viewed in the
/// mapped file where they can be (see the [sparse module docs](crate::sparse)). It owns the
/// map (shared through `Arc`); [`StoredMatrix::view`] borrows typed slices
/// of it.
#[derive(Clone)]
pub struct StoredMatrix {
    path: Arc<Path>,
    format: SparseFormat,
    shape: [usize; 2],
    is_array: bool,
    kind: ElementKind,
    index_kind: ElementKind,
    nnz: usize,
    indptr: Part,
    indices: Part,
    data: Part,
}

impl std::fmt::Debug for StoredMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredMatrix")
            .field("path", &self.path)
            .field("format", &self.format.as_str())
            .field("shape", &self.shape)
            .field("nnz", &self.nnz)
            .field("dtype", &self.kind.native_descr())
            .field("index", &self.index_kind.native_descr())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// A borrowed CSC or CSR matrix: slices of a [`StoredMatrix`]'s bytes.
/// The index pointer is known valid (starts at 0, never decreases, ends at
/// most at the length of `indices` and `data`, which are equal); indices
/// are not checked against the inner dimension.
#[derive(Debug, Clone, Copy)]
pub struct StoredView<'a, T, I> {
    csc: bool,
    shape: [usize; 2],
    indptr: &'a [I],
    indices: &'a [I],
    data: &'a [T],
}

/// Loads the CSC or CSR matrix of the `.npz` file at `path` without
/// decoding it: members stored native-endian and aligned are viewed in the
/// map (zero copy, see [`StoredMatrix::is_mapped`]), the others are read
/// into memory once. In time independent of the number of entries: see the
/// [sparse module docs](crate::sparse) for what is checked.
///
/// Refused (use [`read_npz`](super::read_npz)): COO files, and index
/// members that are not both `int32` or both `int64`.
pub fn read_npz_stored(path: impl AsRef<Path>) -> Result<StoredMatrix> {
    let path = path.as_ref();
    let file = OpenedFile::open(path)?;
    if file.len() < 22 {
        return Err(Error::invalid(
            path,
            SparseError::NotZip("too short to be a zip archive"),
        ));
    }
    let storage = Arc::new(file.map()?);
    let len = storage.as_bytes().len();
    let head = file.prefix();
    from_storage(path, storage, &head[..head.len().min(len)], |at, n| {
        file.read_at(at, n)
    })
}

/// Fuzzing and test shim: [`read_npz_stored`] on bytes held in memory
/// (copied once into an aligned buffer; nothing is mapped). The reads the
/// file path makes with `pread` are copies of these bytes, so that the
/// same code runs.
#[doc(hidden)]
pub fn read_npz_stored_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<StoredMatrix> {
    let copy = AlignedBuf::try_copy_from(bytes).ok_or_else(|| {
        Error::out_of_memory(
            format!("a copy of {}", path.as_ref().display()),
            bytes.len() as u128,
        )
    })?;
    let storage = Arc::new(Storage::Owned(copy));
    let head = &bytes[..bytes.len().min(HEAD)];
    let head = AlignedBuf::copy_from(head);
    from_storage(path.as_ref(), storage, head.as_bytes(), |at, n| {
        let end = at.saturating_add(n).min(bytes.len());
        Ok(AlignedBuf::copy_from(bytes.get(at..end).unwrap_or(&[])))
    })
}

/// Bytes the in-memory shim copies as the file's first read (as
/// [`OpenedFile::open`] reads them).
const HEAD: usize = 4096;
/// Bytes read from the end of the file with one `pread` for the zip end
/// record and directory (a stored sparse file's directory and last member
/// take under 1 KiB; a longer directory is read from the map).
const TAIL: usize = 4096;

/// The members a stored load parses, and how much of each it reads first.
const WANTED: [(&str, Want); 6] = [
    ("format", Want::Whole),
    ("shape", Want::Whole),
    ("_is_array", Want::Whole),
    ("indptr", Want::Whole),
    ("indices", Want::Headers),
    ("data", Want::Headers),
];

/// Parses the archive in `storage`. Before any byte of the map is read,
/// the directory (at the end) and then the headers and small members are
/// read with `read_at` (a `pread` of the file), so that a load from a map
/// touches none of its pages: `head` is the file's first bytes, already
/// read. Where a copy misses something (a long directory or header, a
/// large index pointer), it is read from the map.
fn from_storage(
    path: &Path,
    storage: Arc<Storage>,
    head: &[u8],
    read_at: impl Fn(usize, usize) -> Result<AlignedBuf>,
) -> Result<StoredMatrix> {
    let invalid = |e| Error::invalid(path, e);
    let bytes = storage.as_bytes();
    if bytes.len() < 22 {
        return Err(invalid(SparseError::NotZip(
            "too short to be a zip archive",
        )));
    }
    let len = bytes.len();
    let mut copies = Copies::default();
    copies.push(0, head);
    // The tail, from a multiple of 64 (the copy keeps the file's alignment).
    let tail_at = len.saturating_sub(TAIL) & !63;
    let tail = if head.len() < len {
        Some(read_at(tail_at, len - tail_at)?)
    } else {
        None
    };
    if let Some(t) = &tail {
        copies.push(tail_at, t.as_bytes());
    }
    let archive = Archive::parse_with(bytes, copies.clone()).map_err(invalid)?;
    let reads = archive
        .plan(&WANTED)
        .into_iter()
        .map(|r| Ok((r.start, read_at(r.start, r.len())?)))
        .collect::<Result<Vec<_>>>()?;
    for (at, b) in &reads {
        copies.push(*at, b.as_bytes());
    }
    let archive = archive.with_copies(copies);
    let p = parse(&archive, bytes, &storage).map_err(invalid)?;
    Ok(StoredMatrix {
        path: Arc::from(path),
        ..p
    })
}

/// The member's data in place when the map can hold it as `align`-aligned
/// native elements, else an owned, byte-swapped copy.
fn part(
    m: Member<'_>,
    kind: ElementKind,
    bytes: &[u8],
    storage: &Arc<Storage>,
) -> Result<Part, SparseError> {
    let native = m.header().dtype().is_native();
    let align = std::mem::align_of::<u64>().min(kind.itemsize().max(1));
    if native {
        if let Some(data) = m.stored_data() {
            // Where the member's bytes sit in the map: pointer arithmetic on
            // two addresses of the same allocation, no dereference.
            let start = (data.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize);
            let range = start..start + data.len();
            if (data.as_ptr() as usize).is_multiple_of(align) && bytes.get(range.clone()).is_some()
            {
                return Ok(Part {
                    storage: Arc::clone(storage),
                    range,
                });
            }
        }
    }
    let len = m.data_len();
    let name = m.name().to_string();
    let mut buf = AlignedBuf::try_zeroed(len).ok_or_else(|| SparseError::TooLarge {
        what: format!("archive member {name:?}"),
        bytes: len as u128,
    })?;
    m.read_into(buf.as_bytes_mut())?;
    if !native {
        let unit = kind.swap_unit();
        if unit > 1 {
            for c in buf.as_bytes_mut().chunks_exact_mut(unit) {
                c.reverse();
            }
        }
    }
    Ok(Part {
        storage: Arc::new(Storage::Owned(buf)),
        range: 0..len,
    })
}

fn parse(
    archive: &Archive<'_>,
    bytes: &[u8],
    storage: &Arc<Storage>,
) -> Result<StoredMatrix, SparseError> {
    let meta = read::read_meta(archive)?;
    if !matches!(meta.format, SparseFormat::Csc | SparseFormat::Csr) {
        return Err(SparseError::UnsupportedFormat(
            meta.format.as_str().to_string(),
        ));
    }
    let (members, (kind, index_kind)) =
        read::open_compressed(archive, &meta, |data, indices, indptr| {
            let kind = read::data_kind(data)?;
            let index_kind = match (
                indices.header().dtype().kind(),
                indptr.header().dtype().kind(),
            ) {
                (Some(ElementKind::I32), Some(ElementKind::I32)) => ElementKind::I32,
                (Some(ElementKind::I64), Some(ElementKind::I64)) => ElementKind::I64,
                _ => {
                    return Err(read::dtype_error(
                        indices,
                        "int32 or int64 indices, with an index pointer of the same dtype",
                    ))
                }
            };
            Ok((kind, index_kind))
        })?;
    let read::Compressed {
        data,
        indices,
        indptr,
        ..
    } = members;
    let stored = data.len();
    // The index pointer is checked in the copy read beforehand when there
    // is one (the same bytes as the map's; no page of the map touched).
    let copy = indptr.stored_copy();
    let indptr = part(indptr, index_kind, bytes, storage)?;
    let check = match copy {
        Some(c) if indptr.is_mapped() => c,
        _ => indptr.bytes(),
    };
    let nnz = match index_kind {
        ElementKind::I64 => quick_indptr::<i64>(typed_or_aligned(check, &indptr)?, stored)?,
        _ => quick_indptr::<i32>(typed_or_aligned(check, &indptr)?, stored)?,
    };
    let indices = part(indices, index_kind, bytes, storage)?;
    let data = part(data, kind, bytes, storage)?;
    Ok(StoredMatrix {
        path: Arc::from(Path::new("")),
        format: meta.format,
        shape: meta.shape,
        is_array: meta.is_array,
        kind,
        index_kind,
        nnz,
        indptr,
        indices,
        data,
    })
}

/// [`check_indptr`] in the index type itself (a loop the compiler
/// vectorizes), falling back to it for the message when the check fails.
fn quick_indptr<I: SparseIndex + PartialOrd + Default>(
    indptr: &[I],
    len: usize,
) -> Result<usize, SparseError> {
    let zero = I::default();
    let ok = indptr.first().is_none_or(|&v| v == zero)
        && indptr
            .iter()
            .zip(indptr.iter().skip(1))
            .fold(true, |ok, (a, b)| ok & (a <= b))
        && indptr.last().is_none_or(|v| v.as_i128() <= len as i128);
    if ok {
        Ok(indptr.last().map_or(0, |v| v.index_unchecked()))
    } else {
        check_indptr(indptr, len)
    }
}

/// `check` as elements, or the part's own bytes when `check` is not
/// aligned for them.
fn typed_or_aligned<'b, T: bytemuck::AnyBitPattern>(
    check: &'b [u8],
    part: &'b Part,
) -> Result<&'b [T], SparseError> {
    bytemuck::try_cast_slice(check).or_else(|_| typed(part.bytes()))
}

/// Bytes as elements, or an error if they are misaligned or of a length
/// that is no multiple of the element size (never the case for parts built
/// by [`part`], which checks alignment or copies).
fn typed<T: bytemuck::AnyBitPattern>(bytes: &[u8]) -> Result<&[T], SparseError> {
    bytemuck::try_cast_slice(bytes).map_err(|e| SparseError::BadZip(format!("member data: {e}")))
}

impl StoredMatrix {
    /// The file the matrix came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`SparseFormat::Csc`] or [`SparseFormat::Csr`].
    pub fn format(&self) -> SparseFormat {
        self.format
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }

    /// Entries up to the index pointer's end (scipy's `.nnz`).
    pub fn nnz(&self) -> usize {
        self.nnz
    }

    /// The data's element kind (held in native byte order).
    pub fn kind(&self) -> ElementKind {
        self.kind
    }

    /// `I32` or `I64`: the type of `indptr` and `indices`.
    pub fn index_kind(&self) -> ElementKind {
        self.index_kind
    }

    /// Whether the file held a sparse array (`_is_array`).
    pub fn is_array(&self) -> bool {
        self.is_array
    }

    /// Whether the index pointer, indices and data are all views of the
    /// mapped file: the load copied nothing.
    pub fn is_mapped(&self) -> bool {
        self.indptr.is_mapped() && self.indices.is_mapped() && self.data.is_mapped()
    }

    /// Bytes copied into memory by the load (zero when [`is_mapped`](Self::is_mapped)).
    pub fn owned_bytes(&self) -> usize {
        [&self.indptr, &self.indices, &self.data]
            .iter()
            .filter(|p| !p.is_mapped())
            .map(|p| p.range.len())
            .sum()
    }

    /// The addresses the map spans, when the data is viewed in it (for
    /// tests that check a view lies inside the map).
    #[doc(hidden)]
    pub fn map_address_range(&self) -> Option<Range<usize>> {
        let s = &self.data.storage;
        s.is_mapped().then(|| {
            let b = s.as_bytes();
            b.as_ptr() as usize..b.as_ptr() as usize + b.len()
        })
    }

    fn type_mismatch(&self, requested: &'static str, found: &'static str) -> Error {
        Error::new(ErrorKind::TypeMismatch {
            path: self.path.to_path_buf(),
            requested,
            found: found.to_string(),
        })
    }

    /// The matrix as `T` elements and `I` indices, borrowing the map: a
    /// [`ErrorKind::TypeMismatch`](crate::ErrorKind::TypeMismatch) if the
    /// file holds other types. `O(1)`.
    pub fn view<T: SparseElement, I: SparseIndex>(&self) -> Result<StoredView<'_, T, I>> {
        if T::KIND != self.kind {
            return Err(self.type_mismatch(T::KIND.native_descr(), self.kind.native_descr()));
        }
        if <I as SparseIndex>::KIND != self.index_kind {
            return Err(self.type_mismatch(
                <I as SparseIndex>::KIND.native_descr(),
                self.index_kind.native_descr(),
            ));
        }
        let invalid = |e| Error::invalid(&*self.path, e);
        let indptr: &[I] = typed(self.indptr.bytes()).map_err(invalid)?;
        let indices: &[I] = typed(self.indices.bytes()).map_err(invalid)?;
        let data: &[T] = typed(self.data.bytes()).map_err(invalid)?;
        // Cut to the index pointer's end, as scipy does.
        let nnz = self.nnz.min(indices.len()).min(data.len());
        Ok(StoredView {
            csc: self.format == SparseFormat::Csc,
            shape: self.shape,
            indptr,
            indices: &indices[..nnz],
            data: &data[..nnz],
        })
    }
}

impl<'a, T, I: SparseIndex> StoredView<'a, T, I> {
    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }

    /// Whether lanes are columns (CSC) rather than rows (CSR).
    pub fn is_csc(&self) -> bool {
        self.csc
    }

    /// Stored entries.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// The index pointer (major dimension plus one entries).
    pub fn indptr(&self) -> &'a [I] {
        self.indptr
    }

    /// The inner indices of every entry, lane after lane (unchecked against
    /// the inner dimension).
    pub fn indices(&self) -> &'a [I] {
        self.indices
    }

    /// The stored values, lane after lane.
    pub fn data(&self) -> &'a [T] {
        self.data
    }

    /// Columns for CSC, rows for CSR.
    pub fn lanes(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// The indices and values of lane `k` (column `k` for CSC, row `k` for
    /// CSR), or `None` past the last lane.
    pub fn lane(&self, k: usize) -> Option<(&'a [I], &'a [T])> {
        let start = self.indptr.get(k)?.index_unchecked();
        let end = self.indptr.get(k.checked_add(1)?)?.index_unchecked();
        Some((self.indices.get(start..end)?, self.data.get(start..end)?))
    }

    /// The first value stored at `(row, col)`, or `None` if there is none
    /// (or the position is outside the shape). `O(entries in the lane)`;
    /// lanes need not be sorted.
    pub fn get(&self, row: usize, col: usize) -> Option<&'a T> {
        if row >= self.shape[0] || col >= self.shape[1] {
            return None;
        }
        let (major, minor) = if self.csc { (col, row) } else { (row, col) };
        let (idx, vals) = self.lane(major)?;
        let at = idx.iter().position(|i| i.as_i128() == minor as i128)?;
        vals.get(at)
    }

    /// A sprs view over the same bytes, after sprs's full structure check
    /// (`O(nnz)`: indices within the inner dimension, sorted and unique in
    /// each lane), or the [`SparseError::BadIndptr`]-style fault it found.
    pub fn to_sprs(&self) -> std::result::Result<sprs::CsMatViewI<'a, T, I>, SparseError> {
        let shape = (self.shape[0], self.shape[1]);
        let made = if self.csc {
            sprs::CsMatViewI::try_new_csc(shape, self.indptr, self.indices, self.data)
        } else {
            sprs::CsMatViewI::try_new(shape, self.indptr, self.indices, self.data)
        };
        made.map_err(|(_, _, _, e)| {
            SparseError::BadIndptr(format!("sprs refuses the structure: {e}"))
        })
    }
}
