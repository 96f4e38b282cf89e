//! Random header layouts and random Python literals, judged by numpy.

use std::fmt::Write as _;

use onedata::npy::Header;

use super::{
    comma_string_descr, disagreement, file, numpy_verdicts, py_str, summary_numpy, summary_ours,
    Case, DATA,
};

/// xorshift64*: a small deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const WS: &[&str] = &[
    "", "", "", " ", " ", "  ", "\t", "\n", "\r\n", "\r", " # c\n", "\\\n", "\x0c", " \n\t ",
];

fn random_key(rng: &mut Rng, key: &str, wild: bool) -> String {
    let (a, b) = key.split_at(1 + rng.below(key.len() - 1));
    match rng.below(if wild { 14 } else { 12 }) {
        0..=4 => format!("'{key}'"),
        5 => format!("\"{key}\""),
        6 => format!("u'{key}'"),
        7 => format!("R\"{key}\""),
        8 => format!("'{a}' \"{b}\""),
        9 => format!("('{key}')"),
        10 => format!("'\\x{:02x}{}'", key.as_bytes()[0], &key[1..]),
        11 => format!("'''{key}'''"),
        12 => format!("b'{key}'"),
        _ => format!("'{}'", key.to_uppercase()),
    }
}

fn random_descr(rng: &mut Rng, wild: bool) -> String {
    const PLAIN: &[&str] = &[
        "<f8", "<f4", ">i2", "|u1", "|b1", "<c16", "=i8", "i4", "<U3", "|S2", "|V4", "<M8[ms]",
        "|O", "float64", "f", ">?", "M8[s]", "<m8", "<f3", "<i16", "", "T",
    ];
    const OTHER: &[&str] = &[
        "[('a', '<f4'), ('b', '<i2', (2,))]",
        "[('a', '<f4'), ('a', '<i2')]",
        "[('', '|V4'), ('a', '|u1')]",
        "('<f4', (2,))",
        "('S', 3)",
        "[]",
        "None",
        "4",
        "b'<f8'",
    ];
    if wild && rng.chance(30) {
        return rng.pick(OTHER).to_string();
    }
    let d = *rng.pick(if wild {
        PLAIN
    } else {
        &PLAIN[..PLAIN.len() - 4]
    });
    match rng.below(10) {
        0..=5 => format!("'{d}'"),
        6 => format!("\"{d}\""),
        7 => format!("u'{d}'"),
        8 if !d.is_empty() => format!("'{}' '{}'", &d[..1], &d[1..]),
        _ => format!("({})", py_str(d)),
    }
}

fn random_shape(rng: &mut Rng, wild: bool) -> String {
    const DIMS: &[&str] = &[
        "0",
        "1",
        "2",
        "3",
        "1",
        "2",
        "3",
        "True",
        "-1",
        "3.0",
        "9223372036854775808",
        "0x3",
        "1_0",
        "+3",
        "-0",
        "3L",
        "2 L",
        "3l",
        "(2)",
        "03",
        "0o3",
        "3j",
        "1e3",
        "-(2)",
        "+(2)",
        "4294967296",
        "00",
        "0_0",
        "2LL",
    ];
    let n = rng.below(5);
    let dims: Vec<&str> = (0..n)
        .map(|_| {
            if !wild || rng.chance(60) {
                *rng.pick(&["0", "1", "2", "3"])
            } else {
                *rng.pick(DIMS)
            }
        })
        .collect();
    let sep = |rng: &mut Rng| format!(",{}", rng.pick(WS));
    let mut body = String::new();
    for (i, d) in dims.iter().enumerate() {
        if i > 0 {
            body += &sep(rng);
        }
        body += d;
    }
    let trailing = n == 1 || rng.chance(30);
    if trailing && n > 0 {
        body.push(',');
    }
    match rng.below(if wild { 20 } else { 40 }) {
        0 => format!("[{body}]"),
        1 => dims.first().copied().unwrap_or("3").to_string(),
        2 => format!("(({body}))"),
        _ => format!("({}{body}{})", rng.pick(WS), rng.pick(WS)),
    }
}

