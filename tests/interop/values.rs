//! `onedata::pyjson` against Python's `json`: thousands of generated texts,
//! valid and broken, must parse to what `json.loads` gives (compared as
//! `json.dumps(..., ensure_ascii=False)` text) or fail with Python's message.

use crate::common;

use onedata::pyjson::{dumps, loads};

/// A small deterministic generator (no clock, no global state).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WS: [&str; 6] = ["", "", "", " ", "\n", " \t\r "];

const SCALARS: [&str; 36] = [
    "0",
    "-0",
    "1",
    "-17",
    "1.5",
    "-0.0",
    "2.50",
    "1e5",
    "1E+5",
    "1e-7",
    "1e-05",
    "1e16",
    "1e400",
    "-1e400",
    "0.1",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "NaN",
    "Infinity",
    "-Infinity",
    "true",
    "false",
    "null",
    "\"\"",
    "\"a\"",
    "\"\u{e9}t\u{e9}\"",
    "\"\\u00e9\"",
    "\"\\ud83d\\ude00\"",
    "\"\\n\\t\\\\\\\"\\/\"",
    "\"\\b\\f\\r\"",
    "\"\u{1f600}\u{2028}\u{7f}\"",
    "\"x y\"",
    "\"\\u0000\"",
    "5e-324",
    "1.7976931348623157e308",
];

const KEYS: [&str; 6] = [
    "\"a\"",
    "\"b\"",
    "\"a\"",
    "\"\u{540d}\"",
    "\"\\u0061\"",
    "\"\"",
];

/// Tokens that break things: wrong spellings, stray punctuation, escapes
/// Python refuses, a raw control character, a BOM.
const NOISE: [&str; 28] = [
    "nan",
    "-NaN",
    "+Infinity",
    "inf",
    "Inf",
    "tru",
    "nul",
    "01",
    "1.",
    ".5",
    "-",
    "+1",
    "1e",
    "1e+",
    "\"\\x\"",
    "\"\u{1}\"",
    "\"\\u12\"",
    "\"\\uZZZZ\"",
    "\"",
    "\\",
    ",",
    ":",
    "]",
    "}",
    "[",
    "{",
    "\u{feff}",
    "'a'",
];

fn value(r: &mut Lcg, depth: usize, out: &mut String) {
    let ws = |r: &mut Lcg, out: &mut String| out.push_str(r.pick(&WS));
    match if depth > 3 { 0 } else { r.below(4) } {
        0 if r.below(3) == 0 => {
            // A float from random bits (any exponent), or a long integer.
            let f = f64::from_bits((r.next() << 32) ^ r.next() ^ (r.next() << 53));
            match r.below(4) {
                _ if !f.is_finite() => out.push_str("-1e-320"),
                0 => out.push_str(&format!("{f:e}")),
                1 => out.push_str(&format!("{f:?}")),
                2 => out.push_str(&format!("{:e}", f as f32)),
                _ => out.push_str(&format!(
                    "-{}{}",
                    r.next(),
                    r.next() as u128 * r.next() as u128
                )),
            }
        }
        0 | 1 => out.push_str(r.pick(&SCALARS)),
        2 => {
            out.push('[');
            for i in 0..r.below(4) {
                if i > 0 {
                    out.push(',');
                }
                ws(r, out);
                value(r, depth + 1, out);
                ws(r, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..r.below(4) {
                if i > 0 {
                    out.push(',');
                }
                ws(r, out);
                out.push_str(r.pick(&KEYS));
                ws(r, out);
                out.push(':');
                ws(r, out);
                value(r, depth + 1, out);
                ws(r, out);
            }
            out.push('}');
        }
    }
}

/// A valid text, or one broken by inserting, deleting or replacing a piece.
fn case(r: &mut Lcg) -> String {
    let mut s = String::new();
    s.push_str(r.pick(&WS));
    value(r, 0, &mut s);
    s.push_str(r.pick(&WS));
    if r.below(2) == 0 {
        return s;
    }
    let cuts: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
    let at = cuts[r.below(cuts.len())];
    match r.below(3) {
        0 => s.insert_str(at, r.pick(&NOISE)),
        1 => {
            let end = cuts[r.below(cuts.len())].max(at);
            s.replace_range(at..end, "");
        }
        _ => {
            let end = cuts[r.below(cuts.len())].max(at);
            s.replace_range(at..end, r.pick(&NOISE));
        }
    }
    s
}

#[test]
fn pyjson_parses_and_refuses_as_python_json_does() {
    let mut r = Lcg(0x005e_ed13);
    let mut cases: Vec<String> = (0..4000).map(|_| case(&mut r)).collect();
    cases.extend(
        [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "{,}",
            "[,1]",
            "{\"a\" 1}",
            "{1: 2}",
            "[1 2]",
            "\"abc",
            "\"\\",
            "\"\\u",
            "\"\\ud83d\\u0041\"",
            "[\"\\ud83d x\"]",
            "\u{feff}{}",
            "{\"a\": {\"b\": [NaN, -Infinity]}, \"a\": 2}",
            "[-Infinity, -Infinityx]",
        ]
        .map(String::from),
    );
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = common::run_python(common::py_script("json_oracle.py"), &[&file]);
    let python: Vec<(String, String)> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(python.len(), cases.len());

    let (mut parsed, mut refused, mut lone) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for (text, (kind, want)) in cases.iter().zip(&python) {
        let ours = loads(text);
        match (kind.as_str(), &ours) {
            ("ok", Ok(v)) if dumps(v) == *want => parsed += 1,
            ("err", Err(e)) if e.to_string() == *want => refused += 1,
            // Python keeps lone surrogates in a str; a Rust String cannot.
            ("lone", Err(e)) if e.to_string().starts_with("Lone surrogate") => lone += 1,
            _ => mismatches.push(format!(
                "{text:?}: python {kind} {want:?}, onedata {ours:?}"
            )),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ from Python's json:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches[..mismatches.len().min(30)].join("\n")
    );
    assert!(
        parsed > 1000 && refused > 1000,
        "parsed {parsed}, refused {refused}, lone {lone}"
    );
}
