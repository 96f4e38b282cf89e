//! The `.npy` header: a parser that accepts exactly the headers `numpy.load`
//! accepts, and a writer that matches `numpy.save` byte for byte.
//!
//! numpy reads the header text with Python's `ast.literal_eval`, so the
//! header is a Python literal: a dict with the keys `descr`, `fortran_order`
//! and `shape`, in any order, with any quoting, spacing, comments, line
//! continuations and grouping parentheses Python allows, later duplicate keys
//! winning. In versions 1.0 and 2.0 numpy also retries a header that fails to
//! parse after re-tokenizing it, which drops Python 2 `L` suffixes after
//! numbers and a last line of only blanks; version 3.0 does not. `descr` is
//! read as `numpy.dtype` reads it: type codes with or without byte order
//! (`<f4`, `f`, `=i8`, `?`), sized codes (`S5`, `<U3`, `V8`), datetimes
//! (`<M8[ns]`), numpy's type names (`float32`, `int`), structured record lists
//! and `(base, shape)` subarrays. The dimensions are checked as
//! `numpy.load(..., mmap_mode='r')` checks them when it builds the array.
//!
//! The parser mirrors numpy 2.2 on a 64-bit little-endian Linux machine,
//! with these known differences, each refused here where numpy accepts:
//! `\N{name}` escapes in strings (they need Unicode's name table), numpy's
//! comma-string dtype language (`'f4,i4'`, `'2f4'`, `'(2,)f4'`, `'()f4'`),
//! datetime unit divisors (`'M8[s/2]'`), record fields whose third item is a
//! dtype to view the field as rather than a shape (`('a', '<i4', '<f4')`), and
//! zero-size dtypes (`S0`, `V0`, ...) with more elements than `usize` counts.
//! numpy never writes any of these.
//!
//! ```
//! use onedata::npy::{Header, Dtype, ElementKind};
//!
//! let header = Header::new(Dtype::native(ElementKind::F32), false, &[3, 4]);
//! let bytes = header.to_bytes();
//! assert_eq!(bytes.len() % 64, 0);
//! // As numpy.save writes it: the dict, spaces to a multiple of 64 bytes, a newline.
//! let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
//! assert_eq!(&bytes[10..], format!("{dict}{}\n", " ".repeat(58)).as_bytes());
//!
//! let parsed = Header::parse(&bytes).unwrap();
//! assert_eq!(parsed.shape(), &[3, 4]);
//! assert_eq!(parsed.data_offset(), 128);
//! ```

// The general parser reads the header text as a Python literal (`literal`),
// then its `descr` as numpy reads a dtype (`descr`).
mod descr;
mod literal;

use std::borrow::Cow;

use smallvec::SmallVec;

use super::dtype::Dtype;
use crate::error::HeaderError;
pub(crate) use descr::record_fields;
use descr::{descr_from_str, descr_info, DescrKind};
use literal::{Int, Parser, Value};

/// The magic string that opens every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// numpy aligns the start of the data to this many bytes.
pub const ARRAY_ALIGN: usize = 64;

/// numpy refuses headers longer than this many characters by default.
pub const MAX_HEADER_CHARS: usize = 10_000;

/// numpy's maximum number of dimensions.
pub const MAX_DIMS: usize = 64;

/// numpy leaves room for the growth axis to reach this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// An array shape: inline for up to four dimensions.
pub type Shape = SmallVec<[usize; 4]>;

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    version: (u8, u8),
    dtype: Dtype,
    fortran_order: bool,
    shape: Shape,
    data_offset: usize,
    num_elements: usize,
}

impl Header {
    /// A header for an array of `dtype` with `shape`, in the version
    /// `numpy.save` would choose: 1.0 unless the header needs a longer
    /// length field (2.0) or characters beyond latin-1 (3.0).
    pub fn new(dtype: Dtype, fortran_order: bool, shape: &[usize]) -> Header {
        let mut header = Header {
            version: (1, 0),
            dtype,
            fortran_order,
            shape: shape.iter().copied().collect(),
            data_offset: 0,
            num_elements: shape.iter().fold(1usize, |a, &d| a.saturating_mul(d)),
        };
        let (text, latin1) = header.encoded_dict();
        header.version = if !latin1 {
            (3, 0)
        } else if wrapped_len((1, 0), text.len()) - 10 <= u16::MAX as usize {
            (1, 0)
        } else {
            (2, 0)
        };
        header.data_offset = wrapped_len(header.version, text.len());
        header
    }

