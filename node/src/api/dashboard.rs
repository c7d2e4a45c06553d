//! A centre's dashboard figures: counts only, no one's record.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::Row;
use time::{Duration, Time};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiResult;
use super::extract::AuthUser;
use super::openapi::{Unauthorised, Unavailable};
use crate::access::Action;
use crate::domain::{age_on, japan_date};
use crate::time_fmt;

/// Age bands of the dashboard (as the national statistics use).
pub fn age_band(age: i32) -> String {
    if age >= 90 {
        "90+".into()
    } else {
        let lo = (age.max(0) / 10) * 10;
        format!("{lo}-{}", lo + 9)
    }
}

/// Days shown in the dashboard's curve.
pub const CURVE_DAYS: i64 = 28;

/// The count of one day.
#[derive(Serialize, ToSchema)]
struct DayCount {
    #[schema(format = Date)]
    date: String,
    count: i64,
}

/// Today's count of one sex and age band.
#[derive(Serialize, ToSchema)]
struct SexAgeCount {
    sex: String,
    /// `0-9`, `10-19`, … `90+`.
    age_band: String,
    count: i64,
}

/// A centre's figures for today; counts only.
#[derive(Serialize, ToSchema)]
struct Dashboard {
    /// Today in Japan.
    #[schema(format = Date)]
    date: String,
    /// Notifications entered today.
    today: usize,
    today_by_sex_and_age_band: Vec<SexAgeCount>,
    /// The last 28 days, oldest first.
    daily: Vec<DayCount>,
    unconfirmed: i64,
    alerts: i64,
    incoming_transfers: i64,
}

/// Today's notifications by sex and age band, 28 days of daily counts,
/// open work.
///
/// Who may call it: staff.
#[utoipa::path(get, path = "/api/v1/dashboard",
    responses((status = 200, description = "The figures", body = Dashboard),
        Unauthorised, Unavailable))]
pub async fn dashboard(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ViewDashboard, "dashboard.read")
        .await?;
    let now = state.clock.now();
    let today = japan_date(now);
    let jst = time::UtcOffset::from_hms(9, 0, 0).expect("valid offset");
    let midnight =
        |d: time::Date| time_fmt::instant(d.with_time(Time::MIDNIGHT).assume_offset(jst));
    let first_day = today - Duration::days(CURVE_DAYS - 1);
    let rows = sqlx::query(
        "SELECT date(entered_at, '+9 hours') AS d, COUNT(*) FROM cases \
         WHERE locked_by IS NULL AND entered_at >= ? GROUP BY d ORDER BY d",
    )
    .bind(midnight(first_day))
    .fetch_all(&state.pool)
    .await?;
    let counted: std::collections::HashMap<String, i64> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let daily: Vec<_> = (0..CURVE_DAYS)
        .map(|i| {
            let d = time_fmt::date(first_day + Duration::days(i));
            let n = counted.get(&d).copied().unwrap_or(0);
            DayCount { date: d, count: n }
        })
        .collect();
    let people = sqlx::query(
        "SELECT p.sex, p.date_of_birth FROM cases c JOIN persons p ON p.id = c.person_id \
         WHERE c.locked_by IS NULL AND c.entered_at >= ?",
    )
    .bind(midnight(today))
    .fetch_all(&state.pool)
    .await?;
    let mut table: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for r in &people {
        let dob = time_fmt::parse_date(r.get(1)).unwrap_or(today);
        *table
            .entry((r.get(0), age_band(age_on(dob, today))))
            .or_default() += 1;
    }
    let today_by: Vec<_> = table
        .into_iter()
        .map(|((sex, age_band), count)| SexAgeCount {
            sex,
            age_band,
            count,
        })
        .collect();
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM cases WHERE confirmed_at IS NULL AND owner IS NULL AND locked_by IS NULL), \
                (SELECT COUNT(*) FROM cases WHERE alert IS NOT NULL AND owner IS NULL), \
                (SELECT COUNT(*) FROM transfers WHERE direction = 'in' AND state = 'offered')",
    )
    .fetch_one(&state.pool)
    .await?;
    Ok(Json(Dashboard {
        date: time_fmt::date(today),
        today: people.len(),
        today_by_sex_and_age_band: today_by,
        daily,
        unconfirmed: counts.get::<i64, _>(0),
        alerts: counts.get::<i64, _>(1),
        incoming_transfers: counts.get::<i64, _>(2),
    })
    .into_response())
}
