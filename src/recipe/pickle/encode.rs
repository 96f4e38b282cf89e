//! The pickle writer: the protocol 3 pickle of a 0-d object array, opcode
//! for opcode as CPython's pickler and numpy 1.x's `np.save` write it.

use super::op;
use crate::recipe::PyValue;

/// The pickle protocol onedata writes.
const WRITE_PROTOCOL: u8 = 3;

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
            // Refused by `LoadingRecipe::validate` before anything is written.
            _ => self.op(op::NONE),
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
