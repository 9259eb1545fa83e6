//! The budgeted decoder: each limit at its exact boundary, what the estimate charges, and the
//! adversarial frames it exists for.

use std::collections::BTreeMap;

use serde::Serialize;

use super::counted::BTREE_LEAF_ENTRIES;
use super::*;
use crate::change::{Change, ChangeBatch};
use crate::protocol::AgentMessage;
use crate::protocol::frame::MAX_BULK_FRAME;
use crate::time::UnixMillis;

/// No limit except the ones a test sets.
fn unlimited() -> DecodeLimits {
    DecodeLimits {
        max_depth: u32::MAX,
        max_collection_len: u64::MAX,
        max_elements: u64::MAX,
        max_text_bytes: u64::MAX,
        max_decoded_bytes: u64::MAX,
    }
}

fn bytes_of<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap()
}

/// Decodes `value`'s encoding as `T` within `limits`.
fn decode_as<T>(value: &T, limits: DecodeLimits) -> Result<(T, Spent), FrameError>
where
    T: Serialize + DeserializeOwned,
{
    decode::<T>(&bytes_of(value), &limits)
}

/// Asserts that `value` decodes back within `limits` and fails with `what` at `limit` when
/// `tighten` lowers that limit by one.
fn assert_boundary<T>(value: &T, limits: DecodeLimits, tighten: fn(&mut DecodeLimits), what: Limit)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let (back, _) = decode_as(value, limits).unwrap();
    assert_eq!(&back, value);
    let mut tighter = limits;
    tighten(&mut tighter);
    match decode_as(value, tighter) {
        Err(FrameError::Budget { what: got, limit }) => {
            assert_eq!(got, what);
            let expected = match what {
                Limit::Depth => u64::from(tighter.max_depth),
                Limit::CollectionLen => tighter.max_collection_len,
                Limit::Elements => tighter.max_elements,
                Limit::TextBytes => tighter.max_text_bytes,
                Limit::DecodedBytes => tighter.max_decoded_bytes,
            };
            assert_eq!(limit, expected);
        }
        other => panic!("expected {what} to be exceeded, got {other:?}"),
    }
}

#[test]
fn nesting_depth_is_limited_at_its_exact_value() {
    // Three sequences deep.
    let nested = vec![vec![vec![7u8]]];
    let limits = DecodeLimits {
        max_depth: 3,
        ..unlimited()
    };
    assert_boundary(&nested, limits, |l| l.max_depth -= 1, Limit::Depth);
}

#[test]
fn one_collections_length_is_limited_at_its_exact_value() {
    let items = vec![1u8; 100];
    let limits = DecodeLimits {
        max_collection_len: 100,
        ..unlimited()
    };
    assert_boundary(
        &items,
        limits,
        |l| l.max_collection_len -= 1,
        Limit::CollectionLen,
    );

    let map: BTreeMap<String, String> = (0..10).map(|i| (i.to_string(), String::new())).collect();
    let limits = DecodeLimits {
        max_collection_len: 10,
        ..unlimited()
    };
    assert_boundary(
        &map,
        limits,
        |l| l.max_collection_len -= 1,
        Limit::CollectionLen,
    );
}

#[test]
fn a_declared_length_over_the_limit_fails_before_any_element() {
    // Declares 1,000 elements and carries all of them: refused from the length alone.
    let items = vec![0u8; 1_000];
    let limits = DecodeLimits {
        max_collection_len: 999,
        max_elements: 10,
        ..unlimited()
    };
    let err = decode_as(&items, limits).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::Budget {
                what: Limit::CollectionLen,
                limit: 999
            }
        ),
        "{err:?}"
    );
}

#[test]
fn elements_of_all_collections_are_limited_together() {
    let items = vec![vec![1u8; 30], vec![2u8; 30], vec![]];
    // Three outer elements and sixty inner ones.
    let limits = DecodeLimits {
        max_elements: 63,
        ..unlimited()
    };
    assert_boundary(&items, limits, |l| l.max_elements -= 1, Limit::Elements);
}

#[test]
fn string_bytes_are_limited_together() {
    let texts = (
        "abc".to_owned(),
        vec!["de".to_owned(), String::new()],
        "f".to_owned(),
    );
    let limits = DecodeLimits {
        max_text_bytes: 6,
        ..unlimited()
    };
    assert_boundary(&texts, limits, |l| l.max_text_bytes -= 1, Limit::TextBytes);
}

#[test]
fn the_estimate_follows_vec_growth_map_leaves_and_string_lengths() {
    // Five u64s: a Vec grows to 4, then 8 elements.
    let (_, spent) = decode_as(&vec![1u64; 5], unlimited()).unwrap();
    assert_eq!(spent.decoded_bytes, (size_of::<Vec<u64>>() + 8 * 8) as u64);
    assert_eq!(spent.elements, 5);
    // Bytes grow from 8.
    let (_, spent) = decode_as(&vec![1u8; 9], unlimited()).unwrap();
    assert_eq!(spent.decoded_bytes, (size_of::<Vec<u8>>() + 16) as u64);
    // A string is its length.
    let (_, spent) = decode_as(&"hello".to_owned(), unlimited()).unwrap();
    assert_eq!(spent.decoded_bytes, (size_of::<String>() + 5) as u64);
    assert_eq!(spent.text_bytes, 5);
    // The first entry of a map costs a leaf, then two entries' worth each.
    let map: BTreeMap<u32, u32> = [(1, 1), (2, 2)].into();
    let (_, spent) = decode_as(&map, unlimited()).unwrap();
    let entry = (size_of::<u32>() * 2) as u64;
    assert_eq!(
        spent.decoded_bytes,
        size_of::<BTreeMap<u32, u32>>() as u64 + (BTREE_LEAF_ENTRIES + 2) * entry + 2 * entry
    );
    // Empty collections cost nothing but themselves.
    let (_, spent) = decode_as(&Vec::<String>::new(), unlimited()).unwrap();
    assert_eq!(spent.decoded_bytes, size_of::<Vec<String>>() as u64);
}

