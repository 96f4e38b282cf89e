//! Hardening: hostile and damaged inputs never panic, never reach outside
//! `oneData`, and never cost unbounded memory.
//!
//! - Valid `.npy` files (several dtypes, C and Fortran order, header versions
//!   1.0, 2.0 and 3.0), `.npz` sparse matrices and loading recipes truncated
//!   at every byte offset (a spread of offsets for larger files): every
//!   reader returns an error that names the file.
//! - 10,000 random headers (random bytes, a token soup of dict-ish text,
//!   random length fields): the parser never panics, and every header it
//!   accepts has consistent sizes.
//! - Files replaced (atomically) while mapped: old views keep the old values,
//!   fresh loads see the new ones.
//! - Zip bombs in `.npz` files are refused without inflating them.
//! - Deeply nested pickles are refused without overflowing the stack.
//! - Names that try to leave `oneData` are refused, and nothing is created
//!   outside the session folder.
//!
//! Everything is deterministic: the random parts use a seeded generator
//! (`ONEDATA_HARDENING_SEED` overrides the seed).

mod stress;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ndarray::{arr0, Array1, Array2, Array3, ShapeBuilder};
use onedata::npy::{read_header, write_npy, write_npy_to, Header, NpyArray, MAX_DIMS};
use onedata::recipe::{
    decode_object_array, decode_pickle, encode_recipe_npy, read_recipe, write_recipe,
    LoadingRecipe, PyValue,
};
use onedata::sparse::{read_npz, read_npz_info, write_npz};
use onedata::{
    ClearOutcome, Error, Fault, HeaderError, LoadOptions, Session, SessionData, SessionId,
};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// SplitMix64: small, seeded, good enough to drive fuzz cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn seed() -> u64 {
    std::env::var("ONEDATA_HARDENING_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x0ed4_7a5e_ed00_2024)
}

fn session_in(root: &Path) -> Session {
    let id = SessionId::new("ATL027", "2024-06-12", Some("701")).unwrap();
    Session::from_root(root, id).unwrap()
}

/// The session's `oneData` folder, created.
fn one_dir(s: &Session) -> PathBuf {
    let p = s.one_path().to_path_buf();
    fs::create_dir_all(&p).unwrap();
    p
}

/// Fails unless `result` is an error whose message names `path`.
#[track_caller]
fn expect_err_naming<T: std::fmt::Debug>(result: onedata::Result<T>, path: &Path, what: &str) {
    match result {
        Ok(v) => panic!("{what}: accepted {} ({v:?})", path.display()),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "{what}: the error does not name {}: {msg}",
                path.display()
            );
        }
    }
}

/// Runs `f`, turning a panic into a test failure that shows `case`.
#[track_caller]
fn no_panic<R>(case: &dyn Fn() -> String, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("panicked ({msg}) on {}", case())
        }
    }
}

fn npy_bytes<S, D>(a: &ndarray::ArrayBase<S, D>) -> Vec<u8>
where
    S: ndarray::Data,
    S::Elem: onedata::npy::Element,
    D: ndarray::Dimension,
{
    let mut v = Vec::new();
    write_npy_to(&mut v, a).unwrap();
    v
}

/// The dict text of a version 1.0 file (padding and newline removed) and its data.
fn split_v1(bytes: &[u8]) -> (String, &[u8]) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let text = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    (text.trim_end().to_string(), &bytes[10 + len..])
}

