//! The `.npy` header: a fast parser and a writer that matches `numpy.save`
//! byte for byte.
//!
//! The parser accepts the header dialect `numpy.load` accepts (a Python
//! literal dict with keys `descr`, `fortran_order` and `shape`, in any order,
//! any quoting and spacing, Python 2 `L` suffixes in versions 1.0 and 2.0) and
//! refuses what it refuses, with a [`HeaderError`] naming the fault. It does
//! not allocate for the dtypes onedata loads and shapes of up to four
//! dimensions.
//!
//! ```
//! use onedata::npy::{Header, Dtype, ElementKind};
//!
//! let header = Header::new(Dtype::native(ElementKind::F32), false, &[3, 4]);
//! let bytes = header.to_bytes();
//! assert_eq!(bytes.len() % 64, 0);
//! assert_eq!(&bytes[10..], &b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }                                                    \n"[..]);
//!
//! let parsed = Header::parse(&bytes).unwrap();
//! assert_eq!(parsed.shape(), &[3, 4]);
//! assert_eq!(parsed.data_offset(), 128);
//! ```

use smallvec::SmallVec;

use super::dtype::Dtype;
use crate::error::HeaderError;

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

/// Deepest nesting of brackets accepted in a header value.
const MAX_NESTING: usize = 32;

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
    /// `numpy.save` would choose (1.0 unless the header needs more room).
    pub fn new(dtype: Dtype, fortran_order: bool, shape: &[usize]) -> Header {
        let mut header = Header {
            version: (1, 0),
            dtype,
            fortran_order,
            shape: shape.iter().copied().collect(),
            data_offset: 0,
            num_elements: shape.iter().product(),
        };
        let text_len = header.dict_text().len();
        header.version = if text_len + 1 + 10 <= u16::MAX as usize {
            (1, 0)
        } else {
            (2, 0)
        };
        header.data_offset = header.wrapped_len(text_len);
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
    /// (`None` for object arrays, whose data is a pickle, and structured records).
    pub fn data_len(&self) -> Option<usize> {
        // Cannot overflow: checked when the header was parsed or built.
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

    /// Parses the header at the start of `bytes` (the file's contents, or at
    /// least its first [`Header::required_len`] bytes).
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        let (version, len_size) = preamble(bytes)?;
        let total = Header::required_len(bytes)?;
        let start = 8 + len_size;
        let text = bytes.get(start..total).ok_or(HeaderError::LengthPastEnd {
            length: (total - start) as u64,
            available: bytes.len().saturating_sub(start) as u64,
        })?;
        let chars = if version.0 == 3 {
            std::str::from_utf8(text)
                .map_err(|_| HeaderError::Encoding("UTF-8"))?
                .chars()
                .count()
        } else {
            text.len()
        };
        if chars > MAX_HEADER_CHARS {
            return Err(HeaderError::TooLarge(chars));
        }
        let dict = Parser::new(text, version.0 < 3).header_dict()?;
        let num_elements = dict
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let overflow = || HeaderError::SizeOverflow {
            shape: dict.shape.to_vec(),
            itemsize: dict.dtype.itemsize().unwrap_or(0),
        };
        let num_elements = num_elements.ok_or_else(overflow)?;
        let itemsize = dict.dtype.itemsize().unwrap_or(1);
        // numpy refuses arrays whose byte size exceeds isize::MAX.
        match num_elements.checked_mul(itemsize) {
            Some(n) if n <= isize::MAX as usize => {}
            _ => return Err(overflow()),
        }
        Ok(Header {
            version,
            dtype: dict.dtype,
            fortran_order: dict.fortran_order,
            shape: dict.shape,
            data_offset: total,
            num_elements,
        })
    }

    /// The header dict exactly as `numpy.save` writes it, before padding.
    fn dict_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(128);
        let fortran = if self.fortran_order { "True" } else { "False" };
        let _ = write!(
            s,
            "{{'descr': '{}', 'fortran_order': {fortran}, 'shape': (",
            self.dtype
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

    fn wrapped_len(&self, text_len: usize) -> usize {
        let prefix = if self.version.0 == 1 { 10 } else { 12 };
        let unpadded = prefix + text_len + 1;
        let pad = ARRAY_ALIGN - unpadded % ARRAY_ALIGN;
        unpadded + pad
    }

    /// The header bytes exactly as `numpy.save` writes them: magic, version,
    /// length, dict, padding with spaces to a multiple of 64, newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let text = self.dict_text();
        let total = self.wrapped_len(text.len());
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
        out.extend_from_slice(text.as_bytes());
        out.resize(total - 1, b' ');
        out.push(b'\n');
        out
    }
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

struct HeaderDict {
    dtype: Dtype,
    fortran_order: bool,
    shape: Shape,
}

/// A recursive-descent reader for the Python literal subset of `.npy` headers.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    /// Python 2 `L` suffixes allowed (versions 1.0 and 2.0, as numpy filters them).
    long_suffix: bool,
}

