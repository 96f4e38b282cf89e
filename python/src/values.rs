//! onedata's safe value tree ([`PyValue`]) as Python objects, and back.
//!
//! Object arrays and recipes are decoded by onedata's restricted pickle
//! reader, which executes nothing; the Python objects are then built here
//! from the decoded values. Python's own unpickler never sees the file.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyComplex, PyDict, PyFloat, PyFrozenSet, PyList, PySet, PyString, PyTuple,
};

use onedata::npy::Dtype;
use onedata::recipe::{ArrayData, PyArray, PyDateTime, TimeValue};
use onedata::PyValue;

use crate::arrays::{array_over, dtype, Keep};

/// The Python object for `value`: plain values as Python's own types,
/// numpy arrays as writeable numpy arrays holding a copy of the decoded
/// bytes, numpy datetime64/timedelta64 scalars as numpy scalars.
pub(crate) fn to_python<'py>(py: Python<'py>, value: &PyValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        PyValue::None => py.None().into_bound(py),
        PyValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        PyValue::Int(i) => i.into_pyobject(py)?.into_any(),
        PyValue::Float(f) => PyFloat::new(py, *f).into_any(),
        PyValue::Str(s) => PyString::new(py, s).into_any(),
        PyValue::Bytes(b) => PyBytes::new(py, b).into_any(),
        PyValue::List(items) => {
            let list = PyList::empty(py);
            for x in items {
                list.append(to_python(py, x)?)?;
            }
            list.into_any()
        }
        PyValue::Tuple(items) => {
            let items = items
                .iter()
                .map(|x| to_python(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any()
        }
        PyValue::Dict(items) => {
            let dict = PyDict::new(py);
            for (k, x) in items {
                dict.set_item(to_python(py, k)?, to_python(py, x)?)?;
            }
            dict.into_any()
        }
        PyValue::Set(items) => {
            let set = PySet::empty(py)?;
            for x in items {
                set.add(to_python(py, x)?)?;
            }
            set.into_any()
        }
        PyValue::FrozenSet(items) => {
            let items = items
                .iter()
                .map(|x| to_python(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyFrozenSet::new(py, items)?.into_any()
        }
        PyValue::Complex(re, im) => PyComplex::from_doubles(py, *re, *im).into_any(),
        PyValue::BigInt(le) => {
            let kwargs = PyDict::new(py);
            kwargs.set_item("signed", true)?;
            py.get_type::<pyo3::types::PyInt>().call_method(
                "from_bytes",
                (PyBytes::new(py, le), "little"),
                Some(&kwargs),
            )?
        }
        PyValue::Array(a) => array_to_python(py, a)?,
        PyValue::Datetime64(t) => time_scalar(py, "M8", t.value, &t.unit)?,
        PyValue::Timedelta64(t) => time_scalar(py, "m8", t.value, &t.unit)?,
        PyValue::DateTime(d) => py.import("datetime")?.getattr("datetime")?.call1((
            d.year,
            d.month,
            d.day,
            d.hour,
            d.minute,
            d.second,
            d.microsecond,
        ))?,
    })
}

/// A numpy datetime64/timedelta64 scalar: `count` in `unit`.
fn time_scalar<'py>(
    py: Python<'py>,
    code: &str,
    count: i64,
    unit: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let descr = if unit == "generic" {
        format!("<{code}")
    } else {
        format!("<{code}[{unit}]")
    };
    let np = py.import("numpy")?;
    let ints = np.call_method1("array", ([count],))?;
    let ints = ints.call_method1("astype", ("<i8",))?;
    ints.call_method1("view", (descr,))?.get_item(0)
}

