//! PostgreSQL's binary wire form of the few column types the store selects, read straight
//! into [`Value`]s.
//!
//! Why not `Row::try_get` for every cell: on a wide page such as the cluster list, sqlx's
//! generic path (a type-compatibility check per cell, a boxed error type, `Result`s of a few
//! hundred bytes moved per cell) dominates the hub's CPU profile under load, for values
//! whose wire form is a few big-endian bytes. The column types are checked
//! once per statement from the row description ([`Columns::of`]); a cell of any other type,
//! in text format, or NULL where none is allowed takes sqlx's own decode, so anything
//! unusual behaves (and fails) exactly as sqlx decides.

use chrono::{DateTime, Utc};
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgRow, PgValueFormat, PgValueRef};
use sqlx::{Column as _, Row as _, ValueRef as _};
use uuid::Uuid;

use crate::store::sql::{Ty, Value};

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The wire types this module reads, by the row description's type OID (built-in types'
/// OIDs are fixed by PostgreSQL's catalog, `pg_type.dat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Uuid,
    Text,
    Int8,
    Int4,
    Int2,
    Bool,
    TimestampTz,
    Bytea,
    /// Anything else: sqlx decodes it.
    Other,
}

impl Wire {
    fn of(oid: Option<Oid>) -> Self {
        match oid.map(|o| o.0) {
            Some(2950) => Self::Uuid,
            // text, varchar, bpchar, name
            Some(25 | 1043 | 1042 | 19) => Self::Text,
            Some(20) => Self::Int8,
            Some(23) => Self::Int4,
            Some(21) => Self::Int2,
            Some(16) => Self::Bool,
            Some(1184) => Self::TimestampTz,
            Some(17) => Self::Bytea,
            _ => Self::Other,
        }
    }
}

/// The wire type of each column of a statement's rows, read once from its first row (all
/// rows of one result share the description).
pub(crate) struct Columns(Vec<Wire>);

impl Columns {
    pub(crate) fn of(row: &PgRow) -> Self {
        Self(
            row.columns()
                .iter()
                .map(|c| Wire::of(c.type_info().oid()))
                .collect(),
        )
    }

    /// Cell `i` of `row` as `ty`, when its wire form is one this module reads and fits
    /// `ty`; `None` sends the cell to sqlx's decode.
    pub(crate) fn cell(&self, row: &PgRow, i: usize, ty: Ty) -> Option<Value> {
        let wire = *self.0.get(i)?;
        let raw = row.try_get_raw(i).ok()?;
        cell(ty, wire, &raw)
    }
}

/// One cell in binary format; `None` for anything [`read`] does not cover.
fn cell(ty: Ty, wire: Wire, raw: &PgValueRef<'_>) -> Option<Value> {
    if raw.format() != PgValueFormat::Binary {
        return None;
    }
    let bytes = if raw.is_null() {
        None
    } else {
        Some(raw.as_bytes().ok()?)
    };
    read(ty, wire, bytes)
}

/// A cell from its binary wire bytes (`None` for SQL NULL); `None` when `wire` does not
/// fit `ty`, the bytes are malformed, or NULL meets a column that allows none.
pub(crate) fn read(ty: Ty, wire: Wire, bytes: Option<&[u8]>) -> Option<Value> {
    Some(match ty {
        Ty::Id if wire == Wire::Uuid => Value::Id(Uuid::from_slice(bytes?).ok()?),
        Ty::Text => Value::Text(text(wire, bytes?)?),
        Ty::OptText => Value::OptText(nullable(bytes, |b| text(wire, b))?),
        Ty::I64 => Value::I64(int(wire, bytes?)?),
        Ty::OptI64 => Value::OptI64(nullable(bytes, |b| int(wire, b))?),
        Ty::Bool if wire == Wire::Bool => match bytes? {
            [b] => Value::Bool(*b != 0),
            _ => return None,
        },
        Ty::Time => Value::Time(time(wire, bytes?)?),
        Ty::OptTime => Value::OptTime(nullable(bytes, |b| time(wire, b))?),
        Ty::OptBytes if wire == Wire::Bytea => Value::OptBytes(bytes.map(<[u8]>::to_vec)),
        _ => return None,
    })
}

/// A nullable cell: NULL is `Some(None)`, else what `read` makes of the bytes.
fn nullable<T>(bytes: Option<&[u8]>, read: impl Fn(&[u8]) -> Option<T>) -> Option<Option<T>> {
    match bytes {
        None => Some(None),
        Some(b) => read(b).map(Some),
    }
}

fn text(wire: Wire, bytes: &[u8]) -> Option<String> {
    (wire == Wire::Text)
        .then(|| std::str::from_utf8(bytes).ok().map(str::to_owned))
        .flatten()
}

fn int(wire: Wire, bytes: &[u8]) -> Option<i64> {
    match wire {
        Wire::Int8 => Some(i64::from_be_bytes(bytes.try_into().ok()?)),
        Wire::Int4 => Some(i32::from_be_bytes(bytes.try_into().ok()?).into()),
        Wire::Int2 => Some(i16::from_be_bytes(bytes.try_into().ok()?).into()),
        _ => None,
    }
}

