//! Random headers (random bytes, a token soup of dict-ish text, random
//! length fields), drawn by proptest strategies: the parser never panics,
//! and every header it accepts has consistent sizes.

use std::collections::BTreeMap;
use std::fs;

use onedata::npy::{read_header, Header, NpyArray, MAX_DIMS};
use proptest::array::uniform3;
use proptest::bool::weighted;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, RngSeed, TestRunner};

use super::{no_panic, seed};

const TOKENS: &[&str] = &[
    "{",
    "}",
    "'descr'",
    "\"descr\"",
    "'shape'",
    "'fortran_order'",
    "descr",
    "shape",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    " ",
    "  ",
    "'",
    "\"",
    "True",
    "False",
    "None",
    "'<f4'",
    "'<f8'",
    "'>i2'",
    "'|u1'",
    "'|b1'",
    "'<c16'",
    "'|O'",
    "'<U3'",
    "'S5'",
    "'V8'",
    "'<M8[ns]'",
    "'float32'",
    "'int'",
    "('<f4', (2, 3))",
    "[('a', '<i4'), ('b', '<f8')]",
    "0",
    "1",
    "7",
    "-1",
    "65",
    "4294967296",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "L",
    "#",
    "\\\n",
    "\n",
    "\t",
    "0x10",
    "1_0",
    "1e3",
    "b'x'",
    "u'<f8'",
    "r'<f8'",
    "'\\x3cf8'",
    "+",
    "not",
    "*",
];

const DESCRS: &[&str] = &[
    "'<f4'",
    "'<f8'",
    "'>f8'",
    "'|u1'",
    "'<i8'",
    "'|b1'",
    "'<c8'",
    "'<f2'",
    "'|O'",
    "'<U10'",
    "'|S0'",
    "'|V0'",
    "'V16'",
    "'<M8[s]'",
    "'<f16'",
    "('<f4', (3,))",
    "('<f8', (1000000, 1000000))",
    "[('x', '<f4')]",
    "[('x', '<f4'), ('y', 'V0')]",
    "'float64'",
    "'i'",
    "'?'",
    "'q'",
    "'<x9'",
    "5",
    "None",
];

const DIMS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "17",
    "255",
    "65536",
    "2147483647",
    "2147483648",
    "4294967295",
    "4294967296",
    "1152921504606846976",
    "4611686018427387904",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "-0",
    "3L",
    "True",
    "1.0",
    "0b11",
    "0o7",
    "0x1f",
    "1_000",
];

/// Blanks between the parts of a dict.
const SPACES: &[&str] = &["", " ", "  ", "\t", " \\\n "];

/// Bytes a damaged dict may gain.
const DAMAGE: &[u8] = b"{}()[],:'\"0123456789 \n#";

/// A token soup: up to 39 dict-ish tokens, a tenth of them the leading
/// digits of a random number.
fn soup_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        9 => select(TOKENS).prop_map(str::to_string),
        1 => (any::<u64>(), any::<Index>()).prop_map(|(n, k)| {
            let digits = n.to_string();
            digits[..1 + k.index(digits.len())].to_string()
        }),
    ];
    vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// A shape tuple (now and then a list) of 0 to 5 dimensions, or a few more
/// than `MAX_DIMS`, mostly small ones.
fn shape_text() -> impl Strategy<Value = String> {
    let dim = (
        select(SPACES),
        prop_oneof![70 => select(&DIMS[..8]), 30 => select(DIMS)],
    );
    let dims = prop_oneof![
        97 => vec(dim.clone(), 0..6),
        3 => vec(dim, MAX_DIMS..MAX_DIMS + 3),
    ];
    (dims, weighted(0.2), weighted(0.05)).prop_map(|(dims, comma, list)| {
        let mut shape = String::from("(");
        for (i, (space, dim)) in dims.iter().enumerate() {
            if i > 0 {
                shape.push(',');
                shape.push_str(space);
            }
            shape.push_str(dim);
        }
        if dims.len() == 1 || comma {
            shape.push(',');
        }
        shape.push(')');
        if list {
            shape = format!("[{}]", &shape[1..shape.len() - 1]);
        }
        shape
    })
}

