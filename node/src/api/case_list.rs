//! The case list: filtered, paged, newest first, each row as the caller's
//! role may see it.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, parse_query};
use super::openapi::{Invalid, Unauthorised, Unavailable};
use crate::access::{self, Action, View};
use crate::audit::{AuditEntry, Outcome};
use crate::domain::{CaseStatus, DiagnosisClass, Role, WireName, japan_date};
use crate::time_fmt;
use crate::views::{self, CaseFilter, CaseSummary, FollowUpSummary};

/// The largest page of the case list.
pub const MAX_PAGE: u32 = 100;

/// One row of the case list, as the caller's role may see it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CaseRow {
    Full(CaseSummary),
    FollowUp(FollowUpSummary),
}

/// A page of the case list.
#[derive(Serialize, ToSchema)]
pub struct CaseList {
    pub items: Vec<CaseRow>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[param(inline)]
    status: Option<CaseStatus>,
    #[param(inline)]
    diagnosis_class: Option<DiagnosisClass>,
    /// Only cases the centre has (or has not) confirmed.
    confirmed: Option<bool>,
    municipality_code: Option<String>,
    /// Only patients whose reports worsened.
    alert: Option<bool>,
    /// Only cases whose place of stay another centre serves.
    belongs_elsewhere: Option<bool>,
    /// A case id: the page starts after it (`next_before` of the last page).
    #[param(format = Uuid)]
    before: Option<String>,
    /// The page size.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// List cases (filtered, paged, newest first).
///
/// Who may call it: staff, medical (own), contractor and facility (assigned).
#[utoipa::path(get, path = "/api/v1/cases", params(ListQuery),
    responses((status = 200, description = "A page of cases", body = CaseList),
        Invalid, Unauthorised, Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let view = state
        .authorize(&user.0, Action::ListCases, "case.list")
        .await?;
    let query: ListQuery = parse_query(raw)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    if let Some(before) = &query.before {
        uuid::Uuid::parse_str(before).map_err(|_| ApiError::field("before", "is not a case id"))?;
    }
    let now = state.clock.now();
    let today = japan_date(now);
    let user_org = user.0.organisation.clone().unwrap_or_default();
    let filter = CaseFilter {
        status: query.status.map(|s| s.wire_name().to_string()),
        diagnosis_class: query.diagnosis_class.map(|c| c.wire_name().to_string()),
        confirmed: query.confirmed,
        municipality_code: query.municipality_code,
        reporting_institution: (user.0.role == Role::Medical).then(|| user_org.clone()),
        assigned_to: (view == View::FollowUp).then(|| {
            let kinds = access::assignment_kinds(user.0.role)
                .iter()
                .map(|k| k.wire_name())
                .collect();
            (user_org.clone(), kinds, time_fmt::date(today))
        }),
        alert: query.alert == Some(true),
        outside: match (query.belongs_elsewhere, &state.federation) {
            (Some(true), Some(f)) => Some(
                f.directory
                    .node(&f.node_id)
                    .map(|n| n.municipalities.clone())
                    .unwrap_or_default(),
            ),
            // Without a federation every case belongs here.
            (Some(true), None) => {
                let empty = CaseList {
                    items: Vec::new(),
                    next_before: None,
                };
                return Ok(Json(empty).into_response());
            }
            _ => None,
        },
        before: query.before,
        limit,
    };
    let mut rows = views::list_cases(&state.pool, &filter, today).await?;
    // A case whose place of stay another centre serves belongs elsewhere.
    if let Some(f) = &state.federation {
        for r in &mut rows {
            r.summary.belongs_elsewhere = f
                .directory
                .centre_for(&r.summary.municipality_code)
                .filter(|n| n.id != f.node_id)
                .map(|n| n.id.clone());
        }
    }
    // One audit entry per listed case (the list shows names), or one for an
    // empty list; all durable before the answer leaves.
    let actor = user.0.actor();
    let mut audit: Vec<AuditEntry> = rows
        .iter()
        .map(|r| {
            AuditEntry::new(now, &actor, "case.list", Outcome::Allowed)
                .case(&r.summary.id)
                .person(&r.person_id)
                .part("summary")
        })
        .collect();
    if audit.is_empty() {
        audit.push(AuditEntry::new(now, &actor, "case.list", Outcome::Allowed).part("summary"));
    }
    state.record(audit).await?;
    let next = (rows.len() as u32 == limit)
        .then(|| rows.last().map(|r| r.summary.id.clone()))
        .flatten();
    let items = if view == View::FollowUp {
        rows.iter()
            .map(|r| CaseRow::FollowUp(FollowUpSummary::from(&r.summary)))
            .collect()
    } else {
        rows.into_iter().map(|r| CaseRow::Full(r.summary)).collect()
    };
    Ok(Json(CaseList {
        items,
        next_before: next,
    })
    .into_response())
}
