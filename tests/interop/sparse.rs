//! onedata's sparse `.npz` reader and writer against the installed scipy:
//! every file `scipy.sparse.save_npz` writes (each format, class,
//! compression, index dtype and data dtype, canonical or not, empty) must
//! load with scipy's values bit for bit; every file onedata writes must load
//! in scipy as the same `csc_array`/`csr_array`; malformed and hostile
//! archives must be refused with a typed error, never a panic.
//!
//! Fixtures come from `tests/py/gen_sparse_fixtures.py`; written files are
//! judged by `tests/py/check_sparse_written.py`. scipy is required: without
//! it these tests fail, they never skip.

use crate::allocations::measure;
use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use num_complex::Complex;
use onedata::digest::{digest, digest_array, to_hex};
use onedata::npy::{write_npy, Element, ElementKind, NpBool, NpyArray};
use onedata::sparse::{
    read_npz, read_npz_info, write_npz, CsMatrix, SparseElement, SparseFormat, SparseIndex,
    SparseMatrix,
};
use onedata::{Error, ErrorKind, Fault, SparseError};
use serde::Deserialize;
use serde_json::json;
use sprs::{CsMatI, SpIndex};
use tempfile::TempDir;

#[derive(Debug, Deserialize)]
struct Manifest {
    scipy_version: String,
    matrices: Vec<MatrixEntry>,
    malformed: Vec<MalformedEntry>,
}

#[derive(Debug, Deserialize)]
struct MatrixEntry {
    file: String,
    format: String,
    is_array: bool,
    shape: [usize; 2],
    nnz: usize,
    descr: String,
    sha256: Option<String>,
    canonical: bool,
    canon_indptr: Option<Vec<i64>>,
    canon_indices: Vec<i64>,
    canon_data_sha: Option<String>,
    index_kind: String,
    toarray_fortran: Option<bool>,
    /// dia files: the structure of scipy's `tocsr()`, sorted.
    #[serde(default)]
    csr_indptr: Option<Vec<i64>>,
    #[serde(default)]
    csr_indices: Option<Vec<i64>>,
}

#[derive(Debug, Deserialize)]
struct MalformedEntry {
    file: String,
    fault: String,
}

/// Runs the generator into a fresh temporary folder.
fn generate(which: &str) -> (TempDir, Manifest) {
    common::require_scipy();
    let dir = tempfile::tempdir().expect("temporary folder");
    common::run_python(
        common::py_script("gen_sparse_fixtures.py"),
        &[dir.path().as_os_str(), which.as_ref()],
    );
    let text = fs::read_to_string(dir.path().join("manifest.json")).expect("manifest.json");
    let manifest: Manifest = serde_json::from_str(&text).expect("valid manifest.json");
    assert!(
        manifest.scipy_version.starts_with("1."),
        "{}",
        manifest.scipy_version
    );
    (dir, manifest)
}

