//! National statistics over HTTP: public tables (small cells suppressed),
//! ministry tables (unsuppressed, still anonymous), CSV, reporting
//! timeliness per centre, and a server-rendered page with an epidemic curve.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::Duration;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, parse_query};
use super::openapi::{Invalid, Unauthorised, Unavailable};
use crate::access::Action;
use crate::domain::japan_date;
use crate::domain::string_enum_schema;
use crate::stats::{self, CentreTimeliness, CurrentTable, DailyTable, DateBasis, Dimension};
use crate::{municipality, time_fmt};

/// A dimension of a statistics table: `by=` lists them, comma-separated.
struct TableDimension;

impl PartialSchema for TableDimension {
    fn schema() -> RefOr<Schema> {
        string_enum_schema(Dimension::ALL.iter().map(|d| d.name()))
    }
}

impl ToSchema for TableDimension {}

/// Which date of a report counts a case on a day.
struct DateBasisName;

impl PartialSchema for DateBasisName {
    fn schema() -> RefOr<Schema> {
        string_enum_schema(DateBasis::ALL.iter().map(|b| b.name()))
    }
}

impl ToSchema for DateBasisName {}

/// The format of a daily table.
struct TableFormat;

impl PartialSchema for TableFormat {
    fn schema() -> RefOr<Schema> {
        string_enum_schema(["json", "csv"])
    }
}

impl ToSchema for TableFormat {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DailyQuery {
    /// Group by these dimensions (each at most once); none for national totals.
    #[param(inline, value_type = Option<Vec<TableDimension>>, style = Form, explode = false)]
    by: Option<String>,
    /// Count by report (default), diagnosis or onset date.
    #[param(inline, value_type = Option<DateBasisName>)]
    date: Option<String>,
    /// The first day; defaults to 27 days before `to`.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    /// The last day; defaults to today in Japan.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
    /// `json` (default) or `csv`.
    #[param(inline, value_type = Option<TableFormat>)]
    format: Option<String>,
}

struct Window {
    basis: DateBasis,
    by: Vec<Dimension>,
    from: time::Date,
    to: time::Date,
    csv: bool,
}

fn window(state: &AppState, raw: Option<String>) -> ApiResult<Window> {
    let q: DailyQuery = parse_query(raw)?;
    let by = Dimension::parse_list(q.by.as_deref()).map_err(|m| ApiError::field("by", m))?;
    let basis = DateBasis::parse(q.date.as_deref()).map_err(|m| ApiError::field("date", m))?;
    let date = |field: &str, text: &Option<String>| -> ApiResult<Option<time::Date>> {
        text.as_deref()
            .map(|t| {
                time_fmt::parse_date(t).ok_or_else(|| {
                    ApiError::field(field, format!("`{t}` is not a date (YYYY-MM-DD)"))
                })
            })
            .transpose()
    };
    let today = japan_date(state.clock.now());
    let to = date("to", &q.to)?.unwrap_or(today);
    let from = date("from", &q.from)?.unwrap_or(to - Duration::days(27));
    if from > to {
        return Err(ApiError::field("from", "is after `to`"));
    }
    if (to - from).whole_days() >= stats::MAX_DAYS {
        return Err(ApiError::field(
            "from",
            format!("the window is longer than {} days", stats::MAX_DAYS),
        ));
    }
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::field(
                "format",
                format!("`{other}` is not a format; use json or csv"),
            ));
        }
    };
    Ok(Window {
        basis,
        by,
        from,
        to,
        csv,
    })
}

fn respond(table: DailyTable, csv: bool) -> Response {
    if csv {
        let mut response = stats::daily_csv(&table).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"daily.csv\""),
        );
        response
    } else {
        Json(table).into_response()
    }
}

/// Daily new cases, small cells suppressed.
///
/// Who may call it: anyone.
#[utoipa::path(get, path = "/api/v1/public/stats/daily", security(()), params(DailyQuery),
    responses((status = 200, description = "The table; counts from 1 to 9 are null", content(
            (DailyTable = "application/json"), (String = "text/csv"))),
        Invalid))]