/// A numpy array decoded from a pickle: a writeable array that owns a copy
/// of its bytes, as `np.load(allow_pickle=True)` gives it.
fn array_to_python<'py>(py: Python<'py>, a: &PyArray) -> PyResult<Bound<'py, PyAny>> {
    let shape: Vec<usize> = a
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| crate::errors::argument(py, "a pickled array dimension is too large"))?;
    let order = if a.fortran { "F" } else { "C" };
    match &a.data {
        ArrayData::Raw(bytes) => {
            let descr = if a.descr.starts_with('[') {
                // A structured dtype, as numpy's dtype.descr list spells it.
                py.import("onedata._dtypes")?
                    .call_method1("from_header_descr", (&a.descr,))?
                    .cast_into()?
            } else {
                let dt = Dtype::parse(&a.descr).ok_or_else(|| {
                    crate::errors::argument(py, format!("unknown pickled dtype {:?}", a.descr))
                })?;
                dtype(py, &dt)?
            };
            let view = array_over(py, Keep::Bytes(bytes.clone()), descr, &shape, a.fortran)?;
            view.call_method1("copy", (order,))
        }
        ArrayData::Objects(items) => {
            let np = py.import("numpy")?;
            let flat = np.call_method1("empty", (items.len(), "O"))?;
            for (i, x) in items.iter().enumerate() {
                flat.set_item(i, to_python(py, x)?)?;
            }
            let shaped = flat.call_method1("reshape", (shape,))?;
            if a.fortran {
                shaped.call_method1("copy", ("F",))
            } else {
                Ok(shaped)
            }
        }
    }
}

