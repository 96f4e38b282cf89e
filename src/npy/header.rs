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

use std::borrow::Cow;
use std::ops::Range;

use smallvec::SmallVec;

use super::dtype::{ByteOrder, Dtype, ElementKind, LONG};
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

/// Python's tokenizer refuses brackets nested deeper than this.
const MAX_NESTING: usize = 200;

/// numpy's `int`: the limit of dtype sizes, subarray dimensions and record offsets.
const C_INT_MAX: u64 = i32::MAX as u64;

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
    /// (`None` for object arrays, whose data is a pickle, and structured records).
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

    /// Parses the header at the start of `bytes` (the file's contents, or at
    /// least its first [`Header::required_len`] bytes).
    ///
    /// Accepts what `numpy.load(path, mmap_mode='r')` accepts (see the module
    /// documentation for the few exceptions), and never panics.
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        let (version, len_size) = preamble(bytes)?;
        let total = Header::required_len(bytes)?;
        let start = 8 + len_size;
        let raw = bytes.get(start..total).ok_or(HeaderError::LengthPastEnd {
            length: (total - start) as u64,
            available: bytes.len().saturating_sub(start) as u64,
        })?;
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
    if let Some(offset) = text.bytes().position(|b| b == 0) {
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
            itemsize: None,
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
    let rest = rest.strip_prefix(b"), }")?;
    let padding = rest.iter().take_while(|&&c| c == b' ').count();
    if &rest[padding..] != b"\n" {
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

// ---------------------------------------------------------------------------
// The Python literal parser.

/// A Python integer: sign and magnitude (`None` when beyond `u64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Int {
    neg: bool,
    mag: Option<u64>,
}

/// A Python literal value, as far as the header checks need it.
#[derive(Debug, Clone)]
enum Value<'a> {
    Str(Cow<'a, str>),
    /// A bytes literal, by its length.
    Bytes(usize),
    Int(Int),
    Bool(bool),
    Float,
    Complex,
    None,
    Ellipsis,
    Tuple(Vec<Value<'a>>),
    List(Vec<Value<'a>>),
    Dict(Vec<Entry<'a>>),
    Set(Vec<Value<'a>>),
}

/// A dict entry, with where its value is in the header text (inside any
/// grouping parentheses).
#[derive(Debug, Clone)]
struct Entry<'a> {
    key: Value<'a>,
    value: Value<'a>,
    span: Range<usize>,
}

impl Value<'_> {
    fn hashable(&self) -> bool {
        match self {
            Value::Tuple(items) => items.iter().all(Value::hashable),
            Value::List(_) | Value::Dict(_) | Value::Set(_) => false,
            _ => true,
        }
    }

    /// A short description for error messages.
    fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            Value::Bytes(_) => "bytes".into(),
            Value::Int(Int { neg, mag: Some(m) }) => {
                format!("{}{m}", if *neg { "-" } else { "" })
            }
            Value::Int(_) => "int".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Float => "float".into(),
            Value::Complex => "complex".into(),
            Value::None => "None".into(),
            Value::Ellipsis => "Ellipsis".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Set(_) => "set".into(),
        }
    }
}

/// What kind of expression produced a value: `ast.literal_eval` allows a
/// sign only on a number constant, and `a + bj` only for a signed or plain
/// real number `a` and an imaginary constant `bj`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Constant,
    Signed,
    Other,
}

