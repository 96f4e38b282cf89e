//! Two forms of every [`PyValue`], including the values only object arrays
//! hold: a JSON tree ([`PyValue::to_json_tree`], what `onedata info --json`
//! prints) and a canonical byte serialization
//! ([`PyValue::write_canonical`], what the digest of an object value hashes).

use serde_json::{json, Map, Value};

use super::value::{big_int_decimal, ArrayData, PyArray, PyValue};

/// How [`PyValue::to_json_tree`] writes the data of numpy arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayBytes {
    /// `"data"`: the raw bytes in hexadecimal.
    Hex,
    /// `"nbytes"`: only their count.
    Count,
}

fn float_tree(f: f64) -> Value {
    match serde_json::Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None => {
            let text = if f.is_nan() {
                "nan"
            } else if f > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            json!({ "$float": text })
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    crate::digest::to_hex(bytes)
}

/// Two's-complement little-endian bytes of `i`, without redundant sign
/// bytes (empty for 0), as pickle's `LONG1` writes them.
fn int_bytes(i: i128) -> Vec<u8> {
    let mut b = i.to_le_bytes().to_vec();
    while let [.., a, last] = b.as_slice() {
        let redundant = (*last == 0 && a & 0x80 == 0) || (*last == 0xff && a & 0x80 != 0);
        if !redundant {
            break;
        }
        b.pop();
    }
    if b == [0] {
        b.clear();
    }
    b
}

impl PyValue {
    /// The value as a JSON tree: `None`, booleans, strings and lists as
    /// themselves, integers as numbers when they fit in 64 bits, finite
    /// floats as numbers, dicts whose keys are all `str` (none starting with
    /// `$`) as objects in their order. Every other value is an object with
    /// one `$`-key:
    ///
    /// | value | JSON |
    /// |---|---|
    /// | int beyond 64 bits | `{"$int": "<decimal digits>"}` |
    /// | NaN, ±inf | `{"$float": "nan" \| "inf" \| "-inf"}` |
    /// | bytes | `{"$bytes": "<hex>"}` |
    /// | tuple | `{"$tuple": [...]}` |
    /// | other dict | `{"$dict": [[key, value], ...]}` |
    /// | set, frozenset | `{"$set": [...]}`, `{"$frozenset": [...]}` |
    /// | complex | `{"$complex": [real, imag]}` |
    /// | numpy array | `{"$ndarray": {"dtype": "<f8", "shape": [2], "fortran": false, "data": "<hex>"}}` |
    /// | datetime64, timedelta64 | `{"$datetime64": [count, "D"]}`, `{"$timedelta64": [count, "s"]}` |
    /// | datetime.datetime | `{"$datetime": "2024-01-01T12:00:00.000005"}` |
    ///
    /// An object array's `"data"` is the list of its elements (in C order); with [`ArrayBytes::Count`] other arrays give `"nbytes"`
    /// instead of `"data"`.
    ///
    /// [`json_text`] writes the tree as JSON text with ints beyond 64 bits
    /// as bare digits, as Python's `json.dumps` writes them (what
    /// `onedata info --json` prints).
    ///
    /// ```
    /// use onedata::recipe::{ArrayBytes, PyValue};
    /// let v = PyValue::Dict(vec![
    ///     (PyValue::Str("big".into()), PyValue::Int(1 << 70)),
    ///     (PyValue::Str("z".into()), PyValue::Complex(1.0, -2.0)),
    /// ]);
    /// assert_eq!(
    ///     v.to_json_tree(ArrayBytes::Hex).to_string(),
    ///     r#"{"big":{"$int":"1180591620717411303424"},"z":{"$complex":[1.0,-2.0]}}"#
    /// );
    /// ```
    pub fn to_json_tree(&self, arrays: ArrayBytes) -> Value {
        let list = |items: &[PyValue]| -> Value {
            Value::Array(items.iter().map(|x| x.to_json_tree(arrays)).collect())
        };
        match self {
            PyValue::None => Value::Null,
            PyValue::Bool(b) => Value::Bool(*b),
            PyValue::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    Value::from(v)
                } else {
                    json!({ "$int": i.to_string() })
                }
            }
            PyValue::BigInt(b) => json!({ "$int": big_int_decimal(b) }),
            PyValue::Float(f) => float_tree(*f),
            PyValue::Str(s) => Value::String(s.clone()),
            PyValue::Bytes(b) => json!({ "$bytes": hex(b) }),
            PyValue::List(items) => list(items),
            PyValue::Tuple(items) => json!({ "$tuple": list(items) }),
            PyValue::Set(items) => json!({ "$set": list(items) }),
            PyValue::FrozenSet(items) => json!({ "$frozenset": list(items) }),
            PyValue::Dict(items) => {
                let plain = items
                    .iter()
                    .all(|(k, _)| k.as_str().is_some_and(|s| !s.starts_with('$')));
                if plain {
                    let mut map = Map::with_capacity(items.len());
                    for (k, v) in items {
                        map.insert(
                            k.as_str().unwrap_or_default().to_string(),
                            v.to_json_tree(arrays),
                        );
                    }
                    Value::Object(map)
                } else {
                    let pairs = items
                        .iter()
                        .map(|(k, v)| json!([k.to_json_tree(arrays), v.to_json_tree(arrays)]))
                        .collect();
                    json!({ "$dict": Value::Array(pairs) })
                }
            }
            PyValue::Complex(re, im) => json!({ "$complex": [float_tree(*re), float_tree(*im)] }),
            PyValue::Array(a) => json!({ "$ndarray": array_tree(a, arrays) }),
            PyValue::Datetime64(t) => json!({ "$datetime64": [t.value, t.unit] }),
            PyValue::Timedelta64(t) => json!({ "$timedelta64": [t.value, t.unit] }),
            PyValue::DateTime(d) => json!({ "$datetime": d.to_string() }),
        }
    }

    /// Writes the canonical serialization of the value to `out`, the bytes
    /// the digest of an object value hashes (see [`crate::digest`]). Each
    /// value is a tag byte and its content; lengths and counts are u64
    /// little-endian:
    ///
    /// - `N` None; `T`/`F` booleans;
    /// - `i` int: length, then its minimal little-endian two's-complement
    ///   bytes (as pickle's `LONG1`; empty for 0), whatever its size;
    /// - `f` float: its 8 IEEE bytes, little-endian; `c` complex: real then
    ///   imaginary part, each so;
    /// - `s` str: length, UTF-8; `b` bytes: length, bytes;
    /// - `l` list, `t` tuple: count, then the elements; `d` dict: count,
    ///   then key and value of each entry in order;
    /// - `S` set, `R` frozenset: count, then the elements' serializations
    ///   **sorted** bytewise (so the digest does not depend on set order);
    /// - `a` numpy array: its dtype descr as a `s` value, the number of
    ///   dimensions and each dimension, a byte 1 if Fortran order else 0,
    ///   then `r`, length and the raw bytes, or for an object array `o`,
    ///   count and the elements;
    /// - `M` datetime64 / `m` timedelta64: the count (8 bytes little-endian),
    ///   then the unit as a `s` value;
    /// - `D` datetime.datetime: year (2 bytes little-endian), month, day,
    ///   hour, minute, second (1 byte each), microsecond (4 bytes
    ///   little-endian).
    pub fn write_canonical(&self, out: &mut dyn FnMut(&[u8])) {
        let len = |out: &mut dyn FnMut(&[u8]), n: usize| out(&(n as u64).to_le_bytes());
        let text = |out: &mut dyn FnMut(&[u8]), s: &str| {
            out(b"s");
            len(out, s.len());
            out(s.as_bytes());
        };
        match self {
            PyValue::None => out(b"N"),
            PyValue::Bool(true) => out(b"T"),
            PyValue::Bool(false) => out(b"F"),
            PyValue::Int(i) => {
                let b = int_bytes(*i);
                out(b"i");
                len(out, b.len());
                out(&b);
            }
            PyValue::BigInt(b) => {
                out(b"i");
                len(out, b.len());
                out(b);
            }
            PyValue::Float(f) => {
                out(b"f");
                out(&f.to_le_bytes());
            }
            PyValue::Complex(re, im) => {
                out(b"c");
                out(&re.to_le_bytes());
                out(&im.to_le_bytes());
            }
            PyValue::Str(s) => text(out, s),
            PyValue::Bytes(b) => {
                out(b"b");
                len(out, b.len());
                out(b);
            }
            PyValue::List(items) | PyValue::Tuple(items) => {
                out(if matches!(self, PyValue::List(_)) {
                    b"l"
                } else {
                    b"t"
                });
                len(out, items.len());
                items.iter().for_each(|x| x.write_canonical(out));
            }
            PyValue::Dict(items) => {
                out(b"d");
                len(out, items.len());
                for (k, v) in items {
                    k.write_canonical(out);
                    v.write_canonical(out);
                }
            }
            PyValue::Set(items) | PyValue::FrozenSet(items) => {
                out(if matches!(self, PyValue::Set(_)) {
                    b"S"
                } else {
                    b"R"
                });
                len(out, items.len());
                let mut encoded: Vec<Vec<u8>> = items
                    .iter()
                    .map(|x| {
                        let mut buf = Vec::new();
                        x.write_canonical(&mut |b| buf.extend_from_slice(b));
                        buf
                    })
                    .collect();
                encoded.sort();
                encoded.iter().for_each(|e| out(e));
            }
            PyValue::Array(a) => {
                out(b"a");
                text(out, &a.descr);
                len(out, a.shape.len());
                for &d in &a.shape {
                    out(&d.to_le_bytes());
                }
                out(&[u8::from(a.fortran)]);
                match &a.data {
                    ArrayData::Raw(raw) => {
                        out(b"r");
                        len(out, raw.len());
                        out(raw);
                    }
                    ArrayData::Objects(items) => {
                        out(b"o");
                        len(out, items.len());
                        items.iter().for_each(|x| x.write_canonical(out));
                    }
                }
            }
            PyValue::Datetime64(t) | PyValue::Timedelta64(t) => {
                out(if matches!(self, PyValue::Datetime64(_)) {
                    b"M"
                } else {
                    b"m"
                });
                out(&t.value.to_le_bytes());
                text(out, &t.unit);
            }
            PyValue::DateTime(d) => {
                out(b"D");
                out(&d.year.to_le_bytes());
                out(&[d.month, d.day, d.hour, d.minute, d.second]);
                out(&d.microsecond.to_le_bytes());
            }
        }
    }

    /// A short summary: `dict[12]`, `list[3]`, `object array (40,)`,
    /// `array <f4 (512, 512)`, or the type name for scalars.
    pub fn summary(&self) -> String {
        let shape = |s: &[u64]| {
            let dims: Vec<String> = s.iter().map(u64::to_string).collect();
            let comma = if dims.len() == 1 { "," } else { "" };
            format!("({}{comma})", dims.join(", "))
        };
        match self {
            PyValue::List(v) => format!("list[{}]", v.len()),
            PyValue::Tuple(v) => format!("tuple[{}]", v.len()),
            PyValue::Dict(v) => format!("dict[{}]", v.len()),
            PyValue::Set(v) => format!("set[{}]", v.len()),
            PyValue::FrozenSet(v) => format!("frozenset[{}]", v.len()),
            PyValue::Array(a) if a.is_object() => format!("object array {}", shape(&a.shape)),
            PyValue::Array(a) => format!("array {} {}", a.descr, shape(&a.shape)),
            other => other.type_name().to_string(),
        }
    }
}

