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

/// Python's `repr` of a field name, if it is one onedata spells as Python
/// does: single-quoted, without quotes, backslashes or unprintable
/// characters.
fn name_repr(name: &str) -> Option<String> {
    let plain = name.chars().all(|c| {
        !matches!(c, '\'' | '"' | '\\') && (c.is_ascii_graphic() || c == ' ' || c.is_alphanumeric())
    });
    plain.then(|| format!("'{name}'"))
}

/// A field entry of numpy's `dtype.descr` list, as `repr` writes it:
/// `('a', '<i4')`, `('b', '<f8', (2,))`, `('n', [('x', '|u1')])`.
fn field_entry(name: &str, descr: &str) -> String {
    if let Some(inner) = descr.strip_prefix('(').and_then(|d| d.strip_suffix(')')) {
        format!("({name}, {inner})")
    } else if descr.starts_with('[') {
        format!("({name}, {descr})")
    } else {
        format!("({name}, '{descr}')")
    }
}

/// Python's `repr` of a shape tuple: `(2,)`, `(2, 3)`, `()`.
fn shape_repr(dims: &[u64]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = dims.iter().map(u64::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

impl Vm<'_> {
    /// The itemsize of the built dtype `id` (`None` for objects).
    fn dtype_size(&self, id: usize) -> Option<usize> {
        match &self.arena[id] {
            Obj::Dtype(d) => self
                .dtype_sizes
                .get(&id)
                .copied()
                .or_else(|| crate::npy::Dtype::parse(d).and_then(|d| d.itemsize())),
            _ => None,
        }
    }

    /// The descr and itemsize of a structured or subarray dtype from its
    /// state `(3, '|', subarray, names, fields, elsize, alignment, flags)`.
    /// A structured dtype's descr is numpy's `dtype.descr` list as `repr`
    /// (and a `.npy` header) spells it, padding gaps as `('', '|V<n>')`:
    /// `[('a', '>i4'), ('', '|V4'), ('b', '<f8', (2,))]` (numpy's
    /// `dtype.str` would say `|V16`). A subarray dtype, which only appears as
    /// a field's, is `('<f8', (2,))`. Refuses titles, overlapping or
    /// out-of-order fields (which numpy's `dtype.descr` refuses too), fields
    /// holding objects, and sizes that do not add up.
    fn composite_dtype(&mut self, state: &[usize]) -> PResult<(String, usize)> {
        let unsupported =
            |what: &str| format!("numpy structured dtype not supported in a pickle: {what}");
        let elsize = match state.get(5).map(|&i| &self.arena[i]) {
            Some(&Obj::Int(n)) if (0..=i64::MAX as i128).contains(&n) => n as usize,
            _ => return self.bad(unsupported("its itemsize is not a size")),
        };
        let part = |i: usize| {
            state
                .get(i)
                .copied()
                .filter(|&f| !matches!(self.arena[f], Obj::None))
        };
        let (subarray, names, fields) = (part(2), part(3), part(4));
        if let (Some(sub), None, None) = (subarray, names, fields) {
            let (base, shape) = match &self.arena[sub] {
                Obj::Tuple(t) if t.len() == 2 => (t[0], t[1]),
                _ => return self.bad(unsupported("its subarray is not (dtype, shape)")),
            };
            let base_descr = match &self.arena[base] {
                Obj::Dtype(d) => d.clone(),
                _ => return self.bad(unsupported("its subarray base is not a dtype")),
            };
            let dims = match &self.arena[shape] {
                Obj::Tuple(dims) => dims
                    .iter()
                    .map(|&d| match self.arena[d] {
                        Obj::Int(n) if (0..=i64::MAX as i128).contains(&n) => Some(n as u64),
                        _ => None,
                    })
                    .collect::<Option<Vec<u64>>>(),
                _ => None,
            };
            let Some(dims) = dims else {
                return self.bad(unsupported("its subarray shape is not a tuple of sizes"));
            };
            let base_size = self.dtype_size(base);
            let total = dims
                .iter()
                .try_fold(base_size.map(|s| s as u64), |acc, &d| {
                    acc?.checked_mul(d).map(Some)
                })
                .flatten();
            if total != Some(elsize as u64) {
                return self.bad(unsupported("its subarray's size is not its itemsize"));
            }
            let base_repr = if base_descr.starts_with('[') {
                base_descr
            } else if base_descr.starts_with('(') {
                return self.bad(unsupported("a subarray of a subarray"));
            } else {
                format!("'{base_descr}'")
            };
            let descr = format!("({base_repr}, {})", shape_repr(&dims));
            self.charge_bytes(descr.len())?;
            return Ok((descr, elsize));
        }
        let (Some(names), Some(fields), None) = (names, fields, subarray) else {
            return self.bad(unsupported("names, fields and subarray do not go together"));
        };
        let names = match &self.arena[names] {
            Obj::Tuple(n) => n.clone(),
            _ => return self.bad(unsupported("its names are not a tuple")),
        };
        let by_name: std::collections::HashMap<&str, usize> = match &self.arena[fields] {
            Obj::Dict(items) => items
                .iter()
                .filter_map(|&(k, v)| match &self.arena[k] {
                    Obj::Str(s) => Some((s.as_ref(), v)),
                    _ => None,
                })
                .collect(),
            _ => return self.bad(unsupported("its fields are not a dict")),
        };
        // (entry descr, name, offset, size) of each field, in names order.
        let mut layout = Vec::with_capacity(names.len().min(1024));
        for &n in &names {
            let Obj::Str(name) = &self.arena[n] else {
                return self.bad(unsupported("a field name is not a str"));
            };
            let Some(&field) = by_name.get(name.as_ref()) else {
                return self.bad(unsupported("a name has no field"));
            };
            let (dtype, offset) = match &self.arena[field] {
                Obj::Tuple(t) if t.len() == 2 => (t[0], t[1]),
                Obj::Tuple(t) if t.len() == 3 => return self.bad(unsupported("field titles")),
                _ => return self.bad(unsupported("a field is not (dtype, offset)")),
            };
            if !matches!(self.arena[dtype], Obj::Dtype(_)) {
                return self.bad(unsupported("a field's dtype is not a dtype"));
            }
            let Some(size) = self.dtype_size(dtype) else {
                return self.bad(unsupported("a field holds Python objects"));
            };
            let offset = match self.arena[offset] {
                Obj::Int(o) if (0..=i64::MAX as i128).contains(&o) => o as usize,
                _ => return self.bad(unsupported("a field offset is not a size")),
            };
            let Some(name) = name_repr(name) else {
                return self.bad(unsupported(
                    "a field name onedata cannot spell as Python does",
                ));
            };
            layout.push((dtype, name, offset, size));
        }
        // The entries (a padding entry's dtype is `None`), their total length
        // checked against the byte budget before any text is built (a field
        // dtype shared through the memo would otherwise multiply it).
        let descr_of = |id: usize| match &self.arena[id] {
            Obj::Dtype(d) => d.as_str(),
            _ => "",
        };
        let mut entries: Vec<(String, Option<usize>)> = Vec::with_capacity(layout.len());
        let mut end = 0usize;
        for (dtype, name, offset, size) in layout {
            if offset < end {
                return self.bad(unsupported("overlapping or out-of-order fields"));
            }
            if offset > end {
                entries.push((format!("('', '|V{}')", offset - end), None));
            }
            end = offset
                .checked_add(size)
                .ok_or_else(|| PickleError::BadValue {
                    what: unsupported("a field past 2^64 bytes"),
                    offset: self.at,
                })?;
            entries.push((name, Some(dtype)));
        }
        if end > elsize {
            return self.bad(unsupported("its fields reach past its itemsize"));
        }
        if end < elsize {
            entries.push((format!("('', '|V{}')", elsize - end), None));
        }
        let text_len = entries.iter().fold(2usize, |n, (head, dtype)| {
            n.saturating_add(head.len())
                .saturating_add(dtype.map_or(0, |d| descr_of(d).len()))
                .saturating_add(8)
        });
        self.charge_bytes(text_len)?;
        let descr_of = |id: usize| match &self.arena[id] {
            Obj::Dtype(d) => d.as_str(),
            _ => "",
        };
        let parts: Vec<String> = entries
            .iter()
            .map(|(head, dtype)| match dtype {
                Some(d) => field_entry(head, descr_of(*d)),
                None => head.clone(),
            })
            .collect();
        Ok((format!("[{}]", parts.join(", ")), elsize))
    }

    /// The datetime unit of a dtype state (`state[8]` is `(metadata,
    /// (unit, count, 1, 1))` for datetimes), as numpy spells it in a descr:
    /// `D`, `25m`, `generic`. Refuses structured and subarray dtypes (their
    /// state's `subarray`, `names` or `fields` is not `None`).
    fn dtype_unit(&self, fields: &[usize]) -> PResult<Option<String>> {
        let is_none = |i: usize| {
            fields
                .get(i)
                .is_none_or(|&f| matches!(self.arena[f], Obj::None))
        };
        if !is_none(2) || !is_none(3) {
            return self.bad(
                "numpy structured and subarray dtypes (a dtype with fields or a \
                 subarray shape) are not supported in pickles",
            );
        }
        let Some(&extra) = fields.get(8) else {
            return Ok(None);
        };
        let Obj::Tuple(pair) = &self.arena[extra] else {
            return Ok(None);
        };
        let Some(&unit) = pair.get(1) else {
            return Ok(None);
        };
        let Obj::Tuple(unit) = &self.arena[unit] else {
            return Ok(None);
        };
        match unit.as_slice() {
            [name, count, ..] => match (&self.arena[*name], &self.arena[*count]) {
                (Obj::Bytes(n), Obj::Int(c))
                    if n.is_ascii() && n.len() <= 16 && (1..=i32::MAX as i128).contains(c) =>
                {
                    let n = String::from_utf8_lossy(n).into_owned();
                    Ok(Some(if *c == 1 || n == "generic" {
                        n
                    } else {
                        format!("{c}{n}")
                    }))
                }
                _ => self.bad("datetime dtype unit is not (bytes, int, ...)"),
            },
            _ => self.bad("datetime dtype unit is not (bytes, int, ...)"),
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
