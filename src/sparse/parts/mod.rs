//! The members of a sparse `.npz` archive as `scipy.sparse.load_npz` hands
//! them to scipy's constructors: [`read_npz_parts`] gives, for the format the
//! file holds (csc, csr, coo, bsr or dia), its `data` member exactly as
//! `np.load` reads it (dtype and byte order as stored) and its index members
//! (`indices`/`indptr`, `row`/`col` or `offsets`) already in the one native
//! index dtype scipy's constructor would pick for them, so that building the
//! scipy object over them copies nothing. Members stored aligned in the file
//! stay views of the map (zero copy); deflated ones are inflated once.
//!
//! Unlike `load_npz`, the structure is checked in full before anything is
//! handed out (`O(entries)`): index pointers start at 0, never decrease and
//! end within the entries, every index lies inside the shape, lengths agree,
//! BSR blocks tile the shape, DIA offsets are unique. So scipy's compiled
//! routines never see an index outside the matrix. Entries are left in the
//! file's order (COO coordinates included); [`NpzParts::is_canonical`] says
//! whether they were already sorted and free of duplicates.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::zip::Archive;
use super::{read, SparseFormat};
use crate::error::{Error, Result, SparseError};
use crate::npy::{AlignedBuf, Dtype, ElementKind, OpenedFile, Storage};

mod check;
mod raw;

use check::{check_coo, ints, lanes};
use raw::{raw, same_len, Raw};

/// The bytes of one member: a range of the mapped file, or memory onedata
/// decoded. Cheap to clone (the memory is shared).
#[derive(Clone)]
pub struct PartBytes {
    storage: Arc<Storage>,
    range: Range<usize>,
}

impl PartBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // The range was taken from these very bytes; `get` keeps this total.
        self.storage
            .as_bytes()
            .get(self.range.clone())
            .unwrap_or(&[])
    }

    /// Whether the bytes are a view of the mapped file (not a copy).
    pub fn is_mapped(&self) -> bool {
        self.storage.is_mapped()
    }

    /// Whether no other program can change these bytes (see
    /// [`NpyArray::is_protected`](crate::npy::NpyArray::is_protected)).
    pub fn is_protected(&self) -> bool {
        self.storage.is_protected()
    }

    fn owned(buf: AlignedBuf) -> PartBytes {
        let len = buf.len();
        PartBytes {
            storage: Arc::new(Storage::Owned(buf)),
            range: 0..len,
        }
    }
}