/// A string literal's body, with whether it held escapes or a bytes prefix.
struct Str<'a> {
    body: &'a [u8],
    plain: bool,
}

impl<'a> Parser<'a> {
    fn new(s: &'a [u8], long_suffix: bool) -> Self {
        Parser {
            s,
            pos: 0,
            long_suffix,
        }
    }

    fn err(&self, what: &'static str) -> HeaderError {
        HeaderError::Syntax {
            offset: self.pos,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips Python whitespace inside brackets, comments and line continuations.
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.pos += 1,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' || c == b'\r' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                b'\\' if matches!(self.s.get(self.pos + 1), Some(b'\n')) => self.pos += 2,
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn header_dict(&mut self) -> Result<HeaderDict, HeaderError> {
        self.ws();
        if !self.eat(b'{') {
            return Err(self.err("expected '{' opening the header dict"));
        }
        let mut descr: Option<Dtype> = None;
        let mut fortran: Option<bool> = None;
        let mut shape: Option<Shape> = None;
        loop {
            self.ws();
            if self.eat(b'}') {
                break;
            }
            let key = self.string()?;
            self.ws();
            if !self.eat(b':') {
                return Err(self.err("expected ':' after a key"));
            }
            self.ws();
            match (key.plain, key.body) {
                (true, b"descr") => descr = Some(self.descr()?),
                (true, b"fortran_order") => fortran = Some(self.fortran_order()?),
                (true, b"shape") => shape = Some(self.shape()?),
                _ => {
                    return Err(HeaderError::UnexpectedKey(
                        String::from_utf8_lossy(key.body).into_owned(),
                    ));
                }
            }
            self.ws();
            if self.eat(b',') {
                continue;
            }
            self.ws();
            if self.eat(b'}') {
                break;
            }
            return Err(self.err("expected ',' or '}' after a value"));
        }
        self.ws();
        if self.pos != self.s.len() {
            return Err(self.err("unexpected text after the header dict"));
        }
        Ok(HeaderDict {
            dtype: descr.ok_or(HeaderError::MissingKey("descr"))?,
            fortran_order: fortran.ok_or(HeaderError::MissingKey("fortran_order"))?,
            shape: shape.ok_or(HeaderError::MissingKey("shape"))?,
        })
    }

    /// A string literal: optional `u`/`r`/`b` prefix, single or double quotes.
    fn string(&mut self) -> Result<Str<'a>, HeaderError> {
        let mut plain = true;
        let mut prefix = 0;
        while let Some(c) = self.s.get(self.pos + prefix).copied() {
            match c {
                b'u' | b'U' | b'r' | b'R' => prefix += 1,
                b'b' | b'B' => {
                    plain = false;
                    prefix += 1
                }
                _ => break,
            }
            if prefix > 2 {
                break;
            }
        }
        let quote = match self.s.get(self.pos + prefix) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a string")),
        };
        self.pos += prefix + 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some(b'\n') | Some(b'\r') => {
                    return Err(self.err("unterminated string"));
                }
                Some(b'\\') => {
                    plain = false;
                    self.pos += 2;
                }
                Some(c) if c == quote => break,
                Some(_) => self.pos += 1,
            }
        }
        let body = &self.s[start..self.pos];
        self.pos += 1;
        Ok(Str { body, plain })
    }

    fn descr(&mut self) -> Result<Dtype, HeaderError> {
        match self.peek() {
            Some(b'[') => {
                // A structured dtype: recognised, kept as text, never loaded.
                let start = self.pos;
                self.skip_value(0)?;
                let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                Ok(Dtype::Other {
                    descr: text,
                    itemsize: None,
                })
            }
            Some(b'\'' | b'"' | b'u' | b'U' | b'r' | b'R' | b'b' | b'B') => {
                let s = self.string()?;
                let text = std::str::from_utf8(s.body).ok().filter(|_| s.plain);
                text.and_then(Dtype::parse).ok_or_else(|| {
                    HeaderError::UnknownDescr(String::from_utf8_lossy(s.body).into_owned())
                })
            }
            _ => {
                let start = self.pos;
                self.skip_value(0)?;
                Err(HeaderError::UnknownDescr(
                    String::from_utf8_lossy(&self.s[start..self.pos]).into_owned(),
                ))
            }
        }
    }

    fn fortran_order(&mut self) -> Result<bool, HeaderError> {
        let start = self.pos;
        self.skip_value(0)?;
        match &self.s[start..self.pos] {
            b"True" => Ok(true),
            b"False" => Ok(false),
            _ => Err(HeaderError::FortranOrderNotBool),
        }
    }

    fn shape(&mut self) -> Result<Shape, HeaderError> {
        if self.peek() != Some(b'(') {
            self.skip_value(0)?;
            return Err(HeaderError::ShapeNotTuple);
        }
        self.pos += 1;
        let mut shape = Shape::new();
        let mut trailing_comma = false;
        let mut not_int = false;
        loop {
            self.ws();
            if self.eat(b')') {
                break;
            }
            match self.dimension()? {
                Some(d) => {
                    if shape.len() == MAX_DIMS {
                        return Err(HeaderError::TooManyDimensions(MAX_DIMS + 1));
                    }
                    shape.push(d)
                }
                None => not_int = true,
            }
            self.ws();
            trailing_comma = self.eat(b',');
            if trailing_comma {
                continue;
            }
            self.ws();
            if self.eat(b')') {
                break;
            }
            return Err(self.err("expected ',' or ')' in the shape"));
        }
        // `(3)` is the integer 3, not a tuple.
        let count = shape.len() + not_int as usize;
        if not_int || (count == 1 && !trailing_comma) {
            return Err(HeaderError::ShapeNotTuple);
        }
        Ok(shape)
    }

    /// One shape element: `Some(dim)` for an integer (or bool, which Python
    /// counts as one), `None` for any other literal.
    fn dimension(&mut self) -> Result<Option<usize>, HeaderError> {
        let start = self.pos;
        let mut negative = false;
        match self.peek() {
            Some(b'-') => {
                negative = true;
                self.pos += 1;
            }
            Some(b'+') => self.pos += 1,
            _ => {}
        }
        self.ws();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            _ => {
                self.pos = start;
                let value_start = self.pos;
                self.skip_value(0)?;
                return match &self.s[value_start..self.pos] {
                    b"True" => Ok(Some(1)),
                    b"False" => Ok(Some(0)),
                    _ => Ok(None),
                };
            }
        }
        let tok_start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let mut tok = &self.s[tok_start..self.pos];
        if self.long_suffix {
            if let Some(stripped) = tok.strip_suffix(b"L").or_else(|| tok.strip_suffix(b"l")) {
                tok = stripped;
            }
        }
        let value = match parse_int(tok) {
            IntLit::Int(v) => v,
            IntLit::Overflow => return Err(HeaderError::DimensionTooLarge),
            IntLit::Float => return Ok(None),
            IntLit::Invalid => return Err(self.err("malformed number in the shape")),
        };
        if negative && value != 0 {
            return Err(HeaderError::NegativeDimension(-(value as i128)));
        }
        usize::try_from(value)
            .map(Some)
            .map_err(|_| HeaderError::DimensionTooLarge)
    }

    /// Skips any Python literal, checking it is well formed.
    fn skip_value(&mut self, depth: usize) -> Result<(), HeaderError> {
        if depth > MAX_NESTING {
            return Err(self.err("values nested too deeply"));
        }
        match self.peek() {
            None => Err(self.err("expected a value")),
            Some(open @ (b'(' | b'[' | b'{')) => {
                let close = match open {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                };
                self.pos += 1;
                loop {
                    self.ws();
                    if self.eat(close) {
                        return Ok(());
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    if open == b'{' && self.eat(b':') {
                        self.ws();
                        self.skip_value(depth + 1)?;
                        self.ws();
                    }
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(close) {
                        return Ok(());
                    }
                    return Err(self.err("unbalanced brackets"));
                }
            }
            Some(b'\'' | b'"') => self.string().map(drop),
            Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'+' => {
                let start = self.pos;
                if matches!(c, b'-' | b'+') {
                    self.pos += 1;
                    self.ws();
                }
                if matches!(self.peek(), Some(b'\'' | b'"')) {
                    return Err(self.err("unexpected sign"));
                }
                let word_start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                // A prefixed string literal such as u'...'.
                if matches!(self.peek(), Some(b'\'' | b'"')) && self.pos - word_start <= 2 {
                    self.pos = word_start;
                    return self.string().map(drop);
                }
                if self.pos == start {
                    return Err(self.err("expected a value"));
                }
                Ok(())
            }
            Some(_) => Err(self.err("expected a value")),
        }
    }
}

