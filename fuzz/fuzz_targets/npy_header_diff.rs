//! Differential fuzzing of the `.npy` header parser against the `npyz` crate
//! (0.8, `NpyHeader::from_reader`).
//!
//! For every input, onedata's `Header::parse` and npyz must agree on whether
//! the header is accepted and, when both accept it, on descr, shape and
//! order. The two parsers differ by design: onedata reads headers as numpy
//! does (Python's `ast.literal_eval`, numpy's `descr_to_dtype` and array
//! checks), npyz reads a subset of Python literals with `py_literal` and is
//! lenient on what it reads. Each known class of difference is recognised
//! here from the input itself, and tolerated only where numpy sides with
//! onedata; fuzz/README.md lists the classes with a numpy-verified example
//! of each, and `fuzz/diff_oracle.py` re-checks a whole corpus against numpy.
//! Any difference outside the classes is a crash.
//!
//! With `ONEDATA_DIFF_LOG=<file>` every input's verdicts and class are
//! appended to `<file>` as JSON lines (for `diff_oracle.py`).

#![no_main]

use std::io::Write as _;
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use npyz::{DType, Endianness, NpyHeader, Order, TypeChar, TypeStr};
use onedata::npy::{Dtype, Header};
use onedata::HeaderError;
use py_literal::Value;

/// numpy's `int`: the limit of itemsizes and subarray dimensions.
const C_INT_MAX: u128 = i32::MAX as u128;
/// `py_literal` (a PEG parser without memoisation) may parse what is inside
/// a bracket again for each alternative it tries: about twice per `(` or
/// `[` and up to four times per `{`, multiplied along the nesting. Inputs
/// whose characters, each weighted by that product for its brackets, pass
/// this budget are not given to npyz (it can take seconds on them).
const MAX_NPYZ_WORK: u64 = 1 << 16;

/// A known class of difference, each with the side numpy takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    // onedata (and numpy) accept, npyz refuses.
    /// Python literal syntax `py_literal` does not read: newlines, comments,
    /// grouping parentheses, string prefixes and concatenation, Python 2
    /// `L` suffixes, `\r` line ends...
    PyLiteralSyntax,
    /// A version 1.0/2.0 header that is not UTF-8: numpy decodes it as
    /// latin-1, npyz as UTF-8.
    Latin1Header,
    /// A descr string numpy's `dtype()` reads but npyz's type-string grammar
    /// does not: no or `=`/`|` byte order, one-letter codes, type names,
    /// `O`, datetimes without or with multiplied units, unsized `S`/`U`/`V`...
    DescrSpelling,
    /// A descr that is a tuple (subarray), dict, set or bytes: numpy iterates
    /// or builds them, npyz takes only a string or a list.
    DescrForm,
    /// A record list npyz refuses: titles, fields as lists/strings/dicts,
    /// int shapes, field dtypes of the classes above.
    RecordFields,
    /// npyz panics (u64 overflow computing the strides of a zero-size array
    /// with huge dimensions).
    NpyzPanic,

    // onedata (and numpy) refuse, npyz accepts.
    /// Keys other than `descr`, `fortran_order` and `shape`.
    ExtraKey,
    /// `shape` is a list, not a tuple.
    ShapeList,
    /// More than 64 dimensions.
    TooManyDims,
    /// Byte size or a dimension past `intp`.
    TooBig,
    /// Header longer than numpy's 10000-character limit.
    HeaderTooLong,
    /// An itemsize or subarray dimension past numpy's C `int`.
    ItemsizeTooLarge,
    /// A record list with a duplicate field name.
    DuplicateField,
    /// `py_literal` reads what Python refuses: number expressions (`1+1`,
    /// `--1`), leading zeros (`02`), NUL characters, truncated `\x`/`\u`/`\U`
    /// or bare `\N` escapes, unhashable set members or dict keys.
    PyLiteralSuperset,

    // Both accept, results differ.
    /// A non-ASCII version 1.0/2.0 header: names decoded as latin-1 by numpy
    /// and as UTF-8 by npyz.
    Latin1Names,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::PyLiteralSyntax => "py-literal-syntax",
            Class::Latin1Header => "latin1-header",
            Class::DescrSpelling => "descr-spelling",
            Class::DescrForm => "descr-form",
            Class::RecordFields => "record-fields",
            Class::NpyzPanic => "npyz-panic",
            Class::ExtraKey => "extra-key",
            Class::ShapeList => "shape-list",
            Class::TooManyDims => "too-many-dims",
            Class::TooBig => "too-big",
            Class::HeaderTooLong => "header-too-long",
            Class::ItemsizeTooLarge => "itemsize-too-large",
            Class::DuplicateField => "duplicate-field",
            Class::PyLiteralSuperset => "py-literal-superset",
            Class::Latin1Names => "latin1-names",
        }
    }
}