fn report(failures: Vec<String>, checked: usize) {
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The structure of a canonical matrix: indptr and indices as i64, and the
/// bytes of the data.
type Structure = (Vec<i64>, Vec<i64>, Vec<u8>);

fn structure<T: SparseElement>(m: &CsMatrix<T>) -> Structure {
    fn parts<T: SparseElement, I: SparseIndex>(m: &CsMatI<T, I>) -> Structure {
        let indptr = m
            .indptr()
            .raw_storage()
            .iter()
            .map(|v| v.index() as i64)
            .collect();
        let indices = m.indices().iter().map(|v| v.index() as i64).collect();
        let data = bytemuck::cast_slice::<T, u8>(m.data()).to_vec();
        (indptr, indices, data)
    }
    match m {
        CsMatrix::I32(m) => parts(m),
        CsMatrix::I64(m) => parts(m),
    }
}

/// The index pointer and indices of a matrix held as CSC, converted to CSR
/// (rows in order, columns ascending within each).
fn csr_structure<T: SparseElement>(m: &CsMatrix<T>) -> (Vec<i64>, Vec<i64>) {
    let (indptr, indices, _) = structure(m);
    let rows = match m {
        CsMatrix::I32(m) => m.rows(),
        CsMatrix::I64(m) => m.rows(),
    };
    let mut entries: Vec<(i64, i64)> = Vec::with_capacity(indices.len());
    for col in 0..indptr.len().saturating_sub(1) {
        for &row in &indices[indptr[col] as usize..indptr[col + 1] as usize] {
            entries.push((row, col as i64));
        }
    }
    entries.sort_unstable();
    let mut ptr = vec![0i64; rows + 1];
    for &(r, _) in &entries {
        ptr[r as usize + 1] += 1;
    }
    for k in 0..rows {
        ptr[k + 1] += ptr[k];
    }
    (ptr, entries.into_iter().map(|(_, c)| c).collect())
}

/// The digest of a matrix's data, as the manifest's `canon_data_sha`.
fn data_digest<T: SparseElement>(m: &CsMatrix<T>) -> String {
    let data = match m {
        CsMatrix::I32(m) => m.data(),
        CsMatrix::I64(m) => m.data(),
    };
    to_hex(&digest_array(&ndarray::ArrayView1::from(data)))
}

/// Whether two 2-d arrays of one shape and dtype hold the same elements bit
/// for bit, whatever their memory orders (compared without iterating ndarray
/// views, which is slow in a debug build).
fn same_elements(a: &NpyArray, b: &NpyArray) -> bool {
    if a.shape() != b.shape() || a.dtype() != b.dtype() {
        return false;
    }
    let (Ok(kind), &[rows, cols]) = (a.kind(), a.shape()) else {
        return false;
    };
    let size = kind.itemsize();
    // The byte offset of element (i, j) in each array's memory order.
    let at = |x: &NpyArray, i: usize, j: usize| {
        if x.is_fortran() {
            (j * rows + i) * size
        } else {
            (i * cols + j) * size
        }
    };
    if a.is_fortran() == b.is_fortran() {
        return a.data_bytes() == b.data_bytes();
    }
    let (a_bytes, b_bytes) = (a.data_bytes(), b.data_bytes());
    (0..rows).all(|i| {
        (0..cols).all(|j| {
            let (p, q) = (at(a, i, j), at(b, i, j));
            a_bytes[p..p + size] == b_bytes[q..q + size]
        })
    })
}

/// Checks one loadable fixture; returns what is wrong.
fn check_matrix(dir: &Path, e: &MatrixEntry, rewrite_dir: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    let path = dir.join(&e.file);
    let m = match read_npz(&path) {
        Ok(m) => m,
        Err(err) => return vec![format!("read_npz: {err}")],
    };
    fn check(errs: &mut Vec<String>, what: &str, got: String, want: String) {
        if got != want {
            errs.push(format!("{what}: got {got}, expected {want}"));
        }
    }
    macro_rules! expect {
        ($what:expr, $got:expr, $want:expr $(,)?) => {
            check(&mut errs, $what, $got, $want)
        };
    }
    expect!("format", m.format().to_string(), e.format.clone());
    expect!("is_array", m.is_array().to_string(), e.is_array.to_string());
    expect!(
        "shape",
        format!("{:?}", m.shape()),
        format!("{:?}", e.shape)
    );
    expect!("nnz", m.nnz().to_string(), e.nnz.to_string());
    expect!("dtype", m.dtype().descr(), e.descr.clone());
    expect!(
        "canonical",
        m.is_canonical().to_string(),
        e.canonical.to_string()
    );
    expect!(
        "index kind",
        m.index_kind().code().to_string(),
        e.index_kind.clone(),
    );
    // Kept sparse: the canonical structure.
    let original = onedata::with_element_type!(m.kind(), T => structure(m.cs::<T>().expect("cs")));
    let (indptr, indices, _) = &original;
    if let Some(want) = e.canon_indptr.as_ref().filter(|want| indptr != *want) {
        errs.push(format!(
            "canonical indptr: got {indptr:?}, expected {want:?}"
        ));
    }
    if *indices != e.canon_indices {
        errs.push(format!(
            "canonical indices: got {indices:?}, expected {:?}",
            e.canon_indices
        ));
    }
    if let Some(want) = &e.canon_data_sha {
        let got = onedata::with_element_type!(m.kind(), T => data_digest(m.cs::<T>().expect("cs")));
        expect!("canonical data", got, want.clone());
    }
    // dia files, held as CSC: as CSR, the structure of scipy's tocsr().
    if let (Some(want_ptr), Some(want_idx)) = (&e.csr_indptr, &e.csr_indices) {
        let (ptr, idx) =
            onedata::with_element_type!(m.kind(), T => csr_structure(m.cs::<T>().expect("cs")));
        if (&ptr, &idx) != (want_ptr, want_idx) {
            errs.push(format!(
                "tocsr structure: got {ptr:?} {idx:?}, expected {want_ptr:?} {want_idx:?}"
            ));
        }
    }
    // Densified: scipy's toarray(), in both memory orders. The C-order array
    // has the digest of scipy's; the others hold the same elements bit for
    // bit (and, unless the fixture is one of the large ones, whose digests
    // cost seconds in a debug build, have that digest too).
    match &e.sha256 {
        Some(want) => {
            let small = e.shape[0] * e.shape[1] <= 1 << 16;
            let mut dense: [Option<NpyArray>; 2] = [None, None];
            for fortran in [false, true] {
                let d = if fortran {
                    m.to_dense_fortran()
                } else {
                    m.to_dense()
                };
                match d {
                    Ok(d) => {
                        expect!(
                            "dense order",
                            d.is_fortran().to_string(),
                            fortran.to_string()
                        );
                        expect!(
                            "dense shape",
                            format!("{:?}", d.shape()),
                            format!("{:?}", e.shape)
                        );
                        if !fortran || small {
                            expect!(
                                "dense digest",
                                to_hex(&digest(&d).expect("digest")),
                                want.clone()
                            );
                        }
                        dense[fortran as usize] = Some(d);
                    }
                    Err(err) => errs.push(format!("to_dense: {err}")),
                }
            }
            if let [Some(c), Some(f)] = &dense {
                if !same_elements(c, f) {
                    errs.push("to_dense_fortran holds other elements than to_dense".into());
                }
            }
            // toarray(): scipy's values in scipy's memory order.
            match m.toarray() {
                Ok(d) => {
                    if let Some(f) = e.toarray_fortran {
                        expect!(
                            "toarray order (fortran)",
                            d.is_fortran().to_string(),
                            f.to_string()
                        );
                    }
                    if small {
                        expect!(
                            "toarray digest",
                            to_hex(&digest(&d).expect("digest")),
                            want.clone()
                        );
                    }
                    match &dense[0] {
                        Some(c) if same_elements(c, &d) => {}
                        Some(_) => errs.push("toarray holds other elements than to_dense".into()),
                        None => {}
                    }
                }
                Err(err) => errs.push(format!("toarray: {err}")),
            }
        }
        None => match m.to_dense().map_err(Error::into_kind) {
            Err(ErrorKind::Invalid {
                fault: Fault::Sparse(SparseError::TooLarge { .. }),
                ..
            }) => {}
            other => errs.push(format!("to_dense of a huge shape: {other:?}")),
        },
    }
    // The cheap description agrees.
    match read_npz_info(&path) {
        Ok(info) => {
            if info.format != m.format()
                || info.shape != m.shape()
                || info.nnz != m.nnz()
                || info.kind != m.kind()
                || info.is_array != m.is_array()
            {
                errs.push(format!("read_npz_info disagrees: {info:?} vs {m:?}"));
            }
        }
        Err(err) => errs.push(format!("read_npz_info: {err}")),
    }
    // Written back by onedata and read again: the same matrix.
    if e.sha256.is_some() && m.kind() != ElementKind::F16 {
        for compressed in [true, false] {
            let out = rewrite_dir.join(format!("{}.{compressed}.npz", e.file));
            if let Err(err) = m.write_npz(&out, compressed) {
                errs.push(format!("write_npz: {err}"));
                continue;
            }
            match read_npz(&out) {
                Ok(back) => {
                    let same = back.kind() == m.kind()
                        && onedata::with_element_type!(m.kind(), T => {
                            structure(back.cs::<T>().expect("cs")) == original
                        });
                    if !same || back.shape() != m.shape() || back.is_array() != m.is_array() {
                        errs.push(format!(
                            "rewritten (compressed={compressed}) reads back different"
                        ));
                    }
                }
                Err(err) => errs.push(format!("reading the rewritten file: {err}")),
            }
        }
    }
    errs.into_iter()
        .map(|x| format!("{}: {x}", e.file))
        .collect()
}

#[test]
fn scipy_files_load_bit_exact() {
    let (dir, manifest) = generate("matrices");
    assert!(manifest.matrices.len() > 900, "{}", manifest.matrices.len());
    let rewrite = tempfile::tempdir().expect("temporary folder");
    // The fixtures are checked on every core, each thread taking the next.
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut found: Vec<(usize, Vec<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut found = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(e) = manifest.matrices.get(i) else {
                            break found;
                        };
                        found.push((i, check_matrix(dir.path(), e, rewrite.path())));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    assert_eq!(found.len(), manifest.matrices.len());
    found.sort_by_key(|(i, _)| *i);
    let mut failures: Vec<String> = found.into_iter().flat_map(|(_, errs)| errs).collect();
    // Every combination the brief names is there.
    for needle in [
        "csc_array_z_i4",
        "csc_matrix_s_i8",
        "csr_array_s_i4",
        "csr_matrix_z_i8",
        "coo_array_z_i8",
        "coo_matrix_s_i4",
        "_messy",
        "_empty",
        "_zero_rows",
        "_zero_cols",
        "_c16_",
        "_b1_",
        "_u8_",
        "hand_csc_f2",
        "hand_csr_bigendian",
        "bsr_array_z_i4",
        "bsr_matrix_s_i8",
        "bsr_array_s_i4_b1_messy",
        "bsr_array_z_i8_c16_canon_3x4",
        "bsr_array_z_i4_f4_empty",
        "_1x1.npz",
        "_6x12.npz",
        "hand_bsr_pruned",
        "hand_bsr_fortran",
        "dia_array_z_i8",
        "dia_matrix_s_i4",
        "dia_array_s_i4_f8_zeros",
        "dia_matrix_z_i8_c16_random",
        "dia_array_z_i4_i4_empty",
        "_L4.npz",
        "_L9.npz",
        "hand_dia_fortran",
        "hand_dia_1d",
    ] {
        if !manifest.matrices.iter().any(|m| m.file.contains(needle)) {
            failures.push(format!("no fixture named like {needle}"));
        }
    }
    // toarray()'s memory order was checked both ways.
    for order in [Some(true), Some(false)] {
        if !manifest.matrices.iter().any(|m| m.toarray_fortran == order) {
            failures.push(format!("no fixture whose toarray_fortran is {order:?}"));
        }
    }
    report(failures, manifest.matrices.len());
}

/// The variant name of a sparse fault, as the manifest names it.
fn fault_name(err: &Error) -> String {
    match err.fault() {
        Some(Fault::Sparse(f)) => {
            let dbg = format!("{f:?}");
            dbg.split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("")
                .to_string()
        }
        Some(other) => format!("not a sparse fault: {other:?}"),
        None => format!("not an Invalid error: {err:?}"),
    }
}

/// What is wrong with the refusal of a zip bomb, unless its fault names sizes
/// read from the zip directory and the members' `.npy` headers, far past what
/// the archive holds.
fn bomb_refused_from_headers(file: &str, err: &Error) -> Option<String> {
    match err.fault() {
        // bad_bomb_claim and bad_bomb_consistent: 2^37 elements (512 GiB of
        // int32 indices, 1 TiB of float64 data) claimed in a few KiB.
        Some(Fault::Sparse(SparseError::ImplausibleSize {
            claimed,
            compressed,
            ..
        })) if *claimed > 1 << 39 && *compressed < 1 << 20 => None,
        // bad_bomb_huge_member: 200 MB of zeros deflated to 200 KB, whose
        // header's 25,000,000 float64 do not match the 4 indices.
        Some(Fault::Sparse(SparseError::LengthMismatch {
            first,
            first_len: 25_000_000,
            second,
            second_len: 4,
        })) if first == "data.npy" && second == "indices.npy" => None,
        Some(Fault::Sparse(SparseError::ImplausibleSize {
            member,
            claimed,
            compressed,
        })) if member == "data.npy" && *claimed > 200_000_000 && *compressed < 1 << 20 => None,
        _ => Some(format!(
            "{file}: {err:?} is not a refusal from the sizes the headers claim"
        )),
    }
}

#[test]
fn malformed_files_are_refused() {
    let (dir, manifest) = generate("malformed");
    assert!(
        manifest.malformed.len() >= 50,
        "{}",
        manifest.malformed.len()
    );
    let mut failures = Vec::new();
    for e in &manifest.malformed {
        let path = dir.path().join(&e.file);
        let bomb = e.file.contains("bomb");
        let (result, largest, _) = measure(|| read_npz(&path));
        match result {
            Ok(m) => failures.push(format!("{}: loaded: {m:?}", e.file)),
            Err(err) => {
                let msg = err.to_string();
                if fault_name(&err) != e.fault {
                    failures.push(format!(
                        "{}: expected {}, got {msg} ({err:?})",
                        e.file, e.fault
                    ));
                }
                if !msg.contains(&e.file) {
                    failures.push(format!("{}: message does not name the file: {msg}", e.file));
                }
                if bomb {
                    failures.extend(bomb_refused_from_headers(&e.file, &err));
                }
            }
        }
        // Bombs are refused from the headers, before anything large is
        // inflated: nothing near the size they claim is allocated.
        if bomb && largest >= 16 << 20 {
            failures.push(format!(
                "{}: {largest} bytes allocated at once to refuse it",
                e.file
            ));
        }
        // The cheap reader must not panic either (it reads less, so it may succeed).
        let _ = read_npz_info(&path);
    }
    for m in &manifest.matrices {
        if let Err(err) = read_npz(dir.path().join(&m.file)) {
            failures.push(format!("{}: the hand-made zip must load: {err}", m.file));
        }
    }
    for needle in [
        "bad_text",
        "bad_truncated_half",
        "bad_missing_indptr",
        "bad_dtype_indices_float",
        "bad_indptr_start",
        "bad_indptr_decreasing",
        "bad_indptr_end",
        "bad_indptr_length",
        "bad_index_oob",
        "bad_shape_negative",
        "bad_shape_3d",
        "bad_format_dia",
        "bad_format_lil",
        "bad_format_xyz",
        "bad_bsr_blocksize_zero",
        "bad_bsr_blocksize_cols",
        "bad_bsr_indptr_decreasing",
        "bad_bsr_index_oob",
        "bad_bsr_length_mismatch",
        "bad_bsr_huge_rows",
        "bad_dia_duplicate_offsets",
        "bad_dia_length_mismatch",
        "bad_dia_huge_cols",
        "bad_member_short",
        "bad_bomb_claim",
        "bad_bomb_huge_member",
        "bad_length_mismatch",
    ] {
        if !manifest.malformed.iter().any(|m| m.file.contains(needle)) {
            failures.push(format!("no malformed fixture named like {needle}"));
        }
    }
    report(failures, manifest.malformed.len());
}

/// Deterministic values of every element type, with the awkward ones first.
trait Sample: SparseElement {
    fn sample(k: usize) -> Self;
}

macro_rules! int_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn sample(k: usize) -> Self {
                match k {
                    0 => <$t>::MAX,
                    1 => <$t>::MIN,
                    2 => 0,
                    _ => (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as $t,
                }
            }
        }
    )*};
}
int_sample!(i8, u8, i16, u16, i32, u32, i64, u64);

