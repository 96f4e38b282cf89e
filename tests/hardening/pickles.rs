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
