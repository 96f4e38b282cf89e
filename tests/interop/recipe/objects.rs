//! Object arrays that are not loading recipes (`np.save` of a dict, of
//! lists and arrays of arrays, suite2p's `stat.npy` and `ops.npy`), written
//! by numpy (`np.save`, protocol 4), as numpy 1.x writes them (protocol 3,
//! `numpy.core.multiarray`) and as numpy < 1.17 did (protocol 2), load
//! through `loadone` value for value as `np.load(allow_pickle=True)` gives
//! them (`tests/py/object_fixtures.py` dumps that as a JSON tree and a
//! digest of the canonical serialization); and what stays refused.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use onedata::describe::{describe_file, Description};
use onedata::recipe::{
    decode_object_npy, read_recipe, ArrayBytes, ArrayData, LoadingRecipe, PyValue,
};
use onedata::{Fault, OneData, PickleError, Session, SessionData, SessionId};
use serde::Deserialize;
use serde_json::Value;

use crate::common;

#[derive(Debug, Deserialize)]
struct Manifest {
    numpy_version: String,
    files: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    file: String,
    #[allow(dead_code)]
    case: String,
    shape: Vec<usize>,
    tree: Value,
    digest: String,
}

/// A session whose `oneData` folder holds the fixtures, and their manifest.
fn fixtures() -> &'static (PathBuf, Manifest) {
    static FIXTURES: OnceLock<(PathBuf, Manifest)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        common::require_numpy();
        let root = common::run_dir("object_fixtures");
        let s = session(&root);
        let dir = s.one_path().to_path_buf();
        fs::create_dir_all(&dir).unwrap();
        common::run_python(
            common::py_script("object_fixtures.py"),
            &[std::ffi::OsStr::new("gen"), dir.as_os_str()],
        );
        let text = fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
        let manifest: Manifest = serde_json::from_str(&text).expect("valid manifest.json");
        assert_eq!(manifest.numpy_version, common::numpy_version());
        (root, manifest)
    })
}

fn session(root: &std::path::Path) -> Session {
    let id = SessionId::new("ATL027", "2024-06-12", Some("701")).unwrap();
    Session::from_root(root, id).unwrap()
}