/// What happens to each of the three keys: written (95%, after a blank),
/// and written again plainly (3%).
fn key_presence() -> impl Strategy<Value = (bool, &'static str, bool)> {
    (weighted(0.95), select(SPACES), weighted(0.03))
}

/// One to three edits of a damaged dict: where, what (remove, insert one of
/// `DAMAGE`, replace by any byte), and the bytes.
fn damage() -> impl Strategy<Value = Vec<(Index, u8, Index, u8)>> {
    vec((any::<Index>(), 0..3u8, any::<Index>(), any::<u8>()), 1..=3)
}

/// A dict-shaped header with wild values: keys missing, repeated, extra or
/// shuffled, odd blanks, and now and then damaged bytes.
fn structured_text() -> impl Strategy<Value = String> {
    let fortran = prop_oneof![
        85 => select(&["True", "False"][..]),
        15 => select(&["0", "1", "None", "'True'", "true"][..]),
    ];
    let values = (select(DESCRS), fortran, shape_text());
    let keys = uniform3(key_presence());
    // Ranks ordering the up to seven items.
    let order = Just((0..7).collect::<Vec<usize>>()).prop_shuffle();
    let layout = (
        weighted(0.05),
        select(SPACES),
        select(SPACES),
        weighted(0.5),
    );
    let damaged = prop::option::weighted(0.1, damage());
    (values, keys, order, layout, damaged).prop_map(
        |((descr, fortran, shape), keys, order, (extra, open, join, trailing), damaged)| {
            let mut items = Vec::new();
            let values = [descr, fortran, &shape];
            let names = ["descr", "fortran_order", "shape"];
            for (i, (written, space, again)) in keys.into_iter().enumerate() {
                let (k, v) = (names[i], values[i]);
                if written {
                    items.push((order[2 * i], format!("'{k}':{space}{v}")));
                }
                if again {
                    items.push((order[2 * i + 1], format!("'{k}': {v}")));
                }
            }
            if extra {
                items.push((order[6], "'extra': 1".to_string()));
            }
            items.sort();
            let items: Vec<String> = items.into_iter().map(|(_, item)| item).collect();
            let mut text = format!("{{{open}");
            text.push_str(&items.join(&format!(",{join}")));
            if trailing {
                text.push_str(", ");
            }
            text.push('}');
            if let Some(edits) = damaged {
                let mut b = text.into_bytes();
                for (at, op, pick, byte) in edits {
                    if b.is_empty() {
                        break;
                    }
                    let at = at.index(b.len());
                    match op {
                        0 => {
                            b.remove(at);
                        }
                        1 => b.insert(at, DAMAGE[pick.index(DAMAGE.len())]),
                        _ => b[at] = byte,
                    }
                }
                text = String::from_utf8_lossy(&b).into_owned();
            }
            text
        },
    )
}

/// The length field a frame writes.
#[derive(Clone, Debug)]
enum LengthField {
    /// The text's length.
    True,
    /// 1 to 16 more.
    Longer(u64),
    /// 1 to 16 fewer.
    Shorter(u64),
    /// One of a few awkward values.
    Fixed(u64),
    /// Anything.
    Any(u64),
}

/// How a frame wraps a header text: magic, version, padding, length field,
/// bytes after it, a cut.
#[derive(Clone, Debug)]
struct Frame {
    version: [u8; 2],
    padded: bool,
    length: LengthField,
    bad_magic: Option<[u8; 6]>,
    tail: Option<Vec<u8>>,
    cut: Option<Index>,
}