/// A recursive-descent reader of the Python literals `ast.literal_eval` accepts.
struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    pos: usize,
    /// numpy's Python 2 fallback applies (versions 1.0 and 2.0).
    python2: bool,
    depth: usize,
    /// Where the last value read is, without grouping parentheses.
    last_span: Range<usize>,
    /// Whether the last newline read was `\n` or `\r\n`, not a lone `\r`.
    last_newline_lf: bool,
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn is_string_prefix(word: &[u8]) -> bool {
    let lower: SmallVec<[u8; 2]> = word.iter().map(u8::to_ascii_lowercase).collect();
    matches!(
        &lower[..],
        b"" | b"r" | b"u" | b"b" | b"br" | b"rb" | b"f" | b"fr" | b"rf"
    )
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, python2: bool) -> Self {
        Parser {
            text,
            s: text.as_bytes(),
            pos: 0,
            python2,
            depth: 0,
            last_span: 0..0,
            last_newline_lf: false,
        }
    }

    fn err_at(offset: usize, what: &'static str) -> HeaderError {
        HeaderError::Syntax { offset, what }
    }

    fn err(&self, what: &'static str) -> HeaderError {
        Self::err_at(self.pos, what)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The whole header: one expression that must be a dict, with the
    /// line and indentation rules of Python's tokenizer around it.
    fn header(&mut self) -> Result<Vec<Entry<'a>>, HeaderError> {
        // ast.literal_eval strips leading spaces and tabs.
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.line_start()?;
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{' | b'(') => self.atom()?.0,
            None => return Err(self.err("empty header")),
            Some(_) => return Err(self.err("the header is not a dict")),
        };
        self.tail()?;
        match value {
            Value::Dict(entries) => Ok(entries),
            _ => Err(Self::err_at(start, "the header is not a dict")),
        }
    }

    /// Skips blank and comment lines at the start of a line outside
    /// brackets, and refuses an indented line as Python's tokenizer does.
    fn line_start(&mut self) -> Result<(), HeaderError> {
        loop {
            let (mut col, mut cont_col, mut continued) = (0usize, 0usize, false);
            loop {
                match self.peek() {
                    Some(b' ' | b'\t') => {
                        col += 1;
                        self.pos += 1;
                    }
                    Some(b'\x0c') => {
                        col = 0;
                        self.pos += 1;
                    }
                    Some(b'\\') => {
                        // The indentation is the column of the first continuation.
                        if cont_col == 0 {
                            cont_col = col;
                        }
                        continued = true;
                        self.continuation()?;
                    }
                    _ => break,
                }
            }
            match self.peek() {
                Some(b'#') => {
                    self.comment();
                    if self.peek().is_none() {
                        return Ok(());
                    }
                    self.newline();
                }
                Some(b'\n' | b'\r') => self.newline(),
                next => {
                    let indent = if cont_col != 0 { cont_col } else { col };
                    // numpy's Python 2 fallback re-tokenizes the header,
                    // which drops a last line of only blanks (its lines end
                    // at `\n` only).
                    let dropped =
                        next.is_none() && self.python2 && !continued && self.last_newline_lf;
                    if indent > 0 && !dropped {
                        return Err(self.err("unexpected indent"));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// After the dict: blanks, comments and empty lines only.
    fn tail(&mut self) -> Result<(), HeaderError> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(b' ' | b'\t' | b'\x0c') => self.pos += 1,
                Some(b'#') => self.comment(),
                Some(b'\\') => self.continuation()?,
                Some(b'\n' | b'\r') => {
                    self.newline();
                    self.line_start()?;
                    if self.peek().is_some() {
                        return Err(self.err("unexpected text after the header dict"));
                    }
                }
                Some(_) => return Err(self.err("unexpected text after the header dict")),
            }
        }
    }

    fn comment(&mut self) {
        while !matches!(self.peek(), None | Some(b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn newline(&mut self) {
        self.eat(b'\r');
        self.last_newline_lf = self.eat(b'\n');
    }

    /// A backslash that joins two lines; it must end its line and not the header.
    fn continuation(&mut self) -> Result<(), HeaderError> {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(b'\n' | b'\r') => self.newline(),
            _ => {
                return Err(Self::err_at(
                    start,
                    "unexpected character after line continuation character",
                ))
            }
        }
        if self.peek().is_none() {
            return Err(Self::err_at(start, "header ends after a line continuation"));
        }
        Ok(())
    }

    /// Whitespace inside brackets: newlines, comments and continuations too.
    fn ws(&mut self) -> Result<(), HeaderError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\x0c' | b'\n' | b'\r') => self.pos += 1,
                Some(b'#') => self.comment(),
                Some(b'\\') => self.continuation()?,
                _ => return Ok(()),
            }
        }
    }

    fn open(&mut self) -> Result<(), HeaderError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err("too many nested brackets"));
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    /// Consumes the closing bracket `close` if it is next.
    fn close(&mut self, close: u8) -> bool {
        let closed = self.eat(close);
        if closed {
            self.depth -= 1;
        }
        closed
    }

    /// An expression: a signed value, or `real ± imaginary`.
    fn expr(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let (left, node) = self.unary()?;
        let save = self.pos;
        self.ws()?;
        if !matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos = save;
            return Ok((left, node));
        }
        self.pos += 1;
        self.ws()?;
        let start = self.pos;
        let (right, right_node) = self.unary()?;
        let left_ok = matches!(node, Node::Constant | Node::Signed)
            && matches!(left, Value::Int(_) | Value::Float);
        let right_ok = right_node == Node::Constant && matches!(right, Value::Complex);
        if left_ok && right_ok {
            Ok((Value::Complex, Node::Other))
        } else {
            Err(Self::err_at(
                start,
                "only a real number plus or minus an imaginary one is a literal sum",
            ))
        }
    }

    /// A value with optional signs; literal_eval allows one, on a number.
    fn unary(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let start = self.pos;
        let (mut signs, mut neg) = (0usize, false);
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            signs += 1;
            neg ^= c == b'-';
            self.pos += 1;
            self.ws()?;
        }
        let (value, node) = self.atom()?;
        if signs == 0 {
            return Ok((value, node));
        }
        let number = matches!(value, Value::Int(_) | Value::Float | Value::Complex);
        if signs > 1 || node != Node::Constant || !number {
            return Err(Self::err_at(start, "a sign applies only to a number"));
        }
        let value = match value {
            Value::Int(i) => Value::Int(Int {
                neg: neg && i.mag != Some(0),
                mag: i.mag,
            }),
            other => other,
        };
        Ok((value, Node::Signed))
    }

    fn atom(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let start = self.pos;
        let grouped = self.peek() == Some(b'(');
        let result = self.atom_inner()?;
        // A group's span is its content's, set by the inner atom.
        if !grouped || matches!(result.0, Value::Tuple(_)) {
            self.last_span = start..self.pos;
        }
        Ok(result)
    }

    fn atom_inner(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        match self.peek() {
            None => Err(self.err("expected a value")),
            Some(b'(') => {
                self.open()?;
                self.ws()?;
                if self.close(b')') {
                    return Ok((Value::Tuple(Vec::new()), Node::Other));
                }
                let (first, node) = self.expr()?;
                self.ws()?;
                if self.close(b')') {
                    // Parentheses around one value only group it.
                    return Ok((first, node));
                }
                if !self.eat(b',') {
                    return Err(self.err("expected ',' or ')'"));
                }
                let mut items = vec![first];
                self.items(b')', &mut items)?;
                Ok((Value::Tuple(items), Node::Other))
            }
            Some(b'[') => {
                self.open()?;
                let mut items = Vec::new();
                self.items(b']', &mut items)?;
                Ok((Value::List(items), Node::Other))
            }
            Some(b'{') => self.dict_or_set(),
            Some(b'\'' | b'"') => self.strings(),
            Some(c) if c.is_ascii_digit() => Ok((self.number()?, Node::Constant)),
            Some(b'.') => {
                if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                    Ok((self.number()?, Node::Constant))
                } else if self.s[self.pos..].starts_with(b"...") {
                    self.pos += 3;
                    Ok((Value::Ellipsis, Node::Constant))
                } else {
                    Err(self.err("expected a value"))
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = self.pos;
                while self.peek().is_some_and(is_ident_byte) {
                    self.pos += 1;
                }
                let word = &self.s[start..self.pos];
                if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(word) {
                    self.pos = start;
                    return self.strings();
                }
                match word {
                    b"True" => Ok((Value::Bool(true), Node::Constant)),
                    b"False" => Ok((Value::Bool(false), Node::Constant)),
                    b"None" => Ok((Value::None, Node::Constant)),
                    b"set" => {
                        // `set()`, the empty set, is the one call literal_eval allows.
                        self.ws()?;
                        if self.peek() == Some(b'(') {
                            self.open()?;
                            self.ws()?;
                            if self.close(b')') {
                                return Ok((Value::Set(Vec::new()), Node::Other));
                            }
                        }
                        Err(Self::err_at(start, "only set() is a literal call"))
                    }
                    _ => Err(Self::err_at(start, "a name is not a literal")),
                }
            }
            Some(_) => Err(self.err("expected a value")),
        }
    }

    /// The rest of a list, tuple or set up to `close`, trailing comma allowed.
    fn items(&mut self, close: u8, items: &mut Vec<Value<'a>>) -> Result<(), HeaderError> {
        loop {
            self.ws()?;
            if self.close(close) {
                return Ok(());
            }
            items.push(self.expr()?.0);
            self.ws()?;
            if self.eat(b',') {
                continue;
            }
            if self.close(close) {
                return Ok(());
            }
            return Err(self.err("expected ',' or a closing bracket"));
        }
    }

    fn dict_or_set(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        self.open()?;
        self.ws()?;
        if self.close(b'}') {
            return Ok((Value::Dict(Vec::new()), Node::Other));
        }
        let key_start = self.pos;
        let (first, _) = self.expr()?;
        self.ws()?;
        if !self.eat(b':') {
            let mut items = vec![first];
            if !self.close(b'}') {
                if !self.eat(b',') {
                    return Err(self.err("expected ',', ':' or '}'"));
                }
                self.items(b'}', &mut items)?;
            }
            if !items.iter().all(Value::hashable) {
                return Err(Self::err_at(key_start, "unhashable set element"));
            }
            return Ok((Value::Set(items), Node::Other));
        }
        let mut entries = Vec::new();
        let (mut key, mut key_start) = (first, key_start);
        loop {
            self.ws()?;
            let (value, _) = self.expr()?;
            if !key.hashable() {
                return Err(Self::err_at(key_start, "unhashable dict key"));
            }
            entries.push(Entry {
                key,
                value,
                span: self.last_span.clone(),
            });
            self.ws()?;
            if self.close(b'}') {
                break;
            }
            if !self.eat(b',') {
                return Err(self.err("expected ',' or '}' after a value"));
            }
            self.ws()?;
            if self.close(b'}') {
                break;
            }
            key_start = self.pos;
            key = self.expr()?.0;
            self.ws()?;
            if !self.eat(b':') {
                return Err(self.err("expected ':' after a key"));
            }
        }
        Ok((Value::Dict(entries), Node::Other))
    }

    /// A number literal, with Python 2 `L` suffixes where numpy drops them.
    fn number(&mut self) -> Result<Value<'a>, HeaderError> {
        let start = self.pos;
        let radix = match (self.s[start], self.peek_at(1)) {
            (b'0', Some(b'x' | b'X')) => 16,
            (b'0', Some(b'o' | b'O')) => 8,
            (b'0', Some(b'b' | b'B')) => 2,
            _ => 10,
        };
        let value = if radix != 10 {
            self.pos += 2;
            let mut acc = Some(0);
            if !self.digits(radix, true, &mut acc) {
                return Err(Self::err_at(start, "invalid integer literal"));
            }
            Value::Int(Int {
                neg: false,
                mag: acc,
            })
        } else {
            let mut acc = Some(0);
            let whole = self.digits(10, false, &mut acc);
            let int_end = self.pos;
            let mut float = false;
            if self.peek() == Some(b'.') {
                self.pos += 1;
                let fraction = self.digits(10, false, &mut None);
                if !whole && !fraction {
                    return Err(Self::err_at(start, "invalid number literal"));
                }
                float = true;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                let save = self.pos;
                self.pos += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.pos += 1;
                }
                if self.digits(10, false, &mut None) {
                    float = true;
                } else {
                    self.pos = save;
                }
            }
            if matches!(self.peek(), Some(b'j' | b'J')) {
                self.pos += 1;
                Value::Complex
            } else if float {
                Value::Float
            } else {
                let digits = &self.s[start..int_end];
                if digits[0] == b'0' && digits.iter().any(|&c| c != b'0' && c != b'_') {
                    return Err(Self::err_at(
                        start,
                        "leading zeros in a decimal integer literal",
                    ));
                }
                Value::Int(Int {
                    neg: false,
                    mag: acc,
                })
            }
        };
        if self.python2 {
            self.long_suffixes()?;
        }
        if self.peek().is_some_and(is_ident_byte) {
            return Err(Self::err_at(start, "invalid number literal"));
        }
        Ok(value)
    }

    /// `(["_"] digit)*` in `radix`, with a first `_` only if `leading_underscore`.
    /// Returns whether any digit was read; accumulates the value in `acc`.
    fn digits(&mut self, radix: u32, leading_underscore: bool, acc: &mut Option<u64>) -> bool {
        let mut any = false;
        loop {
            let underscore = self.peek() == Some(b'_') && (any || leading_underscore);
            let at = self.pos + underscore as usize;
            match self.s.get(at).and_then(|&c| (c as char).to_digit(radix)) {
                Some(d) => {
                    self.pos = at + 1;
                    any = true;
                    *acc = acc
                        .and_then(|v| v.checked_mul(radix as u64))
                        .and_then(|v| v.checked_add(d as u64));
                }
                None => return any,
            }
        }
    }

    /// numpy's Python 2 filter removes each `L` name token that follows a
    /// number token, with only blanks or line continuations in between.
    fn long_suffixes(&mut self) -> Result<(), HeaderError> {
        loop {
            let save = self.pos;
            loop {
                match self.peek() {
                    Some(b' ' | b'\t' | b'\x0c') => self.pos += 1,
                    Some(b'\\') if matches!(self.peek_at(1), Some(b'\n' | b'\r')) => {
                        self.continuation()?
                    }
                    _ => break,
                }
            }
            if self.peek() == Some(b'L') && !self.peek_at(1).is_some_and(is_ident_byte) {
                self.pos += 1;
                continue;
            }
            self.pos = save;
            return Ok(());
        }
    }

    fn at_string_start(&self) -> bool {
        let mut i = self.pos;
        while self.s.get(i).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
        }
        matches!(self.s.get(i), Some(b'\'' | b'"')) && is_string_prefix(&self.s[self.pos..i])
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let mut text: Option<Cow<'a, str>> = None;
        let mut bytes = None;
        loop {
            let start = self.pos;
            let (is_bytes, value) = self.string_literal()?;
            if bytes.is_some_and(|b| b != is_bytes) {
                return Err(Self::err_at(start, "cannot mix bytes and str literals"));
            }
            bytes = Some(is_bytes);
            text = Some(match text {
                None => value,
                Some(prev) => Cow::Owned(prev.into_owned() + &value),
            });
            let save = self.pos;
            self.ws()?;
            if !self.at_string_start() {
                self.pos = save;
                break;
            }
        }
        let text = text.unwrap_or_default();
        let value = match bytes {
            // Each char of a bytes literal's value is one byte.
            Some(true) => Value::Bytes(text.chars().count()),
            _ => Value::Str(text),
        };
        Ok((value, Node::Constant))
    }

    /// One string literal: returns whether it is bytes, and its value.
    fn string_literal(&mut self) -> Result<(bool, Cow<'a, str>), HeaderError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let prefix = &self.s[start..self.pos];
        let has = |p: u8| prefix.iter().any(|c| c.to_ascii_lowercase() == p);
        if has(b'f') {
            return Err(Self::err_at(start, "an f-string is not a literal"));
        }
        let (raw, is_bytes) = (has(b'r'), has(b'b'));
        let quote = self.s[self.pos];
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let body_start = self.pos;
        let mut plain = true;
        loop {
            match self.peek() {
                None => return Err(Self::err_at(start, "unterminated string")),
                Some(b'\\') => {
                    plain = false;
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(Self::err_at(start, "unterminated string")),
                        Some(b'\r') if self.peek_at(1) == Some(b'\n') => self.pos += 2,
                        Some(c) if is_bytes && c >= 0x80 => {
                            return Err(self.err("bytes can only contain ASCII characters"))
                        }
                        Some(_) => self.pos += 1,
                    }
                }
                Some(b'\n' | b'\r') if !triple => {
                    return Err(Self::err_at(start, "unterminated string"))
                }
                Some(b'\r') => {
                    plain = false;
                    self.pos += 1;
                }
                Some(c) if c == quote => {
                    if !triple || (self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote))
                    {
                        break;
                    }
                    self.pos += 1;
                }
                Some(c) if is_bytes && c >= 0x80 => {
                    return Err(self.err("bytes can only contain ASCII characters"))
                }
                Some(_) => self.pos += 1,
            }
        }
        let body = &self.text[body_start..self.pos];
        self.pos += if triple { 3 } else { 1 };
        let value = if plain {
            Cow::Borrowed(body)
        } else {
            Cow::Owned(unescape(body, raw, is_bytes).map_err(|what| Self::err_at(start, what))?)
        };
        Ok((is_bytes, value))
    }
}

