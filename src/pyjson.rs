//! JSON as Python's `json` module reads and writes it.
//!
//! vrAnalysis writes `vrExperimentValues.json` with
//! `json.dump(values, f, ensure_ascii=False)`, which writes the tokens `NaN`,
//! `Infinity` and `-Infinity` for non-finite floats, integers of any size,
//! and floats as Python's `repr` spells them (`1e-05`, `1e+16`, `0.1`).
//! `serde_json` refuses the first and cannot hold the second, so onedata
//! reads and writes these files with this module:
//!
//! - [`loads`] follows `json.loads`: its grammar (`NaN`, `Infinity`,
//!   `-Infinity` accepted; `nan`, `-NaN`, `+Infinity`, trailing commas,
//!   control characters in strings refused), its numbers (an integer token is
//!   an `int` of any size, anything with a fraction or exponent a `float`,
//!   `1e400` is infinity) and its dicts (a repeated key keeps its first
//!   position and takes the last value). Its error messages are Python's
//!   (`Expecting value: line 1 column 5 (char 4)`).
//! - [`dumps`] writes exactly what `json.dumps(value, ensure_ascii=False)`
//!   writes: one line, `", "` and `": "`, floats as `repr`, non-ASCII
//!   characters as they are.
//! - [`to_pyjson`] turns any `Serialize` value into a [`PyJson`] (`f64::NAN`
//!   stays NaN), and [`from_pyjson`] deserializes one into any type (`NaN`
//!   reads back as `f64::NAN`).
//!
//! ```
//! use onedata::pyjson::{dumps, from_pyjson, loads};
//!
//! let text = r#"{"dev": Infinity, "nan": NaN, "small": 1e-05, "big": 1180591620717411303424}"#;
//! let values = loads(text).unwrap();
//! let nan: f64 = from_pyjson(values.get("nan").unwrap()).unwrap();
//! assert!(nan.is_nan());
//! assert_eq!(from_pyjson::<f64>(values.get("dev").unwrap()).unwrap(), f64::INFINITY);
//! assert_eq!(dumps(&values), text);
//! ```

use std::fmt;

use serde::de::value::{MapAccessDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

use crate::recipe::py_float_repr;

/// The deepest nesting [`loads`] accepts (Python stops at its recursion
/// limit, about 1000).
pub const MAX_DEPTH: usize = 512;

/// A value as Python's `json.loads` gives it.
///
/// Equality is structural (`NaN != NaN`, `Int(1) != Float(1.0)`).
#[derive(Debug, Clone, PartialEq)]
pub enum PyJson {
    /// `null` (`None`).
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in 128 bits.
    Int(i128),
    /// A larger integer, as its decimal digits (with `-` if negative).
    BigInt(String),
    /// A float, NaN and the infinities included.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<PyJson>),
    /// An object (a `dict`): keys in insertion order, each once.
    Dict(Vec<(String, PyJson)>),
}

/// Why JSON text could not be read, or a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyJsonError(String);

impl fmt::Display for PyJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PyJsonError {}

impl ser::Error for PyJsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PyJsonError(msg.to_string())
    }
}

impl de::Error for PyJsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PyJsonError(msg.to_string())
    }
}

impl PyJson {
    /// The value under `key`, if this is a dict that has it.
    pub fn get(&self, key: &str) -> Option<&PyJson> {
        match self {
            PyJson::Dict(items) => dict_get(items, key),
            _ => None,
        }
    }

