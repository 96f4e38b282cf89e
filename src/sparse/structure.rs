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
    let too_many = |entries: usize, each: usize| SparseError::TooLarge {
        what: format!("the {entries} entries of a COO matrix, sorted"),
        bytes: entries as u128 * each as u128,
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
        let mut order: Vec<usize> = Vec::new();
        order
            .try_reserve_exact(n)
            .map_err(|_| too_many(n, std::mem::size_of::<usize>()))?;
        order.resize(n, 0);
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
        let mut out_idx: Vec<I> = Vec::new();
        out_idx
            .try_reserve_exact(n)
            .map_err(|_| too_many(n, std::mem::size_of::<I>()))?;
        let mut out_data: Vec<T> = Vec::new();
        out_data
            .try_reserve_exact(n)
            .map_err(|_| too_many(n, std::mem::size_of::<T>()))?;
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

/// Refuses an index pointer of `lanes_plus_one` entries (built for a
/// dimension read from the shape alone) when it is out of all proportion
/// to the `stored` values the file holds, as for COO files.
fn check_lanes_in_proportion(
    lanes_plus_one: usize,
    stored: usize,
    what: &str,
) -> Result<(), SparseError> {
    if lanes_plus_one > COO_ROWS_FREE && lanes_plus_one / 64 > stored {
        return Err(SparseError::TooLarge {
            what: format!("the index pointer of {what}"),
            bytes: lanes_plus_one as u128 * std::mem::size_of::<usize>() as u128,
        });
    }
    Ok(())
}

fn try_vec<X>(n: usize, what: &str) -> Result<Vec<X>, SparseError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| SparseError::TooLarge {
        what: what.to_string(),
        bytes: n as u128 * std::mem::size_of::<X>() as u128,
    })?;
    Ok(v)
}

/// The blocks of a BSR matrix, as decoded from its members.
pub(crate) struct Blocks<'a, T, I> {
    /// `[R, C]`: the blocksize, `data`'s last two dimensions.
    pub(crate) blocksize: [usize; 2],
    /// The block-row index pointer, already checked (`check_indptr`).
    pub(crate) indptr: &'a [I],
    /// The block column of each stored block.
    pub(crate) indices: &'a [I],
    /// The `data` member's elements, `nblocks * R * C` of them.
    pub(crate) data: &'a [T],
    /// Whether `data` is stored in Fortran order.
    pub(crate) fortran: bool,
}

/// Builds the canonical CSR matrix of a BSR matrix, as scipy's `tocsr`
/// and `toarray` see it: block columns checked against the shape, blocks
/// past `indptr[-1]` dropped, entries of blocks that share a block column
/// summed in stored order (explicit zeros kept). Returns the matrix and
/// whether the blocks were canonical (block columns strictly increasing in
/// each block row).
pub(crate) fn bsr_to_csr<T: SparseElement, I: SparseIndex>(
    shape: (usize, usize),
    b: &Blocks<'_, T, I>,
) -> Result<(CsMatI<T, I>, bool), SparseError> {
    let (nrows, ncols) = shape;
    let [r_size, c_size] = b.blocksize;
    let block_cols = ncols / c_size;
    let nblocks = b.indices.len();
    let used = b.indptr.last().map_or(0, |v| v.as_index());
    for (k, i) in b.indices[..used].iter().enumerate() {
        let v = i.as_i128();
        if v < 0 || v >= block_cols as i128 {
            return Err(SparseError::IndexOutOfBounds {
                member: "indices.npy".into(),
                position: k,
                value: v,
                bound: block_cols as u64,
            });
        }
    }
    // Bounded by the data member's length (nblocks * R * C), which the
    // file justifies; checked all the same.
    let nnz = used
        .checked_mul(r_size)
        .and_then(|n| n.checked_mul(c_size))
        .filter(|&n| n <= b.data.len())
        .ok_or_else(|| {
            SparseError::BadIndptr(format!(
                "its {used} blocks of {r_size} x {c_size} are more than the data holds"
            ))
        })?;
    let rows_plus_one = nrows.checked_add(1).ok_or_else(|| SparseError::TooLarge {
        what: "the index pointer of the CSR matrix".into(),
        bytes: u128::MAX,
    })?;
    check_lanes_in_proportion(rows_plus_one, nnz, &format!("a CSR matrix of {nrows} rows"))?;
    let as_index = |v: usize| {
        I::from_i128(v as i128).ok_or_else(|| SparseError::TooLarge {
            what: "the index pointer of the CSR matrix".into(),
            bytes: (nnz as u128) * std::mem::size_of::<I>() as u128,
        })
    };
    let mut indptr: Vec<I> = try_vec(rows_plus_one, "the index pointer of the CSR matrix")?;
    let mut indices: Vec<I> = try_vec(nnz, "the indices of the CSR matrix")?;
    let mut data: Vec<T> = try_vec(nnz, "the values of the CSR matrix")?;
    indptr.push(as_index(0)?);
    let at = |k: usize, r: usize, c: usize| {
        if b.fortran {
            k + nblocks * (r + r_size * c)
        } else {
            (k * r_size + r) * c_size + c
        }
    };
    let mut canonical = true;
    for br in 0..b.indptr.len().saturating_sub(1) {
        let (s, e) = (b.indptr[br].as_index(), b.indptr[br + 1].as_index());
        let sorted = b.indices[s..e].windows(2).all(|p| p[0] < p[1]);
        canonical &= sorted;
        for r in 0..r_size {
            for k in s..e {
                let first = b.indices[k].as_index() * c_size;
                for c in 0..c_size {
                    indices.push(as_index(first + c)?);
                    data.push(b.data[at(k, r, c)]);
                }
            }
            indptr.push(as_index(indices.len())?);
        }
    }
    let (indices, data) = if canonical {
        (indices, data)
    } else {
        canonicalize(&mut indptr, indices, data)
    };
    match CsMatI::try_new(shape, indptr, indices, data) {
        Ok(m) => Ok((m, canonical)),
        Err((_, _, _, e)) => Err(SparseError::BadIndptr(format!(
            "structure refused after conversion from bsr: {e}"
        ))),
    }
}