impl std::fmt::Debug for PartBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartBytes")
            .field("len", &self.range.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// One member of the archive, ready to become a numpy array.
#[derive(Debug, Clone)]
pub struct NpzPart {
    name: &'static str,
    dtype: Dtype,
    shape: Vec<usize>,
    fortran: bool,
    bytes: PartBytes,
}

impl NpzPart {
    /// The member's key: `"data"`, `"indices"`, `"indptr"`, `"row"`,
    /// `"col"` or `"offsets"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The dtype of the bytes: as stored for `data`, the native index dtype
    /// ([`NpzParts::index_kind`]) for index members.
    pub fn dtype(&self) -> &Dtype {
        &self.dtype
    }

    /// The shape (1-d but for `data` of `dia` (2-d) and `bsr` (3-d) files).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Whether the bytes are in Fortran order.
    pub fn is_fortran(&self) -> bool {
        self.fortran
    }

    /// The bytes (exactly shape x itemsize of them).
    pub fn bytes(&self) -> &PartBytes {
        &self.bytes
    }
}

/// A sparse `.npz` file's members, checked, as scipy's constructor for its
/// format takes them (see the [`sparse`](crate::sparse) docs).
#[derive(Debug, Clone)]
pub struct NpzParts {
    path: Arc<Path>,
    format: SparseFormat,
    shape: [usize; 2],
    is_array: bool,
    index_kind: ElementKind,
    canonical: bool,
    parts: Vec<NpzPart>,
}

impl NpzParts {
    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format as stored.
    pub fn format(&self) -> SparseFormat {
        self.format
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }

    /// Whether the file holds a sparse array (`_is_array`), not a matrix.
    pub fn is_array(&self) -> bool {
        self.is_array
    }

    /// `I32` or `I64`: the index dtype scipy's constructor picks for this
    /// file (its `get_index_dtype`: `int32` unless a dimension needs
    /// `int64`, or an index member's dtype does not cast safely to `int32`
    /// (`int64`, `uint32`, `uint64`) and, for a sparse matrix, whose scipy
    /// class checks contents, some value of it lies outside `int32`; for
    /// `dia` from the shape alone). Every index member has it.
    pub fn index_kind(&self) -> ElementKind {
        self.index_kind
    }

    /// Whether the entries are sorted and free of duplicates: indices
    /// strictly increasing in every lane (csc, csr; block columns in every
    /// block row for bsr), or coordinates strictly increasing by row, then
    /// column (coo). Always false for `dia`, which has no such notion.
    pub fn is_canonical(&self) -> bool {
        self.canonical
    }

    /// The members, in the order scipy's constructor takes them: `data`
    /// first, then `indices`, `indptr` (or `row`, `col`, or `offsets`).
    pub fn parts(&self) -> &[NpzPart] {
        &self.parts
    }

    /// The member named `name`, if the format has it.
    pub fn part(&self, name: &str) -> Option<&NpzPart> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// Whether every member is a view of the mapped file: nothing copied.
    pub fn is_mapped(&self) -> bool {
        self.parts.iter().all(|p| p.bytes.is_mapped())
    }
}

/// Reads the members of the sparse `.npz` file at `path` as scipy's
/// constructor for its format takes them, after checking its structure in
/// full (see the [`sparse`](crate::sparse) docs).
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::sparse::{read_npz_parts, write_npz_with, NpzOptions, SparseFormat};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("m.npz");
/// let m = sprs::CsMatI::<f64, i32>::new_csc((3, 2), vec![0, 1, 2], vec![0, 2], vec![1.5, -2.0]);
/// write_npz_with(&path, &m, NpzOptions::ALIGNED)?;
///
/// let parts = read_npz_parts(&path)?;
/// assert_eq!(parts.format(), SparseFormat::Csc);
/// assert!(parts.is_mapped() && parts.is_canonical());
/// let data = parts.part("data").unwrap();
/// assert_eq!(data.dtype().descr(), "<f8");
/// assert_eq!(data.bytes().as_bytes(), bytemuck::cast_slice::<f64, u8>(&[1.5, -2.0]));
/// assert_eq!(parts.part("indptr").unwrap().shape(), &[3]);
/// # Ok(()) }
/// ```
pub fn read_npz_parts(path: impl AsRef<Path>) -> Result<NpzParts> {
    let path = path.as_ref();
    let file = OpenedFile::open(path)?;
    if file.len() < 22 {
        return Err(Error::invalid(
            path,
            SparseError::NotZip("too short to be a zip archive"),
        ));
    }
    from_storage(path, Arc::new(file.map()?))
}

/// Fuzzing and test shim: [`read_npz_parts`] on bytes held in memory.
#[doc(hidden)]
pub fn read_npz_parts_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<NpzParts> {
    let copy = AlignedBuf::try_copy_from(bytes).ok_or_else(|| {
        Error::out_of_memory(
            format!("a copy of {}", path.as_ref().display()),
            bytes.len() as u128,
        )
    })?;
    from_storage(path.as_ref(), Arc::new(Storage::Owned(copy)))
}

fn from_storage(path: &Path, storage: Arc<Storage>) -> Result<NpzParts> {
    let parsed = {
        let bytes = storage.as_bytes();
        if bytes.len() < 22 {
            Err(SparseError::NotZip("too short to be a zip archive"))
        } else {
            Archive::parse(bytes).and_then(|a| parse(&a, bytes, &storage))
        }
    };
    let mut parts = parsed.map_err(|e| Error::invalid(path, e))?;
    parts.path = Arc::from(path);
    Ok(parts)
}

fn parse(
    archive: &Archive<'_>,
    bytes: &[u8],
    storage: &Arc<Storage>,
) -> Result<NpzParts, SparseError> {
    let meta = read::read_meta(archive)?;
    let [rows, cols] = meta.shape;
    let biggest = rows.max(cols);
    let format = meta.format;
    let index_names: &[&'static str] = match format {
        SparseFormat::Csc | SparseFormat::Csr | SparseFormat::Bsr => &["indices", "indptr"],
        SparseFormat::Coo => &["row", "col"],
        SparseFormat::Dia => &["offsets"],
    };
    // scipy's get_index_dtype: maxval from the shape (csr and csc pass none
    // when a dimension is 0), then the index members' dtypes and contents
    // (dia passes no arrays).
    let maxval = match format {
        SparseFormat::Csc | SparseFormat::Csr if rows == 0 || cols == 0 => 0,
        _ => biggest,
    };
    // scipy checks contents for sparse matrices only (`_get_index_dtype`).
    let check_contents = !meta.is_array;
    // The values inflate on a second thread while this one reads the index
    // members and, for CSC and CSR, checks every index: inflating is most
    // of a load.
    let (data, index, wide, early) = std::thread::scope(|scope| {
        let data = scope.spawn(|| raw(archive, "data", bytes, storage, false));
        let checked = (|| {
            let index = index_names
                .iter()
                .map(|&n| raw(archive, n, bytes, storage, true))
                .collect::<Result<Vec<Raw>, _>>()?;
            for m in &index {
                m.require_dims(1)?;
            }
            let wide = maxval > i32::MAX as usize
                || (format != SparseFormat::Dia
                    && index.iter().any(|m| m.needs_int64(check_contents)));
            let minor = match format {
                SparseFormat::Csc => Some(rows),
                SparseFormat::Csr => Some(cols),
                _ => None,
            };
            match minor {
                Some(minor) => {
                    let major = if format == SparseFormat::Csc {
                        cols
                    } else {
                        rows
                    };
                    let checked = lanes(index, major, minor, wide)?;
                    Ok((Vec::new(), wide, Some(checked)))
                }
                None => Ok((index, wide, None)),
            }
        })();
        let data = data
            .join()
            .unwrap_or_else(|_| Err(SparseError::BadZip("a member read failed".into())));
        let (index, wide, early) = checked?;
        Ok::<_, SparseError>((data?, index, wide, early))
    })?;
    data.require_dims(match format {
        SparseFormat::Bsr => 3,
        SparseFormat::Dia => 2,
        _ => 1,
    })?;
    let mut parts = vec![];
    let canonical;
    match format {
        SparseFormat::Csc | SparseFormat::Csr | SparseFormat::Bsr => {
            let (major, minor, entries) = if format == SparseFormat::Bsr {
                let (r, c) = (data.shape[1], data.shape[2]);
                if r == 0 || c == 0 || rows % r != 0 || cols % c != 0 {
                    return Err(SparseError::BadBlocksize {
                        member: data.member(),
                        blocksize: [r, c],
                        shape: meta.shape,
                    });
                }
                (rows / r, cols / c, data.shape[0])
            } else if format == SparseFormat::Csc {
                (cols, rows, data.len())
            } else {
                (rows, cols, data.len())
            };
            let (indices, indptr, lanes_canonical) = match early {
                // CSC and CSR: checked on the index thread.
                Some(checked) => checked,
                None => lanes(index, major, minor, wide)?,
            };
            let n_indices = indices.shape.iter().product::<usize>();
            if n_indices != entries {
                return Err(SparseError::LengthMismatch {
                    first: data.member(),
                    first_len: entries,
                    second: "indices.npy".into(),
                    second_len: n_indices,
                });
            }
            canonical = lanes_canonical;
            parts.push(data.into_part());
            parts.push(indices);
            parts.push(indptr);
        }
        SparseFormat::Coo => {
            same_len(&data, &index[0])?;
            same_len(&data, &index[1])?;
            let mut it = index.into_iter();
            let (row, col) = match (it.next(), it.next()) {
                (Some(a), Some(b)) => (a.into_index(wide)?, b.into_index(wide)?),
                _ => return Err(SparseError::MissingMember("col.npy".into())),
            };
            canonical = if wide {
                check_coo(ints::<i64>(&row)?, ints::<i64>(&col)?, rows, cols)?
            } else {
                check_coo(ints::<i32>(&row)?, ints::<i32>(&col)?, rows, cols)?
            };
            parts.push(data.into_part());
            parts.push(row);
            parts.push(col);
        }
        SparseFormat::Dia => {
            let diagonals = data.shape[0];
            let Some(offsets) = index.into_iter().next() else {
                return Err(SparseError::MissingMember("offsets.npy".into()));
            };
            if offsets.len() != diagonals {
                return Err(SparseError::LengthMismatch {
                    first: data.member(),
                    first_len: diagonals,
                    second: offsets.member(),
                    second_len: offsets.len(),
                });
            }
            let offsets = offsets.into_index(wide)?;
            let mut sorted: Vec<i64> = if wide {
                ints::<i64>(&offsets)?.to_vec()
            } else {
                ints::<i32>(&offsets)?.iter().map(|&v| v as i64).collect()
            };
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return Err(SparseError::DuplicateOffset {
                    member: "offsets.npy".into(),
                    offset: w[0] as i128,
                });
            }
            canonical = false;
            parts.push(data.into_part());
            parts.push(offsets);
        }
    }
    Ok(NpzParts {
        path: Arc::from(Path::new("")),
        format,
        shape: meta.shape,
        is_array: meta.is_array,
        index_kind: if wide {
            ElementKind::I64
        } else {
            ElementKind::I32
        },
        canonical,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error() {
        for bytes in [
            &b""[..],
            &[0u8; 40][..],
            b"PK\x05\x06garbage garbage garbage",
        ] {
            assert!(read_npz_parts_bytes("x.npz", bytes).is_err());
        }
    }

    #[test]
    fn deflated_int64_indices_of_an_array_come_back_int32_when_written_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npz");
        let m = sprs::CsMatI::<f32, i64>::new(
            (2, 3),
            vec![0, 2, 3],
            vec![0, 2, 1],
            vec![1.0, 2.0, 3.0],
        );
        // write_npz writes int32 indices when they fit, as save_npz does.
        crate::sparse::write_npz(&path, &m, true).unwrap();
        let parts = read_npz_parts(&path).unwrap();
        assert_eq!(parts.index_kind(), ElementKind::I32);
        assert!(parts.is_canonical());
        assert!(!parts.is_mapped());
        let idx = parts.part("indices").unwrap();
        assert_eq!(ints::<i32>(idx).unwrap(), &[0, 2, 1]);
        assert_eq!(parts.part("data").unwrap().dtype().descr(), "<f4");
    }

    use crate::npy::Header;
    use crate::sparse::{write_npz_members, NpzOptions};

    fn header(kind: ElementKind, shape: &[usize]) -> Vec<u8> {
        Header::new(Dtype::native(kind), false, shape).to_bytes()
    }

    /// A coo file of `row`, `col` (int64) and f64 data, shape 3 x 4.
    fn coo(path: &Path, row: &[i64], col: &[i64], is_array: bool, options: NpzOptions) {
        let data: Vec<f64> = (0..row.len()).map(|i| i as f64 + 0.5).collect();
        let shape = [3i64, 4];
        let s3 = Header::new(Dtype::parse("|S3").unwrap(), false, &[]).to_bytes();
        let (hr, hc) = (
            header(ElementKind::I64, &[row.len()]),
            header(ElementKind::I64, &[col.len()]),
        );
        let (hs, hd) = (
            header(ElementKind::I64, &[2]),
            header(ElementKind::F64, &[data.len()]),
        );
        let hb = header(ElementKind::Bool, &[]);
        let mut members: Vec<(&str, &[u8], &[u8])> = vec![
            ("row", &hr, bytemuck::cast_slice(row)),
            ("col", &hc, bytemuck::cast_slice(col)),
            ("format", &s3, b"coo"),
            ("shape", &hs, bytemuck::cast_slice(&shape)),
            ("data", &hd, bytemuck::cast_slice(&data)),
        ];
        if is_array {
            members.push(("_is_array", &hb, &[1u8]));
        }
        write_npz_members(path, &members, options).unwrap();
    }

    #[test]
    fn coo_keeps_the_file_order_and_scipys_index_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.npz");
        // A sparse matrix: scipy checks contents, int64 that fits is int32.
        coo(&path, &[2, 0, 2], &[1, 3, 0], false, NpzOptions::ALIGNED);
        let parts = read_npz_parts(&path).unwrap();
        assert_eq!(parts.format(), SparseFormat::Coo);
        assert_eq!(parts.index_kind(), ElementKind::I32);
        assert!(!parts.is_canonical());
        assert_eq!(ints::<i32>(parts.part("row").unwrap()).unwrap(), &[2, 0, 2]);
        assert!(parts.part("data").unwrap().bytes().is_mapped());
        assert!(!parts.part("row").unwrap().bytes().is_mapped());
        // A sparse array: no contents check, int64 stays int64, in the map.
        coo(&path, &[0, 0, 2], &[1, 3, 0], true, NpzOptions::ALIGNED);
        let parts = read_npz_parts(&path).unwrap();
        assert_eq!(parts.index_kind(), ElementKind::I64);
        assert!(parts.is_canonical() && parts.is_mapped());
        assert_eq!(ints::<i64>(parts.part("col").unwrap()).unwrap(), &[1, 3, 0]);
    }

    #[test]
    fn out_of_bounds_and_mismatched_lengths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.npz");
        for (row, col) in [
            (&[0i64, 3][..], &[0i64, 0][..]),
            (&[0, 1], &[0, -1]),
            (&[0, 1], &[0]),
        ] {
            coo(&path, row, col, true, NpzOptions::COMPRESSED);
            let e = read_npz_parts(&path).unwrap_err();
            assert!(matches!(e.kind(), crate::ErrorKind::Invalid { .. }), "{e}");
        }
    }

    #[test]
    fn the_writer_refuses_unknown_members_and_short_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npz");
        let h = header(ElementKind::F64, &[2]);
        let two = [1.0f64, 2.0];
        let data: &[u8] = bytemuck::cast_slice(&two);
        assert!(write_npz_members(&path, &[("evil", &h, data)], NpzOptions::STORED).is_err());
        assert!(write_npz_members(&path, &[("data", &h, &data[..8])], NpzOptions::STORED).is_err());
        assert!(write_npz_members(&path, &[("data", &h[..20], data)], NpzOptions::STORED).is_err());
        assert!(!path.exists());
    }
}
