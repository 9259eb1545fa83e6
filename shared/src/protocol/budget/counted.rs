//! The serde adapters [`super::decode`] wraps postcard's deserializer in: every
//! deserializer, visitor, seed and accessor of a decode is wrapped in turn, so that each value
//! decoded anywhere in the message is counted against the one [`Budget`] (module docs of
//! [`super`]). They observe and forward; only the counting is theirs.

use std::fmt;
use std::mem::size_of;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

use super::Budget;

/// `Vec`'s smallest non-zero capacity for elements of `size` bytes (the standard library's
/// `RawVec` rule), so the estimate follows the allocations a growing `Vec` makes.
fn min_capacity(size: u64) -> u64 {
    match size {
        1 => 8,
        2..=1024 => 4,
        _ => 1,
    }
}

/// Entries of one `BTreeMap` leaf: a map's first entry costs a whole leaf.
pub(super) const BTREE_LEAF_ENTRIES: u64 = 11;

/// The postcard deserializer, counted.
pub(super) struct Counted<'b, D> {
    pub(super) inner: D,
    pub(super) budget: &'b Budget,
}

/// What a visitor is about to be given: a collection (counted per element) or the fields of
/// a struct or tuple (not elements of anything).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Collection,
    Fields,
}

/// A visitor whose nested deserializers and accessors are counted.
struct CountedVisitor<'b, V> {
    inner: V,
    budget: &'b Budget,
    shape: Shape,
}

impl<'b, V> CountedVisitor<'b, V> {
    fn new(inner: V, budget: &'b Budget, shape: Shape) -> Self {
        Self {
            inner,
            budget,
            shape,
        }
    }
}

/// Forwards `deserialize_*` methods that take only a visitor.
macro_rules! forward_leaf {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                let budget = self.budget;
                self.inner.$method(CountedVisitor::new(visitor, budget, Shape::Fields))
            }
        )*
    };
}

