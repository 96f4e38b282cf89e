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
//! the array. vrAnalysis's `LoadingRecipe.is_recipe` and `loadone` read it
//! with `data.item()`, which accepts any array of one element, so onedata
//! reads a recipe dict in an object array of shape `(1,)`, `(1, 1)`, ... as a
//! recipe too (and refuses a header whose shape is not the pickled array's).
//! onedata decodes that pickle with a small, restricted pickle machine
//! ([`decode_object_array`]) that understands exactly what numpy and Python
//! write for such an array, protocols 2 to 5, and nothing more:
//!
//! - **Nothing is ever imported or called.** The only globals a pickle may
//!   name are `numpy.core.multiarray._reconstruct` and
//!   `numpy.core.multiarray.scalar` (and their numpy 2 spellings under
//!   `numpy._core.multiarray`), `numpy.ndarray`, `numpy.dtype`,
//!   `_codecs.encode`, `builtins.bytes`, `builtins.set`,
//!   `builtins.frozenset`, `builtins.complex` and `datetime.datetime` (and
//!   their protocol 2 spellings under `__builtin__`); any other
//!   (`os.system`, `builtins.eval`, `numpy.timedelta64`, ...) is refused at
//!   the opcode that names it. `REDUCE` and `BUILD` are only interpreted,
//!   symbolically, for those and only in the call Python pickles them with:
//!   the array-reconstruct, scalar and dtype patterns,
//!   `_codecs.encode(str, 'latin1')` and `bytes()` (how protocol 2 spells
//!   bytes and empty bytes), `set(list)`, `frozenset(list)`,
//!   `complex(re, im)` and `datetime(10-byte state)`; an arbitrary
//!   `__reduce__` has nothing to call.
//! - **Memory and time are bounded.** Containers nest at most [`MAX_DEPTH`]
//!   levels; a pickle may create (or, through shared memo references, expand
//!   to) at most [`MAX_VALUES`] values and [`MAX_EXPANDED_BYTES`] bytes of text,
//!   bytes and array data (or its own length, if larger), so a "billion
//!   laughs" memo bomb is a typed error, not an allocation. Every length
//!   prefix is checked against the bytes that are left before anything is
//!   allocated, and an array's data must be exactly its shape's product
//!   times its itemsize ([`PickleError::ArraySize`]); memo indices live in a
//!   hash map.
//! - **It never panics**: every fault is a [`PickleError`] naming it.
//!
//! Python values become [`PyValue`]s, everywhere in a recipe (its kwargs
//! included) as in any other object array ([`decode_object_npy`]): `None`,
//! bools, ints (`i128`, and [`PyValue::BigInt`] beyond 128 bits), floats,
//! `str`, `bytes`, lists, tuples, dicts, sets and frozensets, `complex`,
//! naive `datetime.datetime`s, numpy arrays of every dtype but structured
//! and subarray ones ([`PyArray`]: dtype, shape, Fortran flag and raw bytes,
//! or the elements of an object array; non-native data byte-swapped to
//! native order, long doubles included, as numpy's `__setstate__` does),
//! numpy datetime64 and timedelta64 scalars (with their unit), and the
//! other numpy scalars (`np.int64(3)`, `np.float32(0.5)`, `np.bool_(True)`,
//! `np.complex64(1j)`, `np.str_`, `np.bytes_`) as the Python value they
//! equal, so a recipe whose kwargs came out of numpy reads as if they had
//! been plain Python values (and is written back as such). Structured
//! dtypes (arrays or scalars) are refused with a [`PickleError::BadValue`]
//! that says so. Only [`decode_pickle`], the reader of plain pickles, keeps
//! to plain data (no sets, complex, big ints, arrays or datetimes).
//!
//! `loadone` returns a file that is not a recipe as
//! [`OneData::Object`](crate::OneData::Object).
//!
//! Writing ([`write_recipe`], [`encode_recipe_npy`]) produces the file
//! numpy 1.x's `np.save` writes for the recipe: the same header as numpy, and a
//! protocol 3 pickle naming `numpy.core.multiarray._reconstruct` (and
//! `numpy.core.multiarray.scalar` for datetime64 and timedelta64 scalars).
//! Protocol 3 and the `numpy.core` path load in every Python 3 and every
//! numpy from 1.x to 2.x (numpy 2.2.6 and 1.26.4 checked, with warnings as
//! errors, to read the same values from onedata's files): numpy 2
//! keeps `numpy.core.multiarray._reconstruct` and `scalar` importable
//! without a deprecation warning precisely to load such pickles, while
//! numpy 1.x before 1.26 has no `numpy._core` (so numpy 2's own `np.save`
//! output, protocol 4 naming `numpy._core`, does not load there). Sets and
//! frozensets are written as CPython's protocol 3 pickler writes them
//! (`set([...])`; protocol 3 has no `EMPTY_SET`), complex numbers as
//! `complex(re, im)`, ints beyond 128 bits as `LONG1`/`LONG4`, datetimes as
//! `datetime(state)`, and arrays and datetime scalars as numpy's
//! `__reduce__` gives them (`_reconstruct` and the state
//! `(1, shape, dtype, is_fortran, data)`, `scalar(dtype, bytes)`). The
//! opcodes and memo numbering are the ones CPython's pickler emits, globals
//! named again through the memo as CPython does; only where Python would
//! share another object between two places (a memo get, e.g. the dtype of two
//! arrays) onedata writes the value again. [`LoadingRecipe::validate`]
//! refuses, before anything is written, what would not read back equal.
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
//!
//! [`PickleError`]: crate::PickleError
//! [`PickleError::ArraySize`]: crate::PickleError::ArraySize
//! [`PickleError::BadValue`]: crate::PickleError::BadValue

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

