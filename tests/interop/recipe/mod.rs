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

mod hostile;
mod python;
mod values;

use std::fs;
use std::process::Command;

use onedata::npy::Header;
use onedata::recipe::{LoadingRecipe, PyValue};
use onedata::{Error, Fault, PickleError, RecipeError};
use serde::Deserialize;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::common;

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