    /// The value as a float, for `Int`, `BigInt` and `Float`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyJson::Int(i) => Some(*i as f64),
            PyJson::BigInt(s) => s.parse().ok(),
            PyJson::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as a [`serde_json::Value`], if it can hold it exactly:
    /// `None` when a non-finite float or an integer beyond 64 bits is inside.
    pub fn to_serde(&self) -> Option<serde_json::Value> {
        use serde_json::Value;
        Some(match self {
            PyJson::Null => Value::Null,
            PyJson::Bool(b) => Value::Bool(*b),
            PyJson::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else {
                    Value::from(u64::try_from(*i).ok()?)
                }
            }
            PyJson::BigInt(_) => return None,
            PyJson::Float(f) => Value::Number(serde_json::Number::from_f64(*f)?),
            PyJson::Str(s) => Value::String(s.clone()),
            PyJson::List(items) => {
                Value::Array(items.iter().map(PyJson::to_serde).collect::<Option<_>>()?)
            }
            PyJson::Dict(items) => {
                let mut map = serde_json::Map::with_capacity(items.len());
                for (k, v) in items {
                    map.insert(k.clone(), v.to_serde()?);
                }
                Value::Object(map)
            }
        })
    }

    /// The value as a [`serde_json::Value`], as `serde_json` itself would
    /// hold it: NaN and the infinities become `null` (as
    /// `serde_json::to_value(f64::NAN)` gives), integers beyond 64 bits the
    /// nearest float (as `serde_json::from_str` reads them).
    pub fn to_serde_lossy(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            PyJson::Int(i) => i64::try_from(*i)
                .map(Value::from)
                .or_else(|_| u64::try_from(*i).map(Value::from))
                .unwrap_or_else(|_| float_or_null(*i as f64)),
            PyJson::BigInt(s) => float_or_null(s.parse().unwrap_or(f64::NAN)),
            PyJson::Float(f) => float_or_null(*f),
            PyJson::List(items) => Value::Array(items.iter().map(PyJson::to_serde_lossy).collect()),
            PyJson::Dict(items) => Value::Object(
                items
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_serde_lossy()))
                    .collect(),
            ),
            other => other.to_serde().unwrap_or(Value::Null),
        }
    }
}

impl From<&serde_json::Value> for PyJson {
    /// The value `json.loads` gives for the same text: integers are `Int`,
    /// other numbers `Float`.
    fn from(value: &serde_json::Value) -> PyJson {
        use serde_json::Value;
        match value {
            Value::Null => PyJson::Null,
            Value::Bool(b) => PyJson::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    PyJson::Int(i.into())
                } else if let Some(u) = n.as_u64() {
                    PyJson::Int(u.into())
                } else {
                    PyJson::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => PyJson::Str(s.clone()),
            Value::Array(items) => PyJson::List(items.iter().map(PyJson::from).collect()),
            Value::Object(map) => PyJson::Dict(
                map.iter()
                    .map(|(k, v)| (k.clone(), PyJson::from(v)))
                    .collect(),
            ),
        }
    }
}

fn float_or_null(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// The value under `key` in a dict's items.
pub fn dict_get<'a>(items: &'a [(String, PyJson)], key: &str) -> Option<&'a PyJson> {
    items.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Sets `key` to `value` as a Python dict does: an existing key keeps its
/// position and takes the new value; a new key goes last.
pub fn dict_insert(items: &mut Vec<(String, PyJson)>, key: String, value: PyJson) {
    match items.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => *v = value,
        None => items.push((key, value)),
    }
}

// ---------------------------------------------------------------------------
// Reading: json.loads.

/// Parses `text` as Python's `json.loads(text)` does.
pub fn loads(text: &str) -> Result<PyJson, PyJsonError> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        depth: 0,
        lone: None,
    };
    if text.starts_with('\u{feff}') {
        return Err(p.error("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0));
    }
    p.ws();
    let value = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.error("Extra data", p.i));
    }
    if let Some((code, at)) = p.lone {
        return Err(p.error(
            &format!("Lone surrogate \\u{code:04x} is not supported"),
            at,
        ));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
    /// The first lone surrogate escape (`\ud800`) and where it is.
    lone: Option<(u32, usize)>,
}

