//! [`PyValue`], the plain Python values a recipe holds: their Python-literal
//! text ([`Display`](fmt::Display), [`py_float_repr`]), their JSON form
//! ([`PyValue::to_json`], [`PyValue::from_json`]) and conversions from Rust
//! values.

use std::fmt;

use crate::error::Result;

/// A plain Python value, as a recipe holds it.
///
/// Dicts keep their insertion order, as Python's do. Integers are `i128`
/// (Python's are unbounded; larger ones are refused when decoding).
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
