//! Random headers (random bytes, a token soup of dict-ish text, random
//! length fields): the parser never panics, and every header it accepts has
//! consistent sizes.

use std::collections::BTreeMap;
use std::fs;

use onedata::npy::{read_header, Header, NpyArray, MAX_DIMS};

use super::{no_panic, seed, Rng};

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

fn soup_text(rng: &mut Rng) -> String {
    let n = rng.below(40);
    let mut s = String::new();
    for _ in 0..n {
        if rng.chance(10) {
            let digits = rng.next().to_string();
            let k = 1 + rng.below(digits.len());
            s.push_str(&digits[..k]);
        } else {
            s.push_str(rng.word(TOKENS));
        }
    }
    s
}

fn structured_text(rng: &mut Rng) -> String {
    let sp = |rng: &mut Rng| -> &'static str { rng.word(&["", " ", "  ", "\t", " \\\n "]) };
    let mut items = Vec::new();
    let descr = rng.word(DESCRS).to_string();
    let fortran = if rng.chance(85) {
        rng.word(&["True", "False"])
    } else {
        rng.word(&["0", "1", "None", "'True'", "true"])
    };
    let ndim = if rng.chance(3) {
        MAX_DIMS + rng.below(3)
    } else {
        rng.below(6)
    };
    let mut shape = String::from("(");
    for i in 0..ndim {
        if i > 0 {
            shape.push(',');
            shape.push_str(sp(rng));
        }
        let dim: &str = if rng.chance(70) {
            rng.word(&DIMS[..8])
        } else {
            rng.word(DIMS)
        };
        shape.push_str(dim);
    }
    if ndim == 1 || rng.chance(20) {
        shape.push(',');
    }
    shape.push(')');
    if rng.chance(5) {
        shape = format!("[{}]", &shape[1..shape.len() - 1]);
    }
    let keys = [
        ("descr", descr),
        ("fortran_order", fortran.to_string()),
        ("shape", shape),
    ];
    for (k, v) in &keys {
        if rng.chance(95) {
            items.push(format!("'{k}':{}{v}", sp(rng)));
        }
        if rng.chance(3) {
            items.push(format!("'{k}': {v}"));
        }
    }
    if rng.chance(5) {
        items.push("'extra': 1".to_string());
    }
    // Shuffle.
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
    let mut text = format!("{{{}", sp(rng));
    text.push_str(&items.join(&format!(",{}", sp(rng))));
    if rng.chance(50) {
        text.push_str(", ");
    }
    text.push('}');
    if rng.chance(10) {
        // Damage it.
        let mut b = text.into_bytes();
        for _ in 0..1 + rng.below(3) {
            if b.is_empty() {
                break;
            }
            let at = rng.below(b.len());
            match rng.below(3) {
                0 => {
                    b.remove(at);
                }
                1 => b.insert(at, *rng.pick(b"{}()[],:'\"0123456789 \n#")),
                _ => b[at] = rng.next() as u8,
            }
        }
        text = String::from_utf8_lossy(&b).into_owned();
    }
    text
}

/// Wraps `text` in magic, version and a length field, chosen at random
/// (usually, but not always, consistent).
fn framed(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let version: [u8; 2] = match rng.below(10) {
        0..=3 => [1, 0],
        4..=5 => [2, 0],
        6..=8 => [3, 0],
        _ => [rng.next() as u8, rng.next() as u8],
    };
    let len_size = if version[0] == 1 { 2 } else { 4 };
    let pre = 8 + len_size;
    let mut body = text.to_vec();
    if rng.chance(70) {
        let total = (pre + body.len() + 1).div_ceil(64) * 64;
        body.resize(total - pre - 1, b' ');
        body.push(b'\n');
    }
    let true_len = body.len() as u64;
    let len: u64 = match rng.below(20) {
        0..=14 => true_len,
        15 => true_len.wrapping_add(1 + rng.below(16) as u64),
        16 => true_len.saturating_sub(1 + rng.below(16) as u64),
        17 | 18 => *rng.pick(&[0, 0xffff, 0xffff_ffff, 10_001, 40_000]),
        _ => rng.next(),
    };
    let mut out = Vec::with_capacity(pre + body.len() + 64);
    if rng.chance(2) {
        out.extend_from_slice(&rng.bytes(6));
    } else {
        out.extend_from_slice(b"\x93NUMPY");
    }
    out.extend_from_slice(&version);
    if len_size == 2 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(&body);
    if rng.chance(30) {
        let n = rng.below(64);
        out.extend_from_slice(&rng.bytes(n));
    }
    if rng.chance(5) {
        let keep = rng.below(out.len() + 1);
        out.truncate(keep);
    }
    out
}

fn random_header_case(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        // Random bytes after the magic.
        0 | 1 => {
            let mut b = b"\x93NUMPY".to_vec();
            let n = rng.below(200);
            b.extend_from_slice(&rng.bytes(n));
            b
        }
        // A token soup in a frame.
        2..=4 => {
            let text = soup_text(rng);
            framed(rng, text.as_bytes())
        }
        // A dict-shaped header with wild values.
        _ => {
            let mut text = structured_text(rng).into_bytes();
            if rng.chance(3) {
                let at = rng.below(text.len() + 1);
                text.insert(at, 0x80 | rng.next() as u8);
            }
            framed(rng, &text)
        }
    }
}

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

#[test]
fn random_headers_never_panic_and_accepted_ones_are_consistent() {
    let seed = seed();
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..10_000 {
        let bytes = random_header_case(&mut rng);
        let case = || format!("case {i} (seed {seed}): b\"{}\"", bytes.escape_ascii());
        let parsed = no_panic(&case, || Header::parse(&bytes));
        match &parsed {
            Ok(h) => {
                accepted += 1;
                no_panic(&case, || check_accepted(&bytes, h, &case));
            }
            Err(e) => {
                refused += 1;
                let kind = format!("{e:?}");
                let kind = kind.split(['(', ' ', '{']).next().unwrap_or("").to_string();
                *faults.entry(kind).or_default() += 1;
            }
        }
        // Every 8th case also goes through the file readers.
        if i % 8 == 0 {
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
    eprintln!("random headers: {accepted} accepted, {refused} refused: {faults:?}");
    // The generator must reach both sides of the parser.
    assert!(accepted >= 500, "only {accepted} of 10000 accepted");
    assert!(refused >= 3000, "only {refused} of 10000 refused");
}