/// The value of a string literal's body, as Python reads it (newlines
/// normalized to `\n`, escapes decoded unless `raw`).
fn unescape(body: &str, raw: bool, bytes: bool) -> Result<String, &'static str> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\\' if raw => {
                out.push('\\');
                match chars.next() {
                    Some('\r') => {
                        chars.next_if_eq(&'\n');
                        out.push('\n');
                    }
                    Some(e) => out.push(e),
                    None => {}
                }
            }
            '\\' => {
                let Some(e) = chars.next() else { break };
                let mut hex = |n: usize| -> Result<u32, &'static str> {
                    let mut v = 0;
                    for _ in 0..n {
                        let d = chars
                            .next_if(char::is_ascii_hexdigit)
                            .ok_or("truncated escape in a string")?;
                        v = v * 16 + d.to_digit(16).unwrap_or(0);
                    }
                    Ok(v)
                };
                let code = match e {
                    '\n' => continue,
                    '\r' => {
                        chars.next_if_eq(&'\n');
                        continue;
                    }
                    '\\' | '\'' | '"' => e as u32,
                    'a' => 7,
                    'b' => 8,
                    'f' => 12,
                    'n' => 10,
                    'r' => 13,
                    't' => 9,
                    'v' => 11,
                    '0'..='7' => {
                        let mut v = e as u32 - '0' as u32;
                        for _ in 0..2 {
                            match chars.next_if(|c| ('0'..='7').contains(c)) {
                                Some(d) => v = v * 8 + (d as u32 - '0' as u32),
                                None => break,
                            }
                        }
                        v
                    }
                    'x' => hex(2)?,
                    'u' if !bytes => hex(4)?,
                    'U' if !bytes => {
                        let v = hex(8)?;
                        if v > 0x10ffff {
                            return Err("illegal Unicode character in a string");
                        }
                        v
                    }
                    'N' if !bytes => {
                        return Err("\\N{name} escapes are not supported (known difference)")
                    }
                    other => {
                        // Python keeps an unknown escape as it is.
                        out.push('\\');
                        other as u32
                    }
                };
                // A lone surrogate cannot be a Rust char; it matches no key or dtype anyway.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// descr: numpy's `descr_to_dtype`.

