//! Checking decoded sparse arrays and building canonical sprs matrices from
//! them: index pointers, index bounds, sorting and summing duplicates within
//! lanes (scipy allows both), and COO to CSR.

use sprs::CsMatI;

use super::element::{SparseElement, SparseIndex};
use super::member::try_zeroed_vec;
use crate::error::SparseError;

/// Checks an index pointer already known to have `major + 1` entries:
/// starts at 0, never decreases, ends at most at `len` (the length of
/// indices and data). Returns its last value, scipy's `nnz` (scipy drops
/// entries past it).
pub(crate) fn check_indptr<I: SparseIndex>(indptr: &[I], len: usize) -> Result<usize, SparseError> {
    let first = indptr.first().map_or(0, |v| v.as_i128());
    if first != 0 {
        return Err(SparseError::BadIndptr(format!(
            "it starts at {first}, not 0"
        )));
    }
    let mut prev = 0i128;
    for (k, v) in indptr.iter().enumerate() {
        let v = v.as_i128();
        if v < prev {
            return Err(SparseError::BadIndptr(format!(
                "it decreases from {prev} to {v} at entry {k}"
            )));
        }
        prev = v;
    }
    if prev > len as i128 {
        return Err(SparseError::BadIndptr(format!(
            "it ends at {prev}, past the {len} stored entries"
        )));
    }
    Ok(prev as usize)
}

/// Builds a CSC (`csc`) or CSR matrix from arrays whose index pointer
/// passed [`check_indptr`] and that were cut to its `nnz`. Indices are
/// checked against the inner dimension; unsorted lanes are sorted and
/// duplicates summed (in stored order, as scipy's `sum_duplicates`).
pub(crate) fn build_compressed<T: SparseElement, I: SparseIndex>(
    csc: bool,
    shape: (usize, usize),
    indptr: Vec<I>,
    indices: Vec<I>,
    data: Vec<T>,
) -> Result<(CsMatI<T, I>, bool), SparseError> {
    // sprs checks bounds and strict order in one pass: the common case.
    let (mut indptr, indices, data) = match try_canonical(csc, shape, indptr, indices, data) {
        Ok(m) => return Ok((m, true)),
        Err(parts) => parts,
    };
    let inner = if csc { shape.0 } else { shape.1 };
    for (k, i) in indices.iter().enumerate() {
        let v = i.as_i128();
        if v < 0 || v >= inner as i128 {
            return Err(SparseError::IndexOutOfBounds {
                member: "indices.npy".into(),
                position: k,
                value: v,
                bound: inner as u64,
            });
        }
    }
    let (indices, data) = canonicalize(&mut indptr, indices, data);
    let try_new = if csc {
        CsMatI::try_new_csc
    } else {
        CsMatI::try_new
    };
    match try_new(shape, indptr, indices, data) {
        Ok(m) => Ok((m, false)),
        Err((_, _, _, e)) => Err(SparseError::BadIndptr(format!(
            "structure refused after canonicalization: {e}"
        ))),
    }
}

/// The parts of a compressed matrix that is not canonical (or not valid):
/// index pointer, indices and data, as given.
pub(crate) type Parts<T, I> = (Vec<I>, Vec<I>, Vec<T>);

/// The CSC (`csc`) or CSR matrix of these arrays if they are already
/// canonical (indices in bounds and strictly increasing in each lane), as
/// sprs checks in one pass; else the arrays back.
pub(crate) fn try_canonical<T: SparseElement, I: SparseIndex>(
    csc: bool,
    shape: (usize, usize),
    indptr: Vec<I>,
    indices: Vec<I>,
    data: Vec<T>,
) -> Result<CsMatI<T, I>, Parts<T, I>> {
    let built = if csc {
        CsMatI::try_new_csc(shape, indptr, indices, data)
    } else {
        CsMatI::try_new(shape, indptr, indices, data)
    };
    built.map_err(|(indptr, indices, data, _)| (indptr, indices, data))
}

