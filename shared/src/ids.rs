//! Identifiers that cross the wire and the store.
//!
//! Newtypes rather than bare UUIDs so that a cluster id can never be passed where an
//! organization id is expected; the compiler checks the org scoping the hub relies on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Error returned when an identifier's text form does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid {kind} id: {reason}")]
pub struct ParseIdError {
    kind: &'static str,
    reason: uuid::Error,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7), so ids sort by creation and index well.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID, e.g. one read from the store.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|reason| ParseIdError { kind: $kind, reason })
            }
        }
    };
}

id_type!(
    /// An organization: the unit of isolation. Every stored row reaches one.
    OrgId,
    "organization"
);
id_type!(
    /// A registered cluster, in agent or pull mode.
    ClusterId,
    "cluster"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = ClusterId::new();
        let parsed: ClusterId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn bad_text_names_the_kind_of_id() {
        let err = "not-a-uuid".parse::<OrgId>().unwrap_err();
        assert!(
            err.to_string().starts_with("invalid organization id"),
            "{err}"
        );
    }

    #[test]
    fn ids_are_sixteen_raw_bytes_on_the_wire() {
        // postcard encodes a UUID as a length-prefixed byte string; pin it so a serde change
        // in uuid cannot silently change the wire format.
        let id = ClusterId::from_uuid(Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10));
        let bytes = postcard::to_allocvec(&id).unwrap();
        assert_eq!(bytes[0], 16);
        assert_eq!(&bytes[1..], &(1u8..=16).collect::<Vec<_>>()[..]);
    }
}
