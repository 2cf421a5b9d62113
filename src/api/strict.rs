//! Stricter JSON decoding than serde's derive gives: input structures must be JSON objects
//! (derived visitors also take arrays), and a map member may not repeat a key (the derive
//! already refuses repeated structure members, so maps behave the same).

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// A nested input structure (`Command`, `Connections`): an object or null, never an array;
/// its members are decoded by the derive, which refuses repeated ones.
pub fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectOnly<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }

    d.deserialize_any(ObjectOnly(PhantomData))
}

/// A string map (`Tags`, `DefaultArguments`) in which every key appears once.
pub fn unique_map<'de, D>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct UniqueMap;

    impl<'de> Visitor<'de> for UniqueMap {
        type Value = Option<BTreeMap<String, String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object of strings")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some((k, v)) = access.next_entry::<String, String>()? {
                if map.contains_key(&k) {
                    return Err(de::Error::custom(format!("duplicate key {k:?}")));
                }
                map.insert(k, v);
            }
            Ok(Some(map))
        }
    }

    d.deserialize_any(UniqueMap)
}