/// `tree` with the elements of sets sorted (Python and the pickle may
/// iterate a set in different orders).
pub(super) fn sorted_sets(tree: &Value) -> Value {
    match tree {
        Value::Array(items) => Value::Array(items.iter().map(sorted_sets).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let mut v = sorted_sets(v);
                    if k == "$set" || k == "$frozenset" {
                        if let Value::Array(items) = &mut v {
                            items.sort_by_key(|x| x.to_string());
                        }
                    }
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn recipe_free_object_arrays_load_value_for_value_as_numpy_gives_them() {
    let (root, m) = fixtures();
    let s = session(root);
    assert_eq!(m.files.len(), 9 * 3, "9 cases x 3 protocols");
    for e in &m.files {
        let name = e.file.strip_suffix(".npy").unwrap();
        let data = s
            .loadone(name)
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let OneData::Object(obj) = &*data else {
            panic!("{}: loaded as {}", e.file, data.kind())
        };
        assert_eq!(data.kind(), "object");
        assert_eq!(data.shape(), e.shape, "{}", e.file);
        let tree = obj.value().to_json_tree(ArrayBytes::Hex);
        assert_eq!(sorted_sets(&tree), sorted_sets(&e.tree), "{}", e.file);
        assert_eq!(
            onedata::digest::to_hex(&data.digest().unwrap()),
            e.digest,
            "{}: digest",
            e.file
        );
        // describe_file (ls, info) sees the same value.
        match describe_file(s.one_path().join(&e.file)).unwrap() {
            Description::Object(header, value) => {
                assert_eq!(header.shape(), e.shape.as_slice());
                // (NaN != NaN: compare the canonical digests.)
                assert_eq!(
                    onedata::digest::digest_value(&value),
                    onedata::digest::digest_value(obj.value())
                );
            }
            other => panic!("{}: described as {}", e.file, other.kind()),
        }
        // Not a recipe, as before.
        assert!(read_recipe(s.one_path().join(&e.file)).is_err());
    }
}

#[test]
fn recipe_suite2p_stat_and_ops_are_typed_values() {
    let (root, _) = fixtures();
    let s = session(root);
    for variant in ["npsave", "p3_core1", "p2"] {
        let stat = s.loadone(&format!("stat.{variant}")).unwrap();
        let PyValue::Array(a) = stat.as_object().unwrap().value() else {
            panic!("stat is not an array")
        };
        assert_eq!((a.descr.as_str(), a.shape.as_slice()), ("|O", &[5u64][..]));
        let ArrayData::Objects(rois) = &a.data else {
            panic!("stat is not an object array")
        };
        for (i, r) in rois.iter().enumerate() {
            let PyValue::Array(ypix) = r.get("ypix").unwrap() else {
                panic!("ypix")
            };
            let want = if i % 2 == 1 { "<i8" } else { "<i4" };
            assert_eq!(ypix.descr, want);
            assert_eq!(ypix.shape, [3 + i as u64]);
            assert_eq!(r.get("npix"), Some(&PyValue::Int(3 + i as i128)));
            let PyValue::Array(lam) = r.get("lam").unwrap() else {
                panic!("lam")
            };
            assert_eq!(lam.descr, "<f4");
            assert!(matches!(r.get("med"), Some(PyValue::List(m)) if m.len() == 2));
        }
        let ops = s.loadone(&format!("ops.{variant}")).unwrap();
        let ops = ops.as_object().unwrap().value();
        assert_eq!(ops.summary(), "dict[16]");
        assert_eq!(
            ops.get("date_proc").unwrap().to_string(),
            "datetime.datetime.fromisoformat('2023-05-06T07:08:09.123456')"
        );
        let PyValue::Array(mean) = ops.get("meanImg").unwrap() else {
            panic!("meanImg")
        };
        assert_eq!(
            (mean.descr.as_str(), mean.shape.as_slice()),
            ("<f4", &[64u64, 48][..])
        );
        assert!(matches!(&mean.data, ArrayData::Raw(b) if b.len() == 64 * 48 * 4));
    }
}

/// A protocol 3 pickle of a 0-d object array holding one `<f8` array of
/// `shape`, whose data is `data` (numpy 1.x's layout, memo opcodes dropped).
fn f8_array_pickle(shape: &[u64], data: &[u8]) -> Vec<u8> {
    let mut p = b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01)cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]".to_vec();
    p.extend_from_slice(
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01(",
    );
    for &d in shape {
        p.push(b'\x8a');
        p.push(8);
        p.extend_from_slice(&d.to_le_bytes());
    }
    p.extend_from_slice(b"tcnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89B");
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    p.extend_from_slice(b"tbatb.");
    p
}

#[test]
fn recipe_object_array_claiming_more_bytes_than_the_pickle_holds_is_refused() {
    // The honest array decodes.
    let ok = decode_object_npy(&f8_array_pickle(&[2], &[0; 16])).unwrap();
    assert!(
        matches!(ok, PyValue::Array(ref a) if a.descr == "<f8"),
        "{ok:?}"
    );
    // A million elements claimed, 16 bytes held.
    let e = decode_object_npy(&f8_array_pickle(&[1_000_000], &[0; 16])).unwrap_err();
    assert!(
        matches!(e, PickleError::ArraySize { needed: Some(8_000_000), found: 16, ref shape, .. } if shape == &[1_000_000]),
        "{e:?}"
    );
    // A count that overflows 64 bits.
    let e = decode_object_npy(&f8_array_pickle(&[1 << 40, 1 << 40], &[])).unwrap_err();
    assert!(
        matches!(e, PickleError::ArraySize { needed: None, .. }),
        "{e:?}"
    );
    // A byte string longer than the pickle: refused before allocating.
    let mut p = f8_array_pickle(&[2], &[0; 16]);
    let at = p
        .windows(5)
        .position(|w| w == b"B\x10\x00\x00\x00")
        .unwrap();
    p[at + 1..at + 5].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_object_npy(&p),
        Err(PickleError::Truncated { .. })
    ));
    // Through loadone: a typed error naming the file.
    let dir = tempfile::tempdir().unwrap();
    let s = session(dir.path());
    fs::create_dir_all(s.one_path()).unwrap();
    let mut file = onedata::npy::Header::new(onedata::npy::Dtype::Object, false, &[]).to_bytes();
    file.extend_from_slice(&f8_array_pickle(&[1_000_000], &[0; 16]));
    let path = s.one_path().join("bad.claim.npy");
    fs::write(&path, &file).unwrap();
    let err = s.loadone("bad.claim").unwrap_err();
    assert!(err.to_string().contains("bad.claim.npy"), "{err}");
    assert!(
        matches!(
            err.fault(),
            Some(Fault::Pickle(PickleError::ArraySize { .. }))
        ),
        "{err}"
    );
}