/// The value tree for a Python object, for writing recipes: `None`, `bool`,
/// `int` (any size), `float`, `str`, `bytes`, `list`, `tuple`, `dict`,
/// `set`, `frozenset`, `complex`, and numpy scalars as the Python value they
/// equal. Anything else is a `TypeError` naming its type.
pub(crate) fn from_python(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<PyValue> {
    if depth > 256 {
        return Err(PyTypeError::new_err(
            "value nested more than 256 levels deep",
        ));
    }
    let py = obj.py();
    if obj.is_none() {
        return Ok(PyValue::None);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(PyValue::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(PyValue::Str(s.to_str()?.to_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(PyValue::Bytes(b.as_bytes().to_vec()));
    }
    if obj.is_instance_of::<pyo3::types::PyInt>() {
        if let Ok(i) = obj.extract::<i128>() {
            return Ok(PyValue::Int(i));
        }
        let nbytes: usize = obj
            .call_method0("bit_length")?
            .extract::<usize>()?
            .checked_add(8)
            .ok_or_else(|| PyTypeError::new_err("integer too large"))?
            / 8;
        let kwargs = PyDict::new(py);
        kwargs.set_item("signed", true)?;
        let le = obj.call_method("to_bytes", (nbytes, "little"), Some(&kwargs))?;
        return Ok(PyValue::BigInt(le.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(PyValue::Float(f.value()));
    }
    if let Ok(c) = obj.cast::<PyComplex>() {
        return Ok(PyValue::Complex(c.real(), c.imag()));
    }
    let items = |it: &mut dyn Iterator<Item = Bound<'_, PyAny>>| -> PyResult<Vec<PyValue>> {
        it.map(|x| from_python(&x, depth + 1)).collect()
    };
    if let Ok(list) = obj.cast::<PyList>() {
        return items(&mut list.iter()).map(PyValue::List);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return items(&mut t.iter()).map(PyValue::Tuple);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return d
            .iter()
            .map(|(k, x)| Ok((from_python(&k, depth + 1)?, from_python(&x, depth + 1)?)))
            .collect::<PyResult<_>>()
            .map(PyValue::Dict);
    }
    if let Ok(s) = obj.cast::<PyFrozenSet>() {
        return items(&mut s.iter()).map(PyValue::FrozenSet);
    }
    if let Ok(s) = obj.cast::<PySet>() {
        return items(&mut s.iter()).map(PyValue::Set);
    }
    let np = py.import("numpy")?;
    if obj.is_instance(&np.getattr("ndarray")?)? {
        return array_from_python(obj, depth);
    }
    let datetime = py.import("datetime")?.getattr("datetime")?;
    if obj.is_instance(&datetime)? {
        if !obj.getattr("tzinfo")?.is_none() {
            return Err(PyTypeError::new_err(
                "onedata writes naive datetimes only (this one has a tzinfo)",
            ));
        }
        let get = |name: &str| obj.getattr(name)?.extract::<u32>();
        let narrow = |v: u32| u8::try_from(v).map_err(|_| PyTypeError::new_err("bad datetime"));
        return Ok(PyValue::DateTime(PyDateTime {
            year: u16::try_from(get("year")?).map_err(|_| PyTypeError::new_err("bad year"))?,
            month: narrow(get("month")?)?,
            day: narrow(get("day")?)?,
            hour: narrow(get("hour")?)?,
            minute: narrow(get("minute")?)?,
            second: narrow(get("second")?)?,
            microsecond: get("microsecond")?,
        }));
    }
    // numpy scalars: np.int64(3), np.float32(0.5), np.bool_(True), ...
    if obj.is_instance(&np.getattr("generic")?)? {
        for (class, is_datetime) in [("datetime64", true), ("timedelta64", false)] {
            if obj.is_instance(&np.getattr(class)?)? {
                let (unit, count): (String, i64) = np
                    .call_method1("datetime_data", (obj.getattr("dtype")?,))?
                    .extract()?;
                let unit = match (unit.as_str(), count) {
                    ("generic", _) => "generic".to_string(),
                    (u, 1) => u.to_string(),
                    (u, n) => format!("{n}{u}"),
                };
                let value = obj
                    .call_method1("astype", ("<i8",))?
                    .call_method0("item")?
                    .extract::<i64>()?;
                let t = TimeValue { value, unit };
                return Ok(if is_datetime {
                    PyValue::Datetime64(t)
                } else {
                    PyValue::Timedelta64(t)
                });
            }
        }
        if obj.is_instance(&np.getattr("complexfloating")?)? {
            let c: Bound<'_, PyComplex> = py.get_type::<PyComplex>().call1((obj,))?.cast_into()?;
            return Ok(PyValue::Complex(c.real(), c.imag()));
        }
        if obj.is_instance(&np.getattr("bool_")?)? {
            return Ok(PyValue::Bool(obj.is_truthy()?));
        }
        if obj.is_instance(&np.getattr("integer")?)? {
            return Ok(PyValue::Int(obj.extract::<i128>()?));
        }
        if obj.is_instance(&np.getattr("floating")?)? {
            return Ok(PyValue::Float(obj.extract::<f64>()?));
        }
        if obj.is_instance(&np.getattr("str_")?)? {
            return Ok(PyValue::Str(obj.extract::<String>()?));
        }
    }
    Err(PyTypeError::new_err(format!(
        "onedata cannot write a value of type {}",
        obj.get_type().name()?
    )))
}

/// A numpy array as the value tree holds it: dtype (numpy's `dtype.str`),
/// shape, memory order and raw bytes, or the elements of an object array.
fn array_from_python(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<PyValue> {
    let dtype = obj.getattr("dtype")?;
    if !dtype.getattr("fields")?.is_none() {
        return Err(PyTypeError::new_err(
            "onedata does not write structured arrays inside recipes or object arrays",
        ));
    }
    let shape: Vec<u64> = obj.getattr("shape")?.extract()?;
    let flags = obj.getattr("flags")?;
    let c = flags.getattr("c_contiguous")?.is_truthy()?;
    let f = flags.getattr("f_contiguous")?.is_truthy()?;
    // numpy pickles an F-contiguous, non-C-contiguous array in Fortran order.
    let fortran = f && !c;
    let descr: String = dtype.getattr("str")?.extract()?;
    let data = if dtype.getattr("kind")?.extract::<String>()? == "O" {
        let flat = obj.call_method1("ravel", ("C",))?;
        let mut items = Vec::new();
        for x in flat.try_iter()? {
            items.push(from_python(&x?, depth + 1)?);
        }
        ArrayData::Objects(items)
    } else {
        let order = if fortran { "F" } else { "C" };
        let bytes = obj.call_method1("tobytes", (order,))?;
        ArrayData::Raw(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
    };
    Ok(PyValue::Array(Box::new(PyArray {
        descr,
        shape,
        fortran,
        data,
    })))
}