    /// The format version, `(1, 0)`, `(2, 0)` or `(3, 0)`.
    pub fn version(&self) -> (u8, u8) {
        self.version
    }

    /// The element type.
    pub fn dtype(&self) -> &Dtype {
        &self.dtype
    }

    /// Whether the data is in Fortran (column-major) order.
    pub fn fortran_order(&self) -> bool {
        self.fortran_order
    }

    /// The array shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Where the data starts: the length of magic, version, length field and header text.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// The number of elements (the product of the shape).
    pub fn num_elements(&self) -> usize {
        self.num_elements
    }

    /// The number of data bytes the header promises, where the dtype tells it
    /// (`None` for object arrays, whose data is a pickle, and for records
    /// that hold objects).
    pub fn data_len(&self) -> Option<usize> {
        // Cannot overflow: checked when the header was parsed.
        self.dtype
            .itemsize()
            .and_then(|size| self.num_elements.checked_mul(size))
    }

    /// How many bytes of the file's start are needed to parse the header,
    /// read from its first 12 bytes (fewer may suffice to refuse it).
    pub fn required_len(prefix: &[u8]) -> Result<usize, HeaderError> {
        let (_, len_size) = preamble(prefix)?;
        let len_bytes = prefix
            .get(8..8 + len_size)
            .ok_or(HeaderError::Eof("header length field"))?;
        let text_len = if len_size == 2 {
            u16::from_le_bytes([len_bytes[0], len_bytes[1]]) as usize
        } else {
            u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize
        };
        Ok(8 + len_size + text_len)
    }

    /// The error for a file of `file_len` bytes that starts with `prefix` (as
    /// [`Header::required_len`] reads it) and ends inside its header text:
    /// counted as numpy counts, the text the length field announces against
    /// the bytes after the length field.
    pub(crate) fn length_past_end(prefix: &[u8], file_len: u64) -> HeaderError {
        let text = preamble(prefix)
            .and_then(|(_, len_size)| Ok(8 + len_size..Header::required_len(prefix)?));
        match text {
            Ok(text) => HeaderError::LengthPastEnd {
                length: text.len() as u64,
                available: file_len.saturating_sub(text.start as u64),
                file_len,
            },
            Err(e) => e,
        }
    }

