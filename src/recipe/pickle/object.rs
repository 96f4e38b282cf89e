//! The values of the pickle machine ([`Obj`]), their identity as dict keys
//! ([`HashKey`]), the globals a pickle may name ([`Callable`]), numpy scalars,
//! and the expansion of a value into a [`PyValue`] ([`Expander`]).

use std::borrow::Cow;

use super::decode::Vm;
use super::PResult;
use crate::error::PickleError;
use crate::npy::Dtype;
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
        _ => None,
    }
}

/// The value of a pickled numpy scalar (`np.int64(3)`, `np.float32(0.5)`,
/// `np.bool_(True)`, `np.str_("a")`, ...): the Python value it equals, from
/// its dtype (descr with the byte order of the dtype's state) and its bytes.
pub(super) fn numpy_scalar<'a>(descr: &str, data: &[u8], at: usize) -> PResult<Obj<'a>> {
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
pub(super) struct ArrayState {
    pub(super) shape: Vec<u64>,
    /// The dtype as pickled, e.g. `O8`.
    pub(super) descr: String,
    /// The elements, for object arrays (a snapshot of the list at `BUILD`,
    /// as numpy copies it).
    pub(super) items: Option<Vec<usize>>,
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
    Array(Option<ArrayState>),
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
        }
    }
}

/// A dict key by Python's equality: `True == 1 == 1.0`, `-0.0 == 0`,
/// NaN keys equal only to themselves (by identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(in crate::recipe) enum HashKey<'a> {
    None,
    Int(i128),
    Float(u64),
    Nan(usize),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Tuple(Vec<HashKey<'a>>),
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
    use crate::error::PickleError;
    use crate::recipe::decode_pickle;

    #[test]
    fn recursive_list_refused() {
        // l = []; l.append(l)
        assert_eq!(decode_pickle(b"]q\x00h\x00a."), Err(PickleError::Recursive));
    }
}