use crate::atomic::{write_atomic, Durability};
use crate::error::{Error, ErrorKind, RecipeError, Result};
use crate::npy::{Dtype, Header, OpenedFile};

mod pickle;
mod tree;
mod value;

pub(crate) use pickle::decode_object_npy_shaped as pickle_decode_shaped;
pub use pickle::{decode_object_array, decode_object_npy, decode_pickle};
pub use tree::{json_text, ArrayBytes};
pub use value::{
    big_int_decimal, py_float_repr, ArrayData, JsonError, PyArray, PyDateTime, PyValue, TimeValue,
};

use pickle::{encode_object_array, float_key, HashKey};

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
    /// back an equal recipe: kwargs keys unique, dict keys and set elements
    /// hashable and distinct by Python's equality (`1`, `1.0` and `True` are
    /// one key), nesting within [`MAX_DEPTH`], at most [`MAX_VALUES`] values,
    /// no text, bytes or array data of 4 GiB or more (protocol 3's limit);
    /// arrays of a dtype onedata writes (not structured or subarray) whose
    /// data is exactly shape product times itemsize bytes (or one element per
    /// item for object arrays), [`PyValue::BigInt`]s in their minimal bytes
    /// and beyond 128 bits (smaller ints are [`PyValue::Int`]s), datetime64
    /// units numpy knows, datetimes that exist.
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
    let nested = |depth: usize| {
        if depth >= MAX_DEPTH {
            Err(unwritable(format!("nested deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(())
        }
    };
    match v {
        PyValue::Str(s) if s.len() > u32::MAX as usize => {
            Err(unwritable("a str of 4 GiB or more".into()))
        }
        PyValue::Bytes(b) if b.len() > u32::MAX as usize => {
            Err(unwritable("a bytes of 4 GiB or more".into()))
        }
        PyValue::List(items) | PyValue::Tuple(items) => {
            nested(depth)?;
            items
                .iter()
                .try_for_each(|x| check_writable(x, depth + 1, count))
        }
        PyValue::Set(items) | PyValue::FrozenSet(items) => {
            nested(depth)?;
            let mut seen = std::collections::HashSet::with_capacity(items.len());
            for (i, x) in items.iter().enumerate() {
                let key = value_key(x, 0, i).ok_or_else(|| {
                    unwritable(format!(
                        "set element {x} is unhashable (or not hashable by onedata) or nested too deep"
                    ))
                })?;
                if !seen.insert(key) {
                    return Err(unwritable(format!("duplicate set element {x}")));
                }
                check_writable(x, depth + 1, count)?;
            }
            Ok(())
        }
        PyValue::Dict(items) => {
            nested(depth)?;
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
        PyValue::BigInt(b) => {
            // What the decoder gives back: minimal bytes, beyond i128.
            if pickle::minimal_long(b) != *b || pickle::decode_long(b).is_some() {
                return Err(unwritable(
                    "a BigInt that fits in 128 bits or is not in its minimal bytes \
                     (write it as PyValue::Int, or without redundant sign bytes)"
                        .into(),
                ));
            }
            if b.len() > i32::MAX as usize {
                return Err(unwritable("an int of 2 GiB or more".into()));
            }
            Ok(())
        }
        PyValue::Datetime64(t) | PyValue::Timedelta64(t) => {
            let delta = matches!(v, PyValue::Timedelta64(_));
            match pickle::DtypeSpec::of(&pickle::time_descr(delta, t)) {
                Some(_) => Ok(()),
                None => Err(unwritable(format!(
                    "{} with unit {:?}: not a numpy unit",
                    v.describe(),
                    t.unit
                ))),
            }
        }
        PyValue::DateTime(d) => {
            let mut state = Vec::with_capacity(10);
            state.extend_from_slice(&d.year.to_be_bytes());
            state.extend_from_slice(&[d.month, d.day, d.hour, d.minute, d.second]);
            state.extend_from_slice(&d.microsecond.to_be_bytes()[1..]);
            match pickle::datetime_from_state(&state) {
                Some(back) if back == *d => Ok(()),
                _ => Err(unwritable(format!(
                    "datetime {d} is not a valid date and time"
                ))),
            }
        }
        PyValue::Array(a) => check_array(a, depth, count),
        _ => Ok(()),
    }
}

fn check_array(a: &PyArray, depth: usize, count: &mut usize) -> Result<(), RecipeError> {
    let unwritable = |m: String| RecipeError::Unwritable(m);
    if depth >= MAX_DEPTH {
        return Err(unwritable(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let shape = pickle::py_shape(&a.shape);
    let len = a
        .len()
        .ok_or_else(|| unwritable(format!("array of shape {shape}: too many elements")))?;
    match &a.data {
        ArrayData::Objects(items) => {
            if items.len() as u64 != len {
                return Err(unwritable(format!(
                    "object array of shape {shape} holds {} elements",
                    items.len()
                )));
            }
            items
                .iter()
                .try_for_each(|x| check_writable(x, depth + 1, count))
        }
        ArrayData::Raw(raw) => {
            let spec = pickle::DtypeSpec::of(&a.descr).ok_or_else(|| {
                unwritable(format!(
                    "array of dtype {:?}: onedata writes numeric, bool, str, bytes, void, \
                     datetime and object arrays, not structured, subarray or size-0 dtypes",
                    a.descr
                ))
            })?;
            let Some(itemsize) = spec.itemsize else {
                return Err(unwritable(format!(
                    "array of dtype {} holds raw bytes, not elements",
                    a.descr
                )));
            };
            let needed = len.checked_mul(itemsize as u64);
            if needed != Some(raw.len() as u64) {
                return Err(unwritable(format!(
                    "array of dtype {} and shape {shape} holds {} bytes, not {}",
                    a.descr,
                    raw.len(),
                    needed.map_or_else(|| "more than 2^64".into(), |n| n.to_string())
                )));
            }
            if raw.len() > u32::MAX as usize {
                return Err(unwritable(
                    "an array of 4 GiB or more (protocol 3 bytes)".into(),
                ));
            }
            Ok(())
        }
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
        PyValue::BigInt(b) => HashKey::BigInt(pickle::minimal_long(b)),
        PyValue::Complex(re, im) if *im == 0.0 => float_key(*re, nan_id),
        PyValue::Complex(re, im) => HashKey::Complex(re.to_bits(), im.to_bits()),
        PyValue::Tuple(items) if depth < MAX_DEPTH => HashKey::Tuple(
            items
                .iter()
                .map(|x| value_key(x, depth + 1, nan_id))
                .collect::<Option<_>>()?,
        ),
        PyValue::FrozenSet(items) if depth < MAX_DEPTH => {
            let mut keys = items
                .iter()
                .map(|x| value_key(x, depth + 1, nan_id))
                .collect::<Option<Vec<_>>>()?;
            keys.sort();
            HashKey::FrozenSet(keys)
        }
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Reading and writing files
// ---------------------------------------------------------------------------

/// Reads the loading recipe saved at `path` (a `.npy` of dtype `|O` and
/// shape `()`, as vrAnalysis's `saveone` writes it, or of any other shape of
/// one element, which vrAnalysis's `.item()` reads the same).
///
/// Errors name the file: [`Fault::Recipe`](crate::Fault::Recipe) when it is
/// not an object array of one element or its object is not a recipe ("object array is
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
    // vrAnalysis's `is_recipe` reads `data.item()`: any size-1 array.
    if header.shape().iter().any(|&d| d != 1) {
        return Err(Error::invalid(
            path,
            RecipeError::NotZeroDim {
                shape: header.shape().to_vec(),
            },
        ));
    }
    Ok(())
}

/// The loading recipe in a `.npy` file already split into its parsed header
/// and its data bytes; `path` names the source in errors.
pub(crate) fn recipe_from_parts(
    path: &Path,
    header: &Header,
    data: &[u8],
) -> Result<LoadingRecipe> {
    check_recipe_header(path, header)?;
    let (shape, value) = pickle::decode_object_item(data).map_err(|e| Error::invalid(path, e))?;
    check_pickled_shape(path, header, &shape)?;
    if !LoadingRecipe::is_recipe(&value) {
        let holds = match &value {
            PyValue::Dict(_) => format!("a dict without the '{RECIPE_MARKER}' marker"),
            v => v.describe().to_string(),
        };
        return Err(Error::invalid(path, RecipeError::NotARecipe { holds }));
    }
    LoadingRecipe::from_dict(&value).map_err(|e| Error::invalid(path, e))
}

/// What an object-array (`|O`) `.npy` file holds.
#[derive(Debug, Clone)]
pub(crate) enum ObjectFile {
    /// A loading recipe (an object array of one element holding a recipe dict).
    Recipe(LoadingRecipe),
    /// Any other value (see [`decode_object_npy`]).
    Value(PyValue),
}

/// The recipe or value in an object-array `.npy` file already split into its
/// parsed header and its data bytes; `path` names the source in errors. A
/// size-1 array (0-d, `(1,)`, ...) holding a dict with the recipe marker is read as a recipe
/// exactly as [`read_recipe`] reads it (so a malformed one is an error).
pub(crate) fn object_file_from_parts(
    path: &Path,
    header: &Header,
    data: &[u8],
) -> Result<ObjectFile> {
    if *header.dtype() != Dtype::Object {
        return Err(Error::invalid(
            path,
            RecipeError::NotObjectArray {
                descr: header.dtype().descr(),
            },
        ));
    }
    let (shape, value) =
        pickle::decode_object_npy_shaped(data).map_err(|e| Error::invalid(path, e))?;
    check_pickled_shape(path, header, &shape)?;
    // As vrAnalysis's `is_recipe`: `data.item()` of any size-1 array.
    let item = match &value {
        PyValue::Array(a) if !shape.is_empty() => match &a.data {
            ArrayData::Objects(items) if items.len() == 1 => items.first(),
            _ => None,
        },
        _ if shape.is_empty() => Some(&value),
        _ => None,
    };
    if item.is_some_and(LoadingRecipe::is_recipe) {
        return recipe_from_parts(path, header, data).map(ObjectFile::Recipe);
    }
    Ok(ObjectFile::Value(value))
}

/// The header's shape must be the pickled array's (`np.load` would return
/// the pickled array whatever the header says; onedata refuses the mismatch).
fn check_pickled_shape(path: &Path, header: &Header, shape: &[u64]) -> Result<()> {
    let header_shape: Vec<u64> = header.shape().iter().map(|&d| d as u64).collect();
    if shape != header_shape {
        return Err(Error::invalid(
            path,
            crate::PickleError::BadValue {
                what: format!(
                    "pickled object array has shape {shape:?}, the header says {header_shape:?}"
                ),
                offset: 0,
            },
        ));
    }
    Ok(())
}

/// Writes `recipe` to `path` atomically and durably (temporary file,
/// `fsync`, rename, `fsync` of the folder; see [`Durability`]), as
/// vrAnalysis's `saveone` saves a recipe; see [`encode_recipe_npy`] for the
/// bytes. A recipe that does not pass [`LoadingRecipe::validate`] is an
/// [`ErrorKind::Unwritable`] naming the file, and nothing is written.
pub fn write_recipe(path: impl AsRef<Path>, recipe: &LoadingRecipe) -> Result<()> {
    write_recipe_with(path, recipe, Durability::Durable)
}

/// [`write_recipe`] with the given [`Durability`].
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use onedata::recipe::{read_recipe, write_recipe_with};
/// use onedata::{Durability, LoadingRecipe};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("mpci.roiActivityF.npy");
/// let recipe = LoadingRecipe::new("S2P", Some("F"), ["transpose"]);
/// write_recipe_with(&path, &recipe, Durability::Scratch)?;
/// assert_eq!(read_recipe(&path)?, recipe);
/// # Ok(()) }
/// ```
pub fn write_recipe_with(
    path: impl AsRef<Path>,
    recipe: &LoadingRecipe,
    durability: Durability,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = encode_recipe_npy(recipe).map_err(|error| {
        Error::new(ErrorKind::Unwritable {
            path: path.to_path_buf(),
            error,
        })
    })?;
    write_atomic(path, durability, |w| w.write_all(&bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A recipe whose kwargs hold every kind the object-array decoder reads.
    pub(crate) fn every_kind() -> LoadingRecipe {
        let arr = |descr: &str, shape: Vec<u64>, fortran: bool, raw: Vec<u8>| {
            PyValue::Array(Box::new(PyArray {
                descr: descr.into(),
                shape,
                fortran,
                data: ArrayData::Raw(raw),
            }))
        };
        let t = |value: i64, unit: &str| TimeValue {
            value,
            unit: unit.into(),
        };
        let mut big = vec![0u8; 25];
        big[24] = 1; // 2**192
        LoadingRecipe::new("s2p", Some("F"), ["transpose"])
            .with_kwarg(
                "set",
                PyValue::Set(vec![PyValue::Int(1), PyValue::Str("a".into())]),
            )
            .with_kwarg("empty_set", PyValue::Set(vec![]))
            .with_kwarg(
                "frozen",
                PyValue::FrozenSet(vec![PyValue::Tuple(vec![PyValue::Int(2)])]),
            )
            .with_kwarg("z", PyValue::Complex(1.5, -2.0))
            .with_kwarg("big", PyValue::BigInt(big))
            .with_kwarg(
                "neg_big",
                PyValue::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]),
            )
            .with_kwarg("i70", PyValue::Int(1 << 70))
            .with_kwarg("day", PyValue::Datetime64(t(19723, "D")))
            .with_kwarg("nat", PyValue::Datetime64(t(i64::MIN, "generic")))
            .with_kwarg("dt", PyValue::Timedelta64(t(-5, "25s")))
            .with_kwarg(
                "when",
                PyValue::DateTime(PyDateTime {
                    year: 2024,
                    month: 2,
                    day: 29,
                    hour: 23,
                    minute: 59,
                    second: 58,
                    microsecond: 999_999,
                }),
            )
            .with_kwarg(
                "f8",
                arr(
                    "<f8",
                    vec![2],
                    false,
                    [1.5f64, -0.0]
                        .iter()
                        .flat_map(|f| f.to_le_bytes())
                        .collect(),
                ),
            )
            .with_kwarg(
                "i2F",
                arr("<i2", vec![2, 2], true, vec![1, 0, 2, 0, 3, 0, 4, 0]),
            )
            .with_kwarg(
                "u",
                arr("<U2", vec![1], false, vec![b'h', 0, 0, 0, 0xe9, 0, 0, 0]),
            )
            .with_kwarg("s", arr("|S3", vec![], false, b"ab\0".to_vec()))
            .with_kwarg("b", arr("|b1", vec![0, 3], false, vec![]))
            .with_kwarg(
                "m8",
                arr("<M8[ms]", vec![1], false, 7i64.to_le_bytes().to_vec()),
            )
            .with_kwarg("v", arr("|V2", vec![1], false, vec![1, 2]))
            .with_kwarg(
                "obj",
                PyValue::Array(Box::new(PyArray {
                    descr: "|O".into(),
                    shape: vec![2, 1],
                    fortran: false,
                    data: ArrayData::Objects(vec![
                        PyValue::None,
                        PyValue::Set(vec![PyValue::Complex(0.0, 1.0)]),
                    ]),
                })),
            )
    }

    #[test]
    fn every_kind_roundtrips_through_pickle() {
        let recipe = every_kind();
        let bytes = encode_recipe_npy(&recipe).unwrap();
        assert_eq!(recipe_from_npy_bytes("mem", &bytes).unwrap(), recipe);
        // Big-endian data reads back in native order, as numpy's
        // `__setstate__` makes it (long doubles too).
        for (descr, raw, native, back) in [
            (">i2", vec![0, 1], "<i2", vec![1, 0]),
            (
                ">f16",
                (0..16).collect::<Vec<u8>>(),
                "<f16",
                (0..16).rev().collect(),
            ),
            (
                ">c32",
                (0..32).collect(),
                "<c32",
                (0..16).rev().chain((16..32).rev()).collect(),
            ),
        ] {
            let a = |descr: &str, raw: Vec<u8>| {
                PyValue::Array(Box::new(PyArray {
                    descr: descr.into(),
                    shape: vec![],
                    fortran: false,
                    data: ArrayData::Raw(raw),
                }))
            };
            let r =
                LoadingRecipe::new("x", None, Vec::<String>::new()).with_kwarg("a", a(descr, raw));
            let got = recipe_from_npy_bytes("mem", &encode_recipe_npy(&r).unwrap()).unwrap();
            assert_eq!(got.kwarg("a"), Some(&a(native, back)), "{descr}");
        }
    }

    #[test]
    fn unwritable_kinds_are_typed_errors() {
        let bad = |v: PyValue| {
            let r = LoadingRecipe::new("x", None, Vec::<String>::new()).with_kwarg("k", v);
            assert!(
                matches!(r.validate(), Err(RecipeError::Unwritable(_))),
                "{:?}",
                r.kwargs
            );
        };
        bad(PyValue::BigInt(vec![1]));
        bad(PyValue::BigInt(vec![0; 20]));
        bad(PyValue::Set(vec![PyValue::Int(1), PyValue::Float(1.0)]));
        bad(PyValue::Set(vec![PyValue::List(vec![])]));
        bad(PyValue::Datetime64(TimeValue {
            value: 0,
            unit: "fortnight".into(),
        }));
        let raw = |descr: &str, n: usize| {
            PyValue::Array(Box::new(PyArray {
                descr: descr.into(),
                shape: vec![2],
                fortran: false,
                data: ArrayData::Raw(vec![0; n]),
            }))
        };
        bad(raw("<f8", 15));
        bad(raw("[('a', '<i4')]", 8));
        bad(raw("|S0", 0));
        bad(raw("<x9", 2));
        let mut d = PyDateTime {
            year: 2023,
            month: 2,
            day: 29,
            hour: 0,
            minute: 0,
            second: 0,
            microsecond: 0,
        };
        bad(PyValue::DateTime(d));
        d.day = 28;
        d.microsecond = 1_000_000;
        bad(PyValue::DateTime(d));
    }
}