#[derive(Debug, Clone)]
enum DescrKind {
    /// A dtype named by a string.
    Plain(Dtype),
    /// `(base, shape)`: numpy's subarray dtype.
    Subarray,
    /// A list of record fields.
    Structured,
}

#[derive(Debug, Clone)]
struct DescrInfo {
    kind: DescrKind,
    /// numpy's itemsize (8 for objects).
    itemsize: u64,
    /// Holds Python objects.
    object: bool,
    /// Dimensions the subarray adds to the array's.
    sub_ndim: usize,
}

impl DescrInfo {
    fn plain(dtype: Dtype, itemsize: u64) -> DescrInfo {
        DescrInfo {
            object: dtype == Dtype::Object,
            kind: DescrKind::Plain(dtype),
            itemsize,
            sub_ndim: 0,
        }
    }

    fn plain_descr(&self) -> Option<&str> {
        match &self.kind {
            DescrKind::Plain(Dtype::Other { descr, .. }) => Some(descr),
            _ => None,
        }
    }

    /// numpy's "unsized" flexible dtypes (`S0`, `U0`, `V0`), whose size a
    /// `(base, n)` tuple sets.
    fn is_unsized(&self) -> bool {
        self.itemsize == 0 && !matches!(self.kind, DescrKind::Structured)
    }

