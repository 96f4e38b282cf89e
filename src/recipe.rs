//! Loading recipes: vrAnalysis's "load this from elsewhere" files, read and
//! written without running Python.
//!
//! vrAnalysis saves a `LoadingRecipe` in place of an array as
//! `np.save(path, np.array(recipe.to_dict(), dtype=object))`, where
//! `to_dict()` is
//!
//! ```text
//! {"marker": "__LOADING_RECIPE__", "loader_type": str, "source_arg": str | None,
//!  "transforms": list[str], "kwargs": dict}
//! ```
//!
//! The file is a `.npy` of dtype `|O` and shape `()` whose data is a pickle of
//! the array. onedata decodes that pickle with a small, restricted pickle
//! machine ([`decode_object_array`]) that understands exactly what numpy and
//! Python write for such an array, protocols 2 to 5, and nothing more:
//!
//! - **Nothing is ever imported or called.** The only globals a pickle may
//!   name are `numpy.core.multiarray._reconstruct` and
//!   `numpy.core.multiarray.scalar` (and their numpy 2 spellings under
//!   `numpy._core.multiarray`), `numpy.ndarray`, `numpy.dtype`,
//!   `_codecs.encode` and `builtins.bytes`; any other (`os.system`,
//!   `builtins.eval`, ...) is refused at the opcode that names it. `REDUCE`
//!   and `BUILD` are only interpreted, symbolically, for those: the
//!   array-reconstruct, scalar and dtype patterns, and
//!   `_codecs.encode(str, 'latin1')` and `bytes()` (how protocol 2 spells
//!   bytes and empty bytes).
//! - **Memory and time are bounded.** Containers nest at most [`MAX_DEPTH`]
//!   levels; a pickle may create (or, through shared memo references, expand
//!   to) at most [`MAX_VALUES`] values and [`MAX_EXPANDED_BYTES`] bytes of text
//!   (or its own length, if larger), so a "billion laughs" memo bomb is a typed
//!   error, not an allocation. Every length prefix is checked against the bytes
//!   that are left before anything is allocated; memo indices live in a hash map.
//! - **It never panics**: every fault is a [`PickleError`] naming it.
//!
//! Python values become [`PyValue`]s. Integers are `i128`: Python's unbounded
//! ints beyond 128 bits are refused with [`PickleError::IntTooLarge`]. numpy
//! scalars (`np.int64(3)`, `np.float32(0.5)`, `np.bool_(True)`, `np.str_`,
//! `np.bytes_`) become the Python value they equal, so a recipe whose kwargs
//! came out of numpy reads as if they had been plain Python values (and is
//! written back as such); complex and datetime scalars, arrays, sets and
//! other objects inside a recipe are refused.
//!
//! Writing ([`write_recipe`], [`encode_recipe_npy`]) produces the file
//! numpy 1.x's `np.save` writes for the recipe: the same header as numpy, and a
//! protocol 3 pickle naming `numpy.core.multiarray._reconstruct`. Protocol 3
//! and the `numpy.core` path load in every Python 3 and every numpy from 1.x
//! to 2.x; numpy 2 keeps `numpy.core.multiarray._reconstruct` importable
//! without a deprecation warning precisely to load such pickles, while
//! numpy 1.x has no `numpy._core` (so numpy 2's own `np.save` output does not
//! load there). The opcodes and memo numbering are the ones CPython's pickler
//! emits; only where Python would share one object between two places (a
//! memo get) onedata writes the value again.
//!
//! ```
//! # fn main() -> onedata::Result<()> {
//! use onedata::recipe::{read_recipe, write_recipe, LoadingRecipe, PyValue};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("mpci.roiActivityF.npy");
//! let recipe = LoadingRecipe::new("s2p", Some("F"), ["transpose"])
//!     .with_kwarg("planes", vec![PyValue::Int(0), PyValue::Int(1)])
//!     .with_kwarg("keep_planes", PyValue::None);
//! write_recipe(&path, &recipe)?;
//! assert_eq!(read_recipe(&path)?, recipe);
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, ErrorKind, PickleError, RecipeError, Result};
use crate::npy::{write_atomic, Dtype, Header, OpenedFile};

/// The value of the `marker` key that makes a dict a loading recipe.
pub const RECIPE_MARKER: &str = "__LOADING_RECIPE__";

/// Deepest nesting of containers (lists, tuples, dicts) decoded or written.
/// The recipe dict itself is one level, its `kwargs` dict a second.
pub const MAX_DEPTH: usize = 64;

/// Most values a pickle may create or expand to (shared references count once
/// per place they appear in the result).
pub const MAX_VALUES: usize = 1 << 20;

/// Most bytes of text and bytes a pickle may expand to through shared
/// references, when that is more than the pickle's own length.
pub const MAX_EXPANDED_BYTES: usize = 64 << 20;

/// Deepest nesting of `MARK`s.
const MAX_MARKS: usize = 2 * MAX_DEPTH;

/// The pickle protocol onedata writes.
const WRITE_PROTOCOL: u8 = 3;

/// Longest module or attribute name quoted in an error.
const MAX_QUOTED: usize = 100;

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

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
    fn describe(&self) -> &'static str {
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

// ---------------------------------------------------------------------------
// Recipes
// ---------------------------------------------------------------------------

/// vrAnalysis's `LoadingRecipe`: how to load a onedata array from elsewhere.
///
/// ```
/// use onedata::recipe::{LoadingRecipe, PyValue};
///
/// let recipe = LoadingRecipe::new("numpy", None, ["transpose"]).with_kwarg("axis", 1);
/// let dict = recipe.to_dict();
/// assert!(LoadingRecipe::is_recipe(&dict));
/// assert_eq!(dict.get("source_arg"), Some(&PyValue::None));
/// assert_eq!(LoadingRecipe::from_dict(&dict).unwrap(), recipe);
/// assert_eq!(
///     dict.to_string(),
///     "{'marker': '__LOADING_RECIPE__', 'loader_type': 'numpy', 'source_arg': None, \
///      'transforms': ['transpose'], 'kwargs': {'axis': 1}}"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LoadingRecipe {
    /// The loading method, e.g. `numpy` or `s2p`.
    pub loader_type: String,
    /// The source the loader reads, e.g. `F` or `ops` (may be `None`).
    pub source_arg: Option<String>,
    /// Names of the transforms applied after loading, in order.
    pub transforms: Vec<String>,
    /// Keyword arguments of the loader, in order, keys unique.
    pub kwargs: Vec<(String, PyValue)>,
}

impl LoadingRecipe {
    /// A recipe without keyword arguments.
    pub fn new<I, S>(
        loader_type: impl Into<String>,
        source_arg: Option<&str>,
        transforms: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        LoadingRecipe {
            loader_type: loader_type.into(),
            source_arg: source_arg.map(str::to_string),
            transforms: transforms.into_iter().map(Into::into).collect(),
            kwargs: Vec::new(),
        }
    }

    /// With the keyword argument `key` set to `value` (replacing an earlier
    /// value in place, as a Python dict does).
    pub fn with_kwarg(mut self, key: impl Into<String>, value: impl Into<PyValue>) -> Self {
        self.set_kwarg(key, value);
        self
    }

    /// With `transform` appended to the transforms.
    pub fn with_transform(mut self, transform: impl Into<String>) -> Self {
        self.transforms.push(transform.into());
        self
    }

