//! Loading recipes whose kwargs hold every value kind the object-array
//! decoder reads (sets and frozensets, `complex` and numpy complex scalars,
//! numpy datetime64/timedelta64 scalars, numpy arrays of every non-structured
//! dtype, object arrays included, ints past 64 and 128 bits, naive
//! datetimes), as vrAnalysis saves them (`np.save` of the recipe dict,
//! protocols 4, 3 and 2, and in size-1 arrays of shape `(1,)` and `(1, 1)`,
//! which vrAnalysis's `.item()` reads as recipes too): onedata reads them
//! value for value as `np.load(allow_pickle=True)` gives them
//! (`tests/py/recipe_kinds.py` dumps that as a JSON tree), and numpy reads
//! back what onedata writes as the same values, of the same Python types.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use onedata::describe::{describe_file, Description};
use onedata::recipe::{
    read_recipe, write_recipe, ArrayBytes, ArrayData, LoadingRecipe, PyArray, PyDateTime, PyValue,
    TimeValue,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::objects::sorted_sets;
use crate::common;

#[derive(Debug, Deserialize)]
struct Manifest {
    numpy_version: String,
    files: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    file: String,
    case: String,
    shape: Vec<usize>,
    tree: Value,
}

fn fixtures() -> &'static (PathBuf, Manifest) {
    static FIXTURES: OnceLock<(PathBuf, Manifest)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = common::run_dir("recipe_kinds");
        fs::create_dir_all(&dir).unwrap();
        common::run_python(
            common::py_script("recipe_kinds.py"),
            &[std::ffi::OsStr::new("gen"), dir.as_os_str()],
        );
        let text = fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
        let manifest: Manifest = serde_json::from_str(&text).expect("valid manifest.json");
        assert_eq!(manifest.numpy_version, common::numpy_version());
        (dir, manifest)
    })
}

fn tree(r: &LoadingRecipe) -> Value {
    r.to_dict().to_json_tree(ArrayBytes::Hex)
}

fn kwarg<'r>(r: &'r LoadingRecipe, key: &str) -> &'r PyValue {
    r.kwarg(key).unwrap_or_else(|| panic!("no kwarg {key}"))
}

fn array(v: &PyValue) -> &PyArray {
    match v {
        PyValue::Array(a) => a,
        other => panic!("{other} is not an array"),
    }
}