    /// A void dtype without fields: a record field of it named `''` is padding.
    fn is_void(&self) -> bool {
        matches!(self.kind, DescrKind::Subarray)
            || self.plain_descr().is_some_and(|d| d.starts_with("|V"))
    }
}

/// `descr_to_dtype(descr)`: a string, a `(base, shape)` tuple, or anything
/// numpy iterates as a list of record fields.
fn descr_info(value: &Value) -> Option<DescrInfo> {
    match value {
        Value::Str(s) => descr_from_str(s),
        Value::Tuple(items) if items.len() >= 2 => with_shape(descr_info(&items[0])?, &items[1]),
        Value::List(fields) | Value::Set(fields) => structured(fields.iter()),
        Value::Dict(entries) => structured(entries.iter().map(|e| &e.key)),
        // Iterating bytes gives ints, which are no fields: only b'' is a record list.
        Value::Bytes(0) => structured([].iter()),
        _ => None,
    }
}

/// numpy's record list: `(name, format)` or `(name, format, shape)` fields,
/// names unique among names and titles, `''` with a void format as padding.
fn structured<'v, 'a: 'v>(fields: impl Iterator<Item = &'v Value<'a>>) -> Option<DescrInfo> {
    let mut keys: Vec<Cow<'a, str>> = Vec::new();
    let (mut offset, mut object) = (0u64, false);
    for field in fields {
        let chars: Vec<Value<'a>>;
        let keys_of_dict: Vec<Value<'a>>;
        let items: &[Value<'a>] = match field {
            Value::Tuple(items) | Value::List(items) | Value::Set(items) => items,
            Value::Str(s) => {
                chars = s
                    .chars()
                    .map(|c| Value::Str(Cow::Owned(c.to_string())))
                    .collect();
                &chars
            }
            Value::Dict(entries) => {
                keys_of_dict = entries.iter().map(|e| e.key.clone()).collect();
                &keys_of_dict
            }
            _ => return None,
        };
        let dt = match items.len() {
            2 => descr_info(&items[1])?,
            3 => with_shape(descr_info(&items[1])?, &items[2])?,
            _ => return None,
        };
        let padding = matches!(&items[0], Value::Str(s) if s.is_empty()) && dt.is_void();
        if !padding {
            let (title, name) = match &items[0] {
                Value::Tuple(pair) if pair.len() == 2 => (Some(&pair[0]), &pair[1]),
                Value::Tuple(_) => return None,
                name => (None, name),
            };
            let Value::Str(name) = name else { return None };
            if offset > C_INT_MAX || keys.contains(name) {
                return None;
            }
            keys.push(name.clone());
            if let Some(Value::Str(title)) = title {
                if keys.contains(title) {
                    return None;
                }
                keys.push(title.clone());
            }
            object |= dt.object;
        }
        offset = offset.checked_add(dt.itemsize)?;
    }
    if offset > C_INT_MAX {
        return None;
    }
    Some(DescrInfo {
        kind: DescrKind::Structured,
        itemsize: offset,
        object,
        sub_ndim: 0,
    })
}

