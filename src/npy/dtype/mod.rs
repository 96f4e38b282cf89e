//! numpy dtypes as they appear in `.npy` headers, and the Rust element types
//! they map to.

use std::fmt;

use bytemuck::{NoUninit, Pod, Zeroable};
use num_complex::Complex;

mod other;

pub use other::{DatetimeUnit, Field, OtherKind, TimeBase, NAT};

/// Byte order of the elements in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// `<`: least significant byte first.
    Little,
    /// `>`: most significant byte first.
    Big,
}

impl ByteOrder {
    /// The byte order of the machine running this code.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };

    fn char(self) -> char {
        match self {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
        }
    }
}

/// The numeric element types onedata can view and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementKind {
    /// `b1`, numpy `bool_`: one byte, zero is false, anything else true.
    Bool,
    /// `i1`
    I8,
    /// `u1`
    U8,
    /// `i2`
    I16,
    /// `u2`
    U16,
    /// `i4`
    I32,
    /// `u4`
    U32,
    /// `i8`
    I64,
    /// `u8`
    U64,
    /// `f2`, IEEE half precision.
    F16,
    /// `f4`
    F32,
    /// `f8`
    F64,
    /// `c8`, two `f4`: real then imaginary.
    C64,
    /// `c16`, two `f8`: real then imaginary.
    C128,
}

impl ElementKind {
    /// Every supported kind, in numpy's type-code order.
    pub const ALL: [ElementKind; 14] = [
        ElementKind::Bool,
        ElementKind::I8,
        ElementKind::U8,
        ElementKind::I16,
        ElementKind::U16,
        ElementKind::I32,
        ElementKind::U32,
        ElementKind::I64,
        ElementKind::U64,
        ElementKind::F16,
        ElementKind::F32,
        ElementKind::F64,
        ElementKind::C64,
        ElementKind::C128,
    ];

    /// Bytes per element.
    pub const fn itemsize(self) -> usize {
        match self {
            ElementKind::Bool | ElementKind::I8 | ElementKind::U8 => 1,
            ElementKind::I16 | ElementKind::U16 | ElementKind::F16 => 2,
            ElementKind::I32 | ElementKind::U32 | ElementKind::F32 => 4,
            ElementKind::I64 | ElementKind::U64 | ElementKind::F64 | ElementKind::C64 => 8,
            ElementKind::C128 => 16,
        }
    }

    /// Size of the unit whose bytes are reversed when changing byte order
    /// (the component size for complex numbers).
    pub const fn swap_unit(self) -> usize {
        match self {
            ElementKind::C64 => 4,
            ElementKind::C128 => 8,
            k => k.itemsize(),
        }
    }

    /// Alignment the Rust element type needs.
    pub const fn align(self) -> usize {
        self.swap_unit()
    }

    /// The numpy type code without byte order: `b1`, `i4`, `f8`, `c16`, ...
    pub const fn code(self) -> &'static str {
        match self {
            ElementKind::Bool => "b1",
            ElementKind::I8 => "i1",
            ElementKind::U8 => "u1",
            ElementKind::I16 => "i2",
            ElementKind::U16 => "u2",
            ElementKind::I32 => "i4",
            ElementKind::U32 => "u4",
            ElementKind::I64 => "i8",
            ElementKind::U64 => "u8",
            ElementKind::F16 => "f2",
            ElementKind::F32 => "f4",
            ElementKind::F64 => "f8",
            ElementKind::C64 => "c8",
            ElementKind::C128 => "c16",
        }
    }

    /// numpy's `dtype.str` for this kind in native byte order, as
    /// `numpy.save` writes it on this machine (`<f4`, `|b1`, ...).
    pub const fn native_descr(self) -> &'static str {
        let little = cfg!(target_endian = "little");
        match (self, little) {
            (ElementKind::Bool, _) => "|b1",
            (ElementKind::I8, _) => "|i1",
            (ElementKind::U8, _) => "|u1",
            (ElementKind::I16, true) => "<i2",
            (ElementKind::U16, true) => "<u2",
            (ElementKind::I32, true) => "<i4",
            (ElementKind::U32, true) => "<u4",
            (ElementKind::I64, true) => "<i8",
            (ElementKind::U64, true) => "<u8",
            (ElementKind::F16, true) => "<f2",
            (ElementKind::F32, true) => "<f4",
            (ElementKind::F64, true) => "<f8",
            (ElementKind::C64, true) => "<c8",
            (ElementKind::C128, true) => "<c16",
            (ElementKind::I16, false) => ">i2",
            (ElementKind::U16, false) => ">u2",
            (ElementKind::I32, false) => ">i4",
            (ElementKind::U32, false) => ">u4",
            (ElementKind::I64, false) => ">i8",
            (ElementKind::U64, false) => ">u8",
            (ElementKind::F16, false) => ">f2",
            (ElementKind::F32, false) => ">f4",
            (ElementKind::F64, false) => ">f8",
            (ElementKind::C64, false) => ">c8",
            (ElementKind::C128, false) => ">c16",
        }
    }

    /// Parses a type code without byte order (`f4`, `c16`, `?`, `d`, ...).
    fn from_code(code: &str) -> Option<ElementKind> {
        Some(match code {
            // C `long` is 32 bits on Windows, 64 elsewhere.
            "l" => LONG.0,
            "L" => LONG.1,
            "b1" | "?" => ElementKind::Bool,
            "i1" | "b" => ElementKind::I8,
            "u1" | "B" => ElementKind::U8,
            "i2" | "h" => ElementKind::I16,
            "u2" | "H" => ElementKind::U16,
            "i4" | "i" => ElementKind::I32,
            "u4" | "I" => ElementKind::U32,
            "i8" | "q" => ElementKind::I64,
            "u8" | "Q" => ElementKind::U64,
            "f2" | "e" => ElementKind::F16,
            "f4" | "f" => ElementKind::F32,
            "f8" | "d" => ElementKind::F64,
            "c8" | "F" => ElementKind::C64,
            "c16" | "D" => ElementKind::C128,
            _ => return None,
        })
    }
}