    /// Sets the keyword argument `key` (in place if it exists, else at the end).
    pub fn set_kwarg(&mut self, key: impl Into<String>, value: impl Into<PyValue>) {
        let key = key.into();
        let value = value.into();
        match self.kwargs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.kwargs.push((key, value)),
        }
    }

    /// The keyword argument `key`, if set.
    pub fn kwarg(&self, key: &str) -> Option<&PyValue> {
        self.kwargs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// vrAnalysis's `to_dict()`: the dict saved in the file, keys in the order
    /// `marker`, `loader_type`, `source_arg`, `transforms`, `kwargs`.
    pub fn to_dict(&self) -> PyValue {
        let s = |x: &str| PyValue::Str(x.to_string());
        PyValue::Dict(vec![
            (s("marker"), s(RECIPE_MARKER)),
            (s("loader_type"), s(&self.loader_type)),
            (
                s("source_arg"),
                self.source_arg.as_deref().map_or(PyValue::None, s),
            ),
            (
                s("transforms"),
                PyValue::List(self.transforms.iter().map(|t| s(t)).collect()),
            ),
            (
                s("kwargs"),
                PyValue::Dict(self.kwargs.iter().map(|(k, v)| (s(k), v.clone())).collect()),
            ),
        ])
    }

    /// vrAnalysis's `is_recipe`: `value` is a dict and
    /// `value.get("marker") == "__LOADING_RECIPE__"`.
    pub fn is_recipe(value: &PyValue) -> bool {
        value.get("marker").and_then(PyValue::as_str) == Some(RECIPE_MARKER)
    }

    /// vrAnalysis's `from_dict`: reads `loader_type`, `source_arg`,
    /// `transforms` and `kwargs` (all required; other keys, the marker
    /// included, are not looked at). `loader_type` must be a `str`,
    /// `source_arg` a `str` or `None`, `transforms` a list or tuple of `str`
    /// (or `None`, meaning none, as vrAnalysis's `transforms or []`), and
    /// `kwargs` a dict with `str` keys (as Python's `**kwargs` requires).
    pub fn from_dict(value: &PyValue) -> Result<LoadingRecipe, RecipeError> {
        let bad = |m: String| RecipeError::Malformed(m);
        if !matches!(value, PyValue::Dict(_)) {
            return Err(bad(format!(
                "the recipe is {}, not a dict",
                value.describe()
            )));
        }
        let field = |key: &'static str| {
            value
                .get(key)
                .ok_or_else(|| bad(format!("missing key '{key}'")))
        };
        let wrong = |key: &str, want: &str, v: &PyValue| {
            bad(format!("'{key}' is {}, not {want}", v.describe()))
        };
        let loader_type = match field("loader_type")? {
            PyValue::Str(s) => s.clone(),
            v => return Err(wrong("loader_type", "a str", v)),
        };
        let source_arg = match field("source_arg")? {
            PyValue::Str(s) => Some(s.clone()),
            PyValue::None => None,
            v => return Err(wrong("source_arg", "a str or None", v)),
        };
        let transforms = match field("transforms")? {
            PyValue::None => Vec::new(),
            PyValue::List(items) | PyValue::Tuple(items) => items
                .iter()
                .map(|t| match t {
                    PyValue::Str(s) => Ok(s.clone()),
                    v => Err(bad(format!("a transform is {}, not a str", v.describe()))),
                })
                .collect::<Result<_, _>>()?,
            v => return Err(wrong("transforms", "a list of str", v)),
        };
        let kwargs = match field("kwargs")? {
            PyValue::Dict(items) => items
                .iter()
                .map(|(k, v)| match k {
                    PyValue::Str(s) => Ok((s.clone(), v.clone())),
                    k => Err(bad(format!(
                        "a kwargs key is {} ({k}), keywords must be str",
                        k.describe()
                    ))),
                })
                .collect::<Result<_, _>>()?,
            v => return Err(wrong("kwargs", "a dict", v)),
        };
        Ok(LoadingRecipe {
            loader_type,
            source_arg,
            transforms,
            kwargs,
        })
    }

    /// Checks that the recipe can be written so that numpy and onedata read
    /// back an equal recipe: kwargs keys unique, dict keys hashable and
    /// distinct by Python's equality (`1`, `1.0` and `True` are one key),
    /// nesting within [`MAX_DEPTH`], at most [`MAX_VALUES`] values, no text or
    /// bytes of 4 GiB or more.
    pub fn validate(&self) -> Result<(), RecipeError> {
        for (i, (k, _)) in self.kwargs.iter().enumerate() {
            if self.kwargs[..i].iter().any(|(j, _)| j == k) {
                return Err(RecipeError::Unwritable(format!("duplicate kwarg {k:?}")));
            }
        }
        let mut count = 0usize;
        check_writable(&self.to_dict(), 0, &mut count)
    }

    /// The recipe dict as JSON (see [`PyValue::to_json`] for the conversion
    /// of kwargs).
    pub fn to_json(&self) -> Result<serde_json::Value, JsonError> {
        self.to_dict().to_json()
    }

    /// A recipe from its dict as JSON (see [`PyValue::from_json`] and
    /// [`LoadingRecipe::from_dict`]).
    pub fn from_json(value: &serde_json::Value) -> Result<LoadingRecipe, RecipeError> {
        LoadingRecipe::from_dict(&PyValue::from_json(value))
    }
}

