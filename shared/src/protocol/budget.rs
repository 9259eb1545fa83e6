//! Decoding a frame within a budget: limits checked while postcard decodes, before the
//! memory they guard is allocated.
//!
//! postcard is compact: an empty [`crate::change::Change`] is two bytes on the wire but a few
//! hundred in memory, and a collection declares its length up front. Unchecked, one frame of
//! the largest allowed size can decode into gigabytes. [`decode`] wraps postcard's
//! deserializer in an adapter that counts, as values are decoded:
//!
//! - nesting depth ([`DecodeLimits::max_depth`]);
//! - elements of one collection ([`DecodeLimits::max_collection_len`]), checked against the
//!   declared length before the collection's visitor sees it, then per element;
//! - elements of all collections together ([`DecodeLimits::max_elements`]);
//! - bytes of strings and byte strings ([`DecodeLimits::max_text_bytes`]);
//! - an estimate of the heap the decoded value holds ([`DecodeLimits::max_decoded_bytes`]):
//!   each collection is charged what a `Vec` of its element type would have allocated for the
//!   elements so far (its capacity steps, `size_of` of the element each), each map entry what
//!   a `BTreeMap` spends on it, each string its length. The adapter hides declared lengths from
//!   the visitors (`size_hint` is `None`), so collections grow as elements arrive, and each
//!   growth is charged before the element that causes it is decoded.
//!
//! The first limit crossed fails the decode with [`FrameError::Budget`] naming it; nothing of
//! the frame's content is reported. The wire format is postcard's, unchanged: the adapter
//! only observes.

use std::cell::Cell;
use std::fmt;
use std::mem::size_of;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, Visitor};

use super::frame::FrameError;

/// Deepest nesting of collections, structs, enums and options. The deepest message the agent
/// sends nests about a dozen levels (message → batch → change → object → pod → containers →
/// resources → option); the wire types are not recursive, so this only guards against a type
/// that some day is.
pub const MAX_DEPTH: u32 = 32;

/// Most elements in one collection. The longest collections the agent sends are a batch's
/// changes (500 in the agent), a usage message's buckets (at most
/// [`crate::collect::MAX_USAGE_BUCKETS`]) and a health verdict's lists of not-ready nodes and
/// short deployments, which grow with the cluster: 16,384 is three times the 5,000 nodes
/// Kubernetes supports. The agent checks its own frames against these limits before sending
/// ([`crate::protocol::UnackedQueue::push`]), so a message beyond them is dropped and logged
/// there rather than refused by the hub on every resend.
pub const MAX_COLLECTION_LEN: u64 = 16_384;

/// Most collection elements in one frame. A batch of the collector's byte cap holds a few
/// tens of thousands (labels of 500 nodes); every element costs at least one byte of the
/// frame, so this is reached only by frames of tiny elements.
pub const MAX_ELEMENTS: u64 = 262_144;

/// Decoded-heap estimate every frame may use whatever its length: a batch's vector of changes
/// at its largest (a few hundred bytes per change) with the fixed costs of each object's
/// small collections, which a short frame of deletes or namespaces reaches without carrying
/// many bytes.
pub const DECODED_BASE: u64 = 1024 * 1024;

/// Decoded-heap estimate allowed per byte of the frame on top of [`DECODED_BASE`]. Honest
/// batches measure at 1.5–4 (strings decode to their length, structs are wider than their
/// encoding); an adversarial frame of tiny elements would reach hundreds.
pub const DECODED_PER_FRAME_BYTE: u64 = 8;

/// Limits one decode must stay within (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Deepest nesting.
    pub max_depth: u32,
    /// Most elements (map entries) in one collection.
    pub max_collection_len: u64,
    /// Most elements of all collections together.
    pub max_elements: u64,
    /// Most bytes of strings and byte strings together.
    pub max_text_bytes: u64,
    /// Largest estimate of the decoded value's heap.
    pub max_decoded_bytes: u64,
}

impl DecodeLimits {
    /// The limits of a frame body of `len` bytes: fixed counts, strings no longer than the
    /// frame, and [`DECODED_BASE`] + [`DECODED_PER_FRAME_BYTE`] × `len` of decoded heap. What
    /// a frame may cost is known from its length prefix, before its body is read
    /// ([`decoded_allowance`]).
    pub fn for_frame(len: u32) -> Self {
        Self {
            max_depth: MAX_DEPTH,
            max_collection_len: MAX_COLLECTION_LEN,
            max_elements: MAX_ELEMENTS,
            max_text_bytes: u64::from(len),
            max_decoded_bytes: decoded_allowance(len),
        }
    }
}

/// The decoded-heap estimate a frame body of `len` bytes may reach.
pub fn decoded_allowance(len: u32) -> u64 {
    DECODED_BASE + DECODED_PER_FRAME_BYTE * u64::from(len)
}

