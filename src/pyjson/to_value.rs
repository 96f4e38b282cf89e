//! serde serialization into a [`PyJson`] value (`set_value`).

use super::*;

// ---------------------------------------------------------------------------
// From Rust values: a serde Serializer.

/// Any `Serialize` value as a [`PyJson`], as `serde_json::to_value` would
/// give it except that NaN and the infinities stay floats and 128-bit
/// integers stay exact. `f32` is widened to `f64` (as vrAnalysis'
/// `NumpyEncoder` does with `float(x)`). Map keys are converted as
/// `json.dumps` converts dict keys (ints and floats as their text,
/// booleans as `true`/`false`, unit as `null`).
pub fn to_pyjson<T: Serialize + ?Sized>(value: &T) -> Result<PyJson, PyJsonError> {
    value.serialize(ValueSerializer)
}

pub(super) struct ValueSerializer;

pub(super) type SerResult = Result<PyJson, PyJsonError>;

/// Lists: seq, tuple, tuple struct and tuple variant (`{variant: [...]}`).
pub(super) struct ListSer {
    items: Vec<PyJson>,
    variant: Option<&'static str>,
}

/// Dicts: map, struct and struct variant (`{variant: {...}}`).
pub(super) struct DictSer {
    items: Vec<(String, PyJson)>,
    key: Option<String>,
    variant: Option<&'static str>,
}

pub(super) fn wrap(variant: Option<&'static str>, value: PyJson) -> PyJson {
    match variant {
        Some(v) => PyJson::Dict(vec![(v.to_string(), value)]),
        None => value,
    }
}

pub(super) fn key_text(key: PyJson) -> Result<String, PyJsonError> {
    Ok(match key {
        PyJson::Str(s) => s,
        PyJson::Int(i) => i.to_string(),
        PyJson::BigInt(s) => s,
        PyJson::Float(f) => float_text(f),
        PyJson::Bool(b) => b.to_string(),
        PyJson::Null => "null".into(),
        PyJson::List(_) => {
            return Err(PyJsonError(
                "keys must be str, int, float, bool or None, not list".into(),
            ))
        }
        PyJson::Dict(_) => {
            return Err(PyJsonError(
                "keys must be str, int, float, bool or None, not dict".into(),
            ))
        }
    })
}

impl ser::Serializer for ValueSerializer {
    type Ok = PyJson;
    type Error = PyJsonError;
    type SerializeSeq = ListSer;
    type SerializeTuple = ListSer;
    type SerializeTupleStruct = ListSer;
    type SerializeTupleVariant = ListSer;
    type SerializeMap = DictSer;
    type SerializeStruct = DictSer;
    type SerializeStructVariant = DictSer;

    fn serialize_bool(self, v: bool) -> SerResult {
        Ok(PyJson::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_i128(self, v: i128) -> SerResult {
        Ok(PyJson::Int(v))
    }
    fn serialize_u8(self, v: u8) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> SerResult {
        Ok(PyJson::Int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> SerResult {
        Ok(match i128::try_from(v) {
            Ok(i) => PyJson::Int(i),
            Err(_) => PyJson::BigInt(v.to_string()),
        })
    }
    fn serialize_f32(self, v: f32) -> SerResult {
        Ok(PyJson::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> SerResult {
        Ok(PyJson::Float(v))
    }
    fn serialize_char(self, v: char) -> SerResult {
        Ok(PyJson::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> SerResult {
        Ok(PyJson::Str(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> SerResult {
        Ok(PyJson::List(
            v.iter().map(|&b| PyJson::Int(b.into())).collect(),
        ))
    }
    fn serialize_none(self) -> SerResult {
        Ok(PyJson::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> SerResult {
        value.serialize(self)
    }
    fn serialize_unit(self) -> SerResult {
        Ok(PyJson::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> SerResult {
        Ok(PyJson::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> SerResult {
        Ok(PyJson::Str(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> SerResult {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> SerResult {
        Ok(wrap(Some(variant), value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ListSer, PyJsonError> {
        Ok(ListSer {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<ListSer, PyJsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<ListSer, PyJsonError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<ListSer, PyJsonError> {
        Ok(ListSer {
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<DictSer, PyJsonError> {
        Ok(DictSer {
            items: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<DictSer, PyJsonError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<DictSer, PyJsonError> {
        Ok(DictSer {
            items: Vec::with_capacity(len),
            key: None,
            variant: Some(variant),
        })
    }
}

impl ListSer {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.items.push(to_pyjson(value)?);
        Ok(())
    }
    fn finish(self) -> SerResult {
        Ok(wrap(self.variant, PyJson::List(self.items)))
    }
}

impl ser::SerializeSeq for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeTuple for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for ListSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        self.push(value)
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl DictSer {
    fn finish(self) -> SerResult {
        Ok(wrap(self.variant, PyJson::Dict(self.items)))
    }
}

impl ser::SerializeMap for DictSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), PyJsonError> {
        self.key = Some(key_text(to_pyjson(key)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PyJsonError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| PyJsonError("a map value without a key".into()))?;
        dict_insert(&mut self.items, key, to_pyjson(value)?);
        Ok(())
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeStruct for DictSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PyJsonError> {
        dict_insert(&mut self.items, key.to_string(), to_pyjson(value)?);
        Ok(())
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}

impl ser::SerializeStructVariant for DictSer {
    type Ok = PyJson;
    type Error = PyJsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), PyJsonError> {
        dict_insert(&mut self.items, key.to_string(), to_pyjson(value)?);
        Ok(())
    }
    fn end(self) -> SerResult {
        self.finish()
    }
}
