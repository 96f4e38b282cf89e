//! The structure checks of a sparse archive's index members: index
//! pointers, lane bounds and order, COO coordinates.

use super::raw::Raw;
use super::NpzPart;
use crate::error::SparseError;
use crate::sparse::structure::check_indptr;

/// A part's bytes as native indices (its dtype is the native `I`).
pub(super) fn ints<I: bytemuck::AnyBitPattern>(p: &NpzPart) -> Result<&[I], SparseError> {
    bytemuck::try_cast_slice(p.bytes.as_bytes())
        .map_err(|e| SparseError::BadZip(format!("member {:?}: {e}", p.name)))
}

pub(super) fn out_of_bounds(
    member: &str,
    position: usize,
    value: i128,
    bound: usize,
) -> SparseError {
    SparseError::IndexOutOfBounds {
        member: format!("{member}.npy"),
        position,
        value,
        bound: bound as u64,
    }
}

/// The `indices` and `indptr` members of a CSC, CSR or BSR archive in the
/// index dtype (`wide`: int64), checked: the index pointer has `major + 1`
/// entries, never decreases and ends at the number of indices, and every
/// index lies below `minor`. Also returns whether each lane's indices are
/// strictly increasing (scipy's canonical format).
pub(super) fn lanes(
    index: Vec<Raw>,
    major: usize,
    minor: usize,
    wide: bool,
) -> Result<(NpzPart, NpzPart, bool), SparseError> {
    let mut it = index.into_iter();
    let (Some(indices), Some(indptr)) = (it.next(), it.next()) else {
        return Err(SparseError::MissingMember("indptr.npy".into()));
    };
    if Some(indptr.len()) != major.checked_add(1) {
        return Err(SparseError::BadIndptr(format!(
            "it has {} entries, expected {} plus one",
            indptr.len(),
            major
        )));
    }
    let (indices, indptr) = (indices.into_index(wide)?, indptr.into_index(wide)?);
    let canonical = if wide {
        check_lanes(ints::<i64>(&indptr)?, ints::<i64>(&indices)?, minor)?
    } else {
        check_lanes(ints::<i32>(&indptr)?, ints::<i32>(&indices)?, minor)?
    };
    Ok((indices, indptr, canonical))
}

/// Checks a compressed structure (the index pointer, then every index of
/// every lane against `minor`); returns whether every lane is strictly
/// increasing.
pub(super) fn check_lanes<I>(indptr: &[I], indices: &[I], minor: usize) -> Result<bool, SparseError>
where
    I: crate::sparse::SparseIndex + Into<i64>,
{
    let nnz = check_indptr(indptr, indices.len())?;
    let mut canonical = true;
    let mut start = 0usize;
    for end in indptr.iter().skip(1) {
        let end = (*end).into() as usize;
        // check_indptr made the pointer non-decreasing and at most the
        // length; `get` keeps even a broken invariant a typed error.
        let lane = indices.get(start..end).ok_or_else(|| {
            SparseError::BadIndptr(format!("lane {start}..{end} is past the indices"))
        })?;
        // Branch-free passes the compiler vectorizes: a negative index
        // wraps to a huge unsigned one, so one comparison bounds both ends.
        let in_bounds = lane
            .iter()
            .fold(true, |ok, &v| ok & (((v.into()) as u64) < minor as u64));
        if !in_bounds {
            let (k, v) = lane
                .iter()
                .map(|&v| v.into())
                .enumerate()
                .find(|&(_, v): &(usize, i64)| v as u64 >= minor as u64)
                .unwrap_or((0, 0));
            return Err(out_of_bounds("indices", start + k, v as i128, minor));
        }
        canonical &= lane
            .windows(2)
            .fold(true, |ok, w| ok & (w[0].into() < w[1].into()));
        start = end;
    }
    debug_assert_eq!(start, nnz);
    Ok(canonical)
}

/// Checks every coordinate against the shape; returns whether they are
/// strictly increasing by row, then column.
pub(super) fn check_coo<I: Copy + Into<i64>>(
    row: &[I],
    col: &[I],
    rows: usize,
    cols: usize,
) -> Result<bool, SparseError> {
    let mut canonical = true;
    let mut prev = (-1i64, -1i64);
    for (k, (&r, &c)) in row.iter().zip(col).enumerate() {
        let (r, c): (i64, i64) = (r.into(), c.into());
        if r < 0 || r as u64 >= rows as u64 {
            return Err(out_of_bounds("row", k, r as i128, rows));
        }
        if c < 0 || c as u64 >= cols as u64 {
            return Err(out_of_bounds("col", k, c as i128, cols));
        }
        canonical &= (r, c) > prev;
        prev = (r, c);
    }
    Ok(canonical)
}
