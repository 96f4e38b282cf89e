//! Reading an `.npz` archive written by `scipy.sparse.save_npz`: the small
//! members first (format, shape, `_is_array`), then every member's header
//! (so sizes are cross-checked before anything large is decompressed), then
//! the large members, in parallel, straight into the vectors sprs will own.

use super::element::{SparseElement, SparseIndex};
use super::member::{self, Member};
use std::sync::atomic::{AtomicBool, Ordering};

use super::structure::{
    bsr_to_csr, build_compressed, check_indptr, coo_to_csr, dia_nnz, dia_to_csc, try_canonical,
    Blocks, Diagonals,
};
use super::zip::Archive;
use super::{SparseFormat, SparseMatrix};
use crate::error::SparseError;
use crate::npy::{with_element_type, Dtype, ElementKind};

mod blocks;

use blocks::{block_elements, bsr_geometry, dia_dims, read_offsets};
pub(crate) use blocks::{read_bsr, read_dia};

/// Data bytes below which members are decoded one after the other.
const PARALLEL_MIN_BYTES: usize = 1 << 18;

/// What the small members say.
pub(crate) struct Meta {
    pub(crate) format: SparseFormat,
    pub(crate) shape: [usize; 2],
    pub(crate) is_array: bool,
}

pub(crate) fn read_meta(archive: &Archive<'_>) -> Result<Meta, SparseError> {
    let format = read_format(member::open(archive, "format")?)?;
    let is_array = match member::open_optional(archive, "_is_array")? {
        Some(m) => read_truth(m)?,
        None => false,
    };
    let format = match format.as_str() {
        "csc" => SparseFormat::Csc,
        "csr" => SparseFormat::Csr,
        "coo" => SparseFormat::Coo,
        "bsr" => SparseFormat::Bsr,
        "dia" => SparseFormat::Dia,
        // scipy knows these (and has classes for them) but onedata does not load them.
        "lil" | "dok" => return Err(SparseError::UnsupportedFormat(format)),
        _ => return Err(SparseError::UnknownFormat(format)),
    };
    let shape = read_shape(member::open(archive, "shape")?)?;
    Ok(Meta {
        format,
        shape,
        is_array,
    })
}

fn member_shape_error(m: &Member<'_>, expected: &str) -> SparseError {
    SparseError::MemberShape {
        member: m.name().to_string(),
        found: m.header().shape().to_vec(),
        expected: expected.to_string(),
    }
}

