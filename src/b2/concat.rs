//! Joining suite2p planes as `np.concatenate` joins them: numpy's dtype
//! promotion, memory order, object planes, and Python truthiness of
//! `concatenate`.

use super::*;

/// Python's truth value of a keyword argument (`bool(value)`). A numpy
/// array other than a one-element one has no truth value (numpy raises).
pub(super) fn py_truth(value: &PyValue) -> std::result::Result<bool, String> {
    Ok(match value {
        PyValue::None => false,
        PyValue::Bool(b) => *b,
        PyValue::Int(i) => *i != 0,
        PyValue::BigInt(_) => true,
        PyValue::Float(x) => *x != 0.0,
        PyValue::Complex(re, im) => *re != 0.0 || *im != 0.0,
        PyValue::Str(x) => !x.is_empty(),
        PyValue::Bytes(x) => !x.is_empty(),
        PyValue::List(x) | PyValue::Tuple(x) | PyValue::Set(x) | PyValue::FrozenSet(x) => {
            !x.is_empty()
        }
        PyValue::Dict(x) => !x.is_empty(),
        PyValue::DateTime(_) => true,
        PyValue::Datetime64(t) | PyValue::Timedelta64(t) => t.value != 0,
        PyValue::Array(a) => match (&a.data, a.len()) {
            (ArrayData::Objects(items), Some(1)) => py_truth(&items[0])?,
            (ArrayData::Raw(bytes), Some(1)) => bytes.iter().any(|&b| b != 0),
            _ => {
                return Err(format!(
                    "the truth value of an array of shape {:?} is ambiguous",
                    a.shape
                ))
            }
        },
    })
}

/// A plane's object array, decoded: the shape and the value (the element
/// for a 0-d array, else an object [`PyValue::Array`]).
pub(super) fn decode_plane(a: &NpyArray) -> Result<(Vec<u64>, PyValue)> {
    let (shape, value) = crate::recipe::pickle_decode_shaped(a.data_bytes())
        .map_err(|e| Error::invalid(a.path(), e))?;
    let header: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
    if shape != header {
        return Err(Error::argument(format!(
            "{}: pickled object array has shape {shape:?}, the header says {header:?}",
            a.path().display()
        )));
    }
    Ok((shape, value))
}

/// `np.load(path, allow_pickle=True).item()` of a one-element object array.
pub(super) fn object_item(a: &NpyArray) -> Result<PyValue> {
    if *a.dtype() != Dtype::Object {
        return Err(Error::argument(format!(
            "{}: expected an object array (a pickled dict), found dtype {}",
            a.path().display(),
            a.dtype().descr()
        )));
    }
    match decode_plane(a)? {
        (shape, value) if shape.is_empty() => Ok(value),
        (_, PyValue::Array(arr)) => match arr.data {
            ArrayData::Objects(mut items) if items.len() == 1 => Ok(items.remove(0)),
            _ => Err(Error::argument(format!(
                "{}: can only convert an array of size 1 to a Python scalar (shape {:?})",
                a.path().display(),
                arr.shape
            ))),
        },
        (_, other) => Ok(other),
    }
}

/// `np.load(path, allow_pickle=True)` of one plane, as a [`PyValue::Array`].
pub(super) fn plane_value(a: &NpyArray) -> Result<PyValue> {
    let shape: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
    if *a.dtype() == Dtype::Object {
        return Ok(match decode_plane(a)? {
            (_, PyValue::Array(arr)) => PyValue::Array(arr),
            (_, element) => PyValue::Array(Box::new(PyArray {
                descr: "|O".into(),
                shape,
                fortran: false,
                data: ArrayData::Objects(vec![element]),
            })),
        });
    }
    // Fortran-ordered only when not also C-contiguous, as numpy pickles.
    let fortran = a.is_fortran() && a.shape().iter().filter(|&&d| d > 1).count() > 1;
    let bytes = a.data_bytes();
    let mut data = crate::memory::try_with_capacity(bytes.len(), || {
        format!("a copy of {}", a.path().display())
    })?;
    data.extend_from_slice(bytes);
    Ok(PyValue::Array(Box::new(PyArray {
        descr: a.dtype().descr(),
        shape,
        fortran,
        data: ArrayData::Raw(data),
    })))
}

