//! Administration: users and the audit trail. Admins see no case records.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody, Path, parse_query};
use super::openapi::{BadBody, BadPath, Conflict, Invalid, NotFound, Unauthorised, Unavailable};
use crate::access::Action;
use crate::audit::{self, AuditEntry, AuditFilter, Outcome, StoredEntry};
use crate::domain::{Role, WireName};
use crate::federation::PeerStatus;
use crate::users::{self, Credentials, NewUserRequest, UserError};

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Invalid(field) => field.into(),
            UserError::Submit(submit) => submit.into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddUserBody {
    id: String,
    role: Role,
    /// Required for medical, contractor and facility users.
    organisation: Option<String>,
    /// The last day the account may log in; required for contractors.
    until: Option<Date>,
}

/// Add a user (returns a one-time password and TOTP secret).
///
/// Who may call it: admin.
#[utoipa::path(post, path = "/api/v1/users", request_body = AddUserBody,
    responses((status = 201, description = "The user's one-time credentials", body = Credentials),
        BadBody, Unauthorised, Conflict, Unavailable))]
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

#[derive(Serialize, sqlx::FromRow, ToSchema)]
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

#[derive(Serialize, ToSchema)]
struct UserList {
    items: Vec<UserRow>,
}

/// List users.
///
/// Who may call it: admin.
#[utoipa::path(get, path = "/api/v1/users",
    responses((status = 200, description = "Every user of this node", body = UserList),
        Unauthorised, Unavailable))]
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
    Ok(Json(UserList { items: rows }).into_response())
}

/// Disable a user and end their sessions.
///
/// Who may call it: admin.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 204, description = "The user is disabled"),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
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

/// Reset a user's password and second factor (new one-time credentials).
///
/// Who may call it: admin.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 200, description = "The user's new one-time credentials", body = Credentials),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
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

#[derive(Serialize, ToSchema)]
struct AuditList {
    /// Newest first.
    items: Vec<StoredEntry>,
}

/// Query the audit trail (the query is itself audited).
///
/// Who may call it: admin.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditFilter),
    responses((status = 200, description = "Matching entries", body = AuditList),
        Invalid, Unauthorised, Unavailable))]
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
    Ok(Json(AuditList { items: entries }).into_response())
}

#[derive(Serialize, ToSchema)]
struct FederationStatus {
    /// This node's id.
    node: String,
    /// Whether this node takes part in a federation.
    enabled: bool,
    peers: Vec<PeerStatus>,
    /// The CRL in force and its alarm (null without a federation).
    crl: Option<crate::crl_watch::CrlStatus>,
}

/// Per peer: connected, outbox depth, oldest pending age, last error; the
/// CRL in force and its alarm.
///
/// Who may call it: admin.
#[utoipa::path(get, path = "/api/v1/federation/status",
    responses((status = 200, description = "The federation's state from this node", body = FederationStatus),
        Unauthorised, Unavailable))]
pub async fn federation_status(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::ViewFederation, "federation.status")
        .await?;
    let body = match &state.federation {
        None => FederationStatus {
            node: state.config.node_id.clone(),
            enabled: false,
            peers: Vec::new(),
            crl: None,
        },
        Some(federation) => FederationStatus {
            node: state.config.node_id.clone(),
            enabled: true,
            peers: federation.status(&state.pool, &state.clock).await?,
            crl: Some(federation.crl_status(state.clock.now())),
        },
    };
    Ok(Json(body).into_response())
}
