//! Stored sparse `.npz` files against the installed scipy: files written
//! with 64-byte aligned member data load in scipy exactly as the plain
//! stored files `save_npz(..., compressed=False)` writes, and load in
//! onedata as zero-copy views of the map; scipy's own stored files (not
//! aligned) load with one copy and the values scipy holds, bit for bit.
//! Judged by `tests/py/sparse_stored.py`; scipy is required.

use crate::common;

use std::fs;
use std::path::Path;

use num_complex::Complex;
use onedata::npy::{Element, NpyArray};
use onedata::sparse::{
    read_npz, read_npz_stored, write_npz, write_npz_with, NpzOptions, SparseElement, SparseFormat,
    SparseIndex, SparseMatrix, StoredMatrix,
};
use serde::Deserialize;
use serde_json::json;
use sprs::CsMatI;

fn sample<T: Copy>(shape: (usize, usize), csc: bool, value: impl Fn(usize) -> T) -> CsMatI<T, i32> {
    let (major, minor) = if csc { (shape.1, shape.0) } else { shape };
    let mut indptr = vec![0i32];
    let mut indices = Vec::new();
    let mut data = Vec::new();
    for k in 0..major {
        for j in (0..minor).filter(|j| (j * 7 + k * 3) % 5 == 0) {
            indices.push(j as i32);
            data.push(value(indices.len()));
        }
        indptr.push(indices.len() as i32);
    }
    if csc {
        CsMatI::new_csc(shape, indptr, indices, data)
    } else {
        CsMatI::new(shape, indptr, indices, data)
    }
}

/// Checks a mapped load of an aligned file: zero copy, data in the map, and
/// the same structure and values as the matrix written.
fn check_mapped<T: SparseElement + PartialEq>(path: &Path, m: &CsMatI<T, i32>) {
    let s = read_npz_stored(path).unwrap();
    assert!(s.is_mapped(), "{}: {s:?}", path.display());
    assert_eq!(s.owned_bytes(), 0);
    let map = s.map_address_range().expect("mapped");
    let v = s.view::<T, i32>().unwrap();
    for p in [
        v.data().as_ptr() as usize,
        v.indices().as_ptr() as usize,
        v.indptr().as_ptr() as usize,
    ] {
        assert!(
            map.contains(&p) || (v.nnz() == 0 && p <= map.end),
            "not in the map"
        );
        assert_eq!(p % 64, 0, "not 64-aligned");
    }
    assert_eq!(v.shape(), [m.rows(), m.cols()]);
    assert_eq!(v.is_csc(), m.is_csc());
    let sv = v.to_sprs().unwrap();
    assert_eq!(sv.indptr().raw_storage(), m.indptr().raw_storage());
    assert_eq!(sv.indices(), m.indices());
    assert!(sv.data() == m.data());
    for (value, (r, c)) in m.iter() {
        assert!(v.get(r as usize, c as usize) == Some(value));
    }
}

