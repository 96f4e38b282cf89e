//! Hostile `bsr` and `dia` archives: typed faults naming the member, shape
//! bombs refused before an index pointer of their size is allocated, and
//! `loadone` densifying such files as scipy's `toarray()` does (C order).

use std::fs;

use ndarray::{arr2, Array1, Array2, Array3, ArrayD, IxDyn};
use onedata::sparse::{read_npz, read_npz_bytes, read_npz_info, read_npz_info_bytes, SparseFormat};
use onedata::{ErrorKind, Fault, LoadOptions, SessionData, SparseError};

use super::{no_panic, npy_bytes, npy_file, one_dir, session_in, stored, zip, ZipMember};

fn format_member(name: &[u8; 3]) -> ZipMember {
    stored(
        "format.npy",
        npy_file(
            1,
            "{'descr': '|S3', 'fortran_order': False, 'shape': (), }",
            name,
        ),
    )
}

fn shape_member(shape: (i64, i64)) -> ZipMember {
    stored(
        "shape.npy",
        npy_bytes(&Array1::from_vec(vec![shape.0, shape.1])),
    )
}

fn bsr(shape: (i64, i64), data: ArrayD<f64>, indices: &[i32], indptr: &[i32]) -> Vec<u8> {
    zip(&[
        stored(
            "indices.npy",
            npy_bytes(&Array1::from_vec(indices.to_vec())),
        ),
        stored("indptr.npy", npy_bytes(&Array1::from_vec(indptr.to_vec()))),
        format_member(b"bsr"),
        shape_member(shape),
        stored("data.npy", npy_bytes(&data)),
    ])
}

fn dia(shape: (i64, i64), data: ArrayD<f64>, offsets: &[i64]) -> Vec<u8> {
    zip(&[
        stored(
            "offsets.npy",
            npy_bytes(&Array1::from_vec(offsets.to_vec())),
        ),
        format_member(b"dia"),
        shape_member(shape),
        stored("data.npy", npy_bytes(&data)),
    ])
}

/// `(nblocks, 2, 3)` blocks numbered from 1.
fn blocks(nblocks: usize) -> ArrayD<f64> {
    Array3::from_shape_fn((nblocks, 2, 3), |(k, r, c)| (k * 6 + r * 3 + c + 1) as f64).into_dyn()
}

fn diagonals(n: usize, len: usize) -> ArrayD<f64> {
    Array2::from_shape_fn((n, len), |(i, j)| (i * len + j + 1) as f64).into_dyn()
}

/// The sparse fault `read_npz` gives for `bytes`, checked to name the file.
fn fault_of(dir: &std::path::Path, tag: &str, bytes: Vec<u8>) -> SparseError {
    let path = dir.join(format!("{tag}.npz"));
    fs::write(&path, bytes).unwrap();
    let err = read_npz(&path).expect_err(tag);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{tag}: {err}"
    );
    match err.into_kind() {
        ErrorKind::Invalid {
            fault: Fault::Sparse(f),
            ..
        } => f,
        other => panic!("{tag}: not a sparse fault: {other:?}"),
    }
}

