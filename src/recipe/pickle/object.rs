//! The values of the pickle machine ([`Obj`]), their identity as dict keys
//! ([`HashKey`]), the globals a pickle may name ([`Callable`]), numpy scalars,
//! and the expansion of a value into a [`PyValue`] ([`Expander`]).

use std::borrow::Cow;

use super::decode::Vm;
use super::PResult;
use crate::error::PickleError;
use crate::npy::Dtype;
use crate::recipe::value::{ArrayData, PyArray, PyDateTime, TimeValue};
use crate::recipe::{PyValue, MAX_DEPTH, MAX_VALUES};

/// The callables a pickle may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Callable {
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
    /// `builtins.set` (object arrays only).
    Set,
    /// `builtins.frozenset` (object arrays only).
    FrozenSet,
    /// `builtins.complex` (object arrays only).
    Complex,
    /// `datetime.datetime` (object arrays only): only called with its
    /// 10-byte state, which builds a naive datetime and runs nothing.
    DateTime,
}

impl Callable {
    /// Whether only the object-array decoder accepts it (recipes refuse it).
    pub(super) fn objects_only(self) -> bool {
        matches!(
            self,
            Callable::Set | Callable::FrozenSet | Callable::Complex | Callable::DateTime
        )
    }
}

pub(super) fn find_class(module: &[u8], name: &[u8]) -> Option<Callable> {
    match (module, name) {
        (b"numpy.core.multiarray" | b"numpy._core.multiarray", b"_reconstruct") => {
            Some(Callable::Reconstruct)
        }
        (b"numpy.core.multiarray" | b"numpy._core.multiarray", b"scalar") => Some(Callable::Scalar),
        (b"numpy", b"ndarray") => Some(Callable::Ndarray),
        (b"numpy", b"dtype") => Some(Callable::Dtype),
        (b"_codecs", b"encode") => Some(Callable::Encode),
        (b"__builtin__" | b"builtins", b"bytes") => Some(Callable::Bytes),
        (b"__builtin__" | b"builtins", b"set") => Some(Callable::Set),
        (b"__builtin__" | b"builtins", b"frozenset") => Some(Callable::FrozenSet),
        (b"__builtin__" | b"builtins", b"complex") => Some(Callable::Complex),
        (b"datetime", b"datetime") => Some(Callable::DateTime),
        _ => None,
    }
}

/// The value of a pickled numpy scalar (`np.int64(3)`, `np.float32(0.5)`,
/// `np.bool_(True)`, `np.str_("a")`, ...): the Python value it equals, from
/// its dtype (descr with the byte order of the dtype's state) and its bytes.
///
/// With `objects` (the object-array decoder), complex scalars and
/// datetime64/timedelta64 scalars are values too.
pub(super) fn numpy_scalar<'a>(
    descr: &str,
    data: &[u8],
    at: usize,
    objects: bool,
) -> PResult<Obj<'a>> {
    use crate::npy::{ByteOrder, ElementKind};

    let bad = |what: String| PickleError::BadValue { what, offset: at };
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    if objects && (code.starts_with("M8") || code.starts_with("m8")) {
        let unit = match Dtype::parse(descr).and_then(|d| d.datetime_unit()) {
            Some(u) if (1..=i32::MAX as u64).contains(&u.count) => unit_text(u),
            _ => return Err(bad(format!("numpy scalar of unknown dtype {descr:?}"))),
        };
        let raw: [u8; 8] = data.try_into().map_err(|_| {
            bad(format!(
                "numpy scalar of dtype {descr} holds {} bytes, not 8",
                data.len()
            ))
        })?;
        let value = if descr.starts_with('>') {
            i64::from_be_bytes(raw)
        } else {
            i64::from_le_bytes(raw)
        };
        return Ok(Obj::Time {
            delta: code.starts_with('m'),
            value,
            unit,
        });
    }
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
                ElementKind::C64 if objects => {
                    let part =
                        |i: usize| f32::from_le_bytes([le[i], le[i + 1], le[i + 2], le[i + 3]]);
                    // Each part in the dtype's byte order: undo the whole reversal.
                    let (re, im) = if *order == ByteOrder::Big {
                        (part(4), part(0))
                    } else {
                        (part(0), part(4))
                    };
                    Obj::Complex(re.into(), im.into())
                }
                ElementKind::C128 if objects => {
                    let part = |i: usize| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&le[i..i + 8]);
                        f64::from_le_bytes(b)
                    };
                    let (re, im) = if *order == ByteOrder::Big {
                        (part(8), part(0))
                    } else {
                        (part(0), part(8))
                    };
                    Obj::Complex(re, im)
                }
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
pub(super) struct ArrayState<'a> {
    pub(super) shape: Vec<u64>,
    /// The dtype as pickled, e.g. `O8`.
    pub(super) descr: String,
    /// The elements, for object arrays (a snapshot of the list at `BUILD`,
    /// as numpy copies it).
    pub(super) items: Option<Vec<usize>>,
    /// Whether the data is in Fortran order.
    pub(super) fortran: bool,
    /// The raw data of other arrays, checked against shape and itemsize
    /// (object-array decoder only).
    pub(super) raw: Option<Cow<'a, [u8]>>,
}

