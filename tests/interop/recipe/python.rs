//! Recipes Python pickles read back exactly; recipes onedata writes load in
//! numpy exactly.

use std::collections::BTreeSet;
use std::fs;

use onedata::npy::Header;
use onedata::recipe::{
    decode_object_array, encode_recipe_npy, py_float_repr, read_recipe, recipe_from_npy_bytes,
    write_recipe, LoadingRecipe, PyValue, MAX_DEPTH,
};
use onedata::{ErrorKind, PickleError, RecipeError};
use serde_json::{json, Value};

use super::{
    fixtures, pickle_fault, recipe_fault, rich_recipe, run_fixture_script, typed, untyped,
};

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
        let path = dir.join(&f.file);
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
    let read = |name: &str| read_recipe(dir.join(format!("{name}.npsave.npy"))).unwrap();
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
        let path = dir.join(&entry.file);
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
            "shape_mismatch" => assert!(
                matches!(pickle_fault(&err), PickleError::BadValue { what, .. }
                    if what == "pickled object array has shape [1], the header says []"),
                "{msg}"
            ),
            other => panic!("unknown fault {other}"),
        }
    }
    // The messages a user sees.
    let err = read_recipe(dir.join("notrecipe.obj_dict.npy")).unwrap_err();
    assert!(err.to_string().ends_with(
        "object array is not a loading recipe; onedata cannot return arbitrary Python objects \
         (it holds a dict without the '__LOADING_RECIPE__' marker)"
    ));
    let err = read_recipe(dir.join("notrecipe.obj_list.npy")).unwrap_err();
    assert!(err
        .to_string()
        .contains("object array of shape (2,) is not a loading recipe"));
}

#[test]
fn float_text_is_pythons_repr() {
    let (_, m) = fixtures();
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
    let (_, m) = fixtures();
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
        assert!(
            matches!(err.kind(), ErrorKind::Unwritable { path: p, .. } if *p == path),
            "{err}"
        );
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