    /// Parses the header at the start of `bytes` (the file's contents, or at
    /// least its first [`Header::required_len`] bytes).
    ///
    /// Accepts what `numpy.load(path, mmap_mode='r')` accepts (see the module
    /// documentation for the few exceptions), and never panics.
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        let (version, len_size) = preamble(bytes)?;
        let total = Header::required_len(bytes)?;
        let start = 8 + len_size;
        let raw = bytes
            .get(start..total)
            .ok_or_else(|| Header::length_past_end(bytes, bytes.len() as u64))?;
        // Longer than numpy's limit whatever it decodes to (at most 4 bytes
        // per character in UTF-8): refused before a byte of it is read.
        let limit = if version.0 == 3 {
            4 * MAX_HEADER_CHARS
        } else {
            MAX_HEADER_CHARS
        };
        if raw.len() > limit {
            return Err(HeaderError::TooLarge(raw.len()));
        }
        let text = decode_text(raw, version)?;
        let chars = if version.0 == 3 {
            text.chars().count()
        } else {
            raw.len()
        };
        if chars > MAX_HEADER_CHARS {
            return Err(HeaderError::TooLarge(chars));
        }
        let fields = header_fields(&text, version.0 < 3)?;
        let overflow = || HeaderError::SizeOverflow {
            shape: fields.shape.to_vec(),
            itemsize: fields.itemsize as usize,
        };
        // numpy's limit: the byte size, counting only the non-zero
        // dimensions, must fit in `intp`.
        if fields.itemsize > 0 {
            let mut nbytes = fields.itemsize;
            for &d in fields.shape.iter().filter(|&&d| d != 0) {
                nbytes = nbytes
                    .checked_mul(d as u64)
                    .filter(|&n| n <= isize::MAX as u64)
                    .ok_or_else(overflow)?;
            }
        }
        let num_elements = fields
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(overflow)?;
        Ok(Header {
            version,
            dtype: fields.dtype,
            fortran_order: fields.fortran_order,
            shape: fields.shape,
            data_offset: total,
            num_elements,
        })
    }

    /// The header dict exactly as `numpy.save` writes it, before padding.
    fn dict_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(128);
        let fortran = if self.fortran_order { "True" } else { "False" };
        let descr = self.dtype.descr();
        // A record list is written as the list itself, every other dtype as its string.
        let quote = if is_record_text(&descr) { "" } else { "'" };
        let _ = write!(
            s,
            "{{'descr': {quote}{descr}{quote}, 'fortran_order': {fortran}, 'shape': ("
        );
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{d}");
        }
        if self.shape.len() == 1 {
            s.push(',');
        }
        s.push_str("), }");
        // Room for the growth axis to get longer in place, as numpy leaves it.
        let growth = if self.fortran_order {
            self.shape.last()
        } else {
            self.shape.first()
        };
        if let Some(d) = growth {
            let digits = d.to_string().len();
            s.extend(std::iter::repeat_n(
                ' ',
                GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits),
            ));
        }
        s
    }

    /// The dict encoded as numpy encodes it: latin-1 when it can (versions
    /// 1.0 and 2.0), UTF-8 otherwise (version 3.0). Returns whether latin-1 fit.
    fn encoded_dict(&self) -> (Vec<u8>, bool) {
        let text = self.dict_text();
        if text.chars().all(|c| (c as u32) <= 0xff) {
            (text.chars().map(|c| c as u8).collect(), true)
        } else {
            (text.into_bytes(), false)
        }
    }

    /// The header bytes exactly as `numpy.save` writes them: magic, version,
    /// length, dict, padding with spaces to a multiple of 64, newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (text, _) = self.encoded_dict();
        let total = wrapped_len(self.version, text.len());
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.push(self.version.0);
        out.push(self.version.1);
        if self.version.0 == 1 {
            let len = (total - 10) as u16;
            out.extend_from_slice(&len.to_le_bytes());
        } else {
            let len = (total - 12) as u32;
            out.extend_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(&text);
        out.resize(total - 1, b' ');
        out.push(b'\n');
        out
    }
}

/// Whether a descr is the header text of a record list (numpy also iterates
/// a dict, set or empty bytes as one) rather than a dtype string.
fn is_record_text(descr: &str) -> bool {
    let b = descr.as_bytes();
    matches!(b.first(), Some(b'[' | b'{'))
        || descr.starts_with("set")
        || (matches!(b.first(), Some(b'b' | b'B'))
            && matches!(b.get(1), Some(b'\'' | b'"' | b'r' | b'R')))
}

/// The length of magic, version, length field, text, padding and newline:
/// numpy pads with at least one space, to a multiple of 64 bytes.
fn wrapped_len(version: (u8, u8), text_len: usize) -> usize {
    let prefix = if version.0 == 1 { 10 } else { 12 };
    let unpadded = prefix + text_len + 1;
    unpadded + ARRAY_ALIGN - unpadded % ARRAY_ALIGN
}

/// Checks magic and version; returns the version and the size of the length field.
fn preamble(bytes: &[u8]) -> Result<((u8, u8), usize), HeaderError> {
    let n = bytes.len().min(6);
    if bytes[..n] != MAGIC[..n] {
        return Err(HeaderError::BadMagic);
    }
    let v = bytes.get(6..8).ok_or(HeaderError::Eof("magic string"))?;
    match (v[0], v[1]) {
        (1, 0) => Ok(((1, 0), 2)),
        (2, 0) => Ok(((2, 0), 4)),
        (3, 0) => Ok(((3, 0), 4)),
        (major, minor) => Err(HeaderError::UnsupportedVersion { major, minor }),
    }
}

