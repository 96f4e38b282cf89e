//! The pickle writer: the protocol 3 pickle of a 0-d object array, opcode
//! for opcode as CPython's pickler and numpy 1.x's `np.save` write it.
//!
//! Beyond plain data it writes what CPython's protocol 3 pickler writes for
//! sets and frozensets (`builtins.set([...])`), complex numbers
//! (`builtins.complex(re, im)`), ints of any size (`LONG1`/`LONG4`) and naive
//! datetimes (`datetime.datetime(state)`), and what numpy's `__reduce__`
//! gives for arrays (`_reconstruct` and a `BUILD` with
//! `(1, shape, dtype, is_fortran, data)`) and datetime64/timedelta64 scalars
//! (`scalar(dtype, bytes)`), under numpy 1.x's module path
//! `numpy.core.multiarray`. Globals are memoized and named again with a memo
//! get, as CPython does; other shared objects (the dtype of two arrays) are
//! written again.

use std::collections::HashMap;

use super::op;
use crate::npy::{Dtype, OtherKind};
use crate::recipe::value::{ArrayData, PyArray, TimeValue};
use crate::recipe::PyValue;

/// What numpy's `dtype.__reduce__` gives for a dtype: the `dtype(arg,
/// False, True)` call and the `__setstate__` state `(version, order, None,
/// None, None, elsize, alignment, flags[, ({}, (unit, count, 1, 1))])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::recipe) struct DtypeSpec {
    arg: String,
    order: char,
    elsize: i32,
    alignment: i32,
    flags: u8,
    /// Datetimes: the unit name and count.
    unit: Option<(&'static str, i32)>,
    /// Bytes per element (`None` for objects).
    pub(in crate::recipe) itemsize: Option<usize>,
}

impl DtypeSpec {
    /// The spec of `descr` (numpy's `dtype.str`: `<f8`, `|b1`, `<U6`,
    /// `|S2`, `|V4`, `<M8[D]`, `<f16`, `|O`); `None` for dtypes onedata
    /// does not write (structured and subarray dtypes, size-0 flexible
    /// dtypes, unknown codes).
    pub(in crate::recipe) fn of(descr: &str) -> Option<DtypeSpec> {
        let dtype = Dtype::parse(descr)?;
        let text = dtype.descr();
        let order = text.chars().next()?;
        let code = text.get(1..)?.to_string();
        let plain = |arg: String, elsize: i32, alignment: i32, flags: u8| DtypeSpec {
            arg,
            order,
            elsize,
            alignment,
            flags,
            unit: None,
            itemsize: dtype.itemsize(),
        };
        Some(match &dtype {
            Dtype::Numeric { .. } => plain(code, -1, -1, 0),
            Dtype::Object => DtypeSpec {
                order: '|',
                ..plain("O8".into(), -1, -1, 63)
            },
            Dtype::Other { .. } => match dtype.other_kind()? {
                OtherKind::Unicode { chars } if chars > 0 => {
                    plain(code, i32::try_from(chars.checked_mul(4)?).ok()?, 4, 8)
                }
                OtherKind::Bytes { len } if len > 0 => plain(code, i32::try_from(len).ok()?, 1, 0),
                OtherKind::Void { size } if size > 0 => {
                    plain(code, i32::try_from(size).ok()?, 1, 0)
                }
                OtherKind::LongDouble | OtherKind::ComplexLongDouble => plain(code, -1, -1, 0),
                OtherKind::Datetime(u) | OtherKind::Timedelta(u) if u.count >= 1 => DtypeSpec {
                    unit: Some((u.base.code(), i32::try_from(u.count).ok()?)),
                    ..plain(code.get(..2)?.to_string(), -1, -1, 0)
                },
                _ => return None,
            },
        })
    }
}