/// Which limit a frame crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`DecodeLimits::max_depth`].
    Depth,
    /// [`DecodeLimits::max_collection_len`].
    CollectionLen,
    /// [`DecodeLimits::max_elements`].
    Elements,
    /// [`DecodeLimits::max_text_bytes`].
    TextBytes,
    /// [`DecodeLimits::max_decoded_bytes`].
    DecodedBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Depth => "levels of nesting",
            Self::CollectionLen => "elements in one collection",
            Self::Elements => "collection elements in the frame",
            Self::TextBytes => "bytes of strings",
            Self::DecodedBytes => "bytes of decoded memory (estimated)",
        })
    }
}

/// What a successful decode used: the estimate is what the decoded value holds on the heap,
/// which the hub's memory budget keeps reserved while the message is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spent {
    /// Collection elements decoded.
    pub elements: u64,
    /// Bytes of strings and byte strings.
    pub text_bytes: u64,
    /// Estimated heap bytes of the decoded value (its own size included).
    pub decoded_bytes: u64,
}

/// Decodes one postcard value of `T` from all of `bytes` within `limits`.
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<(T, Spent), FrameError> {
    let budget = Budget::new(*limits);
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let result = budget
        .charge::<postcard::Error>(size_of::<T>() as u64)
        .and_then(|()| {
            T::deserialize(Counted {
                inner: &mut deserializer,
                budget: &budget,
            })
        });
    if let Some((what, limit)) = budget.violation.get() {
        return Err(FrameError::Budget { what, limit });
    }
    let value = result.map_err(FrameError::Decode)?;
    let rest = deserializer.finalize().map_err(FrameError::Decode)?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes { extra: rest.len() });
    }
    Ok((value, budget.spent()))
}

/// The counters of one decode, shared by every adapter of it.
struct Budget {
    limits: DecodeLimits,
    depth: Cell<u32>,
    elements: Cell<u64>,
    text_bytes: Cell<u64>,
    decoded_bytes: Cell<u64>,
    /// The first limit crossed; the error postcard carries up is only a marker.
    violation: Cell<Option<(Limit, u64)>>,
}

impl Budget {
    fn new(limits: DecodeLimits) -> Self {
        Self {
            limits,
            depth: Cell::new(0),
            elements: Cell::new(0),
            text_bytes: Cell::new(0),
            decoded_bytes: Cell::new(0),
            violation: Cell::new(None),
        }
    }

    fn spent(&self) -> Spent {
        Spent {
            elements: self.elements.get(),
            text_bytes: self.text_bytes.get(),
            decoded_bytes: self.decoded_bytes.get(),
        }
    }

    fn exceeded<E: de::Error>(&self, what: Limit, limit: u64) -> E {
        if self.violation.get().is_none() {
            self.violation.set(Some((what, limit)));
        }
        E::custom("decode limit exceeded")
    }

    /// Adds `amount` to `counter`, failing once it passes `limit`.
    fn add<E: de::Error>(
        &self,
        counter: &Cell<u64>,
        amount: u64,
        what: Limit,
        limit: u64,
    ) -> Result<(), E> {
        let total = counter.get().saturating_add(amount);
        if total > limit {
            return Err(self.exceeded(what, limit));
        }
        counter.set(total);
        Ok(())
    }

    fn charge<E: de::Error>(&self, bytes: u64) -> Result<(), E> {
        let limit = self.limits.max_decoded_bytes;
        self.add(&self.decoded_bytes, bytes, Limit::DecodedBytes, limit)
    }

    fn text<E: de::Error>(&self, len: usize) -> Result<(), E> {
        let len = len as u64;
        self.add(
            &self.text_bytes,
            len,
            Limit::TextBytes,
            self.limits.max_text_bytes,
        )?;
        self.charge(len)
    }

    /// Counts one more element of a collection that held `len` before it.
    fn element<E: de::Error>(&self, len: &mut u64) -> Result<(), E> {
        *len += 1;
        let limit = self.limits.max_collection_len;
        if *len > limit {
            return Err(self.exceeded(Limit::CollectionLen, limit));
        }
        let limit = self.limits.max_elements;
        self.add(&self.elements, 1, Limit::Elements, limit)
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        let depth = self.depth.get() + 1;
        if depth > self.limits.max_depth {
            return Err(self.exceeded(Limit::Depth, u64::from(self.limits.max_depth)));
        }
        self.depth.set(depth);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// `seed`, its deserializer counted against this budget.
    fn seed<S>(&self, seed: S) -> CountedSeed<'_, S> {
        CountedSeed {
            inner: seed,
            budget: self,
        }
    }

    /// Checks a declared collection length before the collection's visitor sees it.
    fn declared<E: de::Error>(&self, len: Option<usize>) -> Result<(), E> {
        let limit = self.limits.max_collection_len;
        match len {
            Some(len) if len as u64 > limit => Err(self.exceeded(Limit::CollectionLen, limit)),
            _ => Ok(()),
        }
    }
}

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
const BTREE_LEAF_ENTRIES: u64 = 11;

/// The postcard deserializer, counted.
struct Counted<'b, D> {
    inner: D,
    budget: &'b Budget,
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

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