/// A whole `.npy` file in `version` around `dict`, padded as numpy pads.
fn npy_file(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let len_size = if version == 1 { 2 } else { 4 };
    let pre = 8 + len_size;
    let total = (pre + dict.len() + 1).div_ceil(64) * 64;
    let text_len = total - pre;
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(text_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

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
            for cut in 0..full.len() {
                fs::write(&path, &full[..cut]).unwrap();
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

fn small_csr() -> sprs::CsMatI<f64, i32> {
    sprs::CsMatI::new(
        (4, 5),
        vec![0, 2, 2, 3, 6],
        vec![0, 3, 1, 0, 2, 4],
        vec![1.5, -2.0, 3.25, 4.0, -0.5, 6.0],
    )
}

fn small_csc() -> sprs::CsMatI<i64, i32> {
    sprs::CsMatI::new_csc(
        (3, 4),
        vec![0, 1, 1, 3, 4],
        vec![2, 0, 1, 2],
        vec![7, -8, 9, 10],
    )
}

/// A CSR matrix big enough that its members are inflated in one call and
/// decoded in parallel (the large-member code paths).
fn large_csr() -> sprs::CsMatI<f64, i32> {
    let (rows, cols, per_row) = (400usize, 1000usize, 60usize);
    let mut rng = Rng::new(7);
    let mut indptr = vec![0i32];
    let mut indices = Vec::new();
    let mut data = Vec::new();
    for _ in 0..rows {
        let mut cols_here: Vec<i32> = (0..per_row).map(|_| rng.below(cols) as i32).collect();
        cols_here.sort_unstable();
        cols_here.dedup();
        for c in cols_here {
            indices.push(c);
            data.push((rng.next() % 1000) as f64 / 8.0);
        }
        indptr.push(indices.len() as i32);
    }
    sprs::CsMatI::new((rows, cols), indptr, indices, data)
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
        for cut in cuts {
            fs::write(&path, &full[..cut]).unwrap();
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
                fs::write(&path, zip(&archive)).unwrap();
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

fn sample_recipe() -> LoadingRecipe {
    LoadingRecipe::new("s2p", Some("F"), ["transpose", "zscore"])
        .with_kwarg("planes", vec![PyValue::Int(0), PyValue::Int(1)])
        .with_kwarg("keep_planes", PyValue::None)
        .with_kwarg("scale", PyValue::Float(0.5))
        .with_kwarg("label", PyValue::Str("spks ünïcode".into()))
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
    for cut in 0..full.len() {
        fs::write(&path, &full[..cut]).unwrap();
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

// ---------------------------------------------------------------------------
// Random headers
// ---------------------------------------------------------------------------

const TOKENS: &[&str] = &[
    "{",
    "}",
    "'descr'",
    "\"descr\"",
    "'shape'",
    "'fortran_order'",
    "descr",
    "shape",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    " ",
    "  ",
    "'",
    "\"",
    "True",
    "False",
    "None",
    "'<f4'",
    "'<f8'",
    "'>i2'",
    "'|u1'",
    "'|b1'",
    "'<c16'",
    "'|O'",
    "'<U3'",
    "'S5'",
    "'V8'",
    "'<M8[ns]'",
    "'float32'",
    "'int'",
    "('<f4', (2, 3))",
    "[('a', '<i4'), ('b', '<f8')]",
    "0",
    "1",
    "7",
    "-1",
    "65",
    "4294967296",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "L",
    "#",
    "\\\n",
    "\n",
    "\t",
    "0x10",
    "1_0",
    "1e3",
    "b'x'",
    "u'<f8'",
    "r'<f8'",
    "'\\x3cf8'",
    "+",
    "not",
    "*",
];

const DESCRS: &[&str] = &[
    "'<f4'",
    "'<f8'",
    "'>f8'",
    "'|u1'",
    "'<i8'",
    "'|b1'",
    "'<c8'",
    "'<f2'",
    "'|O'",
    "'<U10'",
    "'|S0'",
    "'|V0'",
    "'V16'",
    "'<M8[s]'",
    "'<f16'",
    "('<f4', (3,))",
    "('<f8', (1000000, 1000000))",
    "[('x', '<f4')]",
    "[('x', '<f4'), ('y', 'V0')]",
    "'float64'",
    "'i'",
    "'?'",
    "'q'",
    "'<x9'",
    "5",
    "None",
];

const DIMS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "17",
    "255",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "1152921504606846976",
    "4611686018427387904",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "-0",
    "3L",
    "True",
    "1.0",
    "0b11",
    "0o7",
    "0x1f",
    "1_000",
];

fn soup_text(rng: &mut Rng) -> String {
    let n = rng.below(40);
    let mut s = String::new();
    for _ in 0..n {
        if rng.chance(10) {
            let digits = rng.next().to_string();
            let k = 1 + rng.below(digits.len());
            s.push_str(&digits[..k]);
        } else {
            s.push_str(rng.word(TOKENS));
        }
    }
    s
}

fn structured_text(rng: &mut Rng) -> String {
    let sp = |rng: &mut Rng| -> &'static str { rng.word(&["", " ", "  ", "\t", " \\\n "]) };
    let mut items = Vec::new();
    let descr = rng.word(DESCRS).to_string();
    let fortran = if rng.chance(85) {
        rng.word(&["True", "False"])
    } else {
        rng.word(&["0", "1", "None", "'True'", "true"])
    };
    let ndim = if rng.chance(3) {
        MAX_DIMS + rng.below(3)
    } else {
        rng.below(6)
    };
    let mut shape = String::from("(");
    for i in 0..ndim {
        if i > 0 {
            shape.push(',');
            shape.push_str(sp(rng));
        }
        let dim: &str = if rng.chance(70) {
            rng.word(&DIMS[..8])
        } else {
            rng.word(DIMS)
        };
        shape.push_str(dim);
    }
    if ndim == 1 || rng.chance(20) {
        shape.push(',');
    }
    shape.push(')');
    if rng.chance(5) {
        shape = format!("[{}]", &shape[1..shape.len() - 1]);
    }
    let keys = [
        ("descr", descr),
        ("fortran_order", fortran.to_string()),
        ("shape", shape),
    ];
    for (k, v) in &keys {
        if rng.chance(95) {
            items.push(format!("'{k}':{}{v}", sp(rng)));
        }
        if rng.chance(3) {
            items.push(format!("'{k}': {v}"));
        }
    }
    if rng.chance(5) {
        items.push("'extra': 1".to_string());
    }
    // Shuffle.
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
    let mut text = format!("{{{}", sp(rng));
    text.push_str(&items.join(&format!(",{}", sp(rng))));
    if rng.chance(50) {
        text.push_str(", ");
    }
    text.push('}');
    if rng.chance(10) {
        // Damage it.
        let mut b = text.into_bytes();
        for _ in 0..1 + rng.below(3) {
            if b.is_empty() {
                break;
            }
            let at = rng.below(b.len());
            match rng.below(3) {
                0 => {
                    b.remove(at);
                }
                1 => b.insert(at, *rng.pick(b"{}()[],:'\"0123456789 \n#")),
                _ => b[at] = rng.next() as u8,
            }
        }
        text = String::from_utf8_lossy(&b).into_owned();
    }
    text
}

/// Wraps `text` in magic, version and a length field, chosen at random
/// (usually, but not always, consistent).
fn framed(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let version: [u8; 2] = match rng.below(10) {
        0..=3 => [1, 0],
        4..=5 => [2, 0],
        6..=8 => [3, 0],
        _ => [rng.next() as u8, rng.next() as u8],
    };
    let len_size = if version[0] == 1 { 2 } else { 4 };
    let pre = 8 + len_size;
    let mut body = text.to_vec();
    if rng.chance(70) {
        let total = (pre + body.len() + 1).div_ceil(64) * 64;
        body.resize(total - pre - 1, b' ');
        body.push(b'\n');
    }
    let true_len = body.len() as u64;
    let len: u64 = match rng.below(20) {
        0..=14 => true_len,
        15 => true_len.wrapping_add(1 + rng.below(16) as u64),
        16 => true_len.saturating_sub(1 + rng.below(16) as u64),
        17 | 18 => *rng.pick(&[0, 0xffff, 0xffff_ffff, 10_001, 40_000]),
        _ => rng.next(),
    };
    let mut out = Vec::with_capacity(pre + body.len() + 64);
    if rng.chance(2) {
        out.extend_from_slice(&rng.bytes(6));
    } else {
        out.extend_from_slice(b"\x93NUMPY");
    }
    out.extend_from_slice(&version);
    if len_size == 2 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(&body);
    if rng.chance(30) {
        let n = rng.below(64);
        out.extend_from_slice(&rng.bytes(n));
    }
    if rng.chance(5) {
        let keep = rng.below(out.len() + 1);
        out.truncate(keep);
    }
    out
}

fn random_header_case(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        // Random bytes after the magic.
        0 | 1 => {
            let mut b = b"\x93NUMPY".to_vec();
            let n = rng.below(200);
            b.extend_from_slice(&rng.bytes(n));
            b
        }
        // A token soup in a frame.
        2..=4 => {
            let text = soup_text(rng);
            framed(rng, text.as_bytes())
        }
        // A dict-shaped header with wild values.
        _ => {
            let mut text = structured_text(rng).into_bytes();
            if rng.chance(3) {
                let at = rng.below(text.len() + 1);
                text.insert(at, 0x80 | rng.next() as u8);
            }
            framed(rng, &text)
        }
    }
}

/// Checks that an accepted header is self-consistent and that the file it
/// describes loads without panicking.
fn check_accepted(bytes: &[u8], h: &Header, case: &dyn Fn() -> String) {
    let required = Header::required_len(bytes)
        .unwrap_or_else(|e| panic!("accepted, but required_len refuses ({e}): {}", case()));
    assert_eq!(h.data_offset(), required, "{}", case());
    assert!(h.data_offset() <= bytes.len(), "{}", case());
    assert!(h.shape().len() <= MAX_DIMS, "{}", case());
    assert!(matches!(h.version(), (1..=3, 0)), "{}", case());
    let n = h
        .shape()
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or_else(|| panic!("accepted a shape whose product overflows: {}", case()));
    assert_eq!(n, h.num_elements(), "{}", case());
    if let Some(size) = h.dtype().itemsize() {
        let total = n
            .checked_mul(size)
            .filter(|&t| t <= isize::MAX as usize)
            .unwrap_or_else(|| panic!("accepted a data size that overflows: {}", case()));
        assert_eq!(h.data_len(), Some(total), "{}", case());
    } else {
        assert_eq!(h.data_len(), None, "{}", case());
    }
    // The file the header describes, with its data: it loads.
    let data_len = h.data_len().unwrap_or(16);
    if data_len <= 1 << 20 {
        let mut file = bytes[..h.data_offset()].to_vec();
        file.resize(h.data_offset() + data_len, 0x5a);
        let arr = NpyArray::from_bytes("case", &file)
            .unwrap_or_else(|e| panic!("header accepted, file refused ({e}): {}", case()));
        if let Some(len) = h.data_len() {
            assert_eq!(arr.data_bytes().len(), len, "{}", case());
        }
        if arr.kind().is_ok() {
            onedata::digest::digest(&arr).unwrap();
        }
        // Short of its data, the same file is refused.
        if data_len > 0 && h.data_len().is_some() {
            assert!(
                NpyArray::from_bytes("case", &file[..file.len() - 1]).is_err(),
                "{}",
                case()
            );
        }
    }
    // A numeric dtype writes back as a header that reads back the same.
    if h.dtype().kind().is_some() {
        let again = Header::new(h.dtype().clone(), h.fortran_order(), h.shape());
        let back = Header::parse(&again.to_bytes())
            .unwrap_or_else(|e| panic!("rewritten header refused ({e}): {}", case()));
        assert_eq!(back.shape(), h.shape(), "{}", case());
        assert_eq!(back.dtype(), h.dtype(), "{}", case());
        assert_eq!(back.fortran_order(), h.fortran_order(), "{}", case());
    }
}

#[test]
fn random_headers_never_panic_and_accepted_ones_are_consistent() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..10_000 {
        let bytes = random_header_case(&mut rng);
        let case = || format!("case {i} (seed {seed}): b\"{}\"", bytes.escape_ascii());
        let parsed = no_panic(&case, || Header::parse(&bytes));
        match &parsed {
            Ok(h) => {
                accepted += 1;
                no_panic(&case, || check_accepted(&bytes, h, &case));
            }
            Err(e) => {
                refused += 1;
                let kind = format!("{e:?}");
                let kind = kind.split(['(', ' ', '{']).next().unwrap_or("").to_string();
                *faults.entry(kind).or_default() += 1;
            }
        }
        // Every 8th case also goes through the file readers.
        if i % 8 == 0 {
            let path = dir.path().join("h.npy");
            fs::write(&path, &bytes).unwrap();
            no_panic(&case, || {
                let from_file = read_header(&path);
                // read_header also refuses a file shorter than its header promises.
                let complete = parsed.as_ref().is_ok_and(|h| {
                    h.data_len()
                        .is_none_or(|n| bytes.len() >= h.data_offset().saturating_add(n))
                });
                assert_eq!(from_file.is_ok(), complete, "{}", case());
                if let Ok(h) = from_file {
                    assert_eq!(Some(&h), parsed.as_ref().ok(), "{}", case());
                }
                match NpyArray::open(&path) {
                    Ok(a) => {
                        let h = parsed.as_ref().expect("open accepted what parse refused");
                        if let Some(len) = h.data_len() {
                            assert_eq!(a.data_bytes().len(), len, "{}", case());
                        }
                    }
                    Err(e) => assert!(e.to_string().contains(&path.display().to_string()), "{e}"),
                }
            });
        }
    }
    eprintln!("random headers: {accepted} accepted, {refused} refused: {faults:?}");
    // The generator must reach both sides of the parser.
    assert!(accepted >= 500, "only {accepted} of 10000 accepted");
    assert!(refused >= 3000, "only {refused} of 10000 refused");
}

// ---------------------------------------------------------------------------
// Files replaced while mapped
// ---------------------------------------------------------------------------

#[test]
fn replacing_a_mapped_file_keeps_old_views_intact() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let name = "mpci.roiActivityF";
    let versions: Vec<Array2<f64>> = (0..6)
        .map(|v| {
            // Different sizes each time, bigger and smaller than the last.
            let rows = [300, 40, 1000, 7, 513, 64][v];
            Array2::from_shape_fn((rows, 9), |(i, j)| (v * 1_000_000 + i * 9 + j) as f64)
        })
        .collect();
    let mut held = Vec::new();
    for (v, a) in versions.iter().enumerate() {
        s.saveone(a, name).unwrap();
        let loaded = s.loadone(name).unwrap();
        assert!(loaded.dense().unwrap().is_mapped());
        assert_eq!(loaded.view2::<f64>().unwrap(), a);
        held.push((v, loaded));
        // Every handle taken so far still reads its own version exactly.
        for (old, h) in &held {
            assert_eq!(h.view2::<f64>().unwrap(), versions[*old], "version {old}");
        }
        // A fresh load from disk reads the newest.
        s.clear_cache(None);
        assert_eq!(s.loadone(name).unwrap().view2::<f64>().unwrap(), a);
        let forced = s.loadone_with(name, LoadOptions::force()).unwrap();
        assert_eq!(forced.view2::<f64>().unwrap(), a);
    }

    // The same through the file API, with a view borrowed across the rename.
    let path = root.path().join("plain.npy");
    let first = Array1::from_iter((0..50_000).map(|i| i as i64 * 3));
    write_npy(&path, &first).unwrap();
    let old = NpyArray::open(&path).unwrap();
    assert!(old.is_mapped());
    let old_view = old.view1::<i64>().unwrap();
    let second = Array2::from_shape_fn((10, 10), |(i, j)| (i * j) as f32);
    write_npy(&path, &second).unwrap();
    assert_eq!(old_view, first);
    let fresh = NpyArray::open(&path).unwrap();
    assert_eq!(fresh.view2::<f32>().unwrap(), second);
    assert_eq!(read_header(&path).unwrap().shape(), &[10, 10]);
    // And a third time, replacing the file while both are mapped.
    write_npy(&path, &first.mapv(|x| -x)).unwrap();
    assert_eq!(old_view, first);
    assert_eq!(fresh.view2::<f32>().unwrap(), second);
    assert_eq!(
        NpyArray::open(&path).unwrap().view1::<i64>().unwrap(),
        first.mapv(|x| -x)
    );
    // No temporary files are left behind.
    let leftovers: Vec<_> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ---------------------------------------------------------------------------
// Zip bombs
// ---------------------------------------------------------------------------

/// Writes deflate bits, least significant first.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        }
    }

    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: most significant bit first.
    fn code(&mut self, code: u64, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    fn align(&mut self) {
        if self.n > 0 {
            self.put(0, 8 - self.n);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.align();
        self.out
    }
}

/// A raw deflate stream of `prefix` followed by `zeros` zero bytes, at
/// deflate's best ratio (two bits per 258 zeros): `prefix` in a stored
/// block, then one dynamic block whose only match is (258, distance 1),
/// coded in one bit each.
fn deflate_bomb(prefix: &[u8], zeros: u64) -> Vec<u8> {
    assert!(prefix.len() <= 0xffff && zeros >= 1);
    let mut b = Bits::new();
    // Stored block, not final.
    b.put(0, 1);
    b.put(0, 2);
    b.align();
    b.put(prefix.len() as u64, 16);
    b.put(!prefix.len() as u64 & 0xffff, 16);
    b.out.extend_from_slice(prefix);
    // Dynamic block, final.
    b.put(1, 1);
    b.put(2, 2);
    b.put(29, 5); // HLIT: 286 literal/length codes
    b.put(1, 5); // HDIST: 2 distance codes
    b.put(14, 4); // HCLEN: 18 code length codes
                  // Code length code lengths, in deflate's order: 18 -> 1 bit, 1 and 2 -> 2 bits.
    const ORDER: [usize; 18] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
    for sym in ORDER {
        let len = match sym {
            18 => 1,
            1 | 2 => 2,
            _ => 0,
        };
        b.put(len, 3);
    }
    // Code length codes: 18 = "0", 1 = "10", 2 = "11".
    let zeros_run = |b: &mut Bits, mut n: u64| {
        while n > 0 {
            let k = n.min(138);
            assert!(k >= 11);
            b.code(0, 1);
            b.put(k - 11, 7);
            n -= k;
        }
    };
    b.code(3, 2); // literal 0: length 2
    zeros_run(&mut b, 138);
    zeros_run(&mut b, 117); // literals 1..=255 unused
    b.code(3, 2); // end of block: length 2
    zeros_run(&mut b, 28); // lengths 257..=284 unused
    b.code(2, 2); // length code 285 (258 bytes): length 1
    b.code(2, 2); // distance code 0: length 1
    b.code(2, 2); // distance code 1: length 1
                  // Literal/length codes: 285 = "0", literal 0 = "10", end = "11".
                  // Distance codes: 0 (distance 1) = "0".
    b.code(2, 2); // one literal zero
    let rest = zeros - 1;
    for _ in 0..rest / 258 {
        b.put(0, 2); // 258 more zeros
    }
    for _ in 0..rest % 258 {
        b.code(2, 2);
    }
    b.code(3, 2);
    b.finish()
}

/// The CRC-32 of `prefix` followed by `zeros` zero bytes, without hashing them all.
fn crc_with_zeros(prefix: &[u8], zeros: u64) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(prefix);
    const BLOCK: usize = 1 << 20;
    let mut block = crc32fast::Hasher::new();
    block.update(&vec![0u8; BLOCK]);
    for _ in 0..zeros / BLOCK as u64 {
        h.combine(&block);
    }
    h.update(&vec![0u8; (zeros % BLOCK as u64) as usize]);
    h.finalize()
}

struct ZipMember {
    name: &'static str,
    method: u16,
    crc: u32,
    uncompressed: u64,
    data: Vec<u8>,
}

fn stored(name: &'static str, npy: Vec<u8>) -> ZipMember {
    ZipMember {
        name,
        method: 0,
        crc: crc32fast::hash(&npy),
        uncompressed: npy.len() as u64,
        data: npy,
    }
}

/// A zip archive of `members`, with a zip64 field for sizes past 4 GiB.
fn zip(members: &[ZipMember]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = out.len() as u32;
        let big = m.uncompressed >= u32::MAX as u64;
        let usize32 = if big { u32::MAX } else { m.uncompressed as u32 };
        let mut fixed = Vec::new();
        fixed.extend_from_slice(&20u16.to_le_bytes()); // version needed
        fixed.extend_from_slice(&0u16.to_le_bytes()); // flags
        fixed.extend_from_slice(&m.method.to_le_bytes());
        fixed.extend_from_slice(&0u16.to_le_bytes()); // time
        fixed.extend_from_slice(&0x21u16.to_le_bytes()); // date
        fixed.extend_from_slice(&m.crc.to_le_bytes());
        fixed.extend_from_slice(&(m.data.len() as u32).to_le_bytes());
        fixed.extend_from_slice(&usize32.to_le_bytes());
        fixed.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        let extra: Vec<u8> = if big {
            let mut e = vec![1, 0, 8, 0];
            e.extend_from_slice(&m.uncompressed.to_le_bytes());
            e
        } else {
            Vec::new()
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&fixed);
        out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&extra);
        out.extend_from_slice(&m.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&fixed);
        central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
        central.extend_from_slice(&extra);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out
}

/// A `.npy` header for a 1-d array of `descr` with `len` elements.
fn header_1d(descr: &str, len: u64) -> Vec<u8> {
    npy_file(
        1,
        &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}"),
        &[],
    )
}

/// The small members of a CSR matrix: `format`, `shape`, `indptr`, `indices`.
fn csr_members(shape: (i64, i64), indptr: &[i32], indices: &[i32]) -> Vec<ZipMember> {
    let format = npy_file(
        1,
        "{'descr': '|S3', 'fortran_order': False, 'shape': (), }",
        b"csr",
    );
    vec![
        stored("format.npy", format),
        stored(
            "shape.npy",
            npy_bytes(&Array1::from_vec(vec![shape.0, shape.1])),
        ),
        stored("indptr.npy", npy_bytes(&Array1::from_vec(indptr.to_vec()))),
        stored(
            "indices.npy",
            npy_bytes(&Array1::from_vec(indices.to_vec())),
        ),
    ]
}

/// A deflated `data.npy` member: `header`, then `zeros` zero bytes, with
/// `declared` as its uncompressed size in the directory.
fn bomb_member(header: &[u8], zeros: u64, declared: u64) -> ZipMember {
    ZipMember {
        name: "data.npy",
        method: 8,
        crc: crc_with_zeros(header, zeros),
        uncompressed: declared,
        data: deflate_bomb(header, zeros),
    }
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS if the kernel lets us; returns the RSS (KiB) to
/// measure the peak against.
fn reset_peak_rss() -> Option<u64> {
    let reset = fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss = proc_status_kb("VmRSS:")?;
    if reset {
        Some(rss)
    } else {
        // Without a reset the peak can only be measured above the old one.
        proc_status_kb("VmHWM:")
    }
}

/// The deflate bomb itself is sound: flate2 and libdeflate inflate it to
/// exactly the prefix and the zeros.
#[test]
fn deflate_bomb_builder_is_sound() {
    for zeros in [1u64, 2, 257, 258, 259, 517, 100_000] {
        let prefix = b"\x93NUMPY header".to_vec();
        let stream = deflate_bomb(&prefix, zeros);
        let mut decoder = flate2::write::DeflateDecoder::new(Vec::new());
        decoder.write_all(&stream).unwrap();
        let out = decoder.finish().unwrap();
        assert_eq!(out.len() as u64, prefix.len() as u64 + zeros);
        assert_eq!(&out[..prefix.len()], &prefix[..]);
        assert!(out[prefix.len()..].iter().all(|&b| b == 0));
        assert_eq!(crc32fast::hash(&out), crc_with_zeros(&prefix, zeros));
        let mut again = vec![0u8; out.len()];
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(&stream, &mut again)
            .unwrap();
        assert_eq!(&again[..n], &out[..]);
    }
    // Near deflate's best ratio.
    let stream = deflate_bomb(b"", 258 * 100_000 + 1);
    assert!(stream.len() < 258 * 100_000 / 1000, "{}", stream.len());
}

#[test]
fn zip_bombs_are_refused_within_bounded_memory() {
    const MB: u64 = 1 << 20;
    let bomb_zeros: u64 = 256 * MB;
    let dir = tempfile::tempdir().unwrap();
    let s = session_in(dir.path());
    let one = one_dir(&s);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();

    // 1. The data member inflates to 256 MiB, its directory entry says so,
    //    its header claims ten float64: the sizes disagree.
    {
        let header = header_1d("<f8", 10);
        let total = header.len() as u64 + bomb_zeros;
        let mut members = csr_members((1, 10), &[0, 1], &[3]);
        members.push(bomb_member(&header, bomb_zeros, total));
        cases.push(("small_header_big_member", zip(&members), "promises"));
    }
    // 2. Header and directory agree on 256 MiB of float64 (deflate's best
    //    ratio, so the ratio bound lets it by), but indices hold 1 entry.
    {
        let n = bomb_zeros / 8;
        let header = header_1d("<f8", n);
        let total = header.len() as u64 + bomb_zeros;
        let mut members = csr_members((1, 10), &[0, 1], &[3]);
        members.push(bomb_member(&header, bomb_zeros, total));
        cases.push(("consistent_huge_data", zip(&members), "same length"));
    }
    // 3. Header and directory agree on 1 GiB, more than the compressed
    //    bytes can hold at deflate's best ratio.
    {
        let n = (1u64 << 30) / 8;
        let header = header_1d("<f8", n);
        let mut members = csr_members((1, n as i64), &[0, 0], &[]);
        members.push(bomb_member(
            &header,
            bomb_zeros,
            header.len() as u64 + (1 << 30),
        ));
        cases.push(("ratio_1gib", zip(&members), "compressed bytes can hold"));
    }
    // 4. The same claiming 1 TiB through a zip64 size field.
    {
        let n = (1u64 << 40) / 8;
        let header = header_1d("<f8", n);
        let mut members = csr_members((1, 10), &[0, 0], &[]);
        members.push(bomb_member(
            &header,
            bomb_zeros,
            header.len() as u64 + (1 << 40),
        ));
        cases.push((
            "ratio_1tib_zip64",
            zip(&members),
            "compressed bytes can hold",
        ));
    }
    // 5. The directory lies small: header and directory agree on ten
    //    float64, the stream goes on for 256 MiB. Decoding stops at the
    //    promised size.
    {
        let header = header_1d("<f8", 10);
        let mut members = csr_members((1, 10), &[0, 10], &(0..10).collect::<Vec<_>>());
        members.push(bomb_member(&header, bomb_zeros, header.len() as u64 + 80));
        cases.push(("lying_directory_small", zip(&members), "data.npy"));
    }
    // 6. As 5, with 1 MiB promised (the whole-stream inflate path).
    {
        let n = MB / 8;
        let header = header_1d("<f8", n);
        let indices: Vec<i32> = vec![0; n as usize];
        let mut members = csr_members((1, 10), &[0, n as i32], &indices);
        members.push(bomb_member(&header, bomb_zeros, header.len() as u64 + MB));
        cases.push(("lying_directory_1mib", zip(&members), "data.npy"));
    }

    for (tag, bytes, _) in &cases {
        assert!(
            (bytes.len() as u64) < 2 * MB,
            "{tag}: {} bytes is no bomb",
            bytes.len()
        );
    }
    let baseline = reset_peak_rss();
    for (tag, bytes, expect) in &cases {
        let name = format!("bomb.{tag}");
        let path = one.join(format!("{name}.npz"));
        fs::write(&path, bytes).unwrap();
        let started = std::time::Instant::now();
        let results = [
            ("read_npz", read_npz(&path).map(|m| m.nnz())),
            ("read_npz_info", read_npz_info(&path).map(|i| i.nnz)),
            (
                "loadone",
                s.loadone_with(&name, LoadOptions::sparse(true))
                    .map(|d| d.as_sparse().unwrap().nnz()),
            ),
        ];
        for (what, r) in results {
            match r {
                // read_npz_info does not inflate data: it may accept a file
                // whose data stream lies about its length.
                Ok(nnz) if what == "read_npz_info" && tag.starts_with("lying") => {
                    assert!(nnz <= 1 << 17, "{tag}: {nnz}");
                }
                Ok(nnz) => panic!("{tag}: {what} accepted a zip bomb (nnz {nnz})"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&path.display().to_string()), "{tag}: {msg}");
                    if what != "read_npz_info" {
                        assert!(msg.contains(expect), "{tag}: {what}: {msg}");
                    }
                }
            }
        }
        eprintln!(
            "{tag}: {} bytes, refused in {:?}",
            bytes.len(),
            started.elapsed()
        );
    }
    let peak = proc_status_kb("VmHWM:");
    if let (Some(base), Some(peak)) = (baseline, peak) {
        let grown_mb = peak.saturating_sub(base) / 1024;
        eprintln!("zip bombs: peak RSS grew by {grown_mb} MiB (bombs inflate to 256 MiB+)");
        assert!(
            grown_mb < 64,
            "peak RSS grew by {grown_mb} MiB while refusing zip bombs"
        );
        // The measurement itself sees memory that is touched.
        let before = proc_status_kb("VmRSS:").unwrap_or(0);
        let touched = vec![1u8; 96 << 20];
        let after = proc_status_kb("VmHWM:").unwrap_or(0);
        assert!(
            after.saturating_sub(before) / 1024 >= 64,
            "VmHWM did not see 96 MiB touched (RSS {before} KiB, then peak {after} KiB)"
        );
        drop(std::hint::black_box(touched));
    } else {
        eprintln!("zip bombs: /proc/self/status unavailable, peak RSS not measured");
    }
}