impl Parser<'_> {
    /// Python's message: `msg: line L column C (char N)`, counted in characters.
    fn error(&self, msg: &str, at: usize) -> PyJsonError {
        let before = &self.s[..at.min(self.s.len())];
        let line = before.matches('\n').count() + 1;
        let col = match before.rfind('\n') {
            Some(nl) => before[nl + 1..].chars().count() + 1,
            None => before.chars().count() + 1,
        };
        let pos = before.chars().count();
        PyJsonError(format!("{msg}: line {line} column {col} (char {pos})"))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<PyJson, PyJsonError> {
        let start = self.i;
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                return self.string(start).map(PyJson::Str);
            }
            Some(b'{') => return self.nested(start, Parser::object),
            Some(b'[') => return self.nested(start, Parser::array),
            Some(b'n') if self.eat("null") => return Ok(PyJson::Null),
            Some(b't') if self.eat("true") => return Ok(PyJson::Bool(true)),
            Some(b'f') if self.eat("false") => return Ok(PyJson::Bool(false)),
            None => return Err(self.error("Expecting value", start)),
            _ => {}
        }
        if let Some(number) = self.number() {
            return Ok(number);
        }
        if self.eat("NaN") {
            Ok(PyJson::Float(f64::NAN))
        } else if self.eat("Infinity") {
            Ok(PyJson::Float(f64::INFINITY))
        } else if self.eat("-Infinity") {
            Ok(PyJson::Float(f64::NEG_INFINITY))
        } else {
            Err(self.error("Expecting value", start))
        }
    }

    fn nested(
        &mut self,
        start: usize,
        f: fn(&mut Self) -> Result<PyJson, PyJsonError>,
    ) -> Result<PyJson, PyJsonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(&format!("Nesting deeper than {MAX_DEPTH} levels"), start));
        }
        self.depth += 1;
        self.i += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, or `None` (and
    /// nothing consumed) when there is no such number here.
    fn number(&mut self) -> Option<PyJson> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => {
                self.i = start;
                return None;
            }
        }
        let mut float = false;
        if self.peek() == Some(b'.') && matches!(self.b.get(self.i + 1), Some(b'0'..=b'9')) {
            self.i += 1;
            self.digits();
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.i;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                self.i = mark;
            } else {
                float = true;
            }
        }
        let text = &self.s[start..self.i];
        Some(if float {
            // Rust's parse rounds correctly and overflows to infinity, as
            // Python's float() does.
            PyJson::Float(text.parse().unwrap_or(f64::NAN))
        } else {
            match text.parse::<i128>() {
                Ok(i) => PyJson::Int(i),
                Err(_) => PyJson::BigInt(text.to_string()),
            }
        })
    }

    /// The rest of a string whose opening quote is at `start`.
    fn string(&mut self, start: usize) -> Result<String, PyJsonError> {
        let mut out = String::new();
        loop {
            let chunk = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            out.push_str(&self.s[chunk..self.i]);
            match self.peek() {
                None => return Err(self.error("Unterminated string starting at", start)),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let at = self.i;
                    self.i += 1;
                    let c = match self.peek() {
                        None => return Err(self.error("Unterminated string starting at", start)),
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i -= 1;
                            out.push(self.unicode_escape(at)?);
                            continue;
                        }
                        Some(_) => return Err(self.error("Invalid \\escape", at)),
                    };
                    self.i += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.error("Invalid control character at", self.i)),
            }
        }
    }

    /// Four hex digits after `\u` at `self.i`, moving past them.
    fn hex4(&mut self, at: usize) -> Result<u32, PyJsonError> {
        let hex = self.b.get(self.i + 2..self.i + 6);
        match hex
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
        {
            Some(v) => {
                self.i += 6;
                Ok(v)
            }
            None => Err(self.error("Invalid \\uXXXX escape", at + 1)),
        }
    }

    /// `\uXXXX` at `self.i`, a surrogate pair joined.
    fn unicode_escape(&mut self, at: usize) -> Result<char, PyJsonError> {
        let hi = self.hex4(at)?;
        let code = if (0xd800..0xdc00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
            let mark = self.i;
            let lo = self.hex4(self.i)?;
            if (0xdc00..0xe000).contains(&lo) {
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            } else {
                self.i = mark;
                hi
            }
        } else {
            hi
        };
        // Python keeps lone surrogates in its str; a Rust String cannot. The
        // refusal waits for the end of the text, so that any error Python
        // would report is reported first.
        Ok(char::from_u32(code).unwrap_or_else(|| {
            if self.lone.is_none() {
                self.lone = Some((code, at));
            }
            char::REPLACEMENT_CHARACTER
        }))
    }

    fn array(&mut self) -> Result<PyJson, PyJsonError> {
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(PyJson::List(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b']') => {
                    self.i += 1;
                    return Ok(PyJson::List(items));
                }
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                _ => return Err(self.error("Expecting ',' delimiter", self.i)),
            }
        }
    }

    fn object(&mut self) -> Result<PyJson, PyJsonError> {
        let mut items = Vec::new();
        self.ws();
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(PyJson::Dict(items));
            }
            Some(b'"') => {}
            _ => {
                return Err(self.error("Expecting property name enclosed in double quotes", self.i))
            }
        }
        loop {
            let start = self.i;
            self.i += 1;
            let key = self.string(start)?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.error("Expecting ':' delimiter", self.i));
            }
            self.i += 1;
            self.ws();
            let value = self.value()?;
            dict_insert(&mut items, key, value);
            self.ws();
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(PyJson::Dict(items));
                }
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(
                            self.error("Expecting property name enclosed in double quotes", self.i)
                        );
                    }
                }
                _ => return Err(self.error("Expecting ',' delimiter", self.i)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Writing: json.dumps(value, ensure_ascii=False).

/// `value` as `json.dumps(value, ensure_ascii=False)` writes it.
pub fn dumps(value: &PyJson) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// The dict `items` as `json.dumps(dict, ensure_ascii=False)` writes it.
pub fn dumps_dict(items: &[(String, PyJson)]) -> String {
    let mut out = String::new();
    write_dict(&mut out, items);
    out
}

fn write_dict(out: &mut String, items: &[(String, PyJson)]) {
    out.push('{');
    for (n, (k, v)) in items.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        write_str(out, k);
        out.push_str(": ");
        write_value(out, v);
    }
    out.push('}');
}

