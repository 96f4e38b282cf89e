//! Deeply nested pickles are refused without overflowing the stack.

use std::fs;

use onedata::npy::Header;
use onedata::recipe::{
    decode_object_array, decode_pickle, encode_recipe_npy, read_recipe, LoadingRecipe, PyValue,
    MAX_VALUES,
};
use onedata::{PickleError, SessionData};

use super::{expect_err_naming, one_dir, session_in};

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
                expect_err_naming(read_recipe(&path), &path, tag);
                expect_err_naming(s.loadone(&name), &path, tag);
                let header = Header::parse(&file).unwrap();
                assert!(decode_object_array(&file[header.data_offset()..]).is_err());
                // The fragment alone, as a whole pickle.
                let mut pickle = b"\x80\x02".to_vec();
                pickle.extend_from_slice(&fragment);
                pickle.push(b'.');
                let err = match decode_pickle(&pickle) {
                    Ok(v) => panic!("{tag}: decode_pickle accepted it: {v:?}"),
                    Err(err) => err,
                };
                // Refused for what it is: too deep, holding itself, too large.
                let why = match tag {
                    "self_reference" => matches!(err, PickleError::Recursive),
                    "billion_laughs" => {
                        err == PickleError::TooLarge {
                            what: "values",
                            limit: MAX_VALUES,
                        }
                    }
                    _ => matches!(err, PickleError::DepthExceeded { .. }),
                };
                assert!(why, "{tag}: refused with another fault: {err:?}");
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

/// Memo slot `i` of a hand-made fragment, clear of the recipe's own.
fn slot(i: u32) -> [u8; 4] {
    (0x1000 + i).to_le_bytes()
}

/// `numpy.dtype('f8')` built as numpy pickles it, left on the stack.
fn f8_dtype() -> Vec<u8> {
    b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb".to_vec()
}

/// A structured dtype of `n` fields `f0`, `f1`, ... each of the dtype in
/// memo slot `field`, whose itemsize is `size`, left on the stack.
fn struct_dtype(n: usize, field: u32, size: usize) -> Vec<u8> {
    let text = |s: &str| {
        let mut out = vec![b'X'];
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out
    };
    let int = |i: usize| {
        let mut out = vec![b'J'];
        out.extend_from_slice(&(i as i32).to_le_bytes());
        out
    };
    let mut p = b"cnumpy\ndtype\n".to_vec();
    p.extend(text(&format!("V{}", n * size)));
    p.extend_from_slice(b"\x89\x88\x87R(K\x03");
    p.extend(text("|"));
    p.push(b'N');
    p.push(b'(');
    for i in 0..n {
        p.extend(text(&format!("f{i}")));
    }
    p.extend_from_slice(b"t}(");
    for i in 0..n {
        p.extend(text(&format!("f{i}")));
        p.push(b'j');
        p.extend_from_slice(&slot(field));
        p.extend(int(i * size));
        p.push(0x86);
    }
    p.push(b'u');
    p.extend(int(n * size));
    p.extend_from_slice(b"K\x01K\x10tb");
    p
}

/// Whether a fault is the one a hostile case must be refused with.
type FaultCheck = fn(&PickleError) -> bool;