#[test]
fn decoded_bytes_are_limited_at_the_exact_estimate() {
    let value = (
        vec!["abc".to_owned(); 7],
        BTreeMap::from([(1u8, "x".to_owned())]),
    );
    let (_, spent) = decode_as(&value, unlimited()).unwrap();
    let limits = DecodeLimits {
        max_decoded_bytes: spent.decoded_bytes,
        ..unlimited()
    };
    assert_boundary(
        &value,
        limits,
        |l| l.max_decoded_bytes -= 1,
        Limit::DecodedBytes,
    );
}

#[test]
fn trailing_bytes_and_garbage_are_still_refused() {
    let mut bytes = bytes_of(&5u32);
    bytes.push(0);
    let err = decode::<u32>(&bytes, &unlimited()).unwrap_err();
    assert!(
        matches!(err, FrameError::TrailingBytes { extra: 1 }),
        "{err:?}"
    );
    let err = decode::<AgentMessage>(&[200, 1], &unlimited()).unwrap_err();
    assert!(matches!(err, FrameError::Decode(_)), "{err:?}");
}

/// A batch message of `n` copies of `change`, encoded, and its frame limits.
fn batch_frame(change: Change, n: usize) -> (Vec<u8>, DecodeLimits) {
    let message = AgentMessage::Batch {
        epoch: 1,
        seq: 1,
        batch: ChangeBatch {
            produced_at: UnixMillis(0),
            changes: vec![change; n],
        },
    };
    let bytes = bytes_of(&message);
    let limits = DecodeLimits::for_frame(u32::try_from(bytes.len()).unwrap());
    (bytes, limits)
}

fn empty_change() -> Change {
    Change::SnapshotBegin { kinds: vec![] }
}

#[test]
fn a_full_frame_of_empty_changes_is_refused_by_its_declared_length() {
    // Two bytes a change: what took a hub from 1.5 to 4.6 GiB when 16 MiB frames decoded
    // unchecked.
    let n = (MAX_BULK_FRAME as usize - 64) / 2;
    let (bytes, limits) = batch_frame(empty_change(), n);
    assert!(bytes.len() <= MAX_BULK_FRAME as usize);
    let err = decode::<AgentMessage>(&bytes, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::Budget {
                what: Limit::CollectionLen,
                limit: MAX_COLLECTION_LEN
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_frame_of_empty_changes_under_the_length_limit_is_refused_by_its_estimate() {
    let (bytes, limits) = batch_frame(empty_change(), MAX_COLLECTION_LEN as usize);
    let err = decode::<AgentMessage>(&bytes, &limits).unwrap_err();
    assert!(
        matches!(err, FrameError::Budget { what: Limit::DecodedBytes, limit } if limit == limits.max_decoded_bytes),
        "{err:?}"
    );
}

#[test]
fn many_tiny_collections_are_refused_by_their_estimate() {
    // One-entry label maps cost a whole map leaf each for a few bytes of frame.
    let namespace = crate::model::NamespaceProjection {
        name: "n".into(),
        uid: "u".into(),
        labels: BTreeMap::from([("k".to_owned(), String::new())]),
        phase: crate::model::namespace::NamespacePhase::Active,
        created: None,
    };
    let upsert = Change::Upsert(crate::change::Object::Namespace(namespace));
    let (bytes, limits) = batch_frame(upsert, MAX_COLLECTION_LEN as usize);
    let err = decode::<AgentMessage>(&bytes, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::Budget {
                what: Limit::DecodedBytes,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_string_longer_than_the_frame_is_refused_without_allocating_it() {
    // A length prefix claiming 2^40 bytes: postcard finds too few bytes before any visitor.
    let mut bytes = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
    bytes.extend_from_slice(b"abc");
    let err = decode::<String>(&bytes, &DecodeLimits::for_frame(9)).unwrap_err();
    assert!(matches!(err, FrameError::Decode(_)), "{err:?}");
}

#[test]
fn limits_grow_with_the_frame_length() {
    let small = DecodeLimits::for_frame(1_000);
    let large = DecodeLimits::for_frame(MAX_BULK_FRAME);
    assert_eq!(small.max_text_bytes, 1_000);
    assert_eq!(small.max_decoded_bytes, DECODED_BASE + 8_000);
    assert_eq!(
        large.max_decoded_bytes,
        DECODED_BASE + DECODED_PER_FRAME_BYTE * u64::from(MAX_BULK_FRAME)
    );
    assert_eq!(
        (
            large.max_depth,
            large.max_collection_len,
            large.max_elements
        ),
        (MAX_DEPTH, MAX_COLLECTION_LEN, MAX_ELEMENTS)
    );
}
