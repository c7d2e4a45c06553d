//! How instants and dates are written in the database and on the wire.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// RFC 3339 in UTC with microseconds, so text order is time order.
pub fn instant(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let micros = at.microsecond();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        micros
    )
}

pub fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// `YYYY-MM-DD`.
pub fn date(d: Date) -> String {
    d.to_string()
}

pub fn parse_date(text: &str) -> Option<Date> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn instants_round_trip_and_sort() {
        let a = datetime!(2026-11-20 01:02:03.000004 UTC);
        assert_eq!(instant(a), "2026-11-20T01:02:03.000004Z");
        assert_eq!(parse_instant(&instant(a)), Some(a));
        assert!(instant(a) < instant(datetime!(2026-11-20 01:02:03.000005 UTC)));
        assert_eq!(parse_date("2026-02-30"), None);
    }
}