/// The element kinds of C `long` and `unsigned long`, as numpy sizes them
/// on this platform.
pub(crate) const LONG: (ElementKind, ElementKind) = if cfg!(windows) {
    (ElementKind::I32, ElementKind::U32)
} else {
    (ElementKind::I64, ElementKind::U64)
};

/// The element type of a `.npy` file, as its header declares it.
///
/// Every dtype but objects loads: numbers through typed views, the others
/// ([`Dtype::other_kind`]) through their own accessors on
/// [`NpyArray`](super::NpyArray).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// A numeric element type in a given byte order.
    Numeric {
        /// What the elements are.
        kind: ElementKind,
        /// How their bytes are ordered (`Little` for one-byte kinds).
        order: ByteOrder,
    },
    /// Python objects (`|O`): the data is a pickle. Loading recipes are these.
    Object,
    /// Strings, bytes, datetimes, long doubles, void and structured records
    /// (see [`OtherKind`]).
    Other {
        /// numpy's `dtype.str` spelling (the raw header text for structured dtypes).
        descr: String,
        /// Bytes per element, where the header alone tells it.
        itemsize: Option<usize>,
    },
}

impl Dtype {
    /// A numeric dtype in native byte order.
    pub const fn native(kind: ElementKind) -> Dtype {
        Dtype::Numeric {
            kind,
            order: ByteOrder::NATIVE,
        }
    }

