//! Fuzzes the scipy sparse `.npz` reader on arbitrary bytes (through the
//! hidden in-memory entry points `read_npz_bytes` / `read_npz_info_bytes`,
//! the same code `read_npz` / `read_npz_info` run on a mapped file). It must
//! never panic, and what it returns must hold up:
//!
//! - `read_npz_info` succeeds wherever `read_npz` does, and reports the same
//!   format, shape, nnz, element kind and `_is_array`;
//! - the matrix is canonical (index pointer from 0, non-decreasing, indices
//!   sorted, unique and within the shape), CSC exactly for `csc` files;
//! - typed access works for its own element and index type only;
//! - for small shapes, `to_dense` and `to_dense_fortran` hold each stored
//!   value added to zero at its position and zeros elsewhere;
//! - written back with `write_npz` (small matrices), it reads back equal;
//! - `read_npz_parts` never panics, and sizes its members exactly.
//!
//! Work is capped: dense outputs only up to `MAX_DENSE_BYTES`, write-backs
//! only up to `MAX_WRITE_NNZ` entries; everything else the reader allocates
//! is bounded by what the input's own compressed members can expand to.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use onedata::npy::{ElementKind, NpyArray};
use onedata::sparse::{
    read_npz, read_npz_bytes, read_npz_info_bytes, read_npz_parts_bytes, CsMatrix, SparseElement,
    SparseFormat, SparseIndex, SparseMatrix,
};
use sprs::CsMatI;

/// Largest dense output computed.
const MAX_DENSE_BYTES: u128 = 1 << 20;
/// Largest matrix written back and re-read.
const MAX_WRITE_NNZ: usize = 4096;

fn bytes_of<T: SparseElement>(x: &T) -> &[u8] {
    bytemuck::bytes_of(x)
}

/// `0 + v`, as scipy's `toarray` adds a stored value to a zeroed output.
fn from_zero<T: SparseElement>(v: T) -> T {
    let mut z: T = bytemuck::Zeroable::zeroed();
    z.accumulate(v);
    z
}

/// A per-process scratch folder for write-backs.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("onedata-fuzz-npz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

/// Checks the structure of a canonical compressed matrix and, for small
/// shapes, its dense forms.
fn check_cs<T: SparseElement, I: SparseIndex>(
    m: &SparseMatrix,
    cs: &CsMatI<T, I>,
    dense: Option<(&NpyArray, &NpyArray)>,
) {
    let [rows, cols] = m.shape();
    assert_eq!((cs.rows(), cs.cols()), (rows, cols));
    assert_eq!(cs.is_csc(), m.format().held_as() == SparseFormat::Csc);
    let outer = cs.outer_dims();
    let inner = cs.inner_dims();
    let indptr = cs.indptr();
    let indptr = indptr.raw_storage();
    assert_eq!(indptr.len(), outer + 1);
    assert_eq!(indptr[0].as_index(), 0);
    let stored = indptr[outer].as_index();
    assert_eq!(cs.indices().len(), stored);
    assert_eq!(cs.data().len(), stored);
    // Canonical: duplicates are summed, so at most as many as the file held.
    // scipy counts a DIA matrix's nnz from its offsets alone.
    assert!(stored <= m.nnz() || m.format() == SparseFormat::Dia);
    for lane in 0..outer {
        let (a, b) = (indptr[lane].as_index(), indptr[lane + 1].as_index());
        assert!(a <= b, "index pointer decreases");
        let idx = &cs.indices()[a..b];
        assert!(
            idx.iter().all(|i| i.as_index() < inner),
            "index out of range"
        );
        assert!(
            idx.windows(2).all(|w| w[0].as_i128() < w[1].as_i128()),
            "indices not sorted and unique"
        );
    }
    let Some((c_order, f_order)) = dense else {
        return;
    };
    let c = c_order.view2::<T>().expect("dense C view");
    let f = f_order.view2::<T>().expect("dense Fortran view");
    assert_eq!(c.dim(), (rows, cols));
    assert_eq!(f.dim(), (rows, cols));
    assert!(!c_order.is_fortran() && f_order.is_fortran());
    let mut seen = 0usize;
    for lane in 0..outer {
        for k in indptr[lane].as_index()..indptr[lane + 1].as_index() {
            let i = cs.indices()[k].as_index();
            let (r, col) = if cs.is_csc() { (i, lane) } else { (lane, i) };
            let want = from_zero(cs.data()[k]);
            assert_eq!(bytes_of(&c[[r, col]]), bytes_of(&want), "dense C value");
            assert_eq!(
                bytes_of(&f[[r, col]]),
                bytes_of(&want),
                "dense Fortran value"
            );
            if bytes_of(&want).iter().any(|&b| b != 0) {
                seen += 1;
            }
        }
    }
    // Everywhere else: zeros.
    let nonzero = |a: &ndarray::ArrayView2<'_, T>| {
        a.iter()
            .filter(|x| bytes_of(*x).iter().any(|&b| b != 0))
            .count()
    };
    assert_eq!(nonzero(&c), seen, "dense C array has stray values");
    assert_eq!(nonzero(&f), seen, "dense Fortran array has stray values");
}