impl Sample for NpBool {
    fn sample(k: usize) -> Self {
        NpBool((k % 3 != 1) as u8)
    }
}

impl Sample for f32 {
    fn sample(k: usize) -> Self {
        match k {
            0 => -0.0,
            1 => f32::from_bits(0x7FC0_1234),
            2 => f32::INFINITY,
            3 => f32::MIN_POSITIVE / 4.0,
            _ => (k as f32 * 0.37).sin() * 1e3,
        }
    }
}

impl Sample for f64 {
    fn sample(k: usize) -> Self {
        match k {
            0 => -0.0,
            1 => f64::from_bits(0xFFF8_0000_DEAD_BEEF),
            2 => f64::NEG_INFINITY,
            3 => 5e-324,
            _ => (k as f64 * 0.37).sin() * 1e-3,
        }
    }
}

impl Sample for Complex<f32> {
    fn sample(k: usize) -> Self {
        Complex::new(f32::sample(k), f32::sample(k + 3))
    }
}

impl Sample for Complex<f64> {
    fn sample(k: usize) -> Self {
        Complex::new(f64::sample(k + 1), f64::sample(k))
    }
}

/// A CSC (or CSR) matrix of `shape` with about a third of its cells set.
fn sample_matrix<T: Sample, I: SpIndex>(shape: (usize, usize), csc: bool) -> CsMatI<T, I> {
    let (outer, inner) = if csc { (shape.1, shape.0) } else { shape };
    let mut indptr = vec![I::from_usize(0)];
    let mut indices = Vec::new();
    let mut data = Vec::new();
    for o in 0..outer {
        for i in 0..inner {
            if (o * 7 + i * 3) % 3 == 0 {
                indices.push(I::from_usize(i));
                data.push(T::sample(data.len()));
            }
        }
        indptr.push(I::from_usize(indices.len()));
    }
    if csc {
        CsMatI::new_csc(shape, indptr, indices, data)
    } else {
        CsMatI::new(shape, indptr, indices, data)
    }
}