#[test]
fn recipe_kwargs_of_every_kind_read_value_for_value_as_numpy_loads_them() {
    let (dir, m) = fixtures();
    assert_eq!(m.files.len(), 7 * 5, "7 cases x 5 variants");
    for e in &m.files {
        let path = dir.join(&e.file);
        let r = read_recipe(&path).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(sorted_sets(&tree(&r)), sorted_sets(&e.tree), "{}", e.file);
        assert_eq!(e.shape.iter().product::<usize>(), 1);
        // ls and info see a recipe too, also in a (1,) or (1, 1) array.
        match describe_file(&path).unwrap() {
            Description::Recipe(d) => assert_eq!(tree(&d), tree(&r), "{}", e.file),
            other => panic!("{}: described as {}", e.file, other.kind()),
        }
        // Spot checks of the typed values.
        match e.case.as_str() {
            "bigints" => {
                assert_eq!(kwarg(&r, "i70"), &PyValue::Int(1 << 70));
                assert_eq!(kwarg(&r, "neg70"), &PyValue::Int(-(1 << 70)));
                assert_eq!(kwarg(&r, "i127"), &PyValue::Int(i128::MAX));
                let mut b = vec![0u8; 17];
                b[16] = 1;
                assert_eq!(kwarg(&r, "i128"), &PyValue::BigInt(b));
                assert_eq!(
                    kwarg(&r, "huge").to_json_tree(ArrayBytes::Hex)["$int"]
                        .as_str()
                        .unwrap()
                        .len(),
                    955,
                    "3**2000 has 955 digits"
                );
            }
            "complex" => {
                assert_eq!(kwarg(&r, "z"), &PyValue::Complex(1.0, 2.0));
                assert_eq!(kwarg(&r, "c64"), &PyValue::Complex(1.5, -2.0));
            }
            "times" => {
                let t = |value: i64, unit: &str| TimeValue {
                    value,
                    unit: unit.into(),
                };
                assert_eq!(kwarg(&r, "day"), &PyValue::Datetime64(t(19886, "D")));
                assert_eq!(
                    kwarg(&r, "nat"),
                    &PyValue::Datetime64(t(i64::MIN, "generic"))
                );
                assert_eq!(kwarg(&r, "td25"), &PyValue::Timedelta64(t(3, "25m")));
                assert_eq!(
                    kwarg(&r, "leap"),
                    &PyValue::DateTime(PyDateTime {
                        year: 2024,
                        month: 2,
                        day: 29,
                        hour: 23,
                        minute: 59,
                        second: 59,
                        microsecond: 999_999
                    })
                );
            }
            "arrays" => {
                let f4 = array(kwarg(&r, "f4F"));
                assert_eq!(
                    (f4.descr.as_str(), f4.shape.as_slice(), f4.fortran),
                    ("<f4", &[2u64, 3][..], true)
                );
                // Big-endian data comes back native, as numpy's __setstate__ makes it.
                let be = array(kwarg(&r, "be"));
                assert_eq!(be.descr, "<i4");
                assert_eq!(
                    be.data,
                    ArrayData::Raw([1i32, -2].iter().flat_map(|x| x.to_le_bytes()).collect())
                );
                assert_eq!(array(kwarg(&r, "ldbe")).descr, "<f16");
                assert_eq!(array(kwarg(&r, "td")).descr, "<m8[25ms]");
                assert!(array(kwarg(&r, "obj")).is_object());
            }
            "structured" => {
                let rec = array(kwarg(&r, "rec"));
                assert_eq!(rec.descr, "[('a', '>i4'), ('b', '<f8')]");
                let fields = rec.fields().unwrap();
                assert_eq!(fields.len(), 2);
                assert_eq!((fields[1].name.as_str(), fields[1].offset), ("b", 4));
                // Field bytes keep their order, as numpy keeps them.
                let ArrayData::Raw(raw) = &rec.data else {
                    panic!()
                };
                assert_eq!(&raw[..4], &[0, 0, 0, 1]);
                assert_eq!(
                    array(kwarg(&r, "nested")).descr,
                    "[('x', '|u1'), ('n', [('y', '<i2'), ('z', '|S2')]), ('sub', '<f4', (2, 3)), ('t', '<M8[s]')]"
                );
                assert_eq!(
                    array(kwarg(&r, "padded")).descr,
                    "[('', '|V2'), ('p', '<u2'), ('', '|V4')]"
                );
                // onedata does not write structured arrays back: a typed error.
                let err = onedata::recipe::encode_recipe_npy(&r).unwrap_err();
                assert!(
                    matches!(&err, onedata::RecipeError::Unwritable(m) if m.contains("structured")),
                    "{err}"
                );
            }
            _ => {}
        }
    }
}

