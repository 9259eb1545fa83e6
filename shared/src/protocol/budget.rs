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

use serde::de::{self, DeserializeOwned};

use super::frame::FrameError;

mod counted;

use counted::Counted;

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

    /// Checks a declared collection length before the collection's visitor sees it.
    fn declared<E: de::Error>(&self, len: Option<usize>) -> Result<(), E> {
        let limit = self.limits.max_collection_len;
        match len {
            Some(len) if len as u64 > limit => Err(self.exceeded(Limit::CollectionLen, limit)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