/// Whether `v` is a zero scipy's `data != 0` drops: `0`, `False`, `±0.0`,
/// complex zeros whatever their signs (NaN is not zero).
fn is_zero<T: SparseElement>(v: T) -> bool {
    let mut z = T::zeroed();
    z.accumulate(v);
    bytemuck::bytes_of(&z) == bytemuck::bytes_of(&T::zeroed())
}

/// The diagonals of a DIA matrix, as decoded from its members.
pub(crate) struct Diagonals<'a, T> {
    /// The offset of each stored diagonal (unique).
    pub(crate) offsets: &'a [i128],
    /// `[n_diags, L]`: the data member's shape.
    pub(crate) dims: [usize; 2],
    /// The data member's elements.
    pub(crate) data: &'a [T],
    /// Whether `data` is stored in Fortran order.
    pub(crate) fortran: bool,
}

/// scipy's `.nnz` of a DIA matrix: per offset `k`, `min(M, N - k)` for
/// `k > 0`, else `min(M + k, N)`, summed (diagonals outside the matrix
/// count negatively, as in scipy; a negative total is reported as 0).
pub(crate) fn dia_nnz(shape: [usize; 2], offsets: &[i128]) -> usize {
    let (m, n) = (shape[0] as i128, shape[1] as i128);
    let total: i128 = offsets
        .iter()
        .map(|&k| if k > 0 { m.min(n - k) } else { (m + k).min(n) })
        .sum();
    usize::try_from(total.max(0)).unwrap_or(usize::MAX)
}