/// The header text: latin-1 in versions 1.0 and 2.0, UTF-8 in 3.0.
fn decode_text(raw: &[u8], version: (u8, u8)) -> Result<Cow<'_, str>, HeaderError> {
    match std::str::from_utf8(raw) {
        Ok(s) if version.0 == 3 || s.is_ascii() => Ok(Cow::Borrowed(s)),
        _ if version.0 == 3 => Err(HeaderError::Encoding("UTF-8")),
        _ => Ok(Cow::Owned(raw.iter().map(|&b| b as char).collect())),
    }
}

/// The three values of a header, checked as numpy checks them.
#[derive(Debug, PartialEq)]
struct Fields {
    dtype: Dtype,
    /// numpy's itemsize (8 for objects), for the size checks.
    itemsize: u64,
    fortran_order: bool,
    shape: Shape,
}

fn header_fields(text: &str, python2: bool) -> Result<Fields, HeaderError> {
    // `contains` is a memchr; the position is looked for only on a hit.
    if let Some(offset) = text
        .as_bytes()
        .contains(&0)
        .then(|| text.bytes().position(|b| b == 0))
        .flatten()
    {
        return Err(HeaderError::Syntax {
            offset,
            what: "NUL character (Python source cannot contain one)",
        });
    }
    match numpy_layout(text) {
        Some(fields) => Ok(fields),
        None => general_fields(text, python2),
    }
}

/// The header fields read by the general parser.
fn general_fields(text: &str, python2: bool) -> Result<Fields, HeaderError> {
    let entries = Parser::new(text, python2).header()?;
    // As in a Python dict, a later duplicate key replaces the earlier value.
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for entry in &entries {
        let slot = match &entry.key {
            Value::Str(key) if key == "descr" => &mut descr,
            Value::Str(key) if key == "fortran_order" => &mut fortran,
            Value::Str(key) if key == "shape" => &mut shape,
            Value::Str(key) => return Err(HeaderError::UnexpectedKey(key.to_string())),
            other => return Err(HeaderError::UnexpectedKey(other.describe())),
        };
        *slot = Some(entry);
    }
    let descr = descr.ok_or(HeaderError::MissingKey("descr"))?;
    let fortran = fortran.ok_or(HeaderError::MissingKey("fortran_order"))?;
    let shape = shape.ok_or(HeaderError::MissingKey("shape"))?;

    // numpy's header checks, in its order: shape, fortran_order, descr.
    let dims = match &shape.value {
        Value::Tuple(items)
            if items
                .iter()
                .all(|v| matches!(v, Value::Int(_) | Value::Bool(_))) =>
        {
            items
        }
        _ => return Err(HeaderError::ShapeNotTuple),
    };
    let fortran_order = match fortran.value {
        Value::Bool(b) => b,
        _ => return Err(HeaderError::FortranOrderNotBool),
    };
    let unknown = || {
        HeaderError::UnknownDescr(match &descr.value {
            Value::Str(s) => s.to_string(),
            _ => text[descr.span.clone()].to_string(),
        })
    };
    let info = descr_info(&descr.value).ok_or_else(unknown)?;

    // What the array itself checks (np.memmap, np.ndarray).
    let ndim = dims.len() + info.sub_ndim;
    if ndim > MAX_DIMS {
        return Err(HeaderError::TooManyDimensions(ndim));
    }
    let mut shape = Shape::with_capacity(dims.len());
    for d in dims {
        match d {
            // isinstance(True, int) passes the header check, but no array has a bool dimension.
            Value::Int(Int { neg: true, mag }) => {
                return Err(HeaderError::NegativeDimension(
                    mag.map_or(i128::MIN, |m| -(m as i128)),
                ))
            }
            Value::Int(Int {
                neg: false,
                mag: Some(m),
            }) if *m <= isize::MAX as u64 => shape.push(*m as usize),
            Value::Int(_) => return Err(HeaderError::DimensionTooLarge),
            _ => return Err(HeaderError::ShapeNotTuple),
        }
    }
    let dtype = match info.kind {
        DescrKind::Plain(dtype) => dtype,
        DescrKind::Subarray => Dtype::Other {
            descr: format!("|V{}", info.itemsize),
            itemsize: (!info.object).then_some(info.itemsize as usize),
        },
        DescrKind::Structured => Dtype::Other {
            descr: text[descr.span.clone()].to_string(),
            itemsize: (!info.object).then_some(info.itemsize as usize),
        },
    };
    Ok(Fields {
        dtype,
        itemsize: info.itemsize,
        fortran_order,
        shape,
    })
}

