//! The one timestamp representation on the wire and in projections.
//!
//! Milliseconds since the Unix epoch (UTC) in an `i64`: postcard encodes it as a zig-zag
//! varint (6 bytes for dates in this century), it is trivially ordered and subtracted, and the
//! store can keep it in a `BIGINT` without a time-zone question. Kubernetes timestamps have
//! second (`Time`) or microsecond (`MicroTime`) precision; milliseconds lose nothing the
//! product shows and keep lease ages and usage intervals exact enough.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A point in time as milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

/// Milliseconds in one hour, the width of a usage bucket.
pub const MILLIS_PER_HOUR: i64 = 3_600_000;

impl UnixMillis {
    /// Builds a timestamp from whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * 1000)
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        Self::from(Timestamp::now())
    }

    /// Milliseconds elapsed from `earlier` to `self`; negative if `earlier` is later.
    pub const fn millis_since(self, earlier: UnixMillis) -> i64 {
        self.0 - earlier.0
    }

    /// The start of the UTC hour containing this instant: the key of a usage bucket.
    pub const fn hour_start(self) -> Self {
        Self(self.0.div_euclid(MILLIS_PER_HOUR) * MILLIS_PER_HOUR)
    }

    /// Parses an RFC 3339 timestamp (`2024-05-01T10:00:00Z`, offsets and fractions allowed),
    /// as Kubernetes and Helm write them.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        text.parse::<Timestamp>().ok().map(Self::from)
    }
}

impl From<Timestamp> for UnixMillis {
    fn from(timestamp: Timestamp) -> Self {
        Self(timestamp.as_millisecond())
    }
}

impl From<&Time> for UnixMillis {
    fn from(time: &Time) -> Self {
        Self::from(time.0)
    }
}

impl From<&MicroTime> for UnixMillis {
    fn from(time: &MicroTime) -> Self {
        Self::from(time.0)
    }
}

impl fmt::Display for UnixMillis {
    /// RFC 3339 in UTC, for log lines and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Timestamp::from_millisecond(self.0) {
            Ok(timestamp) => timestamp.fmt(f),
            Err(_) => write!(f, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_times_convert_to_unix_millis() {
        let time: Time = serde_json::from_str("\"2024-05-01T10:00:00Z\"").unwrap();
        assert_eq!(UnixMillis::from(&time), UnixMillis(1_714_557_600_000));
        let micro: MicroTime = serde_json::from_str("\"2024-05-01T10:00:00.123456Z\"").unwrap();
        assert_eq!(UnixMillis::from(&micro), UnixMillis(1_714_557_600_123));
    }

    #[test]
    fn rfc3339_with_offset_parses_to_utc() {
        assert_eq!(
            UnixMillis::parse_rfc3339("2024-05-01T12:00:00.5+02:00"),
            Some(UnixMillis(1_714_557_600_500))
        );
        assert_eq!(UnixMillis::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn hour_start_truncates_to_the_utc_hour() {
        let t = UnixMillis(1_714_557_600_000 + 59 * 60_000 + 59_999);
        assert_eq!(t.hour_start(), UnixMillis(1_714_557_600_000));
        assert_eq!(UnixMillis(-1).hour_start(), UnixMillis(-MILLIS_PER_HOUR));
    }

    #[test]
    fn display_is_rfc3339() {
        assert_eq!(
            UnixMillis(1_714_557_600_000).to_string(),
            "2024-05-01T10:00:00Z"
        );
    }
}