/// `timestamptz`: microseconds since PostgreSQL's epoch. Out-of-range values (`infinity`
/// included) are left to sqlx.
fn time(wire: Wire, bytes: &[u8]) -> Option<DateTime<Utc>> {
    if wire != Wire::TimestampTz {
        return None;
    }
    let micros = i64::from_be_bytes(bytes.try_into().ok()?);
    DateTime::from_timestamp_micros(micros.checked_add(PG_EPOCH_MICROS)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_form_into_its_value() {
        let id = Uuid::now_v7();
        assert_eq!(
            read(Ty::Id, Wire::Uuid, Some(id.as_bytes())),
            Some(Value::Id(id))
        );
        assert_eq!(
            read(Ty::Text, Wire::Text, Some("név ✓".as_bytes())),
            Some(Value::Text("név ✓".into()))
        );
        assert_eq!(
            read(Ty::OptText, Wire::Text, None),
            Some(Value::OptText(None))
        );
        assert_eq!(
            read(Ty::I64, Wire::Int8, Some(&(-5i64).to_be_bytes())),
            Some(Value::I64(-5))
        );
        assert_eq!(
            read(Ty::I64, Wire::Int4, Some(&7i32.to_be_bytes())),
            Some(Value::I64(7))
        );
        assert_eq!(
            read(Ty::OptI64, Wire::Int2, Some(&(-3i16).to_be_bytes())),
            Some(Value::OptI64(Some(-3)))
        );
        assert_eq!(
            read(Ty::Bool, Wire::Bool, Some(&[1])),
            Some(Value::Bool(true))
        );
        assert_eq!(
            read(Ty::OptBytes, Wire::Bytea, Some(&[0, 255])),
            Some(Value::OptBytes(Some(vec![0, 255])))
        );
        // 2000-01-01T00:00:00.000001Z and a second before PostgreSQL's epoch.
        let at = |us: i64| read(Ty::Time, Wire::TimestampTz, Some(&us.to_be_bytes()));
        assert_eq!(
            at(1),
            Some(Value::Time(
                DateTime::parse_from_rfc3339("2000-01-01T00:00:00.000001Z")
                    .unwrap()
                    .to_utc()
            ))
        );
        assert_eq!(
            at(-1_000_000),
            Some(Value::Time(
                DateTime::parse_from_rfc3339("1999-12-31T23:59:59Z")
                    .unwrap()
                    .to_utc()
            ))
        );
    }

    #[test]
    fn timestamps_match_sqlx_arithmetic() {
        // sqlx: PostgreSQL's epoch plus the microseconds, as a `chrono::Duration`.
        let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        let mut us: i64 = -63_000_000_000_000_000; // about year 4
        while us < 250_000_000_000_000_000 {
            let ours = read(Ty::Time, Wire::TimestampTz, Some(&us.to_be_bytes()));
            let theirs = epoch + chrono::Duration::microseconds(us);
            assert_eq!(ours, Some(Value::Time(theirs)), "{us}");
            us += 1_234_567_890_123_457;
        }
    }

    #[test]
    fn leaves_to_sqlx_what_it_does_not_read() {
        // NULL where the column allows none: sqlx reports it.
        assert_eq!(read(Ty::Text, Wire::Text, None), None);
        assert_eq!(read(Ty::Time, Wire::TimestampTz, None), None);
        // A type that does not fit.
        assert_eq!(read(Ty::I64, Wire::Text, Some(b"12")), None);
        assert_eq!(read(Ty::Id, Wire::Text, Some(b"x")), None);
        assert_eq!(read(Ty::Text, Wire::Other, Some(b"{}")), None);
        // Malformed bytes: wrong widths, invalid UTF-8.
        assert_eq!(read(Ty::I64, Wire::Int8, Some(&[0; 4])), None);
        assert_eq!(read(Ty::Bool, Wire::Bool, Some(&[])), None);
        assert_eq!(read(Ty::Id, Wire::Uuid, Some(&[0; 15])), None);
        assert_eq!(read(Ty::Text, Wire::Text, Some(&[0xff, 0xfe])), None);
        // `infinity` and overflow.
        let inf = i64::MAX.to_be_bytes();
        assert_eq!(read(Ty::Time, Wire::TimestampTz, Some(&inf)), None);
        assert_eq!(read(Ty::Time, Wire::Other, Some(&0i64.to_be_bytes())), None);
    }

    #[test]
    fn built_in_oids_map_to_wire_types() {
        use sqlx::postgres::PgTypeInfo;
        let wire = |t: PgTypeInfo| Wire::of(t.oid());
        assert_eq!(
            wire(PgTypeInfo::with_name("uuid")),
            Wire::Other,
            "no oid, no guess"
        );
        for (oid, expected) in [
            (2950, Wire::Uuid),
            (25, Wire::Text),
            (1043, Wire::Text),
            (20, Wire::Int8),
            (23, Wire::Int4),
            (16, Wire::Bool),
            (1184, Wire::TimestampTz),
            (17, Wire::Bytea),
            (1114, Wire::Other), // timestamp without time zone
            (3802, Wire::Other), // jsonb
        ] {
            assert_eq!(wire(PgTypeInfo::with_oid(Oid(oid))), expected, "{oid}");
        }
    }
}
