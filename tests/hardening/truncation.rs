//! Valid `.npy` files, `.npz` archives and loading recipes truncated at
//! every byte offset (a spread of offsets for larger files): every reader
//! returns an error that names the file.

use std::fs;
use std::io::Write;
use std::path::Path;

use ndarray::{arr0, Array1, Array2, Array3, ShapeBuilder};
use onedata::npy::{read_header, NpyArray};
use onedata::recipe::{encode_recipe_npy, read_recipe, write_recipe};
use onedata::sparse::{read_npz, read_npz_info, write_npz};
use onedata::{Fault, HeaderError, LoadOptions, SessionData};
use proptest::collection::vec;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use crate::common::Rewritten;

use super::{
    expect_err_naming, no_panic, npy_bytes, npy_file, one_dir, proc_status_kb, reset_peak_rss,
    sample_recipe, session_in, small_csr, split_v1, stored, zip, ZipMember,
};

// ---------------------------------------------------------------------------
// Truncation: .npy
// ---------------------------------------------------------------------------

/// Valid `.npy` files: name, bytes (version 1.0, as numpy writes them).
fn npy_fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = vec![
        (
            "f8_c",
            npy_bytes(&Array2::from_shape_fn((3, 5), |(i, j)| {
                i as f64 * 1.5 - j as f64
            })),
        ),
        (
            "f4_fortran",
            npy_bytes(&Array2::from_shape_fn((4, 3).f(), |(i, j)| {
                (i * 3 + j) as f32 + 0.25
            })),
        ),
        (
            "u4_fortran_3d",
            npy_bytes(&Array3::from_shape_fn((2, 3, 2).f(), |(i, j, k)| {
                (i + 10 * j + 100 * k) as u32
            })),
        ),
        ("i2_1d", npy_bytes(&Array1::from_iter(-3i16..8))),
        (
            "u1_3d",
            npy_bytes(&Array3::from_shape_fn((2, 3, 2), |(i, j, k)| {
                (i * 6 + j * 2 + k) as u8
            })),
        ),
        (
            "bool",
            npy_bytes(&Array1::from_vec(vec![true, false, true, true, false])),
        ),
        (
            "c16",
            npy_bytes(&Array1::from_iter(
                (0..4).map(|i| num_complex::Complex::new(i as f64, -0.5 * i as f64)),
            )),
        ),
        (
            "f2",
            npy_bytes(&Array1::from_iter(
                (0..6).map(|i| half::f16::from_f32(i as f32 / 4.0)),
            )),
        ),
        ("i8_scalar", npy_bytes(&arr0(-42i64))),
    ];
    // Big-endian float64: decoded into an owned buffer on open.
    let le = npy_bytes(&Array1::from_iter((0..5).map(|i| i as f64 / 3.0)));
    let (dict, data) = split_v1(&le);
    let mut be_data = data.to_vec();
    be_data.chunks_exact_mut(8).for_each(|c| c.reverse());
    out.push((
        "f8_big_endian",
        npy_file(1, &dict.replace("'<f8'", "'>f8'"), &be_data),
    ));
    out
}

#[test]
fn truncated_npy_files_are_errors_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let dir = one_dir(&s);
    let mut checked = 0usize;
    for (tag, v1) in npy_fixtures() {
        let (dict, data) = split_v1(&v1);
        for version in [1u8, 2, 3] {
            let full = npy_file(version, &dict, data);
            let name = format!("trunc.{tag}_v{version}");
            let path = dir.join(format!("{name}.npy"));

            // The whole file loads, the same values as numpy wrote.
            fs::write(&path, &full).unwrap();
            let whole = NpyArray::open(&path).unwrap();
            let reference = NpyArray::from_bytes("reference", &v1).unwrap();
            assert_eq!(whole.header().version(), (version, 0), "{name}");
            assert_eq!(whole.shape(), reference.shape(), "{name}");
            assert_eq!(whole.data_bytes(), reference.data_bytes(), "{name}");
            assert_eq!(
                read_header(&path).unwrap().shape(),
                reference.shape(),
                "{name}"
            );
            assert!(s.loadone(&name).is_ok(), "{name}");
            s.clear_cache(None);

            let header_len = whole.header().data_offset();
            let mut file = Rewritten::open(&path);
            for cut in 0..full.len() {
                file.holds(&full[..cut]);
                let case = || format!("{name} cut at {cut} of {}", full.len());
                no_panic(&case, || {
                    expect_err_naming(NpyArray::open(&path), &path, &case());
                    expect_err_naming(s.loadone(&name), &path, &case());
                    let header = read_header(&path);
                    if cut < header_len {
                        expect_err_naming(header, &path, &case());
                    } else {
                        // `read_header` reads only the header (see
                        // `read_header_refuses_truncated_data` below): it may
                        // accept the file, but then it must report the header
                        // that is there.
                        match header {
                            Ok(h) => assert_eq!(&h, whole.header(), "{}", case()),
                            Err(e) => assert!(
                                e.to_string().contains(&path.display().to_string()),
                                "{}: {e}",
                                case()
                            ),
                        }
                    }
                });
                checked += 1;
            }
        }
    }
    assert!(checked > 4000, "{checked}");
}

