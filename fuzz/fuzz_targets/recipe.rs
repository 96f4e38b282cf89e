//! Fuzzes the restricted pickle decoder and loading-recipe reader:
//! `decode_pickle`, `decode_object_array` and `recipe_from_npy_bytes` must
//! never panic on any bytes (the input is tried as a pickle and as a whole
//! `.npy` file; when it starts with a valid `.npy` header, its data is also
//! tried as a pickle). What they return must hold up:
//!
//! - a value prints (`Display`, Python's repr) and converts to JSON where it
//!   can, and JSON read back converts to the same JSON;
//! - a decoded dict that is a recipe (`LoadingRecipe::is_recipe`) either
//!   converts with `LoadingRecipe::from_dict` or is refused with a typed
//!   error; `recipe_from_npy_bytes` returns exactly that recipe for a 0-d
//!   object `.npy` file holding it;
//! - every recipe decoded is writable (`validate`), and written with
//!   `encode_recipe_npy` reads back equal (floats bit for bit) through
//!   `recipe_from_npy_bytes`, `decode_object_array` of its data and the
//!   recipe dict; the header written is numpy's for a 0-d object array.
//! - `decode_object_npy` (object arrays that are not recipes) never panics
//!   either; what it returns prints, has a JSON tree, a canonical
//!   serialization that hashes the same twice, and a summary; every numpy
//!   array in it holds exactly shape product x itemsize bytes; and wherever
//!   the recipe decoder accepts a 0-d object array, it gives the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use onedata::npy::{Dtype, Header};
use onedata::recipe::{
    decode_object_array, decode_object_npy, decode_pickle, encode_recipe_npy,
    recipe_from_npy_bytes, ArrayBytes, ArrayData, LoadingRecipe, PyValue,
};

/// Structural equality with floats compared bit for bit (so NaN equals NaN).
fn same(a: &PyValue, b: &PyValue) -> bool {
    let all = |x: &[PyValue], y: &[PyValue]| x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y));
    match (a, b) {
        (PyValue::Float(x), PyValue::Float(y)) => x.to_bits() == y.to_bits(),
        (PyValue::Complex(a, b), PyValue::Complex(c, d)) => {
            (a.to_bits(), b.to_bits()) == (c.to_bits(), d.to_bits())
        }
        (PyValue::List(x), PyValue::List(y))
        | (PyValue::Tuple(x), PyValue::Tuple(y))
        | (PyValue::Set(x), PyValue::Set(y))
        | (PyValue::FrozenSet(x), PyValue::FrozenSet(y)) => all(x, y),
        (PyValue::Array(x), PyValue::Array(y)) => match (&x.data, &y.data) {
            (ArrayData::Objects(p), ArrayData::Objects(q)) => {
                (&x.descr, &x.shape, x.fortran) == (&y.descr, &y.shape, y.fortran) && all(p, q)
            }
            _ => x == y,
        },
        (PyValue::Dict(x), PyValue::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, v), (k2, v2))| same(k, k2) && same(v, v2))
        }
        _ => a == b,
    }
}

fn same_recipe(a: &LoadingRecipe, b: &LoadingRecipe) -> bool {
    same(&a.to_dict(), &b.to_dict())
}

/// What every decoded value must allow.
fn check_value(v: &PyValue) {
    std::hint::black_box(v.to_string());
    std::hint::black_box(v.type_name());
    if let Ok(json) = v.to_json() {
        let back = PyValue::from_json(&json);
        assert_eq!(
            back.to_json().as_ref(),
            Ok(&json),
            "JSON of {v} does not read back"
        );
    }
    if LoadingRecipe::is_recipe(v) {
        if let Ok(recipe) = LoadingRecipe::from_dict(v) {
            check_recipe(&recipe);
        }
    }
}

/// Whether `v` holds a structured array (read, but not written).
fn holds_structured(v: &PyValue) -> bool {
    match v {
        PyValue::List(x) | PyValue::Tuple(x) | PyValue::Set(x) | PyValue::FrozenSet(x) => {
            x.iter().any(holds_structured)
        }
        PyValue::Dict(kv) => kv.iter().any(|(k, x)| holds_structured(k) || holds_structured(x)),
        PyValue::Array(a) => match &a.data {
            ArrayData::Objects(x) => x.iter().any(holds_structured),
            ArrayData::Raw(_) => a.fields().is_some() || a.descr.starts_with('['),
        },
        _ => false,
    }
}

/// A recipe onedata read must write back and read back equal.
fn check_recipe(recipe: &LoadingRecipe) {
    if let Err(e) = recipe.validate() {
        if holds_structured(&recipe.to_dict()) {
            return;
        }
        panic!("a decoded recipe cannot be written back: {e}: {recipe:?}");
    }
    let bytes = encode_recipe_npy(recipe).expect("a valid recipe encodes");
    let header = Header::parse(&bytes).expect("the written header parses");
    assert_eq!(header.dtype(), &Dtype::Object);
    assert!(header.shape().is_empty());
    assert_eq!(header.to_bytes(), bytes[..header.data_offset()]);

    let back = recipe_from_npy_bytes("written.npy", &bytes)
        .unwrap_or_else(|e| panic!("a written recipe does not read back: {e}: {recipe:?}"));
    assert!(
        same_recipe(&back, recipe),
        "{recipe:?} reads back as {back:?}"
    );

    let value = decode_object_array(&bytes[header.data_offset()..])
        .unwrap_or_else(|e| panic!("the written pickle does not decode: {e}"));
    assert!(same(&value, &recipe.to_dict()));
    let again = decode_pickle(&bytes[header.data_offset()..]);
    assert!(
        again.is_err(),
        "a whole object-array pickle decodes as a plain value"
    );

    // JSON, where the kwargs have a JSON form.
    if let Ok(json) = recipe.to_json() {
        let r = LoadingRecipe::from_json(&json).expect("a recipe's own JSON reads back");
        assert_eq!(r.to_json().as_ref(), Ok(&json));
    }
}