/// Frames: usually, but not always, consistent.
fn frame() -> impl Strategy<Value = Frame> {
    let version = prop_oneof![
        4 => Just([1, 0]),
        2 => Just([2, 0]),
        3 => Just([3, 0]),
        1 => any::<[u8; 2]>(),
    ];
    let length = prop_oneof![
        15 => Just(LengthField::True),
        1 => (1..=16u64).prop_map(LengthField::Longer),
        1 => (1..=16u64).prop_map(LengthField::Shorter),
        2 => select(&[0, 0xffff, 0xffff_ffff, 10_001, 40_000][..]).prop_map(LengthField::Fixed),
        1 => any::<u64>().prop_map(LengthField::Any),
    ];
    (
        version,
        weighted(0.7),
        length,
        prop::option::weighted(0.02, any::<[u8; 6]>()),
        prop::option::weighted(0.3, vec(any::<u8>(), 0..64)),
        prop::option::weighted(0.05, any::<Index>()),
    )
        .prop_map(|(version, padded, length, bad_magic, tail, cut)| Frame {
            version,
            padded,
            length,
            bad_magic,
            tail,
            cut,
        })
}

/// Wraps `text` in `frame`.
fn framed(frame: &Frame, text: &[u8]) -> Vec<u8> {
    let len_size = if frame.version[0] == 1 { 2 } else { 4 };
    let pre = 8 + len_size;
    let mut body = text.to_vec();
    if frame.padded {
        let total = (pre + body.len() + 1).div_ceil(64) * 64;
        body.resize(total - pre - 1, b' ');
        body.push(b'\n');
    }
    let true_len = body.len() as u64;
    let len = match frame.length {
        LengthField::True => true_len,
        LengthField::Longer(n) => true_len.wrapping_add(n),
        LengthField::Shorter(n) => true_len.saturating_sub(n),
        LengthField::Fixed(n) | LengthField::Any(n) => n,
    };
    let mut out = Vec::with_capacity(pre + body.len() + 64);
    out.extend_from_slice(frame.bad_magic.as_ref().unwrap_or(b"\x93NUMPY"));
    out.extend_from_slice(&frame.version);
    if len_size == 2 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(&body);
    if let Some(tail) = &frame.tail {
        out.extend_from_slice(tail);
    }
    if let Some(cut) = frame.cut {
        out.truncate(cut.index(out.len() + 1));
    }
    out
}

/// A whole random header: random bytes after the magic (20%), a token soup
/// in a frame (30%), or a dict-shaped header with wild values in a frame
/// (50%, now and then with a byte that is not ASCII).
fn header_case() -> impl Strategy<Value = Vec<u8>> {
    let high_byte = prop::option::weighted(0.03, (any::<Index>(), any::<u8>()));
    prop_oneof![
        2 => vec(any::<u8>(), 0..200).prop_map(|b| [b"\x93NUMPY".as_slice(), &b].concat()),
        3 => (soup_text(), frame()).prop_map(|(text, f)| framed(&f, text.as_bytes())),
        5 => (structured_text(), high_byte, frame()).prop_map(|(text, high, f)| {
            let mut text = text.into_bytes();
            if let Some((at, byte)) = high {
                text.insert(at.index(text.len() + 1), 0x80 | byte);
            }
            framed(&f, &text)
        }),
    ]
}

/// 10,000 cases, from `ONEDATA_HARDENING_SEED` or the fixed seed: the same
/// cases on every run (a failure reproduces without a regressions file).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        rng_seed: RngSeed::Fixed(seed()),
        // ChaCha, the default, costs more than the checks in a debug build.
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const CASES: u32 = 10_000;

