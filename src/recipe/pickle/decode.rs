//! The restricted pickle machine: its entry points, its state (input,
//! budgets, stack, marks and memo) and the loop that dispatches opcodes. The
//! opcodes that build values are in [`construct`](super::construct).

use std::collections::HashMap;

use super::object::{Expander, HashKey, Obj};
use super::{op, PResult};
use crate::error::PickleError;
use crate::recipe::{PyValue, MAX_DEPTH, MAX_EXPANDED_BYTES, MAX_VALUES};

/// Deepest nesting of `MARK`s.
const MAX_MARKS: usize = 2 * MAX_DEPTH;

/// Decodes a pickle of plain Python data (None, bool, int, float, str,
/// bytes, list, tuple, dict) into a [`PyValue`], with the restrictions and
/// bounds of the [module docs](crate::recipe). A pickle of a numpy array is refused
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

/// Decodes the pickle of a numpy object array of one element (the data of
/// a `|O` `.npy` file of shape `()`, `(1,)`, `(1, 1)`, ...) and returns that
/// element, what `.item()` gives (vrAnalysis's `LoadingRecipe.is_recipe`
/// and `loadone` read a recipe with `.item()`, which accepts any size-1
/// array). The element may hold every value [`decode_object_npy`] accepts.
/// Refuses pickles that are not a numpy array, arrays that are not object
/// arrays and arrays of more or fewer than one element.
pub fn decode_object_array(bytes: &[u8]) -> Result<PyValue, PickleError> {
    decode_object_item(bytes).map(|(_, v)| v)
}

/// [`decode_object_array`], with the shape of the pickled array.
pub(crate) fn decode_object_item(bytes: &[u8]) -> Result<(Vec<u64>, PyValue), PickleError> {
    let mut vm = Vm::new(bytes);
    vm.objects = true;
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
        // BUILD checked that the list holds one item per element.
        [element] => {
            let (shape, element) = (state.shape.clone(), *element);
            Ok((shape, vm.expand(element)?))
        }
        _ => Err(PickleError::NotZeroDim {
            shape: state.shape.clone(),
        }),
    }
}

/// Decodes the pickle of a numpy object array of any shape (the data of a
/// `|O` `.npy` file) into a value, as `np.load(allow_pickle=True)` would
/// give it: for a 0-d array its one element (what `.item()` returns), for
/// other shapes a [`PyValue::Array`] of the elements.
///
/// Beyond what [`decode_pickle`] accepts, the elements may hold numpy
/// arrays of any non-structured dtype (typed: dtype, shape, Fortran flag and
/// raw bytes, whose length must be the shape's product times the itemsize,
/// [`PickleError::ArraySize`]), nested object arrays, numpy complex and
/// datetime64/timedelta64 scalars, sets and frozensets, complex numbers,
/// ints of any size ([`PyValue::BigInt`]) and naive `datetime.datetime`s.
/// The globals a pickle may name grow by `builtins.set`,
/// `builtins.frozenset`, `builtins.complex` and `datetime.datetime`, each
/// only in the call pattern Python pickles it with; everything else is
/// refused as for recipes, and the same depth, value and byte bounds hold.
///
/// ```
/// use onedata::recipe::{decode_object_npy, ArrayData, PyValue};
/// // np.save(f, {'v': np.array([1.5, 2.0])}) with numpy 1.x (protocol 3),
/// // memo opcodes dropped.
/// let mut p = b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01)cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]}X\x01\x00\x00\x00v".to_vec();
/// p.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01K\x02\x85cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89C\x10");
/// p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40]);
/// p.extend_from_slice(b"tbsatb.");
/// let v = decode_object_npy(&p).unwrap();
/// let PyValue::Array(a) = v.get("v").unwrap() else { panic!() };
/// assert_eq!((a.descr.as_str(), a.shape.as_slice(), a.fortran), ("<f8", &[2u64][..], false));
/// assert!(matches!(&a.data, ArrayData::Raw(b) if b.len() == 16));
/// ```
pub fn decode_object_npy(bytes: &[u8]) -> Result<PyValue, PickleError> {
    decode_object_npy_shaped(bytes).map(|(_, v)| v)
}

