//! The block formats: `bsr` (dense blocks on a CSR grid of blocks) and
//! `dia` (diagonals), read into the CSR and CSC matrices onedata holds.

use super::*;

/// What the shapes of a BSR matrix's members say, checked as scipy's
/// `check_format` does.
pub(super) struct BsrGeometry {
    /// `[R, C]`: `data`'s last two dimensions.
    pub(super) blocksize: [usize; 2],
    /// Blocks stored (`data`'s first dimension).
    pub(super) nblocks: usize,
}

/// Checks the members of a BSR matrix against each other and the shape:
/// `data` is 3-d `(nblocks, R, C)` with blocks that tile the shape,
/// `indices` and `indptr` are 1-d, `indptr` has one entry per block row
/// plus one, `indices` one per block.
pub(super) fn bsr_geometry(
    shape: [usize; 2],
    data: &Member<'_>,
    indices: &Member<'_>,
    indptr: &Member<'_>,
) -> Result<BsrGeometry, SparseError> {
    let &[nblocks, r_size, c_size] = data.header().shape() else {
        return Err(member_shape_error(
            data,
            "3-d (blocks, block rows, block columns)",
        ));
    };
    require_1d(indices)?;
    require_1d(indptr)?;
    let [rows, cols] = shape;
    if r_size == 0 || c_size == 0 || rows % r_size != 0 || cols % c_size != 0 {
        return Err(SparseError::BadBlocksize {
            member: data.name().to_string(),
            blocksize: [r_size, c_size],
            shape,
        });
    }
    let expected = rows / r_size + 1;
    if indptr.len() != expected {
        return Err(SparseError::BadIndptr(format!(
            "it has {} entries, expected {expected} (the block row count plus one)",
            indptr.len(),
        )));
    }
    if indices.len() != nblocks {
        return Err(SparseError::LengthMismatch {
            first: data.name().to_string(),
            first_len: nblocks,
            second: indices.name().to_string(),
            second_len: indices.len(),
        });
    }
    Ok(BsrGeometry {
        blocksize: [r_size, c_size],
        nblocks,
    })
}

/// Elements in `blocks` blocks: scipy's `.nnz` of a BSR matrix whose
/// index pointer ends at `blocks` (at most the data member's length, so
/// this cannot overflow; checked all the same).
pub(super) fn block_elements(blocks: usize, geo: &BsrGeometry) -> Result<usize, SparseError> {
    blocks
        .checked_mul(geo.blocksize[0])
        .and_then(|n| n.checked_mul(geo.blocksize[1]))
        .ok_or_else(|| SparseError::TooLarge {
            what: "the entries of the bsr blocks".into(),
            bytes: u128::MAX,
        })
}

