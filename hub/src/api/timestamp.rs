//! Timestamps in API responses, written as chrono writes them (RFC 3339, UTC as `Z`, the
//! fraction in 0, 3, 6 or 9 digits as needed) but without `fmt`.
//!
//! Why: chrono serializes a `DateTime` through `Display` and serde_json's `collect_str`,
//! which passes every character through the string escaper one `write_char` at a time. A
//! page of 50 clusters carries 250 timestamps, enough to show in the hub's profile serving
//! the cluster list. Writing the digits into a stack buffer and serializing that as one plain
//! string gives the same text.
//!
//! Use with `#[serde(serialize_with = "timestamp::utc")]` (or `opt_utc` for an `Option`).
//! Years outside 0–9999, which chrono writes with a sign, go through chrono.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// The longest text written here: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// Serializes `at` as chrono does.
pub fn utc<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(at, &mut buf) {
        Some(len) => serializer.serialize_str(
            std::str::from_utf8(&buf[..len]).expect("the buffer holds ASCII digits and marks"),
        ),
        None => at.serialize(serializer),
    }
}

/// Serializes an optional timestamp as [`utc`] does, `None` as `null`.
pub fn opt_utc<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => utc(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// Writes `at` into `buf`; `None` for what chrono writes differently (a year outside
/// 0–9999, a leap second).
fn write(at: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    // The UTC fields, read once: each accessor of a `DateTime` recomputes its local time.
    let at = at.naive_utc();
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut out = Out { buf, len: 0 };
    out.digits(year, 4);
    out.mark(b'-');
    out.digits(at.month(), 2);
    out.mark(b'-');
    out.digits(at.day(), 2);
    out.mark(b'T');
    out.digits(at.hour(), 2);
    out.mark(b':');
    out.digits(at.minute(), 2);
    out.mark(b':');
    out.digits(at.second(), 2);
    // chrono's `SecondsFormat::AutoSi`: as few of 0, 3, 6 or 9 digits as say it exactly.
    if nanos != 0 {
        out.mark(b'.');
        if nanos.is_multiple_of(1_000_000) {
            out.digits(nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            out.digits(nanos / 1_000, 6);
        } else {
            out.digits(nanos, 9);
        }
    }
    out.mark(b'Z');
    Some(out.len)
}

/// A cursor over the buffer.
struct Out<'a> {
    buf: &'a mut [u8; MAX_LEN],
    len: usize,
}

impl Out<'_> {
    fn mark(&mut self, byte: u8) {
        self.buf[self.len] = byte;
        self.len += 1;
    }

    /// `value` in exactly `width` decimal digits, zero-padded.
    fn digits(&mut self, mut value: u32, width: usize) {
        for i in (0..width).rev() {
            self.buf[self.len + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Serialize)]
    struct Fast {
        #[serde(serialize_with = "utc")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "opt_utc")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    fn same(at: DateTime<Utc>) {
        for maybe in [Some(at), None] {
            let fast = serde_json::to_string(&Fast { at, maybe }).unwrap();
            let chrono = serde_json::to_string(&Chrono { at, maybe }).unwrap();
            assert_eq!(fast, chrono, "{at:?}");
        }
    }

    #[test]
    fn writes_what_chrono_writes_for_every_fraction_width_and_odd_year() {
        let base = Utc.with_ymd_and_hms(2026, 11, 27, 9, 5, 7).unwrap();
        for nanos in [
            0,
            1,
            999_999_999,
            5_000_000,
            120_000,
            123_456_789,
            100_000_000,
            7_000,
        ] {
            same(base + chrono::Duration::nanoseconds(nanos));
        }
        for (y, m, d, h, min, s) in [
            (0, 1, 1, 0, 0, 0),
            (1, 2, 3, 4, 5, 6),
            (999, 12, 31, 23, 59, 59),
            (9999, 12, 31, 23, 59, 59),
            (10_000, 1, 1, 0, 0, 0),
            (-1, 6, 15, 12, 30, 30),
            (1970, 1, 1, 0, 0, 0),
        ] {
            same(Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap());
        }
        // A leap second, which chrono writes as second 60.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        same(leap);
    }

    #[test]
    fn writes_what_chrono_writes_across_many_instants() {
        // A deterministic walk over 2,000 instants, 1970–2300, with varied fractions.
        let mut seconds: i64 = 0;
        let mut nanos: u32 = 1;
        for _ in 0..2_000 {
            seconds = (seconds * 6_364_136 + 1_442_695) % 10_413_792_000;
            nanos = nanos.wrapping_mul(2_654_435_761) % 1_000_000_000;
            let nanos = match seconds % 4 {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            same(DateTime::from_timestamp(seconds, nanos).unwrap());
        }
    }
}
