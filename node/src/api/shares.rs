//! Sharing a read-only subset of a case with a related centre, and reading
//! the copies other centres share with this one. Centre staff only; every
//! read is audited and reported to the owning centre.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::between::{CASE_ID, check_centre, command, entry, federation, submit};
use super::between_answers::*;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody, Path};
use super::openapi::{BadPath, BadPathAndBody, Conflict, NotFound, Unauthorised, Unavailable};
use crate::access::Action;
use crate::command::Change;
use renkei_federation::wire::ShareData;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ShareBody {
    /// The related health centre's node id.
    to: String,
    #[schema(value_type = SharePurpose)]
    purpose: String,
}

/// Share a read-only subset with a related centre for a purpose.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/cases/{id}/shares",
    params(("id" = String, Path, description = CASE_ID)), request_body = ShareBody,
    responses((status = 201, description = "The share; the data is queued for the other centre", body = ShareGranted),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn share(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    state
        .authorize_case(&user.0, Action::BetweenCentres, &id, "case.share.grant")
        .await?;
    let b: ShareBody = body.parse()?;
    let f = federation(&state)?;
    check_centre(f, "to", &b.to)?;
    if crate::between::share_purpose(&b.purpose).is_none() {
        let names: Vec<&str> = crate::between::SHARE_PURPOSES
            .iter()
            .map(|(n, _)| *n)
            .collect();
        return Err(ApiError::field(
            "purpose",
            format!("`{}` is not a purpose; use {}", b.purpose, names.join(", ")),
        ));
    }
    let share_id = Uuid::now_v7();
    let change = Change::GrantShare {
        share_id,
        case_id: id.clone(),
        to: b.to,
        purpose: b.purpose.clone(),
        me: f.node_id.clone(),
        message_id: Uuid::now_v7(),
    };
    submit(
        &state,
        &user,
        change,
        "case.share.grant",
        &id,
        &format!("shared:{}", b.purpose),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ShareGranted { share_id })).into_response())
}

/// This case's shares and who looked at them.
///
/// Who may call it: staff.
#[utoipa::path(get, path = "/api/v1/cases/{id}/shares",
    params(("id" = String, Path, description = CASE_ID)),
    responses((status = 200, description = "The case's shares, oldest first", body = CaseShareList),
        BadPath, Unauthorised, NotFound, Unavailable))]
pub async fn list_case_shares(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state
        .authorize_case(&user.0, Action::BetweenCentres, &id, "case.share.list")
        .await?;
    let shares = sqlx::query("SELECT id, peer, purpose, state, created_at FROM shares WHERE case_id = ? AND direction = 'out' ORDER BY created_at")
        .bind(&id)
        .fetch_all(&state.pool)
        .await?;
    let mut items = Vec::new();
    for s in shares {
        let share_id: String = s.get(0);
        let views: Vec<(String, String, String)> = sqlx::query_as("SELECT viewer, viewer_role, viewed_at FROM share_views WHERE share_id = ? ORDER BY viewed_at")
            .bind(&share_id)
            .fetch_all(&state.pool)
            .await?;
        items.push(CaseShare {
            id: share_id,
            peer: s.get(1),
            purpose: s.get(2),
            state: s.get(3),
            created_at: s.get(4),
            views: views
                .into_iter()
                .map(|(viewer, role, at)| ShareView { viewer, role, at })
                .collect(),
        });
    }
    Ok(Json(CaseShareList { items }).into_response())
}

/// Revoke a share: the copy is deleted there.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/cases/{id}/shares/{sid}/revoke",
    params(("id" = String, Path, description = CASE_ID), ("sid" = String, Path, description = "The share id")),
    responses((status = 202, description = "The revocation is queued for the other centre", body = TransferState),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn revoke_share(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, sid)): Path<(String, String)>,
) -> ApiResult<Response> {
    state
        .authorize_case(&user.0, Action::BetweenCentres, &id, "case.share.revoke")
        .await?;
    let f = federation(&state)?;
    let owned: Option<String> = sqlx::query_scalar(
        "SELECT id FROM shares WHERE id = ? AND case_id = ? AND direction = 'out'",
    )
    .bind(&sid)
    .bind(&id)
    .fetch_optional(&state.pool)
    .await?;
    owned.ok_or_else(|| ApiError::not_found("share"))?;
    let change = Change::RevokeShare {
        share_id: sid,
        me: f.node_id.clone(),
        message_id: Uuid::now_v7(),
    };
    submit(
        &state,
        &user,
        change,
        "case.share.revoke",
        &id,
        "share_revoked",
    )
    .await?;
    let revoked = TransferState { state: "revoked" };
    Ok((StatusCode::ACCEPTED, Json(revoked)).into_response())
}

fn shared(payload: Option<Vec<u8>>) -> Option<ShareData> {
    payload.and_then(|p| postcard::from_bytes(&p).ok())
}

/// Cases other centres share with this one.
///
/// Who may call it: staff.
#[utoipa::path(get, path = "/api/v1/shared",
    responses((status = 200, description = "Active shares with this centre", body = SharedList),
        Unauthorised, Unavailable))]
pub async fn list_shared(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::BetweenCentres, "shared.list")
        .await?;
    let rows = sqlx::query("SELECT id, peer, purpose, payload, updated_at FROM shares WHERE direction = 'in' AND state = 'active' ORDER BY updated_at DESC")
        .fetch_all(&state.pool)
        .await?;
    let items = rows
        .into_iter()
        .filter_map(|r| {
            let d = shared(r.get(3))?;
            Some(SharedCase {
                share_id: r.get(0),
                owner: r.get(1),
                purpose: r.get(2),
                case_id: d.case_id,
                updated_at: r.get(4),
            })
        })
        .collect();
    Ok(Json(SharedList { items }).into_response())
}

/// Read a shared copy (reported to the owning centre).
///
/// Who may call it: staff. Audited here and reported to the owning centre.
#[utoipa::path(get, path = "/api/v1/shared/{sid}",
    params(("sid" = String, Path, description = "The share id")),
    responses((status = 200, description = "The shared copy", body = SharedCopy),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn read_shared(
    State(state): State<AppState>,
    user: AuthUser,
    Path(sid): Path<String>,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::BetweenCentres, "shared.read")
        .await?;
    let f = federation(&state)?;
    let row = sqlx::query(
        "SELECT peer, payload FROM shares WHERE id = ? AND direction = 'in' AND state = 'active'",
    )
    .bind(&sid)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("shared case"))?;
    let data = shared(row.get(1)).ok_or_else(|| ApiError::not_found("shared case"))?;
    let change = Change::ReportShareView {
        share_id: sid,
        viewer: user.0.id.clone(),
        role: user.0.role.to_string(),
        me: f.node_id.clone(),
        message_id: Uuid::now_v7(),
    };
    let audit = entry(
        &state,
        &user,
        "case.shared_copy.read",
        &data.case_id.to_string(),
        &format!("shared:{}", data.purpose),
    );
    state
        .submit(command(&state, &user, change), vec![audit])
        .await?;
    Ok(Json(SharedCopy {
        owner: row.get(0),
        data,
    })
    .into_response())
}