/// The `format` member: a bytes (`|S3`) or, from old scipy, str (`<U3`)
/// scalar, as `.item()` reads it (trailing NULs dropped).
fn read_format(m: Member<'_>) -> Result<String, SparseError> {
    let descr = m.header().dtype().descr();
    let (is_str, big) = match descr.as_bytes() {
        [b'|', b'S', ..] => (false, false),
        [b'<', b'U', ..] => (true, false),
        [b'>', b'U', ..] => (true, true),
        _ => {
            return Err(SparseError::MemberDtype {
                member: m.name().to_string(),
                found: descr,
                expected: "a bytes scalar (|S3)",
            })
        }
    };
    if m.len() != 1 {
        return Err(member_shape_error(&m, "a single string"));
    }
    if m.data_len() > 4096 {
        return Err(SparseError::UnknownFormat(format!(
            "(a {}-byte string)",
            m.data_len()
        )));
    }
    let bytes = m.read_bytes()?;
    let mut text = if is_str {
        bytes
            .chunks_exact(4)
            .map(|c| {
                let a = [c[0], c[1], c[2], c[3]];
                let v = if big {
                    u32::from_be_bytes(a)
                } else {
                    u32::from_le_bytes(a)
                };
                char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect::<String>()
    } else {
        // scipy decodes bytes as ASCII; anything else is unknown anyway.
        bytes.iter().map(|&b| b as char).collect::<String>()
    };
    while text.ends_with('\0') {
        text.pop();
    }
    Ok(text)
}

/// The truth of a one-element numeric member, as Python's `bool(array)`.
fn read_truth(m: Member<'_>) -> Result<bool, SparseError> {
    let kind = m
        .header()
        .dtype()
        .kind()
        .ok_or_else(|| SparseError::MemberDtype {
            member: m.name().to_string(),
            found: m.header().dtype().descr(),
            expected: "a bool or numeric scalar",
        })?;
    if m.len() != 1 {
        return Err(member_shape_error(&m, "a single value"));
    }
    let big = !m.header().dtype().is_native();
    let mut bytes = m.read_bytes()?;
    if big {
        for c in bytes.chunks_exact_mut(kind.swap_unit()) {
            c.reverse();
        }
    }
    let float_nonzero = |unit: usize| {
        // Zero whatever the sign: every bit but the sign bit is clear.
        bytes.chunks_exact(unit).any(|c| {
            let mut c = c.to_vec();
            let top = if cfg!(target_endian = "little") {
                unit - 1
            } else {
                0
            };
            c[top] &= 0x7f;
            c.iter().any(|&b| b != 0)
        })
    };
    Ok(match kind {
        ElementKind::F16 => float_nonzero(2),
        ElementKind::F32 | ElementKind::C64 => float_nonzero(4),
        ElementKind::F64 | ElementKind::C128 => float_nonzero(8),
        _ => bytes.iter().any(|&b| b != 0),
    })
}

/// The `shape` member: integers, two of them, none negative.
fn read_shape(m: Member<'_>) -> Result<[usize; 2], SparseError> {
    let kind = integer_kind(&m)?;
    if m.header().shape().len() != 1 || m.len() > crate::npy::MAX_DIMS {
        return Err(member_shape_error(&m, "a 1-d array of 2 integers"));
    }
    let values = read_ints_i128(m, kind)?;
    let shape = values.clone();
    if values.len() != 2 {
        return Err(SparseError::BadShape {
            shape,
            reason: "only 2-d sparse matrices are supported",
        });
    }
    let mut out = [0usize; 2];
    for (o, &v) in out.iter_mut().zip(&values) {
        if v < 0 {
            return Err(SparseError::BadShape {
                shape,
                reason: "dimensions cannot be negative",
            });
        }
        if v > i64::MAX as i128 {
            return Err(SparseError::BadShape {
                shape,
                reason: "dimension does not fit in int64",
            });
        }
        *o = usize::try_from(v).map_err(|_| SparseError::BadShape {
            shape: values.clone(),
            reason: "dimension does not fit in memory addresses",
        })?;
    }
    Ok(out)
}

/// The member's kind if it is an integer one.
fn integer_kind(m: &Member<'_>) -> Result<ElementKind, SparseError> {
    use ElementKind as K;
    match m.header().dtype().kind() {
        Some(k @ (K::I8 | K::U8 | K::I16 | K::U16 | K::I32 | K::U32 | K::I64 | K::U64)) => Ok(k),
        _ => Err(dtype_error(m, "an integer dtype")),
    }
}

/// The error for a member whose dtype is not the `expected` one.
pub(crate) fn dtype_error(m: &Member<'_>, expected: &'static str) -> SparseError {
    SparseError::MemberDtype {
        member: m.name().to_string(),
        found: m.header().dtype().descr(),
        expected,
    }
}

/// The member's kind if it is numeric (the data of a sparse matrix).
pub(crate) fn data_kind(m: &Member<'_>) -> Result<ElementKind, SparseError> {
    m.header()
        .dtype()
        .kind()
        .ok_or_else(|| dtype_error(m, "a bool, integer, float or complex dtype"))
}

fn require_1d(m: &Member<'_>) -> Result<(), SparseError> {
    if m.header().shape().len() == 1 {
        Ok(())
    } else {
        Err(member_shape_error(m, "1-d"))
    }
}

/// Integers of any kind, widened to `i128`.
fn read_ints_i128(m: Member<'_>, kind: ElementKind) -> Result<Vec<i128>, SparseError> {
    use ElementKind as K;
    Ok(match kind {
        K::I8 => widen(m.read_vec::<i8>(kind)?),
        K::U8 => widen(m.read_vec::<u8>(kind)?),
        K::I16 => widen(m.read_vec::<i16>(kind)?),
        K::U16 => widen(m.read_vec::<u16>(kind)?),
        K::I32 => widen(m.read_vec::<i32>(kind)?),
        K::U32 => widen(m.read_vec::<u32>(kind)?),
        K::I64 => widen(m.read_vec::<i64>(kind)?),
        _ => widen(m.read_vec::<u64>(kind)?),
    })
}

fn widen<X: Into<i128> + Copy>(v: Vec<X>) -> Vec<i128> {
    v.into_iter().map(Into::into).collect()
}

/// An index member decoded as `I`: straight into the vector when the file
/// holds `I`, else converted (values that do not fit are out of bounds).
fn read_index_vec<I: SparseIndex>(m: Member<'_>, kind: ElementKind) -> Result<Vec<I>, SparseError> {
    if kind == I::KIND {
        return m.read_vec::<I>(kind);
    }
    let name = m.name().to_string();
    let wide = read_ints_i128(m, kind)?;
    wide.iter()
        .enumerate()
        .map(|(k, &v)| {
            I::from_i128(v).ok_or_else(|| SparseError::IndexOutOfBounds {
                member: name.clone(),
                position: k,
                value: v,
                bound: i64::MAX as u64,
            })
        })
        .collect()
}

/// Decodes `a` on a second thread while `b` runs here, when there is
/// enough data for that to pay.
fn both<A: Send, B>(parallel: bool, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    if !parallel {
        let a = a();
        return (a, b());
    }
    std::thread::scope(|s| {
        let h = s.spawn(a);
        let b = b();
        let a = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (a, b)
    })
}

/// Whether the index arrays can stay `int32`: both members are, and sprs
/// can index the shape and nnz with it.
fn fits_i32(kinds: [ElementKind; 2], dims: &[usize]) -> bool {
    kinds.iter().all(|&k| k == ElementKind::I32) && dims.iter().all(|&d| d < i32::MAX as usize)
}

/// The `data`, `indices` and `indptr` members of a CSC or CSR file
/// (`meta.format` is one of them), opened and checked: dtypes by `kinds`
/// (which returns what the caller needs of them), then every member 1-d,
/// an index pointer of one entry more than the major dimension, and as
/// many indices as values. The one place both the decoding reader and the
/// stored one ([`read_npz_stored`](crate::sparse::read_npz_stored)) check
/// these, in the same order.
pub(crate) struct Compressed<'a> {
    pub(crate) data: Member<'a>,
    pub(crate) indices: Member<'a>,
    pub(crate) indptr: Member<'a>,
    pub(crate) csc: bool,
    /// The inner dimension (rows of a CSC matrix).
    pub(crate) minor: usize,
    /// Entries of the index pointer: the major dimension plus one.
    pub(crate) lanes_plus_one: usize,
}

/// Opens and checks the members of a CSC or CSR file (see [`Compressed`]).
pub(crate) fn open_compressed<'a, K>(
    archive: &Archive<'a>,
    meta: &Meta,
    kinds: impl FnOnce(&Member<'a>, &Member<'a>, &Member<'a>) -> Result<K, SparseError>,
) -> Result<(Compressed<'a>, K), SparseError> {
    let data = member::open(archive, "data")?;
    let indices = member::open(archive, "indices")?;
    let indptr = member::open(archive, "indptr")?;
    let kinds = kinds(&data, &indices, &indptr)?;
    for m in [&data, &indices, &indptr] {
        require_1d(m)?;
    }
    let csc = meta.format == SparseFormat::Csc;
    let [rows, cols] = meta.shape;
    let (major, minor) = if csc { (cols, rows) } else { (rows, cols) };
    let expected = major.checked_add(1).ok_or_else(|| SparseError::BadShape {
        shape: vec![rows as i128, cols as i128],
        reason: "dimension too large",
    })?;
    if indptr.len() != expected {
        return Err(SparseError::BadIndptr(format!(
            "it has {} entries, expected {expected} (the {} count plus one)",
            indptr.len(),
            if csc { "column" } else { "row" }
        )));
    }
    if indices.len() != data.len() {
        return Err(SparseError::LengthMismatch {
            first: data.name().to_string(),
            first_len: data.len(),
            second: indices.name().to_string(),
            second_len: indices.len(),
        });
    }
    let members = Compressed {
        data,
        indices,
        indptr,
        csc,
        minor,
        lanes_plus_one: expected,
    };
    Ok((members, kinds))
}

/// Reads a CSC or CSR matrix.
pub(crate) fn read_compressed(
    archive: &Archive<'_>,
    meta: &Meta,
    path: &std::path::Path,
) -> Result<SparseMatrix, SparseError> {
    let (members, (kind, ikind, pkind)) =
        open_compressed(archive, meta, |data, indices, indptr| {
            Ok((
                data_kind(data)?,
                integer_kind(indices)?,
                integer_kind(indptr)?,
            ))
        })?;
    let Compressed {
        data,
        indices,
        indptr,
        csc,
        minor,
        lanes_plus_one: expected,
    } = members;
    let stored = data.len();
    let parallel = data.data_len() + indices.data_len() >= PARALLEL_MIN_BYTES;
    let narrow = fits_i32([ikind, pkind], &[minor, expected, stored]);
    let (values, canonical, nnz) = with_element_type!(kind, T => {
        if narrow {
            compressed_as::<T, i32>(csc, meta.shape, data, kind, indices, ikind, indptr, pkind, parallel)?
        } else {
            compressed_as::<T, i64>(csc, meta.shape, data, kind, indices, ikind, indptr, pkind, parallel)?
        }
    });
    Ok(SparseMatrix::from_values(
        path, meta, values, nnz, canonical,
    ))
}

#[allow(clippy::too_many_arguments)]
fn compressed_as<T: SparseElement, I: SparseIndex>(
    csc: bool,
    shape: [usize; 2],
    data: Member<'_>,
    kind: ElementKind,
    indices: Member<'_>,
    ikind: ElementKind,
    indptr: Member<'_>,
    pkind: ElementKind,
    parallel: bool,
) -> Result<(super::element::Values, bool, usize), SparseError> {
    let stored = data.len();
    let indptr: Vec<I> = read_index_vec(indptr, pkind)?;
    let nnz = check_indptr(&indptr, stored)?;
    let shape = (shape[0], shape[1]);
    if !parallel {
        let mut indices = read_index_vec::<I>(indices, ikind)?;
        let mut data = data.read_vec::<T>(kind)?;
        // scipy's prune: entries past indptr[-1] are dropped.
        data.truncate(nnz);
        indices.truncate(nnz);
        let (m, canonical) = build_compressed(csc, shape, indptr, indices, data)?;
        return Ok((T::wrap(I::wrap_cs(m)), canonical, nnz));
    }
    // The values take longest (they compress least): they are decoded here
    // while the second thread decodes the indices and then, if the values
    // are not done yet, has sprs check the structure in the time left, on a
    // matrix whose values are copied in once they are.
    let values_done = AtomicBool::new(false);
    let (early, values) = std::thread::scope(|s| {
        let second = s.spawn(|| -> Result<Early<T, I>, SparseError> {
            let mut indices = read_index_vec::<I>(indices, ikind)?;
            indices.truncate(nnz);
            if values_done.load(Ordering::Acquire) {
                return Ok(Early::Parts(indptr, indices));
            }
            let placeholder = written_zeros::<T>(nnz)?;
            Ok(
                match try_canonical(csc, shape, indptr, indices, placeholder) {
                    Ok(m) => Early::Built(m),
                    Err((indptr, indices, _)) => Early::Parts(indptr, indices),
                },
            )
        });
        let values = data.read_vec_at::<T>(kind);
        values_done.store(true, Ordering::Release);
        let early = second
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (early, values)
    });
    let (early, (mut values, start)) = (early?, values?);
    match early {
        Early::Built(mut m) => {
            m.data_mut().copy_from_slice(&values[start..start + nnz]);
            Ok((T::wrap(I::wrap_cs(m)), true, nnz))
        }
        Early::Parts(indptr, indices) => {
            values.copy_within(start..start + nnz, 0);
            values.truncate(nnz);
            let (m, canonical) = build_compressed(csc, shape, indptr, indices, values)?;
            Ok((T::wrap(I::wrap_cs(m)), canonical, nnz))
        }
    }
}

/// What the indices' thread hands back: the matrix, built and checked with
/// placeholder values, or the arrays for the usual build.
enum Early<T, I: SparseIndex> {
    Built(sprs::CsMatI<T, I>),
    Parts(Vec<I>, Vec<I>),
}

/// `n` zeros, written (not only reserved), so that copying the values over
/// them later takes no page faults.
fn written_zeros<T: SparseElement>(n: usize) -> Result<Vec<T>, SparseError> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n).map_err(|_| SparseError::TooLarge {
        what: "the values of the matrix".into(),
        bytes: n as u128 * std::mem::size_of::<T>() as u128,
    })?;
    v.resize(n, T::zeroed());
    Ok(v)
}

