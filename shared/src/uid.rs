//! Compact wire form of Kubernetes uids.
//!
//! Every object the agent sends carries its uid, a UUID that JSON spells in 36 characters.
//! On the wire (postcard, not human-readable) a canonical UUID travels as its 16 bytes instead,
//! which is most of what keeps a pod delta under the 150-byte budget; anything else (uids are
//! opaque strings to the apiserver) travels as the string. Human-readable formats (the hub's
//! JSON columns) keep the plain string, so stored data and APIs are unchanged.
//!
//! Use as `#[serde(with = "crate::uid")]` on a `String` uid field.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The two wire shapes; variant order is part of the encoding.
#[derive(Serialize, Deserialize)]
enum WireUid<'a> {
    /// A canonical lowercase hyphenated UUID, as its 16 bytes.
    Uuid([u8; 16]),
    /// Anything else, verbatim.
    #[serde(borrow)]
    Other(Cow<'a, str>),
}

/// Serializes `uid` compactly for binary formats, as the string for human-readable ones.
pub fn serialize<S: Serializer>(uid: &str, serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        return serializer.serialize_str(uid);
    }
    match parse_canonical(uid) {
        Some(bytes) => WireUid::Uuid(bytes),
        None => WireUid::Other(Cow::Borrowed(uid)),
    }
    .serialize(serializer)
}

/// Reverses [`serialize`]: the 16 bytes come back as the same canonical string.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    if deserializer.is_human_readable() {
        return String::deserialize(deserializer);
    }
    Ok(match WireUid::deserialize(deserializer)? {
        WireUid::Uuid(bytes) => format_canonical(&bytes),
        WireUid::Other(text) => text.into_owned(),
    })
}

/// Hyphen positions of the 8-4-4-4-12 form.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// The bytes of `text` if it is exactly the form [`format_canonical`] produces, so that
/// every uid round-trips byte for byte (an uppercase UUID stays a string).
fn parse_canonical(text: &str) -> Option<[u8; 16]> {
    let raw = text.as_bytes();
    if raw.len() != 36 || HYPHENS.iter().any(|&i| raw[i] != b'-') {
        return None;
    }
    let mut nibbles = raw
        .iter()
        .enumerate()
        .filter(|(i, _)| !HYPHENS.contains(i))
        .map(|(_, c)| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        });
    let mut bytes = [0u8; 16];
    for byte in &mut bytes {
        *byte = (nibbles.next()?? << 4) | nibbles.next()??;
    }
    Some(bytes)
}

fn format_canonical(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "super")]
        uid: String,
    }

    fn round_trip(uid: &str) -> Vec<u8> {
        let holder = Holder { uid: uid.into() };
        let bytes = postcard::to_allocvec(&holder).unwrap();
        assert_eq!(postcard::from_bytes::<Holder>(&bytes).unwrap(), holder);
        let json = serde_json::to_string(&holder).unwrap();
        assert_eq!(json, format!("{{\"uid\":\"{uid}\"}}"));
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), holder);
        bytes
    }

    #[test]
    fn canonical_uuids_travel_as_sixteen_bytes() {
        let bytes = round_trip("0b6e4a1c-5f3d-4c2e-9a8b-7d6c5e4f3a2b");
        assert_eq!(bytes.len(), 17, "variant tag + 16 bytes");
        assert_eq!(bytes[0], 0);
        assert_eq!(bytes[1..3], [0x0b, 0x6e]);
    }

    #[test]
    fn anything_else_travels_verbatim() {
        for uid in [
            "",
            "not-a-uuid",
            "0B6E4A1C-5F3D-4C2E-9A8B-7D6C5E4F3A2B",
            "0b6e4a1c-5f3d-4c2e-9a8b-7d6c5e4f3a2",
            "0b6e4a1c-5f3d-4c2e-9a8b-7d6c5e4f3a2bz",
            "0b6e4a1c_5f3d-4c2e-9a8b-7d6c5e4f3a2b",
            "0b6e4a1c-5f3d-4c2e-9a8b-7d6c5e4f3a2g",
        ] {
            let bytes = round_trip(uid);
            assert_eq!(bytes[0], 1, "{uid:?}");
        }
    }
}