/// Forwards compound `deserialize_*` methods, one level deeper.
macro_rules! forward_nested {
    ($($method:ident($($arg:ident: $ty:ty),*) as $shape:expr),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(
                self,
                $($arg: $ty,)*
                visitor: V,
            ) -> Result<V::Value, Self::Error> {
                let budget = self.budget;
                budget.enter::<Self::Error>()?;
                let visitor = CountedVisitor::new(visitor, budget, $shape);
                let value = self.inner.$method($($arg,)* visitor);
                budget.leave();
                value
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Counted<'_, D> {
    type Error = D::Error;

    forward_leaf!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_unit,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    forward_nested!(
        deserialize_option() as Shape::Fields,
        deserialize_seq() as Shape::Collection,
        deserialize_map() as Shape::Collection,
        deserialize_unit_struct(name: &'static str) as Shape::Fields,
        deserialize_newtype_struct(name: &'static str) as Shape::Fields,
        deserialize_tuple(len: usize) as Shape::Fields,
        deserialize_tuple_struct(name: &'static str, len: usize) as Shape::Fields,
        deserialize_struct(name: &'static str, fields: &'static [&'static str]) as Shape::Fields,
        deserialize_enum(name: &'static str, variants: &'static [&'static str]) as Shape::Fields,
    );

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Forwards `visit_*` methods of values that own no heap.
macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

/// Forwards `visit_*` methods of strings and bytes, counting their length.
macro_rules! forward_text {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.budget.text::<E>(v.len())?;
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for CountedVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(formatter)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
    );

    forward_text!(
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Counted {
            inner: deserializer,
            budget: self.budget,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Counted {
            inner: deserializer,
            budget: self.budget,
        })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if self.shape == Shape::Collection {
            self.budget.declared::<A::Error>(seq.size_hint())?;
        }
        self.inner.visit_seq(CountedSeq {
            inner: seq,
            budget: self.budget,
            shape: self.shape,
            len: 0,
            capacity: 0,
        })
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.budget.declared::<A::Error>(map.size_hint())?;
        self.inner.visit_map(CountedMap {
            inner: map,
            budget: self.budget,
            len: 0,
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(CountedEnum {
            inner: data,
            budget: self.budget,
        })
    }
}

impl Budget {
    /// `seed`, its deserializer counted against this budget.
    fn seed<S>(&self, seed: S) -> CountedSeed<'_, S> {
        CountedSeed {
            inner: seed,
            budget: self,
        }
    }
}

/// A seed whose deserializer is counted.
struct CountedSeed<'b, S> {
    inner: S,
    budget: &'b Budget,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for CountedSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.inner.deserialize(Counted {
            inner: deserializer,
            budget: self.budget,
        })
    }
}

struct CountedSeq<'b, A> {
    inner: A,
    budget: &'b Budget,
    shape: Shape,
    len: u64,
    /// The capacity a `Vec` receiving these elements has now.
    capacity: u64,
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for CountedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        let seed = self.budget.seed(seed);
        if self.shape == Shape::Fields {
            return self.inner.next_element_seed(seed);
        }
        // Counted before decoding: the element may be absent (the end of the collection),
        // and then nothing was allocated for it either.
        if self.inner.size_hint() == Some(0) {
            return self.inner.next_element_seed(seed);
        }
        self.budget.element::<A::Error>(&mut self.len)?;
        if self.len > self.capacity {
            let size = size_of::<T::Value>() as u64;
            let grown = (self.capacity * 2).max(self.len).max(min_capacity(size));
            self.budget
                .charge::<A::Error>((grown - self.capacity) * size)?;
            self.capacity = grown;
        }
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        match self.shape {
            Shape::Fields => self.inner.size_hint(),
            // Hidden: a visitor preallocating the declared length would allocate before the
            // elements that justify it are counted.
            Shape::Collection => None,
        }
    }
}

struct CountedMap<'b, A> {
    inner: A,
    budget: &'b Budget,
    len: u64,
}

/// What a `BTreeMap` spends on the key or value (of `size` bytes) of its entry number `len`:
/// the first entry a whole leaf, every entry twice its size (leaves filled in order end half
/// full).
fn map_entry_cost(len: u64, size: u64) -> u64 {
    let leaf = if len == 1 { BTREE_LEAF_ENTRIES } else { 0 };
    (leaf + 2) * size
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for CountedMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let seed = self.budget.seed(seed);
        if self.inner.size_hint() == Some(0) {
            return self.inner.next_key_seed(seed);
        }
        self.budget.element::<A::Error>(&mut self.len)?;
        let size = size_of::<K::Value>() as u64;
        self.budget
            .charge::<A::Error>(map_entry_cost(self.len, size))?;
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let size = size_of::<V::Value>() as u64;
        self.budget
            .charge::<A::Error>(map_entry_cost(self.len, size))?;
        self.inner.next_value_seed(self.budget.seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        None
    }
}

struct CountedEnum<'b, A> {
    inner: A,
    budget: &'b Budget,
}

impl<'de, 'b, A: de::EnumAccess<'de>> de::EnumAccess<'de> for CountedEnum<'b, A> {
    type Error = A::Error;
    type Variant = CountedVariant<'b, A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let budget = self.budget;
        let (value, variant) = self.inner.variant_seed(budget.seed(seed))?;
        Ok((
            value,
            CountedVariant {
                inner: variant,
                budget,
            },
        ))
    }
}

struct CountedVariant<'b, A> {
    inner: A,
    budget: &'b Budget,
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for CountedVariant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.inner.newtype_variant_seed(self.budget.seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let budget = self.budget;
        budget.enter::<Self::Error>()?;
        let value = self
            .inner
            .tuple_variant(len, CountedVisitor::new(visitor, budget, Shape::Fields));
        budget.leave();
        value
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let budget = self.budget;
        budget.enter::<Self::Error>()?;
        let value = self
            .inner
            .struct_variant(fields, CountedVisitor::new(visitor, budget, Shape::Fields));
        budget.leave();
        value
    }
}