#[test]
fn malformed_bsr_and_dia_are_typed_faults_naming_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // bsr, 4 x 6 in blocks of 2 x 3: a good one first.
    let good = bsr((4, 6), blocks(3), &[0, 1, 1], &[0, 2, 3]);
    fs::write(d.join("good.npz"), &good).unwrap();
    let m = read_npz(d.join("good.npz")).unwrap();
    assert_eq!((m.format(), m.nnz()), (SparseFormat::Bsr, 18));

    match fault_of(
        d,
        "bsr_rows",
        bsr((5, 6), blocks(3), &[0, 1, 1], &[0, 2, 3]),
    ) {
        SparseError::BadBlocksize {
            member,
            blocksize: [2, 3],
            shape: [5, 6],
        } if member == "data.npy" => {}
        f => panic!("bsr_rows: {f:?}"),
    }
    match fault_of(
        d,
        "bsr_empty_blocks",
        bsr((4, 6), ArrayD::zeros(IxDyn(&[0, 0, 3])), &[], &[0]),
    ) {
        SparseError::BadBlocksize { member, .. } if member == "data.npy" => {}
        f => panic!("bsr_empty_blocks: {f:?}"),
    }
    match fault_of(
        d,
        "bsr_2d",
        bsr((4, 6), diagonals(3, 6), &[0, 1, 1], &[0, 2, 3]),
    ) {
        SparseError::MemberShape { member, .. } if member == "data.npy" => {}
        f => panic!("bsr_2d: {f:?}"),
    }
    match fault_of(d, "bsr_oob", bsr((4, 6), blocks(3), &[0, 1, 2], &[0, 2, 3])) {
        SparseError::IndexOutOfBounds {
            member,
            position: 2,
            value: 2,
            bound: 2,
        } if member == "indices.npy" => {}
        f => panic!("bsr_oob: {f:?}"),
    }
    match fault_of(
        d,
        "bsr_decreasing",
        bsr((4, 6), blocks(3), &[0, 1, 1], &[0, 3, 2]),
    ) {
        SparseError::BadIndptr(_) => {}
        f => panic!("bsr_decreasing: {f:?}"),
    }
    match fault_of(
        d,
        "bsr_past_end",
        bsr((4, 6), blocks(3), &[0, 1, 1], &[0, 2, 4]),
    ) {
        SparseError::BadIndptr(_) => {}
        f => panic!("bsr_past_end: {f:?}"),
    }
    match fault_of(
        d,
        "bsr_lengths",
        bsr((4, 6), blocks(3), &[0, 1], &[0, 1, 2]),
    ) {
        SparseError::LengthMismatch {
            first,
            first_len: 3,
            second,
            second_len: 2,
        } if first == "data.npy" && second == "indices.npy" => {}
        f => panic!("bsr_lengths: {f:?}"),
    }

    // dia, 4 x 5.
    match fault_of(
        d,
        "dia_duplicate",
        dia((4, 5), diagonals(3, 5), &[1, -2, 1]),
    ) {
        SparseError::DuplicateOffset { member, offset: 1 } if member == "offsets.npy" => {}
        f => panic!("dia_duplicate: {f:?}"),
    }
    match fault_of(d, "dia_lengths", dia((4, 5), diagonals(2, 5), &[0, 1, 2])) {
        SparseError::LengthMismatch {
            first,
            first_len: 2,
            second,
            second_len: 3,
        } if first == "data.npy" && second == "offsets.npy" => {}
        f => panic!("dia_lengths: {f:?}"),
    }
    match fault_of(d, "dia_3d", dia((4, 5), blocks(2), &[0, 1])) {
        SparseError::MemberShape { member, .. } if member == "data.npy" => {}
        f => panic!("dia_3d: {f:?}"),
    }
    // read_npz_info refuses what read_npz refuses in the small members.
    let path = d.join("dia_duplicate.npz");
    assert!(read_npz_info(&path).is_err());
    assert!(read_npz_info(d.join("bsr_rows.npz")).is_err());
}

#[test]
fn bsr_and_dia_shape_bombs_are_refused_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No blocks of 2^38 x 3 in 2^40 rows: the CSR index pointer would take 8 TiB.
    let bytes = bsr(
        (1 << 40, 6),
        ArrayD::zeros(IxDyn(&[0, 1 << 38, 3])),
        &[],
        &[0, 0, 0, 0, 0],
    );
    assert!(bytes.len() < 4096);
    match fault_of(d, "bsr_bomb", bytes) {
        SparseError::TooLarge { .. } => {}
        f => panic!("bsr_bomb: {f:?}"),
    }
    let info = read_npz_info(d.join("bsr_bomb.npz")).unwrap();
    assert_eq!(
        (info.format, info.shape, info.nnz),
        (SparseFormat::Bsr, [1 << 40, 6], 0)
    );
    // No diagonals in 2^40 columns: the CSC index pointer would take 8 TiB.
    match fault_of(
        d,
        "dia_bomb",
        dia((3, 1 << 40), ArrayD::zeros(IxDyn(&[0, 0])), &[]),
    ) {
        SparseError::TooLarge { .. } => {}
        f => panic!("dia_bomb: {f:?}"),
    }
    // Offsets at the ends of int64 overflow nothing: the diagonals lie
    // outside the matrix (scipy's nnz of them is negative: 0).
    let path = d.join("dia_extreme.npz");
    fs::write(&path, dia((3, 4), diagonals(2, 4), &[i64::MIN, i64::MAX])).unwrap();
    let m = read_npz(&path).unwrap();
    assert_eq!(m.nnz(), 0);
    assert_eq!(
        m.to_dense().unwrap().view2::<f64>().unwrap(),
        Array2::<f64>::zeros((3, 4))
    );
}