/// The dense array scipy must give for `m`, built independently of
/// onedata's densifier: zeros, plus each stored value.
fn expected_dense<T: Sample, I: SpIndex>(m: &CsMatI<T, I>) -> ndarray::Array2<T> {
    let mut out =
        ndarray::Array2::<T>::from_elem((m.rows(), m.cols()), bytemuck::Zeroable::zeroed());
    for (v, (r, c)) in m.iter() {
        out[[r.index(), c.index()]].accumulate(*v);
    }
    out
}

struct Writer {
    dir: TempDir,
    entries: Vec<serde_json::Value>,
}

impl Writer {
    fn write<T: Sample, I: SpIndex + bytemuck::NoUninit>(&mut self, m: &CsMatI<T, I>, tag: &str) {
        for compressed in [true, false] {
            let name = format!(
                "{tag}_{}_{}_{}_{}.npz",
                if m.is_csc() { "csc" } else { "csr" },
                T::KIND.code(),
                std::mem::size_of::<I>(),
                if compressed { "z" } else { "s" }
            );
            let path = self.dir.path().join(&name);
            write_npz(&path, m, compressed).unwrap_or_else(|e| panic!("write_npz {name}: {e}"));
            write_npy(
                self.dir.path().join(format!("{name}.dense.npy")),
                &expected_dense(m),
            )
            .expect("dense");
            write_npy(
                self.dir.path().join(format!("{name}.data.npy")),
                &ndarray::ArrayView1::from(m.data()),
            )
            .expect("data");
            let wide = m.rows().max(m.cols()).max(m.nnz()) > i32::MAX as usize;
            self.entries.push(json!({
                "file": name,
                "format": if m.is_csc() { "csc" } else { "csr" },
                "shape": [m.rows(), m.cols()],
                "descr": T::KIND.native_descr(),
                "index_descr": if wide { "<i8" } else { "<i4" },
                "nnz": m.nnz(),
                "compressed": compressed,
                "dense": format!("{name}.dense.npy"),
                "data": format!("{name}.data.npy"),
            }));
            // And onedata reads its own file back as it was.
            let back = read_npz(&path).unwrap_or_else(|e| panic!("read_npz {name}: {e}"));
            let dense = back.to_dense().expect("to_dense");
            assert_eq!(
                digest(&dense).expect("digest"),
                digest_array(&expected_dense(m)),
                "{name}"
            );
            assert_eq!(back.nnz(), m.nnz(), "{name}");
        }
    }