/// `json.dumps`'s text for a float: `repr`, or `NaN`, `Infinity`, `-Infinity`.
fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        py_float_repr(f)
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_value(out: &mut String, value: &PyJson) {
    match value {
        PyJson::Null => out.push_str("null"),
        PyJson::Bool(true) => out.push_str("true"),
        PyJson::Bool(false) => out.push_str("false"),
        PyJson::Int(i) => out.push_str(&i.to_string()),
        PyJson::BigInt(s) => out.push_str(s),
        PyJson::Float(f) => out.push_str(&float_text(*f)),
        PyJson::Str(s) => write_str(out, s),
        PyJson::List(items) => {
            out.push('[');
            for (n, v) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                write_value(out, v);
            }
            out.push(']');
        }
        PyJson::Dict(items) => write_dict(out, items),
    }
}

// ---------------------------------------------------------------------------
// From Rust values: a serde Serializer.

/// Any `Serialize` value as a [`PyJson`], as `serde_json::to_value` would
/// give it except that NaN and the infinities stay floats and 128-bit
/// integers stay exact. `f32` is widened to `f64` (as vrAnalysis'
/// `NumpyEncoder` does with `float(x)`). Map keys are converted as
/// `json.dumps` converts dict keys (ints and floats as their text,
/// booleans as `true`/`false`, unit as `null`).
pub fn to_pyjson<T: Serialize + ?Sized>(value: &T) -> Result<PyJson, PyJsonError> {
    value.serialize(ValueSerializer)
}

struct ValueSerializer;

type SerResult = Result<PyJson, PyJsonError>;

/// Lists: seq, tuple, tuple struct and tuple variant (`{variant: [...]}`).
struct ListSer {
    items: Vec<PyJson>,
    variant: Option<&'static str>,
}

/// Dicts: map, struct and struct variant (`{variant: {...}}`).
struct DictSer {
    items: Vec<(String, PyJson)>,
    key: Option<String>,
    variant: Option<&'static str>,
}

fn wrap(variant: Option<&'static str>, value: PyJson) -> PyJson {
    match variant {
        Some(v) => PyJson::Dict(vec![(v.to_string(), value)]),
        None => value,
    }
}

fn key_text(key: PyJson) -> Result<String, PyJsonError> {
    Ok(match key {
        PyJson::Str(s) => s,
        PyJson::Int(i) => i.to_string(),
        PyJson::BigInt(s) => s,
        PyJson::Float(f) => float_text(f),
        PyJson::Bool(b) => b.to_string(),
        PyJson::Null => "null".into(),
        PyJson::List(_) => {
            return Err(PyJsonError(
                "keys must be str, int, float, bool or None, not list".into(),
            ))
        }
        PyJson::Dict(_) => {
            return Err(PyJsonError(
                "keys must be str, int, float, bool or None, not dict".into(),
            ))
        }
    })
}

impl ser::Serializer for ValueSerializer {
    type Ok = PyJson;
    type Error = PyJsonError;
    type SerializeSeq = ListSer;
    type SerializeTuple = ListSer;
    type SerializeTupleStruct = ListSer;
    type SerializeTupleVariant = ListSer;
    type SerializeMap = DictSer;
    type SerializeStruct = DictSer;
    type SerializeStructVariant = DictSer;