/// Bit-for-bit equality of two canonical matrices (NaN-safe).
fn same_cs<T: SparseElement, I: SparseIndex, J: SparseIndex>(
    a: &CsMatI<T, I>,
    b: &CsMatI<T, J>,
) -> bool {
    let ip = |m: &[I]| m.iter().map(|x| x.as_i128()).collect::<Vec<_>>();
    let jp = |m: &[J]| m.iter().map(|x| x.as_i128()).collect::<Vec<_>>();
    a.shape() == b.shape()
        && a.is_csc() == b.is_csc()
        && ip(a.indptr().raw_storage()) == jp(b.indptr().raw_storage())
        && ip(a.indices()) == jp(b.indices())
        && a.data().len() == b.data().len()
        && a.data()
            .iter()
            .zip(b.data())
            .all(|(x, y)| bytes_of(x) == bytes_of(y))
}

fn check_typed<T: SparseElement>(m: &SparseMatrix) {
    let cs = m.cs::<T>().expect("the matrix's own element type");
    assert_eq!(cs.shape(), (m.shape()[0], m.shape()[1]));
    assert_eq!(cs.index_kind(), m.index_kind());
    assert_eq!(cs.is_csc(), m.format().held_as() == SparseFormat::Csc);

    let [rows, cols] = m.shape();
    let bytes = rows as u128 * cols as u128 * std::mem::size_of::<T>() as u128;
    let dense = if bytes <= MAX_DENSE_BYTES {
        let c = m.to_dense().expect("small dense array");
        let f = m.to_dense_fortran().expect("small dense Fortran array");
        assert_eq!(c.dtype(), &m.dtype());
        assert_eq!(c.shape(), &[rows, cols]);
        Some((c, f))
    } else {
        None
    };
    let dense = dense.as_ref().map(|(c, f)| (c, f));
    match cs {
        CsMatrix::I32(x) => {
            assert!(m.csmat::<T, i32>().is_ok() && m.csmat::<T, i64>().is_err());
            check_cs(m, x, dense);
        }
        CsMatrix::I64(x) => {
            assert!(m.csmat::<T, i64>().is_ok() && m.csmat::<T, i32>().is_err());
            check_cs(m, x, dense);
        }
    }

    // Written back as scipy's save_npz would, it reads back the same matrix.
    if m.nnz() <= MAX_WRITE_NNZ && m.kind() != ElementKind::F16 {
        for compressed in [false, true] {
            let path = scratch().join(if compressed { "c.npz" } else { "s.npz" });
            m.write_npz(&path, compressed)
                .unwrap_or_else(|e| panic!("writing back {m:?}: {e}"));
            let back = read_npz(&path).unwrap_or_else(|e| panic!("re-reading {m:?}: {e}"));
            let back_cs = back.cs::<T>().expect("same element type back");
            assert_eq!(back.shape(), m.shape());
            assert_eq!(back.is_array(), m.is_array());
            // COO and BSR files are held, and written, as CSR; DIA as CSC.
            assert_eq!(back.format(), m.format().held_as());
            let same = match (cs, back_cs) {
                (CsMatrix::I32(a), CsMatrix::I32(b)) => same_cs(a, b),
                (CsMatrix::I32(a), CsMatrix::I64(b)) => same_cs(a, b),
                (CsMatrix::I64(a), CsMatrix::I32(b)) => same_cs(a, b),
                (CsMatrix::I64(a), CsMatrix::I64(b)) => same_cs(a, b),
            };
            assert!(same, "{m:?} written back reads back as {back:?}");
        }
    }
}

fn wrong_type<T: SparseElement>(m: &SparseMatrix) {
    assert!(m.cs::<T>().is_err(), "{m:?} viewed as {:?}", T::KIND);
}

/// `read_npz_parts` (the members as scipy's constructors take them): never
/// a panic; on success every member holds exactly shape x itemsize bytes
/// and every index member has the one index dtype reported.
fn check_parts(data: &[u8]) {
    let Ok(parts) = read_npz_parts_bytes("fuzz.npz", data) else {
        return;
    };
    for p in parts.parts() {
        let n: usize = p.shape().iter().product();
        let size = p.dtype().itemsize().expect("numeric member");
        assert_eq!(p.bytes().as_bytes().len(), n * size, "{}", p.name());
        if p.name() != "data" {
            assert_eq!(p.dtype().kind(), Some(parts.index_kind()), "{}", p.name());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_parts(data);
    let info = read_npz_info_bytes("fuzz.npz", data);
    let m = match read_npz_bytes("fuzz.npz", data) {
        Ok(m) => m,
        Err(_) => return,
    };
    let info = info.unwrap_or_else(|e| panic!("read_npz gives {m:?} but read_npz_info fails: {e}"));
    assert_eq!(info.format, m.format());
    assert_eq!(info.shape, m.shape());
    assert_eq!(info.nnz, m.nnz());
    assert_eq!(info.kind, m.kind());
    assert_eq!(info.is_array, m.is_array());
    assert!(matches!(
        m.index_kind(),
        ElementKind::I32 | ElementKind::I64
    ));
    assert!(m.owned_bytes() < 64 << 20);

    let kind = m.kind();
    for other in ElementKind::ALL {
        if other != kind {
            onedata::with_element_type!(other, T => wrong_type::<T>(&m));
        }
    }
    onedata::with_element_type!(kind, T => check_typed::<T>(&m));
});
