//! [`PyValue`], the plain Python values a recipe holds: their Python-literal
//! text ([`Display`](fmt::Display), [`py_float_repr`]), their JSON form
//! ([`PyValue::to_json`], [`PyValue::from_json`]) and conversions from Rust
//! values.

use std::fmt;

use crate::error::Result;

/// A plain Python value, as a recipe holds it.
///
/// Dicts keep their insertion order, as Python's do. Integers are `i128`;
/// beyond that they are [`PyValue::BigInt`].
/// Equality is structural (`NaN != NaN`, `Int(1) != Float(1.0)`).
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` that fits in 128 bits.
    Int(i128),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `tuple`.
    Tuple(Vec<PyValue>),
    /// A `dict`, in insertion order.
    Dict(Vec<(PyValue, PyValue)>),
    /// A `set`, its elements in the order pickled (unique by Python's
    /// equality). This and the variants below are decoded from recipes and
    /// object arrays (see
    /// [`decode_object_npy`](crate::recipe::decode_object_npy)), not by
    /// [`decode_pickle`](crate::recipe::decode_pickle).
    Set(Vec<PyValue>),
    /// A `frozenset`, its elements in the order pickled.
    FrozenSet(Vec<PyValue>),
    /// A `complex` (or a numpy `complex64`/`complex128` scalar): real and
    /// imaginary part.
    Complex(f64, f64),
    /// An `int` beyond 128 bits: its little-endian two's-complement bytes,
    /// as pickle's `LONG1`/`LONG4` hold them, without redundant sign bytes
    /// (see [`big_int_decimal`] for its digits).
    BigInt(Vec<u8>),
    /// A numpy array (`numpy.ndarray`), typed: dtype, shape, memory order
    /// and raw bytes, or for object arrays the elements.
    Array(Box<PyArray>),
    /// A `numpy.datetime64` scalar.
    Datetime64(TimeValue),
    /// A `numpy.timedelta64` scalar.
    Timedelta64(TimeValue),
    /// A naive `datetime.datetime`.
    DateTime(PyDateTime),
}

/// A numpy array decoded from a pickle (numpy's `_reconstruct` and
/// `__setstate__` state `(version, shape, dtype, is_fortran, data)`).
#[derive(Debug, Clone, PartialEq)]
pub struct PyArray {
    /// numpy's `dtype.str`, in native byte order (as numpy's
    /// `__setstate__` makes it) with the datetime unit where there is one:
    /// `<f8`, `<i4`, `|b1`, `<U6`, `<M8[D]`, `<f16`, `|O`. For a structured
    /// dtype (whose `dtype.str` would be `|V12`), numpy's `dtype.descr`
    /// list as `repr` and a `.npy` header spell it, fields in their own byte
    /// order and padding as `('', '|V<n>')`:
    /// `[('a', '<i4'), ('b', '<f8', (2,))]` (see [`PyArray::fields`]).
    pub descr: String,
    /// The shape.
    pub shape: Vec<u64>,
    /// Whether the data is in Fortran (column-major) order, as pickled
    /// (numpy pickles the bytes of an F-contiguous, non-C-contiguous array in
    /// Fortran order).
    pub fortran: bool,
    /// The elements.
    pub data: ArrayData,
}

/// The elements of a [`PyArray`].
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// The raw element bytes, in the dtype's byte order and the array's
    /// memory order: exactly shape product x itemsize bytes.
    Raw(Vec<u8>),
    /// The elements of an object array, in C (row-major) order whatever
    /// the Fortran flag, as numpy pickles them.
    Objects(Vec<PyValue>),
}

/// A numpy datetime64 or timedelta64 value: the count of units since the
/// epoch (datetime64) or the count (timedelta64); `i64::MIN` is NaT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeValue {
    /// The count.
    pub value: i64,
    /// numpy's unit text: `D`, `s`, `25m`, ..., or `generic`.
    pub unit: String,
}

/// A naive `datetime.datetime` (without tzinfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PyDateTime {
    /// 1 to 9999.
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59.
    pub second: u8,
    /// 0 to 999999.
    pub microsecond: u32,
}

impl PyArray {
    /// The number of elements (`None` if the product overflows).
    pub fn len(&self) -> Option<u64> {
        self.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d))
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether this is an object array.
    pub fn is_object(&self) -> bool {
        matches!(self.data, ArrayData::Objects(_))
    }

    /// The fields of a structured array, in order, with their offsets and
    /// dtypes (padding skipped), read from its descr (numpy's `dtype.descr`
    /// list); `None` for other arrays.
    ///
    /// ```
    /// use onedata::recipe::{ArrayData, PyArray};
    /// let a = PyArray {
    ///     descr: "[('a', '>i4'), ('', '|V4'), ('b', '<f8', (2,))]".into(),
    ///     shape: vec![0],
    ///     fortran: false,
    ///     data: ArrayData::Raw(vec![]),
    /// };
    /// let fields = a.fields().unwrap();
    /// assert_eq!((fields[1].name.as_str(), fields[1].offset), ("b", 8));
    /// assert_eq!(fields[1].shape, [2]);
    /// ```
    pub fn fields(&self) -> Option<Vec<crate::npy::Field>> {
        if self.descr.starts_with('[') {
            // (The itemsize is not needed to read the fields.)
            crate::npy::Dtype::Other {
                descr: self.descr.clone(),
                itemsize: Some(0),
            }
            .fields()
        } else {
            None
        }
    }
}