    fn serialize_bool(self, v: bool) -> SerResult {
        Ok(PyJson::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i128(self, v: i128) -> SerResult {
        Ok(PyJson::Int(v))
    }
    fn serialize_u8(self, v: u8) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> SerResult {
        Ok(match i128::try_from(v) {
            Ok(i) => PyJson::Int(i),
            Err(_) => PyJson::BigInt(v.to_string()),
        })
    }
    fn serialize_f32(self, v: f32) -> SerResult {
        Ok(PyJson::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> SerResult {
        Ok(PyJson::Float(v))
    }
    fn serialize_char(self, v: char) -> SerResult {
        Ok(PyJson::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> SerResult {
        Ok(PyJson::Str(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> SerResult {
        Ok(PyJson::List(
            v.iter().map(|&b| PyJson::Int(b.into())).collect(),
        ))
    }
    fn serialize_none(self) -> SerResult {
        Ok(PyJson::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> SerResult {
        value.serialize(self)
    }
    fn serialize_unit(self) -> SerResult {
        Ok(PyJson::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> SerResult {
        Ok(PyJson::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> SerResult {
        Ok(PyJson::Str(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> SerResult {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> SerResult {
        Ok(wrap(Some(variant), value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ListSer, PyJsonError> {
        Ok(ListSer {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<ListSer, PyJsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<ListSer, PyJsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<ListSer, PyJsonError> {
        Ok(ListSer {
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<DictSer, PyJsonError> {
        Ok(DictSer {
            items: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<DictSer, PyJsonError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<DictSer, PyJsonError> {
        Ok(DictSer {
            items: Vec::with_capacity(len),
            key: None,
            variant: Some(variant),
        })
    }
}

impl ListSer {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.items.push(to_pyjson(value)?);
        Ok(())
    }
    fn finish(self) -> SerResult {
        Ok(wrap(self.variant, PyJson::List(self.items)))
    }
}

impl ser::SerializeSeq for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeTuple for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl DictSer {
    fn finish(self) -> SerResult {
        Ok(wrap(self.variant, PyJson::Dict(self.items)))
    }
}

impl ser::SerializeMap for DictSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), PyJsonError> {
        self.key = Some(key_text(to_pyjson(key)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| PyJsonError("a map value without a key".into()))?;
        dict_insert(&mut self.items, key, to_pyjson(value)?);
        Ok(())
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeStruct for DictSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PyJsonError> {
        dict_insert(&mut self.items, key.to_string(), to_pyjson(value)?);
        Ok(())
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeStructVariant for DictSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PyJsonError> {
        dict_insert(&mut self.items, key.to_string(), to_pyjson(value)?);
        Ok(())
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

// ---------------------------------------------------------------------------
// To Rust values: a serde Deserializer.

/// Deserializes `value` as `T`, as `serde_json::from_value` would, except
/// that NaN and the infinities read as `f64` (or `f32`) NaN and infinities.
/// A float target takes integers of any size (as `float(i)`); integers
/// beyond `u128` read only as floats.
pub fn from_pyjson<T: DeserializeOwned>(value: &PyJson) -> Result<T, PyJsonError> {
    T::deserialize(value)
}

impl<'de> IntoDeserializer<'de, PyJsonError> for &'de PyJson {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for &'de PyJson {
    type Error = PyJsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Null => visitor.visit_unit(),
            PyJson::Bool(b) => visitor.visit_bool(*b),
            PyJson::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    visitor.visit_i64(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    visitor.visit_u64(v)
                } else {
                    visitor.visit_i128(*i)
                }
            }
            PyJson::BigInt(s) => match s.parse::<u128>() {
                Ok(v) => visitor.visit_u128(v),
                Err(_) => visitor.visit_f64(s.parse().unwrap_or(f64::NAN)),
            },
            PyJson::Float(f) => visitor.visit_f64(*f),
            PyJson::Str(s) => visitor.visit_borrowed_str(s),
            PyJson::List(items) => {
                let mut seq = SeqDeserializer::new(items.iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            PyJson::Dict(items) => {
                let mut map = MapDeserializer::new(items.iter().map(|(k, v)| (k.as_str(), v)));
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    /// A float asked for: integers of any size are converted (as Python's
    /// `float(i)`), as well as floats.
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Int(_) | PyJson::BigInt(_) => {
                visitor.visit_f64(self.as_f64().unwrap_or(f64::NAN))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PyJsonError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            PyJson::Dict(items) if items.len() == 1 => {
                visitor.visit_enum(MapAccessDeserializer::new(MapDeserializer::new(
                    items.iter().map(|(k, v)| (k.as_str(), v)),
                )))
            }
            _ => Err(de::Error::custom(
                "an enum is a string or an object with one key",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) {
        assert_eq!(dumps(&loads(text).unwrap()), text);
    }

    #[test]
    fn python_text_round_trips() {
        round(
            r#"{"numFrames": 1000, "planeNames": ["plane0", "plane1"], "dev": Infinity, "neg": -Infinity, "nan": NaN, "f32": 0.10000000149011612, "small": 1e-05, "big": 1e+16, "hundred": 100.0, "neg0": -0.0, "arr": [1.5, NaN], "bigint": 1180591620717411303424, "b": true, "nested": {"1": null, "2": true}, "c": {"real": 1.0, "imag": 2.0}}"#,
        );
        round("[\"\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\", \"été/\u{7f}\u{2028}😀\", [], {}]");
        round("-12345678901234567890123456789012345678901234567890");
    }

    #[test]
    fn python_grammar() {
        let v = loads(" {\"a\": 1, \"b\": 2, \"a\": 3} ").unwrap();
        assert_eq!(
            v,
            PyJson::Dict(vec![
                ("a".into(), PyJson::Int(3)),
                ("b".into(), PyJson::Int(2))
            ])
        );
        assert_eq!(loads("1e400").unwrap(), PyJson::Float(f64::INFINITY));
        assert_eq!(loads("-0").unwrap(), PyJson::Int(0));
        assert_eq!(loads("1E2").unwrap(), PyJson::Float(100.0));
        assert_eq!(
            loads(r#""\ud83d\ude00 \u00e9""#).unwrap(),
            PyJson::Str("😀 é".into())
        );
        for bad in [
            "",
            "nan",
            "-NaN",
            "+Infinity",
            "inf",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "\"\u{1}\"",
            "\"\\x\"",
            "\"\\ud800\"",
            "[",
            "{'a': 1}",
            "\u{feff}1",
            "1 2",
        ] {
            assert!(loads(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            loads(r#"{"a": 1, "b": NaN, "c": nan}"#)
                .unwrap_err()
                .to_string(),
            "Expecting value: line 1 column 25 (char 24)"
        );
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(loads(&deep).unwrap_err().to_string().starts_with("Nesting"));
    }

    #[test]
    fn serde_both_ways() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        enum E {
            A,
            B(f64),
            C { x: i32 },
        }
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct S {
            f: f64,
            g: f32,
            v: Vec<Option<u64>>,
            e: Vec<E>,
            t: (i8, String),
            big: u128,
        }
        let s = S {
            f: f64::NEG_INFINITY,
            g: 0.1,
            v: vec![Some(1), None],
            e: vec![E::A, E::B(2.5), E::C { x: -3 }],
            t: (-1, "x".into()),
            big: u128::MAX,
        };
        let j = to_pyjson(&s).unwrap();
        assert_eq!(
            dumps(&j),
            r#"{"f": -Infinity, "g": 0.10000000149011612, "v": [1, null], "e": ["A", {"B": 2.5}, {"C": {"x": -3}}], "t": [-1, "x"], "big": 340282366920938463463374607431768211455}"#
        );
        let back: S = from_pyjson(&loads(&dumps(&j)).unwrap()).unwrap();
        assert_eq!(back.e, s.e);
        assert_eq!(back.f, f64::NEG_INFINITY);
        assert!(from_pyjson::<f64>(&PyJson::Float(f64::NAN))
            .unwrap()
            .is_nan());
        assert!(from_pyjson::<u64>(&PyJson::Str("x".into())).is_err());
        let m: std::collections::BTreeMap<i32, bool> = [(1, true), (-2, false)].into();
        assert_eq!(
            dumps(&to_pyjson(&m).unwrap()),
            r#"{"-2": false, "1": true}"#
        );
        assert_eq!(
            PyJson::Float(f64::NAN).to_serde_lossy(),
            serde_json::Value::Null
        );
        assert_eq!(PyJson::Float(f64::NAN).to_serde(), None);
    }
}
