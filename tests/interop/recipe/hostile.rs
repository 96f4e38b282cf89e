//! Hostile pickles: refused with a typed error, running nothing, within the
//! bounds on depth, size and memory, and never a panic.

use std::fs;
use std::path::Path;

use onedata::npy::Header;
use onedata::recipe::{
    decode_object_array, decode_pickle, encode_recipe_npy, read_recipe, recipe_from_npy_bytes,
    LoadingRecipe, PyValue, MAX_DEPTH, MAX_EXPANDED_BYTES, MAX_VALUES,
};
use onedata::PickleError;

use super::{
    binunicode, npy_with_pickle, object_array, pickle_fault, rich_recipe, run_fixture_script, typed,
};
use crate::allocations::{count_allocations, measure};

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
    let ((result, _, peak), allocations) = count_allocations(|| measure(|| decode_pickle(&p)));
    assert_eq!(
        result,
        Err(PickleError::TooLarge {
            what: "values",
            limit: MAX_VALUES
        })
    );
    assert!(peak < 256 << 20, "peak {peak} bytes");
    // The work stops at the values limit (about one allocation per value),
    // whatever the 10^30 values the pickle expands to.
    assert!(
        allocations < 4 * MAX_VALUES,
        "{allocations} allocations for {MAX_VALUES} values"
    );
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
