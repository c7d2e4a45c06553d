//! Alerts: a patient whose own or follow-up reports worsen needs a call.
//!
//! The rule reads only the case's latest observations, so replaying the
//! command log gives the same alerts:
//! - `spo2`: the latest SpO2 is at or below [`SPO2_ALERT`] %;
//! - `fever`: the latest temperature is at least [`FEVER_ALERT`] °C and
//!   higher than the reading before it.

use sqlx::SqliteConnection;

/// SpO2 at or below this (%) is an alert (the usual threshold for
/// "moderate II" and a call to the patient).
pub const SPO2_ALERT: i64 = 93;
/// A rising temperature at or above this (°C) is an alert.
pub const FEVER_ALERT: f64 = 37.5;

/// Why a case needs attention, from its readings newest first.
pub fn rule(latest_spo2: Option<i64>, temperatures: &[f64]) -> Option<&'static str> {
    if latest_spo2.is_some_and(|s| s <= SPO2_ALERT) {
        return Some("spo2");
    }
    match temperatures {
        [latest, previous, ..] if *latest >= FEVER_ALERT && latest > previous => Some("fever"),
        _ => None,
    }
}

/// Recomputes the case's alert after observations were added.
pub async fn refresh(conn: &mut SqliteConnection, case_id: &str) -> Result<(), sqlx::Error> {
    let spo2: Option<i64> = sqlx::query_scalar(
        "SELECT spo2 FROM observations WHERE case_id = ? AND spo2 IS NOT NULL ORDER BY observed_at DESC, id DESC LIMIT 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?;
    let temperatures: Vec<f64> = sqlx::query_scalar(
        "SELECT temperature FROM observations WHERE case_id = ? AND temperature IS NOT NULL ORDER BY observed_at DESC, id DESC LIMIT 2",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("UPDATE cases SET alert = ? WHERE id = ?")
        .bind(rule(spo2, &temperatures))
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rule;

    #[test]
    fn low_oxygen_or_a_rising_fever_raise_an_alert() {
        assert_eq!(rule(Some(93), &[36.5]), Some("spo2"));
        assert_eq!(rule(Some(94), &[36.5]), None);
        assert_eq!(rule(None, &[38.2, 37.6]), Some("fever"));
        // A high but falling temperature, or a first reading, is not "rising".
        assert_eq!(rule(None, &[38.2, 38.9]), None);
        assert_eq!(rule(None, &[38.2]), None);
        assert_eq!(rule(Some(97), &[37.4, 36.5]), None);
        assert_eq!(rule(None, &[]), None);
    }
}
