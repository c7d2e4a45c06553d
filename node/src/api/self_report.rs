//! Patients' self-reports through a per-person link: the link allows adding
//! that person's own observations and nothing else.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::AppState;
use super::case_requests::ObservationRequest;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody, Path};
use super::openapi::{BadPath, BadPathAndBody, Conflict, NotFound, Unauthorised, Unavailable};
use crate::access::Action;
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::token;
use crate::command::{Change, Command};
use crate::time_fmt;

/// A new self-report link; the token is shown only here.
#[derive(Serialize, ToSchema)]
struct SelfReportLink {
    token: String,
    /// The web page the patient opens.
    path: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The answer to a live link.
#[derive(Serialize, ToSchema)]
struct LinkValid {
    valid: bool,
}

/// The answer to a patient's report.
#[derive(Serialize, ToSchema)]
struct Recorded {
    recorded: bool,
}

/// Issue the patient's self-report link.
///
/// Who may call it: staff. The token is shown once and stored only as a
/// digest.
#[utoipa::path(post, path = "/api/v1/cases/{id}/self-report-link",
    params(("id" = String, Path, description = "The case id")),
    responses((status = 201, description = "The new link", body = SelfReportLink),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn issue(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let access = state
        .authorize_case(
            &user.0,
            Action::IssueSelfReportLink,
            &id,
            "case.self_report_link.issue",
        )
        .await?;
    let now = state.clock.now();
    let link = token::generate();
    let lifetime = time::Duration::try_from(state.config.self_report.link_lifetime)
        .map_err(ApiError::internal)?;
    let expires_at = now + lifetime;
    let command = Command {
        reports: Vec::new(),
        share_updates: Vec::new(),
        at: now,
        actor: user.0.id.clone(),
        change: Change::IssueSelfReportLink {
            case_id: id.clone(),
            token_hash: token::digest(&link),
            expires_at,
        },
    };
    let audit = AuditEntry::new(
        now,
        &user.0.actor(),
        "case.self_report_link.issue",
        Outcome::Allowed,
    )
    .case(&id)
    .person(&access.facts.person_id)
    .part("self_report_link");
    state.submit(command, vec![audit]).await?;
    let body = SelfReportLink {
        path: format!("/self-report/{link}"),
        token: link,
        expires_at: time_fmt::instant(expires_at),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The case a live link belongs to. An unknown, malformed and expired link
/// all get the same answer.
async fn case_of_link(state: &AppState, link: &str) -> ApiResult<(String, String)> {
    let refused = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "link_invalid",
            "this link is not valid or has expired",
        )
    };
    if !token::looks_valid(link) {
        return Err(refused());
    }
    let row = sqlx::query(
        "SELECT l.case_id, l.expires_at, c.person_id FROM self_report_links l JOIN cases c ON c.id = l.case_id WHERE l.token_hash = ?",
    )
    .bind(token::digest(link))
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(refused)?;
    let expires_at: String = row.get(1);
    if time_fmt::instant(state.clock.now()) >= expires_at {
        return Err(refused());
    }
    Ok((row.get(0), row.get(2)))
}

/// Check a self-report link.
///
/// Who may call it: the patient (link).
#[utoipa::path(get, path = "/api/v1/self-report/{token}", security(()),
    params(("token" = String, Path, description = "The link's secret token")),
    responses((status = 200, description = "The link is live", body = LinkValid),
        (status = 404, description = "The link is not valid or has expired", body = super::openapi::ErrorBody),
        BadPath))]
pub async fn check(State(state): State<AppState>, Path(link): Path<String>) -> ApiResult<Response> {
    case_of_link(&state, &link).await?;
    Ok(Json(LinkValid { valid: true }).into_response())
}

fn patient() -> Actor {
    Actor {
        id: "self-report".into(),
        role: "patient".into(),
        organisation: None,
    }
}

/// The patient reports temperature, SpO2 and symptoms.
///
/// Who may call it: the patient (link).
#[utoipa::path(post, path = "/api/v1/self-report/{token}/observations", security(()),
    params(("token" = String, Path, description = "The link's secret token")),
    request_body = ObservationRequest,
    responses((status = 201, description = "The observation is recorded", body = Recorded),
        BadPathAndBody, NotFound, Conflict, Unavailable))]
pub async fn report(
    State(state): State<AppState>,
    Path(link): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let (case_id, person_id) = case_of_link(&state, &link).await?;
    let request: ObservationRequest = body.parse()?;
    let now = state.clock.now();
    let observation = request.check(now, "patient")?;
    // A transferred case: the report goes on to the centre that owns it now.
    let owner: Option<String> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(&case_id)
        .fetch_one(&state.pool)
        .await?;
    if let (Some(_), Some(f)) = (owner, &state.federation) {
        let forwarded = renkei_federation::wire::TransferredObservation {
            observed_at: time_fmt::instant(observation.observed_at),
            temperature: observation.temperature,
            spo2: observation.spo2,
            symptoms: observation.symptoms.iter().map(|s| s.to_string()).collect(),
        };
        let change = Change::ForwardObservation {
            case_id: case_id.clone(),
            me: f.node_id.clone(),
            observation: forwarded,
            message_id: uuid::Uuid::now_v7(),
        };
        let audit = AuditEntry::new(
            now,
            &patient(),
            "case.observation.forward",
            Outcome::Allowed,
        )
        .case(&case_id)
        .person(&person_id)
        .part("observations");
        state
            .submit(Command::new(now, "self-report", change), vec![audit])
            .await?;
        return Ok((StatusCode::CREATED, Json(Recorded { recorded: true })).into_response());
    }
    let command = Command {
        reports: Vec::new(),
        share_updates: Vec::new(),
        at: now,
        actor: "self-report".into(),
        change: Change::AddObservation {
            case_id: case_id.clone(),
            observation,
        },
    };
    let audit = AuditEntry::new(now, &patient(), "case.observation.add", Outcome::Allowed)
        .case(&case_id)
        .person(&person_id)
        .part("observations");
    state.submit(command, vec![audit]).await?;
    Ok((StatusCode::CREATED, Json(Recorded { recorded: true })).into_response())
}