/// `read_header` knows the file's length, yet accepts a file whose data is
/// cut short; `onedata info` then describes a truncated file as a valid one.
/// Ignored until `read_header` checks the data length against the file.
#[test]
fn read_header_refuses_truncated_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let full = npy_bytes(&Array1::from_iter(0..10i64));
    fs::write(&path, &full[..full.len() - 1]).unwrap();
    assert!(NpyArray::open(&path).is_err());
    expect_err_naming(read_header(&path), &path, "read_header");
}

/// A header length field may claim up to 4 GiB. Opening such a file (here
/// sparse, 1.5 GiB of zeros after the preamble) is a typed error, reached
/// without reading or allocating what the field claims.
#[test]
fn huge_header_length_claims_cost_no_memory() {
    const CLAIM: u32 = 3 << 29; // 1.5 GiB of header text
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge_header.npy");
    let mut file = fs::File::create(&path).unwrap();
    file.write_all(b"\x93NUMPY\x02\x00").unwrap();
    file.write_all(&CLAIM.to_le_bytes()).unwrap();
    file.set_len(12 + u64::from(CLAIM)).unwrap();
    drop(file);
    let baseline = reset_peak_rss();
    let err = NpyArray::open(&path).unwrap_err();
    let peak = proc_status_kb("VmHWM:");
    assert!(
        matches!(
            err.fault(),
            Some(Fault::Header(HeaderError::TooLarge(n))) if *n == CLAIM as usize
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    expect_err_naming(read_header(&path), &path, "read_header");
    // Other tests in this binary touch up to about 100 MiB at a time.
    if let (Some(base), Some(peak)) = (baseline, peak) {
        let grown_mb = peak.saturating_sub(base) / 1024;
        assert!(grown_mb < 256, "peak RSS grew by {grown_mb} MiB");
    }
}

// ---------------------------------------------------------------------------
// Truncation: .npz and recipes
// ---------------------------------------------------------------------------

fn small_csc() -> sprs::CsMatI<i64, i32> {
    sprs::CsMatI::new_csc(
        (3, 4),
        vec![0, 1, 1, 3, 4],
        vec![2, 0, 1, 2],
        vec![7, -8, 9, 10],
    )
}

/// A CSR matrix big enough that its members are inflated in one call and
/// decoded in parallel (the large-member code paths): 400 rows of 60 random
/// columns (repeats merged) holding eighths below 125, the same draw of
/// proptest's deterministic runner every time.
fn large_csr() -> sprs::CsMatI<f64, i32> {
    let (rows, cols, per_row) = (400usize, 1000i32, 60usize);
    let cells = vec(vec((0..cols, 0..1000u32), per_row), rows);
    let drawn = cells
        .new_tree(&mut TestRunner::deterministic())
        .expect("a matrix")
        .current();
    let mut indptr = vec![0i32];
    let mut indices = Vec::new();
    let mut data = Vec::new();
    for mut row in drawn {
        row.sort_unstable_by_key(|&(c, _)| c);
        row.dedup_by_key(|&mut (c, _)| c);
        for (c, v) in row {
            indices.push(c);
            data.push(f64::from(v) / 8.0);
        }
        indptr.push(indices.len() as i32);
    }
    sprs::CsMatI::new((rows, cols as usize), indptr, indices, data)
}

/// Offsets to cut a file of `len` bytes at: all of them for small files,
/// otherwise both ends densely and the middle at a stride.
fn cut_points(len: usize, every_below: usize) -> Vec<usize> {
    if len <= every_below {
        return (0..len).collect();
    }
    let mut cuts: Vec<usize> = (0..256).chain(len - 256..len).collect();
    let stride = (len / 300).max(1);
    cuts.extend((256..len - 256).step_by(stride));
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn truncated_npz_files_are_errors_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let dir = one_dir(&s);
    type Writer = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Writer)> = vec![
        (
            "csr_deflated",
            Box::new(|p: &Path| write_npz(p, &small_csr(), true).unwrap()),
        ),
        (
            "csr_stored",
            Box::new(|p: &Path| write_npz(p, &small_csr(), false).unwrap()),
        ),
        (
            "csc_deflated",
            Box::new(|p: &Path| write_npz(p, &small_csc(), true).unwrap()),
        ),
        (
            "large_deflated",
            Box::new(|p: &Path| write_npz(p, &large_csr(), true).unwrap()),
        ),
        (
            "large_stored",
            Box::new(|p: &Path| write_npz(p, &large_csr(), false).unwrap()),
        ),
    ];
    let mut checked = 0usize;
    for (tag, write) in &cases {
        let name = format!("trunc.{tag}");
        let path = dir.join(format!("{name}.npz"));
        write(&path);
        let full = fs::read(&path).unwrap();
        let whole = read_npz(&path).unwrap();
        assert_eq!(read_npz_info(&path).unwrap().nnz, whole.nnz());
        let sparse = LoadOptions::sparse(true);
        assert!(s.loadone_with(&name, sparse).is_ok());
        s.clear_cache(None);
        let cuts = cut_points(full.len(), 4096);
        if full.len() <= 4096 {
            assert_eq!(cuts.len(), full.len());
        }
        let mut file = Rewritten::open(&path);
        for cut in cuts {
            file.holds(&full[..cut]);
            let case = || format!("{name} cut at {cut} of {}", full.len());
            no_panic(&case, || {
                expect_err_naming(read_npz(&path), &path, &case());
                expect_err_naming(read_npz_info(&path), &path, &case());
                expect_err_naming(s.loadone_with(&name, sparse), &path, &case());
                expect_err_naming(
                    s.loadone_with(&name, LoadOptions::sparse(false)),
                    &path,
                    &case(),
                );
            });
            checked += 1;
        }
    }
    assert!(checked > 4000, "{checked}");
}

/// The members of `small_csr()` as scipy writes them, each a `.npy` file.
fn small_csr_members() -> Vec<(&'static str, Vec<u8>)> {
    let m = small_csr();
    let (indptr, indices, data) = m.clone().into_raw_storage();
    vec![
        ("indices.npy", npy_bytes(&Array1::from_vec(indices))),
        ("indptr.npy", npy_bytes(&Array1::from_vec(indptr))),
        (
            "format.npy",
            npy_file(
                1,
                "{'descr': '|S3', 'fortran_order': False, 'shape': (), }",
                b"csr",
            ),
        ),
        ("shape.npy", npy_bytes(&Array1::from_vec(vec![4i64, 5]))),
        ("data.npy", npy_bytes(&Array1::from_vec(data))),
        ("_is_array.npy", npy_bytes(&arr0(true))),
    ]
}

fn deflated(name: &'static str, npy: Vec<u8>) -> ZipMember {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&npy).unwrap();
    ZipMember {
        name,
        method: 8,
        crc: crc32fast::hash(&npy),
        uncompressed: npy.len() as u64,
        data: enc.finish().unwrap(),
    }
}

/// Archives whose directory is intact but one member is a truncated `.npy`
/// file (its sizes and CRC consistent with what it holds).
#[test]
fn npz_with_truncated_members_are_errors_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let dir = one_dir(&s);
    let members = small_csr_members();
    for compress in [false, true] {
        let wrap = |name: &'static str, npy: Vec<u8>| {
            if compress {
                deflated(name, npy)
            } else {
                stored(name, npy)
            }
        };
        let name = format!("members.{}", if compress { "deflated" } else { "stored" });
        let path = dir.join(format!("{name}.npz"));
        // Untouched, the archive is the matrix.
        let whole: Vec<ZipMember> = members.iter().map(|(n, b)| wrap(n, b.clone())).collect();
        fs::write(&path, zip(&whole)).unwrap();
        assert_eq!(
            read_npz(&path).unwrap().csmat::<f64, i32>().unwrap(),
            &small_csr()
        );
        let mut file = Rewritten::open(&path);
        for (victim, bytes) in &members {
            for cut in 0..bytes.len() {
                let archive: Vec<ZipMember> = members
                    .iter()
                    .map(|(n, b)| {
                        let b = if n == victim {
                            b[..cut].to_vec()
                        } else {
                            b.clone()
                        };
                        wrap(n, b)
                    })
                    .collect();
                file.holds(&zip(&archive));
                let case = || format!("{name}: {victim} cut at {cut} of {}", bytes.len());
                no_panic(&case, || {
                    expect_err_naming(read_npz(&path), &path, &case());
                    expect_err_naming(
                        s.loadone_with(&name, LoadOptions::sparse(true)),
                        &path,
                        &case(),
                    );
                    expect_err_naming(read_npz_info(&path), &path, &case());
                });
            }
        }
    }
}

#[test]
fn truncated_recipes_are_errors_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let dir = one_dir(&s);
    let recipe = sample_recipe();
    let full = encode_recipe_npy(&recipe).unwrap();
    let name = "trunc.recipe";
    let path = dir.join(format!("{name}.npy"));
    write_recipe(&path, &recipe).unwrap();
    assert_eq!(fs::read(&path).unwrap(), full);
    assert_eq!(read_recipe(&path).unwrap(), recipe);
    let header_len = read_header(&path).unwrap().data_offset();
    let mut file = Rewritten::open(&path);
    for cut in 0..full.len() {
        file.holds(&full[..cut]);
        let case = || format!("recipe cut at {cut} of {}", full.len());
        no_panic(&case, || {
            expect_err_naming(read_recipe(&path), &path, &case());
            expect_err_naming(s.loadone(name), &path, &case());
            if cut < header_len {
                expect_err_naming(NpyArray::open(&path), &path, &case());
            } else {
                // An object array's data is a pickle of unknown length: the
                // array itself opens, only decoding it can fail.
                let _ = NpyArray::open(&path);
            }
        });
    }
}