/// `np.concatenate` of object arrays along axis 0 (every plane an object
/// array of one or more dimensions, the same trailing shape); the result
/// keeps the elements in C order.
pub(super) fn concatenate_objects(label: &Path, arrays: &[NpyArray]) -> Result<ObjectData> {
    let mut items = Vec::new();
    let mut shape: Option<Vec<u64>> = None;
    let mut rows = 0u64;
    for a in arrays {
        if *a.dtype() != Dtype::Object {
            return Err(Error::argument(format!(
                "{}: planes mix object and {} arrays; onedata concatenates only object arrays with object arrays",
                a.path().display(),
                a.dtype().descr()
            )));
        }
        let (plane_shape, value) = decode_plane(a)?;
        if plane_shape.is_empty() {
            return Err(Error::argument(format!(
                "{}: zero-dimensional arrays cannot be concatenated",
                a.path().display()
            )));
        }
        let tail = plane_shape[1..].to_vec();
        if *shape.get_or_insert_with(|| tail.clone()) != tail {
            return Err(Error::argument(format!(
                "{}: shape {plane_shape:?} does not match the first plane's trailing dimensions",
                a.path().display()
            )));
        }
        rows = rows
            .checked_add(plane_shape[0])
            .ok_or_else(|| Error::argument(format!("{}: too many rows", label.display())))?;
        match value {
            PyValue::Array(arr) => match arr.data {
                ArrayData::Objects(x) => {
                    items.try_reserve(x.len()).map_err(|_| {
                        let bytes = (items.len() as u128 + x.len() as u128)
                            * std::mem::size_of::<PyValue>() as u128;
                        Error::out_of_memory(
                            format!("the concatenation {}", label.display()),
                            bytes,
                        )
                    })?;
                    items.extend(x)
                }
                ArrayData::Raw(_) => unreachable!("an object array decodes to objects"),
            },
            other => items.push(other),
        }
    }
    let Some(tail) = shape else {
        return Err(Error::argument(format!(
            "{}: the session has no imaging planes",
            label.display()
        )));
    };
    let mut full = vec![rows];
    full.extend(tail);
    Ok(ObjectData::new(
        label,
        PyValue::Array(Box::new(PyArray {
            descr: "|O".into(),
            shape: full,
            fortran: false,
            data: ArrayData::Objects(items),
        })),
    ))
}

/// numpy's type promotion (`np.result_type`) of two numeric kinds.
pub fn promote_kinds(a: ElementKind, b: ElementKind) -> ElementKind {
    use ElementKind as K;
    // (category, bits): 0 bool, 1 unsigned, 2 signed, 3 float, 4 complex
    // (bits of each component).
    fn class(k: ElementKind) -> (u8, u32) {
        match k {
            K::Bool => (0, 1),
            K::U8 => (1, 8),
            K::U16 => (1, 16),
            K::U32 => (1, 32),
            K::U64 => (1, 64),
            K::I8 => (2, 8),
            K::I16 => (2, 16),
            K::I32 => (2, 32),
            K::I64 => (2, 64),
            K::F16 => (3, 16),
            K::F32 => (3, 32),
            K::F64 => (3, 64),
            K::C64 => (4, 32),
            K::C128 => (4, 64),
        }
    }
    fn int(signed: bool, bits: u32) -> ElementKind {
        match (signed, bits) {
            (false, 8) => K::U8,
            (false, 16) => K::U16,
            (false, 32) => K::U32,
            (false, _) => K::U64,
            (true, 8) => K::I8,
            (true, 16) => K::I16,
            (true, 32) => K::I32,
            (true, _) => K::I64,
        }
    }
    fn float(complex: bool, bits: u32) -> ElementKind {
        match (complex, bits) {
            (false, 16) => K::F16,
            (false, 32) => K::F32,
            (false, _) => K::F64,
            (true, 64) => K::C128,
            (true, _) => K::C64,
        }
    }
    // The float width that holds an integer of `bits` bits.
    fn int_float_bits(bits: u32) -> u32 {
        match bits {
            8 => 16,
            16 => 32,
            _ => 64,
        }
    }
    if a == b {
        return a;
    }
    let ((ca, ba), (cb, bb)) = (class(a), class(b));
    let ((ca, ba), (cb, bb)) = if ca <= cb {
        ((ca, ba), (cb, bb))
    } else {
        ((cb, bb), (ca, ba))
    };
    match (ca, cb) {
        (0, _) => b.max_by_class(a),
        (1, 1) | (2, 2) => int(ca == 2, ba.max(bb)),
        // unsigned `ba` with signed `bb`
        (1, 2) => {
            if bb > ba {
                int(true, bb)
            } else if ba < 64 {
                int(true, ba * 2)
            } else {
                K::F64
            }
        }
        (1 | 2, 3) => float(false, bb.max(int_float_bits(ba))),
        (1 | 2, 4) => {
            let need = int_float_bits(ba).max(32);
            float(true, bb.max(need))
        }
        (3, 3) | (4, 4) => float(ca == 4, ba.max(bb)),
        // float `ba` with complex `bb`
        _ => float(true, bb.max(ba.max(32))),
    }
}

