//! serde deserialization out of a [`PyJson`] value (`get_value`).

use super::*;

// ---------------------------------------------------------------------------
// To Rust values: a serde Deserializer.

/// Deserializes `value` as `T`, as `serde_json::from_value` would, except
/// that NaN and the infinities read as `f64` (or `f32`) NaN and infinities.
/// A float target takes integers of any size (as `float(i)`); integers
/// beyond `u128` read only as floats.
pub fn from_pyjson<T: DeserializeOwned>(value: &PyJson) -> Result<T, PyJsonError> {
    T::deserialize(value)
}

impl<'de> IntoDeserializer<'de, PyJsonError> for &'de PyJson {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for &'de PyJson {
    type Error = PyJsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Null => visitor.visit_unit(),
            PyJson::Bool(b) => visitor.visit_bool(*b),
            PyJson::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    visitor.visit_i64(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    visitor.visit_u64(v)
                } else {
                    visitor.visit_i128(*i)
                }
            }
            PyJson::BigInt(s) => match s.parse::<u128>() {
                Ok(v) => visitor.visit_u128(v),
                Err(_) => visitor.visit_f64(s.parse().unwrap_or(f64::NAN)),
            },
            PyJson::Float(f) => visitor.visit_f64(*f),
            PyJson::Str(s) => visitor.visit_borrowed_str(s),
            PyJson::List(items) => {
                let mut seq = SeqDeserializer::new(items.iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            PyJson::Dict(items) => {
                let mut map = MapDeserializer::new(items.iter().map(|(k, v)| (k.as_str(), v)));
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    /// A float asked for: integers of any size are converted (as Python's
    /// `float(i)`), as well as floats.
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Int(_) | PyJson::BigInt(_) => {
                visitor.visit_f64(self.as_f64().unwrap_or(f64::NAN))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PyJsonError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PyJsonError> {
        match self {
            PyJson::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            PyJson::Dict(items) if items.len() == 1 => {
                visitor.visit_enum(MapAccessDeserializer::new(MapDeserializer::new(
                    items.iter().map(|(k, v)| (k.as_str(), v)),
                )))
            }
            _ => Err(de::Error::custom(
                "an enum is a string or an object with one key",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}