fn check_writable(v: &PyValue, depth: usize, count: &mut usize) -> Result<(), RecipeError> {
    let unwritable = |m: String| RecipeError::Unwritable(m);
    *count += 1;
    if *count > MAX_VALUES {
        return Err(unwritable(format!("more than {MAX_VALUES} values")));
    }
    match v {
        PyValue::Str(s) if s.len() > u32::MAX as usize => {
            Err(unwritable("a str of 4 GiB or more".into()))
        }
        PyValue::Bytes(b) if b.len() > u32::MAX as usize => {
            Err(unwritable("a bytes of 4 GiB or more".into()))
        }
        PyValue::List(items) | PyValue::Tuple(items) => {
            if depth >= MAX_DEPTH {
                return Err(unwritable(format!("nested deeper than {MAX_DEPTH} levels")));
            }
            items
                .iter()
                .try_for_each(|x| check_writable(x, depth + 1, count))
        }
        PyValue::Dict(items) => {
            if depth >= MAX_DEPTH {
                return Err(unwritable(format!("nested deeper than {MAX_DEPTH} levels")));
            }
            let mut seen = std::collections::HashSet::with_capacity(items.len());
            for (i, (k, x)) in items.iter().enumerate() {
                let key = value_key(k, 0, i).ok_or_else(|| {
                    unwritable(format!("dict key {k} is unhashable or nested too deep"))
                })?;
                if !seen.insert(key) {
                    return Err(unwritable(format!("duplicate dict key {k}")));
                }
                check_writable(k, depth + 1, count)?;
                check_writable(x, depth + 1, count)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The dict-key identity of a value by Python's equality, or `None` if it
/// is unhashable. `nan_id` tells distinct NaN keys apart (Python compares
/// NaN keys by identity, and each one written is a distinct object).
fn value_key(v: &PyValue, depth: usize, nan_id: usize) -> Option<HashKey<'_>> {
    Some(match v {
        PyValue::None => HashKey::None,
        PyValue::Bool(b) => HashKey::Int(*b as i128),
        PyValue::Int(i) => HashKey::Int(*i),
        PyValue::Float(f) => float_key(*f, nan_id),
        PyValue::Str(s) => HashKey::Str(Cow::Borrowed(s)),
        PyValue::Bytes(b) => HashKey::Bytes(Cow::Borrowed(b)),
        PyValue::Tuple(items) if depth < MAX_DEPTH => HashKey::Tuple(
            items
                .iter()
                .map(|x| value_key(x, depth + 1, nan_id))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Reading and writing files
// ---------------------------------------------------------------------------

/// Reads the loading recipe saved at `path` (a `.npy` of dtype `|O` and
/// shape `()`, as vrAnalysis's `saveone` writes it).
///
/// Errors name the file: [`Fault::Recipe`](crate::Fault::Recipe) when it is
/// not a 0-d object array or its object is not a recipe ("object array is
/// not a loading recipe; onedata cannot return arbitrary Python objects"),
/// [`Fault::Pickle`](crate::Fault::Pickle) when the pickle is malformed,
/// hostile or holds more than onedata decodes.
pub fn read_recipe(path: impl AsRef<Path>) -> Result<LoadingRecipe> {
    read_opened_recipe(&OpenedFile::open(path.as_ref())?)
}

/// [`read_recipe`] of a file already opened.
pub(crate) fn read_opened_recipe(file: &OpenedFile<'_>) -> Result<LoadingRecipe> {
    let path = file.path();
    let (header, mapped) = file.npy_header()?;
    // The header alone refuses numeric arrays without mapping (or, for
    // big-endian ones, decoding) their data.
    check_recipe_header(path, &header)?;
    let storage = match mapped {
        Some(storage) => storage,
        None => file.map()?,
    };
    let data = storage
        .as_bytes()
        .get(header.data_offset()..)
        .unwrap_or(&[]);
    recipe_from_parts(path, &header, data)
}

/// Reads a loading recipe from the contents of a `.npy` file held in memory;
/// `path` names the source in errors.
pub fn recipe_from_npy_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<LoadingRecipe> {
    let path = path.as_ref();
    let header = Header::parse(bytes).map_err(|e| Error::invalid(path, e))?;
    let data = bytes.get(header.data_offset()..).unwrap_or(&[]);
    recipe_from_parts(path, &header, data)
}

fn check_recipe_header(path: &Path, header: &Header) -> Result<()> {
    if *header.dtype() != Dtype::Object {
        return Err(Error::invalid(
            path,
            RecipeError::NotObjectArray {
                descr: header.dtype().descr(),
            },
        ));
    }
    if !header.shape().is_empty() {
        return Err(Error::invalid(
            path,
            RecipeError::NotZeroDim {
                shape: header.shape().to_vec(),
            },
        ));
    }
    Ok(())
}

pub(crate) fn recipe_from_parts(
    path: &Path,
    header: &Header,
    data: &[u8],
) -> Result<LoadingRecipe> {
    check_recipe_header(path, header)?;
    let value = decode_object_array(data).map_err(|e| Error::invalid(path, e))?;
    if !LoadingRecipe::is_recipe(&value) {
        let holds = match &value {
            PyValue::Dict(_) => format!("a dict without the '{RECIPE_MARKER}' marker"),
            v => v.describe().to_string(),
        };
        return Err(Error::invalid(path, RecipeError::NotARecipe { holds }));
    }
    LoadingRecipe::from_dict(&value).map_err(|e| Error::invalid(path, e))
}

/// Writes `recipe` to `path` atomically (temporary file, then rename), as
/// vrAnalysis's `saveone` saves a recipe; see [`encode_recipe_npy`] for the
/// bytes. A recipe that does not pass [`LoadingRecipe::validate`] is an
/// [`ErrorKind::Unwritable`] naming the file, and nothing is written.
pub fn write_recipe(path: impl AsRef<Path>, recipe: &LoadingRecipe) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_recipe_npy(recipe).map_err(|error| {
        Error::new(ErrorKind::Unwritable {
            path: path.to_path_buf(),
            error,
        })
    })?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// The whole `.npy` file for `recipe`: numpy's header for a 0-d object array
/// and a protocol 3 pickle of `np.array(recipe.to_dict(), dtype=object)`
/// naming `numpy.core.multiarray._reconstruct`, the file numpy 1.x's
/// `np.save` writes (see the [module docs](self) for why). Fails if the recipe
/// does not pass [`LoadingRecipe::validate`].
pub fn encode_recipe_npy(recipe: &LoadingRecipe) -> Result<Vec<u8>, RecipeError> {
    recipe.validate()?;
    let mut out = Header::new(Dtype::Object, false, &[]).to_bytes();
    encode_object_array(&mut out, &recipe.to_dict());
    Ok(out)
}

// ---------------------------------------------------------------------------
// The pickle writer
// ---------------------------------------------------------------------------

/// Pickle opcodes, named as in `pickletools`.
mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

/// CPython's pickler writes lists and dicts in batches of this many items.
const BATCHSIZE: usize = 1000;

/// Writes pickle opcodes as CPython's pickler does for protocol 3.
struct Encoder<'o> {
    out: &'o mut Vec<u8>,
    memo: u32,
}

impl Encoder<'_> {
    fn op(&mut self, op: u8) {
        self.out.push(op);
    }

    fn memoize(&mut self) {
        if let Ok(i) = u8::try_from(self.memo) {
            self.out.extend_from_slice(&[op::BINPUT, i]);
        } else {
            self.out.push(op::LONG_BINPUT);
            self.out.extend_from_slice(&self.memo.to_le_bytes());
        }
        self.memo += 1;
    }

    fn global(&mut self, module: &str, name: &str) {
        self.op(op::GLOBAL);
        for part in [module, name] {
            self.out.extend_from_slice(part.as_bytes());
            self.out.push(b'\n');
        }
        self.memoize();
    }

    fn small_int(&mut self, i: u8) {
        self.out.extend_from_slice(&[op::BININT1, i]);
    }

    fn value(&mut self, v: &PyValue) {
        match v {
            PyValue::None => self.op(op::NONE),
            PyValue::Bool(true) => self.op(op::NEWTRUE),
            PyValue::Bool(false) => self.op(op::NEWFALSE),
            PyValue::Int(i) => self.int(*i),
            PyValue::Float(f) => {
                self.op(op::BINFLOAT);
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            PyValue::Str(s) => {
                // Lengths beyond u32 are refused by `validate`.
                self.op(op::BINUNICODE);
                self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                self.out.extend_from_slice(s.as_bytes());
                self.memoize();
            }
            PyValue::Bytes(b) => {
                if let Ok(n) = u8::try_from(b.len()) {
                    self.out.extend_from_slice(&[op::SHORT_BINBYTES, n]);
                } else {
                    self.op(op::BINBYTES);
                    self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                }
                self.out.extend_from_slice(b);
                self.memoize();
            }
            PyValue::Tuple(items) => match items.len() {
                0 => self.op(op::EMPTY_TUPLE),
                n @ 1..=3 => {
                    items.iter().for_each(|x| self.value(x));
                    self.op(op::TUPLE1 + (n as u8 - 1));
                    self.memoize();
                }
                _ => {
                    self.op(op::MARK);
                    items.iter().for_each(|x| self.value(x));
                    self.op(op::TUPLE);
                    self.memoize();
                }
            },
            PyValue::List(items) => {
                self.op(op::EMPTY_LIST);
                self.memoize();
                if let [x] = items.as_slice() {
                    self.value(x);
                    self.op(op::APPEND);
                } else if !items.is_empty() {
                    for chunk in items.chunks(BATCHSIZE) {
                        self.op(op::MARK);
                        chunk.iter().for_each(|x| self.value(x));
                        self.op(op::APPENDS);
                    }
                }
            }
            PyValue::Dict(items) => {
                self.op(op::EMPTY_DICT);
                self.memoize();
                if let [(k, x)] = items.as_slice() {
                    self.value(k);
                    self.value(x);
                    self.op(op::SETITEM);
                } else if !items.is_empty() {
                    for chunk in items.chunks(BATCHSIZE) {
                        self.op(op::MARK);
                        for (k, x) in chunk {
                            self.value(k);
                            self.value(x);
                        }
                        self.op(op::SETITEMS);
                    }
                    // CPython's batching loop ends with an empty batch when the
                    // last one was full.
                    if items.len() % BATCHSIZE == 0 {
                        self.out.extend_from_slice(&[op::MARK, op::SETITEMS]);
                    }
                }
            }
        }
    }

    fn int(&mut self, i: i128) {
        if let Ok(b) = u8::try_from(i) {
            self.small_int(b);
        } else if let Ok(w) = u16::try_from(i) {
            self.op(op::BININT2);
            self.out.extend_from_slice(&w.to_le_bytes());
        } else if let Ok(d) = i32::try_from(i) {
            self.op(op::BININT);
            self.out.extend_from_slice(&d.to_le_bytes());
        } else {
            let bytes = encode_long(i);
            // At most 17 bytes: always LONG1.
            self.out.extend_from_slice(&[op::LONG1, bytes.len() as u8]);
            self.out.extend_from_slice(&bytes);
        }
    }
}

/// Python's `pickle.encode_long`: little-endian two's complement in the
/// fewest bytes.
fn encode_long(i: i128) -> Vec<u8> {
    if i == 0 {
        return Vec::new();
    }
    let nbits = 128 - i.unsigned_abs().leading_zeros() as usize;
    let mut nbytes = nbits / 8 + 1;
    let mut bytes = i.to_le_bytes().to_vec();
    bytes.push(if i < 0 { 0xff } else { 0 });
    if i < 0 && nbytes > 1 && bytes[nbytes - 1] == 0xff && bytes[nbytes - 2] & 0x80 != 0 {
        nbytes -= 1;
    }
    bytes.truncate(nbytes);
    bytes
}

/// Appends the pickle of `np.array(value, dtype=object)` (0-d) to `out`.
fn encode_object_array(out: &mut Vec<u8>, value: &PyValue) {
    out.extend_from_slice(&[op::PROTO, WRITE_PROTOCOL]);
    let mut e = Encoder { out, memo: 0 };
    // _reconstruct(ndarray, (0,), b'b')
    e.global("numpy.core.multiarray", "_reconstruct");
    e.global("numpy", "ndarray");
    e.small_int(0);
    e.op(op::TUPLE1);
    e.memoize();
    e.value(&PyValue::Bytes(b"b".to_vec()));
    e.op(op::TUPLE3);
    e.memoize();
    e.op(op::REDUCE);
    e.memoize();
    // state: (1, (), dtype('O8'), False, [value])
    e.op(op::MARK);
    e.small_int(1);
    e.op(op::EMPTY_TUPLE);
    e.global("numpy", "dtype");
    e.value(&PyValue::Str("O8".into()));
    e.op(op::NEWFALSE);
    e.op(op::NEWTRUE);
    e.op(op::TUPLE3);
    e.memoize();
    e.op(op::REDUCE);
    e.memoize();
    // dtype state: (3, '|', None, None, None, -1, -1, 63)
    e.op(op::MARK);
    e.small_int(3);
    e.value(&PyValue::Str("|".into()));
    e.value(&PyValue::None);
    e.value(&PyValue::None);
    e.value(&PyValue::None);
    e.int(-1);
    e.int(-1);
    e.int(63);
    e.op(op::TUPLE);
    e.memoize();
    e.op(op::BUILD);
    e.op(op::NEWFALSE);
    e.value(&PyValue::List(vec![])); // EMPTY_LIST, memo
    e.value(value);
    e.op(op::APPEND);
    e.op(op::TUPLE);
    e.memoize();
    e.op(op::BUILD);
    e.op(op::STOP);
}

// ---------------------------------------------------------------------------
// The restricted pickle machine
// ---------------------------------------------------------------------------

/// Decodes a pickle of plain Python data (None, bool, int, float, str,
/// bytes, list, tuple, dict) into a [`PyValue`], with the restrictions and
/// bounds of the [module docs](self). A pickle of a numpy array is refused
/// ([`PickleError::NotPlainData`]): see [`decode_object_array`].
///
/// ```
/// use onedata::recipe::{decode_pickle, PyValue};
/// // pickle.dumps({'a': [1, None]}, protocol=2)
/// let p = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01]q\x02(K\x01Nes.";
/// assert_eq!(
///     decode_pickle(p).unwrap(),
///     PyValue::Dict(vec![(
///         PyValue::Str("a".into()),
///         PyValue::List(vec![PyValue::Int(1), PyValue::None]),
///     )])
/// );
/// // pickle.dumps(os.system) is refused before anything is looked up
/// assert!(decode_pickle(b"\x80\x02cposix\nsystem\nq\x00.").is_err());
/// ```
pub fn decode_pickle(bytes: &[u8]) -> Result<PyValue, PickleError> {
    let mut vm = Vm::new(bytes);
    let root = vm.run()?;
    vm.expand(root)
}

/// Decodes the pickle of a 0-d numpy object array (the data of a `|O` `.npy`
/// file of shape `()`) and returns its one element. Refuses pickles that are
/// not a numpy array, arrays that are not object arrays or not 0-d, and
/// elements that are not plain data.
pub fn decode_object_array(bytes: &[u8]) -> Result<PyValue, PickleError> {
    let mut vm = Vm::new(bytes);
    let root = vm.run()?;
    let state = match &vm.arena[root] {
        Obj::Array(Some(state)) => state,
        Obj::Array(None) => {
            return Err(PickleError::BadValue {
                what: "the array's state is never set (no BUILD)".into(),
                offset: bytes.len(),
            })
        }
        other => {
            return Err(PickleError::NotAnArray {
                found: other.describe(),
            })
        }
    };
    let items = match &state.items {
        Some(items) => items,
        None => {
            return Err(PickleError::NotObjectArray {
                dtype: state.descr.clone(),
            })
        }
    };
    match items.as_slice() {
        [element] if state.shape.is_empty() => {
            let element = *element;
            vm.expand(element)
        }
        _ => Err(PickleError::NotZeroDim {
            shape: state.shape.clone(),
        }),
    }
}

/// The callables a pickle may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Callable {
    /// `numpy.core.multiarray._reconstruct` / `numpy._core.multiarray._reconstruct`.
    Reconstruct,
    /// `numpy.ndarray`.
    Ndarray,
    /// `numpy.dtype`.
    Dtype,
    /// `_codecs.encode`.
    Encode,
    /// `numpy.core.multiarray.scalar` / `numpy._core.multiarray.scalar`.
    Scalar,
    /// `builtins.bytes` (`__builtin__.bytes` in protocol 2), how protocol 2
    /// spells the empty bytes: `bytes()`.
    Bytes,
}

fn find_class(module: &[u8], name: &[u8]) -> Option<Callable> {
    match (module, name) {
        (b"numpy.core.multiarray" | b"numpy._core.multiarray", b"_reconstruct") => {
            Some(Callable::Reconstruct)
        }
        (b"numpy.core.multiarray" | b"numpy._core.multiarray", b"scalar") => Some(Callable::Scalar),
        (b"numpy", b"ndarray") => Some(Callable::Ndarray),
        (b"numpy", b"dtype") => Some(Callable::Dtype),
        (b"_codecs", b"encode") => Some(Callable::Encode),
        (b"__builtin__" | b"builtins", b"bytes") => Some(Callable::Bytes),
        _ => None,
    }
}

/// The value of a pickled numpy scalar (`np.int64(3)`, `np.float32(0.5)`,
/// `np.bool_(True)`, `np.str_("a")`, ...): the Python value it equals, from
/// its dtype (descr with the byte order of the dtype's state) and its bytes.
fn numpy_scalar<'a>(descr: &str, data: &[u8], at: usize) -> PResult<Obj<'a>> {
    use crate::npy::{ByteOrder, ElementKind};

    let bad = |what: String| PickleError::BadValue { what, offset: at };
    let dtype = Dtype::parse(descr)
        .ok_or_else(|| bad(format!("numpy scalar of unknown dtype {descr:?}")))?;
    let unsupported = || PickleError::UnsupportedScalar {
        dtype: dtype.descr(),
        offset: at,
    };
    let size_error = |size: usize| {
        bad(format!(
            "numpy scalar of dtype {dtype} holds {} bytes, not {size}",
            data.len()
        ))
    };
    match &dtype {
        Dtype::Numeric { kind, order } => {
            if data.len() != kind.itemsize() {
                return Err(size_error(kind.itemsize()));
            }
            // The bytes, little-endian first.
            let mut le = [0u8; 16];
            le[..data.len()].copy_from_slice(data);
            if *order == ByteOrder::Big {
                le[..data.len()].reverse();
            }
            let bytes = |n: usize| -> [u8; 8] {
                let mut b = [0u8; 8];
                b[..n].copy_from_slice(&le[..n]);
                b
            };
            Ok(match kind {
                ElementKind::Bool => Obj::Bool(le[0] != 0),
                ElementKind::I8 => Obj::Int(i128::from(le[0] as i8)),
                ElementKind::U8 => Obj::Int(i128::from(le[0])),
                ElementKind::I16 => Obj::Int(i128::from(i16::from_le_bytes([le[0], le[1]]))),
                ElementKind::U16 => Obj::Int(i128::from(u16::from_le_bytes([le[0], le[1]]))),
                ElementKind::I32 => {
                    Obj::Int(i128::from(i32::from_le_bytes([le[0], le[1], le[2], le[3]])))
                }
                ElementKind::U32 => {
                    Obj::Int(i128::from(u32::from_le_bytes([le[0], le[1], le[2], le[3]])))
                }
                ElementKind::I64 => Obj::Int(i128::from(i64::from_le_bytes(bytes(8)))),
                ElementKind::U64 => Obj::Int(i128::from(u64::from_le_bytes(bytes(8)))),
                ElementKind::F16 => Obj::Float(f64::from(half::f16::from_le_bytes([le[0], le[1]]))),
                ElementKind::F32 => {
                    Obj::Float(f64::from(f32::from_le_bytes([le[0], le[1], le[2], le[3]])))
                }
                ElementKind::F64 => Obj::Float(f64::from_le_bytes(bytes(8))),
                ElementKind::C64 | ElementKind::C128 => return Err(unsupported()),
            })
        }
        Dtype::Other { descr, itemsize } if descr.get(1..).is_some_and(|d| d.starts_with('U')) => {
            // numpy.str_: UTF-32 code points, trailing NULs dropped.
            if Some(data.len()) != *itemsize {
                return Err(size_error(itemsize.unwrap_or(0)));
            }
            let big = descr.starts_with('>');
            let text: Option<String> = data
                .chunks_exact(4)
                .map(|c| {
                    let c = [c[0], c[1], c[2], c[3]];
                    char::from_u32(if big {
                        u32::from_be_bytes(c)
                    } else {
                        u32::from_le_bytes(c)
                    })
                })
                .collect();
            let text = text.ok_or_else(|| {
                bad(format!(
                    "numpy scalar of dtype {dtype} holds a code point that is not a character"
                ))
            })?;
            Ok(Obj::Str(Cow::Owned(
                text.trim_end_matches('\0').to_string(),
            )))
        }
        Dtype::Other { descr, itemsize } if descr.get(1..).is_some_and(|d| d.starts_with('S')) => {
            // numpy.bytes_: trailing NULs dropped.
            if Some(data.len()) != *itemsize {
                return Err(size_error(itemsize.unwrap_or(0)));
            }
            let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            Ok(Obj::Bytes(Cow::Owned(data[..end].to_vec())))
        }
        _ => Err(unsupported()),
    }
}

/// An array's state after `BUILD`.
#[derive(Debug)]
struct ArrayState {
    shape: Vec<u64>,
    /// The dtype as pickled, e.g. `O8`.
    descr: String,
    /// The elements, for object arrays (a snapshot of the list at `BUILD`,
    /// as numpy copies it).
    items: Option<Vec<usize>>,
}

/// A value of the machine. Containers hold indices into the arena, so that
/// memo gets share (and later mutations show through) as in Python.
#[derive(Debug)]
enum Obj<'a> {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Global(Callable),
    /// A dtype, by its descr.
    Dtype(String),
    /// An ndarray, before and after `BUILD`.
    Array(Option<ArrayState>),
}

impl Obj<'_> {
    fn describe(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "a bool",
            Obj::Int(_) => "an int",
            Obj::Float(_) => "a float",
            Obj::Str(_) => "a str",
            Obj::Bytes(_) => "a bytes",
            Obj::Tuple(_) => "a tuple",
            Obj::List(_) => "a list",
            Obj::Dict(_) => "a dict",
            Obj::Global(_) => "a global (class or function)",
            Obj::Dtype(_) => "a numpy dtype",
            Obj::Array(_) => "a numpy array",
        }
    }
}

/// A dict key by Python's equality: `True == 1 == 1.0`, `-0.0 == 0`,
/// NaN keys equal only to themselves (by identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HashKey<'a> {
    None,
    Int(i128),
    Float(u64),
    Nan(usize),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Tuple(Vec<HashKey<'a>>),
}

fn float_key<'a>(f: f64, nan_id: usize) -> HashKey<'a> {
    // 2^127: integral floats below it are exactly representable as i128.
    const LIMIT: f64 = 1.7014118346046923e38;
    if f.is_nan() {
        HashKey::Nan(nan_id)
    } else if f.trunc() == f && f.abs() < LIMIT {
        HashKey::Int(f as i128)
    } else {
        HashKey::Float(f.to_bits())
    }
}

struct Vm<'a> {
    input: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts.
    at: usize,
    arena: Vec<Obj<'a>>,
    /// For each dict, its keys' positions.
    dict_index: HashMap<usize, HashMap<HashKey<'a>, usize>>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
    /// Values created or referenced so far.
    values: usize,
    /// Bytes created or hashed so far.
    bytes: usize,
    byte_limit: usize,
}

type PResult<T> = std::result::Result<T, PickleError>;

/// `s` shortened for an error message.
fn quote(s: &[u8]) -> String {
    let text = String::from_utf8_lossy(s);
    if text.chars().count() > MAX_QUOTED {
        let mut t: String = text.chars().take(MAX_QUOTED).collect();
        t.push_str("...");
        t
    } else {
        text.into_owned()
    }
}

impl<'a> Vm<'a> {
    fn new(input: &'a [u8]) -> Self {
        Vm {
            input,
            pos: 0,
            at: 0,
            arena: Vec::new(),
            dict_index: HashMap::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            values: 0,
            bytes: 0,
            byte_limit: MAX_EXPANDED_BYTES.max(input.len()),
        }
    }

    // -- input --------------------------------------------------------------

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// The next `n` bytes; checked against what is left before anything else.
    fn take(&mut self, n: u64) -> PResult<&'a [u8]> {
        let available = self.remaining();
        if n > available as u64 {
            return Err(PickleError::Truncated {
                offset: self.at,
                needed: n,
                available,
            });
        }
        let n = n as usize;
        let input: &'a [u8] = self.input;
        let s = input.get(self.pos..self.pos + n).unwrap_or(&[]);
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> PResult<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> PResult<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A line ending in `\n` (without it).
    fn line(&mut self) -> PResult<&'a [u8]> {
        let input: &'a [u8] = self.input;
        let rest = input.get(self.pos..).unwrap_or(&[]);
        match rest.iter().position(|&c| c == b'\n') {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => Err(PickleError::Truncated {
                offset: self.at,
                needed: rest.len() as u64 + 1,
                available: rest.len(),
            }),
        }
    }

    // -- budgets ------------------------------------------------------------

    fn charge(&mut self) -> PResult<()> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(PickleError::TooLarge {
                what: "values",
                limit: MAX_VALUES,
            });
        }
        Ok(())
    }

    fn charge_bytes(&mut self, n: usize) -> PResult<()> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.byte_limit {
            return Err(PickleError::TooLarge {
                what: "bytes",
                limit: self.byte_limit,
            });
        }
        Ok(())
    }

    // -- stack --------------------------------------------------------------

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn alloc(&mut self, obj: Obj<'a>) -> PResult<usize> {
        self.charge()?;
        self.arena.push(obj);
        Ok(self.arena.len() - 1)
    }

    fn push_new(&mut self, obj: Obj<'a>) -> PResult<()> {
        let id = self.alloc(obj)?;
        self.stack.push(id);
        Ok(())
    }

    fn push_ref(&mut self, id: usize) -> PResult<()> {
        self.charge()?;
        self.stack.push(id);
        Ok(())
    }

    fn pop(&mut self, opcode: &'static str) -> PResult<usize> {
        if self.stack.len() > self.floor() {
            if let Some(id) = self.stack.pop() {
                return Ok(id);
            }
        }
        Err(PickleError::StackUnderflow {
            opcode,
            offset: self.at,
        })
    }

    /// The index in the stack of the top value.
    fn top(&self, opcode: &'static str) -> PResult<usize> {
        if self.stack.len() > self.floor() {
            Ok(self.stack.len() - 1)
        } else {
            Err(PickleError::StackUnderflow {
                opcode,
                offset: self.at,
            })
        }
    }

    fn pop_n(&mut self, n: usize, opcode: &'static str) -> PResult<Vec<usize>> {
        if self.stack.len() < self.floor() + n {
            return Err(PickleError::StackUnderflow {
                opcode,
                offset: self.at,
            });
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn pop_mark(&mut self, opcode: &'static str) -> PResult<Vec<usize>> {
        match self.marks.pop() {
            // Marks never exceed the stack length: pops stop at the floor.
            Some(m) => Ok(self.stack.split_off(m.min(self.stack.len()))),
            None => Err(PickleError::MarkMissing {
                opcode,
                offset: self.at,
            }),
        }
    }

    fn bad<T>(&self, what: impl Into<String>) -> PResult<T> {
        Err(PickleError::BadValue {
            what: what.into(),
            offset: self.at,
        })
    }

    fn memo_put(&mut self, index: u32, opcode: &'static str) -> PResult<()> {
        let top = self.top(opcode)?;
        let id = self.stack[top];
        if self.memo.insert(index, id).is_none() {
            self.charge()?;
        }
        Ok(())
    }

    fn memo_get(&mut self, index: u32) -> PResult<()> {
        match self.memo.get(&index) {
            Some(&id) => self.push_ref(id),
            None => Err(PickleError::MemoMissing {
                index,
                offset: self.at,
            }),
        }
    }

    // -- values -------------------------------------------------------------

    fn text(&mut self, n: u64) -> PResult<()> {
        let at = self.at;
        let raw = self.take(n)?;
        // Python decodes with 'surrogatepass'; Rust text cannot hold lone
        // surrogates, which UTF-8 validation refuses.
        let s = std::str::from_utf8(raw).map_err(|_| PickleError::BadText {
            encoding: "UTF-8",
            offset: at,
        })?;
        self.push_new(Obj::Str(Cow::Borrowed(s)))
    }

    /// A Python 2 `str`, decoded as ASCII as `np.load` asks `pickle` to.
    fn py2_string(&mut self, n: u64) -> PResult<()> {
        let at = self.at;
        let raw = self.take(n)?;
        if !raw.is_ascii() {
            return Err(PickleError::BadText {
                encoding: "ASCII",
                offset: at,
            });
        }
        let s = std::str::from_utf8(raw).map_err(|_| PickleError::BadText {
            encoding: "ASCII",
            offset: at,
        })?;
        self.push_new(Obj::Str(Cow::Borrowed(s)))
    }

    fn binbytes(&mut self, n: u64) -> PResult<()> {
        let raw = self.take(n)?;
        self.push_new(Obj::Bytes(Cow::Borrowed(raw)))
    }

    fn long(&mut self, n: u64) -> PResult<()> {
        let at = self.at;
        let raw = self.take(n)?;
        let value = decode_long(raw).ok_or(PickleError::IntTooLarge {
            bytes: n,
            offset: at,
        })?;
        self.push_new(Obj::Int(value))
    }

    fn hash_key(&mut self, id: usize, depth: usize) -> PResult<HashKey<'a>> {
        let key = match &self.arena[id] {
            Obj::None => HashKey::None,
            Obj::Bool(b) => HashKey::Int(*b as i128),
            Obj::Int(i) => HashKey::Int(*i),
            Obj::Float(f) => float_key(*f, id),
            Obj::Str(s) => {
                let (key, n) = (HashKey::Str(s.clone()), s.len());
                self.charge_bytes(n)?;
                key
            }
            Obj::Bytes(b) => {
                let (key, n) = (HashKey::Bytes(b.clone()), b.len());
                self.charge_bytes(n)?;
                key
            }
            Obj::Tuple(items) => {
                if depth >= MAX_DEPTH {
                    return Err(PickleError::DepthExceeded { limit: MAX_DEPTH });
                }
                let items = items.clone();
                let mut keys = Vec::with_capacity(items.len());
                for item in items {
                    keys.push(self.hash_key(item, depth + 1)?);
                }
                HashKey::Tuple(keys)
            }
            other => {
                let what = format!("{} cannot be a dict key", other.describe());
                return self.bad(what);
            }
        };
        Ok(key)
    }

    fn set_item(&mut self, dict: usize, key: usize, value: usize) -> PResult<()> {
        if !matches!(self.arena[dict], Obj::Dict(_)) {
            let what = format!("SETITEM on {}, not a dict", self.arena[dict].describe());
            return self.bad(what);
        }
        let hk = self.hash_key(key, 0)?;
        let index = self.dict_index.entry(dict).or_default();
        if let Obj::Dict(items) = &mut self.arena[dict] {
            match index.get(&hk) {
                Some(&pos) => {
                    if let Some(slot) = items.get_mut(pos) {
                        slot.1 = value;
                    }
                }
                None => {
                    index.insert(hk, items.len());
                    items.push((key, value));
                }
            }
        }
        Ok(())
    }

    fn set_items(&mut self, dict: usize, flat: &[usize], opcode: &str) -> PResult<()> {
        if flat.len() % 2 != 0 {
            return self.bad(format!("odd number of items for {opcode}"));
        }
        for pair in flat.chunks_exact(2) {
            self.set_item(dict, pair[0], pair[1])?;
        }
        Ok(())
    }

    fn extend_list(&mut self, list: usize, items: Vec<usize>, opcode: &str) -> PResult<()> {
        match &mut self.arena[list] {
            Obj::List(l) => {
                l.extend(items);
                Ok(())
            }
            other => {
                let what = format!("{opcode} to {}, not a list", other.describe());
                self.bad(what)
            }
        }
    }

    fn global(&mut self, module: &[u8], name: &[u8]) -> PResult<()> {
        match find_class(module, name) {
            Some(c) => self.push_new(Obj::Global(c)),
            None => Err(PickleError::ForbiddenGlobal {
                module: quote(module),
                name: quote(name),
                offset: self.at,
            }),
        }
    }

    /// `func(*args)` for the allowed callables, symbolically.
    fn reduce(&mut self) -> PResult<()> {
        let args = self.pop("REDUCE")?;
        let slot = self.top("REDUCE")?;
        let func = match self.arena[self.stack[slot]] {
            Obj::Global(c) => c,
            ref other => {
                let what = format!("REDUCE calls {}", other.describe());
                return self.bad(what);
            }
        };
        let args = match &self.arena[args] {
            Obj::Tuple(items) => items.clone(),
            other => {
                let what = format!("REDUCE arguments are {}, not a tuple", other.describe());
                return self.bad(what);
            }
        };
        let result = match (func, args.as_slice()) {
            (Callable::Reconstruct, &[cls, shape, typecode]) => {
                let ok = matches!(self.arena[cls], Obj::Global(Callable::Ndarray))
                    && matches!(self.arena[shape], Obj::Tuple(_))
                    && matches!(self.arena[typecode], Obj::Bytes(_) | Obj::Str(_));
                if !ok {
                    return self.bad("_reconstruct is not called as numpy pickles an ndarray");
                }
                Obj::Array(None)
            }
            (Callable::Dtype, &[descr, ..]) if args.len() <= 3 => match &self.arena[descr] {
                Obj::Str(s) => {
                    let descr = s.to_string();
                    self.charge_bytes(descr.len())?;
                    Obj::Dtype(descr)
                }
                _ => return self.bad("numpy.dtype is not called with a str"),
            },
            (Callable::Encode, &[text, encoding]) => {
                let (n, bytes) = match (&self.arena[text], &self.arena[encoding]) {
                    (Obj::Str(s), Obj::Str(e)) if e == "latin1" => (
                        s.len(),
                        s.chars()
                            .map(|c| u8::try_from(c as u32).ok())
                            .collect::<Option<Vec<u8>>>(),
                    ),
                    _ => {
                        return self.bad("_codecs.encode is only allowed as encode(str, 'latin1')")
                    }
                };
                self.charge_bytes(n)?;
                match bytes {
                    Some(b) => Obj::Bytes(Cow::Owned(b)),
                    None => return self.bad("text not encodable as latin1"),
                }
            }
            (Callable::Bytes, &[]) => Obj::Bytes(Cow::Borrowed(&[])),
            (Callable::Scalar, &[dtype, data]) => {
                let obj = match (&self.arena[dtype], &self.arena[data]) {
                    (Obj::Dtype(descr), Obj::Bytes(bytes)) => numpy_scalar(descr, bytes, self.at)?,
                    _ => return self.bad("a numpy scalar is not pickled as (dtype, bytes)"),
                };
                if let Obj::Str(s) = &obj {
                    let n = s.len();
                    self.charge_bytes(n)?;
                }
                obj
            }
            (c, _) => {
                let what = format!("call of {c:?} with these arguments is not allowed");
                return self.bad(what);
            }
        };
        let id = self.alloc(result)?;
        self.stack[slot] = id;
        Ok(())
    }

    /// `inst.__setstate__(state)` for dtypes and arrays, symbolically.
    fn build(&mut self) -> PResult<()> {
        let state = self.pop("BUILD")?;
        let slot = self.top("BUILD")?;
        let inst = self.stack[slot];
        let fields = match &self.arena[state] {
            Obj::Tuple(items) => items.clone(),
            other => {
                let what = format!("BUILD state is {}, not a tuple", other.describe());
                return self.bad(what);
            }
        };
        match &self.arena[inst] {
            // A dtype's state is (version, byte order, subarray, names,
            // fields, itemsize, alignment, flags); only the byte order
            // matters for the dtypes a recipe holds (object arrays and
            // numpy scalars).
            Obj::Dtype(_) => {
                let order = match fields.get(1).map(|&o| &self.arena[o]) {
                    Some(Obj::Str(o)) if matches!(o.as_ref(), "<" | ">" | "|" | "=") => {
                        Some(o.to_string())
                    }
                    _ => None,
                };
                if let (Some(order), Obj::Dtype(descr)) = (order, &mut self.arena[inst]) {
                    let bare = descr.trim_start_matches(['<', '>', '|', '=']);
                    *descr = format!("{order}{bare}");
                }
                Ok(())
            }
            Obj::Array(None) => {
                let (shape, dtype, data) = match *fields.as_slice() {
                    [version, shape, dtype, _fortran, data] => {
                        if !matches!(self.arena[version], Obj::Int(_)) {
                            return self.bad("array state version is not an int");
                        }
                        (shape, dtype, data)
                    }
                    [shape, dtype, _fortran, data] => (shape, dtype, data),
                    _ => return self.bad("array state is not numpy's 4- or 5-tuple"),
                };
                let shape = match &self.arena[shape] {
                    Obj::Tuple(dims) => {
                        let mut out = Vec::with_capacity(dims.len());
                        for &d in dims {
                            match self.arena[d] {
                                Obj::Int(n) if (0..=i64::MAX as i128).contains(&n) => {
                                    out.push(n as u64)
                                }
                                _ => return self.bad("array shape holds a non-dimension"),
                            }
                        }
                        out
                    }
                    _ => return self.bad("array shape is not a tuple"),
                };
                let descr = match &self.arena[dtype] {
                    Obj::Dtype(d) => d.clone(),
                    other => {
                        let what = format!("array dtype is {}", other.describe());
                        return self.bad(what);
                    }
                };
                let is_object = matches!(
                    descr.trim_start_matches(['|', '<', '>', '=']),
                    "O" | "O4" | "O8"
                );
                let items = if is_object {
                    let size = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
                    match &self.arena[data] {
                        Obj::List(items) if Some(items.len() as u64) == size => Some(items.clone()),
                        _ => {
                            return self
                                .bad("object array data is not a list of one item per element")
                        }
                    }
                } else {
                    None
                };
                self.arena[inst] = Obj::Array(Some(ArrayState {
                    shape,
                    descr,
                    items,
                }));
                Ok(())
            }
            other => {
                let what = format!("BUILD on {}", other.describe());
                self.bad(what)
            }
        }
    }

    // -- the loop -----------------------------------------------------------

    /// Runs the pickle to its `STOP`; returns the value it leaves.
    fn run(&mut self) -> PResult<usize> {
        loop {
            self.at = self.pos;
            let code = self.u8()?;
            match code {
                op::PROTO => {
                    let v = self.u8()?;
                    if v > 5 {
                        return Err(PickleError::UnsupportedProtocol(v));
                    }
                }
                op::FRAME => {
                    // Frames only group opcodes; check the length is there.
                    let n = self.u64()?;
                    if n > self.remaining() as u64 {
                        return Err(PickleError::Truncated {
                            offset: self.at,
                            needed: n,
                            available: self.remaining(),
                        });
                    }
                }
                op::STOP => return self.pop("STOP"),
                op::MARK => {
                    if self.marks.len() >= MAX_MARKS {
                        return Err(PickleError::DepthExceeded { limit: MAX_MARKS });
                    }
                    self.marks.push(self.stack.len());
                }
                op::POP => {
                    if self.stack.len() > self.floor() {
                        self.stack.pop();
                    } else {
                        self.pop_mark("POP")?;
                    }
                }
                op::POP_MARK => {
                    self.pop_mark("POP_MARK")?;
                }
                op::DUP => {
                    let top = self.top("DUP")?;
                    self.push_ref(self.stack[top])?;
                }
                op::NONE => self.push_new(Obj::None)?,
                op::NEWTRUE => self.push_new(Obj::Bool(true))?,
                op::NEWFALSE => self.push_new(Obj::Bool(false))?,
                op::BININT => {
                    let v = self.i32()?;
                    self.push_new(Obj::Int(v.into()))?;
                }
                op::BININT1 => {
                    let v = self.u8()?;
                    self.push_new(Obj::Int(v.into()))?;
                }
                op::BININT2 => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push_new(Obj::Int(v.into()))?;
                }
                op::LONG1 => {
                    let n = self.u8()?;
                    self.long(n.into())?;
                }
                op::LONG4 => {
                    let n = self.i32()?;
                    if n < 0 {
                        return self.bad("LONG4 with a negative byte count");
                    }
                    self.long(n as u64)?;
                }
                op::BINFLOAT => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push_new(Obj::Float(v))?;
                }
                op::SHORT_BINUNICODE => {
                    let n = self.u8()?;
                    self.text(n.into())?;
                }
                op::BINUNICODE => {
                    let n = self.u32()?;
                    self.text(n.into())?;
                }
                op::BINUNICODE8 => {
                    let n = self.u64()?;
                    self.text(n)?;
                }
                op::SHORT_BINSTRING => {
                    let n = self.u8()?;
                    self.py2_string(n.into())?;
                }
                op::BINSTRING => {
                    let n = self.i32()?;
                    if n < 0 {
                        return self.bad("BINSTRING with a negative length");
                    }
                    self.py2_string(n as u64)?;
                }
                op::SHORT_BINBYTES => {
                    let n = self.u8()?;
                    self.binbytes(n.into())?;
                }
                op::BINBYTES => {
                    let n = self.u32()?;
                    self.binbytes(n.into())?;
                }
                op::BINBYTES8 => {
                    let n = self.u64()?;
                    self.binbytes(n)?;
                }
                op::EMPTY_TUPLE => self.push_new(Obj::Tuple(Vec::new()))?,
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = (code - op::TUPLE1 + 1) as usize;
                    let items = self.pop_n(n, "TUPLEn")?;
                    self.push_new(Obj::Tuple(items))?;
                }
                op::TUPLE => {
                    let items = self.pop_mark("TUPLE")?;
                    self.push_new(Obj::Tuple(items))?;
                }
                op::EMPTY_LIST => self.push_new(Obj::List(Vec::new()))?,
                op::LIST => {
                    let items = self.pop_mark("LIST")?;
                    self.push_new(Obj::List(items))?;
                }
                op::APPEND => {
                    let value = self.pop("APPEND")?;
                    let list = self.stack[self.top("APPEND")?];
                    self.extend_list(list, vec![value], "APPEND")?;
                }
                op::APPENDS => {
                    let items = self.pop_mark("APPENDS")?;
                    let list = self.stack[self.top("APPENDS")?];
                    self.extend_list(list, items, "APPENDS")?;
                }
                op::EMPTY_DICT => self.push_new(Obj::Dict(Vec::new()))?,
                op::DICT => {
                    let flat = self.pop_mark("DICT")?;
                    let id = self.alloc(Obj::Dict(Vec::new()))?;
                    self.set_items(id, &flat, "DICT")?;
                    self.stack.push(id);
                }
                op::SETITEM => {
                    let value = self.pop("SETITEM")?;
                    let key = self.pop("SETITEM")?;
                    let dict = self.stack[self.top("SETITEM")?];
                    self.set_item(dict, key, value)?;
                }
                op::SETITEMS => {
                    let flat = self.pop_mark("SETITEMS")?;
                    let dict = self.stack[self.top("SETITEMS")?];
                    self.set_items(dict, &flat, "SETITEMS")?;
                }
                op::GLOBAL => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                op::STACK_GLOBAL => {
                    let name = self.pop("STACK_GLOBAL")?;
                    let module = self.pop("STACK_GLOBAL")?;
                    let (m, n) = match (&self.arena[module], &self.arena[name]) {
                        (Obj::Str(m), Obj::Str(n)) => (m.to_string(), n.to_string()),
                        _ => return self.bad("STACK_GLOBAL requires str"),
                    };
                    self.global(m.as_bytes(), n.as_bytes())?;
                }
                op::BINPUT => {
                    let i = self.u8()?;
                    self.memo_put(i.into(), "BINPUT")?;
                }
                op::LONG_BINPUT => {
                    let i = self.u32()?;
                    self.memo_put(i, "LONG_BINPUT")?;
                }
                op::MEMOIZE => {
                    let i = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(i, "MEMOIZE")?;
                }
                op::BINGET => {
                    let i = self.u8()?;
                    self.memo_get(i.into())?;
                }
                op::LONG_BINGET => {
                    let i = self.u32()?;
                    self.memo_get(i)?;
                }
                op::REDUCE => self.reduce()?,
                op::BUILD => self.build()?,
                other => {
                    return Err(match unsupported_name(other) {
                        Some(name) => PickleError::UnsupportedOpcode {
                            name,
                            offset: self.at,
                        },
                        None => PickleError::UnknownOpcode {
                            opcode: other,
                            offset: self.at,
                        },
                    })
                }
            }
        }
    }

    // -- results ------------------------------------------------------------

    /// The plain value `id` stands for, copying shared references, within the
    /// depth, value and byte limits.
    fn expand(&self, id: usize) -> PResult<PyValue> {
        let mut ex = Expander {
            vm: self,
            visiting: vec![false; self.arena.len()],
            values: 0,
            bytes: 0,
        };
        ex.value(id, 0)
    }
}