pub(super) trait MaxByClass {
    fn max_by_class(self, other: Self) -> Self;
}

impl MaxByClass for ElementKind {
    /// With a bool, the other kind (bool promotes to anything).
    fn max_by_class(self, other: ElementKind) -> ElementKind {
        if self == ElementKind::Bool {
            other
        } else {
            self
        }
    }
}

/// One element read in a kind that holds it exactly.
#[derive(Clone, Copy)]
pub(super) enum Scalar {
    Int(i128),
    Float(f64),
    Complex(f64, f64),
}

pub(super) fn read_scalar(kind: ElementKind, b: &[u8]) -> Scalar {
    use ElementKind as K;
    let f32_at = |i: usize| f32::from_ne_bytes(b[i..i + 4].try_into().unwrap()) as f64;
    let f64_at = |i: usize| f64::from_ne_bytes(b[i..i + 8].try_into().unwrap());
    match kind {
        K::Bool => Scalar::Int((b[0] != 0) as i128),
        K::I8 => Scalar::Int(b[0] as i8 as i128),
        K::U8 => Scalar::Int(b[0] as i128),
        K::I16 => Scalar::Int(i16::from_ne_bytes([b[0], b[1]]) as i128),
        K::U16 => Scalar::Int(u16::from_ne_bytes([b[0], b[1]]) as i128),
        K::I32 => Scalar::Int(i32::from_ne_bytes(b[..4].try_into().unwrap()) as i128),
        K::U32 => Scalar::Int(u32::from_ne_bytes(b[..4].try_into().unwrap()) as i128),
        K::I64 => Scalar::Int(i64::from_ne_bytes(b[..8].try_into().unwrap()) as i128),
        K::U64 => Scalar::Int(u64::from_ne_bytes(b[..8].try_into().unwrap()) as i128),
        K::F16 => Scalar::Float(half::f16::from_ne_bytes([b[0], b[1]]).to_f64()),
        K::F32 => Scalar::Float(f32_at(0)),
        K::F64 => Scalar::Float(f64_at(0)),
        K::C64 => Scalar::Complex(f32_at(0), f32_at(4)),
        K::C128 => Scalar::Complex(f64_at(0), f64_at(8)),
    }
}

/// Writes `x` as `kind`; `kind` is a promotion of `x`'s kind, so every cast
/// here is numpy's safe cast (exact, or for 64-bit integers to `f8` the
/// nearest double, as C's conversion gives).
pub(super) fn write_scalar(kind: ElementKind, x: Scalar, out: &mut [u8]) {
    use ElementKind as K;
    let (re, im) = match x {
        Scalar::Int(i) => (i as f64, 0.0),
        Scalar::Float(f) => (f, 0.0),
        Scalar::Complex(r, i) => (r, i),
    };
    let int = match x {
        Scalar::Int(i) => i,
        _ => 0,
    };
    match kind {
        K::Bool => out[0] = (int != 0) as u8,
        K::I8 => out.copy_from_slice(&(int as i8).to_ne_bytes()),
        K::U8 => out.copy_from_slice(&(int as u8).to_ne_bytes()),
        K::I16 => out.copy_from_slice(&(int as i16).to_ne_bytes()),
        K::U16 => out.copy_from_slice(&(int as u16).to_ne_bytes()),
        K::I32 => out.copy_from_slice(&(int as i32).to_ne_bytes()),
        K::U32 => out.copy_from_slice(&(int as u32).to_ne_bytes()),
        K::I64 => out.copy_from_slice(&(int as i64).to_ne_bytes()),
        K::U64 => out.copy_from_slice(&(int as u64).to_ne_bytes()),
        K::F16 => out.copy_from_slice(&half::f16::from_f64(re).to_ne_bytes()),
        K::F32 => out.copy_from_slice(&(re as f32).to_ne_bytes()),
        K::F64 => out.copy_from_slice(&re.to_ne_bytes()),
        K::C64 => {
            out[..4].copy_from_slice(&(re as f32).to_ne_bytes());
            out[4..].copy_from_slice(&(im as f32).to_ne_bytes());
        }
        K::C128 => {
            out[..8].copy_from_slice(&re.to_ne_bytes());
            out[8..].copy_from_slice(&im.to_ne_bytes());
        }
    }
}

