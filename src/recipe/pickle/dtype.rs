//! numpy dtypes rebuilt from their pickled state (`BUILD` on a
//! `numpy.dtype`): field lists, subarrays, byte orders and datetime units,
//! spelled as numpy's `dtype.descr` spells them.

use super::decode::Vm;
use super::object::Obj;
use super::PResult;
use crate::error::PickleError;

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
    pub(super) fn dtype_size(&self, id: usize) -> Option<usize> {
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
    pub(super) fn composite_dtype(&mut self, state: &[usize]) -> PResult<(String, usize)> {
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
    pub(super) fn dtype_unit(&self, fields: &[usize]) -> PResult<Option<String>> {
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