/// Checks that an accepted header is self-consistent and that the file it
/// describes loads without panicking.
fn check_accepted(bytes: &[u8], h: &Header, case: &dyn Fn() -> String) {
    let required = Header::required_len(bytes)
        .unwrap_or_else(|e| panic!("accepted, but required_len refuses ({e}): {}", case()));
    assert_eq!(h.data_offset(), required, "{}", case());
    assert!(h.data_offset() <= bytes.len(), "{}", case());
    assert!(h.shape().len() <= MAX_DIMS, "{}", case());
    assert!(matches!(h.version(), (1..=3, 0)), "{}", case());
    let n = h
        .shape()
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or_else(|| panic!("accepted a shape whose product overflows: {}", case()));
    assert_eq!(n, h.num_elements(), "{}", case());
    if let Some(size) = h.dtype().itemsize() {
        let total = n
            .checked_mul(size)
            .filter(|&t| t <= isize::MAX as usize)
            .unwrap_or_else(|| panic!("accepted a data size that overflows: {}", case()));
        assert_eq!(h.data_len(), Some(total), "{}", case());
    } else {
        assert_eq!(h.data_len(), None, "{}", case());
    }
    // The file the header describes, with its data: it loads.
    let data_len = h.data_len().unwrap_or(16);
    if data_len <= 1 << 20 {
        let mut file = bytes[..h.data_offset()].to_vec();
        file.resize(h.data_offset() + data_len, 0x5a);
        let arr = NpyArray::from_bytes("case", &file)
            .unwrap_or_else(|e| panic!("header accepted, file refused ({e}): {}", case()));
        if let Some(len) = h.data_len() {
            assert_eq!(arr.data_bytes().len(), len, "{}", case());
        }
        if arr.kind().is_ok() {
            onedata::digest::digest(&arr).unwrap();
        }
        // Short of its data, the same file is refused.
        if data_len > 0 && h.data_len().is_some() {
            assert!(
                NpyArray::from_bytes("case", &file[..file.len() - 1]).is_err(),
                "{}",
                case()
            );
        }
    }
    // A numeric dtype writes back as a header that reads back the same.
    if h.dtype().kind().is_some() {
        let again = Header::new(h.dtype().clone(), h.fortran_order(), h.shape());
        let back = Header::parse(&again.to_bytes())
            .unwrap_or_else(|e| panic!("rewritten header refused ({e}): {}", case()));
        assert_eq!(back.shape(), h.shape(), "{}", case());
        assert_eq!(back.dtype(), h.dtype(), "{}", case());
        assert_eq!(back.fortran_order(), h.fortran_order(), "{}", case());
    }
}

proptest! {
    #![proptest_config(config())]

    /// The parser never panics; what it accepts is consistent; one case in
    /// eight also goes through the file readers, which agree with it.
    #[test]
    fn random_headers_never_panic_and_accepted_ones_are_consistent(
        bytes in header_case(),
        through_files in weighted(0.125),
    ) {
        let case = || format!("b\"{}\" (seed {})", bytes.escape_ascii(), seed());
        let parsed = no_panic(&case, || Header::parse(&bytes));
        if let Ok(h) = &parsed {
            no_panic(&case, || check_accepted(&bytes, h, &case));
        }
        if through_files {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("h.npy");
            fs::write(&path, &bytes).unwrap();
            no_panic(&case, || {
                let from_file = read_header(&path);
                // read_header also refuses a file shorter than its header promises.
                let complete = parsed.as_ref().is_ok_and(|h| {
                    h.data_len()
                        .is_none_or(|n| bytes.len() >= h.data_offset().saturating_add(n))
                });
                assert_eq!(from_file.is_ok(), complete, "{}", case());
                if let Ok(h) = from_file {
                    assert_eq!(Some(&h), parsed.as_ref().ok(), "{}", case());
                }
                match NpyArray::open(&path) {
                    Ok(a) => {
                        let h = parsed.as_ref().expect("open accepted what parse refused");
                        if let Some(len) = h.data_len() {
                            assert_eq!(a.data_bytes().len(), len, "{}", case());
                        }
                    }
                    Err(e) => assert!(e.to_string().contains(&path.display().to_string()), "{e}"),
                }
            });
        }
    }
}

/// The strategy reaches both sides of the parser: of 10,000 headers drawn
/// from it with the same seed, at least 500 are accepted and 3000 refused.
#[test]
fn random_headers_reach_both_verdicts() {
    let mut runner = TestRunner::new(config());
    let strategy = header_case();
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..CASES {
        let bytes = strategy.new_tree(&mut runner).expect("a case").current();
        match Header::parse(&bytes) {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused += 1;
                let kind = format!("{e:?}");
                let kind = kind.split(['(', ' ', '{']).next().unwrap_or("").to_string();
                *faults.entry(kind).or_default() += 1;
            }
        }
    }
    eprintln!("random headers: {accepted} accepted, {refused} refused: {faults:?}");
    assert!(accepted >= 500, "only {accepted} of {CASES} accepted");
    assert!(refused >= 3000, "only {refused} of {CASES} refused");
}
