//! The keys a section of the file accepts, read from its serde type: the derive hands the
//! deserializer the struct's field names, and [`fields_of`] keeps them and stops.

use serde::Deserialize;
use serde::de::{self, Visitor};

/// The field names of `T`, a struct that derives `Deserialize` (in the order declared).
pub fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut seen = None;
    // The probe always refuses; only what it saw on the way matters.
    let _ = T::deserialize(Probe(&mut seen));
    seen.unwrap_or(&[])
}

struct Probe<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields read"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Two {
        first: String,
        #[serde(default)]
        second: Option<u8>,
    }

    #[test]
    fn reads_the_fields_of_a_derived_struct() {
        assert_eq!(fields_of::<Two>(), ["first", "second"]);
        assert!(fields_of::<String>().is_empty());
    }
}