/// A value of the machine. Containers hold indices into the arena, so that
/// memo gets share (and later mutations show through) as in Python.
#[derive(Debug)]
pub(super) enum Obj<'a> {
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
    Array(Option<ArrayState<'a>>),
    /// An int beyond 128 bits: little-endian two's complement.
    BigInt(Cow<'a, [u8]>),
    Complex(f64, f64),
    Set(Vec<usize>),
    FrozenSet(Vec<usize>),
    /// A numpy datetime64 (`delta` false) or timedelta64 scalar.
    Time {
        delta: bool,
        value: i64,
        unit: String,
    },
    DateTime(PyDateTime),
}

impl Obj<'_> {
    pub(super) fn describe(&self) -> &'static str {
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
            Obj::BigInt(_) => "an int",
            Obj::Complex(..) => "a complex",
            Obj::Set(_) => "a set",
            Obj::FrozenSet(_) => "a frozenset",
            Obj::Time { delta: false, .. } => "a numpy datetime64",
            Obj::Time { delta: true, .. } => "a numpy timedelta64",
            Obj::DateTime(_) => "a datetime",
        }
    }
}

/// A dict key by Python's equality: `True == 1 == 1.0`, `-0.0 == 0`,
/// NaN keys equal only to themselves (by identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(in crate::recipe) enum HashKey<'a> {
    None,
    Int(i128),
    Float(u64),
    Nan(usize),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Tuple(Vec<HashKey<'a>>),
    /// An int beyond 128 bits, by its minimal bytes.
    BigInt(Vec<u8>),
    /// A complex with a nonzero imaginary part, by its bits.
    Complex(u64, u64),
    /// A frozenset, by its elements' keys in sorted order.
    FrozenSet(Vec<HashKey<'a>>),
}

pub(in crate::recipe) fn float_key<'a>(f: f64, nan_id: usize) -> HashKey<'a> {
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

pub(super) struct Expander<'v, 'a> {
    pub(super) vm: &'v Vm<'a>,
    pub(super) visiting: Vec<bool>,
    pub(super) values: usize,
    pub(super) bytes: usize,
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

    pub(super) fn value(&mut self, id: usize, depth: usize) -> PResult<PyValue> {
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
            Obj::Set(items) | Obj::FrozenSet(items) => {
                self.enter(id, depth)?;
                let mut out = Vec::with_capacity(items.len().min(1024));
                for &item in items {
                    out.push(self.value(item, depth + 1)?);
                }
                self.leave(id);
                if matches!(vm.arena[id], Obj::Set(_)) {
                    PyValue::Set(out)
                } else {
                    PyValue::FrozenSet(out)
                }
            }
            Obj::BigInt(b) => {
                self.count_bytes(b.len())?;
                PyValue::BigInt(minimal_long(b))
            }
            Obj::Complex(re, im) => PyValue::Complex(*re, *im),
            Obj::Time { delta, value, unit } => {
                let t = TimeValue {
                    value: *value,
                    unit: unit.clone(),
                };
                if *delta {
                    PyValue::Timedelta64(t)
                } else {
                    PyValue::Datetime64(t)
                }
            }
            Obj::DateTime(d) => PyValue::DateTime(*d),
            Obj::Array(Some(state)) if vm.objects => {
                let data = match (&state.items, &state.raw) {
                    (Some(items), _) => {
                        self.enter(id, depth)?;
                        let mut out = Vec::with_capacity(items.len().min(1024));
                        for &item in items {
                            out.push(self.value(item, depth + 1)?);
                        }
                        self.leave(id);
                        ArrayData::Objects(out)
                    }
                    (None, Some(raw)) => {
                        self.count_bytes(raw.len())?;
                        ArrayData::Raw(raw.to_vec())
                    }
                    (None, None) => {
                        return Err(PickleError::NotPlainData {
                            found: "a numpy array without data",
                        })
                    }
                };
                let (descr, data) = match data {
                    ArrayData::Raw(raw) => {
                        let (descr, raw) = to_native(&canonical_descr(&state.descr), raw);
                        (descr, ArrayData::Raw(raw))
                    }
                    objects => ("|O".to_string(), objects),
                };
                PyValue::Array(Box::new(PyArray {
                    descr,
                    shape: state.shape.clone(),
                    fortran: state.fortran,
                    data,
                }))
            }
            other @ (Obj::Global(_) | Obj::Dtype(_) | Obj::Array(_)) => {
                return Err(PickleError::NotPlainData {
                    found: other.describe(),
                })
            }
        })
    }
}