/// The descr of a datetime64 (`delta` false) or timedelta64 scalar's dtype
/// in native order: `<M8[D]`, `<m8[25s]`, `<M8` for the generic unit.
pub(in crate::recipe) fn time_descr(delta: bool, t: &TimeValue) -> String {
    let letter = if delta { 'm' } else { 'M' };
    let order = if cfg!(target_endian = "big") {
        '>'
    } else {
        '<'
    };
    if t.unit == "generic" {
        format!("{order}{letter}8")
    } else {
        format!("{order}{letter}8[{}]", t.unit)
    }
}

/// The pickle protocol onedata writes.
const WRITE_PROTOCOL: u8 = 3;

/// CPython's pickler writes lists and dicts in batches of this many items.
const BATCHSIZE: usize = 1000;

/// Writes pickle opcodes as CPython's pickler does for protocol 3.
struct Encoder<'o> {
    out: &'o mut Vec<u8>,
    memo: u32,
    /// The memo index of each global written.
    globals: HashMap<(&'static str, &'static str), u32>,
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

    fn global(&mut self, module: &'static str, name: &'static str) {
        if let Some(&i) = self.globals.get(&(module, name)) {
            if let Ok(i) = u8::try_from(i) {
                self.out.extend_from_slice(&[op::BINGET, i]);
            } else {
                self.op(op::LONG_BINGET);
                self.out.extend_from_slice(&i.to_le_bytes());
            }
            return;
        }
        self.op(op::GLOBAL);
        for part in [module, name] {
            self.out.extend_from_slice(part.as_bytes());
            self.out.push(b'\n');
        }
        self.globals.insert((module, name), self.memo);
        self.memoize();
    }

    fn bytes(&mut self, b: &[u8]) {
        // Lengths beyond u32 are refused by `validate`.
        if let Ok(n) = u8::try_from(b.len()) {
            self.out.extend_from_slice(&[op::SHORT_BINBYTES, n]);
        } else {
            self.op(op::BINBYTES);
            self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        }
        self.out.extend_from_slice(b);
        self.memoize();
    }

    fn list(&mut self, items: &[PyValue]) {
        self.op(op::EMPTY_LIST);
        self.memoize();
        if let [x] = items {
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

    /// `func(*args)` after `func` and the `args` tuple: REDUCE, memoized.
    fn reduce(&mut self) {
        self.op(op::REDUCE);
        self.memoize();
    }

    /// `numpy.dtype(arg, False, True)` with its state, as numpy pickles it.
    fn dtype(&mut self, spec: &DtypeSpec) {
        self.global("numpy", "dtype");
        self.value(&PyValue::Str(spec.arg.clone()));
        self.op(op::NEWFALSE);
        self.op(op::NEWTRUE);
        self.op(op::TUPLE3);
        self.memoize();
        self.reduce();
        self.op(op::MARK);
        self.small_int(if spec.unit.is_some() { 4 } else { 3 });
        self.value(&PyValue::Str(spec.order.to_string()));
        self.op(op::NONE);
        self.op(op::NONE);
        self.op(op::NONE);
        self.int(spec.elsize.into());
        self.int(spec.alignment.into());
        self.int(spec.flags.into());
        if let Some((unit, count)) = spec.unit {
            // ({}, (unit, count, 1, 1))
            self.op(op::EMPTY_DICT);
            self.memoize();
            self.op(op::MARK);
            self.bytes(unit.as_bytes());
            self.int(count.into());
            self.small_int(1);
            self.small_int(1);
            self.op(op::TUPLE);
            self.memoize();
            self.op(op::TUPLE2);
            self.memoize();
        }
        self.op(op::TUPLE);
        self.memoize();
        self.op(op::BUILD);
    }

    /// `_reconstruct(ndarray, (0,), b'b')`, then its state
    /// `(1, shape, dtype, is_fortran, data)`.
    fn array(&mut self, a: &PyArray) {
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.small_int(0);
        self.op(op::TUPLE1);
        self.memoize();
        self.bytes(b"b");
        self.op(op::TUPLE3);
        self.memoize();
        self.reduce();
        self.op(op::MARK);
        self.small_int(1);
        let shape: Vec<PyValue> = a.shape.iter().map(|&d| PyValue::Int(d.into())).collect();
        self.value(&PyValue::Tuple(shape));
        let descr = if a.is_object() {
            "|O"
        } else {
            a.descr.as_str()
        };
        // Refused by `validate` before anything is written.
        let spec = DtypeSpec::of(descr).unwrap_or_else(|| DtypeSpec {
            arg: "O8".into(),
            order: '|',
            elsize: -1,
            alignment: -1,
            flags: 63,
            unit: None,
            itemsize: None,
        });
        self.dtype(&spec);
        self.op(if a.fortran { op::NEWTRUE } else { op::NEWFALSE });
        match &a.data {
            ArrayData::Raw(raw) => self.bytes(raw),
            ArrayData::Objects(items) => self.list(items),
        }
        self.op(op::TUPLE);
        self.memoize();
        self.op(op::BUILD);
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
            PyValue::Bytes(b) => self.bytes(b),
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
            PyValue::List(items) => self.list(items),
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
            // Protocol 3 (no EMPTY_SET): `set(list)`, `frozenset(list)`.
            PyValue::Set(items) | PyValue::FrozenSet(items) => {
                let name = if matches!(v, PyValue::Set(_)) {
                    "set"
                } else {
                    "frozenset"
                };
                self.global("builtins", name);
                self.list(items);
                self.op(op::TUPLE1);
                self.memoize();
                self.reduce();
            }
            PyValue::Complex(re, im) => {
                self.global("builtins", "complex");
                for part in [re, im] {
                    self.op(op::BINFLOAT);
                    self.out.extend_from_slice(&part.to_be_bytes());
                }
                self.op(op::TUPLE2);
                self.memoize();
                self.reduce();
            }
            PyValue::BigInt(b) => {
                // Lengths beyond i32 are refused by `validate`.
                if let Ok(n) = u8::try_from(b.len()) {
                    self.out.extend_from_slice(&[op::LONG1, n]);
                } else {
                    self.op(op::LONG4);
                    self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                }
                self.out.extend_from_slice(b);
            }
            PyValue::DateTime(d) => {
                self.global("datetime", "datetime");
                let mut state = Vec::with_capacity(10);
                state.extend_from_slice(&d.year.to_be_bytes());
                state.extend_from_slice(&[d.month, d.day, d.hour, d.minute, d.second]);
                state.extend_from_slice(&d.microsecond.to_be_bytes()[1..]);
                self.bytes(&state);
                self.op(op::TUPLE1);
                self.memoize();
                self.reduce();
            }
            PyValue::Datetime64(t) | PyValue::Timedelta64(t) => {
                let delta = matches!(v, PyValue::Timedelta64(_));
                self.global("numpy.core.multiarray", "scalar");
                // `validate` checks the unit.
                if let Some(spec) = DtypeSpec::of(&time_descr(delta, t)) {
                    self.dtype(&spec);
                }
                self.bytes(&t.value.to_ne_bytes());
                self.op(op::TUPLE2);
                self.memoize();
                self.reduce();
            }
            PyValue::Array(a) => self.array(a),
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
pub(super) fn encode_long(i: i128) -> Vec<u8> {
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
pub(in crate::recipe) fn encode_object_array(out: &mut Vec<u8>, value: &PyValue) {
    out.extend_from_slice(&[op::PROTO, WRITE_PROTOCOL]);
    let mut e = Encoder {
        out,
        memo: 0,
        globals: HashMap::new(),
    };
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
    // dtype('O8') with state (3, '|', None, None, None, -1, -1, 63)
    if let Some(spec) = DtypeSpec::of("|O") {
        e.dtype(&spec);
    }
    e.op(op::NEWFALSE);
    e.value(&PyValue::List(vec![])); // EMPTY_LIST, memo
    e.value(value);
    e.op(op::APPEND);
    e.op(op::TUPLE);
    e.memoize();
    e.op(op::BUILD);
    e.op(op::STOP);
}