#[test]
fn loadone_densifies_bsr_and_dia_as_scipy_toarray() {
    let dir = tempfile::tempdir().unwrap();
    let s = session_in(dir.path());
    let one = one_dir(&s);
    // Two blocks at block column 1 of block row 0 are summed.
    fs::write(
        one.join("mpci.bsr.npz"),
        bsr((4, 6), blocks(3), &[1, 1, 0], &[0, 2, 3]),
    )
    .unwrap();
    // 3 x 4, offsets [-2, 0, 1]: data[i, j] at row j - offsets[i], column j.
    let data = arr2(&[
        [4.0, 0.0, 0.0, 0.0],
        [1.0, -0.0, f64::NAN, 9.0],
        [5.0, 6.0, 0.0, 8.0],
    ]);
    fs::write(
        one.join("mpci.dia.npz"),
        dia((3, 4), data.into_dyn(), &[-2, 0, 1]),
    )
    .unwrap();

    let dense = s
        .loadone_with("mpci.bsr", LoadOptions::sparse(false))
        .unwrap();
    let dense = dense.as_dense().expect("dense");
    assert!(!dense.is_fortran());
    assert_eq!(
        dense.view2::<f64>().unwrap(),
        arr2(&[
            [0.0, 0.0, 0.0, 8.0, 10.0, 12.0],
            [0.0, 0.0, 0.0, 14.0, 16.0, 18.0],
            [13.0, 14.0, 15.0, 0.0, 0.0, 0.0],
            [16.0, 17.0, 18.0, 0.0, 0.0, 0.0],
        ])
    );
    let kept = s
        .loadone_with("mpci.bsr", LoadOptions::sparse(true))
        .unwrap();
    let kept = kept.as_sparse().expect("sparse");
    assert_eq!(
        (kept.format(), kept.nnz(), kept.is_canonical()),
        (SparseFormat::Bsr, 18, false)
    );
    assert!(!kept.csmat::<f64, i32>().unwrap().is_csc());

    let dense = s
        .loadone_with("mpci.dia", LoadOptions::sparse(false))
        .unwrap();
    let dense = dense.as_dense().expect("dense");
    assert!(!dense.is_fortran());
    let v = dense.view2::<f64>().unwrap();
    let want = [
        [1.0, 6.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [4.0, 0.0, f64::NAN, 8.0],
    ];
    for (i, row) in want.iter().enumerate() {
        for (j, &w) in row.iter().enumerate() {
            assert_eq!(v[[i, j]].to_bits(), w.to_bits(), "({i}, {j})");
        }
    }
    let kept = s
        .loadone_with("mpci.dia", LoadOptions::sparse(true))
        .unwrap();
    let kept = kept.as_sparse().expect("sparse");
    // scipy's nnz: 1 + 3 + 3 from the offsets; held: the 5 nonzeros, as CSC.
    assert_eq!((kept.format(), kept.nnz()), (SparseFormat::Dia, 7));
    let csc = kept.csmat::<f64, i32>().unwrap();
    assert!(csc.is_csc());
    assert_eq!(csc.nnz(), 5);
}

#[test]
fn mutated_bsr_and_dia_archives_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bases = [
        ("bsr", bsr((4, 6), blocks(3), &[1, 1, 0], &[0, 2, 3])),
        ("dia", dia((4, 5), diagonals(3, 5), &[-1, 0, 3])),
    ];
    let path = dir.path().join("m.npz");
    let mut refused = 0usize;
    for (tag, base) in &bases {
        for pos in 0..base.len() {
            for value in [0x00u8, 0x01, 0x7f, 0x80, 0xff, base[pos] ^ 0x04] {
                let mut bytes = base.clone();
                bytes[pos] = value;
                let case = || format!("{tag} with byte {pos} set to {value:#04x}");
                // In memory (the fuzz target's entry points): the same
                // checks as on a mapped file, without 10,000 file writes.
                let loaded = no_panic(&case, || {
                    let _ = read_npz_info_bytes(&path, &bytes);
                    read_npz_bytes(&path, &bytes).map(|m| m.to_dense().map(|d| d.shape().to_vec()))
                });
                refused += loaded.is_err() as usize;
            }
        }
        // Truncated at every length.
        for len in 0..base.len() {
            let case = || format!("{tag} truncated to {len} bytes");
            let loaded = no_panic(&case, || {
                read_npz_bytes(&path, &base[..len]).map(|m| m.nnz())
            });
            assert!(loaded.is_err(), "{}", case());
        }
    }
    // Most changes hit a CRC, a header or a structure check.
    assert!(refused > 1000, "{refused}");
}