pub async fn public_daily(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let w = window(&state, raw)?;
    let table = stats::daily(&state.pool, w.basis, &w.by, w.from, w.to, true).await?;
    Ok(respond(table, w.csv))
}

/// Daily new cases, unsuppressed.
///
/// Who may call it: ministry.
#[utoipa::path(get, path = "/api/v1/stats/daily", params(DailyQuery),
    responses((status = 200, description = "The table", content(
            (DailyTable = "application/json"), (String = "text/csv"))),
        Invalid, Unauthorised, Unavailable))]
pub async fn daily(
    State(state): State<AppState>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ReadStatistics, "stats.daily")
        .await?;
    let w = window(&state, raw)?;
    let table = stats::daily(&state.pool, w.basis, &w.by, w.from, w.to, false).await?;
    Ok(respond(table, w.csv))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CurrentQuery {
    /// Group by these dimensions (each at most once); none for national totals.
    #[param(inline, value_type = Option<Vec<TableDimension>>, style = Form, explode = false)]
    by: Option<String>,
}

async fn current_table(
    state: &AppState,
    raw: Option<String>,
    suppress: bool,
) -> ApiResult<Response> {
    let q: CurrentQuery = parse_query(raw)?;
    let by = Dimension::parse_list(q.by.as_deref()).map_err(|m| ApiError::field("by", m))?;
    Ok(Json(stats::current(&state.pool, &by, suppress).await?).into_response())
}

/// Current cases, hospitalised, severe, deceased, released; small cells
/// suppressed.
///
/// Who may call it: anyone.
#[utoipa::path(get, path = "/api/v1/public/stats/current", security(()), params(CurrentQuery),
    responses((status = 200, description = "The table; counts from 1 to 9 are null", body = CurrentTable),
        Invalid))]
pub async fn public_current(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    current_table(&state, raw, true).await
}

/// Current counts, unsuppressed.
///
/// Who may call it: ministry.
#[utoipa::path(get, path = "/api/v1/stats/current", params(CurrentQuery),
    responses((status = 200, description = "The table", body = CurrentTable),
        Invalid, Unauthorised, Unavailable))]
pub async fn current(
    State(state): State<AppState>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ReadStatistics, "stats.current")
        .await?;
    current_table(&state, raw, false).await
}

#[derive(Serialize, ToSchema)]
struct Timeliness {
    centres: Vec<CentreTimeliness>,
}

/// Per centre: reporting lag and whether it is silent or behind.
///
/// Who may call it: ministry.
#[utoipa::path(get, path = "/api/v1/stats/timeliness",
    responses((status = 200, description = "One row per health centre", body = Timeliness),
        Unauthorised, Unavailable))]
pub async fn timeliness(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ReadStatistics, "stats.timeliness")
        .await?;
    let centres: Vec<String> = state
        .federation
        .as_ref()
        .map(|f| {
            f.directory
                .nodes()
                .filter(|n| n.kind == renkei_federation::NodeKind::HealthCentre)
                .map(|n| n.id.clone())
                .collect()
        })
        .unwrap_or_default();
    let rows = stats::timeliness(&state.pool, &centres, state.clock.now()).await?;
    Ok(Json(Timeliness { centres: rows }).into_response())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The epidemic curve as SVG: a bar per day (hatched where suppressed) and