/// `np.concatenate(arrays, axis=0)` of 2-d numeric arrays after keeping the
/// first `cols` columns of each (all of them when `None`): one owned array
/// of the promoted dtype (native byte order), Fortran-ordered when every
/// plane is Fortran-ordered, else C-ordered, as numpy lays it out.
pub(super) fn concatenate_rows(
    label: &Path,
    arrays: &[NpyArray],
    cols: Option<usize>,
) -> Result<NpyArray> {
    let Some(first) = arrays.first() else {
        return Err(Error::argument(format!(
            "{}: the session has no imaging planes",
            label.display()
        )));
    };
    let mut kind = first.kind()?;
    let mut keep = None;
    let mut rows = 0usize;
    let misfit = |a: &NpyArray, expected: String| {
        Error::invalid(
            a.path(),
            Fault::Suite2p {
                descr: a.dtype().descr(),
                shape: a.shape().to_vec(),
                expected,
            },
        )
    };
    for a in arrays {
        if a.ndim() != 2 {
            return Err(misfit(a, "every plane must hold a 2-d array".into()));
        }
        kind = promote_kinds(kind, a.kind()?);
        let (r, c) = (a.shape()[0], a.shape()[1]);
        let c = cols.map_or(c, |n| n.min(c));
        let first_cols = *keep.get_or_insert(c);
        if first_cols != c {
            return Err(misfit(
                a,
                format!("{c} columns after trimming, but the first plane has {first_cols}"),
            ));
        }
        rows = rows
            .checked_add(r)
            .ok_or_else(|| Error::argument(format!("{}: too many rows", label.display())))?;
    }
    let keep = keep.unwrap_or(0);
    // A plane is Fortran-ordered for numpy if it is F- but not C-contiguous
    // (a 1-row or 1-column plane is both); np.concatenate gives F order when
    // every input is F-contiguous.
    let fortran = arrays
        .iter()
        .all(|a| a.is_fortran() || a.shape()[0] <= 1 || a.shape()[1] <= 1)
        && arrays.iter().any(|a| a.is_fortran());
    let size = kind.itemsize();
    let header = Header::new(Dtype::native(kind), fortran, &[rows, keep]);
    let total = header
        .data_len()
        .ok_or_else(|| Error::argument(format!("{}: concatenation too large", label.display())))?;
    let mut buf = AlignedBuf::try_zeroed(total).ok_or_else(|| {
        Error::new(ErrorKind::OutOfMemory {
            what: format!("the concatenation {}", label.display()),
            bytes: total as u128,
        })
    })?;
    let out = buf.as_bytes_mut();
    let mut row0 = 0;
    // With no columns kept there is nothing to copy, however many rows the
    // headers claim (a `(2**40, 0)` plane holds no bytes).
    let arrays = if total == 0 { &[][..] } else { arrays };
    for a in arrays {
        let (r, c) = (a.shape()[0], a.shape()[1]);
        let src = a.data_bytes();
        let from = a.kind()?;
        let isz = from.itemsize();
        for i in 0..r {
            for j in 0..keep {
                let s = if a.is_fortran() { j * r + i } else { i * c + j } * isz;
                let d = if fortran {
                    j * rows + row0 + i
                } else {
                    (row0 + i) * keep + j
                } * size;
                if from == kind {
                    out[d..d + size].copy_from_slice(&src[s..s + size]);
                } else {
                    write_scalar(
                        kind,
                        read_scalar(from, &src[s..s + isz]),
                        &mut out[d..d + size],
                    );
                }
            }
        }
        row0 += r;
    }
    NpyArray::from_parts(label, header, buf)
}
