//! The machine's opcodes that build values: text, bytes and long integers,
//! dict and list updates, globals, and `REDUCE` and `BUILD` interpreted
//! symbolically for the callables a pickle may name.

use std::borrow::Cow;

use super::decode::Vm;
use super::object::{find_class, float_key, numpy_scalar, ArrayState, Callable, HashKey, Obj};
use super::PResult;
use crate::error::PickleError;
use crate::recipe::MAX_DEPTH;

/// Longest module or attribute name quoted in an error.
const MAX_QUOTED: usize = 100;

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
    // -- values -------------------------------------------------------------

    pub(super) fn text(&mut self, n: u64) -> PResult<()> {
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
    pub(super) fn py2_string(&mut self, n: u64) -> PResult<()> {
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

    pub(super) fn binbytes(&mut self, n: u64) -> PResult<()> {
        let raw = self.take(n)?;
        self.push_new(Obj::Bytes(Cow::Borrowed(raw)))
    }

    pub(super) fn long(&mut self, n: u64) -> PResult<()> {
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

    pub(super) fn set_item(&mut self, dict: usize, key: usize, value: usize) -> PResult<()> {
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

    pub(super) fn set_items(&mut self, dict: usize, flat: &[usize], opcode: &str) -> PResult<()> {
        if flat.len() % 2 != 0 {
            return self.bad(format!("odd number of items for {opcode}"));
        }
        for pair in flat.chunks_exact(2) {
            self.set_item(dict, pair[0], pair[1])?;
        }
        Ok(())
    }

    pub(super) fn extend_list(
        &mut self,
        list: usize,
        items: Vec<usize>,
        opcode: &str,
    ) -> PResult<()> {
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

    pub(super) fn global(&mut self, module: &[u8], name: &[u8]) -> PResult<()> {
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
    pub(super) fn reduce(&mut self) -> PResult<()> {
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
    pub(super) fn build(&mut self) -> PResult<()> {
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
}

/// Python's `int.from_bytes(b, 'little', signed=True)`, if it fits in i128.
pub(super) fn decode_long(b: &[u8]) -> Option<i128> {
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

#[cfg(test)]
mod tests {
    use crate::error::PickleError;
    use crate::recipe::{decode_pickle, PyValue};

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
}
