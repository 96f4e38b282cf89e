//! The header's `descr`: numpy's `descr_to_dtype`, read from the parsed
//! Python literal (strings, `(base, shape)` tuples and record lists).

use std::borrow::Cow;

use smallvec::SmallVec;

use super::literal::{Int, Parser, Value};
use super::MAX_DIMS;
use crate::npy::dtype::{ByteOrder, Dtype, ElementKind, Field, LONG};

/// numpy's `int`: the limit of dtype sizes, subarray dimensions and record offsets.
const C_INT_MAX: u64 = i32::MAX as u64;

#[derive(Debug, Clone)]
pub(super) enum DescrKind {
    /// A dtype named by a string.
    Plain(Dtype),
    /// `(base, shape)`: numpy's subarray dtype.
    Subarray,
    /// A list of record fields.
    Structured,
}

#[derive(Debug, Clone)]
pub(super) struct DescrInfo {
    pub(super) kind: DescrKind,
    /// numpy's itemsize (8 for objects).
    pub(super) itemsize: u64,
    /// Holds Python objects.
    pub(super) object: bool,
    /// Dimensions the subarray adds to the array's.
    pub(super) sub_ndim: usize,
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
pub(super) fn descr_info(value: &Value) -> Option<DescrInfo> {
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

/// The fields of a record list given as header text (what
/// [`Dtype::fields`] reads): a list of `(name, format)` or
/// `(name, format, shape)` tuples, as `numpy.save` writes `dtype.descr`.
pub(crate) fn record_fields(text: &str) -> Option<Vec<Field>> {
    let wrapped = format!("{{'descr': {text}}}");
    let entries = Parser::new(&wrapped, false).header().ok()?;
    fields_of(&entries.first()?.value)
}

fn fields_of(value: &Value) -> Option<Vec<Field>> {
    let Value::List(items) = value else {
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut offset = 0u64;
    for field in items {
        let (Value::Tuple(parts) | Value::List(parts)) = field else {
            return None;
        };
        let base = descr_info(parts.get(1)?)?;
        let info = match parts.len() {
            2 => base.clone(),
            3 => with_shape(base.clone(), &parts[2])?,
            _ => return None,
        };
        let padding = matches!(&parts[0], Value::Str(s) if s.is_empty()) && info.is_void();
        if !padding {
            let (title, name) = match &parts[0] {
                Value::Tuple(pair) if pair.len() == 2 => (Some(&pair[0]), &pair[1]),
                name => (None, name),
            };
            let Value::Str(name) = name else { return None };
            let title = match title {
                Some(Value::Str(t)) => Some(t.to_string()),
                _ => None,
            };
            // A size for an unsized base (`('s', 'S', 3)`) is no subarray.
            let sized = parts.len() == 3 && base.is_unsized();
            let (dtype_info, shape) = if parts.len() == 3 && !sized {
                let shape = match &parts[2] {
                    Value::Int(Int { mag: Some(m), .. }) => vec![*m as usize],
                    Value::Tuple(d) | Value::List(d) => d
                        .iter()
                        .map(|v| match v {
                            Value::Int(Int { mag: Some(m), .. }) => Some(*m as usize),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()?,
                    _ => return None,
                };
                (base, shape)
            } else {
                (info.clone(), Vec::new())
            };
            let dtype = match dtype_info.kind {
                DescrKind::Plain(d) => d,
                DescrKind::Subarray => Dtype::Other {
                    descr: format!("|V{}", dtype_info.itemsize),
                    itemsize: (!dtype_info.object).then_some(dtype_info.itemsize as usize),
                },
                DescrKind::Structured => Dtype::Other {
                    descr: python_repr(&parts[1]),
                    itemsize: (!dtype_info.object).then_some(dtype_info.itemsize as usize),
                },
            };
            out.push(Field {
                name: name.to_string(),
                title,
                offset: offset as usize,
                dtype,
                shape,
                size: info.itemsize as usize,
            });
        }
        offset = offset.checked_add(info.itemsize)?;
    }
    Some(out)
}

/// Python's `repr` of the literals a record list holds, as numpy writes
/// `dtype.descr` (so a nested record's descr reads as `numpy.save` wrote it).
fn python_repr(value: &Value) -> String {
    let join = |items: &[Value]| items.iter().map(python_repr).collect::<Vec<_>>().join(", ");
    match value {
        Value::Str(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Tuple(items) if items.len() == 1 => format!("({},)", python_repr(&items[0])),
        Value::Tuple(items) => format!("({})", join(items)),
        Value::List(items) => format!("[{}]", join(items)),
        other => other.describe(),
    }
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
pub(super) fn descr_from_str(s: &str) -> Option<DescrInfo> {
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
    use crate::npy::header::tests::parse;

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
}