/// The names of pickle opcodes the machine knows and refuses.
fn unsupported_name(code: u8) -> Option<&'static str> {
    Some(match code {
        op::FLOAT => "FLOAT",
        op::INT => "INT",
        op::LONG => "LONG",
        op::STRING => "STRING",
        op::UNICODE => "UNICODE",
        op::GET => "GET",
        op::PUT => "PUT",
        op::PERSID => "PERSID",
        op::BINPERSID => "BINPERSID",
        op::INST => "INST",
        op::OBJ => "OBJ",
        op::NEWOBJ => "NEWOBJ",
        op::EXT1 => "EXT1",
        op::EXT2 => "EXT2",
        op::EXT4 => "EXT4",
        op::EMPTY_SET => "EMPTY_SET",
        op::ADDITEMS => "ADDITEMS",
        op::FROZENSET => "FROZENSET",
        op::NEWOBJ_EX => "NEWOBJ_EX",
        op::BYTEARRAY8 => "BYTEARRAY8",
        op::NEXT_BUFFER => "NEXT_BUFFER",
        op::READONLY_BUFFER => "READONLY_BUFFER",
        _ => return None,
    })
}

/// Python's `int.from_bytes(b, 'little', signed=True)`, if it fits in i128.
fn decode_long(b: &[u8]) -> Option<i128> {
    let Some(&last) = b.last() else {
        return Some(0);
    };
    let negative = last & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    let mut buf = [fill; 16];
    if b.len() > 16 {
        // The bytes beyond 16 must only extend the sign of byte 15.
        let (low, high) = b.split_at(16);
        if high.iter().any(|&x| x != fill) || (low[15] & 0x80 != 0) != negative {
            return None;
        }
        buf.copy_from_slice(low);
    } else {
        buf[..b.len()].copy_from_slice(b);
    }
    Some(i128::from_le_bytes(buf))
}