fn random_header(rng: &mut Rng) -> ((u8, u8), String) {
    const FORTRAN: &[&str] = &[
        "False", "True", "False", "True", "0", "1", "None", "'False'", "(True)", "true",
        "(False,)", "False ",
    ];
    // Half the headers vary only what numpy accepts; the other half go wild.
    let wild = rng.chance(50);
    let fortran = if wild {
        rng.pick(FORTRAN)
    } else {
        rng.pick(&FORTRAN[..4])
    };
    let mut entries: Vec<(String, String)> = vec![
        (random_key(rng, "descr", wild), random_descr(rng, wild)),
        (random_key(rng, "fortran_order", wild), fortran.to_string()),
        (random_key(rng, "shape", wild), random_shape(rng, wild)),
    ];
    for i in (1..entries.len()).rev() {
        entries.swap(i, rng.below(i + 1));
    }
    if wild && rng.chance(15) {
        entries.remove(rng.below(entries.len()));
    }
    if rng.chance(8) {
        let i = rng.below(entries.len());
        let junk = (
            entries[i].0.clone(),
            rng.pick(&["1", "[1]", "'x'", "(2,)"]).to_string(),
        );
        entries.insert(0, junk);
    }
    if wild && rng.chance(10) {
        entries.push(("'extra'".into(), "1".into()));
    }
    let mut text = String::from("{");
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            text += ",";
        }
        let _ = write!(
            text,
            "{}{k}{}:{}{v}{}",
            rng.pick(WS),
            rng.pick(WS),
            rng.pick(WS),
            rng.pick(WS)
        );
    }
    if rng.chance(40) {
        text += ", ";
    }
    text += *rng.pick(WS);
    text += "}";
    if rng.chance(4) {
        text = format!("({text})");
    }
    let prefix = *rng.pick(&["", "", "", " ", "\t", "\n", "# c\n", " \n", "\\\n", "\n  "]);
    let suffix = *rng.pick(&[
        "",
        "\n",
        "  \n",
        "                                        \n",
        "\0\0\n",
        "\n  ",
        "\n\t",
        " # c",
        "\r\n",
        " \\\n",
        "\n\n",
        "\x0c\n",
        "\r  ",
        " x",
    ]);
    text = format!("{prefix}{text}{suffix}");
    let version = match rng.below(10) {
        0..=5 => (1, 0),
        6 | 7 => (2, 0),
        _ => (3, 0),
    };
    if wild && rng.chance(30) {
        // A small mutation anywhere.
        const TOKENS: &[&str] = &[
            "'", "\"", ",", "(", ")", "[", "]", "{", "}", ":", "L", " ", "\n", "#", "\\", "0", "-",
            "u", "é", "\t", "b",
        ];
        let chars: Vec<char> = text.chars().collect();
        let at = rng.below(chars.len() + 1);
        let mut out: String = chars[..at].iter().collect();
        match rng.below(3) {
            0 => out += *rng.pick(TOKENS),
            1 if at < chars.len() => {
                out += *rng.pick(TOKENS);
                out.extend(&chars[at + 1..]);
                return (version, out);
            }
            _ => {}
        }
        out.extend(chars[at..].iter().skip(1));
        text = out;
    }
    (version, text)
}

/// The seed and count of the random tests (`ONEDATA_HEADER_SEED`,
/// `ONEDATA_HEADER_CASES` to explore further).
fn seed_and_count(default_seed: u64, default_count: usize) -> (u64, usize) {
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse().ok());
    (
        env("ONEDATA_HEADER_SEED").unwrap_or(default_seed),
        env("ONEDATA_HEADER_CASES").map_or(default_count, |n: u64| n as usize),
    )
}

/// Has numpy judge `count` generated headers; panics with the disagreements.
/// Returns how many onedata accepted.
fn check_random(
    what: &str,
    seed: u64,
    count: usize,
    generate: impl Fn(&mut Rng) -> ((u8, u8), String),
) -> usize {
    let mut rng = Rng(seed | 1);
    let cases: Vec<Case> = (0..count)
        .map(|i| {
            let (version, text) = generate(&mut rng);
            Case {
                name: format!("{what} {i} v{}.0 {text:?}", version.0),
                bytes: file(version, &text, DATA),
            }
        })
        .collect();
    let verdicts = numpy_verdicts(&cases);
    let mut table = String::new();
    let (mut failures, mut accepted) = (0, 0);
    for (case, numpy) in cases.iter().zip(&verdicts) {
        let ours = Header::parse(&case.bytes);
        accepted += ours.is_ok() as usize;
        if comma_string_descr(numpy, &ours) {
            continue;
        }
        if let Some(problem) = disagreement(numpy, &ours) {
            failures += 1;
            if failures <= 40 {
                let _ = writeln!(
                    table,
                    "{problem}\n    {}\n    numpy:   {}\n    onedata: {}",
                    case.name,
                    summary_numpy(numpy),
                    summary_ours(&ours)
                );
            }
        }
    }
    assert!(
        failures == 0,
        "{failures} of {count} {what} (seed {seed}) disagree with numpy:\n{table}"
    );
    // The generator must exercise both verdicts.
    assert!(
        accepted > count / 10 && accepted < count * 9 / 10,
        "{accepted} of {count} {what} accepted"
    );
    accepted
}

#[test]
fn random_headers_match_numpy() {
    let (seed, count) = seed_and_count(0x5eed_0fba, 3000);
    check_random("random headers", seed, count, random_header);
}