    fn all_indices<T: Sample>(&mut self) {
        for (tag, shape) in [
            ("m", (6, 4)),
            ("empty", (0, 3)),
            ("thin", (3, 0)),
            ("one", (1, 1)),
        ] {
            for csc in [true, false] {
                self.write(&sample_matrix::<T, i32>(shape, csc), tag);
                self.write(&sample_matrix::<T, i64>(shape, csc), tag);
                self.write(&sample_matrix::<T, usize>(shape, csc), tag);
            }
        }
    }
}

#[test]
fn written_files_load_in_scipy_as_written() {
    common::require_scipy();
    let mut w = Writer {
        dir: tempfile::tempdir().expect("temporary folder"),
        entries: Vec::new(),
    };
    w.all_indices::<NpBool>();
    w.all_indices::<i8>();
    w.all_indices::<u8>();
    w.all_indices::<i16>();
    w.all_indices::<u16>();
    w.all_indices::<i32>();
    w.all_indices::<u32>();
    w.all_indices::<i64>();
    w.all_indices::<u64>();
    w.all_indices::<f32>();
    w.all_indices::<f64>();
    w.all_indices::<Complex<f32>>();
    w.all_indices::<Complex<f64>>();
    // No stored entries at all, and a slice of a matrix (its index pointer
    // does not start at 0).
    w.write(&CsMatI::<f64, i32>::zero((5, 3)).to_csc(), "zero");
    let big = sample_matrix::<f32, usize>((9, 8), false);
    let slice = big.slice_outer(3..7).to_owned();
    w.write(&slice, "sliced_owned");
    let view = big.slice_outer(2..6);
    let name = "sliced_view.npz";
    write_npz(w.dir.path().join(name), &view, false).expect("write a view");
    let back = read_npz(w.dir.path().join(name)).expect("read the view back");
    assert_eq!(back.shape(), [4, 8]);
    assert_eq!(
        digest(&back.to_dense().expect("dense")).expect("digest"),
        digest_array(&expected_dense(&view.to_owned()))
    );
    let manifest = w.dir.path().join("manifest.json");
    fs::write(&manifest, serde_json::to_string(&w.entries).expect("json")).expect("manifest");
    let out = common::run_python(
        common::py_script("check_sparse_written.py"),
        &[w.dir.path().as_os_str()],
    );
    assert!(
        out.trim_end()
            .ends_with(&format!("{} passed, 0 failed", w.entries.len())),
        "{out}"
    );
}

