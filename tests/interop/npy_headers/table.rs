//! The hand-written table of malformed and unusual headers, and every descr
//! in many spellings, judged by numpy.

use onedata::npy::MAGIC;

use super::{check_against_numpy, dict, file, padded, py_str, Cases, DATA};

/// The hand-written table of malformed and unusual headers.
fn table() -> Cases {
    let mut c = Cases::default();
    let f8 = "'<f8'";
    let d = |descr: &str| dict(descr, "False", "(2, 3)");

    // As numpy writes them, in each version.
    c.v1("numpy_v1", &padded((1, 0), &d(f8)));
    c.version("numpy_v2", (2, 0), &padded((2, 0), &d(f8)));
    c.version("numpy_v3", (3, 0), &padded((3, 0), &d(f8)));
    c.version("v3_utf8_comment", (3, 0), &format!("{} # µ→π\n", d(f8)));
    c.bytes(
        "v3_invalid_utf8",
        file((3, 0), &d(f8), DATA)
            .into_iter()
            .enumerate()
            .map(|(i, b)| if i == 12 { 0xff } else { b })
            .collect(),
    );
    c.v1("v1_latin1_comment", &format!("{} # \u{e9}\n", d(f8)));

    // Keys, quotes, commas, whitespace.
    c.v1(
        "keys_any_order",
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}",
    );
    c.v1(
        "double_quotes",
        "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3)}",
    );
    c.v1(
        "u_prefixes",
        "{u'descr': u'<f8', U'fortran_order': False, u\"shape\": (2, 3)}",
    );
    c.v1(
        "raw_and_triple_quotes",
        "{r'descr': '''<f8''', \"\"\"fortran_order\"\"\": False, 'shape': (2, 3)}",
    );
    c.v1(
        "bytes_key",
        "{b'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "no_trailing_comma",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "trailing_comma",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3),}",
    );
    c.v1(
        "double_trailing_comma",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3),,}",
    );
    c.v1(
        "whitespace_tabs_newlines",
        "\t {\n\t'descr'\t:\r\n'<f8' ,\n\n 'fortran_order' :False ,'shape':(\t2 ,\x0c3\n)\n}\r\n  \n",
    );
    c.v1(
        "comments_and_continuations",
        "# numpy\n{'descr': '<f8', # dtype\n 'fortran_order': \\\n False, 'shape': (2, 3)} # end\n",
    );
    c.v1(
        "no_padding",
        "{'descr':'<f8','fortran_order':False,'shape':(2,3)}",
    );
    c.v1("nul_padding", &format!("{}\0\0\0\n", d(f8)));
    c.v1("indented_first_line", &format!("\n  {}", d(f8)));
    c.v1("trailing_blank_line_v1", &format!("{}\n   ", d(f8)));
    c.version("trailing_blank_line_v3", (3, 0), &format!("{}\n   ", d(f8)));
    c.v1("continuation_at_end", &format!("{}\\\n", d(f8)));
    c.v1("parenthesized_dict", &format!("(\n{}\n)", d(f8)));
    c.v1("tuple_of_dict", &format!("({},)", d(f8)));
    c.v1(
        "string_concatenation",
        "{'desc' \"r\": '<' 'f8', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "escaped_descr",
        "{'descr': '\\x3cf\\u0038', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "mixed_bytes_str",
        "{'descr' b'': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "dict_unpacking",
        "{'descr': '<f8', 'fortran_order': False, **{'shape': (2, 3)}}",
    );
    c.v1("empty_header", "");
    c.v1("not_a_dict", "['descr', 'fortran_order', 'shape']");

    // Python 2 headers.
    c.v1("py2_long_v1", &d("'<f8'").replace("(2, 3)", "(2L, 3L)"));
    c.version(
        "py2_long_v2",
        (2, 0),
        &d("'<f8'").replace("(2, 3)", "(2L, 3L)"),
    );
    c.version(
        "py2_long_v3",
        (3, 0),
        &d("'<f8'").replace("(2, 3)", "(2L, 3L)"),
    );
    c.v1(
        "py2_long_spaced",
        &d("'<f8'").replace("(2, 3)", "(2 L, 3L L)"),
    );
    c.v1("py2_lowercase_l", &d("'<f8'").replace("(2, 3)", "(2l, 3)"));
    c.v1("py2_double_l", &d("'<f8'").replace("(2, 3)", "(2LL, 3)"));

    // fortran_order.
    c.v1("fortran_true", &dict(f8, "True", "(2, 3)"));
    c.v1("fortran_parenthesized", &dict(f8, "(True)", "(2, 3)"));
    c.v1("fortran_zero", &dict(f8, "0", "(2, 3)"));
    c.v1("fortran_string", &dict(f8, "'False'", "(2, 3)"));
    c.v1("fortran_none", &dict(f8, "None", "(2, 3)"));
    c.v1("fortran_lowercase", &dict(f8, "false", "(2, 3)"));

    // Byte orders.
    for (name, descr) in [
        ("order_little", "'<i4'"),
        ("order_big", "'>i4'"),
        ("order_pipe", "'|i4'"),
        ("order_native", "'=i4'"),
        ("order_none", "'i4'"),
        ("order_pipe_u1", "'|u1'"),
        ("order_big_u1", "'>u1'"),
        ("order_big_bool", "'>b1'"),
        ("order_double", "'<<i4'"),
    ] {
        c.v1(name, &d(descr));
    }

    // Magic, version, length.
    let good = file((1, 0), &d(f8), DATA);
    let mut bad_magic = good.clone();
    bad_magic[5] = b'X';
    c.bytes("bad_magic", bad_magic);
    c.bytes("not_npy", b"PK\x03\x04 this is a zip file".to_vec());
    c.bytes("magic_only", MAGIC.to_vec());
    c.bytes("no_length_field", [&MAGIC[..], &[1, 0, 5]].concat());
    for (name, v) in [
        ("version_0_0", [0, 0]),
        ("version_1_1", [1, 1]),
        ("version_4_0", [4, 0]),
        ("version_2_1", [2, 1]),
    ] {
        let mut b = good.clone();
        b[6..8].copy_from_slice(&v);
        c.bytes(name, b);
    }
    c.bytes("length_past_end", file((1, 0), &d(f8), 0)[..30].to_vec());
    let mut long_len = file((1, 0), &d(f8), 0);
    long_len[8..10].copy_from_slice(&500u16.to_le_bytes());
    c.bytes("length_field_too_long", long_len);
    c.bytes("length_field_short", {
        let mut b = file((1, 0), &d(f8), DATA);
        b[8..10].copy_from_slice(&40u16.to_le_bytes());
        b
    });

    // Keys.
    c.v1("missing_shape", "{'descr': '<f8', 'fortran_order': False}");
    c.v1("missing_descr", "{'fortran_order': False, 'shape': (2, 3)}");
    c.v1(
        "extra_key",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
    );
    c.v1(
        "int_key",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 1: 1}",
    );
    c.v1(
        "duplicate_key",
        "{'descr': 'nonsense', 'fortran_order': False, 'shape': (2, 3), 'descr': '<i2'}",
    );
    c.v1(
        "duplicate_key_bad_last",
        "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), 'descr': 'nonsense'}",
    );
    c.v1("duplicate_odd_values", "{'shape': {1: [2j, -3.5e1, 1+2j, ..., None, b'x', set(), (1,)]}, 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}");
    c.v1(
        "unhashable_key_in_value",
        "{'shape': {[1]: 2}, 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "key_case",
        "{'Descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
    );

    // Shapes.
    for (name, shape) in [
        ("shape_0d", "()"),
        ("shape_zero_dim", "(0, 5)"),
        ("shape_list", "[2, 3]"),
        ("shape_int_in_parens", "(3)"),
        ("shape_bare_int", "6"),
        ("shape_negative", "(-1, 3)"),
        ("shape_negative_zero", "(-0, 3)"),
        ("shape_plus", "(+2, 3)"),
        ("shape_float", "(2.0, 3)"),
        ("shape_bool", "(True, 3)"),
        ("shape_nested", "((2, 3),)"),
        ("shape_grouped_dims", "((2), (((3))))"),
        ("shape_hex_octal_underscore", "(0x2, 0o3)"),
        ("shape_underscore", "(1_0,)"),
        ("shape_leading_zero", "(02, 3)"),
        ("shape_zeros", "(00, 0_0)"),
        ("shape_complex", "(2j, 3)"),
        ("shape_string", "('2', 3)"),
        ("shape_i64_max", "(9223372036854775807, 0)"),
        ("shape_past_i64", "(9223372036854775808, 0)"),
        ("shape_huge", "(99999999999999999999999999, 0)"),
        (
            "shape_overflow",
            "(4611686018427387904, 4611686018427387904)",
        ),
        ("shape_bytes_overflow", "(4611686018427387904,)"),
        ("shape_overflow_with_zero", "(0, 4611686018427387904, 4)"),
        ("shape_missing_data", "(1099511627776,)"),
    ] {
        c.v1(name, &dict(f8, "False", shape));
    }
    let ones = |n: usize| format!("({})", vec!["1"; n].join(", "));
    c.v1("shape_64_dims", &dict(f8, "False", &ones(64)));
    c.v1("shape_65_dims", &dict(f8, "False", &ones(65)));
    let nested = |n: usize| format!("{}(2, 3){}", "(".repeat(n), ")".repeat(n));
    c.v1("nesting_200", &dict(f8, "False", &nested(198)));
    c.v1("nesting_201", &dict(f8, "False", &nested(199)));

    // Size limit (numpy: header text longer than 10000 characters).
    let base = d(f8);
    c.v1(
        "header_10000_chars",
        &format!("{base}{}\n", " ".repeat(10000 - base.len() - 1)),
    );
    c.v1(
        "header_10001_chars",
        &format!("{base}{}\n", " ".repeat(10001 - base.len() - 1)),
    );
    c.version(
        "v3_10000_chars_multibyte",
        (3, 0),
        &format!("{base}#{}\n", "π".repeat(10000 - base.len() - 2)),
    );

    // Syntax errors.
    c.v1(
        "unterminated_string",
        "{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "unterminated_dict",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)",
    );
    c.v1(
        "unterminated_tuple",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3}",
    );
    c.v1("garbage_after_dict", &format!("{} x\n", d(f8)));
    c.v1("second_dict", &format!("{}\n{}\n", d(f8), d(f8)));
    c.v1(
        "missing_colon",
        "{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "missing_comma",
        "{'descr': '<f8' 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "vertical_tab",
        "{'descr': '<f8',\x0b'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "f_string",
        "{'descr': f'<f8', 'fortran_order': False, 'shape': (2, 3)}",
    );
    c.v1(
        "call",
        "{'descr': str('<f8'), 'fortran_order': False, 'shape': (2, 3)}",
    );

    // descr values.
    for (name, descr) in [
        ("descr_f3", "'<f3'"),
        ("descr_float32_name", "'float32'"),
        ("descr_name_with_order", "'<float32'"),
        ("descr_i16", "'<i16'"),
        ("descr_object", "'|O'"),
        ("descr_unicode", "'<U5'"),
        ("descr_bytes", "'|S7'"),
        ("descr_void", "'|V3'"),
        ("descr_datetime", "'<M8[ns]'"),
        ("descr_timedelta_big", "'>m8[25s]'"),
        ("descr_datetime_generic", "'M8'"),
        ("descr_longdouble", "'<f16'"),
        ("descr_stringdtype", "'T'"),
        ("descr_char", "'c'"),
        ("descr_empty", "''"),
        ("descr_bytes_literal", "b'<f8'"),
        ("descr_int", "8"),
        ("descr_none", "None"),
        (
            "descr_structured",
            "[('x', '<f4'), ('y', '>i2', (2,)), (('title', 'z'), [('a', '|u1')])]",
        ),
        ("descr_structured_object", "[('a', '|O'), ('b', '<f8')]"),
        ("descr_structured_padding", "[('', '|V4'), ('a', '<f4')]"),
        ("descr_structured_duplicate", "[('a', '<f4'), ('a', '<f8')]"),
        ("descr_structured_bad_field", "[('a', '<f3')]"),
        ("descr_structured_empty", "[]"),
        ("descr_subarray", "('<f4', (2,))"),
        ("descr_sized_tuple", "('U', 3)"),
        ("descr_one_tuple", "('<f4',)"),
    ] {
        c.v1(name, &dict(descr, "False", "(3,)"));
    }

    // Differences kept on purpose (see KNOWN_DIFFERENCES).
    c.v1(
        "known_named_escape",
        &dict("'\\N{LESS-THAN SIGN}f8'", "False", "(3,)"),
    );
    c.v1("known_comma_string", &dict("'<f4,<i4'", "False", "(3,)"));
    c.v1(
        "known_datetime_divisor",
        &dict("'<M8[ns/2]'", "False", "(3,)"),
    );
    c.v1(
        "known_view_field",
        &dict("[('a', '<i4', '<f4')]", "False", "(3,)"),
    );
    c.v1(
        "known_zero_itemsize_count",
        &dict("'|S0'", "False", "(4294967296, 4294967296)"),
    );
    c
}