/// What npyz made of the input.
enum Theirs {
    Accept(NpyHeader),
    Refuse(String),
    Panic,
    /// Not asked (nesting too costly for its backtracking parser).
    Skipped,
}

/// The header text as npyz sees it: the bytes after the length field, one
/// trailing newline dropped. `None` if the preamble is not valid.
fn header_bytes(data: &[u8]) -> Option<((u8, u8), &[u8])> {
    if data.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    let version = (*data.get(6)?, *data.get(7)?);
    let (start, len): (usize, usize) = match version {
        (1, 0) => (
            10,
            u16::from_le_bytes([*data.get(8)?, *data.get(9)?]) as usize,
        ),
        (2, 0) | (3, 0) => (
            12,
            u32::from_le_bytes(data.get(8..12)?.try_into().ok()?) as usize,
        ),
        _ => return None,
    };
    let raw = data.get(start..start.checked_add(len)?)?;
    Some((version, raw))
}

/// The work `py_literal` may spend on `text`: its characters, each weighted
/// by the re-parses of its enclosing brackets (brackets inside strings count
/// too: an over-estimate).
fn npyz_work(text: &[u8]) -> u64 {
    let mut stack: Vec<u32> = Vec::new();
    // log2 of the current weight.
    let mut bits = 0u32;
    let mut work = 0u64;
    for &b in text {
        match b {
            b'(' | b'[' | b'{' => {
                let w = if b == b'{' { 2 } else { 1 };
                stack.push(w);
                bits += w;
            }
            b')' | b']' | b'}' => bits -= stack.pop().unwrap_or(0),
            _ => {}
        }
        work = work.saturating_add(1u64 << bits.min(63));
    }
    work
}

fn run_npyz(data: &[u8]) -> Theirs {
    match header_bytes(data) {
        Some((_, raw)) if npyz_work(raw) > MAX_NPYZ_WORK => return Theirs::Skipped,
        Some(_) => {}
        // npyz allocates the announced header length before reading it: a
        // length past the end of the input is refused here instead.
        None if data.len() >= 12 && data.starts_with(b"\x93NUMPY") => {
            return Theirs::Refuse("header length past the end (npyz not asked)".into())
        }
        None => {}
    }
    // libfuzzer-sys's panic hook aborts; silence it while npyz runs.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| NpyHeader::from_reader(std::io::Cursor::new(data)));
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(h)) => Theirs::Accept(h),
        Ok(Err(e)) => Theirs::Refuse(e.to_string()),
        Err(_) => Theirs::Panic,
    }
}