/// `numpy.dtype((base, val))`: a size for an unsized base, otherwise a
/// subarray shape.
fn with_shape(base: DescrInfo, val: &Value) -> Option<DescrInfo> {
    let dim = |v: &Value| match v {
        Value::Int(Int {
            neg: false,
            mag: Some(m),
        }) if *m <= C_INT_MAX => Some(*m),
        _ => None,
    };
    match val {
        Value::Int(_) => {}
        Value::Tuple(items)
            if items
                .iter()
                .all(|v| matches!(v, Value::Int(_) | Value::Bool(_))) => {}
        Value::List(items)
            if !items.is_empty() && items.iter().all(|v| matches!(v, Value::Int(_))) => {}
        // numpy would try `val` as a dtype for viewing `base` (known
        // difference) or refuse it.
        _ => return None,
    }
    if base.is_unsized() {
        let n = match val {
            Value::Int(_) => dim(val)?,
            _ => return None,
        };
        let unicode = base.plain_descr().is_some_and(|d| d[1..].starts_with('U'));
        if unicode && n > C_INT_MAX / 4 {
            return None;
        }
        let itemsize = if unicode { n * 4 } else { n };
        let kind = match base.plain_descr() {
            Some(d) => {
                let descr = format!("{}{n}", &d[..2]);
                DescrKind::Plain(Dtype::Other {
                    descr,
                    itemsize: Some(itemsize as usize),
                })
            }
            None => base.kind,
        };
        return Some(DescrInfo {
            kind,
            itemsize,
            ..base
        });
    }
    let dims: SmallVec<[u64; 4]> = match val {
        Value::Tuple(items) | Value::List(items) => items.iter().map(dim).collect::<Option<_>>()?,
        _ => smallvec::smallvec![dim(val)?],
    };
    if dims.len() > MAX_DIMS {
        return None;
    }
    if dims.is_empty() && matches!(val, Value::Tuple(_)) {
        return Some(base);
    }
    let items = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= C_INT_MAX)?;
    let itemsize = base
        .itemsize
        .checked_mul(items)
        .filter(|&n| n <= C_INT_MAX)?;
    Some(DescrInfo {
        kind: DescrKind::Subarray,
        itemsize,
        object: base.object,
        sub_ndim: base.sub_ndim + dims.len(),
    })
}

/// A dtype named by a string, as numpy's `_convert_from_str` reads it.
fn descr_from_str(s: &str) -> Option<DescrInfo> {
    let b = s.as_bytes();
    if b.is_empty() || is_comma_string(b) {
        return None;
    }
    let (endian, t) = match b[0] {
        c @ (b'<' | b'>' | b'=') => (c, &b[1..]),
        b'|' => (b'=', &b[1..]),
        _ => (b'=', b),
    };
    if t.is_empty() {
        return None;
    }
    let order = match endian {
        b'<' => ByteOrder::Little,
        b'>' => ByteOrder::Big,
        _ => ByteOrder::NATIVE,
    };
    if t.len() >= 2 && t[1] == b'8' && matches!(t[0], b'M' | b'm')
        || t.starts_with(b"datetime64")
        || t.starts_with(b"timedelta64")
    {
        return datetime(t, order);
    }
    let code = if t.len() == 1 {
        type_char(t[0]).or_else(|| type_name(s))?
    } else {
        // numpy parses the size with C's strtol and checks it fits an int.
        let (value, end) = strtol(&t[1..]);
        let value = value?;
        if !(0..=C_INT_MAX as i64).contains(&value) {
            return None;
        }
        let end = 1 + end;
        let consumed = end == t.len() || t[end] == 0;
        if consumed && end == t.len() {
            let n = value as u64;
            match t[0] {
                b'S' | b'a' => Code::Bytes(n),
                b'U' if n > C_INT_MAX / 4 => return None,
                b'U' => Code::Unicode(n),
                b'V' => Code::Void(n),
                _ if n == 0 => type_name(s)?,
                kind => sized_code(kind, n).or_else(|| type_name(s))?,
            }
        } else if consumed {
            return None;
        } else {
            type_name(s)?
        }
    };
    Some(code.info(order))
}

/// numpy hands these to its comma-string mini-language (a known difference:
/// refused here).
fn is_comma_string(b: &[u8]) -> bool {
    let order = |c: u8| matches!(c, b'<' | b'>' | b'|' | b'=');
    if b[0].is_ascii_digit() || (b.len() > 1 && order(b[0]) && b[1].is_ascii_digit()) {
        return true;
    }
    if (b.len() > 1 && b[0] == b'(' && b[1] == b')')
        || (b.len() > 3 && order(b[0]) && b[1] == b'(' && b[2] == b')')
    {
        return true;
    }
    let mut brackets = 0i64;
    for &c in b {
        match c {
            b',' if brackets == 0 => return true,
            b'[' => brackets += 1,
            b']' => brackets -= 1,
            _ => {}
        }
    }
    false
}

/// C's `strtol(s, &end, 10)`: the value (`None` on overflow) and where it
/// stopped (0 when there were no digits).
fn strtol(b: &[u8]) -> (Option<i64>, usize) {
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let neg = i < b.len() && b[i] == b'-';
    if i < b.len() && matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    let digits = i;
    let mut v = Some(0i64);
    while i < b.len() && b[i].is_ascii_digit() {
        v = v
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add((b[i] - b'0') as i64));
        i += 1;
    }
    if i == digits {
        return (Some(0), 0);
    }
    (v.map(|v| if neg { -v } else { v }), i)
}

/// A dtype before its byte order is applied.
#[derive(Debug, Clone, Copy)]
enum Code {
    Num(ElementKind),
    LongDouble,
    CLongDouble,
    Object,
    Bytes(u64),
    Unicode(u64),
    Void(u64),
    DateTime,
    TimeDelta,
    StringDType,
}

/// `intp`, as numpy sizes it on this platform.
const INTP: (ElementKind, ElementKind) = if cfg!(target_pointer_width = "32") {
    (ElementKind::I32, ElementKind::U32)
} else {
    (ElementKind::I64, ElementKind::U64)
};

