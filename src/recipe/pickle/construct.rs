//! The machine's opcodes that build values: text, bytes and long integers,
//! dict and list updates, globals, and `REDUCE` and `BUILD` interpreted
//! symbolically for the callables a pickle may name.

use std::borrow::Cow;

use super::decode::Vm;
use super::object::{
    datetime_from_state, find_class, float_key, minimal_long, numpy_scalar, ArrayState, Callable,
    HashKey, Obj,
};
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
        match decode_long(raw) {
            Some(value) => self.push_new(Obj::Int(value)),
            None if self.objects => self.push_new(Obj::BigInt(Cow::Borrowed(raw))),
            None => Err(PickleError::IntTooLarge {
                bytes: n,
                offset: at,
            }),
        }
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
            Obj::BigInt(b) => {
                let b = minimal_long(b);
                self.charge_bytes(b.len())?;
                HashKey::BigInt(b)
            }
            Obj::Complex(re, im) => {
                if *im == 0.0 {
                    float_key(*re, id)
                } else {
                    HashKey::Complex(re.to_bits(), im.to_bits())
                }
            }
            Obj::Tuple(items) | Obj::FrozenSet(items) => {
                if depth >= MAX_DEPTH {
                    return Err(PickleError::DepthExceeded { limit: MAX_DEPTH });
                }
                let frozen = matches!(self.arena[id], Obj::FrozenSet(_));
                let items = items.clone();
                // Each tuple hashed counts as a value: a key shared through
                // the memo (t = (t, t) sixty times) would otherwise take
                // 2^60 steps.
                self.charge()?;
                let mut keys = Vec::with_capacity(items.len());
                for item in items {
                    keys.push(self.hash_key(item, depth + 1)?);
                }
                if frozen {
                    keys.sort();
                    HashKey::FrozenSet(keys)
                } else {
                    HashKey::Tuple(keys)
                }
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
        if !flat.len().is_multiple_of(2) {
            return self.bad(format!("odd number of items for {opcode}"));
        }
        for pair in flat.chunks_exact(2) {
            self.set_item(dict, pair[0], pair[1])?;
        }
        Ok(())
    }

    /// Adds `items` to the set or frozenset `set`, each once by Python's
    /// equality.
    pub(super) fn add_to_set(&mut self, set: usize, items: &[usize], opcode: &str) -> PResult<()> {
        if !matches!(self.arena[set], Obj::Set(_) | Obj::FrozenSet(_)) {
            let what = format!("{opcode} to {}, not a set", self.arena[set].describe());
            return self.bad(what);
        }
        for &item in items {
            let hk = self.hash_key(item, 0)?;
            let index = self.dict_index.entry(set).or_default();
            if index.contains_key(&hk) {
                continue;
            }
            if let Obj::Set(members) | Obj::FrozenSet(members) = &mut self.arena[set] {
                index.insert(hk, members.len());
                members.push(item);
            }
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
            Some(c) if self.objects || !c.objects_only() => self.push_new(Obj::Global(c)),
            _ => Err(PickleError::ForbiddenGlobal {
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
                    (Obj::Dtype(descr), Obj::Bytes(bytes)) => {
                        numpy_scalar(descr, bytes, self.at, self.objects)?
                    }
                    _ => return self.bad("a numpy scalar is not pickled as (dtype, bytes)"),
                };
                if let Obj::Str(s) = &obj {
                    let n = s.len();
                    self.charge_bytes(n)?;
                }
                obj
            }
            (Callable::Set | Callable::FrozenSet, &[] | &[_]) => {
                let items = match args.first().map(|&a| &self.arena[a]) {
                    None => Vec::new(),
                    Some(Obj::List(items) | Obj::Tuple(items)) => items.clone(),
                    Some(_) => return self.bad("set() is only allowed of a list or tuple"),
                };
                let empty = if func == Callable::Set {
                    Obj::Set(Vec::new())
                } else {
                    Obj::FrozenSet(Vec::new())
                };
                let id = self.alloc(empty)?;
                self.add_to_set(id, &items, "set()")?;
                self.stack[slot] = id;
                return Ok(());
            }
            (Callable::Complex, &[re, im]) => {
                let part = |o: &Obj<'_>| match *o {
                    Obj::Float(f) => Some(f),
                    Obj::Int(i) => Some(i as f64),
                    Obj::Bool(b) => Some(f64::from(u8::from(b))),
                    _ => None,
                };
                match (part(&self.arena[re]), part(&self.arena[im])) {
                    (Some(re), Some(im)) => Obj::Complex(re, im),
                    _ => return self.bad("complex() is only allowed of two numbers"),
                }
            }
            (Callable::DateTime, &[state]) => match &self.arena[state] {
                Obj::Bytes(b) => match datetime_from_state(b) {
                    Some(d) => Obj::DateTime(d),
                    None => return self.bad("datetime state is not a valid naive datetime"),
                },
                _ => return self.bad("datetime() is only allowed of its 10-byte state"),
            },
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
                let is_some = |i: usize| {
                    fields
                        .get(i)
                        .is_some_and(|&f| !matches!(self.arena[f], Obj::None))
                };
                if is_some(2) || is_some(3) || is_some(4) {
                    let (descr, size) = self.composite_dtype(&fields)?;
                    self.arena[inst] = Obj::Dtype(descr);
                    self.dtype_sizes.insert(inst, size);
                    return Ok(());
                }
                let order = match fields.get(1).map(|&o| &self.arena[o]) {
                    Some(Obj::Str(o)) if matches!(o.as_ref(), "<" | ">" | "|" | "=") => {
                        Some(o.to_string())
                    }
                    _ => None,
                };
                let unit = if self.objects {
                    self.dtype_unit(&fields)?
                } else {
                    None
                };
                if let (Some(order), Obj::Dtype(descr)) = (order, &mut self.arena[inst]) {
                    let bare = descr.trim_start_matches(['<', '>', '|', '=']);
                    *descr = format!("{order}{bare}");
                }
                if let (Some(unit), Obj::Dtype(descr)) = (unit, &mut self.arena[inst]) {
                    if (descr.ends_with("M8") || descr.ends_with("m8")) && unit != "generic" {
                        descr.push_str(&format!("[{unit}]"));
                        if crate::npy::Dtype::parse(descr).is_none() {
                            let what = format!("datetime dtype of unknown unit {unit:?}");
                            return self.bad(what);
                        }
                    }
                }
                Ok(())
            }
            Obj::Array(None) => {
                let (shape, dtype, fortran, data) = match *fields.as_slice() {
                    [version, shape, dtype, fortran, data] => {
                        if !matches!(self.arena[version], Obj::Int(_)) {
                            return self.bad("array state version is not an int");
                        }
                        (shape, dtype, fortran, data)
                    }
                    [shape, dtype, fortran, data] => (shape, dtype, fortran, data),
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
                if descr.starts_with('(') {
                    return self.bad("array of a subarray dtype (numpy never pickles one)");
                }
                let structured_size = self.dtype_sizes.get(&dtype).copied();
                let size = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
                let items = if is_object {
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
                let fortran = match self.arena[fortran] {
                    Obj::Bool(b) => b,
                    Obj::Int(i) => i != 0,
                    // Recipes never looked at it.
                    _ if !self.objects => false,
                    _ => return self.bad("array state's Fortran flag is not a bool"),
                };
                let raw = if self.objects && !is_object {
                    let itemsize = structured_size
                        .or_else(|| crate::npy::Dtype::parse(&descr).and_then(|d| d.itemsize()))
                        .ok_or_else(|| PickleError::BadValue {
                            what: format!("array of unknown dtype {descr:?}"),
                            offset: self.at,
                        })?;
                    let raw = match &self.arena[data] {
                        Obj::Bytes(b) => b.clone(),
                        other => {
                            let what = format!("array data is {}, not bytes", other.describe());
                            return self.bad(what);
                        }
                    };
                    let unit = crate::npy::Dtype::parse(&descr).and_then(|d| d.datetime_unit());
                    if unit.is_some_and(|u| !(1..=i32::MAX as u64).contains(&u.count)) {
                        let what = format!("datetime array of unit count out of range: {descr}");
                        return self.bad(what);
                    }
                    if itemsize == 0 || itemsize > i32::MAX as usize {
                        // (numpy's itemsize is a C int, and never 0 in an array.)
                        let what = format!("array of dtype {descr}: itemsize {itemsize}");
                        return self.bad(what);
                    }
                    let needed = size.and_then(|n| n.checked_mul(itemsize as u64));
                    if needed != Some(raw.len() as u64) {
                        return Err(PickleError::ArraySize {
                            descr,
                            shape,
                            needed,
                            found: raw.len() as u64,
                            offset: self.at,
                        });
                    }
                    Some(raw)
                } else {
                    None
                };
                self.arena[inst] = Obj::Array(Some(ArrayState {
                    shape,
                    descr,
                    items,
                    fortran,
                    raw,
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
pub(in crate::recipe) fn decode_long(b: &[u8]) -> Option<i128> {
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