/// Reads a COO matrix into canonical CSR.
pub(crate) fn read_coo(
    archive: &Archive<'_>,
    meta: &Meta,
    path: &std::path::Path,
) -> Result<SparseMatrix, SparseError> {
    let data = member::open(archive, "data")?;
    let row = member::open(archive, "row")?;
    let col = member::open(archive, "col")?;
    let kind = data_kind(&data)?;
    let rkind = integer_kind(&row)?;
    let ckind = integer_kind(&col)?;
    for m in [&data, &row, &col] {
        require_1d(m)?;
    }
    for other in [&row, &col] {
        if other.len() != data.len() {
            return Err(SparseError::LengthMismatch {
                first: data.name().to_string(),
                first_len: data.len(),
                second: other.name().to_string(),
                second_len: other.len(),
            });
        }
    }
    let stored = data.len();
    let [rows, cols] = meta.shape;
    let parallel = data.data_len() + row.data_len() + col.data_len() >= PARALLEL_MIN_BYTES;
    let narrow = fits_i32([rkind, ckind], &[rows.saturating_add(1), cols, stored]);
    let (values, canonical) = with_element_type!(kind, T => {
        if narrow {
            coo_as::<T, i32>(meta.shape, data, kind, row, rkind, col, ckind, parallel)?
        } else {
            coo_as::<T, i64>(meta.shape, data, kind, row, rkind, col, ckind, parallel)?
        }
    });
    Ok(SparseMatrix::from_values(
        path, meta, values, stored, canonical,
    ))
}