impl fmt::Display for PyDateTime {
    /// ISO 8601, as `datetime.isoformat()`: `2024-01-01T12:00:00.000005`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.microsecond != 0 {
            write!(f, ".{:06}", self.microsecond)?;
        }
        Ok(())
    }
}

/// The decimal digits of a little-endian two's-complement integer (as
/// [`PyValue::BigInt`] holds it), with a leading `-` if negative.
pub fn big_int_decimal(le: &[u8]) -> String {
    let negative = le.last().is_some_and(|&b| b & 0x80 != 0);
    // The magnitude, little-endian: two's complement negated if negative.
    let mut mag: Vec<u8> = le.to_vec();
    if negative {
        let mut carry = true;
        for b in mag.iter_mut() {
            *b = !*b;
            if carry {
                let (v, c) = b.overflowing_add(1);
                *b = v;
                carry = c;
            }
        }
    }
    // Base 10^9 limbs by repeated division of 32-bit words.
    let mut words: Vec<u32> = mag
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect();
    let mut limbs = Vec::new();
    while words.iter().any(|&w| w != 0) {
        let mut rem = 0u64;
        for w in words.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*w);
            *w = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        limbs.push(rem as u32);
        while words.last() == Some(&0) {
            words.pop();
        }
    }
    let mut s = String::from(if negative { "-" } else { "" });
    match limbs.split_last() {
        None => s.push('0'),
        Some((top, rest)) => {
            s.push_str(&top.to_string());
            for l in rest.iter().rev() {
                s.push_str(&format!("{l:09}"));
            }
        }
    }
    s
}

