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

mod from_value;
mod parse;
mod to_value;

pub use from_value::from_pyjson;
pub use parse::loads;
pub use to_value::to_pyjson;

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
