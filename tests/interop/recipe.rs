//! Loading recipes against Python and numpy, and against hostile pickles.
//!
//! - Recipes Python pickles (np.save, and protocols 2 to 5 under both the
//!   numpy 1.x and numpy 2 module paths, from `tests/py/recipe_fixtures.py`)
//!   read back with every field and value exact.
//! - Recipes onedata writes load in numpy with warnings as errors, as exactly
//!   the dict written, in numpy's header, and byte for byte as numpy 1.x's
//!   `np.save` writes them.
//! - Hostile pickles are refused with a typed error and run nothing; bounds on
//!   depth, size and memory hold; no input makes the decoder panic.
//!
//! numpy is required: without it these tests fail, they never skip.

use crate::common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use onedata::npy::Header;
use onedata::recipe::{
    decode_object_array, decode_pickle, encode_recipe_npy, py_float_repr, read_recipe,
    recipe_from_npy_bytes, write_recipe, JsonError, LoadingRecipe, PyValue, MAX_DEPTH,
    MAX_EXPANDED_BYTES, MAX_VALUES, RECIPE_MARKER,
};
use onedata::{Error, Fault, PickleError, RecipeError};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Allocation tracking: the largest single allocation and the peak of live
// bytes on the current thread, to show hostile length prefixes and memo
// indices allocate nothing large, and bombs stay within the bounds.
// ---------------------------------------------------------------------------

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + size as isize;
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn note_dealloc(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - size as isize));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_dealloc(layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_dealloc(layout.size());
        note_alloc(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f`; returns its result, the largest single allocation and the peak
/// of extra live bytes on this thread while it ran.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    LARGEST.with(|m| m.set(0));
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let out = f();
    let largest = LARGEST.with(|m| m.get());
    let peak = PEAK.with(|p| p.get()) - base;
    (out, largest, peak.max(0) as usize)
}

// ---------------------------------------------------------------------------
// Python side
// ---------------------------------------------------------------------------

/// Runs `python -W error tests/py/recipe_fixtures.py ARGS` (every warning,
/// DeprecationWarning included, an error) and returns its stdout.
fn run_fixture_script(args: &[&std::ffi::OsStr]) -> String {
    common::require_numpy();
    let script = common::py_script("recipe_fixtures.py");
    let py = common::python();
    let out = Command::new(&py)
        .args(["-W", "error"])
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{py} -W error {} {args:?} failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{stdout}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
    );
    stdout
}

#[derive(Debug, Deserialize)]
struct Manifest {
    numpy_version: String,
    cases: serde_json::Map<String, Value>,
    files: Vec<FileEntry>,
    not_recipes: Vec<NotRecipeEntry>,
    float_reprs: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
struct FileEntry {
    file: String,
    case: String,
    protocol: Option<u8>,
}

#[derive(Debug, Deserialize)]
struct NotRecipeEntry {
    file: String,
    fault: String,
}

fn fixtures() -> (TempDir, Manifest) {
    let dir = tempfile::tempdir().expect("temporary folder");
    run_fixture_script(&[std::ffi::OsStr::new("gen"), dir.path().as_os_str()]);
    let text = fs::read_to_string(dir.path().join("manifest.json")).expect("manifest.json");
    let manifest: Manifest = serde_json::from_str(&text).expect("valid manifest.json");
    assert_eq!(manifest.numpy_version, common::numpy_version());
    (dir, manifest)
}

// ---------------------------------------------------------------------------
// The typed JSON form values cross between Python and Rust in
// ---------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn typed(v: &PyValue) -> Value {
    match v {
        PyValue::None => json!(["none"]),
        PyValue::Bool(b) => json!(["bool", b]),
        PyValue::Int(i) => json!(["int", i.to_string()]),
        PyValue::Float(f) => json!(["float", format!("{:016x}", f.to_bits())]),
        PyValue::Str(s) => json!(["str", s]),
        PyValue::Bytes(b) => json!(["bytes", hex(b)]),
        PyValue::List(items) => json!(["list", items.iter().map(typed).collect::<Vec<_>>()]),
        PyValue::Tuple(items) => json!(["tuple", items.iter().map(typed).collect::<Vec<_>>()]),
        PyValue::Dict(items) => json!([
            "dict",
            items
                .iter()
                .map(|(k, v)| json!([typed(k), typed(v)]))
                .collect::<Vec<_>>()
        ]),
    }
}

fn untyped(t: &Value) -> PyValue {
    let kind = t[0].as_str().expect("typed kind");
    let items = || t[1].as_array().expect("typed items");
    match kind {
        "none" => PyValue::None,
        "bool" => PyValue::Bool(t[1].as_bool().expect("bool")),
        "int" => PyValue::Int(t[1].as_str().expect("int").parse().expect("i128")),
        "float" => {
            let bits = u64::from_str_radix(t[1].as_str().expect("float"), 16).expect("bits");
            PyValue::Float(f64::from_bits(bits))
        }
        "str" => PyValue::Str(t[1].as_str().expect("str").to_string()),
        "bytes" => PyValue::Bytes(unhex(t[1].as_str().expect("bytes"))),
        "list" => PyValue::List(items().iter().map(untyped).collect()),
        "tuple" => PyValue::Tuple(items().iter().map(untyped).collect()),
        "dict" => PyValue::Dict(
            items()
                .iter()
                .map(|kv| (untyped(&kv[0]), untyped(&kv[1])))
                .collect(),
        ),
        other => panic!("unknown typed kind {other}"),
    }
}

// ---------------------------------------------------------------------------
// Hand-made pickles
// ---------------------------------------------------------------------------

/// numpy's pickle of a 0-d object array (protocol 3, numpy 1.x module path,
/// no memo) up to the element, and after it.
const ARRAY_PREFIX: &[u8] = b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01)cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]";
const ARRAY_SUFFIX: &[u8] = b"atb.";

fn object_array(element_ops: &[u8]) -> Vec<u8> {
    [ARRAY_PREFIX, element_ops, ARRAY_SUFFIX].concat()
}

/// A whole `.npy` file: numpy's 0-d object header, then `pickle`.
fn npy_with_pickle(pickle: &[u8]) -> Vec<u8> {
    let mut out = Header::new(onedata::npy::Dtype::Object, false, &[]).to_bytes();
    out.extend_from_slice(pickle);
    out
}

fn binunicode(s: &str) -> Vec<u8> {
    let mut out = vec![b'X'];
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

fn pickle_fault(err: &Error) -> &PickleError {
    match err.fault() {
        Some(Fault::Pickle(p)) => p,
        other => panic!("expected a pickle fault, got {other:?} ({err})"),
    }
}

fn recipe_fault(err: &Error) -> &RecipeError {
    match err.fault() {
        Some(Fault::Recipe(r)) => r,
        other => panic!("expected a recipe fault, got {other:?} ({err})"),
    }
}

/// A recipe with a bit of everything.
fn rich_recipe() -> LoadingRecipe {
    LoadingRecipe::new("s2p", Some("F"), ["transpose", "zscore"])
        .with_kwarg("planes", vec![PyValue::Int(0), PyValue::Int(1)])
        .with_kwarg("keep_planes", PyValue::None)
        .with_kwarg("neg", -70000)
        .with_kwarg("big", PyValue::Int(-(1 << 100)))
        .with_kwarg("x", 1.5)
        .with_kwarg("flag", true)
        .with_kwarg("text", "μs ✓ 日本語")
        .with_kwarg("raw", vec![0u8, 255, 128])
        .with_kwarg(
            "tup",
            PyValue::Tuple(vec![PyValue::Int(1), PyValue::Str("two".into())]),
        )
        .with_kwarg(
            "opts",
            PyValue::Dict(vec![
                (PyValue::Str("axis".into()), PyValue::Int(1)),
                (
                    PyValue::Int(7),
                    PyValue::List(vec![PyValue::Float(f64::NAN)]),
                ),
            ]),
        )
}

// ---------------------------------------------------------------------------
// Reading what Python writes
// ---------------------------------------------------------------------------

#[test]
fn reads_recipes_pickled_by_python_every_protocol_and_module_path() {
    let (dir, m) = fixtures();
    assert_eq!(
        m.files.len(),
        m.cases.len() * 9,
        "np.save + 4 protocols x 2 module paths"
    );
    let mut protocols = BTreeSet::new();
    for f in &m.files {
        let path = dir.path().join(&f.file);
        let bytes = fs::read(&path).unwrap();
        // The fixtures exercise what they claim to.
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        if f.file.contains("core1") {
            assert!(
                has(b"numpy.core.multiarray") && !has(b"numpy._core"),
                "{}",
                f.file
            );
        } else {
            assert!(has(b"numpy._core.multiarray"), "{}", f.file);
        }
        match f.protocol {
            Some(2) => assert!(has(b"c_codecs\nencode\n"), "{}", f.file),
            Some(p @ (4 | 5)) => {
                assert!(
                    has(&[0x80, p]) && has(&[0x95]) && has(&[0x93]),
                    "{}",
                    f.file
                )
            }
            _ => {}
        }
        protocols.insert(f.protocol);

        let recipe = read_recipe(&path).unwrap_or_else(|e| panic!("{}: {e}", f.file));
        assert_eq!(typed(&recipe.to_dict()), m.cases[&f.case], "{}", f.file);
        let from_bytes = recipe_from_npy_bytes(&path, &bytes).unwrap();
        assert_eq!(typed(&from_bytes.to_dict()), typed(&recipe.to_dict())); // NaN != NaN
                                                                            // The raw element too, marker and key order as pickled.
        let header = Header::parse(&bytes).unwrap();
        let element = decode_object_array(&bytes[header.data_offset()..]).unwrap();
        assert!(LoadingRecipe::is_recipe(&element));
        assert_eq!(typed(&element), m.cases[&f.case], "{}", f.file);
    }
    assert_eq!(
        protocols,
        [None, Some(2), Some(3), Some(4), Some(5)]
            .into_iter()
            .collect()
    );

    // Fields, spot-checked.
    let read = |name: &str| read_recipe(dir.path().join(format!("{name}.npsave.npy"))).unwrap();
    let s2p = read("s2p_planes");
    assert_eq!(s2p.loader_type, "s2p");
    assert_eq!(s2p.source_arg.as_deref(), Some("F"));
    assert_eq!(s2p.transforms, ["transpose"]);
    assert_eq!(
        s2p.kwargs,
        vec![
            (
                "planes".to_string(),
                PyValue::List(vec![PyValue::Int(0), PyValue::Int(1)])
            ),
            ("keep_planes".to_string(), PyValue::None),
        ]
    );
    assert_eq!(read("no_source").source_arg, None);
    let ints = read("ints");
    assert_eq!(ints.kwarg("i128min"), Some(&PyValue::Int(i128::MIN)));
    assert_eq!(ints.kwarg("u64max"), Some(&PyValue::Int(u64::MAX.into())));
    assert_eq!(ints.kwarg("below_i32"), Some(&PyValue::Int(-(1 << 31) - 1)));
    let floats = read("floats");
    assert!(matches!(floats.kwarg("nan"), Some(PyValue::Float(x)) if x.is_nan()));
    assert!(
        matches!(floats.kwarg("negzero"), Some(PyValue::Float(x)) if *x == 0.0 && x.is_sign_negative())
    );
    assert_eq!(
        floats.kwarg("ninf"),
        Some(&PyValue::Float(f64::NEG_INFINITY))
    );
    let misc = read("misc");
    assert_eq!(
        misc.kwarg("text"),
        Some(&PyValue::Str("μs ✓ 日本語 🐭".into()))
    );
    assert_eq!(misc.kwarg("raw"), Some(&PyValue::Bytes(vec![0, 255, 128])));
    let batches = read("batches");
    assert_eq!(batches.transforms.len(), 1001);
    assert!(matches!(batches.kwarg("d2500"), Some(PyValue::Dict(d)) if d.len() == 2500));
    let shared = read("shared");
    assert_eq!(shared.kwarg("a"), shared.kwarg("b"));
    // numpy scalars read as the Python values they equal.
    let scalars = read("numpy_scalars");
    let kw = |k: &str| scalars.kwarg(k).cloned().unwrap();
    assert_eq!(kw("plane"), PyValue::Int(1));
    assert_eq!(kw("i32"), PyValue::Int(i32::MIN.into()));
    assert_eq!(kw("u64max"), PyValue::Int(u64::MAX.into()));
    assert_eq!(kw("f16"), PyValue::Float(1.5));
    assert_eq!(kw("f32"), PyValue::Float(f64::from(0.1f32)));
    assert_eq!(kw("yes"), PyValue::Bool(true));
    assert_eq!(kw("name"), PyValue::Str("plane0 μ 🐭".into()));
    assert_eq!(kw("raw"), PyValue::Bytes(b"a\0b".to_vec()));
    assert_eq!(
        kw("keys"),
        PyValue::Dict(vec![
            (PyValue::Int(3), PyValue::Str("three".into())),
            (PyValue::Str("k".into()), PyValue::Float(2.5)),
        ])
    );
}

#[test]
fn refuses_what_is_not_a_recipe_with_a_typed_error_naming_the_file() {
    let (dir, m) = fixtures();
    assert!(!m.not_recipes.is_empty());
    for entry in &m.not_recipes {
        let path = dir.path().join(&entry.file);
        let err = read_recipe(&path).expect_err(&entry.file);
        let msg = err.to_string();
        assert!(msg.contains(&entry.file), "{msg}");
        match entry.fault.as_str() {
            "not_a_recipe" => {
                assert!(
                    matches!(recipe_fault(&err), RecipeError::NotARecipe { .. }),
                    "{msg}"
                );
                assert!(
                    msg.contains("object array is not a loading recipe; onedata cannot return arbitrary Python objects"),
                    "{msg}"
                );
            }
            "not_zero_dim" => {
                assert_eq!(
                    recipe_fault(&err),
                    &RecipeError::NotZeroDim { shape: vec![2] }
                );
                assert!(
                    msg.contains("onedata cannot return arbitrary Python objects"),
                    "{msg}"
                );
            }
            "not_object" => assert_eq!(
                recipe_fault(&err),
                &RecipeError::NotObjectArray {
                    descr: "<f8".into()
                }
            ),
            "malformed" => {
                assert!(
                    matches!(recipe_fault(&err), RecipeError::Malformed(_)),
                    "{msg}"
                )
            }
            "forbidden_global" => assert!(
                matches!(pickle_fault(&err), PickleError::ForbiddenGlobal { module, name, .. }
                    if module == "numpy" && name == "timedelta64"),
                "{msg}"
            ),
            "unsupported_scalar" => {
                let dtype = match pickle_fault(&err) {
                    PickleError::UnsupportedScalar { dtype, .. } => dtype.clone(),
                    other => panic!("{}: {other}", entry.file),
                };
                let want = if entry.file.contains("complex") {
                    "<c8"
                } else {
                    "<M8"
                };
                assert_eq!(dtype, want, "{msg}");
                assert!(msg.contains("is not a recipe value"), "{msg}");
            }
            "not_plain" => assert_eq!(
                pickle_fault(&err),
                &PickleError::NotPlainData {
                    found: "a numpy array"
                }
            ),
            "int_too_large" => {
                assert!(
                    matches!(pickle_fault(&err), PickleError::IntTooLarge { .. }),
                    "{msg}"
                )
            }
            "unsupported_opcode" => assert!(
                matches!(
                    pickle_fault(&err),
                    PickleError::UnsupportedOpcode {
                        name: "EMPTY_SET",
                        ..
                    }
                ),
                "{msg}"
            ),
            "pickle_not_zero_dim" => assert_eq!(
                pickle_fault(&err),
                &PickleError::NotZeroDim { shape: vec![1] }
            ),
            other => panic!("unknown fault {other}"),
        }
    }
    // The messages a user sees.
    let err = read_recipe(dir.path().join("notrecipe.obj_dict.npy")).unwrap_err();
    assert!(err.to_string().ends_with(
        "object array is not a loading recipe; onedata cannot return arbitrary Python objects \
         (it holds a dict without the '__LOADING_RECIPE__' marker)"
    ));
    let err = read_recipe(dir.path().join("notrecipe.obj_list.npy")).unwrap_err();
    assert!(err
        .to_string()
        .contains("object array of shape (2,) is not a loading recipe"));
}

#[test]
fn float_text_is_pythons_repr() {
    let (_dir, m) = fixtures();
    assert!(m.float_reprs.len() > 300);
    for (bits, repr) in &m.float_reprs {
        let x = f64::from_bits(u64::from_str_radix(bits, 16).unwrap());
        assert_eq!(&py_float_repr(x), repr, "bits {bits}");
    }
}

// ---------------------------------------------------------------------------
// numpy reading what onedata writes
// ---------------------------------------------------------------------------

#[test]
fn numpy_loads_recipes_we_write_exactly_and_without_warnings() {
    let (dir, m) = fixtures();
    let out = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    let mut written = Vec::new();
    // Every Python case, through Rust and back.
    for (name, expected) in &m.cases {
        let recipe = LoadingRecipe::from_dict(&untyped(expected)).unwrap();
        assert_eq!(&typed(&recipe.to_dict()), expected, "{name}");
        let path = out.path().join(format!("{name}.npy"));
        write_recipe(&path, &recipe).unwrap();
        // Byte identity with numpy 1.x needs Python to share no object
        // between two places, which "misc" does (one-character strings).
        entries
            .push(json!({"file": path, "expected": expected, "numpy1_identical": name != "misc"}));
        written.push((path, recipe));
    }
    // Recipes built in Rust.
    let built = [
        rich_recipe(),
        LoadingRecipe::new("numpy", None, Vec::<String>::new()),
        LoadingRecipe::new("numpy", Some("spks"), ["a"])
            .with_kwarg("nan_payload", f64::from_bits(0x7ff8_0000_0000_0123))
            .with_kwarg("i128", PyValue::Int(i128::MIN))
            .with_kwarg(
                "long_list",
                (0..2345).map(PyValue::from).collect::<Vec<_>>(),
            )
            .with_kwarg(
                "dict1000",
                PyValue::Dict(
                    (0..1000)
                        .map(|i| (PyValue::Str(format!("key{i}")), PyValue::Int(i)))
                        .collect(),
                ),
            )
            .with_kwarg("long_str", "z".repeat(70_000))
            .with_kwarg("long_bytes", vec![7u8; 300]),
    ];
    for (i, recipe) in built.into_iter().enumerate() {
        let path = out.path().join(format!("built{i}.npy"));
        write_recipe(&path, &recipe).unwrap();
        let expected = typed(&recipe.to_dict());
        entries.push(json!({"file": path, "expected": expected, "numpy1_identical": true}));
        written.push((path, recipe));
    }
    let cases_path = out.path().join("cases.json");
    fs::write(&cases_path, serde_json::to_vec(&entries).unwrap()).unwrap();
    let stdout = run_fixture_script(&[std::ffi::OsStr::new("check"), cases_path.as_os_str()]);
    let results: Vec<Value> = serde_json::from_str(&stdout).expect("JSON results");
    assert_eq!(results.len(), entries.len());
    let failures: Vec<&Value> = results.iter().filter(|r| r["ok"] != json!(true)).collect();
    assert!(failures.is_empty(), "numpy disagrees: {failures:#?}");

    // And onedata reads back what it wrote.
    for (path, recipe) in &written {
        let back = read_recipe(path).unwrap();
        assert_eq!(typed(&back.to_dict()), typed(&recipe.to_dict()));
    }
    drop(dir);
}

#[test]
fn written_header_is_numpys_and_pickle_is_protocol_3_numpy_core() {
    let bytes = encode_recipe_npy(&LoadingRecipe::new("numpy", Some("F"), ["t"])).unwrap();
    let mut header =
        b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (), }".to_vec();
    header.resize(127, b' ');
    header.push(b'\n');
    assert_eq!(&bytes[..128], &header[..]);
    assert_eq!(&bytes[128..130], b"\x80\x03");
    assert!(bytes[130..].starts_with(b"cnumpy.core.multiarray\n_reconstruct\n"));
    assert_eq!(bytes.last(), Some(&b'.'));
}

#[test]
fn write_refuses_recipes_numpy_would_not_read_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    let unhashable = LoadingRecipe::new("numpy", None, ["t"]).with_kwarg(
        "d",
        PyValue::Dict(vec![(PyValue::List(vec![]), PyValue::None)]),
    );
    let same_key = LoadingRecipe::new("numpy", None, ["t"]).with_kwarg(
        "d",
        PyValue::Dict(vec![
            (PyValue::Int(1), PyValue::None),
            (PyValue::Bool(true), PyValue::None),
        ]),
    );
    let mut duplicate_kwarg = LoadingRecipe::new("numpy", None, ["t"]);
    duplicate_kwarg.kwargs = vec![("k".into(), PyValue::None), ("k".into(), PyValue::None)];
    let mut deep = PyValue::None;
    for _ in 0..MAX_DEPTH {
        deep = PyValue::List(vec![deep]);
    }
    let too_deep = LoadingRecipe::new("numpy", None, ["t"]).with_kwarg("deep", deep);
    for recipe in [unhashable, same_key, duplicate_kwarg, too_deep] {
        let err = write_recipe(&path, &recipe).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(encode_recipe_npy(&recipe).is_err());
        assert!(!path.exists());
    }
    // Just within the depth limit: written and read back.
    let mut deep = PyValue::None;
    for _ in 0..MAX_DEPTH - 2 {
        deep = PyValue::List(vec![deep]);
    }
    let ok = LoadingRecipe::new("numpy", None, ["t"]).with_kwarg("deep", deep);
    write_recipe(&path, &ok).unwrap();
    assert_eq!(read_recipe(&path).unwrap(), ok);
}

// ---------------------------------------------------------------------------
// Hostile pickles
// ---------------------------------------------------------------------------

/// Pickles that run code in Python: `(name, pickle)`. Each makes the file
/// `marker` when Python unpickles it.
fn code_running_pickles(marker: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let m = marker.display().to_string();
    let os_system = [
        b"\x80\x02cos\nsystem\n".as_slice(),
        &binunicode(&format!("touch '{m}'")),
        b"\x85R.",
    ]
    .concat();
    let eval = [
        b"\x80\x02cbuiltins\neval\n".as_slice(),
        &binunicode(&format!("open({m:?}, 'w').close()")),
        b"\x85R.",
    ]
    .concat();
    let cmd = format!("touch '{m}'");
    let posix_stack_global = [
        b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c".as_slice(),
        &[cmd.len() as u8],
        cmd.as_bytes(),
        b"\x94\x85\x94R\x94.",
    ]
    .concat();
    // Hidden in a valid recipe, as a kwargs value: written by onedata with a
    // placeholder, then the placeholder's BINUNICODE swapped for the payload.
    let recipe = LoadingRecipe::new("numpy", Some("F"), ["t"]).with_kwarg("x", "PLACEHOLDER");
    let npy = encode_recipe_npy(&recipe).unwrap();
    let pickle = &npy[Header::parse(&npy).unwrap().data_offset()..];
    let placeholder = binunicode("PLACEHOLDER");
    let at = pickle
        .windows(placeholder.len())
        .position(|w| w == placeholder)
        .unwrap();
    let hidden = [
        &pickle[..at],
        b"cos\nsystem\n",
        &binunicode(&format!("touch '{m}'")),
        b"\x85R",
        &pickle[at + placeholder.len()..],
    ]
    .concat();
    vec![
        ("os.system via GLOBAL", os_system),
        ("builtins.eval via GLOBAL", eval),
        ("posix.system via STACK_GLOBAL", posix_stack_global),
        ("os.system inside a recipe's kwargs", hidden),
    ]
}

#[test]
fn code_running_pickles_are_refused_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let expected = [
        ("os", "system"),
        ("builtins", "eval"),
        ("posix", "system"),
        ("os", "system"),
    ];
    for ((what, pickle), (module, name)) in code_running_pickles(&marker).into_iter().zip(expected)
    {
        let err = decode_object_array(&pickle).unwrap_err();
        assert!(
            matches!(&err, PickleError::ForbiddenGlobal { module: m, name: n, .. } if m == module && n == name),
            "{what}: {err}"
        );
        assert!(decode_pickle(&pickle).is_err(), "{what}");
        let path = dir.path().join("hostile.npy");
        fs::write(&path, npy_with_pickle(&pickle)).unwrap();
        let err = read_recipe(&path).unwrap_err();
        assert!(
            matches!(pickle_fault(&err), PickleError::ForbiddenGlobal { .. }),
            "{what}: {err}"
        );
        assert!(err.to_string().contains("forbidden"), "{err}");
        assert!(!marker.exists(), "{what}: the payload ran");
    }
    // The payloads are live: Python's pickle runs each one.
    for (what, pickle) in code_running_pickles(&marker) {
        let file = dir.path().join("payload.pickle");
        fs::write(&file, &pickle).unwrap();
        run_fixture_script(&[std::ffi::OsStr::new("run-pickle"), file.as_os_str()]);
        assert!(
            marker.exists(),
            "{what}: the payload does not run in Python"
        );
        fs::remove_file(&marker).unwrap();
    }
}

#[test]
fn every_global_but_numpys_reconstructors_is_refused_where_it_is_named() {
    let refused: [(&[u8], &[u8]); 10] = [
        (b"subprocess", b"Popen"),
        (b"numpy", b"load"),
        (b"numpy.core.multiarray", b"fromstring"),
        (b"numpy._core.multiarray", b"_reconstructX"),
        (b"numpy.core.multiarray ", b"_reconstruct"),
        (b"builtins", b"getattr"),
        (b"__builtin__", b"eval"),
        (b"copy_reg", b"_reconstructor"),
        (b"numpy", b"ndarray.__setstate__"),
        (b"numpy.core", b"multiarray._reconstruct"),
    ];
    for (module, name) in refused {
        let pickle = [b"\x80\x02N0c".as_slice(), module, b"\n", name, b"\n."].concat();
        assert_eq!(
            decode_pickle(&pickle),
            Err(PickleError::ForbiddenGlobal {
                module: String::from_utf8_lossy(module).into_owned(),
                name: String::from_utf8_lossy(name).into_owned(),
                offset: 4,
            })
        );
        // STACK_GLOBAL too.
        let mut p = b"\x80\x04".to_vec();
        for part in [module, name] {
            p.push(0x8c);
            p.push(part.len() as u8);
            p.extend_from_slice(part);
        }
        p.extend_from_slice(b"\x93.");
        assert!(
            matches!(decode_pickle(&p), Err(PickleError::ForbiddenGlobal { offset, .. }) if offset == p.len() - 2)
        );
    }
    // Allowed globals still never run: calling numpy.ndarray or the codecs
    // other than numpy does is refused.
    assert!(matches!(
        decode_pickle(b"\x80\x02cnumpy\nndarray\nK\x03\x85R."),
        Err(PickleError::BadValue { .. })
    ));
    assert!(matches!(
        decode_pickle(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8\x86R."),
        Err(PickleError::BadValue { .. })
    ));
    // numpy scalars only as numpy pickles them: (dtype, bytes) of the
    // dtype's size; bytes only empty.
    let scalar = |dtype: &str, data: &[u8]| {
        [
            b"\x80\x03cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\n".as_slice(),
            &binunicode(dtype),
            b"\x89\x88\x87R".as_slice(),
            b"C",
            &[data.len() as u8],
            data,
            b"\x86R.",
        ]
        .concat()
    };
    assert_eq!(
        decode_pickle(&scalar("u2", &[0x34, 0x12])),
        Ok(PyValue::Int(0x1234))
    );
    assert!(matches!(
        decode_pickle(&scalar("u2", &[1, 2, 3])),
        Err(PickleError::BadValue { what, .. }) if what.contains("holds 3 bytes, not 2")
    ));
    assert!(matches!(
        decode_pickle(&scalar("O8", &[0; 8])),
        Err(PickleError::UnsupportedScalar { dtype, .. }) if dtype == "|O"
    ));
    assert!(matches!(
        decode_pickle(&scalar("i3", &[0; 3])),
        Err(PickleError::BadValue { .. })
    ));
    assert_eq!(
        decode_pickle(b"\x80\x02c__builtin__\nbytes\n)R."),
        Ok(PyValue::Bytes(Vec::new()))
    );
    assert!(matches!(
        decode_pickle(b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x7f\x85R."),
        Err(PickleError::BadValue { .. })
    ));
    // A plain pickle of an allowed global is not plain data.
    assert_eq!(
        decode_pickle(b"\x80\x02cnumpy\ndtype\n."),
        Err(PickleError::NotPlainData {
            found: "a global (class or function)"
        })
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    const N: usize = 100_000;
    // EMPTY_LIST x N, then APPEND x (N - 1): N nested lists.
    let lists = [b"]".repeat(N), b"a".repeat(N - 1)].concat();
    let tuples = [b")".as_slice(), &b"\x85".repeat(N)].concat();
    let marks = [b"(".repeat(N), b"N".to_vec()].concat();
    let dict_chain = {
        // d0 = {}; d1 = {0: d0}; ... built bottom-up with SETITEM.
        let mut p = Vec::new();
        for _ in 0..N {
            p.extend_from_slice(b"}K\x00");
        }
        p.extend_from_slice(b"}");
        for _ in 0..N {
            p.extend_from_slice(b"s");
        }
        p
    };
    for (what, element) in [
        ("lists", lists),
        ("tuples", tuples),
        ("marks", marks),
        ("dicts", dict_chain),
    ] {
        let plain = [element.as_slice(), b"."].concat();
        let err = decode_pickle(&plain).unwrap_err();
        assert!(
            matches!(err, PickleError::DepthExceeded { .. }),
            "{what}: {err}"
        );
        let err = decode_object_array(&object_array(&element)).unwrap_err();
        assert!(
            matches!(err, PickleError::DepthExceeded { .. }),
            "{what}: {err}"
        );
    }
    // A deep tuple as a dict key.
    let key = [b"}".as_slice(), b")", &b"\x85".repeat(N), b"K\x01s."].concat();
    assert_eq!(
        decode_pickle(&key),
        Err(PickleError::DepthExceeded { limit: MAX_DEPTH })
    );
    // Exactly MAX_DEPTH levels decode.
    let ok = [
        b"]".repeat(MAX_DEPTH),
        b"a".repeat(MAX_DEPTH - 1),
        b".".to_vec(),
    ]
    .concat();
    assert!(decode_pickle(&ok).is_ok());
    let over = [
        b"]".repeat(MAX_DEPTH + 1),
        b"a".repeat(MAX_DEPTH),
        b".".to_vec(),
    ]
    .concat();
    assert!(decode_pickle(&over).is_err());
}

#[test]
fn length_prefixes_past_the_end_are_truncation_errors_without_allocating() {
    let cases: Vec<(&str, Vec<u8>, u64)> = vec![
        (
            "BINUNICODE",
            [b"\x80\x02X\xf0\xff\xff\xff".as_slice(), b"abc"].concat(),
            0xffff_fff0,
        ),
        (
            "BINUNICODE8",
            [b"\x80\x04\x8d".as_slice(), &u64::MAX.to_le_bytes(), b"abc"].concat(),
            u64::MAX,
        ),
        (
            "BINBYTES8",
            [
                b"\x80\x04\x8e".as_slice(),
                &(1u64 << 62).to_le_bytes(),
                b"abc",
            ]
            .concat(),
            1 << 62,
        ),
        (
            "BINBYTES",
            [b"\x80\x03B\xff\xff\xff\xff".as_slice(), b"abc"].concat(),
            u32::MAX.into(),
        ),
        ("SHORT_BINUNICODE", b"\x80\x04\x8c\xc8abc".to_vec(), 200),
        (
            "BINSTRING",
            b"\x80\x02T\xff\xff\xff\x7fabc".to_vec(),
            0x7fff_ffff,
        ),
        (
            "LONG4",
            b"\x80\x02\x8b\xff\xff\xff\x7fabc".to_vec(),
            0x7fff_ffff,
        ),
        (
            "FRAME",
            [b"\x80\x04\x95".as_slice(), &u64::MAX.to_le_bytes(), b"N."].concat(),
            u64::MAX,
        ),
    ];
    for (what, pickle, needed) in cases {
        let (result, largest, _) = measure(|| decode_pickle(&pickle));
        match result {
            Err(PickleError::Truncated { needed: n, .. }) => assert_eq!(n, needed, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(largest < 64 << 10, "{what}: allocated {largest} bytes");
        let (result, largest, _) =
            measure(|| recipe_from_npy_bytes("hostile.npy", &npy_with_pickle(&pickle)));
        assert!(matches!(
            pickle_fault(&result.unwrap_err()),
            PickleError::Truncated { .. }
        ));
        assert!(largest < 64 << 10, "{what}: allocated {largest} bytes");
    }
    // Negative lengths.
    assert!(matches!(
        decode_pickle(b"T\xff\xff\xff\xff."),
        Err(PickleError::BadValue { .. })
    ));
    assert!(matches!(
        decode_pickle(b"\x8b\xff\xff\xff\xff."),
        Err(PickleError::BadValue { .. })
    ));
}

#[test]
fn memo_indices_live_in_a_map() {
    // LONG_BINPUT 0xFFFFFFFF then LONG_BINGET it back, inside an object array.
    let element = [
        binunicode("hello").as_slice(),
        b"r\xff\xff\xff\xff0j\xff\xff\xff\xff",
    ]
    .concat();
    let (result, largest, _) = measure(|| decode_object_array(&object_array(&element)));
    assert_eq!(result, Ok(PyValue::Str("hello".into())));
    assert!(largest < 64 << 10, "allocated {largest} bytes");
    assert_eq!(
        decode_pickle(b"Nr\xfe\xff\xff\xffj\xff\xff\xff\xff."),
        Err(PickleError::MemoMissing {
            index: 0xffff_ffff,
            offset: 6
        })
    );
    // Memo gets at scattered huge indices share values as Python does:
    // {'a': l, 'b': l} with l = [1] put at 0xDEADBEEF, s = 'k' at 0x7FFFFFFF.
    let element = b"}r\x01\x00\x00\x80X\x01\x00\x00\x00ar\xff\xff\xff\x7f]r\xef\xbe\xad\xdeK\x01asX\x01\x00\x00\x00bj\xef\xbe\xad\xdes";
    let (result, largest, _) = measure(|| decode_object_array(&object_array(element)));
    let one = PyValue::List(vec![PyValue::Int(1)]);
    assert_eq!(
        result,
        Ok(PyValue::Dict(vec![
            (PyValue::Str("a".into()), one.clone()),
            (PyValue::Str("b".into()), one),
        ]))
    );
    assert!(largest < 64 << 10, "allocated {largest} bytes");
}

#[test]
fn billion_laughs_is_a_typed_error_within_the_bounds() {
    // L0 = ['lol']; L(k) = [L(k-1)] * 10 through memo gets; 10^30 values.
    let mut p = b"\x80\x02]".to_vec();
    p.extend_from_slice(&binunicode("lol"));
    p.extend_from_slice(b"aq\x00");
    for k in 1..=30u8 {
        p.extend_from_slice(b"](");
        for _ in 0..10 {
            p.extend_from_slice(&[b'h', k - 1]);
        }
        p.extend_from_slice(&[b'e', b'q', k]);
    }
    p.push(b'.');
    let start = Instant::now();
    let (result, _, peak) = measure(|| decode_pickle(&p));
    assert_eq!(
        result,
        Err(PickleError::TooLarge {
            what: "values",
            limit: MAX_VALUES
        })
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(peak < 256 << 20, "peak {peak} bytes");
    // The same bomb as a recipe's kwargs value, in a file.
    // Keep only L30 on the stack: mark, build, drop all, get L30 back.
    let element = [b"(".as_slice(), &p[2..p.len() - 1], b"1h\x1e"].concat();
    let npy = npy_with_pickle(&object_array(&element));
    let err = recipe_from_npy_bytes("bomb.npy", &npy).unwrap_err();
    assert!(
        matches!(pickle_fault(&err), PickleError::TooLarge { .. }),
        "{err}"
    );

    // Bytes: one 1 MiB string referenced 1000 times.
    let big = "x".repeat(1 << 20);
    let mut p = binunicode(&big);
    p.extend_from_slice(b"q\x00](");
    for _ in 0..1000 {
        p.extend_from_slice(b"h\x00");
    }
    p.extend_from_slice(b"e.");
    let (result, _, peak) = measure(|| decode_pickle(&p));
    assert_eq!(
        result,
        Err(PickleError::TooLarge {
            what: "bytes",
            limit: MAX_EXPANDED_BYTES
        })
    );
    assert!(
        peak < (MAX_EXPANDED_BYTES + (16 << 20)),
        "peak {peak} bytes"
    );

    // Bytes hashed: the same string as a key of 1000 dicts.
    let mut p = binunicode(&big);
    p.extend_from_slice(b"q\x00");
    for _ in 0..1000 {
        p.extend_from_slice(b"}h\x00Ns0");
    }
    p.extend_from_slice(b"N.");
    assert_eq!(
        decode_pickle(&p),
        Err(PickleError::TooLarge {
            what: "bytes",
            limit: MAX_EXPANDED_BYTES
        })
    );

    // Shared references within the bounds are copied, as Python shares them.
    let mut p = binunicode("abc");
    p.extend_from_slice(b"q\x00](");
    for _ in 0..1000 {
        p.extend_from_slice(b"h\x00");
    }
    p.extend_from_slice(b"e.");
    assert_eq!(
        decode_pickle(&p),
        Ok(PyValue::List(vec![PyValue::Str("abc".into()); 1000]))
    );
}

#[test]
fn truncation_at_every_offset_and_corruption_never_panic() {
    let npy = encode_recipe_npy(&rich_recipe()).unwrap();
    let data_offset = Header::parse(&npy).unwrap().data_offset();
    let pickle = &npy[data_offset..];
    for cut in 0..npy.len() {
        assert!(
            recipe_from_npy_bytes("cut.npy", &npy[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    for cut in 0..pickle.len() {
        assert!(decode_object_array(&pickle[..cut]).is_err(), "cut at {cut}");
    }
    // Every byte of the pickle replaced by every value: Ok or Err, no panic.
    let mut copy = pickle.to_vec();
    for i in 0..copy.len() {
        let original = copy[i];
        for v in 0..=255u8 {
            copy[i] = v;
            let _ = decode_object_array(&copy);
        }
        copy[i] = original;
    }
    assert_eq!(
        decode_object_array(&copy).map(|v| typed(&v)),
        Ok(typed(&rich_recipe().to_dict()))
    );
}

#[test]
fn small_faults_are_named() {
    assert_eq!(
        decode_pickle(b""),
        Err(PickleError::Truncated {
            offset: 0,
            needed: 1,
            available: 0
        })
    );
    assert_eq!(
        decode_pickle(b"N"),
        Err(PickleError::Truncated {
            offset: 1,
            needed: 1,
            available: 0
        })
    );
    assert_eq!(
        decode_pickle(b"\xff"),
        Err(PickleError::UnknownOpcode {
            opcode: 0xff,
            offset: 0
        })
    );
    assert_eq!(
        decode_pickle(b"\x80\x06N."),
        Err(PickleError::UnsupportedProtocol(6))
    );
    assert_eq!(
        decode_pickle(b"."),
        Err(PickleError::StackUnderflow {
            opcode: "STOP",
            offset: 0
        })
    );
    assert_eq!(
        decode_pickle(b"(."),
        Err(PickleError::StackUnderflow {
            opcode: "STOP",
            offset: 1
        })
    );
    assert_eq!(
        decode_pickle(b"t."),
        Err(PickleError::MarkMissing {
            opcode: "TUPLE",
            offset: 0
        })
    );
    assert_eq!(
        decode_pickle(b"(Na."),
        Err(PickleError::StackUnderflow {
            opcode: "APPEND",
            offset: 2
        })
    );
    assert_eq!(
        decode_pickle(b"h\x00."),
        Err(PickleError::MemoMissing {
            index: 0,
            offset: 0
        })
    );
    assert_eq!(decode_pickle(b"]q\x00h\x00a."), Err(PickleError::Recursive));
    for (code, name) in [
        (b'i', "INST"),
        (b'o', "OBJ"),
        (0x81, "NEWOBJ"),
        (0x92, "NEWOBJ_EX"),
        (b'P', "PERSID"),
        (b'Q', "BINPERSID"),
        (0x82, "EXT1"),
        (b'I', "INT"),
        (0x97, "NEXT_BUFFER"),
    ] {
        assert_eq!(
            decode_pickle(&[code, b'.']),
            Err(PickleError::UnsupportedOpcode { name, offset: 0 })
        );
    }
    assert!(matches!(
        decode_pickle(b"NK\x01a."),
        Err(PickleError::BadValue { .. })
    ));
    assert!(matches!(
        decode_pickle(b"X\x02\x00\x00\x00\xff\xfe."),
        Err(PickleError::BadText {
            encoding: "UTF-8",
            ..
        })
    ));
    // A lone surrogate, which Python's 'surrogatepass' would accept.
    assert!(matches!(
        decode_pickle(b"X\x03\x00\x00\x00\xed\xa0\x80."),
        Err(PickleError::BadText { .. })
    ));
    assert!(matches!(
        decode_pickle(b"U\x01\xe9."),
        Err(PickleError::BadText {
            encoding: "ASCII",
            ..
        })
    ));
    // Values left under the result are ignored, as pickle.load ignores them.
    assert_eq!(decode_pickle(b"}(N."), Ok(PyValue::None));
    assert!(matches!(
        decode_pickle(b"}(Nu."),
        Err(PickleError::BadValue { .. })
    ));
    // Trailing bytes after STOP are ignored, as pickle.load ignores them.
    assert_eq!(decode_pickle(b"N.garbage"), Ok(PyValue::None));
    // Python 2 strings decode as ASCII text (np.load's encoding='ASCII').
    assert_eq!(decode_pickle(b"U\x02ab."), Ok(PyValue::Str("ab".into())));
    // The decoded value is the element, not the array.
    assert_eq!(
        decode_object_array(b"N."),
        Err(PickleError::NotAnArray { found: "None" })
    );
    assert_eq!(
        decode_object_array(&object_array(b"cnumpy\ndtype\n")),
        Err(PickleError::NotPlainData {
            found: "a global (class or function)"
        })
    );
}

// ---------------------------------------------------------------------------
// Recipes and values
// ---------------------------------------------------------------------------

#[test]
fn recipe_dict_semantics_follow_vranalysis() {
    let r = LoadingRecipe::new("numpy", Some("F"), ["t"])
        .with_kwarg("a", 1)
        .with_kwarg("a", 2);
    assert_eq!(r.kwargs, vec![("a".to_string(), PyValue::Int(2))]);
    let d = r.to_dict();
    assert_eq!(
        d.to_string(),
        "{'marker': '__LOADING_RECIPE__', 'loader_type': 'numpy', 'source_arg': 'F', 'transforms': ['t'], 'kwargs': {'a': 2}}"
    );
    assert!(LoadingRecipe::is_recipe(&d));
    assert!(!LoadingRecipe::is_recipe(&PyValue::List(vec![])));
    let s = |x: &str| PyValue::Str(x.into());
    assert!(!LoadingRecipe::is_recipe(&PyValue::Dict(vec![(
        s("marker"),
        s("other")
    )])));
    assert!(LoadingRecipe::is_recipe(&PyValue::Dict(vec![(
        s("marker"),
        s(RECIPE_MARKER)
    )])));

    // from_dict: transforms None means none (vrAnalysis's `transforms or []`),
    // tuples of str are accepted, the marker is not required.
    let dict = |transforms: PyValue, kwargs: PyValue| {
        PyValue::Dict(vec![
            (s("loader_type"), s("numpy")),
            (s("source_arg"), PyValue::None),
            (s("transforms"), transforms),
            (s("kwargs"), kwargs),
        ])
    };
    let r = LoadingRecipe::from_dict(&dict(PyValue::None, PyValue::Dict(vec![]))).unwrap();
    assert!(r.transforms.is_empty() && r.source_arg.is_none());
    let r = LoadingRecipe::from_dict(&dict(PyValue::Tuple(vec![s("x")]), PyValue::Dict(vec![])))
        .unwrap();
    assert_eq!(r.transforms, ["x"]);
    for bad in [
        dict(PyValue::Int(1), PyValue::Dict(vec![])),
        dict(PyValue::List(vec![PyValue::Int(1)]), PyValue::Dict(vec![])),
        dict(PyValue::None, PyValue::List(vec![])),
        dict(
            PyValue::None,
            PyValue::Dict(vec![(PyValue::Int(1), PyValue::None)]),
        ),
        PyValue::Dict(vec![(s("loader_type"), s("numpy"))]),
        PyValue::None,
    ] {
        assert!(
            matches!(
                LoadingRecipe::from_dict(&bad),
                Err(RecipeError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn json_conversion_follows_json_dumps() {
    let recipe = LoadingRecipe::new("s2p", None, ["transpose"])
        .with_kwarg(
            "planes",
            PyValue::Tuple(vec![PyValue::Int(0), PyValue::Int(1)]),
        )
        .with_kwarg("x", 0.5)
        .with_kwarg("u", PyValue::Int(u64::MAX.into()))
        .with_kwarg(
            "keys",
            PyValue::Dict(vec![
                (PyValue::Int(1), PyValue::None),
                (PyValue::Float(1.5), PyValue::Bool(true)),
                (PyValue::Float(1e16), PyValue::Bool(true)),
                (PyValue::Bool(true), PyValue::Int(-1)),
                (PyValue::None, PyValue::Str("n".into())),
            ]),
        );
    let value = recipe.to_json().unwrap();
    assert_eq!(
        serde_json::to_string(&value).unwrap(),
        r#"{"marker":"__LOADING_RECIPE__","loader_type":"s2p","source_arg":null,"transforms":["transpose"],"kwargs":{"planes":[0,1],"x":0.5,"u":18446744073709551615,"keys":{"1":null,"1.5":true,"1e+16":true,"true":-1,"null":"n"}}}"#
    );
    let back = LoadingRecipe::from_json(&json!({
        "marker": RECIPE_MARKER, "loader_type": "s2p", "source_arg": "F",
        "transforms": ["a"], "kwargs": {"n": 1, "f": 1.0, "l": [null, true]}
    }))
    .unwrap();
    assert_eq!(
        back,
        LoadingRecipe::new("s2p", Some("F"), ["a"])
            .with_kwarg("n", 1)
            .with_kwarg("f", 1.0)
            .with_kwarg("l", vec![PyValue::None, PyValue::Bool(true)])
    );
    let err = |v: PyValue| v.to_json().unwrap_err();
    assert!(matches!(
        err(PyValue::Float(f64::NAN)),
        JsonError::NonFiniteFloat(_)
    ));
    assert_eq!(
        err(PyValue::Float(f64::INFINITY)).to_string(),
        "float inf has no JSON form"
    );
    assert_eq!(
        err(PyValue::Int(1 << 64)),
        JsonError::IntOutOfRange(1 << 64)
    );
    assert_eq!(err(PyValue::Bytes(vec![])), JsonError::Bytes);
    assert_eq!(
        err(PyValue::Dict(vec![(PyValue::Tuple(vec![]), PyValue::None)])),
        JsonError::Key("tuple")
    );
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn scalar() -> impl Strategy<Value = PyValue> {
    prop_oneof![
        Just(PyValue::None),
        any::<bool>().prop_map(PyValue::Bool),
        any::<i128>().prop_map(PyValue::Int),
        any::<i64>().prop_map(|i| PyValue::Int(i.into())),
        any::<u8>().prop_map(|i| PyValue::Int(i.into())),
        any::<u64>().prop_map(|b| PyValue::Float(f64::from_bits(b))),
        ".{0,12}".prop_map(PyValue::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(PyValue::Bytes),
    ]
}

fn value() -> impl Strategy<Value = PyValue> {
    scalar().prop_recursive(6, 200, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(PyValue::List),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(PyValue::Tuple),
            proptest::collection::btree_map("[a-z]{0,4}", inner.clone(), 0..6).prop_map(|m| {
                PyValue::Dict(m.into_iter().map(|(k, v)| (PyValue::Str(k), v)).collect())
            }),
            proptest::collection::btree_map(any::<i64>(), inner, 0..4).prop_map(|m| {
                PyValue::Dict(
                    m.into_iter()
                        .map(|(k, v)| (PyValue::Int(k.into()), v))
                        .collect(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_value_roundtrips_through_the_file(v in value(), loader in ".{0,8}", source in proptest::option::of(".{0,8}")) {
        let recipe = LoadingRecipe::new(loader, source.as_deref(), ["t"]).with_kwarg("v", v);
        let npy = encode_recipe_npy(&recipe).unwrap();
        let back = recipe_from_npy_bytes("prop.npy", &npy).unwrap();
        prop_assert_eq!(typed(&back.to_dict()), typed(&recipe.to_dict()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_pickle(&bytes);
        let _ = decode_object_array(&bytes);
        let _ = decode_object_array(&object_array(&bytes));
        let _ = recipe_from_npy_bytes("fuzz.npy", &npy_with_pickle(&bytes));
    }

    #[test]
    fn opcode_soup_never_panics(ops in proptest::collection::vec(
        prop::sample::select(b"()0]}aestlduhqrjJKMN\x85\x86\x87\x88\x89\x8a\x94\x93bR.".to_vec()), 0..200),
        args in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut soup = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            soup.push(*op);
            if let Some(a) = args.get(i) { if a % 3 == 0 { soup.push(a / 3); } }
        }
        let _ = decode_pickle(&soup);
        let _ = decode_object_array(&object_array(&soup));
    }
}