/// [`decode_object_npy`], with the shape of the pickled array.
pub(crate) fn decode_object_npy_shaped(bytes: &[u8]) -> Result<(Vec<u64>, PyValue), PickleError> {
    let mut vm = Vm::new(bytes);
    vm.objects = true;
    let root = vm.run()?;
    match &vm.arena[root] {
        Obj::Array(Some(state)) => match &state.items {
            Some(items) => {
                let shape = state.shape.clone();
                let value = match items.as_slice() {
                    [element] if shape.is_empty() => {
                        let element = *element;
                        vm.expand(element)?
                    }
                    _ => vm.expand(root)?,
                };
                Ok((shape, value))
            }
            None => Err(PickleError::NotObjectArray {
                dtype: state.descr.clone(),
            }),
        },
        Obj::Array(None) => Err(PickleError::BadValue {
            what: "the array's state is never set (no BUILD)".into(),
            offset: bytes.len(),
        }),
        other => Err(PickleError::NotAnArray {
            found: other.describe(),
        }),
    }
}

pub(super) struct Vm<'a> {
    input: &'a [u8],
    pos: usize,
    /// Where the opcode being run starts.
    pub(super) at: usize,
    pub(super) arena: Vec<Obj<'a>>,
    /// For each dict, its keys' positions.
    pub(super) dict_index: HashMap<usize, HashMap<HashKey<'a>, usize>>,
    /// The itemsize of each structured or subarray dtype built.
    pub(super) dtype_sizes: HashMap<usize, usize>,
    pub(super) stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
    /// Values created or referenced so far.
    values: usize,
    /// Bytes created or hashed so far.
    bytes: usize,
    pub(super) byte_limit: usize,
    /// The object-array decoder ([`decode_object_npy`]): numpy arrays,
    /// sets, complex and big ints, datetimes are values.
    pub(super) objects: bool,
}

impl<'a> Vm<'a> {
    fn new(input: &'a [u8]) -> Self {
        Vm {
            input,
            pos: 0,
            at: 0,
            arena: Vec::new(),
            dict_index: HashMap::new(),
            dtype_sizes: HashMap::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            values: 0,
            bytes: 0,
            byte_limit: MAX_EXPANDED_BYTES.max(input.len()),
            objects: false,
        }
    }

    // -- input --------------------------------------------------------------

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// The next `n` bytes; checked against what is left before anything else.
    pub(super) fn take(&mut self, n: u64) -> PResult<&'a [u8]> {
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

    pub(super) fn charge(&mut self) -> PResult<()> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(PickleError::TooLarge {
                what: "values",
                limit: MAX_VALUES,
            });
        }
        Ok(())
    }

    pub(super) fn charge_bytes(&mut self, n: usize) -> PResult<()> {
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

    pub(super) fn alloc(&mut self, obj: Obj<'a>) -> PResult<usize> {
        self.charge()?;
        self.arena.push(obj);
        Ok(self.arena.len() - 1)
    }

    pub(super) fn push_new(&mut self, obj: Obj<'a>) -> PResult<()> {
        let id = self.alloc(obj)?;
        self.stack.push(id);
        Ok(())
    }

    fn push_ref(&mut self, id: usize) -> PResult<()> {
        self.charge()?;
        self.stack.push(id);
        Ok(())
    }

    pub(super) fn pop(&mut self, opcode: &'static str) -> PResult<usize> {
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
    pub(super) fn top(&self, opcode: &'static str) -> PResult<usize> {
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

    pub(super) fn bad<T>(&self, what: impl Into<String>) -> PResult<T> {
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
                op::EMPTY_SET if self.objects => self.push_new(Obj::Set(Vec::new()))?,
                op::ADDITEMS if self.objects => {
                    let items = self.pop_mark("ADDITEMS")?;
                    let set = self.stack[self.top("ADDITEMS")?];
                    self.add_to_set(set, &items, "ADDITEMS")?;
                }
                op::FROZENSET if self.objects => {
                    let items = self.pop_mark("FROZENSET")?;
                    let id = self.alloc(Obj::FrozenSet(Vec::new()))?;
                    self.add_to_set(id, &items, "FROZENSET")?;
                    self.stack.push(id);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
