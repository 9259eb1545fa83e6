//! The `window` query parameter, as OpenCost spells it: a duration ending now (`24h`, `7d`,
//! `30m`, `2w`), a named UTC period (`today`, `yesterday`, `week`, `lastweek`), or an explicit
//! pair of RFC 3339 timestamps or Unix seconds (`start,end`). Parsing is pure: the caller
//! passes `now`.

use kubeworkz_shared::time::{MILLIS_PER_HOUR, UnixMillis};

/// Milliseconds in a (UTC, leap-second-free) day.
pub(crate) const MILLIS_PER_DAY: i64 = 24 * MILLIS_PER_HOUR;
/// 1970-01-01 was a Thursday: days to add to the day number so that Monday is 0 mod 7.
const EPOCH_WEEKDAY_FROM_MONDAY: i64 = 3;

/// A half-open period `[start, end)` of the allocation API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First instant inside.
    pub start: UnixMillis,
    /// First instant after.
    pub end: UnixMillis,
}

/// Why a `window` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not a duration, a named period or a pair.
    #[error(
        "unknown window {0:?}: expected e.g. 24h, 7d, today, yesterday, week, lastweek or start,end"
    )]
    Unknown(String),
    /// The end is not after the start (or the duration is zero).
    #[error("window {0:?} is empty: its end is not after its start")]
    Empty(String),
}

impl Window {
    /// Parses `text` relative to `now`.
    pub fn parse(text: &str, now: UnixMillis) -> Result<Self, WindowError> {
        let unknown = || WindowError::Unknown(text.to_owned());
        let today = now.0.div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY;
        let monday = today
            - (today / MILLIS_PER_DAY + EPOCH_WEEKDAY_FROM_MONDAY).rem_euclid(7) * MILLIS_PER_DAY;
        let (start, end) = match text {
            "today" => (today, today + MILLIS_PER_DAY),
            "yesterday" => (today - MILLIS_PER_DAY, today),
            "week" => (monday, monday + 7 * MILLIS_PER_DAY),
            "lastweek" => (monday - 7 * MILLIS_PER_DAY, monday),
            _ => match text.split_once(',') {
                Some((start, end)) => (
                    parse_instant(start).ok_or_else(unknown)?,
                    parse_instant(end).ok_or_else(unknown)?,
                ),
                None => (
                    now.0 - parse_duration_millis(text).ok_or_else(unknown)?,
                    now.0,
                ),
            },
        };
        if end <= start {
            return Err(WindowError::Empty(text.to_owned()));
        }
        Ok(Self {
            start: UnixMillis(start),
            end: UnixMillis(end),
        })
    }

    /// True when `instant` lies in `[start, end)`.
    pub fn contains(&self, instant: UnixMillis) -> bool {
        self.start <= instant && instant < self.end
    }
}

/// `30m`, `24h`, `7d`, `2w` in milliseconds.
fn parse_duration_millis(text: &str) -> Option<i64> {
    let unit_at = text.len().checked_sub(1)?;
    // Not a char boundary when the text ends in a multi-byte character: not a duration.
    let (number, unit) = text.split_at_checked(unit_at)?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unit_millis = match unit {
        "m" => 60_000,
        "h" => MILLIS_PER_HOUR,
        "d" => MILLIS_PER_DAY,
        "w" => 7 * MILLIS_PER_DAY,
        _ => return None,
    };
    number.parse::<i64>().ok()?.checked_mul(unit_millis)
}

/// An RFC 3339 timestamp or whole Unix seconds.
fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    UnixMillis::parse_rfc3339(text).map(|t| t.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> UnixMillis {
        UnixMillis::parse_rfc3339(text).unwrap()
    }

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: at(start),
            end: at(end),
        }
    }

    #[test]
    fn a_multi_byte_last_character_is_refused_not_a_panic() {
        let now = at("2024-05-01T14:30:00Z");
        for text in ["\u{80}", "7\u{e9}", "\u{1f600}"] {
            assert!(
                matches!(Window::parse(text, now), Err(WindowError::Unknown(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn windows_parse_like_opencost() {
        // A Wednesday afternoon.
        let now = at("2024-05-01T14:30:00Z");
        let cases = [
            (
                "24h",
                window("2024-04-30T14:30:00Z", "2024-05-01T14:30:00Z"),
            ),
            ("7d", window("2024-04-24T14:30:00Z", "2024-05-01T14:30:00Z")),
            (
                "30m",
                window("2024-05-01T14:00:00Z", "2024-05-01T14:30:00Z"),
            ),
            ("2w", window("2024-04-17T14:30:00Z", "2024-05-01T14:30:00Z")),
            (
                "today",
                window("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"),
            ),
            (
                "yesterday",
                window("2024-04-30T00:00:00Z", "2024-05-01T00:00:00Z"),
            ),
            (
                "week",
                window("2024-04-29T00:00:00Z", "2024-05-06T00:00:00Z"),
            ),
            (
                "lastweek",
                window("2024-04-22T00:00:00Z", "2024-04-29T00:00:00Z"),
            ),
            (
                "2024-04-01T00:00:00Z,2024-04-02T12:00:00+02:00",
                window("2024-04-01T00:00:00Z", "2024-04-02T10:00:00Z"),
            ),
            (
                "1714521600,1714608000",
                window("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Window::parse(text, now), Ok(want), "{text}");
        }
    }

    #[test]
    fn week_starts_on_monday_even_on_monday_and_sunday() {
        let monday = Window::parse("week", at("2024-04-29T00:00:00Z")).unwrap();
        assert_eq!(monday.start, at("2024-04-29T00:00:00Z"));
        let sunday = Window::parse("week", at("2024-05-05T23:59:59Z")).unwrap();
        assert_eq!(sunday.start, at("2024-04-29T00:00:00Z"));
    }

    #[test]
    fn bad_windows_are_refused_with_the_reason() {
        let now = at("2024-05-01T14:30:00Z");
        for text in [
            "",
            "h",
            "24",
            "24x",
            "-1d",
            "1.5d",
            "tomorrow",
            "a,b",
            "2024-05-01,",
        ] {
            assert_eq!(
                Window::parse(text, now),
                Err(WindowError::Unknown(text.to_owned())),
                "{text:?}"
            );
        }
        for text in ["0h", "1714608000,1714521600", "1714521600,1714521600"] {
            assert_eq!(
                Window::parse(text, now),
                Err(WindowError::Empty(text.to_owned())),
                "{text:?}"
            );
        }
        assert_eq!(
            Window::parse("0d", now).unwrap_err().to_string(),
            "window \"0d\" is empty: its end is not after its start"
        );
    }

    #[test]
    fn windows_are_half_open() {
        let w = window("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z");
        assert!(w.contains(at("2024-05-01T00:00:00Z")));
        assert!(w.contains(at("2024-05-01T23:00:00Z")));
        assert!(!w.contains(at("2024-05-02T00:00:00Z")));
    }
}