/// The fast path: a header laid out exactly as `numpy.save` writes it,
/// read without allocating (for numeric dtypes). Anything else, every error
/// included, is left to the general parser, which reads these headers the
/// same way (checked by a unit test).
fn numpy_layout(text: &str) -> Option<Fields> {
    let rest = text.strip_prefix("{'descr': '")?;
    let end = rest.find('\'')?;
    let descr = &rest[..end];
    // No escapes, and nothing that would end the string early.
    if descr.contains(['\\', '\n', '\r']) {
        return None;
    }
    let rest = rest[end..].strip_prefix("', 'fortran_order': ")?;
    let (fortran_order, rest) = match rest.strip_prefix("False") {
        Some(rest) => (false, rest),
        None => (true, rest.strip_prefix("True")?),
    };
    let mut rest = rest.strip_prefix(", 'shape': (")?.as_bytes();
    let mut shape = Shape::new();
    while rest.first() != Some(&b')') {
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || (digits > 1 && rest[0] == b'0') || shape.len() == MAX_DIMS {
            return None;
        }
        let mut d = 0usize;
        for &c in &rest[..digits] {
            d = d.checked_mul(10)?.checked_add((c - b'0') as usize)?;
        }
        if d > isize::MAX as usize {
            return None;
        }
        shape.push(d);
        rest = &rest[digits..];
        // numpy writes `(3,)`, `(3, 4)`, `()`.
        if shape.len() == 1 && rest.starts_with(b",)") {
            rest = &rest[1..];
        } else if rest.starts_with(b", ") {
            rest = &rest[2..];
        } else if rest.first() != Some(&b')') || shape.len() == 1 {
            return None;
        }
    }
    // Spaces, then one newline (all compared at once, which vectorizes).
    let padding = rest.strip_prefix(b"), }")?.strip_suffix(b"\n")?;
    if !padding.iter().fold(true, |all, &c| all & (c == b' ')) {
        return None;
    }
    let info = descr_from_str(descr)?;
    match info.kind {
        DescrKind::Plain(dtype) => Some(Fields {
            dtype,
            itemsize: info.itemsize,
            fortran_order,
            shape,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::dtype::{ByteOrder, ElementKind};

    fn wrap(dict: &str) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v
    }

    /// Parses a version 1.0 header around `dict`.
    pub(super) fn parse(dict: &str) -> Result<Header, HeaderError> {
        Header::parse(&wrap(dict))
    }

    #[test]
    fn parses_numpy_header() {
        let h = parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }    \n").unwrap();
        assert_eq!(h.shape(), &[3, 4]);
        assert!(!h.fortran_order());
        assert_eq!(h.dtype().descr(), "<f4");
        assert_eq!(h.data_len(), Some(48));
    }

    #[test]
    fn truncated_header_is_counted_as_numpy_counts() {
        // numpy.save of a (3, 4) float32 array, cut to 100 bytes. numpy says
        // "EOF: reading array header, expected 118 bytes got 90": the text
        // after the 2-byte length field of version 1.0 (4 bytes in 2.0 and 3.0).
        let v1 = Header::new(Dtype::native(ElementKind::F32), false, &[3, 4]).to_bytes();
        assert_eq!((v1.len(), v1[6]), (128, 1));
        let err = Header::parse(&v1[..100]).unwrap_err();
        assert_eq!(
            err,
            HeaderError::LengthPastEnd {
                length: 118,
                available: 90,
                file_len: 100
            }
        );
        assert_eq!(
            err.to_string(),
            "header is truncated: expected 118 bytes, got 90 (the file has 100 bytes)"
        );
        // Version 2.0 of the same header: "expected 116 bytes got 88".
        let mut v2 = MAGIC.to_vec();
        v2.extend_from_slice(&[2, 0]);
        v2.extend_from_slice(&116u32.to_le_bytes());
        v2.extend_from_slice(&v1[10..98]);
        assert_eq!(
            Header::parse(&v2).unwrap_err().to_string(),
            "header is truncated: expected 116 bytes, got 88 (the file has 100 bytes)"
        );
        // Measured from the first bytes only, for a file of a known length.
        assert_eq!(Header::length_past_end(&v1[..12], 100), err);
    }

    #[test]
    fn refuses_bad_shapes() {
        let base = |shape: &str| {
            parse(&format!(
                "{{'descr':'<f8','fortran_order':False,'shape':{shape}}}"
            ))
        };
        assert_eq!(base("[3]"), Err(HeaderError::ShapeNotTuple));
        assert_eq!(base("(3)"), Err(HeaderError::ShapeNotTuple));
        assert_eq!(base("(3.0,)"), Err(HeaderError::ShapeNotTuple));
        assert_eq!(base("(True,)"), Err(HeaderError::ShapeNotTuple));
        assert_eq!(base("(-3,)"), Err(HeaderError::NegativeDimension(-3)));
        assert_eq!(
            base("(99999999999999999999999,)"),
            Err(HeaderError::DimensionTooLarge)
        );
        assert!(matches!(
            base("(4294967296, 4294967296)"),
            Err(HeaderError::SizeOverflow { .. })
        ));
        assert!(matches!(
            base("(0, 4294967296, 4294967296)"),
            Err(HeaderError::SizeOverflow { .. })
        ));
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(
            parse("{'descr':'<f8','shape':()}"),
            Err(HeaderError::MissingKey("fortran_order"))
        );
        assert_eq!(
            parse("{'descr':'<f8','fortran_order':False,'shape':(),'x':1}"),
            Err(HeaderError::UnexpectedKey("x".into()))
        );
        assert_eq!(
            parse("{'descr':'<f8','fortran_order':0,'shape':()}"),
            Err(HeaderError::FortranOrderNotBool)
        );
        // The last of duplicate keys wins, as in a Python dict.
        assert!(parse("{'descr':'<f8','fortran_order':0,'shape':(),'fortran_order':True}").is_ok());
    }

    #[test]
    fn fast_path_agrees_with_the_parser() {
        let mut texts = Vec::new();
        for kind in ElementKind::ALL {
            for order in [ByteOrder::Little, ByteOrder::Big] {
                for (fortran, shape) in [
                    (false, &[][..]),
                    (true, &[7][..]),
                    (false, &[3, 0, 12345678901234][..]),
                    (true, &[1; 64][..]),
                ] {
                    let h = Header::new(Dtype::Numeric { kind, order }, fortran, shape);
                    let bytes = h.to_bytes();
                    texts.push(String::from_utf8(bytes[10..].to_vec()).unwrap());
                }
            }
        }
        let d = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }   \n";
        for (from, to) in [
            ("(3, 4)", "(3)"),
            ("(3, 4)", "(3,)"),
            ("(3, 4)", "(03, 4)"),
            ("(3, 4)", "(3, 4,)"),
            ("(3, 4)", "(3, )"),
            ("(3, 4)", "( 3, 4)"),
            ("(3, 4)", "(3,4)"),
            ("(3, 4)", "(99999999999999999999, 4)"),
            ("(3, 4)", "(9223372036854775808, 4)"),
            ("(3, 4)", "(0, 9223372036854775807)"),
            ("(3, 4)", "()"),
            ("'<f8'", "'<f\\x38'"),
            ("'<f8'", "'<f8\r'"),
            ("'<f8'", "'f4,i4'"),
            ("'<f8'", "'<U0'"),
            ("'<f8'", "'<f3'"),
            ("False", "True"),
            ("False", "false"),
            ("   \n", "\n"),
            ("   \n", "   "),
            ("   \n", "\n\n"),
            ("   \n", "  \t\n"),
        ] {
            texts.push(d.replace(from, to));
        }
        texts.push(d.replace("(3, 4)", &format!("({})", ["1"; 65].join(", "))));
        for text in &texts {
            let fast = numpy_layout(text);
            for python2 in [false, true] {
                let general = general_fields(text, python2).ok();
                if let Some(fast) = &fast {
                    assert_eq!(Some(fast), general.as_ref(), "{text:?}");
                }
            }
        }
        // The numpy layouts take the fast path.
        assert!(texts[..ElementKind::ALL.len() * 8]
            .iter()
            .all(|t| numpy_layout(t).is_some()));
    }
}
