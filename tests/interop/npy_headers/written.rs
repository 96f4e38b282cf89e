//! `Header::to_bytes` against `numpy.save`, and properties of the parser.

use std::fmt::Write as _;

use onedata::npy::{ByteOrder, Dtype, ElementKind, Header, MAGIC};
use proptest::prelude::*;

use super::{run_script, truncate};

/// Name, numpy expression, dtype, fortran order, shape, expected version.
type SaveCase = (&'static str, String, Dtype, bool, Vec<usize>, (u8, u8));

#[test]
fn written_headers_match_numpy_save() {
    use ElementKind as K;
    let le = |kind| Dtype::Numeric {
        kind,
        order: ByteOrder::Little,
    };
    let fields = |n: usize| {
        let list: Vec<String> = (0..n)
            .map(|i| format!("('field_number_{i:05}', '<f4')"))
            .collect();
        format!("[{}]", list.join(", "))
    };
    let other = |descr: String| Dtype::Other {
        descr,
        itemsize: None,
    };
    // name, numpy expression, dtype, fortran, shape, expected version
    let cases: Vec<SaveCase> = vec![
        (
            "f4_1d",
            "np.zeros(7, '<f4')".into(),
            le(K::F32),
            false,
            vec![7],
            (1, 0),
        ),
        (
            "f8_0d",
            "np.array(3.0)".into(),
            le(K::F64),
            false,
            vec![],
            (1, 0),
        ),
        (
            "i2_fortran_3d",
            "np.zeros((2, 3, 4), '<i2', order='F')".into(),
            le(K::I16),
            true,
            vec![2, 3, 4],
            (1, 0),
        ),
        (
            "u1_2d",
            "np.zeros((5, 6), 'u1')".into(),
            le(K::U8),
            false,
            vec![5, 6],
            (1, 0),
        ),
        (
            "bool_1d",
            "np.zeros(3, bool)".into(),
            le(K::Bool),
            false,
            vec![3],
            (1, 0),
        ),
        (
            "c16_fortran_2d",
            "np.zeros((2, 5), complex, order='F')".into(),
            le(K::C128),
            true,
            vec![2, 5],
            (1, 0),
        ),
        (
            "i8_big_endian",
            "np.zeros(3, '>i8')".into(),
            Dtype::Numeric {
                kind: K::I64,
                order: ByteOrder::Big,
            },
            false,
            vec![3],
            (1, 0),
        ),
        (
            "f2_large_dims",
            "np.zeros((0, 123456789012345, 7), '<f2')".into(),
            le(K::F16),
            false,
            vec![0, 123456789012345, 7],
            (1, 0),
        ),
        (
            "f4_fortran_large_last",
            "np.zeros((2, 0, 98765432109876543), '<f4', order='F')[:, :, :]".into(),
            le(K::F32),
            false,
            vec![2, 0, 98765432109876543],
            (1, 0),
        ),
        (
            "u2_64_dims",
            "np.zeros((1,) * 63 + (2,), '<u2')".into(),
            le(K::U16),
            false,
            [vec![1; 63], vec![2]].concat(),
            (1, 0),
        ),
        (
            "records_past_65535",
            format!("np.zeros(2, {})", fields(2500)),
            other(fields(2500)),
            false,
            vec![2],
            (2, 0),
        ),
        (
            "records_below_65535",
            format!("np.zeros(2, {})", fields(2000)),
            other(fields(2000)),
            false,
            vec![2],
            (1, 0),
        ),
        (
            "records_latin1_name",
            "np.zeros(2, [('\u{e9}t\u{e9}', '<f4')])".into(),
            other("[('\u{e9}t\u{e9}', '<f4')]".into()),
            false,
            vec![2],
            (1, 0),
        ),
        (
            "records_utf8_name",
            "np.zeros(2, [('\u{3c0}', '<f4')])".into(),
            other("[('\u{3c0}', '<f4')]".into()),
            false,
            vec![2],
            (3, 0),
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let stdin: String = cases
        .iter()
        .map(|(name, expr, ..)| serde_json::json!({"name": name, "expr": expr}).to_string() + "\n")
        .collect();
    run_script(&["--save".as_ref(), dir.path().as_os_str()], &stdin);
    let mut table = String::new();
    for (name, _, dtype, fortran, shape, version) in &cases {
        let numpy = std::fs::read(dir.path().join(format!("{name}.npy"))).expect("numpy file");
        let ours = Header::new(dtype.clone(), *fortran, shape);
        let bytes = ours.to_bytes();
        let numpy_header = &numpy[..bytes.len().min(numpy.len())];
        if bytes != numpy_header
            || ours.version() != *version
            || numpy[6..8] != [version.0, version.1]
        {
            let _ = writeln!(
                table,
                "{name}: version {:?} (numpy {:?}, expected {version:?})\n  numpy:   {:?}\n  onedata: {:?}",
                ours.version(),
                &numpy[6..8],
                truncate(&String::from_utf8_lossy(&numpy[..numpy.len().min(bytes.len() + 16)]), 200),
                truncate(&String::from_utf8_lossy(&bytes), 200),
            );
        }
        assert_eq!(ours.data_offset(), bytes.len());
        assert_eq!(ours.data_offset() % 64, 0);
    }
    assert!(table.is_empty(), "headers differ from numpy.save:\n{table}");
}

/// numpy switches to version 2.0 when the padded header no longer fits the
/// 16-bit length field: check the boundary exactly.
#[test]
fn version_follows_the_length_field() {
    // Dict text around a descr of n characters; find the largest that fits 1.0.
    let header = |n: usize| {
        Header::new(
            Dtype::Other {
                descr: format!("[{}]", "x".repeat(n)),
                itemsize: None,
            },
            false,
            &[3],
        )
    };
    let mut n = 65000;
    while header(n + 1).version() == (1, 0) {
        n += 1;
    }
    let last_v1 = header(n);
    let first_v2 = header(n + 1);
    assert_eq!(last_v1.version(), (1, 0));
    assert_eq!(first_v2.version(), (2, 0));
    let v1 = last_v1.to_bytes();
    assert_eq!(u16::from_le_bytes([v1[8], v1[9]]) as usize, v1.len() - 10);
    assert!(v1.len() - 10 <= 65535 && v1.len() - 10 > 65535 - 64);
    let v2 = first_v2.to_bytes();
    assert!(u32::from_le_bytes([v2[8], v2[9], v2[10], v2[11]]) as usize > 65535 - 64);
    assert_eq!(v2.len() % 64, 0);
    // Numeric arrays never need 2.0: 64 dimensions of the largest size.
    let widest = Header::new(Dtype::native(ElementKind::C128), false, &[usize::MAX; 64]);
    assert_eq!(widest.version(), (1, 0));
}

// ---------------------------------------------------------------------------
// Properties.

/// A shape whose byte size fits `isize` (dimensions shrunk to 1 where needed).
fn addressable(mut shape: Vec<usize>, itemsize: usize) -> Vec<usize> {
    let mut bytes = itemsize as u128;
    for d in &mut shape {
        if *d != 0 && bytes * *d as u128 > isize::MAX as u128 {
            *d = 1;
        }
        bytes *= (*d).max(1) as u128;
    }
    shape
}

fn arb_dtype() -> impl Strategy<Value = Dtype> {
    (0..ElementKind::ALL.len(), any::<bool>()).prop_map(|(i, big)| {
        let kind = ElementKind::ALL[i];
        let order = if big && kind.itemsize() > 1 {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        Dtype::Numeric { kind, order }
    })
}

/// Headers to mutate: numpy's own and the dialects numpy accepts.
const SEEDS: &[&str] = &[
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }                                    \n",
    "{'shape': (2L, 3L), \"fortran_order\": True, u'descr': '>i2'}\n",
    "({'descr': [('a', '<f4'), ('b', '|u1', (2,))], 'fortran_order': False, 'shape': ()})",
    "{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': ((3), 0x2,), # c\n}",
    "{'descr': '<M8[25us]', 'fortran_order': False, 'shape': (1_0,), 'shape': (+2,)}\n  ",
    "{'descr': 'float32', 'fortran_order': False, 'shape': (2 L,)}\\\n ",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Header::new(..).to_bytes() reads back as the same header, aligned to 64.
    #[test]
    fn written_headers_read_back(
        dtype in arb_dtype(),
        fortran in any::<bool>(),
        shape in prop::collection::vec(0usize..=1_000_000, 0..=6),
    ) {
        let shape = addressable(shape, dtype.itemsize().unwrap_or(1));
        let header = Header::new(dtype.clone(), fortran, &shape);
        let bytes = header.to_bytes();
        prop_assert_eq!(bytes.len() % 64, 0);
        prop_assert_eq!(bytes.last(), Some(&b'\n'));
        let parsed = Header::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.dtype(), &dtype);
        prop_assert_eq!(parsed.shape(), &shape[..]);
        prop_assert_eq!(parsed.fortran_order(), fortran);
        prop_assert_eq!(parsed.data_offset(), bytes.len());
        prop_assert_eq!(parsed.data_offset() % 64, 0);
        prop_assert_eq!(parsed.num_elements(), shape.iter().product::<usize>());
        prop_assert_eq!(&parsed, &header);
    }

    /// Arbitrary bytes, with or without a valid preamble, never panic.
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(
        preamble in any::<bool>(),
        version in 1u8..=3,
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let bytes = if preamble {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&[version, 0]);
            if version == 1 {
                b.extend_from_slice(&(body.len() as u16).to_le_bytes());
            } else {
                b.extend_from_slice(&(body.len() as u32).to_le_bytes());
            }
            b.extend_from_slice(&body);
            b
        } else {
            body
        };
        let _ = Header::parse(&bytes);
        let _ = Header::required_len(&bytes);
    }

    /// Valid headers with bytes changed, inserted or removed never panic, and
    /// whatever still parses writes back and reads back the same.
    #[test]
    fn parse_never_panics_on_mutated_headers(
        seed in 0..SEEDS.len(),
        version in 1u8..=3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..8),
    ) {
        let mut text = SEEDS[seed].as_bytes().to_vec();
        const TOKENS: &[&[u8]] = &[b"'", b"\"", b",", b"(", b")", b"[", b"]", b"{", b"}", b":",
            b"L", b"\\\n", b"#", b"-", b"u'", b"\\x", b"\\N{", b"'''", b"0x", b"1e", b"\xc3\xa9", b"\0"];
        for (at, op, byte) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 => text.insert(i, byte),
                1 if i < text.len() => { text.remove(i); }
                2 => { let t = TOKENS[byte as usize % TOKENS.len()]; text.splice(i..i, t.iter().copied()); }
                _ if i < text.len() => text[i] = byte,
                _ => {}
            }
        }
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[version, 0]);
        if version == 1 {
            bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        } else {
            bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
        }
        bytes.extend_from_slice(&text);
        if let Ok(h) = Header::parse(&bytes) {
            let again = Header::new(h.dtype().clone(), h.fortran_order(), h.shape());
            let reread = Header::parse(&again.to_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e} for {:?}", h)))?;
            prop_assert_eq!(reread.dtype().descr(), h.dtype().descr());
            prop_assert_eq!(reread.shape(), h.shape());
            prop_assert_eq!(reread.fortran_order(), h.fortran_order());
        }
    }
}