/// Valid small archives to mutate: stored and deflated CSC, a COO from scipy.
fn mutation_bases(dir: &Path) -> Vec<PathBuf> {
    let m = sample_matrix::<f64, i32>((6, 4), true);
    let mut out = Vec::new();
    for compressed in [false, true] {
        let p = dir.join(format!("base_{compressed}.npz"));
        write_npz(&p, &m, compressed).expect("write base");
        out.push(p);
    }
    out
}

#[test]
fn mutated_archives_never_panic() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let target = dir.path().join("mutant.npz");
    let mut file = common::Rewritten::open(&target);
    let mut tried = 0usize;
    let mut loaded = 0usize;
    for base in mutation_bases(dir.path()) {
        let bytes = fs::read(&base).expect("base");
        let mut attempt = |mutant: &[u8]| {
            file.holds(mutant);
            tried += 1;
            if let Ok(m) = read_npz(&target) {
                loaded += 1;
                // Whatever loads is consistent enough to densify.
                let _ = m.to_dense();
            }
            let _ = read_npz_info(&target);
        };
        for cut in 0..bytes.len() {
            attempt(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= mask;
                attempt(&b);
            }
        }
    }
    assert!(tried > 5000, "{tried}");
    // The CRC catches every flipped data byte, so few mutants load.
    assert!(loaded < tried / 2, "{loaded} of {tried} loaded");
}