    /// The numeric kind, if this is a numeric dtype.
    pub fn kind(&self) -> Option<ElementKind> {
        match self {
            Dtype::Numeric { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Bytes per element (`None` for objects, and records or subarrays
    /// that hold objects).
    pub fn itemsize(&self) -> Option<usize> {
        match self {
            Dtype::Numeric { kind, .. } => Some(kind.itemsize()),
            Dtype::Object => None,
            Dtype::Other { itemsize, .. } => *itemsize,
        }
    }

    /// Whether the data is laid out in this machine's byte order (true for
    /// dtypes without one: bytes, void, records and objects).
    pub fn is_native(&self) -> bool {
        self.byte_order()
            .is_none_or(|order| order == ByteOrder::NATIVE)
    }

    /// numpy's `dtype.str` spelling: `<f4`, `>i8`, `|b1`, `|O`, `<U10`, ...
    pub fn descr(&self) -> String {
        self.to_string()
    }

    /// Parses a descr string as numpy's `dtype(descr)` does for the dtypes
    /// that appear in `.npy` files. Returns `None` for anything unknown.
    pub fn parse(descr: &str) -> Option<Dtype> {
        let (order, code) = match descr.as_bytes().first() {
            Some(b'<') => (Some(ByteOrder::Little), &descr[1..]),
            Some(b'>') => (Some(ByteOrder::Big), &descr[1..]),
            Some(b'|') | Some(b'=') => (None, &descr[1..]),
            _ => (None, descr),
        };
        if let Some(kind) = ElementKind::from_code(code) {
            let order = if kind.itemsize() == 1 {
                ByteOrder::Little
            } else {
                order.unwrap_or(ByteOrder::NATIVE)
            };
            return Some(Dtype::Numeric { kind, order });
        }
        let ord = order.unwrap_or(ByteOrder::NATIVE).char();
        let (descr, itemsize) = match code {
            "O" | "O8" => return Some(Dtype::Object),
            "f16" | "g" => (format!("{ord}f16"), 16),
            "c32" | "G" => (format!("{ord}c32"), 32),
            "M8" | "m8" => (format!("{ord}{code}"), 8),
            _ => {
                let bytes = code.as_bytes();
                let letter = *bytes.first()?;
                let rest = &code[1..];
                match letter {
                    b'S' | b'a' | b'U' | b'V' => {
                        let n: usize = if rest.is_empty() {
                            0
                        } else if rest.bytes().all(|b| b.is_ascii_digit()) {
                            rest.parse().ok()?
                        } else {
                            return None;
                        };
                        match letter {
                            b'U' => (format!("{ord}U{n}"), n.checked_mul(4)?),
                            b'V' => (format!("|V{n}"), n),
                            _ => (format!("|S{n}"), n),
                        }
                    }
                    b'M' | b'm' => {
                        // Datetimes with a unit: M8[ns], m8[D], M8[10us], ...
                        let unit = rest.strip_prefix("8[")?.strip_suffix(']')?;
                        let unit_name = unit.trim_start_matches(|c: char| c.is_ascii_digit());
                        const UNITS: [&str; 13] = [
                            "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as",
                        ];
                        if !UNITS.contains(&unit_name) {
                            return None;
                        }
                        (format!("{ord}{}8[{unit}]", letter as char), 8)
                    }
                    _ => return None,
                }
            }
        };
        Some(Dtype::Other {
            descr,
            itemsize: Some(itemsize),
        })
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dtype::Numeric { kind, order } => {
                let ord = if kind.itemsize() == 1 {
                    '|'
                } else {
                    order.char()
                };
                write!(f, "{ord}{}", kind.code())
            }
            Dtype::Object => f.write_str("|O"),
            Dtype::Other { descr, .. } => f.write_str(descr),
        }
    }
}

/// numpy's `bool_` as stored: one byte, zero is false and anything else true.
///
/// Views of boolean arrays use this type rather than Rust's `bool`, because
/// a file may hold any byte value and Rust's `bool` must be exactly 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Pod, Zeroable)]
#[repr(transparent)]
pub struct NpBool(pub u8);

impl NpBool {
    /// The truth value: any non-zero byte is `true`, as in numpy.
    pub const fn get(self) -> bool {
        self.0 != 0
    }
}

impl From<bool> for NpBool {
    fn from(b: bool) -> Self {
        NpBool(b as u8)
    }
}

impl From<NpBool> for bool {
    fn from(b: NpBool) -> Self {
        b.get()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that stores one numpy element: the integers, `f32`, `f64`,
/// [`half::f16`], [`num_complex::Complex`] of `f32`/`f64`, [`NpBool`] and
/// (for writing only) `bool`.
///
/// Views are available for the types that are also [`bytemuck::AnyBitPattern`],
/// which excludes `bool`: arbitrary file bytes are never read as a Rust `bool`.
pub trait Element: NoUninit + Send + Sync + 'static + sealed::Sealed {
    /// The numpy element kind this type holds.
    const KIND: ElementKind;
}

macro_rules! element {
    ($($t:ty => $k:ident),* $(,)?) => {
        $(
            impl sealed::Sealed for $t {}
            impl Element for $t {
                const KIND: ElementKind = ElementKind::$k;
            }
        )*
    };
}

element! {
    bool => Bool,
    NpBool => Bool,
    i8 => I8,
    u8 => U8,
    i16 => I16,
    u16 => U16,
    i32 => I32,
    u32 => U32,
    i64 => I64,
    u64 => U64,
    half::f16 => F16,
    f32 => F32,
    f64 => F64,
    Complex<f32> => C64,
    Complex<f64> => C128,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_code_in_every_byte_order() {
        for kind in ElementKind::ALL {
            for prefix in ["<", ">", "|", "=", ""] {
                let descr = format!("{prefix}{}", kind.code());
                let dtype = Dtype::parse(&descr).unwrap();
                assert_eq!(dtype.kind(), Some(kind), "{descr}");
                let expect_order = match (kind.itemsize(), prefix) {
                    (1, _) => ByteOrder::Little,
                    (_, ">") => ByteOrder::Big,
                    (_, "<") => ByteOrder::Little,
                    _ => ByteOrder::NATIVE,
                };
                assert_eq!(
                    dtype,
                    Dtype::Numeric {
                        kind,
                        order: expect_order
                    }
                );
            }
            assert_eq!(Dtype::native(kind).descr(), kind.native_descr());
        }
    }

    #[test]
    fn other_kinds_and_units_read_from_the_descr() {
        let kind = |d: &str| Dtype::parse(d).unwrap().other_kind();
        assert_eq!(kind("<U6"), Some(OtherKind::Unicode { chars: 6 }));
        assert_eq!(kind("|S2"), Some(OtherKind::Bytes { len: 2 }));
        assert_eq!(kind("|V5"), Some(OtherKind::Void { size: 5 }));
        assert_eq!(kind(">f16"), Some(OtherKind::LongDouble));
        assert_eq!(kind("<c32"), Some(OtherKind::ComplexLongDouble));
        let unit = |base, count| DatetimeUnit { base, count };
        assert_eq!(
            kind(">M8[D]"),
            Some(OtherKind::Datetime(unit(TimeBase::Days, 1)))
        );
        assert_eq!(
            kind("<m8[10us]"),
            Some(OtherKind::Timedelta(unit(TimeBase::Microseconds, 10)))
        );
        assert_eq!(
            kind("<m8"),
            Some(OtherKind::Timedelta(unit(TimeBase::Generic, 1)))
        );
        assert_eq!(kind("<f8"), None);
        assert_eq!(Dtype::Object.other_kind(), None);
        let be = Dtype::parse(">M8[s]").unwrap();
        assert_eq!(be.byte_order(), Some(ByteOrder::Big));
        assert_eq!(be.to_native().descr(), "<M8[s]");
        assert_eq!(Dtype::parse("|S3").unwrap().byte_order(), None);
        assert!(Dtype::parse("|S3").unwrap().is_native());
    }

    #[test]
    fn record_fields_with_titles_padding_nesting_and_subarrays() {
        let dtype = Dtype::Other {
            descr: "[('', '|V2'), (('T', 'id'), '<u2'), ('pos', [('a', '|u1'), ('', '|V3'), \
                    ('b', '<i4')]), ('s', 'S', 3), ('m', '>f8', (2, 3))]"
                .into(),
            itemsize: Some(64),
        };
        let f = dtype.fields().unwrap();
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "pos", "s", "m"]);
        assert_eq!(f[0].title.as_deref(), Some("T"));
        assert_eq!(
            f.iter().map(|f| f.offset).collect::<Vec<_>>(),
            [2, 4, 12, 15]
        );
        assert_eq!(
            f[1].dtype.descr(),
            "[('a', '|u1'), ('', '|V3'), ('b', '<i4')]"
        );
        assert_eq!(f[1].dtype.fields().unwrap()[1].offset, 4);
        assert_eq!((f[2].dtype.descr(), f[2].size), ("|S3".into(), 3));
        assert_eq!((f[3].shape.as_slice(), f[3].size), (&[2, 3][..], 48));
        assert_eq!(f[3].dtype.descr(), ">f8");
        assert_eq!(Dtype::parse("<f8").unwrap().fields(), None);
    }

    #[test]
    fn recognises_other_dtypes() {
        assert_eq!(Dtype::parse("|O"), Some(Dtype::Object));
        // C long: numpy's `np.dtype('l').itemsize` is 4 on Windows, else 8.
        let long = if cfg!(windows) { 4 } else { 8 };
        assert_eq!(Dtype::parse("<l").unwrap().itemsize(), Some(long));
        assert_eq!(Dtype::parse("<L").unwrap().itemsize(), Some(long));
        assert_eq!(Dtype::parse("<U10").unwrap().itemsize(), Some(40));
        assert_eq!(Dtype::parse("|S3").unwrap().descr(), "|S3");
        assert_eq!(Dtype::parse("<M8[ns]").unwrap().descr(), "<M8[ns]");
        assert_eq!(Dtype::parse("<f16").unwrap().itemsize(), Some(16));
        assert_eq!(Dtype::parse("<f3"), None);
        assert_eq!(Dtype::parse("<M8[xx]"), None);
        assert_eq!(Dtype::parse(""), None);
    }

    #[test]
    fn npbool_truth_is_nonzero() {
        assert!(!NpBool(0).get());
        assert!(NpBool(1).get());
        assert!(NpBool(0xff).get());
    }
}
