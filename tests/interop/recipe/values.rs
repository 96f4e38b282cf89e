//! Recipe dicts and values: vrAnalysis' semantics, `json.dumps`'s
//! conversion, and properties.

use onedata::recipe::{
    decode_object_array, decode_pickle, encode_recipe_npy, recipe_from_npy_bytes, JsonError,
    LoadingRecipe, PyValue, RECIPE_MARKER,
};
use onedata::RecipeError;
use proptest::prelude::*;
use serde_json::json;

use super::{npy_with_pickle, object_array, typed};

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