// ---------------------------------------------------------------------------
// Deeply nested pickles
// ---------------------------------------------------------------------------

const DEPTH: usize = 100_000;

/// A recipe `.npy` whose `kwargs['x']` is the pickle fragment `value`
/// (which must push exactly one value).
fn recipe_with_fragment(value: &[u8]) -> Vec<u8> {
    let placeholder = "PLACEHOLDER_6c1f";
    let recipe = LoadingRecipe::new("s2p", Some("F"), Vec::<String>::new())
        .with_kwarg("x", PyValue::Str(placeholder.into()));
    let bytes = encode_recipe_npy(&recipe).unwrap();
    // BINUNICODE, u32 length, the text.
    let mut needle = vec![b'X'];
    needle.extend_from_slice(&(placeholder.len() as u32).to_le_bytes());
    needle.extend_from_slice(placeholder.as_bytes());
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("placeholder in the pickle");
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(value);
    out.extend_from_slice(&bytes[at + needle.len()..]);
    out
}

/// Pickle fragments that build one deeply nested (or self-referencing, or
/// exponentially shared) value.
fn deep_fragments() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    // [[[...]]]: EMPTY_LIST x N, APPEND x N-1.
    let mut lists = vec![b']'; DEPTH];
    lists.extend(std::iter::repeat_n(b'a', DEPTH - 1));
    v.push(("empty_list_append", lists));
    // MARK x N, then LIST x N: each LIST wraps what is above its mark.
    let mut marks = vec![b'('; DEPTH];
    marks.extend(std::iter::repeat_n(b'l', DEPTH));
    v.push(("mark_list", marks));
    // MARK x N, then TUPLE x N.
    let mut tuples = vec![b'('; DEPTH];
    tuples.extend(std::iter::repeat_n(b't', DEPTH));
    v.push(("mark_tuple", tuples));
    // None, then TUPLE1 x N: no marks, constant stack.
    let mut t1 = vec![b'N'];
    t1.extend(std::iter::repeat_n(0x85u8, DEPTH));
    v.push(("tuple1", t1));
    // {0: {0: {...}}}: (EMPTY_DICT, BININT1 0) x N, EMPTY_DICT, SETITEM x N.
    let mut dicts = Vec::new();
    for _ in 0..DEPTH {
        dicts.extend_from_slice(b"}K\x00");
    }
    dicts.push(b'}');
    dicts.extend(std::iter::repeat_n(b's', DEPTH));
    v.push(("dict_setitem", dicts));
    // A list that contains itself: l = []; l.append(l).
    v.push(("self_reference", b"]q\x00h\x00a".to_vec()));
    // A list of N copies of itself through the memo, 24 levels: 2^24 values.
    // Memo slots from 0x1000 up, clear of the recipe's own.
    let slot = |i: u32| (0x1000 + i).to_le_bytes();
    let mut laughs = b"]r".to_vec();
    laughs.extend_from_slice(&slot(0));
    laughs.push(b'0');
    for i in 1..=24u32 {
        // l_i = [l_(i-1), l_(i-1)], memoized, popped.
        laughs.extend_from_slice(b"](j");
        laughs.extend_from_slice(&slot(i - 1));
        laughs.push(b'j');
        laughs.extend_from_slice(&slot(i - 1));
        laughs.extend_from_slice(b"er");
        laughs.extend_from_slice(&slot(i));
        laughs.push(b'0');
    }
    laughs.push(b'j');
    laughs.extend_from_slice(&slot(24));
    v.push(("billion_laughs", laughs));
    v
}