/// What every value the object-array decoder returns must allow.
fn check_object_value(v: &PyValue, depth: usize) {
    assert!(depth <= 2 * onedata::recipe::MAX_DEPTH, "nested too deep");
    std::hint::black_box(v.to_string());
    std::hint::black_box(v.summary());
    std::hint::black_box(v.to_json_tree(ArrayBytes::Count).to_string());
    assert_eq!(
        onedata::digest::digest_value(v),
        onedata::digest::digest_value(&v.clone())
    );
    let items: &[PyValue] = match v {
        PyValue::List(x) | PyValue::Tuple(x) | PyValue::Set(x) | PyValue::FrozenSet(x) => x,
        PyValue::Dict(kv) => {
            for (k, x) in kv {
                check_object_value(k, depth + 1);
                check_object_value(x, depth + 1);
            }
            &[]
        }
        PyValue::Array(a) => match &a.data {
            ArrayData::Objects(x) => {
                assert_eq!(Some(x.len() as u64), a.len());
                x
            }
            ArrayData::Raw(raw) if a.descr.starts_with('[') => {
                // A structured array: its layout reads back.
                assert!(a.fields().is_some(), "structured descr {} has no fields", a.descr);
                if let Some(n) = a.len().filter(|&n| n > 0) {
                    assert_eq!(raw.len() as u64 % n, 0);
                }
                &[]
            }
            ArrayData::Raw(raw) => {
                let itemsize = onedata::npy::Dtype::parse(&a.descr)
                    .and_then(|d| d.itemsize())
                    .expect("an array's dtype has an itemsize");
                assert_eq!(a.len().map(|n| n * itemsize as u64), Some(raw.len() as u64));
                &[]
            }
        },
        _ => &[],
    };
    for x in items {
        check_object_value(x, depth + 1);
    }
}

/// `decode_pickle`, `decode_object_array` and `decode_object_npy` on `bytes`.
fn check_pickle(bytes: &[u8]) {
    if let Ok(v) = decode_pickle(bytes) {
        check_value(&v);
    }
    let recipe_value = decode_object_array(bytes);
    if let Ok(v) = &recipe_value {
        check_value(v);
    }
    if let Ok(v) = decode_object_npy(bytes) {
        check_object_value(&v, 0);
        if let Ok(r) = &recipe_value {
            // The recipe decoder returns the one element (`.item()`); the
            // object decoder the element of a 0-d array, else the array.
            let element = match &v {
                PyValue::Array(a) => match &a.data {
                    ArrayData::Objects(x) if x.len() == 1 && !a.shape.is_empty() => Some(&x[0]),
                    _ => None,
                },
                _ => None,
            };
            assert!(
                same(r, &v) || element.is_some_and(|e| same(r, e)),
                "the two decoders disagree: {r} and {v}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_pickle(data);

    let header = Header::parse(data);
    if let Ok(h) = &header {
        check_pickle(&data[h.data_offset()..]);
    }

    match recipe_from_npy_bytes("fuzz.npy", data) {
        Ok(recipe) => {
            // It is exactly the recipe the object array holds.
            let h = header.expect("a recipe file has a valid header");
            assert_eq!(h.dtype(), &Dtype::Object);
            assert!(h.shape().iter().all(|&d| d == 1), "a recipe is one element");
            let value = decode_object_array(&data[h.data_offset()..])
                .expect("a recipe file's data decodes as an object array");
            assert!(LoadingRecipe::is_recipe(&value));
            let direct = LoadingRecipe::from_dict(&value).expect("and converts");
            assert!(same_recipe(&direct, &recipe));
            check_recipe(&recipe);
        }
        Err(_) => {
            // Refused only for a reason: not a 0-d object array, or its
            // pickle is not a recipe.
            if let Ok(h) = &header {
                if h.dtype() == &Dtype::Object && h.shape().is_empty() {
                    // (A 0-d header whose pickle is not 0-d is refused too.)
                    let pickle = &data[h.data_offset()..];
                    if let Ok(v) = decode_object_array(pickle) {
                        // The pickled array is not 0-d (its one element is
                        // the recipe): the header's shape is not its.
                        let mismatch = !matches!(decode_object_npy(pickle), Ok(PyValue::Dict(_)));
                        assert!(
                            !LoadingRecipe::is_recipe(&v)
                                || LoadingRecipe::from_dict(&v).is_err()
                                || mismatch,
                            "recipe file refused although its pickle holds a recipe: {v}"
                        );
                    }
                }
            }
        }
    }
});