/// the 7-day average as a line.
fn curve_svg(table: &DailyTable) -> String {
    let (w, h, pad) = (720.0, 240.0, 32.0);
    let max = table
        .totals
        .iter()
        .filter_map(|t| t.count)
        .max()
        .unwrap_or(0)
        .max(10) as f64;
    let n = table.totals.len().max(1) as f64;
    let bar = (w - 2.0 * pad) / n;
    let y = |v: f64| h - pad - v / max * (h - 2.0 * pad);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="新規報告数の推移 / Daily new cases"><defs><pattern id="hidden" width="6" height="6" patternUnits="userSpaceOnUse"><path d="M0,6 L6,0" stroke="#999"/></pattern></defs><line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="#333"/>"##,
        h - pad,
        w - pad,
        h - pad
    );
    let mut line = Vec::new();
    let mut segments = Vec::new();
    for (i, t) in table.totals.iter().enumerate() {
        let x = pad + i as f64 * bar;
        match t.count {
            Some(c) => svg.push_str(&format!(
                r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4a7ebb"><title>{} {c}</title></rect>"##,
                y(c as f64),
                (bar - 1.0).max(1.0),
                h - pad - y(c as f64),
                t.date
            )),
            None => svg.push_str(&format!(
                r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="url(#hidden)"><title>{} &lt;10</title></rect>"##,
                y(9.0),
                (bar - 1.0).max(1.0),
                h - pad - y(9.0),
                t.date
            )),
        }
        // The average line breaks where an average is withheld.
        match t.avg7 {
            Some(a) => line.push(format!("{:.1},{:.1}", x + bar / 2.0, y(a))),
            None => segments.push(std::mem::take(&mut line)),
        }
    }
    segments.push(line);
    for segment in segments.iter().filter(|s| s.len() > 1) {
        svg.push_str(&format!(
            r##"<polyline points="{}" fill="none" stroke="#c0392b" stroke-width="2"/>"##,
            segment.join(" ")
        ));
    }
    svg.push_str(&format!(
        r##"<text x="{pad}" y="{}" font-size="11">{}</text><text x="{}" y="{}" font-size="11" text-anchor="end">{}</text><text x="4" y="{}" font-size="11">{}</text></svg>"##,
        h - 10.0,
        table.from,
        w - pad,
        h - 10.0,
        table.to,
        y(max) + 4.0,
        max as i64
    ));
    svg
}

/// The public statistics page (HTML, SVG epidemic curve). It has no inline
/// styles or scripts, so it runs under the same Content-Security-Policy as
/// every other page.
///
/// Who may call it: anyone.
#[utoipa::path(get, path = "/stats", security(()),
    responses((status = 200, description = "The page", body = String, content_type = "text/html")))]
pub async fn page(State(state): State<AppState>) -> ApiResult<Response> {
    let to = japan_date(state.clock.now());
    let from = to - Duration::days(59);
    let national = stats::daily(&state.pool, DateBasis::Report, &[], from, to, true).await?;
    let week = stats::daily(
        &state.pool,
        DateBasis::Report,
        &[Dimension::Prefecture],
        to - Duration::days(6),
        to,
        true,
    )
    .await?;
    let mut rows = String::new();
    for cell in week.cells.iter().rev() {
        let code = cell.group.first().map(String::as_str).unwrap_or("");
        let name = municipality::prefecture_name(code).unwrap_or(code);
        let count = cell
            .count
            .map(|c| c.to_string())
            .unwrap_or_else(|| "&lt;10".into());
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=n>{count}</td></tr>",
            escape(&cell.date),
            escape(name)
        ));
    }
    let html = format!(
        r#"<!doctype html><html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>新規報告数 / New cases — Renkei</title>
<link rel="stylesheet" href="/static/renkei.css"></head>
<body><main class="stats"><h1>新規報告数 <small>New cases</small></h1>
<p>報告日別・全国（直近60日）。10未満は秘匿。赤線は7日平均。 / By report date, nationwide, last 60 days. Counts under 10 are hidden; the red line is the 7-day average.</p>
{svg}
<p><a href="/api/v1/public/stats/daily?format=csv&amp;by=prefecture">CSV（都道府県別）/ CSV by prefecture</a></p>
<h2>都道府県別（直近7日） <small>By prefecture, last 7 days</small></h2>
<table><thead><tr><th>報告日 Date</th><th>都道府県 Prefecture</th><th class=n>件数 Cases</th></tr></thead><tbody>{rows}</tbody></table>
</main></body></html>"#,
        svg = curve_svg(&national),
    );
    // The security headers (CSP, no framing, no-store) are the web layer's,
    // as on every other page; the styles are in the shared stylesheet.
    Ok(Html(html).into_response())
}