#[test]
fn deeply_nested_pickles_are_refused_without_stack_overflow() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let dir = one_dir(&s);
    // A small stack: a decoder that recursed once per level would overflow it.
    let handle = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            for (tag, fragment) in deep_fragments() {
                let file = recipe_with_fragment(&fragment);
                let name = format!("deep.{tag}");
                let path = dir.join(format!("{name}.npy"));
                fs::write(&path, &file).unwrap();
                let started = std::time::Instant::now();
                expect_err_naming(read_recipe(&path), &path, tag);
                expect_err_naming(s.loadone(&name), &path, tag);
                let header = Header::parse(&file).unwrap();
                assert!(decode_object_array(&file[header.data_offset()..]).is_err());
                // The fragment alone, as a whole pickle.
                let mut pickle = b"\x80\x02".to_vec();
                pickle.extend_from_slice(&fragment);
                pickle.push(b'.');
                let r = decode_pickle(&pickle);
                assert!(r.is_err(), "{tag}: decode_pickle accepted it");
                eprintln!(
                    "{tag}: refused in {:?}: {}",
                    started.elapsed(),
                    r.unwrap_err()
                );
            }
            // Shallow nesting still decodes.
            let mut shallow = vec![b']'; 20];
            shallow.extend(std::iter::repeat_n(b'a', 19));
            let file = recipe_with_fragment(&shallow);
            let path = dir.join("deep.shallow.npy");
            fs::write(&path, &file).unwrap();
            let recipe = read_recipe(&path).unwrap();
            let mut v = recipe.kwarg("x").unwrap();
            let mut depth = 1;
            while let PyValue::List(items) = v {
                match items.as_slice() {
                    [inner] => {
                        v = inner;
                        depth += 1;
                    }
                    [] => break,
                    _ => panic!("unexpected {v:?}"),
                }
            }
            assert_eq!(depth, 20);
        })
        .unwrap();
    handle.join().expect("the decoder thread failed");
}