enum IntLit {
    Int(u64),
    Overflow,
    Float,
    Invalid,
}

/// Parses a Python integer literal: decimal, `0x`, `0o` or `0b`, with `_`
/// between digits.
fn parse_int(tok: &[u8]) -> IntLit {
    let (radix, digits) = match tok {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        [b'0', b'o' | b'O', rest @ ..] => (8, rest),
        [b'0', b'b' | b'B', rest @ ..] => (2, rest),
        _ => (10, tok),
    };
    if radix == 10
        && tok
            .iter()
            .any(|&c| matches!(c, b'.' | b'e' | b'E' | b'j' | b'J'))
    {
        return IntLit::Float;
    }
    let digits = match digits {
        [b'_', rest @ ..] if radix != 10 => rest,
        d => d,
    };
    if digits.is_empty() || digits.last() == Some(&b'_') {
        return IntLit::Invalid;
    }
    // Decimal literals other than zero may not start with 0 in Python 3.
    if radix == 10 && digits[0] == b'0' && digits.iter().any(|&c| c != b'0' && c != b'_') {
        return IntLit::Invalid;
    }
    let mut value: u64 = 0;
    let mut prev_underscore = false;
    let mut overflow = false;
    for &c in digits {
        if c == b'_' {
            if prev_underscore {
                return IntLit::Invalid;
            }
            prev_underscore = true;
            continue;
        }
        prev_underscore = false;
        let d = match (c as char).to_digit(radix) {
            Some(d) => d as u64,
            None => return IntLit::Invalid,
        };
        match value
            .checked_mul(radix as u64)
            .and_then(|v| v.checked_add(d))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    if overflow {
        IntLit::Overflow
    } else {
        IntLit::Int(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(dict: &str) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v
    }

    fn parse(dict: &str) -> Result<Header, HeaderError> {
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
    fn accepts_python_dialect() {
        let h = parse("{\"shape\":(2L,3l),u'fortran_order':True,'descr':'>i8'}").unwrap();
        assert_eq!(h.shape(), &[2, 3]);
        assert!(h.fortran_order());
        assert_eq!(h.dtype().descr(), ">i8");
        assert_eq!(
            parse("{'descr':'<f8','fortran_order':False,'shape':()}")
                .unwrap()
                .shape(),
            &[] as &[usize]
        );
        assert_eq!(
            parse("{'descr':'<f8','fortran_order':False,'shape':(0x10, 1_0,)}")
                .unwrap()
                .shape(),
            &[16, 10]
        );
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
        assert_eq!(base("(-3,)"), Err(HeaderError::NegativeDimension(-3)));
        assert_eq!(
            base("(99999999999999999999999,)"),
            Err(HeaderError::DimensionTooLarge)
        );
        assert!(matches!(
            base("(4294967296, 4294967296)"),
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
    }
}