/// Recipes whose kwargs hold sets, arrays, structured dtypes and the other
/// object kinds keep every bound: a hostile value is a typed error, fast,
/// in `read_recipe`, `loadone` and the pickle decoder alike.
#[test]
fn recipes_holding_object_kinds_keep_every_bound() {
    let root = tempfile::tempdir().unwrap();
    let s = session_in(root.path());
    let dir = one_dir(&s);
    let mut cases: Vec<(&str, Vec<u8>, FaultCheck)> = Vec::new();

    // t_i = (t_(i-1), t_(i-1)) sixty times through the memo, then used as a
    // set element and as a dict key: hashing it must not take 2^60 steps.
    let mut dag = b"Nr".to_vec();
    dag.extend_from_slice(&slot(0));
    dag.push(b'0');
    for i in 1..=60u32 {
        dag.push(b'j');
        dag.extend_from_slice(&slot(i - 1));
        dag.push(b'j');
        dag.extend_from_slice(&slot(i - 1));
        dag.extend_from_slice(b"\x86r");
        dag.extend_from_slice(&slot(i));
        dag.push(b'0');
    }
    let too_many = |e: &PickleError| matches!(e, PickleError::TooLarge { what: "values", .. });
    let mut in_set = dag.clone();
    in_set.extend_from_slice(b"\x8f(j");
    in_set.extend_from_slice(&slot(60));
    in_set.push(0x90);
    cases.push(("tuple_dag_set_element", in_set, too_many));
    let mut as_key = dag.clone();
    as_key.extend_from_slice(b"}j");
    as_key.extend_from_slice(&slot(60));
    as_key.extend_from_slice(b"Ns");
    cases.push(("tuple_dag_dict_key", as_key, too_many));
    // The same DAG as a frozenset element of a frozenset.
    let mut frozen = dag.clone();
    frozen.extend_from_slice(b"(j");
    frozen.extend_from_slice(&slot(60));
    frozen.push(0x91);
    cases.push(("tuple_dag_frozenset", frozen, too_many));

    // Structured dtypes nested through the memo: 1000 fields of f8, then
    // 1000 fields of that, then 100 of that: a descr of gigabytes from a
    // pickle of kilobytes.
    let mut bomb = f8_dtype();
    bomb.push(b'r');
    bomb.extend_from_slice(&slot(0));
    bomb.push(b'0');
    let mut size = 8;
    for (level, n) in [(1u32, 1000usize), (2, 1000), (3, 100)] {
        bomb.extend(struct_dtype(n, level - 1, size));
        bomb.push(b'r');
        bomb.extend_from_slice(&slot(level));
        bomb.push(b'0');
        size *= n;
    }
    bomb.push(b'j');
    bomb.extend_from_slice(&slot(3));
    cases.push(("structured_descr_bomb", bomb, |e| {
        matches!(e, PickleError::TooLarge { what: "bytes", .. })
    }));
    // A structured dtype with overlapping fields.
    let mut overlap = f8_dtype();
    overlap.push(b'r');
    overlap.extend_from_slice(&slot(0));
    overlap.push(b'0');
    overlap.extend(struct_dtype(2, 0, 4));
    cases.push((
        "structured_overlapping_fields",
        overlap,
        |e| matches!(e, PickleError::BadValue { what, .. } if what.contains("structured")),
    ));

    // An array claiming a trillion f8 elements with 8 bytes of data.
    let huge = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89C\x08\x00\x00\x00\x00\x00\x00\x00\x00tb".to_vec();
    cases.push(("array_claims_more_than_it_holds", huge, |e| {
        matches!(e, PickleError::ArraySize { found: 8, .. })
    }));
    // Array data whose length prefix runs past the end of the file.
    let past = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01K\x02\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89B\x00\x00\x00\x7f".to_vec();
    cases.push(("array_data_past_the_end", past, |e| {
        matches!(e, PickleError::Truncated { .. })
    }));
    // set() of a list holding a list: unhashable.
    cases.push((
        "set_of_unhashable",
        b"cbuiltins\nset\n]]a\x85R".to_vec(),
        |e| matches!(e, PickleError::BadValue { .. }),
    ));
    // frozenset() called with two arguments; complex() of text; a datetime
    // of an impossible date; a datetime64 of an unknown unit.
    cases.push((
        "frozenset_two_args",
        b"cbuiltins\nfrozenset\n]]\x86R".to_vec(),
        |e| matches!(e, PickleError::BadValue { .. }),
    ));
    cases.push((
        "complex_of_text",
        b"cbuiltins\ncomplex\nX\x01\x00\x00\x001K\x00\x86R".to_vec(),
        |e| matches!(e, PickleError::BadValue { .. }),
    ));
    cases.push((
        "datetime_feb_30",
        b"cdatetime\ndatetime\nC\x0a\x07\xe8\x02\x1e\x00\x00\x00\x00\x00\x00\x85R".to_vec(),
        |e| matches!(e, PickleError::BadValue { .. }),
    ));
    cases.push((
        "datetime64_unknown_unit",
        b"cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00M8\x89\x88\x87R(K\x04X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00}(C\x03xyzK\x01K\x01K\x01t\x86tbC\x08\x00\x00\x00\x00\x00\x00\x00\x00\x86R".to_vec(),
        |e| matches!(e, PickleError::BadValue { what, .. } if what.contains("unknown unit")),
    ));
    // A reduce of a set with an os.system call inside runs nothing.
    cases.push((
        "set_of_a_call",
        b"cbuiltins\nset\ncos\nsystem\nX\x02\x00\x00\x00ls\x85R\x85R".to_vec(),
        |e| matches!(e, PickleError::ForbiddenGlobal { .. }),
    ));

    let handle = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            for (tag, fragment, why) in cases {
                let file = recipe_with_fragment(&fragment);
                let name = format!("kinds.{tag}");
                let path = dir.join(format!("{name}.npy"));
                fs::write(&path, &file).unwrap();
                let started = std::time::Instant::now();
                expect_err_naming(read_recipe(&path), &path, tag);
                expect_err_naming(s.loadone(&name), &path, tag);
                let header = Header::parse(&file).unwrap();
                let err = decode_object_array(&file[header.data_offset()..]).unwrap_err();
                assert!(why(&err), "{tag}: refused with another fault: {err:?}");
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(20),
                    "{tag}: took {:?}",
                    started.elapsed()
                );
            }
        })
        .unwrap();
    handle.join().expect("the decoder thread failed");
}