/// A one-character type code, or a numpy type number written as a character.
fn type_char(c: u8) -> Option<Code> {
    use ElementKind as K;
    Some(match c {
        0 | b'?' => Code::Num(K::Bool),
        1 | b'b' => Code::Num(K::I8),
        2 | b'B' => Code::Num(K::U8),
        3 | b'h' => Code::Num(K::I16),
        4 | b'H' => Code::Num(K::U16),
        5 | b'i' => Code::Num(K::I32),
        6 | b'I' => Code::Num(K::U32),
        7 | b'l' => Code::Num(LONG.0),
        8 | b'L' => Code::Num(LONG.1),
        9 | b'q' => Code::Num(K::I64),
        10 | b'Q' => Code::Num(K::U64),
        11 | b'f' => Code::Num(K::F32),
        12 | b'd' => Code::Num(K::F64),
        13 | b'g' => Code::LongDouble,
        14 | b'F' => Code::Num(K::C64),
        15 | b'D' => Code::Num(K::C128),
        16 | b'G' => Code::CLongDouble,
        17 | b'O' => Code::Object,
        18 | b'S' => Code::Bytes(0),
        19 | b'U' => Code::Unicode(0),
        20 | b'V' => Code::Void(0),
        21 | b'M' => Code::DateTime,
        22 | b'm' => Code::TimeDelta,
        23 | b'e' => Code::Num(K::F16),
        b'c' => Code::Bytes(1),
        b'p' | b'n' => Code::Num(INTP.0),
        b'P' | b'N' => Code::Num(INTP.1),
        b'T' => Code::StringDType,
        _ => return None,
    })
}

/// A kind letter with a size, as numpy's `PyArray_TypestrConvert` reads it.
fn sized_code(kind: u8, size: u64) -> Option<Code> {
    use ElementKind as K;
    Some(match (kind, size) {
        (b'b', 1) => Code::Num(K::Bool),
        (b'i', 1) => Code::Num(K::I8),
        (b'i', 2) => Code::Num(K::I16),
        (b'i', 4) => Code::Num(K::I32),
        (b'i', 8) => Code::Num(K::I64),
        (b'u', 1) => Code::Num(K::U8),
        (b'u', 2) => Code::Num(K::U16),
        (b'u', 4) => Code::Num(K::U32),
        (b'u', 8) => Code::Num(K::U64),
        (b'f', 2) => Code::Num(K::F16),
        (b'f', 4) => Code::Num(K::F32),
        (b'f', 8) => Code::Num(K::F64),
        (b'f', 16) => Code::LongDouble,
        (b'c', 8) => Code::Num(K::C64),
        (b'c', 16) => Code::Num(K::C128),
        (b'c', 32) => Code::CLongDouble,
        (b'O', 4 | 8) => Code::Object,
        (b'M', 8) => Code::DateTime,
        (b'm', 8) => Code::TimeDelta,
        _ => return None,
    })
}

/// numpy's type names (`np.sctypeDict`), matched on the whole descr
/// string, byte order character included (so `'<float32'` is refused).
fn type_name(s: &str) -> Option<Code> {
    use ElementKind as K;
    Some(match s {
        "bool" | "bool_" => Code::Num(K::Bool),
        "byte" | "int8" => Code::Num(K::I8),
        "ubyte" | "uint8" => Code::Num(K::U8),
        "short" | "int16" => Code::Num(K::I16),
        "ushort" | "uint16" => Code::Num(K::U16),
        "intc" | "int32" => Code::Num(K::I32),
        "uintc" | "uint32" => Code::Num(K::U32),
        "long" => Code::Num(LONG.0),
        "ulong" => Code::Num(LONG.1),
        "int" | "int_" | "intp" => Code::Num(INTP.0),
        "uint" | "uintp" => Code::Num(INTP.1),
        "longlong" | "int64" => Code::Num(K::I64),
        "ulonglong" | "uint64" => Code::Num(K::U64),
        "half" | "float16" => Code::Num(K::F16),
        "single" | "float32" => Code::Num(K::F32),
        "double" | "float" | "float64" => Code::Num(K::F64),
        "csingle" | "complex64" => Code::Num(K::C64),
        "cdouble" | "complex" | "complex128" => Code::Num(K::C128),
        "longdouble" | "float128" => Code::LongDouble,
        "clongdouble" | "complex256" => Code::CLongDouble,
        "object" | "object_" => Code::Object,
        "a" | "bytes" | "bytes_" => Code::Bytes(0),
        "str" | "str_" | "unicode" => Code::Unicode(0),
        "void" => Code::Void(0),
        _ => return None,
    })
}

fn order_char(order: ByteOrder) -> char {
    match order {
        ByteOrder::Little => '<',
        ByteOrder::Big => '>',
    }
}

impl Code {
    fn info(self, order: ByteOrder) -> DescrInfo {
        let o = order_char(order);
        let other = |descr: String, itemsize: u64| {
            DescrInfo::plain(
                Dtype::Other {
                    descr,
                    itemsize: Some(itemsize as usize),
                },
                itemsize,
            )
        };
        match self {
            Code::Num(kind) => {
                let order = if kind.itemsize() == 1 {
                    ByteOrder::Little
                } else {
                    order
                };
                DescrInfo::plain(Dtype::Numeric { kind, order }, kind.itemsize() as u64)
            }
            Code::LongDouble => other(format!("{o}f16"), 16),
            Code::CLongDouble => other(format!("{o}c32"), 32),
            Code::Object => DescrInfo::plain(Dtype::Object, 8),
            Code::Bytes(n) => other(format!("|S{n}"), n),
            Code::Unicode(n) => other(format!("{o}U{n}"), 4 * n),
            Code::Void(n) => other(format!("|V{n}"), n),
            Code::DateTime => other(format!("{o}M8"), 8),
            Code::TimeDelta => other(format!("{o}m8"), 8),
            Code::StringDType => other("|T16".into(), 16),
        }
    }
}