#[test]
fn typed_access_names_what_the_matrix_holds() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("m.npz");
    let m = sample_matrix::<f32, i64>((4, 5), false);
    write_npz(&path, &m, true).expect("write");
    let back = read_npz(&path).expect("read");
    // Written with int32 indices (they fit), so held as i32.
    assert_eq!(back.index_kind(), ElementKind::I32);
    assert_eq!(back.format(), SparseFormat::Csr);
    assert!(back.csmat::<f32, i32>().is_ok());
    match back.csmat::<f32, i64>().map_err(Error::into_kind) {
        Err(ErrorKind::TypeMismatch {
            requested, found, ..
        }) => {
            assert_eq!(requested, ElementKind::I64.native_descr());
            assert_eq!(found, ElementKind::I32.native_descr());
        }
        other => panic!("{other:?}"),
    }
    match back.cs::<f64>().map_err(Error::into_kind) {
        Err(ErrorKind::TypeMismatch {
            requested, found, ..
        }) => {
            assert_eq!(requested, "<f8");
            assert_eq!(found, "<f4");
        }
        other => panic!("{other:?}"),
    }
    let usize_indices = back.cs::<f32>().expect("f32").to_usize_indices();
    assert_eq!(usize_indices.nnz(), m.nnz());
    let back = back.into_cs::<f64>().expect_err("not f64");
    let cs = back.into_cs::<f32>().expect("f32");
    assert_eq!(cs.shape(), (4, 5));
    fn send_sync_debug<T: Send + Sync + std::fmt::Debug + Clone>() {}
    send_sync_debug::<SparseMatrix>();
}