// ---------------------------------------------------------------------------
// Names that try to leave oneData
// ---------------------------------------------------------------------------

/// Every file and folder under `root`, with file contents.
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else if meta.file_type().is_symlink() {
                out.insert(path.clone(), Some(b"<symlink>".to_vec()));
            } else {
                out.insert(path.clone(), Some(fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn names_that_leave_one_data_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    let s = session_in(&root_path);
    let one = one_dir(&s);
    let data = s.data_path().to_path_buf();
    // Decoys a traversal would reach: valid arrays, so a load would succeed.
    let decoy = npy_bytes(&Array1::from_vec(vec![13.0f64, 37.0]));
    let decoys = [
        data.join("x.npy"),
        data.join("x.npz"),
        data.parent().unwrap().join("b.npy"),
        root_path.join("x.npy"),
        root_path.join("etc").join("passwd.npy"),
        root_path.join("a\\..\\b.npy"),
    ];
    for d in &decoys {
        fs::create_dir_all(d.parent().unwrap()).unwrap();
        fs::write(d, &decoy).unwrap();
    }
    let before = tree(&root_path);

    let abs = format!("{}/x", data.display());
    let long = "a".repeat(300);
    let bad: Vec<&str> = vec![
        "../x",
        "..",
        ".",
        "a/../../b",
        "../../b",
        "./x",
        "x/",
        "/etc/passwd",
        &abs,
        "a\\..\\b",
        "..\\x",
        "C:\\x",
        "\\\\server\\share\\x",
        "a\0b",
        "x\0",
        "\0",
        "",
        "a..b",
        ".x",
        "x.",
        "...",
        "a.",
        "mpci..x",
        "mpci/x",
        &long,
    ];
    let arr = Array1::from_vec(vec![1.0f64, 2.0]);
    for &name in &bad {
        let shown = name.escape_debug().to_string();
        let refused = |r: Result<(), Error>, what: &str| match r {
            Err(Error::InvalidName { .. }) => {}
            other => panic!("{what}({shown:?}): expected an invalid-name error, got {other:?}"),
        };
        refused(s.loadone(name).map(|_| ()), "loadone");
        refused(
            s.loadone_with(name, LoadOptions::force()).map(|_| ()),
            "loadone_with(force)",
        );
        refused(
            s.loadone_with(name, LoadOptions::sparse(true)).map(|_| ()),
            "loadone_with(sparse)",
        );
        refused(s.saveone(&arr, name).map(|_| ()), "saveone");
        refused(s.saveone(&small_csr(), name).map(|_| ()), "saveone(sparse)");
        refused(
            s.saveone(&sample_recipe(), name).map(|_| ()),
            "saveone(recipe)",
        );
        refused(s.get_one_filename(name).map(|_| ()), "get_one_filename");
        refused(
            session_in(&root_path).with_spks_name(name).map(|_| ()),
            "with_spks_name",
        );
        // clear_one_data matches names against the files in oneData: a
        // name that leaves it matches nothing (or is refused outright).
        match s.clear_one_data(Some(&[name]), true) {
            Ok(ClearOutcome::Cleared(deleted)) => {
                assert!(deleted.is_empty(), "clear_one_data({shown:?}): {deleted:?}")
            }
            Ok(other) => panic!("clear_one_data({shown:?}): {other:?}"),
            Err(Error::InvalidName { .. }) => {}
            Err(e) => panic!("clear_one_data({shown:?}): {e}"),
        }
        s.clear_cache(Some(&[name]));
    }
    assert_eq!(
        tree(&root_path),
        before,
        "something changed outside the rules"
    );
    for d in &decoys {
        assert_eq!(fs::read(d).unwrap(), decoy, "{}", d.display());
    }

    // Odd but valid names stay inside oneData.
    let odd = [
        "x y",
        "~",
        "C:x",
        "-rf",
        "ünïcödé.名前",
        "a.b.c.d",
        "$HOME",
        "*",
    ];
    for name in odd {
        let path = s.saveone(&arr, name).unwrap();
        assert_eq!(path.parent().unwrap(), one, "{name}");
        assert_eq!(s.loadone(name).unwrap().view1::<f64>().unwrap(), arr);
    }
    let after = tree(&root_path);
    for (path, _) in after.iter().filter(|(p, _)| !before.contains_key(*p)) {
        assert!(
            path.starts_with(&one),
            "created outside oneData: {}",
            path.display()
        );
    }
    let cleared = s.clear_one_data(Some(&odd), true).unwrap();
    assert!(matches!(cleared, ClearOutcome::Cleared(ref d) if d.len() == odd.len()));
    for d in &decoys {
        assert_eq!(fs::read(d).unwrap(), decoy, "{}", d.display());
    }
}

/// A symlink in oneData pointing outside: saving replaces the link, never
/// writes through it, and clearing removes the link, not its target.
#[cfg(unix)]
#[test]
fn symlinks_in_one_data_are_not_written_through() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let one = one_dir(&s);
    let outside = root.path().join("outside.npy");
    let decoy = npy_bytes(&Array1::from_vec(vec![13i64, 37]));
    fs::write(&outside, &decoy).unwrap();
    std::os::unix::fs::symlink(&outside, one.join("link.npy")).unwrap();
    // Reading through the link is allowed (the user made it).
    assert_eq!(
        s.loadone("link").unwrap().view1::<i64>().unwrap().to_vec(),
        [13, 37]
    );
    s.saveone(&Array1::from_vec(vec![1i64, 2, 3]), "link")
        .unwrap();
    assert_eq!(fs::read(&outside).unwrap(), decoy);
    assert!(!fs::symlink_metadata(one.join("link.npy"))
        .unwrap()
        .file_type()
        .is_symlink());
    std::os::unix::fs::symlink(&outside, one.join("link2.npy")).unwrap();
    let cleared = s.clear_one_data(Some(&["link2"]), true).unwrap();
    assert!(matches!(cleared, ClearOutcome::Cleared(ref d) if d.len() == 1));
    assert_eq!(fs::read(&outside).unwrap(), decoy);
}

/// Found by the `npz` fuzz target: a member whose header length field is 0
/// or 1 is shorter than the preamble read before it; it is refused, not
/// sliced past its end.
#[test]
fn npz_members_with_tiny_header_lengths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (i, text_len) in [0u8, 1, 2].into_iter().enumerate() {
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&[text_len, 0]);
        npy.extend_from_slice(b"ab");
        let path = dir.path().join(format!("tiny{i}.npz"));
        fs::write(&path, zip(&[stored("format.npy", npy)])).unwrap();
        for result in [
            onedata::sparse::read_npz_info(&path).map(|_| ()),
            onedata::sparse::read_npz(&path).map(|_| ()),
        ] {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("format.npy"), "{err}");
            assert!(err.to_string().contains(&format!("tiny{i}.npz")), "{err}");
        }
    }
}