/// A random Python expression, valid as a literal or not: numbers, strings
/// with prefixes and escapes, containers, signs, sums, names, junk.
fn random_literal(rng: &mut Rng, depth: usize) -> String {
    const NUMBERS: &[&str] = &[
        "0",
        "00",
        "0_0",
        "01",
        "1_000",
        "1__0",
        "1_",
        "0x1f",
        "0X_1F",
        "0x",
        "0o17",
        "0o8",
        "0b101",
        "0b2",
        "0b_1",
        "1.",
        ".5",
        "1.5e3",
        "1e",
        "1e+5",
        "1E-5_0",
        "1_0.0_1",
        "3j",
        "3.5J",
        "1e5j",
        "09.5",
        "09",
        "09j",
        "0_7",
        "1.e5",
        "1.2.3",
        "0.",
        "1ee5",
        "1L",
        "0xffL",
        "1.5L",
        "3 L",
        "3l",
        "99999999999999999999999999",
        "1if",
        "1j_",
        "7",
        "42",
    ];
    const PREFIXES: &[&str] = &[
        "", "", "", "u", "U", "r", "R", "b", "B", "br", "rb", "Rb", "bR", "f", "ur", "ub", "rr",
    ];
    const QUOTES: &[&str] = &["'", "\"", "'''", "\"\"\""];
    const PIECES: &[&str] = &[
        "a",
        "<f8",
        "\\x41",
        "\\x4",
        "\\u0041",
        "\\u004",
        "\\U00000041",
        "\\U00110000",
        "\\d",
        "\\\\",
        "\\'",
        "\\\"",
        "\\\n",
        "\\101",
        "\\777",
        "\u{e9}",
        "\u{3c0}",
        "\n",
        "\r",
        "'",
        "\"",
        "\\",
        "\\0",
        "\t",
        "#",
        " ",
    ];
    const NAMES: &[&str] = &[
        "True",
        "False",
        "None",
        "set()",
        "set ( )",
        "set(1)",
        "foo",
        "Truex",
        "...",
        "....",
        "not 1",
        "lambda: 0",
        "1 if 1 else 2",
        "[x for x in ()]",
        "{**{}}",
        "*a",
        "a.b",
        "a[0]",
        "1 < 2",
        "1 and 2",
        "~1",
        "2**3",
        "$",
        "(yield)",
        "\u{e9}",
        "_",
    ];
    const SEPS: &[&str] = &["", " ", "\n", " # c\n", "\\\n", "\t", "\r\n"];
    let sep = |rng: &mut Rng| rng.pick(SEPS).to_string();
    let kind = if depth >= 3 {
        rng.below(4)
    } else {
        rng.below(12)
    };
    match kind {
        0 | 1 => rng.pick(NUMBERS).to_string(),
        2 => {
            let mut out = String::new();
            for i in 0..1 + rng.below(2) {
                if i > 0 {
                    out += &sep(rng);
                }
                let (p, q) = (*rng.pick(PREFIXES), *rng.pick(QUOTES));
                out += p;
                out += q;
                for _ in 0..rng.below(4) {
                    out += *rng.pick(PIECES);
                }
                out += q;
            }
            out
        }
        3 => rng.pick(NAMES).to_string(),
        4 => format!(
            "{}{}",
            rng.pick(&["-", "+", "--", "- ", "+-"]),
            random_literal(rng, depth + 1)
        ),
        5 => format!(
            "{}{}{}{}",
            random_literal(rng, depth + 1),
            rng.pick(&[" + ", "-", " - ", "+"]),
            rng.pick(&["2j", "2", "1.5J", "-2j", "(2j)"]),
            ""
        ),
        6 => format!(
            "({}{}{})",
            sep(rng),
            random_literal(rng, depth + 1),
            sep(rng)
        ),
        _ => {
            let (open, close, dict) = *rng.pick(&[
                ("(", ")", false),
                ("[", "]", false),
                ("{", "}", false),
                ("{", "}", true),
            ]);
            let n = rng.below(4);
            let mut out = String::from(open);
            for i in 0..n {
                if i > 0 {
                    out += ",";
                }
                out += &sep(rng);
                out += &random_literal(rng, depth + 1);
                if dict {
                    out += ":";
                    out += &sep(rng);
                    out += &random_literal(rng, depth + 1);
                }
            }
            if rng.chance(30) || (n == 1 && open == "(" && rng.chance(70)) {
                out += ",";
            }
            if rng.chance(3) {
                out += ",";
            }
            out += &sep(rng);
            out += close;
            out
        }
    }
}

/// A valid header with a random literal as an overwritten value, as the
/// shape, or as the descr.
fn random_literal_header(rng: &mut Rng) -> ((u8, u8), String) {
    let value = random_literal(rng, 0);
    let text = match rng.below(10) {
        0..=5 => {
            format!("{{'shape': {value}, 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}}")
        }
        6 | 7 => format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {value}}}"),
        _ => format!("{{'descr': {value}, 'fortran_order': False, 'shape': (2,)}}"),
    };
    let latin1 = text.chars().all(|c| (c as u32) < 0x100);
    let version = if latin1 && rng.chance(70) {
        (1, 0)
    } else {
        (3, 0)
    };
    (version, text)
}

#[test]
fn random_literals_match_numpy() {
    let (seed, count) = seed_and_count(0x0117_e2a1, 3000);
    check_random("random literals", seed, count, random_literal_header);
}