/// Why a [`PyValue`] has no JSON form (see [`PyValue::to_json`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// NaN and the infinities are not JSON numbers.
    #[error("float {} has no JSON form", float_text(.0))]
    NonFiniteFloat(f64),
    /// JSON numbers here hold 64-bit integers (`i64` or `u64`).
    #[error("int {0} does not fit in 64 bits")]
    IntOutOfRange(i128),
    /// `bytes` have no JSON form (`json.dumps` refuses them too).
    #[error("bytes have no JSON form")]
    Bytes,
    /// A dict key `json.dumps` refuses (a tuple or bytes).
    #[error("dict key of type {0} has no JSON form")]
    Key(&'static str),
    /// A value `json.dumps` refuses (a set, complex, numpy array or
    /// scalar, datetime); see [`PyValue::to_json_tree`] for a JSON form of
    /// every value.
    #[error("{0} has no JSON form")]
    Unsupported(&'static str),
}

impl PyValue {
    /// The Python type name: `NoneType`, `bool`, `int`, `float`, `str`,
    /// `bytes`, `list`, `tuple` or `dict`.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::Bytes(_) => "bytes",
            PyValue::List(_) => "list",
            PyValue::Tuple(_) => "tuple",
            PyValue::Dict(_) => "dict",
            PyValue::Set(_) => "set",
            PyValue::FrozenSet(_) => "frozenset",
            PyValue::Complex(..) => "complex",
            PyValue::BigInt(_) => "int",
            PyValue::Array(_) => "numpy.ndarray",
            PyValue::Datetime64(_) => "numpy.datetime64",
            PyValue::Timedelta64(_) => "numpy.timedelta64",
            PyValue::DateTime(_) => "datetime.datetime",
        }
    }

    /// The text, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `self.get(key)` for a dict and a `str` key: the value of the first
    /// entry whose key is the string `key`. `None` for other values.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as `json.dumps` would write it, as a [`serde_json::Value`]:
    /// `None` is `null`, tuples are arrays, dicts are objects in their order.
    /// Dict keys are converted as `json.dumps` converts them: `str` as is,
    /// `int` and `float` as their Python text, `True`/`False`/`None` as
    /// `"true"`/`"false"`/`"null"`.
    ///
    /// Errors where `json.dumps` refuses (bytes, tuple or bytes keys) or would
    /// write something that is not JSON (NaN, infinities), and for integers
    /// beyond 64 bits, which `serde_json` numbers do not hold.
    pub fn to_json(&self) -> Result<serde_json::Value, JsonError> {
        use serde_json::Value;
        Ok(match self {
            PyValue::None => Value::Null,
            PyValue::Bool(b) => Value::Bool(*b),
            PyValue::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    Value::from(v)
                } else {
                    return Err(JsonError::IntOutOfRange(*i));
                }
            }
            PyValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .ok_or(JsonError::NonFiniteFloat(*f))?,
            PyValue::Str(s) => Value::String(s.clone()),
            PyValue::Bytes(_) => return Err(JsonError::Bytes),
            PyValue::List(items) | PyValue::Tuple(items) => Value::Array(
                items
                    .iter()
                    .map(PyValue::to_json)
                    .collect::<Result<_, _>>()?,
            ),
            PyValue::Dict(items) => {
                let mut map = serde_json::Map::with_capacity(items.len());
                for (k, v) in items {
                    let key = match k {
                        PyValue::Str(s) => s.clone(),
                        PyValue::Float(f) => json_float_key(*f),
                        PyValue::Bool(true) => "true".to_string(),
                        PyValue::Bool(false) => "false".to_string(),
                        PyValue::None => "null".to_string(),
                        PyValue::Int(i) => i.to_string(),
                        other => return Err(JsonError::Key(other.type_name())),
                    };
                    map.insert(key, v.to_json()?);
                }
                Value::Object(map)
            }
            other => return Err(JsonError::Unsupported(other.type_name())),
        })
    }

    /// The Python value `json.loads` gives for `value`: `null` is `None`,
    /// integers are `Int`, other numbers `Float`, arrays lists, objects dicts
    /// with `str` keys.
    pub fn from_json(value: &serde_json::Value) -> PyValue {
        use serde_json::Value;
        match value {
            Value::Null => PyValue::None,
            Value::Bool(b) => PyValue::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    PyValue::Int(i.into())
                } else if let Some(u) = n.as_u64() {
                    PyValue::Int(u.into())
                } else {
                    PyValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => PyValue::Str(s.clone()),
            Value::Array(items) => PyValue::List(items.iter().map(PyValue::from_json).collect()),
            Value::Object(map) => PyValue::Dict(
                map.iter()
                    .map(|(k, v)| (PyValue::Str(k.clone()), PyValue::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// A short description for error messages: `a dict`, `an int`, `None`.
    pub(super) fn describe(&self) -> &'static str {
        match self {
            PyValue::None => "None",
            PyValue::Bool(_) => "a bool",
            PyValue::Int(_) => "an int",
            PyValue::Float(_) => "a float",
            PyValue::Str(_) => "a str",
            PyValue::Bytes(_) => "a bytes",
            PyValue::List(_) => "a list",
            PyValue::Tuple(_) => "a tuple",
            PyValue::Dict(_) => "a dict",
            PyValue::Set(_) => "a set",
            PyValue::FrozenSet(_) => "a frozenset",
            PyValue::Complex(..) => "a complex",
            PyValue::BigInt(_) => "an int",
            PyValue::Array(_) => "a numpy array",
            PyValue::Datetime64(_) => "a numpy datetime64",
            PyValue::Timedelta64(_) => "a numpy timedelta64",
            PyValue::DateTime(_) => "a datetime",
        }
    }
}

fn float_text(f: &f64) -> String {
    py_float_repr(*f)
}

/// `json.dumps`'s text for a float dict key.
fn json_float_key(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        py_float_repr(f)
    }
}

/// Python's `repr(float)`: the shortest text that reads back as `x`, in
/// fixed notation for exponents from -4 to 15 and scientific otherwise.
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` is the shortest round-tripping form, e.g. `1.2345e-5`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if n as usize <= int_len {
                format!("{digits}{}.0", "0".repeat(int_len - n as usize))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let mut m = digits[..1].to_string();
        if n > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    };
    format!("{sign}{body}")
}

/// Python-literal text: like `repr`, exact for numbers, `None`, booleans,
/// containers and ASCII text (non-ASCII characters are written as they are).
impl fmt::Display for PyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, items: &[PyValue]) -> fmt::Result {
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            Ok(())
        }
        match self {
            PyValue::None => f.write_str("None"),
            PyValue::Bool(true) => f.write_str("True"),
            PyValue::Bool(false) => f.write_str("False"),
            PyValue::Int(i) => write!(f, "{i}"),
            PyValue::Float(x) => f.write_str(&py_float_repr(*x)),
            PyValue::Str(s) => {
                let quote = if s.contains('\'') && !s.contains('"') {
                    '"'
                } else {
                    '\''
                };
                write!(f, "{quote}")?;
                for c in s.chars() {
                    match c {
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        c if c == quote => write!(f, "\\{c}")?,
                        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                            write!(f, "\\x{:02x}", c as u32)?
                        }
                        c => write!(f, "{c}")?,
                    }
                }
                write!(f, "{quote}")
            }
            PyValue::Bytes(b) => {
                let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
                    b'"'
                } else {
                    b'\''
                };
                write!(f, "b{}", quote as char)?;
                for &c in b {
                    match c {
                        b'\\' => f.write_str("\\\\")?,
                        b'\n' => f.write_str("\\n")?,
                        b'\r' => f.write_str("\\r")?,
                        b'\t' => f.write_str("\\t")?,
                        c if c == quote => write!(f, "\\{}", c as char)?,
                        0x20..=0x7e => write!(f, "{}", c as char)?,
                        c => write!(f, "\\x{c:02x}")?,
                    }
                }
                write!(f, "{}", quote as char)
            }
            PyValue::List(items) => {
                f.write_str("[")?;
                seq(f, items)?;
                f.write_str("]")
            }
            PyValue::Tuple(items) => {
                f.write_str("(")?;
                seq(f, items)?;
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            PyValue::Dict(items) => {
                f.write_str("{")?;
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            PyValue::Set(items) if items.is_empty() => f.write_str("set()"),
            PyValue::Set(items) => {
                f.write_str("{")?;
                seq(f, items)?;
                f.write_str("}")
            }
            PyValue::FrozenSet(items) if items.is_empty() => f.write_str("frozenset()"),
            PyValue::FrozenSet(items) => {
                f.write_str("frozenset({")?;
                seq(f, items)?;
                f.write_str("})")
            }
            PyValue::Complex(re, im) => {
                let part = |x: f64| {
                    let t = py_float_repr(x);
                    t.strip_suffix(".0").map(str::to_string).unwrap_or(t)
                };
                let im_text = part(*im);
                let sign = if im_text.starts_with('-') { "" } else { "+" };
                write!(f, "({}{sign}{im_text}j)", part(*re))
            }
            PyValue::BigInt(b) => f.write_str(&big_int_decimal(b)),
            PyValue::Array(a) => {
                let dims: Vec<String> = a.shape.iter().map(u64::to_string).collect();
                let comma = if dims.len() == 1 { "," } else { "" };
                write!(
                    f,
                    "array(dtype='{}', shape=({}{comma}))",
                    a.descr,
                    dims.join(", ")
                )
            }
            PyValue::Datetime64(t) => write!(f, "numpy.datetime64({}, '{}')", t.value, t.unit),
            PyValue::Timedelta64(t) => write!(f, "numpy.timedelta64({}, '{}')", t.value, t.unit),
            PyValue::DateTime(d) => write!(f, "datetime.datetime.fromisoformat('{d}')"),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for PyValue {
            fn from(v: $t) -> PyValue {
                PyValue::Int(v as i128)
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64, usize, isize);

impl From<bool> for PyValue {
    fn from(v: bool) -> PyValue {
        PyValue::Bool(v)
    }
}

impl From<f64> for PyValue {
    fn from(v: f64) -> PyValue {
        PyValue::Float(v)
    }
}

impl From<f32> for PyValue {
    fn from(v: f32) -> PyValue {
        PyValue::Float(v.into())
    }
}

impl From<&str> for PyValue {
    fn from(v: &str) -> PyValue {
        PyValue::Str(v.to_string())
    }
}

impl From<String> for PyValue {
    fn from(v: String) -> PyValue {
        PyValue::Str(v)
    }
}

impl From<Vec<u8>> for PyValue {
    /// Bytes: `b'...'`.
    fn from(v: Vec<u8>) -> PyValue {
        PyValue::Bytes(v)
    }
}

impl From<Vec<PyValue>> for PyValue {
    /// A list.
    fn from(v: Vec<PyValue>) -> PyValue {
        PyValue::List(v)
    }
}

impl<T: Into<PyValue>> From<Option<T>> for PyValue {
    /// `None`, or the value.
    fn from(v: Option<T>) -> PyValue {
        v.map_or(PyValue::None, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (x, s) in [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (5e-324, "5e-324"),
            (1e300, "1e+300"),
            (f64::INFINITY, "inf"),
            (123.456, "123.456"),
        ] {
            assert_eq!(py_float_repr(x), s, "{x:e}");
        }
    }
}