#[allow(clippy::too_many_arguments)]
fn coo_as<T: SparseElement, I: SparseIndex>(
    shape: [usize; 2],
    data: Member<'_>,
    kind: ElementKind,
    row: Member<'_>,
    rkind: ElementKind,
    col: Member<'_>,
    ckind: ElementKind,
    parallel: bool,
) -> Result<(super::element::Values, bool), SparseError> {
    let (data, (row, col)) = both(
        parallel,
        || data.read_vec::<T>(kind),
        || {
            let r = read_index_vec::<I>(row, rkind);
            let c = read_index_vec::<I>(col, ckind);
            (r, c)
        },
    );
    let (m, canonical) = coo_to_csr((shape[0], shape[1]), row?, col?, data?)?;
    Ok((T::wrap(I::wrap_cs(m)), canonical))
}

/// What `read_npz_info` reports, read from headers and the small members.
pub(crate) fn read_info(archive: &Archive<'_>) -> Result<super::SparseInfo, SparseError> {
    let meta = read_meta(archive)?;
    let data = member::open(archive, "data")?;
    let kind = data_kind(&data)?;
    let dtype: Dtype = data.header().dtype().clone();
    let (index_dtype, nnz) = match meta.format {
        SparseFormat::Bsr => {
            let indices = member::open(archive, "indices")?;
            let indptr = member::open(archive, "indptr")?;
            integer_kind(&indices)?;
            let pkind = integer_kind(&indptr)?;
            let geo = bsr_geometry(meta.shape, &data, &indices, &indptr)?;
            let dtype = indices.header().dtype().clone();
            let ptr: Vec<i64> = read_index_vec(indptr, pkind)?;
            let used = check_indptr(&ptr, geo.nblocks)?;
            (dtype, block_elements(used, &geo)?)
        }
        SparseFormat::Dia => {
            let offsets = member::open(archive, "offsets")?;
            let okind = integer_kind(&offsets)?;
            dia_dims(&data, &offsets)?;
            let dtype = offsets.header().dtype().clone();
            let offsets = read_offsets(offsets, okind)?;
            (dtype, dia_nnz(meta.shape, &offsets))
        }
        _ if data.header().shape().len() != 1 => return Err(member_shape_error(&data, "1-d")),
        SparseFormat::Coo => {
            let row = member::open(archive, "row")?;
            let col = member::open(archive, "col")?;
            integer_kind(&row)?;
            integer_kind(&col)?;
            for m in [&row, &col] {
                require_1d(m)?;
                if m.len() != data.len() {
                    return Err(SparseError::LengthMismatch {
                        first: data.name().to_string(),
                        first_len: data.len(),
                        second: m.name().to_string(),
                        second_len: m.len(),
                    });
                }
            }
            (row.header().dtype().clone(), data.len())
        }
        SparseFormat::Csc | SparseFormat::Csr => {
            let indices = member::open(archive, "indices")?;
            let indptr = member::open(archive, "indptr")?;
            integer_kind(&indices)?;
            let pkind = integer_kind(&indptr)?;
            require_1d(&indices)?;
            require_1d(&indptr)?;
            if indices.len() != data.len() {
                return Err(SparseError::LengthMismatch {
                    first: data.name().to_string(),
                    first_len: data.len(),
                    second: indices.name().to_string(),
                    second_len: indices.len(),
                });
            }
            let [rows, cols] = meta.shape;
            let major = if meta.format == SparseFormat::Csc {
                cols
            } else {
                rows
            };
            if indptr.len() != major.saturating_add(1) {
                return Err(SparseError::BadIndptr(format!(
                    "it has {} entries, expected {}",
                    indptr.len(),
                    major.saturating_add(1)
                )));
            }
            let dtype = indices.header().dtype().clone();
            let ptr: Vec<i64> = read_index_vec(indptr, pkind)?;
            (dtype, check_indptr(&ptr, data.len())?)
        }
    };
    Ok(super::SparseInfo {
        format: meta.format,
        shape: meta.shape,
        dtype,
        kind,
        index_dtype,
        nnz,
        is_array: meta.is_array,
    })
}