/// The header text parsed by `py_literal`, as npyz parses it.
fn literal(data: &[u8]) -> Option<Value> {
    let (_, raw) = header_bytes(data)?;
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The last value of `key` in a literal dict (Python keeps the last).
fn dict_get<'v>(dict: &'v Value, key: &str) -> Option<&'v Value> {
    match dict {
        Value::Dict(items) => items
            .iter()
            .rev()
            .find(|(k, _)| k.as_string().map(String::as_str) == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// onedata's spelling (numpy's `dtype.str`) of an npyz type string.
fn expected_descr(t: &TypeStr) -> String {
    let size = t.size_field();
    let ord = match t.endianness() {
        Endianness::Big => ">",
        _ => "<",
    };
    let units = t.time_units().map(|u| format!("[{u}]")).unwrap_or_default();
    match t.type_char() {
        TypeChar::Bool => "|b1".into(),
        TypeChar::Int | TypeChar::Uint if size == 1 => format!("|{}1", t.type_char()),
        TypeChar::ByteStr => format!("|S{size}"),
        TypeChar::RawData => format!("|V{size}"),
        c => format!("{ord}{c}{size}{units}"),
    }
}

/// The largest itemsize or subarray dimension in an npyz dtype.
fn largest_size(d: &DType) -> u128 {
    match d {
        DType::Plain(t) => match t.type_char() {
            TypeChar::UnicodeStr => t.size_field() as u128 * 4,
            _ => t.size_field() as u128,
        },
        DType::Array(n, inner) => (*n as u128)
            .max(largest_size(inner))
            .max(total_size(inner).saturating_mul(*n as u128)),
        DType::Record(fields) => fields
            .iter()
            .map(|f| largest_size(&f.dtype))
            .max()
            .unwrap_or(0)
            .max(total_size(d)),
    }
}

fn total_size(d: &DType) -> u128 {
    match d {
        DType::Plain(t) => match t.type_char() {
            TypeChar::UnicodeStr => t.size_field() as u128 * 4,
            _ => t.size_field() as u128,
        },
        DType::Array(n, inner) => total_size(inner).saturating_mul(*n as u128),
        DType::Record(fields) => fields
            .iter()
            .fold(0u128, |a, f| a.saturating_add(total_size(&f.dtype))),
    }
}

fn has_duplicate_field(d: &DType) -> bool {
    match d {
        DType::Plain(_) => false,
        DType::Array(_, inner) => has_duplicate_field(inner),
        DType::Record(fields) => {
            // numpy drops `''` void fields as padding before checking names.
            let names: Vec<&str> = fields
                .iter()
                .filter(|f| {
                    !(f.name.is_empty()
                        && matches!(&f.dtype, DType::Plain(t) if t.type_char() == TypeChar::RawData))
                })
                .map(|f| f.name.as_str())
                .collect();
            names
                .iter()
                .enumerate()
                .any(|(i, n)| names[..i].contains(n))
                || fields.iter().any(|f| has_duplicate_field(&f.dtype))
        }
    }
}

/// A literal Python refuses to build: a list, dict or set as a set member
/// or dict key (unhashable), anywhere in the value.
fn has_unhashable(v: &Value) -> bool {
    fn unhashable(v: &Value) -> bool {
        match v {
            Value::List(_) | Value::Dict(_) | Value::Set(_) => true,
            Value::Tuple(items) => items.iter().any(unhashable),
            _ => false,
        }
    }
    match v {
        Value::Set(items) => items.iter().any(|x| unhashable(x) || has_unhashable(x)),
        Value::Dict(items) => items
            .iter()
            .any(|(k, x)| unhashable(k) || has_unhashable(k) || has_unhashable(x)),
        Value::List(items) | Value::Tuple(items) => items.iter().any(has_unhashable),
        _ => false,
    }
}

/// Text `py_literal` reads and Python's tokenizer or `literal_eval` refuses.
fn py_literal_superset(text: &str, value: &Value) -> Option<&'static str> {
    if text.contains('\0') {
        return Some("NUL character");
    }
    if has_unhashable(value) {
        return Some("unhashable set member or dict key");
    }
    let b = text.as_bytes();
    let mut i = 0;
    #[derive(PartialEq)]
    enum Prev {
        Number,
        Sign,
        Other,
    }
    let mut prev = Prev::Other;
    while i < b.len() {
        let c = b[i];
        // Strings and bytes: check escapes, skip the body.
        let bytes_prefix = matches!(c, b'b' | b'B') && matches!(b.get(i + 1), Some(b'\'' | b'"'));
        if c == b'\'' || c == b'"' || bytes_prefix {
            let is_bytes = bytes_prefix;
            if bytes_prefix {
                i += 1;
            }
            let q = b[i];
            let triple = b.get(i..i + 3) == Some(&[q, q, q][..]);
            let close: &[u8] = if triple { &[q, q, q] } else { &[q] };
            i += close.len();
            while i < b.len() && !b[i..].starts_with(close) {
                if b[i] == b'\\' {
                    let hex = |n: usize| {
                        b.get(i + 2..i + 2 + n)
                            .is_some_and(|s| s.iter().all(u8::is_ascii_hexdigit))
                    };
                    match b.get(i + 1) {
                        Some(b'x') if !hex(2) => return Some("truncated \\x escape"),
                        Some(b'u') if !is_bytes && !hex(4) => return Some("truncated \\u escape"),
                        Some(b'U') if !is_bytes && !hex(8) => return Some("truncated \\U escape"),
                        Some(b'N') if !is_bytes && b.get(i + 2) != Some(&b'{') => {
                            return Some("bare \\N escape")
                        }
                        _ => {}
                    }
                    i += 2;
                } else {
                    i += 1;
                }
            }
            i += close.len();
            prev = Prev::Other;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            let hexlike = c == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X'));
            while i < b.len() {
                let d = b[i];
                if d.is_ascii_alphanumeric() || d == b'_' || d == b'.' {
                    i += 1;
                } else if matches!(d, b'+' | b'-') && !hexlike && matches!(b[i - 1], b'e' | b'E') {
                    i += 1;
                } else {
                    break;
                }
            }
            let tok = &text[start..i];
            let radix = matches!(
                tok.as_bytes().get(1),
                Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
            );
            let is_float = !radix && tok.contains(['.', 'e', 'E', 'j', 'J']);
            if tok.starts_with('0')
                && !radix
                && !is_float
                && tok.bytes().any(|c| (b'1'..=b'9').contains(&c))
            {
                return Some("leading zeros in an int");
            }
            prev = Prev::Number;
            continue;
        }
        match c {
            b'+' | b'-' => {
                match prev {
                    Prev::Number => return Some("number expression (binary + or -)"),
                    Prev::Sign => return Some("number expression (repeated signs)"),
                    Prev::Other => {}
                }
                prev = Prev::Sign;
            }
            b' ' | b'\t' | b'\x0c' => {}
            _ => prev = Prev::Other,
        }
        i += 1;
    }
    None
}

/// Why npyz refuses a descr value onedata accepts, if it is a known class.
fn descr_class(descr: &Value) -> Option<Class> {
    match descr {
        Value::String(s) => s
            .parse::<TypeStr>()
            .is_err()
            .then_some(Class::DescrSpelling),
        Value::List(_) => {
            let text = descr.format_ascii().ok()?;
            DType::parse(&text).is_err().then_some(Class::RecordFields)
        }
        Value::Tuple(_) | Value::Dict(_) | Value::Set(_) | Value::Bytes(_) => {
            Some(Class::DescrForm)
        }
        _ => None,
    }
}

/// onedata accepts, npyz refuses: the known classes, or `None`.
fn ours_only(data: &[u8], theirs: &Theirs) -> Option<Class> {
    if matches!(theirs, Theirs::Panic) {
        return Some(Class::NpyzPanic);
    }
    let (version, raw) = header_bytes(data)?;
    if std::str::from_utf8(raw).is_err() {
        return (version.0 < 3).then_some(Class::Latin1Header);
    }
    let Some(value) = literal(data) else {
        return Some(Class::PyLiteralSyntax);
    };
    descr_class(dict_get(&value, "descr")?)
}

/// onedata refuses, npyz accepts: the known classes, or `None`.
fn theirs_only(data: &[u8], error: &HeaderError, h: &NpyHeader) -> Option<Class> {
    let value = literal(data)?;
    match error {
        HeaderError::UnexpectedKey(_) => Some(Class::ExtraKey),
        HeaderError::ShapeNotTuple => {
            matches!(dict_get(&value, "shape"), Some(Value::List(_))).then_some(Class::ShapeList)
        }
        HeaderError::TooManyDimensions(_) => Some(Class::TooManyDims),
        HeaderError::DimensionTooLarge => Some(Class::TooBig),
        HeaderError::SizeOverflow { itemsize, .. } if *itemsize > 0 => Some(Class::TooBig),
        HeaderError::TooLarge(_) => Some(Class::HeaderTooLong),
        HeaderError::UnknownDescr(_) => {
            let dtype = h.dtype();
            if has_duplicate_field(&dtype) {
                Some(Class::DuplicateField)
            } else if largest_size(&dtype) > C_INT_MAX {
                Some(Class::ItemsizeTooLarge)
            } else {
                None
            }
        }
        HeaderError::Syntax { .. } => {
            let (_, raw) = header_bytes(data)?;
            let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
            let text = std::str::from_utf8(raw).ok()?;
            py_literal_superset(text, &value).map(|_| Class::PyLiteralSuperset)
        }
        _ => None,
    }
}

/// Both accept: `Err` describes a difference outside the known classes.
fn compare(data: &[u8], ours: &Header, h: &NpyHeader) -> Result<Option<Class>, String> {
    let shape: Vec<u64> = ours.shape().iter().map(|&d| d as u64).collect();
    if shape != h.shape() {
        return Err(format!("shape {:?} vs npyz {:?}", ours.shape(), h.shape()));
    }
    let order = if ours.fortran_order() {
        Order::Fortran
    } else {
        Order::C
    };
    if order != h.order() {
        return Err(format!("order {order:?} vs npyz {:?}", h.order()));
    }
    let ok = match (h.dtype(), ours.dtype()) {
        (DType::Plain(t), d) => expected_descr(&t) == d.descr(),
        // A record list: onedata keeps its text, which npyz must read as
        // the same record type.
        (theirs @ DType::Record(_), Dtype::Other { descr, .. }) => {
            DType::parse(descr).ok().as_ref() == Some(&theirs)
        }
        _ => false,
    };
    if ok {
        return Ok(None);
    }
    let (version, raw) = header_bytes(data).ok_or("no header text")?;
    if version.0 < 3 && !raw.is_ascii() {
        return Ok(Some(Class::Latin1Names));
    }
    Err(format!(
        "descr {:?} vs npyz {:?}",
        ours.dtype().descr(),
        h.dtype()
    ))
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn log(data: &[u8], ours: &Result<Header, HeaderError>, theirs: &Theirs, class: &str) {
    static LOG: Mutex<Option<Option<std::fs::File>>> = Mutex::new(None);
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    let file = guard.get_or_insert_with(|| {
        let path = std::env::var_os("ONEDATA_DIFF_LOG")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let Some(file) = file else { return };
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    let q = json_str;
    let ours = match ours {
        Ok(h) => format!(
            "{{\"ok\": true, \"descr\": {}, \"shape\": {:?}, \"fortran\": {}, \"data_len\": {}}}",
            q(&h.dtype().descr()),
            h.shape(),
            h.fortran_order(),
            h.data_len().map_or("null".into(), |n| n.to_string())
        ),
        Err(e) => format!("{{\"ok\": false, \"error\": {}}}", q(&e.to_string())),
    };
    let theirs = match theirs {
        Theirs::Accept(h) => format!("{{\"ok\": true, \"shape\": {:?}}}", h.shape()),
        Theirs::Refuse(e) => format!("{{\"ok\": false, \"error\": {}}}", q(e)),
        Theirs::Panic => "{\"ok\": false, \"error\": \"panic\"}".into(),
        Theirs::Skipped => "null".into(),
    };
    let _ = writeln!(
        file,
        "{{\"hex\": \"{hex}\", \"ours\": {ours}, \"npyz\": {theirs}, \"class\": {}}}",
        q(class)
    );
}

fuzz_target!(|data: &[u8]| {
    let ours = Header::parse(data);
    let theirs = run_npyz(data);
    let class: Result<Option<Class>, String> = match (&ours, &theirs) {
        (_, Theirs::Skipped) => Ok(None),
        (Ok(o), Theirs::Accept(h)) => compare(data, o, h),
        (Err(_), Theirs::Refuse(_) | Theirs::Panic) => Ok(None),
        (Ok(o), Theirs::Refuse(_) | Theirs::Panic) => ours_only(data, &theirs)
            .map(Some)
            .ok_or_else(|| format!("onedata accepts ({o:?}), npyz refuses")),
        (Err(e), Theirs::Accept(h)) => theirs_only(data, e, h).map(Some).ok_or_else(|| {
            format!(
                "onedata refuses ({e:?}), npyz accepts ({:?} {:?} {:?})",
                h.dtype(),
                h.shape(),
                h.order()
            )
        }),
    };
    let name = match (&theirs, &class) {
        (Theirs::Skipped, _) => "skipped",
        (_, Ok(Some(c))) => c.name(),
        (_, Ok(None)) => "agree",
        (_, Err(_)) => "UNEXPLAINED",
    };
    log(data, &ours, &theirs, name);
    if let Err(diff) = class {
        let text = header_bytes(data).map(|(_, raw)| String::from_utf8_lossy(raw).into_owned());
        panic!("onedata and npyz differ outside the known classes: {diff}\nheader text: {text:?}");
    }
});