/// Recipes built in Rust with every kind, beyond what the Python cases hold.
fn rust_recipes() -> Vec<(&'static str, LoadingRecipe)> {
    let raw = |descr: &str, shape: Vec<u64>, fortran: bool, data: Vec<u8>| {
        PyValue::Array(Box::new(PyArray {
            descr: descr.into(),
            shape,
            fortran,
            data: ArrayData::Raw(data),
        }))
    };
    let mut big = vec![0u8; 300];
    big[299] = 0x40; // 2**2398: LONG4
    vec![(
        "rust_kinds",
        LoadingRecipe::new("s2p", Some("F"), ["transpose"])
            .with_kwarg(
                "set",
                PyValue::Set(vec![PyValue::Int(1), PyValue::Str("a".into())]),
            )
            .with_kwarg("empty_set", PyValue::Set(vec![]))
            .with_kwarg(
                "frozen",
                PyValue::FrozenSet(vec![
                    PyValue::Tuple(vec![PyValue::Int(2)]),
                    PyValue::FrozenSet(vec![PyValue::Complex(0.0, 1.0)]),
                ]),
            )
            .with_kwarg("z", PyValue::Complex(1.5, f64::NEG_INFINITY))
            .with_kwarg("i70", PyValue::Int(1 << 70))
            .with_kwarg("long4", PyValue::BigInt(big))
            .with_kwarg(
                "day",
                PyValue::Datetime64(TimeValue {
                    value: -1,
                    unit: "D".into(),
                }),
            )
            .with_kwarg(
                "nat",
                PyValue::Timedelta64(TimeValue {
                    value: i64::MIN,
                    unit: "generic".into(),
                }),
            )
            .with_kwarg(
                "when",
                PyValue::DateTime(PyDateTime {
                    year: 9999,
                    month: 12,
                    day: 31,
                    hour: 23,
                    minute: 59,
                    second: 59,
                    microsecond: 1,
                }),
            )
            .with_kwarg(
                "f8",
                raw(
                    "<f8",
                    vec![2],
                    false,
                    [1.5f64, -0.0]
                        .iter()
                        .flat_map(|f| f.to_le_bytes())
                        .collect(),
                ),
            )
            .with_kwarg(
                "i2F",
                raw("<i2", vec![2, 2], true, vec![1, 0, 2, 0, 3, 0, 4, 0]),
            )
            .with_kwarg(
                "u",
                raw("<U2", vec![1], false, vec![b'h', 0, 0, 0, 0xe9, 0, 0, 0]),
            )
            .with_kwarg("s", raw("|S3", vec![], false, b"ab\0".to_vec()))
            .with_kwarg("b", raw("|b1", vec![0, 3], false, vec![]))
            .with_kwarg(
                "m8",
                raw("<M8[ms]", vec![1], false, 7i64.to_le_bytes().to_vec()),
            )
            .with_kwarg("v", raw("|V2", vec![1], false, vec![1, 2]))
            .with_kwarg(
                "big_array",
                raw(
                    "<i8",
                    vec![1000],
                    false,
                    (0..8000).map(|i| i as u8).collect(),
                ),
            )
            .with_kwarg(
                "obj",
                PyValue::Array(Box::new(PyArray {
                    descr: "|O".into(),
                    shape: vec![2, 1],
                    fortran: false,
                    data: ArrayData::Objects(vec![
                        PyValue::None,
                        PyValue::Set(vec![PyValue::Complex(0.0, 1.0)]),
                    ]),
                })),
            ),
    )]
}

#[test]
fn numpy_reads_back_recipes_with_every_kind_that_onedata_writes() {
    let (dir, m) = fixtures();
    let out = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    let mut written = Vec::new();
    // Every Python case, read by onedata and written back: numpy must load
    // what Python saved in the first place.
    // (Structured arrays are read, not written: see above.)
    for e in m
        .files
        .iter()
        .filter(|e| e.file.ends_with(".npsave.npy") && e.case != "structured")
    {
        let r = read_recipe(dir.join(&e.file)).unwrap();
        let path = out.path().join(&e.file);
        write_recipe(&path, &r).unwrap();
        entries.push(json!({"file": path, "tree": e.tree}));
        written.push((path, r));
    }
    for (name, r) in rust_recipes() {
        let path = out.path().join(format!("{name}.npy"));
        write_recipe(&path, &r).unwrap();
        entries.push(json!({"file": path, "tree": tree(&r)}));
        written.push((path, r));
    }
    // And through onedata again: decode(encode(v)) == v.
    for (path, r) in &written {
        let back = read_recipe(path).unwrap();
        assert_eq!(
            sorted_sets(&tree(&back)),
            sorted_sets(&tree(r)),
            "{}",
            path.display()
        );
        if !path.ends_with("complex.npsave.npy") {
            // (NaN != NaN in the complex case.)
            assert_eq!(&back, r, "{}", path.display());
        }
    }
    let cases = out.path().join("cases.json");
    fs::write(&cases, serde_json::to_vec(&entries).unwrap()).unwrap();
    let stdout = common::run_python(
        common::py_script("recipe_kinds.py"),
        &[std::ffi::OsStr::new("check"), cases.as_os_str()],
    );
    let results: Vec<Value> = serde_json::from_str(&stdout).expect("check output");
    assert_eq!(results.len(), entries.len());
    for r in &results {
        assert!(r["ok"].as_bool().unwrap(), "{}: {}", r["file"], r["errors"]);
    }
}