#[test]
fn float16_is_not_written_and_bool_is() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let m = CsMatI::<half::f16, i32>::new_csc((2, 2), vec![0, 1, 1], vec![1], vec![half::f16::ONE]);
    let err = write_npz(dir.path().join("h.npz"), &m, true).expect_err("f16 refused");
    assert!(err.to_string().contains("float16"), "{err}");
    let b = CsMatI::<bool, i32>::new_csc((2, 2), vec![0, 1, 1], vec![1], vec![true]);
    write_npz(dir.path().join("b.npz"), &b, false).expect("bool");
    let back = read_npz(dir.path().join("b.npz")).expect("read bool");
    assert_eq!(back.kind(), ElementKind::Bool);
    assert!(back.to_dense().expect("dense").to_bool().expect("bool")[[1, 0]]);
}

#[test]
fn owned_bytes_and_debug() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("m.npz");
    let m = sample_matrix::<f64, i32>((10, 10), true);
    write_npz(&path, &m, false).expect("write");
    let back = read_npz(&path).expect("read");
    assert_eq!(back.owned_bytes(), 11 * 4 + m.nnz() * (4 + 8));
    let dbg = format!("{back:?}");
    assert!(dbg.contains("csc") && dbg.contains("<f8"), "{dbg}");
    assert_eq!(back.path(), path.as_path());
    let s = <f64 as Element>::KIND;
    assert_eq!(back.kind(), s);
}