/// Sorts each lane by index (stably) and sums runs of equal indices in
/// stored order; rewrites `indptr`. Indices are in bounds.
fn canonicalize<T: SparseElement, I: SparseIndex>(
    indptr: &mut [I],
    mut indices: Vec<I>,
    mut data: Vec<T>,
) -> (Vec<I>, Vec<T>) {
    let mut scratch: Vec<(I, T)> = Vec::new();
    let mut w = 0usize;
    let mut start = 0usize;
    for o in 0..indptr.len().saturating_sub(1) {
        let end = indptr[o + 1].as_index();
        let lane = &indices[start..end];
        let strictly_sorted = lane.windows(2).all(|p| p[0] < p[1]);
        if strictly_sorted {
            if w != start {
                indices.copy_within(start..end, w);
                data.copy_within(start..end, w);
            }
            w += end - start;
        } else {
            scratch.clear();
            scratch.extend(lane.iter().copied().zip(data[start..end].iter().copied()));
            scratch.sort_by_key(|p| p.0);
            let mut last: Option<I> = None;
            for &(i, v) in &scratch {
                if last == Some(i) {
                    data[w - 1].accumulate(v);
                } else {
                    indices[w] = i;
                    data[w] = v;
                    w += 1;
                    last = Some(i);
                }
            }
        }
        start = end;
        indptr[o + 1] = I::from_i128(w as i128).unwrap_or(indptr[o + 1]);
    }
    indices.truncate(w);
    data.truncate(w);
    (indices, data)
}

/// Rows a COO matrix may have whatever its number of entries (the CSR
/// index pointer made for it then takes up to 1 GiB).
const COO_ROWS_FREE: usize = 1 << 27;