/// numpy's text of a datetime unit: `D`, `25m`, `generic`.
fn unit_text(u: crate::npy::DatetimeUnit) -> String {
    match (u.base, u.count) {
        (crate::npy::TimeBase::Generic, _) => "generic".to_string(),
        (b, 1) => b.code().to_string(),
        (b, n) => format!("{n}{}", b.code()),
    }
}

/// numpy's `dtype.str` for a descr as pickled: the byte order spelled
/// (`f8` is `<f8`, `<u1` is `|u1`) and a datetime unit as numpy writes it
/// (`M8[1D]` is `<M8[D]`). Descrs onedata does not parse stay as they are.
fn canonical_descr(descr: &str) -> String {
    let Some(d) = Dtype::parse(descr) else {
        return descr.to_string();
    };
    let text = d.descr();
    match d.datetime_unit() {
        Some(u) => {
            let head = text.get(..3).unwrap_or(&text);
            match u.base {
                crate::npy::TimeBase::Generic => head.to_string(),
                _ => format!("{head}[{}]", unit_text(u)),
            }
        }
        None => text,
    }
}

/// The descr and bytes of array data in this machine's byte order, as
/// numpy's `ndarray.__setstate__` makes them: numbers, complex parts, UTF-32
/// code points, datetimes and long doubles (`f16`, each half of `c32`)
/// swapped when the dtype's order is not native.
fn to_native(descr: &str, mut raw: Vec<u8>) -> (String, Vec<u8>) {
    let foreign = if cfg!(target_endian = "big") {
        '<'
    } else {
        '>'
    };
    let Some(code) = descr.strip_prefix(foreign) else {
        return (descr.to_string(), raw);
    };
    let native = if foreign == '<' { '>' } else { '<' };
    let unit = match Dtype::parse(descr) {
        Some(Dtype::Numeric { kind, .. }) => kind.swap_unit(),
        Some(d @ Dtype::Other { .. }) => match d.other_swap_unit() {
            Some(unit) => unit,
            None => return (descr.to_string(), raw),
        },
        _ => return (descr.to_string(), raw),
    };
    if unit > 1 {
        for c in raw.chunks_exact_mut(unit) {
            c.reverse();
        }
    }
    (format!("{native}{code}"), raw)
}

/// `b` without the sign-extension bytes a minimal encoding would not have.
pub(in crate::recipe) fn minimal_long(b: &[u8]) -> Vec<u8> {
    let mut out = b.to_vec();
    while let [.., a, last] = out.as_slice() {
        let redundant = (*last == 0 && a & 0x80 == 0) || (*last == 0xff && a & 0x80 != 0);
        if !redundant {
            break;
        }
        out.pop();
    }
    if out == [0] {
        out.clear();
    }
    out
}

/// A naive `datetime.datetime` from its pickled state: year (2 bytes,
/// big-endian), month (its high bit is `fold`), day, hour, minute, second,
/// microsecond (3 bytes, big-endian); `None` if a field is out of range.
pub(in crate::recipe) fn datetime_from_state(b: &[u8]) -> Option<PyDateTime> {
    let b: &[u8; 10] = b.try_into().ok()?;
    let d = PyDateTime {
        year: u16::from_be_bytes([b[0], b[1]]),
        month: b[2] & 0x7f,
        day: b[3],
        hour: b[4],
        minute: b[5],
        second: b[6],
        microsecond: u32::from_be_bytes([0, b[7], b[8], b[9]]),
    };
    let leap =
        d.year.is_multiple_of(4) && (!d.year.is_multiple_of(100) || d.year.is_multiple_of(400));
    let days = match d.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let ok = (1..=9999).contains(&d.year)
        && (1..=days).contains(&d.day)
        && d.hour < 24
        && d.minute < 60
        && d.second < 60
        && d.microsecond < 1_000_000;
    ok.then_some(d)
}

#[cfg(test)]
mod tests {
    use crate::error::PickleError;
    use crate::recipe::decode_pickle;

    #[test]
    fn recursive_list_refused() {
        // l = []; l.append(l)
        assert_eq!(decode_pickle(b"]q\x00h\x00a."), Err(PickleError::Recursive));
    }
}