/// `value` as compact JSON text (as `serde_json::to_string` writes it),
/// except that each `{"$int": "<decimal digits>"}` object of a
/// [`PyValue::to_json_tree`] is written as the bare digits: Python's
/// `json.dumps` writes `2**70` as `1180591620717411303424`, and
/// `serde_json` numbers cannot hold it.
///
/// ```
/// use onedata::recipe::{json_text, ArrayBytes, PyValue};
/// let v = PyValue::List(vec![PyValue::Int(1 << 70), PyValue::Int(-3)]);
/// assert_eq!(
///     json_text(&v.to_json_tree(ArrayBytes::Count)),
///     "[1180591620717411303424,-3]"
/// );
/// ```
pub fn json_text(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            if let (1, Some(Value::String(digits))) = (map.len(), map.get("$int")) {
                let body = digits.strip_prefix('-').unwrap_or(digits);
                if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
                    out.push_str(digits);
                    return;
                }
            }
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn array_tree(a: &PyArray, arrays: ArrayBytes) -> Value {
    let mut map = Map::new();
    map.insert("dtype".into(), Value::String(a.descr.clone()));
    map.insert("shape".into(), json!(a.shape));
    map.insert("fortran".into(), Value::Bool(a.fortran));
    match (&a.data, arrays) {
        (ArrayData::Objects(items), _) => {
            let items = items.iter().map(|x| x.to_json_tree(arrays)).collect();
            map.insert("data".into(), Value::Array(items));
        }
        (ArrayData::Raw(raw), ArrayBytes::Hex) => {
            map.insert("data".into(), Value::String(hex(raw)));
        }
        (ArrayData::Raw(raw), ArrayBytes::Count) => {
            map.insert("nbytes".into(), json!(raw.len()));
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_writes_big_ints_as_digits_and_the_rest_as_serde_json() {
        let mut b = vec![0u8; 17];
        b[16] = 1;
        let v = PyValue::Dict(vec![
            (PyValue::Str("i70".into()), PyValue::Int(1 << 70)),
            (PyValue::Str("i128".into()), PyValue::BigInt(b)),
            (PyValue::Str("neg".into()), PyValue::Int(i128::MIN)),
            (
                PyValue::Str("x".into()),
                PyValue::List(vec![PyValue::Float(0.5), PyValue::Str("\"$int\"".into())]),
            ),
            (PyValue::Int(1), PyValue::None),
        ]);
        let tree = v.to_json_tree(ArrayBytes::Count);
        assert_eq!(
            json_text(&tree),
            r#"{"$dict":[["i70",1180591620717411303424],["i128",340282366920938463463374607431768211456],["neg",-170141183460469231731687303715884105728],["x",[0.5,"\"$int\""]],[1,null]]}"#
        );
        // Without big ints it is serde_json's text.
        let plain = json!({"a": [1, -2, 0.25, "é\n", null, true], "b": {"$int": "x1"}});
        assert_eq!(json_text(&plain), plain.to_string());
    }

    #[test]
    fn int_bytes_are_minimal() {
        assert_eq!(int_bytes(0), Vec::<u8>::new());
        assert_eq!(int_bytes(1), vec![1]);
        assert_eq!(int_bytes(-1), vec![0xff]);
        assert_eq!(int_bytes(128), vec![0x80, 0]);
        assert_eq!(int_bytes(-129), vec![0x7f, 0xff]);
        assert_eq!(
            big_int_decimal(&int_bytes(i128::MIN)),
            i128::MIN.to_string()
        );
        assert_eq!(
            big_int_decimal(&int_bytes(i128::MAX)),
            i128::MAX.to_string()
        );
        assert_eq!(big_int_decimal(&int_bytes(-1_000_000_000)), "-1000000000");
        assert_eq!(big_int_decimal(&[]), "0");
    }
}