/// Builds the canonical CSC matrix of a DIA matrix, as scipy's `tocsc`
/// does: `data[i, j]` lands at row `j - offsets[i]`, column `j`, where
/// that row is in the matrix and `j < ncols`; zeros are dropped (NaN is
/// kept). Offsets are unique, so no position is written twice.
pub(crate) fn dia_to_csc<T: SparseElement, I: SparseIndex>(
    shape: (usize, usize),
    d: &Diagonals<'_, T>,
) -> Result<CsMatI<T, I>, SparseError> {
    let (nrows, ncols) = shape;
    let [ndiag, len] = d.dims;
    let cols_plus_one = ncols.checked_add(1).ok_or_else(|| SparseError::TooLarge {
        what: "the index pointer of the CSC matrix".into(),
        bytes: u128::MAX,
    })?;
    check_lanes_in_proportion(
        cols_plus_one,
        d.data.len(),
        &format!("a CSC matrix of {ncols} columns"),
    )?;
    // Diagonals by decreasing offset: within a column, rows increase.
    let mut order: Vec<usize> = (0..ndiag).collect();
    order.sort_by(|&a, &b| d.offsets[b].cmp(&d.offsets[a]));
    let at = |i: usize, j: usize| {
        if d.fortran {
            i + ndiag * j
        } else {
            i * len + j
        }
    };
    let as_index = |v: usize| {
        I::from_i128(v as i128).ok_or_else(|| SparseError::TooLarge {
            what: "the index pointer of the CSC matrix".into(),
            bytes: (v as u128) * std::mem::size_of::<I>() as u128,
        })
    };
    let mut indptr: Vec<I> = try_vec(cols_plus_one, "the index pointer of the CSC matrix")?;
    let mut indices: Vec<I> = Vec::new();
    let mut data: Vec<T> = Vec::new();
    indptr.push(as_index(0)?);
    let stored_cols = len.min(ncols);
    for j in 0..stored_cols {
        for &i in &order {
            let row = j as i128 - d.offsets[i];
            if row < 0 || row >= nrows as i128 {
                continue;
            }
            let v = d.data[at(i, j)];
            if is_zero(v) {
                continue;
            }
            indices.push(as_index(row as usize)?);
            data.push(v);
        }
        indptr.push(as_index(indices.len())?);
    }
    let last = *indptr.last().unwrap_or(&I::zero());
    indptr.resize(cols_plus_one, last);
    match CsMatI::try_new_csc(shape, indptr, indices, data) {
        Ok(m) => Ok(m),
        Err((_, _, _, e)) => Err(SparseError::BadIndptr(format!(
            "structure refused after conversion from dia: {e}"
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

    #[test]
    fn bsr_blocks_sharing_a_column_are_summed() {
        // 2 x 4, blocks 2 x 2: two blocks at block column 1, then one at 0.
        let data: Vec<f64> = (1..=12).map(f64::from).collect();
        let b = Blocks {
            blocksize: [2, 2],
            indptr: &[0i32, 3],
            indices: &[1, 1, 0],
            data: &data,
            fortran: false,
        };
        let (m, canonical) = bsr_to_csr::<f64, i32>((2, 4), &b).unwrap();
        assert!(!canonical);
        assert_eq!(m.indptr().raw_storage(), &[0, 4, 8]);
        assert_eq!(m.indices(), &[0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(m.data(), &[9.0, 10.0, 6.0, 8.0, 11.0, 12.0, 10.0, 12.0]);
        let b = Blocks {
            indices: &[2, 0, 0],
            ..b
        };
        assert!(matches!(
            bsr_to_csr::<f64, i32>((2, 4), &b),
            Err(SparseError::IndexOutOfBounds {
                value: 2,
                bound: 2,
                ..
            })
        ));
    }

    #[test]
    fn dia_drops_zeros_and_outside_entries() {
        // 3 x 4, offsets [-2, 0, 1, 2]: A[2, 0] = 4 only from the first.
        let data: Vec<f32> = vec![
            4.0,
            0.0,
            0.0,
            0.0, // -2
            1.0,
            -0.0,
            f32::NAN,
            9.0, // 0: (0,0)=1, (1,1) zero dropped, (2,2)=NaN, j=3 outside
            5.0,
            6.0,
            0.0,
            8.0, // 1: j=0 outside, (0,1)=6, (2,3)=8
            7.0,
            7.0,
            3.0,
            0.0, // 2: (0,2)=3
        ];
        let d = Diagonals {
            offsets: &[-2, 0, 1, 2],
            dims: [4, 4],
            data: &data,
            fortran: false,
        };
        let m = dia_to_csc::<f32, i32>((3, 4), &d).unwrap();
        assert_eq!(m.indptr().raw_storage(), &[0, 2, 3, 5, 6]);
        assert_eq!(m.indices(), &[0, 2, 0, 0, 2, 2]);
        assert_eq!(m.data()[..2], [1.0, 4.0]);
        assert!(m.data()[4].is_nan());
        assert_eq!(dia_nnz([3, 4], &[-2, 0, 1, 2]), 1 + 3 + 3 + 2);
        assert_eq!(dia_nnz([3, 4], &[5]), 0);
    }
}
