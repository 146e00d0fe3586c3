//! Instants as stored (microseconds since the Unix epoch) and as shown (RFC 3339).

use time::OffsetDateTime;

/// Microseconds since the Unix epoch: sortable, exact, and the same column type in SQLite
/// and PostgreSQL.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let t = time::macros::datetime!(2026-12-03 12:00:00.123456 UTC);
        assert_eq!(from_micros(to_micros(t)), t);
    }
}