#[test]
fn recipe_object_arrays_keep_refusing_hostile_globals() {
    let wrap = |inner: &[u8]| {
        let mut p = b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01)cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]".to_vec();
        p.extend_from_slice(inner);
        p.extend_from_slice(b"atb.");
        p
    };
    for (module, name, call) in [
        ("os", "system", &b"X\x02\x00\x00\x00ls\x85R"[..]),
        ("builtins", "eval", b"X\x01\x00\x00\x001\x85R"),
        ("posix", "system", b"X\x02\x00\x00\x00ls\x85R"),
        ("pathlib", "PosixPath", b"X\x01\x00\x00\x00/\x85R"),
        ("numpy", "timedelta64", b")R"),
    ] {
        let mut inner = format!("c{module}\n{name}\n").into_bytes();
        inner.extend_from_slice(call);
        let e = decode_object_npy(&wrap(&inner)).unwrap_err();
        assert!(
            matches!(e, PickleError::ForbiddenGlobal { module: ref m, name: ref n, .. } if m == module && n == name),
            "{module}.{name}: {e:?}"
        );
    }
    // The new globals only in the pattern Python pickles them with.
    let recipe_with = |inner: &[u8]| {
        let mut p = wrap(b"");
        p.truncate(p.len() - 4);
        p.extend_from_slice(
            b"}X\x06\x00\x00\x00markerX\x12\x00\x00\x00__LOADING_RECIPE__sX\x01\x00\x00\x00x",
        );
        p.extend_from_slice(inner);
        p.extend_from_slice(b"satb.");
        p
    };
    let bad_calls: &[&[u8]] = &[
        &b"cbuiltins\nset\nK\x01\x85R"[..],             // set(1)
        b"cbuiltins\ncomplex\nX\x01\x00\x00\x00a\x85R", // complex('a')
        b"cdatetime\ndatetime\nC\x03abc\x85R",          // 3-byte state
        b"cdatetime\ndatetime\nC\x0a\x07\xe8\x01\x01\x0c\x00\x00\x00\x00\x05N\x86R", // with tzinfo
        b"cdatetime\ndatetime\nC\x0a\x07\xe8\x0d\x01\x0c\x00\x00\x00\x00\x05\x85R", // month 13
    ];
    for &bad in bad_calls {
        let e = decode_object_npy(&wrap(bad)).unwrap_err();
        assert!(matches!(e, PickleError::BadValue { .. }), "{e:?}");
        // The same in a recipe's kwargs.
        let e = onedata::recipe::decode_object_array(&recipe_with(bad)).unwrap_err();
        assert!(matches!(e, PickleError::BadValue { .. }), "recipe: {e:?}");
    }
    // Globals that run code stay refused in a recipe's values too.
    for call in [
        &b"cos\nsystem\nX\x02\x00\x00\x00ls\x85R"[..],
        b"cbuiltins\neval\nX\x01\x00\x00\x001\x85R",
        b"cbuiltins\nset\ncos\nsystem\n\x85R",
    ] {
        let e = onedata::recipe::decode_object_array(&recipe_with(call)).unwrap_err();
        assert!(matches!(e, PickleError::ForbiddenGlobal { .. }), "{e:?}");
    }
    // Recipes read the object kinds now, as the object decoder does...
    let v = onedata::recipe::decode_object_array(&recipe_with(b"cbuiltins\nset\n)R")).unwrap();
    assert!(LoadingRecipe::is_recipe(&v));
    assert_eq!(v.get("x"), Some(&PyValue::Set(vec![])));
    assert_eq!(
        decode_object_npy(&recipe_with(b"cbuiltins\nset\n)R")).unwrap(),
        v
    );
    // ... while plain-data pickles (decode_pickle) still refuse them.
    let e = onedata::recipe::decode_pickle(b"\x80\x03cbuiltins\nset\n)R.").unwrap_err();
    assert!(matches!(e, PickleError::ForbiddenGlobal { .. }), "{e:?}");
}

#[test]
fn recipe_object_array_memo_bomb_of_shared_arrays_is_refused() {
    // [a] * 80 where a is one 1 MiB array, shared through the memo: 80 MiB
    // of copies from a 1 MiB pickle, beyond the byte budget.
    let mut p = b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01)cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]](".to_vec();
    p.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01J\x00\x00\x02\x00\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89B");
    p.extend_from_slice(&(1u32 << 20).to_le_bytes());
    p.extend_from_slice(&vec![0u8; 1 << 20]);
    p.extend_from_slice(b"tbq\x00");
    for _ in 0..79 {
        p.extend_from_slice(b"h\x00");
    }
    p.extend_from_slice(b"eatb.");
    let e = decode_object_npy(&p).unwrap_err();
    assert!(
        matches!(e, PickleError::TooLarge { what: "bytes", .. }),
        "{e:?}"
    );
    // Ten copies are fine.
    let at = p.len() - 5 - 2 * 79;
    let mut ten = p[..at].to_vec();
    for _ in 0..9 {
        ten.extend_from_slice(b"h\x00");
    }
    ten.extend_from_slice(b"eatb.");
    let v = decode_object_npy(&ten).unwrap();
    assert!(
        matches!(&v, PyValue::List(l) if l.len() == 10),
        "{}",
        v.summary()
    );
}