/// `M8[unit]`, `m8[unit]`, `datetime64[unit]`, `timedelta64[unit]`, with an
/// optional multiplier; no unit is the generic unit.
fn datetime(t: &[u8], order: ByteOrder) -> Option<DescrInfo> {
    let (letter, meta) = if t[1] == b'8' && matches!(t[0], b'M' | b'm') {
        (t[0] as char, &t[2..])
    } else if let Some(meta) = t.strip_prefix(b"timedelta64") {
        ('m', meta)
    } else {
        ('M', t.strip_prefix(b"datetime64")?)
    };
    let o = order_char(order);
    let descr = if meta.is_empty() {
        format!("{o}{letter}8")
    } else {
        if meta.len() < 3 || meta[0] != b'[' {
            return None;
        }
        let close = 1 + meta[1..].iter().position(|&c| c == b']')?;
        if close == 1 || close + 1 != meta.len() {
            return None;
        }
        let inner = &meta[1..close];
        let (num, unit) = match strtol(inner) {
            (_, 0) => (1, inner),
            (Some(n), end) if (0..=C_INT_MAX as i64).contains(&n) => (n, &inner[end..]),
            _ => return None,
        };
        let unit = match unit {
            b"Y" => "Y",
            b"M" => "M",
            b"W" => "W",
            b"D" => "D",
            b"h" => "h",
            b"m" => "m",
            b"s" => "s",
            b"ms" => "ms",
            b"us" | b"\xce\xbcs" => "us",
            b"ns" => "ns",
            b"ps" => "ps",
            b"fs" => "fs",
            b"as" => "as",
            b"generic" => "",
            // Includes divisors such as `s/2` (a known difference).
            _ => return None,
        };
        match (num, unit) {
            (_, "") => format!("{o}{letter}8"),
            (1, unit) => format!("{o}{letter}8[{unit}]"),
            (n, unit) => format!("{o}{letter}8[{n}{unit}]"),
        }
    };
    Some(DescrInfo::plain(
        Dtype::Other {
            descr,
            itemsize: Some(8),
        },
        8,
    ))
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
        let h = parse("{\"shape\":(2L,3 L),u'fortran_order':True,'descr':'>i8'}").unwrap();
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
        let h =
            parse("({'desc' \"r\": 'float32', ('fortran_order'): (False), 'shape': ((2), +(3),)})")
                .unwrap();
        assert_eq!(
            (h.dtype().descr().as_str(), h.shape()),
            ("<f4", &[2, 3][..])
        );
        // Python 2 `l` was never written by numpy and is not filtered.
        assert!(parse("{'descr':'<f8','fortran_order':False,'shape':(3l,)}").is_err());
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
    fn reads_descr_like_numpy() {
        let descr = |d: &str| {
            parse(&format!("{{'descr':{d},'fortran_order':False,'shape':()}}"))
                .map(|h| h.dtype().descr())
                .ok()
        };
        for (d, want) in [
            ("'<f4'", Some("<f4")),
            ("'f'", Some("<f4")),
            ("'>f 4'", Some(">f4")),
            ("'float32'", Some("<f4")),
            ("'<float32'", None),
            ("'c'", Some("|S1")),
            ("'a5'", Some("|S5")),
            ("'<a'", None),
            ("'>U3'", Some(">U3")),
            ("'M8[1s]'", Some("<M8[s]")),
            ("'datetime64[25ms]'", Some("<M8[25ms]")),
            ("'M08'", Some("<M8")),
            ("'<f3'", None),
            ("'<i16'", None),
            ("'\\x3cf4'", Some("<f4")),
            ("'f4,i4'", None),
            ("('S', 5)", Some("|S5")),
            ("('<f4', (2,))", Some("|V8")),
        ] {
            assert_eq!(descr(d).as_deref(), want, "{d}");
        }
        let h =
            parse("{'descr':[('a','<f4'),('b','<i4',(2,))],'fortran_order':False,'shape':(3,)}")
                .unwrap();
        assert_eq!(h.dtype().descr(), "[('a','<f4'),('b','<i4',(2,))]");
        assert!(
            parse("{'descr':[('a','<f4'),('a','<i4')],'fortran_order':False,'shape':(3,)}")
                .is_err()
        );
    }

    #[test]
    fn follows_python_line_rules() {
        let d = "{'descr':'<f8','fortran_order':False,'shape':()}";
        for (text, ok) in [
            (format!("  {d}"), true),
            (format!("\n\n{d}\n\n"), true),
            (format!("# c\n{d} # c\n"), true),
            (format!("\n {d}"), false),
            (format!("{d}\n  # c\n"), true),
            (format!("{d}\n\\\n"), false),
            (format!("{d}\0"), false),
        ] {
            assert_eq!(parse(&text).is_ok(), ok, "{text:?}");
        }
        // A last line of blanks: refused by Python, dropped by numpy's Python 2 fallback.
        let text = format!("{d}\n  ");
        assert!(parse(&text).is_ok());
        let mut v3 = MAGIC.to_vec();
        v3.extend_from_slice(&[3, 0]);
        v3.extend_from_slice(&(text.len() as u32).to_le_bytes());
        v3.extend_from_slice(text.as_bytes());
        assert!(Header::parse(&v3).is_err());
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

    #[test]
    fn nesting_limit_is_pythons() {
        let nested = |n: usize| {
            let shape = format!("{}(3,){}", "(".repeat(n), ")".repeat(n));
            parse(&format!(
                "{{'descr':'<f8','fortran_order':False,'shape':{shape}}}"
            ))
        };
        assert!(nested(198).is_ok());
        assert!(nested(199).is_err());
    }
}