/// Builds the canonical CSR matrix of a COO matrix: rows and columns checked
/// against the shape, entries ordered by row then column, duplicates summed
/// in stored order (what scipy's `toarray` adds up). Returns the matrix and
/// whether the input was already canonical.
pub(crate) fn coo_to_csr<T: SparseElement, I: SparseIndex>(
    shape: (usize, usize),
    rows: Vec<I>,
    cols: Vec<I>,
    data: Vec<T>,
) -> Result<(CsMatI<T, I>, bool), SparseError> {
    let (nrows, ncols) = shape;
    let check = |member: &str, idx: &[I], bound: usize| -> Result<(), SparseError> {
        for (k, i) in idx.iter().enumerate() {
            let v = i.as_i128();
            if v < 0 || v >= bound as i128 {
                return Err(SparseError::IndexOutOfBounds {
                    member: member.into(),
                    position: k,
                    value: v,
                    bound: bound as u64,
                });
            }
        }
        Ok(())
    };
    check("row.npy", &rows, nrows)?;
    check("col.npy", &cols, ncols)?;
    let n = data.len();
    let too_large = |entries: usize| SparseError::TooLarge {
        what: format!("the index pointer of a CSR matrix of {nrows} rows"),
        bytes: entries as u128 * std::mem::size_of::<usize>() as u128,
    };
    let as_index = |v: usize| {
        I::from_i128(v as i128).ok_or_else(|| SparseError::TooLarge {
            what: "the index pointer of the CSR matrix".into(),
            bytes: (n as u128) * std::mem::size_of::<I>() as u128,
        })
    };
    // Entries per row, then their starts. The row count comes from the
    // shape alone, so these allocations may fail: an error, not an abort.
    let rows_plus_one = nrows.checked_add(1).ok_or_else(|| too_large(usize::MAX))?;
    // A COO file stores no index pointer: a tiny file can claim billions of
    // rows. Build one only when its size is in proportion to the entries.
    if rows_plus_one > COO_ROWS_FREE && rows_plus_one / 64 > n {
        return Err(too_large(rows_plus_one));
    }
    let mut counts: Vec<usize> =
        try_zeroed_vec(rows_plus_one).ok_or_else(|| too_large(rows_plus_one))?;
    for r in &rows {
        counts[r.as_index() + 1] += 1;
    }
    for k in 0..nrows {
        counts[k + 1] += counts[k];
    }
    let canonical = rows
        .iter()
        .zip(&cols)
        .zip(rows.iter().zip(&cols).skip(1))
        .all(|((r0, c0), (r1, c1))| r0 < r1 || (r0 == r1 && c0 < c1));
    let (indptr, indices, data) = if canonical {
        let mut indptr: Vec<I> = Vec::new();
        indptr
            .try_reserve_exact(rows_plus_one)
            .map_err(|_| too_large(rows_plus_one))?;
        for &c in &counts {
            indptr.push(as_index(c)?);
        }
        (indptr, cols, data)
    } else {
        // Stable counting sort by row, then a stable sort by column within
        // each row; runs of equal columns are summed in stored order.
        let mut next: Vec<usize> = Vec::new();
        next.try_reserve_exact(rows_plus_one)
            .map_err(|_| too_large(rows_plus_one))?;
        next.extend_from_slice(&counts);
        let mut order = vec![0usize; n];
        for (k, r) in rows.iter().enumerate() {
            let slot = &mut next[r.as_index()];
            order[*slot] = k;
            *slot += 1;
        }
        drop(rows);
        let mut indptr: Vec<I> = Vec::new();
        indptr
            .try_reserve_exact(rows_plus_one)
            .map_err(|_| too_large(rows_plus_one))?;
        indptr.push(as_index(0)?);
        let mut out_idx: Vec<I> = Vec::with_capacity(n);
        let mut out_data: Vec<T> = Vec::with_capacity(n);
        let mut scratch: Vec<(I, usize)> = Vec::new();
        for r in 0..nrows {
            let seg = &order[counts[r]..counts[r + 1]];
            scratch.clear();
            scratch.extend(seg.iter().map(|&k| (cols[k], k)));
            if !scratch.windows(2).all(|p| p[0].0 < p[1].0) {
                scratch.sort_by_key(|p| p.0);
            }
            let mut last: Option<I> = None;
            for &(c, k) in &scratch {
                if last == Some(c) {
                    if let Some(v) = out_data.last_mut() {
                        v.accumulate(data[k]);
                    }
                } else {
                    out_idx.push(c);
                    out_data.push(data[k]);
                    last = Some(c);
                }
            }
            indptr.push(as_index(out_idx.len())?);
        }
        (indptr, out_idx, out_data)
    };
    match CsMatI::try_new(shape, indptr, indices, data) {
        Ok(m) => Ok((m, canonical)),
        Err((_, _, _, e)) => Err(SparseError::BadIndptr(format!(
            "structure refused after conversion from coo: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes_unsorted_lanes_with_duplicates() {
        // CSC 3x2: column 0 holds rows 2, 0, 2 (duplicate), column 1 row 1.
        let (m, canonical) = build_compressed::<f64, i32>(
            true,
            (3, 2),
            vec![0, 3, 4],
            vec![2, 0, 2, 1],
            vec![1.0, 2.0, 4.0, 8.0],
        )
        .unwrap();
        assert!(!canonical);
        assert_eq!(m.indptr().raw_storage(), &[0, 2, 3]);
        assert_eq!(m.indices(), &[0, 2, 1]);
        assert_eq!(m.data(), &[2.0, 5.0, 8.0]);
    }

    #[test]
    fn refuses_out_of_bounds_and_bad_indptr() {
        let e = build_compressed::<f32, i64>(true, (2, 1), vec![0, 1], vec![2], vec![1.0]);
        assert!(matches!(
            e,
            Err(SparseError::IndexOutOfBounds { value: 2, .. })
        ));
        let e = build_compressed::<f32, i64>(true, (2, 1), vec![0, 1], vec![-1], vec![1.0]);
        assert!(matches!(
            e,
            Err(SparseError::IndexOutOfBounds { value: -1, .. })
        ));
        assert!(check_indptr::<i32>(&[1, 1], 1).is_err());
        assert!(check_indptr::<i32>(&[0, 2, 1], 2).is_err());
        assert!(check_indptr::<i32>(&[0, 3], 2).is_err());
        assert_eq!(check_indptr::<i32>(&[0, 1], 2).unwrap(), 1);
    }

    #[test]
    fn coo_sums_duplicates_in_stored_order() {
        let (m, canonical) =
            coo_to_csr::<i8, i32>((2, 2), vec![1, 0, 1], vec![0, 1, 0], vec![100, 1, 100]).unwrap();
        assert!(!canonical);
        assert_eq!(m.indptr().raw_storage(), &[0, 1, 2]);
        assert_eq!(m.indices(), &[1, 0]);
        assert_eq!(m.data(), &[1, -56]);
        let e = coo_to_csr::<i8, i32>((2, 2), vec![2], vec![0], vec![1]);
        assert!(matches!(e, Err(SparseError::IndexOutOfBounds { .. })));
    }
}