#[test]
fn aligned_files_load_in_scipy_and_map_in_place() {
    common::require_scipy();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut manifest = Vec::new();
    let mut both = |name: &str, write: &dyn Fn(&Path, NpzOptions)| {
        let aligned = format!("{name}.aligned.npz");
        let plain = format!("{name}.plain.npz");
        write(&d.join(&aligned), NpzOptions::ALIGNED);
        write(&d.join(&plain), NpzOptions::STORED);
        manifest.push(json!({"aligned": aligned, "plain": plain}));
    };
    let f64_csc = sample((500, 90), true, |i| i as f64 * 0.25 - 3.0);
    let f32_csr = sample((41, 333), false, |i| -(i as f32) * 1.5);
    let c128 = sample((17, 9), true, |i| Complex::new(i as f64, -0.5));
    let i8_csr = sample((3, 1000), false, |i| (i % 100) as i8);
    let u16_csc = sample((1, 1), true, |i| i as u16);
    let empty = sample::<f64>((0, 4), false, |_| 0.0);
    both("f64_csc", &|p, o| write_npz_with(p, &f64_csc, o).unwrap());
    both("f32_csr", &|p, o| write_npz_with(p, &f32_csr, o).unwrap());
    both("c128", &|p, o| write_npz_with(p, &c128, o).unwrap());
    both("i8_csr", &|p, o| write_npz_with(p, &i8_csr, o).unwrap());
    both("u16_csc", &|p, o| write_npz_with(p, &u16_csc, o).unwrap());
    both("empty", &|p, o| write_npz_with(p, &empty, o).unwrap());
    let loaded = SparseMatrix::from_csmat("m.npz", f32_csr.clone());
    both("sparse_matrix", &|p, o| {
        loaded.write_npz_with(p, o).unwrap()
    });
    // The plain layout is exactly the existing stored writer's.
    write_npz(d.join("f64_csc.old.npz"), &f64_csc, false).unwrap();
    assert!(
        fs::read(d.join("f64_csc.old.npz")).unwrap()
            == fs::read(d.join("f64_csc.plain.npz")).unwrap()
    );
    fs::write(
        d.join("manifest.json"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
    let out = common::run_python(
        common::py_script("sparse_stored.py"),
        &["check".as_ref(), d.as_os_str()],
    );
    assert!(out.contains("7 passed"), "{out}");

    check_mapped(&d.join("f64_csc.aligned.npz"), &f64_csc);
    check_mapped(&d.join("f32_csr.aligned.npz"), &f32_csr);
    check_mapped(&d.join("c128.aligned.npz"), &c128);
    check_mapped(&d.join("i8_csr.aligned.npz"), &i8_csr);
    check_mapped(&d.join("u16_csc.aligned.npz"), &u16_csc);
    check_mapped(&d.join("sparse_matrix.aligned.npz"), &f32_csr);
    // The full reader reads aligned files as any other.
    let full = read_npz(d.join("f64_csc.aligned.npz")).unwrap();
    assert_eq!(full.csmat::<f64, i32>().unwrap(), &f64_csc);
    // Plain stored files are not aligned: loaded with one copy.
    let plain = read_npz_stored(d.join("f64_csc.plain.npz")).unwrap();
    assert!(!plain.is_mapped());
    assert!(plain.view::<f64, i32>().unwrap().data() == f64_csc.data());
}

#[derive(Deserialize)]
struct Fixture {
    file: String,
    format: String,
    descr: String,
    index: String,
    compressed: bool,
}

fn npy_bytes(path: &Path) -> Vec<u8> {
    NpyArray::open(path).unwrap().data_bytes().to_vec()
}

fn check_fixture<T: SparseElement + Element, I: SparseIndex>(
    d: &Path,
    f: &Fixture,
    s: &StoredMatrix,
) {
    let v = s
        .view::<T, I>()
        .unwrap_or_else(|e| panic!("{}: {e}", f.file));
    let stem = f.file.trim_end_matches(".npz");
    let got: [&[u8]; 3] = [
        bytemuck::cast_slice(v.indptr()),
        bytemuck::cast_slice(v.indices()),
        bytemuck::cast_slice(v.data()),
    ];
    for (what, got) in ["indptr", "indices", "data"].iter().zip(got) {
        let want = npy_bytes(&d.join(format!("{stem}.{what}.npy")));
        assert!(got == want.as_slice(), "{}: {what} differs", f.file);
    }
    assert_eq!(v.is_csc(), f.format == "csc", "{}", f.file);
}

#[test]
fn scipy_stored_files_load_with_one_copy() {
    common::require_scipy();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::run_python(
        common::py_script("sparse_stored.py"),
        &["gen".as_ref(), d.as_os_str()],
    );
    let fixtures: Vec<Fixture> =
        serde_json::from_str(&fs::read_to_string(d.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(fixtures.len(), 9);
    for f in &fixtures {
        let s = read_npz_stored(d.join(&f.file)).unwrap_or_else(|e| panic!("{}: {e}", f.file));
        if f.compressed {
            assert!(!s.is_mapped());
        } else {
            // At most one copy of what the file holds.
            assert!(s.owned_bytes() as u64 <= fs::metadata(d.join(&f.file)).unwrap().len());
        }
        let wide = f.index == "<i8";
        match (f.descr.as_str(), wide) {
            ("<f8", false) => check_fixture::<f64, i32>(d, f, &s),
            ("<f8", true) => check_fixture::<f64, i64>(d, f, &s),
            ("<f4", false) => check_fixture::<f32, i32>(d, f, &s),
            ("<c16", false) => check_fixture::<Complex<f64>, i32>(d, f, &s),
            ("|i1", false) => check_fixture::<i8, i32>(d, f, &s),
            ("<i2", false) => check_fixture::<i16, i32>(d, f, &s),
            other => panic!("{}: no case for {other:?}", f.file),
        }
        // The full reader agrees on format and shape.
        let full = read_npz(d.join(&f.file)).unwrap();
        assert_eq!(full.shape(), s.shape());
        assert_eq!(full.format(), s.format());
        assert_eq!(full.is_array(), s.is_array(), "{}", f.file);
    }
    // Unsorted lanes with a duplicate: viewed as stored; sprs's check refuses them.
    let s = read_npz_stored(d.join("csr_noncanonical.npz")).unwrap();
    let v = s.view::<f64, i32>().unwrap();
    assert_eq!(s.format(), SparseFormat::Csr);
    assert!(!v.is_csc());
    assert_eq!(v.get(0, 2), Some(&1.0));
    assert_eq!(v.get(2, 1), Some(&4.0));
    assert_eq!(v.get(1, 1), None);
    assert!(v.to_sprs().is_err());
    assert!(s.view::<f32, i32>().is_err());
    assert!(s.view::<f64, i64>().is_err());
}