/// Every descr string in many spellings, each as its own case.
fn descr_sweep() -> Cases {
    let mut c = Cases::default();
    let codes = [
        "b1",
        "?",
        "i1",
        "u1",
        "i2",
        "u2",
        "i4",
        "u4",
        "i8",
        "u8",
        "f2",
        "f4",
        "f8",
        "c8",
        "c16",
        "b",
        "B",
        "h",
        "H",
        "i",
        "I",
        "l",
        "L",
        "q",
        "Q",
        "e",
        "f",
        "d",
        "F",
        "D",
        "p",
        "P",
        "n",
        "N",
        "g",
        "G",
        "O",
        "O8",
        "O4",
        "S",
        "U",
        "V",
        "a",
        "c",
        "M",
        "m",
        "T",
        "f16",
        "c32",
        "S5",
        "U5",
        "V5",
        "a5",
        "M8",
        "m8",
        "M8[ns]",
        "m8[s]",
        "M8[25us]",
        "datetime64[D]",
        "timedelta64",
        "float32",
        "int",
        "x",
    ];
    for order in ["", "<", ">", "|", "="] {
        for code in codes {
            c.v1(
                &format!("sweep_{order}{code}"),
                &dict(&py_str(&format!("{order}{code}")), "False", "(3,)"),
            );
        }
    }
    let odd = [
        "f 4",
        "f+4",
        "f04",
        "f4 ",
        " f4",
        "f\n4",
        "S-0",
        "S-5",
        "S+",
        "f-0",
        "b0",
        "O0",
        "O2",
        "O16",
        "f0",
        "u3",
        "b2",
        "c4",
        "M4",
        "M08",
        "m 8",
        "M+8",
        "M[ns]",
        "M8[]",
        "M8[ ns]",
        "M8[ 5s]",
        "M8[-1s]",
        "M8[-0s]",
        "M8[+1s]",
        "M8[1s]",
        "M8[01s]",
        "M8[0s]",
        "M8[2147483647s]",
        "M8[2147483648s]",
        "M8[generic]",
        "M8[2generic]",
        "M8[B]",
        "M8[s]x",
        "M8s",
        "M8[ns]]",
        "M8[5 s]",
        "datetime64[]",
        "U536870911",
        "U536870912",
        "S2147483647",
        "S2147483648",
        "V2147483648",
        "S9999999999999999999999",
        "i4\0",
        "S\0",
        "\0",
        "\t",
        "\x07",
        "\x0d",
        "\x10",
        "\x17",
        "\x18",
        "\x7f",
        "<",
        "|",
        "",
        "int0",
        "bool8",
        "Bytes0",
        "float",
        "double",
        "longlong",
        "ulong",
        "uint",
        "str",
        "bytes",
        "void",
        "object",
        "unicode",
        "half",
        "complex",
        "clongdouble",
        "e\u{301}",
        "f\u{664}",
    ];
    for (i, s) in odd.iter().enumerate() {
        c.v1(&format!("odd_{i:02}"), &dict(&py_str(s), "False", "(3,)"));
    }
    let structured = [
        "[('a', '<f4', 1)]",
        "[('a', '<f4', (1,))]",
        "[('a', '<f4', ())]",
        "[('a', '<f4', 0)]",
        "[('a', 'S', 5)]",
        "[('a', 'U', 5)]",
        "[('a', 'V', 3)]",
        "[('a', 'S', (5,))]",
        "[('a', 'S', True)]",
        "[('a', 'U', 536870912)]",
        "[(('t', 'a'), '<f4')]",
        "[(('a', 'a'), '<f4')]",
        "[(('t', 'a'), '<f4'), ('t', '<f4')]",
        "[(('', 'a'), '<f4')]",
        "[((1, 'a'), '<f4')]",
        "[(('t', ''), '<f4')]",
        "[(('t', 'a', 'b'), '<f4')]",
        "[('', '<f4')]",
        "[('', '<f4'), ('', '<i4')]",
        "[('', '|V4'), ('', '|V4')]",
        "[('f1', '<f4'), ('', '<f4')]",
        "[['a', '<f4']]",
        "[(['t', 'a'], '<f4')]",
        "[('a', '<f4', [2])]",
        "[('a', '<f4', [])]",
        "[('a', '<f4', (2, -1))]",
        "[('a', '<f4', (True,))]",
        "[('a', '<f4', 2.0)]",
        "[('a', '<f4', 'x')]",
        "[('a', ('<f4', (2,)))]",
        "[('a', ('<f4', 2, 'junk'))]",
        "[(1, '<f4')]",
        "[(b'a', '<f4')]",
        "[('a', b'<f4')]",
        "[('a', '<f4', 2147483648)]",
        "[('a', '<f8', 268435456)]",
        "[('a', '<f4', (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1))]",
        "[('a',)]",
        "[('a', '<f4', (2,), 'x')]",
        "[('a', 'T')]",
        "['ab']",
        "[b'ab']",
        "[{'a': 1, '<f4': 2}]",
        "{}",
        "set()",
        "{('a', '<f4'): 1}",
        "{('a', '<f4')}",
        "[('a', [('b', [('c', '<f2')])])]",
        "('<f4', 0)",
        "('<f4', (2, 3))",
        "('<f4', (1,) * 2)",
        "(('<f4', (2,)), (3,))",
        "('|O', (2,))",
        "('S', 0)",
        "('S',)",
        "()",
    ];
    for (i, s) in structured.iter().enumerate() {
        c.v1(&format!("record_{i:02}"), &dict(s, "False", "(3,)"));
    }
    // A subarray adds dimensions: 63 + 2 is past numpy's limit.
    let ones = |n: usize| format!("({})", vec!["1"; n].join(", "));
    c.v1(
        "subarray_65_dims",
        &dict("('<f4', (1, 1))", "False", &ones(63)),
    );
    c.v1(
        "subarray_64_dims",
        &dict("('<f4', (1, 1))", "False", &ones(62)),
    );
    c
}

/// Cases where onedata refuses a header numpy accepts, on purpose, with the
/// reason. Keep this list tiny: everything else must match numpy.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "known_named_escape",
        "\\N{name} escapes need Unicode's character name table; a dtype never needs one",
    ),
    (
        "known_comma_string",
        "numpy's comma-string dtype mini-language ('f4,i4', '2f4', '(2,)f4'); numpy never writes it",
    ),
    (
        "known_datetime_divisor",
        "datetime unit divisors ('M8[ns/2]' is '<M8[500ps]'); numpy never writes them",
    ),
    (
        "known_view_field",
        "a record field whose third item is a dtype to view it as, not a shape; numpy never writes it",
    ),
    (
        "known_zero_itemsize_count",
        "zero-size items with more elements than usize counts; Header::num_elements is a usize",
    ),
];

#[test]
fn header_table_matches_numpy() {
    let cases = table().0;
    assert!(cases.len() >= 40);
    for (name, _) in KNOWN_DIFFERENCES {
        assert!(cases.iter().any(|c| c.name == *name), "no case {name}");
    }
    check_against_numpy(&cases, KNOWN_DIFFERENCES);
}

#[test]
fn descr_spellings_match_numpy() {
    check_against_numpy(&descr_sweep().0, &[]);
}