/// Reads a BSR matrix into canonical CSR.
pub(crate) fn read_bsr(
    archive: &Archive<'_>,
    meta: &Meta,
    path: &std::path::Path,
) -> Result<SparseMatrix, SparseError> {
    let data = member::open(archive, "data")?;
    let indices = member::open(archive, "indices")?;
    let indptr = member::open(archive, "indptr")?;
    let kind = data_kind(&data)?;
    let ikind = integer_kind(&indices)?;
    let pkind = integer_kind(&indptr)?;
    let geo = bsr_geometry(meta.shape, &data, &indices, &indptr)?;
    let [rows, cols] = meta.shape;
    // nblocks * R * C is the data member's element count: no overflow.
    let stored = data.len();
    let narrow = fits_i32([ikind, pkind], &[rows.saturating_add(1), cols, stored]);
    let parallel = data.data_len() + indices.data_len() >= PARALLEL_MIN_BYTES;
    let (values, canonical, nnz) = with_element_type!(kind, T => {
        if narrow {
            bsr_as::<T, i32>(meta.shape, &geo, data, kind, indices, ikind, indptr, pkind, parallel)?
        } else {
            bsr_as::<T, i64>(meta.shape, &geo, data, kind, indices, ikind, indptr, pkind, parallel)?
        }
    });
    Ok(SparseMatrix::from_values(
        path, meta, values, nnz, canonical,
    ))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn bsr_as<T: SparseElement, I: SparseIndex>(
    shape: [usize; 2],
    geo: &BsrGeometry,
    data: Member<'_>,
    kind: ElementKind,
    indices: Member<'_>,
    ikind: ElementKind,
    indptr: Member<'_>,
    pkind: ElementKind,
    parallel: bool,
) -> Result<(super::super::element::Values, bool, usize), SparseError> {
    let indptr: Vec<I> = read_index_vec(indptr, pkind)?;
    let used = check_indptr(&indptr, geo.nblocks)?;
    let fortran = data.header().fortran_order();
    let (data, indices) = both(
        parallel,
        || data.read_vec::<T>(kind),
        || read_index_vec::<I>(indices, ikind),
    );
    let (data, indices) = (data?, indices?);
    let blocks = Blocks {
        blocksize: geo.blocksize,
        indptr: &indptr,
        indices: &indices,
        data: &data,
        fortran,
    };
    let (m, canonical) = bsr_to_csr((shape[0], shape[1]), &blocks)?;
    let nnz = block_elements(used, geo)?;
    Ok((T::wrap(I::wrap_cs(m)), canonical, nnz))
}

/// `[n_diags, L]` of a DIA matrix's `data`, read as scipy's
/// `np.atleast_2d` reads it (a 1-d member is one diagonal), checked against
/// `offsets` (at most 1-d, one per diagonal).
pub(super) fn dia_dims(data: &Member<'_>, offsets: &Member<'_>) -> Result<[usize; 2], SparseError> {
    let dims = match *data.header().shape() {
        [] => [1, 1],
        [len] => [1, len],
        [n, len] => [n, len],
        _ => return Err(member_shape_error(data, "2-d (diagonals, length)")),
    };
    if offsets.header().shape().len() > 1 {
        return Err(member_shape_error(offsets, "1-d"));
    }
    if offsets.len() != dims[0] {
        return Err(SparseError::LengthMismatch {
            first: data.name().to_string(),
            first_len: dims[0],
            second: offsets.name().to_string(),
            second_len: offsets.len(),
        });
    }
    Ok(dims)
}

/// The `offsets` member, refused (as scipy refuses it) if it repeats one.
pub(super) fn read_offsets(
    offsets: Member<'_>,
    kind: ElementKind,
) -> Result<Vec<i128>, SparseError> {
    let name = offsets.name().to_string();
    let values = read_ints_i128(offsets, kind)?;
    let mut sorted = values.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(SparseError::DuplicateOffset {
            member: name,
            offset: w[0],
        });
    }
    Ok(values)
}

/// Reads a DIA matrix into canonical CSC, what scipy's `tocsc` gives.
pub(crate) fn read_dia(
    archive: &Archive<'_>,
    meta: &Meta,
    path: &std::path::Path,
) -> Result<SparseMatrix, SparseError> {
    let data = member::open(archive, "data")?;
    let offsets = member::open(archive, "offsets")?;
    let kind = data_kind(&data)?;
    let okind = integer_kind(&offsets)?;
    let dims = dia_dims(&data, &offsets)?;
    let offsets = read_offsets(offsets, okind)?;
    let [rows, cols] = meta.shape;
    let nnz = dia_nnz(meta.shape, &offsets);
    let fortran = data.header().fortran_order();
    // scipy's tocsc picks int32 indices whenever the shape allows it.
    let stored = data.len();
    let narrow = fits_i32(
        [ElementKind::I32; 2],
        &[rows, cols.saturating_add(1), stored],
    );
    let values = with_element_type!(kind, T => {
        let data = data.read_vec::<T>(kind)?;
        let diagonals = Diagonals { offsets: &offsets, dims, data: &data, fortran };
        let shape = (rows, cols);
        if narrow {
            T::wrap(<i32 as SparseIndex>::wrap_cs(dia_to_csc::<T, i32>(shape, &diagonals)?))
        } else {
            T::wrap(<i64 as SparseIndex>::wrap_cs(dia_to_csc::<T, i64>(shape, &diagonals)?))
        }
    });
    Ok(SparseMatrix::from_values(path, meta, values, nnz, true))
}
