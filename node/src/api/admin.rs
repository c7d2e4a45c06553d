//! Administration: users and the audit trail. Admins see no case records.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::Date;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody, Path, parse_query};
use crate::access::Action;
use crate::audit::{self, AuditEntry, AuditFilter, Outcome};
use crate::domain::{Role, WireName};
use crate::users::{self, NewUserRequest, UserError};

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Invalid(field) => field.into(),
            UserError::Submit(submit) => submit.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUserBody {
    id: String,
    role: Role,
    organisation: Option<String>,
    until: Option<Date>,
}

pub async fn add_user(
    State(state): State<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ManageUsers, "user.add")
        .await?;
    let b: AddUserBody = body.parse()?;
    let request = NewUserRequest {
        id: b.id,
        role: b.role,
        organisation: b.organisation,
        until: b.until,
    };
    let credentials = users::add(
        &state.log,
        &user.0.actor(),
        state.clock.now(),
        state.config.kind,
        &state.config.node_id,
        request,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(credentials)).into_response())
}

#[derive(Serialize, sqlx::FromRow)]
struct UserRow {
    id: String,
    role: String,
    organisation: Option<String>,
    until: Option<String>,
    disabled_at: Option<String>,
    created_at: String,
    created_by: String,
    must_change_password: bool,
    /// The last successful login, from the audit trail.
    last_login_at: Option<String>,
}

pub async fn list_users(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ManageUsers, "user.list")
        .await?;
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT u.id, u.role, u.organisation, u.until, u.disabled_at, u.created_at, u.created_by, u.must_change_password, \
         (SELECT MAX(a.at) FROM audit a WHERE a.actor = u.id AND a.action = 'login' AND a.outcome = 'allowed') AS last_login_at \
         FROM users u ORDER BY u.id",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(serde_json::json!({ "items": rows })).into_response())
}

pub async fn disable_user(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ManageUsers, "user.disable")
        .await?;
    if id == user.0.id {
        return Err(ApiError::conflict(
            "an admin cannot disable their own account",
        ));
    }
    users::disable(&state.log, &user.0.actor(), state.clock.now(), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn reset_user(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ManageUsers, "user.reset")
        .await?;
    if id == user.0.id {
        return Err(ApiError::conflict(
            "an admin cannot reset their own account; another admin can",
        ));
    }
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
        .bind(&id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let role = Role::from_wire(&role).ok_or_else(|| ApiError::internal("unknown role stored"))?;
    let credentials = users::reset(
        &state.log,
        &user.0.actor(),
        state.clock.now(),
        &state.config.node_id,
        &id,
        role,
    )
    .await?;
    Ok(Json(credentials).into_response())
}

pub async fn query_audit(
    State(state): State<AppState>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ReadAudit, "audit.query")
        .await?;
    let filter: AuditFilter = parse_query(raw)?;
    if filter
        .limit
        .is_some_and(|l| l == 0 || l > audit::MAX_QUERY_LIMIT)
    {
        return Err(ApiError::field(
            "limit",
            format!("must be between 1 and {}", audit::MAX_QUERY_LIMIT),
        ));
    }
    let entries = audit::query(&state.pool, &filter).await?;
    // Reading the audit trail is itself audited, before the answer leaves.
    let mut entry = AuditEntry::new(
        state.clock.now(),
        &user.0.actor(),
        "audit.query",
        Outcome::Allowed,
    )
    .part("audit");
    if let Some(case_id) = &filter.case_id {
        entry = entry.case(case_id);
    }
    state.record(vec![entry]).await?;
    Ok(Json(serde_json::json!({ "items": entries })).into_response())
}

pub async fn federation_status(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ViewFederation, "federation.status")
        .await?;
    let body = match &state.federation {
        None => {
            serde_json::json!({ "node": state.config.node_id, "enabled": false, "peers": [], "crl": null })
        }
        Some(federation) => {
            let peers = federation.status(&state.pool, &state.clock).await?;
            let crl = federation.crl_status(state.clock.now());
            serde_json::json!({ "node": state.config.node_id, "enabled": true, "peers": peers, "crl": crl })
        }
    };
    Ok(Json(body).into_response())
}