struct Expander<'v, 'a> {
    vm: &'v Vm<'a>,
    visiting: Vec<bool>,
    values: usize,
    bytes: usize,
}

impl Expander<'_, '_> {
    fn count_bytes(&mut self, n: usize) -> PResult<()> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.vm.byte_limit {
            return Err(PickleError::TooLarge {
                what: "bytes",
                limit: self.vm.byte_limit,
            });
        }
        Ok(())
    }

    fn enter(&mut self, id: usize, depth: usize) -> PResult<()> {
        if self.visiting.get(id).copied().unwrap_or(false) {
            return Err(PickleError::Recursive);
        }
        if depth >= MAX_DEPTH {
            return Err(PickleError::DepthExceeded { limit: MAX_DEPTH });
        }
        if let Some(v) = self.visiting.get_mut(id) {
            *v = true;
        }
        Ok(())
    }

    fn leave(&mut self, id: usize) {
        if let Some(v) = self.visiting.get_mut(id) {
            *v = false;
        }
    }

    fn value(&mut self, id: usize, depth: usize) -> PResult<PyValue> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(PickleError::TooLarge {
                what: "values",
                limit: MAX_VALUES,
            });
        }
        let vm = self.vm;
        Ok(match &vm.arena[id] {
            Obj::None => PyValue::None,
            Obj::Bool(b) => PyValue::Bool(*b),
            Obj::Int(i) => PyValue::Int(*i),
            Obj::Float(f) => PyValue::Float(*f),
            Obj::Str(s) => {
                self.count_bytes(s.len())?;
                PyValue::Str(s.to_string())
            }
            Obj::Bytes(b) => {
                self.count_bytes(b.len())?;
                PyValue::Bytes(b.to_vec())
            }
            Obj::List(items) | Obj::Tuple(items) => {
                self.enter(id, depth)?;
                let mut out = Vec::with_capacity(items.len().min(1024));
                for &item in items {
                    out.push(self.value(item, depth + 1)?);
                }
                self.leave(id);
                if matches!(vm.arena[id], Obj::List(_)) {
                    PyValue::List(out)
                } else {
                    PyValue::Tuple(out)
                }
            }
            Obj::Dict(items) => {
                self.enter(id, depth)?;
                let mut out = Vec::with_capacity(items.len().min(1024));
                for &(k, v) in items {
                    let k = self.value(k, depth + 1)?;
                    let v = self.value(v, depth + 1)?;
                    out.push((k, v));
                }
                self.leave(id);
                PyValue::Dict(out)
            }
            other @ (Obj::Global(_) | Obj::Dtype(_) | Obj::Array(_)) => {
                return Err(PickleError::NotPlainData {
                    found: other.describe(),
                })
            }
        })
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

    #[test]
    fn long_roundtrip() {
        for i in [
            0i128,
            1,
            -1,
            127,
            128,
            255,
            -128,
            -129,
            1 << 31,
            -(1 << 31) - 1,
            i64::MAX as i128,
            i64::MIN as i128,
            1 << 64,
            i128::MAX,
            i128::MIN,
        ] {
            let b = encode_long(i);
            assert_eq!(decode_long(&b), Some(i), "{i}");
        }
        assert_eq!(encode_long(1 << 64).len(), 9);
        assert_eq!(encode_long(i64::MIN as i128).len(), 8);
        assert_eq!(encode_long(i128::MIN).len(), 16);
        assert_eq!(decode_long(&[0; 40]), Some(0));
        assert_eq!(decode_long(&[0xff; 40]), Some(-1));
        let mut big = vec![0u8; 17];
        big[16] = 1;
        assert_eq!(decode_long(&big), None);
    }

    #[test]
    fn roundtrip_through_pickle() {
        let recipe = LoadingRecipe::new("s2p", Some("F"), ["transpose", "zscore"])
            .with_kwarg("planes", vec![PyValue::Int(0), PyValue::Int(-70000)])
            .with_kwarg("big", PyValue::Int(-(1 << 100)))
            .with_kwarg("x", 1.5)
            .with_kwarg(
                "t",
                PyValue::Tuple(vec![PyValue::None, PyValue::Bytes(vec![0, 255])]),
            )
            .with_kwarg(
                "d",
                PyValue::Dict(vec![(PyValue::Int(1), PyValue::Str("é".into()))]),
            );
        let bytes = encode_recipe_npy(&recipe).unwrap();
        assert_eq!(recipe_from_npy_bytes("mem", &bytes).unwrap(), recipe);
    }

    #[test]
    fn hostile_globals_refused() {
        let e = decode_pickle(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.").unwrap_err();
        assert!(
            matches!(e, PickleError::ForbiddenGlobal { ref module, ref name, offset: 2 }
            if module == "os" && name == "system")
        );
        let e = decode_pickle(b"\x80\x04\x8c\x05posix\x8c\x06system\x93.").unwrap_err();
        assert!(matches!(e, PickleError::ForbiddenGlobal { .. }));
    }

    #[test]
    fn python_dict_key_semantics() {
        // {1: 'a', True: 'b', 1.0: 'c', 2: 'd'} -> {1: 'c', 2: 'd'}
        let p = b"\x80\x02}(K\x01X\x01\x00\x00\x00a\x88X\x01\x00\x00\x00bG?\xf0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00cK\x02X\x01\x00\x00\x00du.";
        assert_eq!(
            decode_pickle(p).unwrap(),
            PyValue::Dict(vec![
                (PyValue::Int(1), PyValue::Str("c".into())),
                (PyValue::Int(2), PyValue::Str("d".into())),
            ])
        );
        // A list key is unhashable.
        assert!(matches!(
            decode_pickle(b"}]K\x01s."),
            Err(PickleError::BadValue { .. })
        ));
    }

    #[test]
    fn memo_shares_mutable_lists() {
        // l = []; d = [l, l]; l.append(1)  -> [[1], [1]]
        let p = b"]q\x00](h\x00h\x00eh\x00K\x01a0.";
        assert_eq!(
            decode_pickle(p).unwrap(),
            PyValue::List(vec![
                PyValue::List(vec![PyValue::Int(1)]),
                PyValue::List(vec![PyValue::Int(1)]),
            ])
        );
    }

    #[test]
    fn recursive_list_refused() {
        // l = []; l.append(l)
        assert_eq!(decode_pickle(b"]q\x00h\x00a."), Err(PickleError::Recursive));
    }
}
