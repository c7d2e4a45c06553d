//! Between centres over HTTP: offering, answering and withdrawing transfers;
//! sharing with related centres and reading shared copies; referring close
//! contacts. Centre staff only; every read of personal data is audited.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody, Path, parse_query};
use crate::access::Action;
use crate::audit::{AuditEntry, Outcome};
use crate::command::{Change, Command};
use crate::domain::{age_on, check_optional_text, japan_date};
use crate::federation::Federation;
use crate::time_fmt;
use renkei_federation::wire::{ShareData, TransferOffer};

fn federation(state: &AppState) -> ApiResult<&Federation> {
    state
        .federation
        .as_deref()
        .ok_or_else(|| ApiError::conflict("this node is not part of a federation"))
}

fn command(state: &AppState, user: &AuthUser, change: Change) -> Command {
    Command::new(state.clock.now(), &user.0.id, change)
}

fn entry(state: &AppState, user: &AuthUser, action: &str, case_id: &str, part: &str) -> AuditEntry {
    AuditEntry::new(state.clock.now(), &user.0.actor(), action, Outcome::Allowed)
        .case(case_id)
        .part(part)
}

/// Submits one change with the one audit entry that describes it.
async fn submit(
    state: &AppState,
    user: &AuthUser,
    change: Change,
    action: &str,
    case_id: &str,
    part: &str,
) -> ApiResult<()> {
    let audit = entry(state, user, action, case_id, part);
    state
        .submit(command(state, user, change), vec![audit])
        .await?;
    Ok(())
}

fn check_centre(f: &Federation, field: &str, to: &str) -> ApiResult<()> {
    if f.is_centre(to) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("`{to}` is not another health centre in the directory"),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferBody {
    to: String,
    reason: Option<String>,
}

pub async fn offer(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    state
        .authorize_case(&user.0, Action::BetweenCentres, &id, "case.transfer.offer")
        .await?;
    let b: OfferBody = body.parse()?;
    let f = federation(&state)?;
    check_centre(f, "to", &b.to)?;
    if let Some(r) = &b.reason {
        check_optional_text("reason", r, 500)?;
    }
    let transfer_id = Uuid::now_v7();
    let change = Change::OfferTransfer {
        transfer_id,
        case_id: id.clone(),
        me: f.node_id.clone(),
        to: b.to,
        reason: b.reason,
        message_id: Uuid::now_v7(),
    };
    submit(
        &state,
        &user,
        change,
        "case.transfer.offer",
        &id,
        "transfer_offer",
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "transfer_id": transfer_id, "state": "offered" })),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferQuery {
    direction: Option<String>,
    state: Option<String>,
}

fn offered(payload: Option<Vec<u8>>) -> Option<TransferOffer> {
    payload.and_then(|p| postcard::from_bytes(&p).ok())
}

pub async fn list_transfers(
    State(state): State<AppState>,
    user: AuthUser,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::BetweenCentres, "transfer.list")
        .await?;
    let q: TransferQuery = parse_query(raw)?;
    if q.direction
        .as_deref()
        .is_some_and(|d| d != "in" && d != "out")
    {
        return Err(ApiError::field("direction", "use `in` or `out`"));
    }
    let rows = sqlx::query(
        "SELECT id, case_id, direction, peer, state, reason, duplicate_of, created_at, updated_at, payload FROM transfers \
         WHERE (?1 IS NULL OR direction = ?1) AND (?2 IS NULL OR state = ?2) ORDER BY created_at DESC LIMIT 200",
    )
    .bind(&q.direction)
    .bind(&q.state)
    .fetch_all(&state.pool)
    .await?;
    let today = japan_date(state.clock.now());
    let mut audit = Vec::new();
    let items: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let case_id: String = r.get(1);
            // Incoming offers show who it is, so staff can decide: that is a read.
            let summary = offered(r.get(9)).map(|o| {
                audit.push(entry(&state, &user, "case.transfer.offer_read", &case_id, "transfer_offer.summary"));
                let age = time_fmt::parse_date(&o.case.date_of_birth).map(|d| age_on(d, today));
                json!({ "name": o.case.name, "name_kana": o.case.name_kana, "sex": o.case.sex, "age": age,
                        "municipality_code": o.case.municipality_code, "diagnosis_class": o.case.diagnosis_class })
            });
            json!({ "id": r.get::<String, _>(0), "case_id": case_id, "direction": r.get::<String, _>(2), "peer": r.get::<String, _>(3),
                    "state": r.get::<String, _>(4), "reason": r.get::<Option<String>, _>(5),
                    "duplicate_of": r.get::<Option<String>, _>(6).map(|d| d.split(',').map(String::from).collect::<Vec<_>>()),
                    "created_at": r.get::<String, _>(7), "updated_at": r.get::<String, _>(8), "offered": summary })
        })
        .collect();
    if !audit.is_empty() {
        state.record(audit).await?;
    }
    Ok(Json(json!({ "items": items })).into_response())
}

pub async fn read_transfer(
    State(state): State<AppState>,
    user: AuthUser,
    Path(tid): Path<String>,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::BetweenCentres, "transfer.read")
        .await?;
    let row = sqlx::query("SELECT case_id, direction, peer, state, reason, duplicate_of, payload FROM transfers WHERE id = ?")
        .bind(&tid)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("transfer"))?;
    let case_id: String = row.get(0);
    let offer = offered(row.get(6));
    if offer.is_some() {
        state
            .record(vec![entry(
                &state,
                &user,
                "case.transfer.offer_read",
                &case_id,
                "transfer_offer",
            )])
            .await?;
    }
    Ok(Json(json!({ "id": tid, "case_id": case_id, "direction": row.get::<String, _>(1), "peer": row.get::<String, _>(2),
        "state": row.get::<String, _>(3), "reason": row.get::<Option<String>, _>(4), "duplicate_of": row.get::<Option<String>, _>(5),
        "offered": offer.map(|o| o.case) }))
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    reason: Option<String>,
}

async fn answer(
    state: AppState,
    user: AuthUser,
    tid: String,
    accepted: bool,
    body: Option<JsonBody>,
) -> ApiResult<Response> {
    state
        .authorize(
            &user.0,
            Action::BetweenCentres,
            if accepted {
                "case.transfer.accept"
            } else {
                "case.transfer.reject"
            },
        )
        .await?;
    let b: AnswerBody = match body {
        Some(b) => b.parse()?,
        None => AnswerBody::default(),
    };
    if !accepted && b.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(ApiError::field("reason", "a rejection needs a reason"));
    }
    if let Some(r) = &b.reason {
        check_optional_text("reason", r, 500)?;
    }
    let f = federation(&state)?;
    let case_id: String =
        sqlx::query_scalar("SELECT case_id FROM transfers WHERE id = ? AND direction = 'in'")
            .bind(&tid)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| ApiError::not_found("transfer"))?;
    let change = Change::AnswerTransfer {
        transfer_id: tid,
        accepted,
        reason: b.reason,
        me: f.node_id.clone(),
        message_id: Uuid::now_v7(),
    };
    let part = if accepted {
        "transfer_accepted"
    } else {
        "transfer_rejected"
    };
    submit(
        &state,
        &user,
        change,
        "case.transfer.answer",
        &case_id,
        part,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "state": if accepted { "accepting" } else { "rejected" } })),
    )
        .into_response())
}

pub async fn accept(
    State(state): State<AppState>,
    user: AuthUser,
    Path(tid): Path<String>,
) -> ApiResult<Response> {
    answer(state, user, tid, true, None).await
}

pub async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    Path(tid): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    answer(state, user, tid, false, Some(body)).await
}

pub async fn withdraw(
    State(state): State<AppState>,
    user: AuthUser,
    Path(tid): Path<String>,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::BetweenCentres, "case.transfer.withdraw")
        .await?;
    let f = federation(&state)?;
    let case_id: String =
        sqlx::query_scalar("SELECT case_id FROM transfers WHERE id = ? AND direction = 'out'")
            .bind(&tid)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| ApiError::not_found("transfer"))?;
    let change = Change::WithdrawTransfer {
        transfer_id: tid,
        me: f.node_id.clone(),
        message_id: Uuid::now_v7(),
    };
    submit(
        &state,
        &user,
        change,
        "case.transfer.withdraw",
        &case_id,
        "transfer_withdrawn",
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "state": "withdrawn" }))).into_response())
}

pub async fn refer(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, cid)): Path<(String, String)>,
) -> ApiResult<Response> {
    state
        .authorize_case(&user.0, Action::BetweenCentres, &id, "case.contact.refer")
        .await?;
    let f = federation(&state)?;
    let code: Option<Option<String>> =
        sqlx::query_scalar("SELECT municipality_code FROM contacts WHERE id = ? AND case_id = ?")
            .bind(&cid)
            .bind(&id)
            .fetch_optional(&state.pool)
            .await?;
    let code = code
        .ok_or_else(|| ApiError::not_found("contact"))?
        .ok_or_else(|| {
            ApiError::conflict("the contact has no municipality code: add where they live first")
        })?;
    let to = f
        .directory
        .centre_for(&code)
        .map(|n| n.id.clone())
        .ok_or_else(|| ApiError::conflict(format!("no centre in the directory serves {code}")))?;
    if to == f.node_id {
        return Err(ApiError::conflict(
            "the contact lives in this centre's own area",
        ));
    }
    let referral_id = Uuid::now_v7();
    let change = Change::ReferContact {
        referral_id,
        case_id: id.clone(),
        contact_id: cid,
        to: to.clone(),
        me: f.node_id.clone(),
        index_link: format!("{}/{referral_id}", f.node_id),
        message_id: Uuid::now_v7(),
    };
    submit(&state, &user, change, "case.contact.refer", &id, "contacts").await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "referral_id": referral_id, "to": to })),
    )
        .into_response())
}

pub async fn list_referrals(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::BetweenCentres, "referral.list")
        .await?;
    let rows = sqlx::query(
        "SELECT id, from_centre, index_link, name, name_kana, phone, municipality_code, relation, last_exposure_on, received_at \
         FROM referred_contacts ORDER BY received_at DESC LIMIT 200",
    )
    .fetch_all(&state.pool)
    .await?;
    let now = state.clock.now();
    let audit: Vec<AuditEntry> = rows
        .iter()
        .map(|r| {
            AuditEntry::new(now, &user.0.actor(), "referral.read", Outcome::Allowed)
                .part(&format!("referred_contact:{}", r.get::<String, _>(0)))
        })
        .collect();
    if !audit.is_empty() {
        state.record(audit).await?;
    }
    let items: Vec<_> = rows
        .iter()
        .map(|r| json!({ "id": r.get::<String, _>(0), "from_centre": r.get::<String, _>(1), "index_link": r.get::<String, _>(2),
            "name": r.get::<String, _>(3), "name_kana": r.get::<Option<String>, _>(4), "phone": r.get::<Option<String>, _>(5),
            "municipality_code": r.get::<Option<String>, _>(6), "relation": r.get::<Option<String>, _>(7),
            "last_exposure_on": r.get::<Option<String>, _>(8), "received_at": r.get::<String, _>(9) }))
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareBody {
    to: String,
    purpose: String,
}

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
    Ok((StatusCode::CREATED, Json(json!({ "share_id": share_id }))).into_response())
}

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
        items.push(json!({ "id": share_id, "peer": s.get::<String, _>(1), "purpose": s.get::<String, _>(2), "state": s.get::<String, _>(3),
            "created_at": s.get::<String, _>(4),
            "views": views.into_iter().map(|(viewer, role, at)| json!({ "viewer": viewer, "role": role, "at": at })).collect::<Vec<_>>() }));
    }
    Ok(Json(json!({ "items": items })).into_response())
}

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
    Ok((StatusCode::ACCEPTED, Json(json!({ "state": "revoked" }))).into_response())
}

fn shared(payload: Option<Vec<u8>>) -> Option<ShareData> {
    payload.and_then(|p| postcard::from_bytes(&p).ok())
}

pub async fn list_shared(State(state): State<AppState>, user: AuthUser) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::BetweenCentres, "shared.list")
        .await?;
    let rows = sqlx::query("SELECT id, peer, purpose, payload, updated_at FROM shares WHERE direction = 'in' AND state = 'active' ORDER BY updated_at DESC")
        .fetch_all(&state.pool)
        .await?;
    let items: Vec<_> = rows
        .into_iter()
        .filter_map(|r| {
            let d = shared(r.get(3))?;
            Some(json!({ "share_id": r.get::<String, _>(0), "owner": r.get::<String, _>(1), "purpose": r.get::<String, _>(2),
                "case_id": d.case_id, "updated_at": r.get::<String, _>(4) }))
        })
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

/// Reading a shared copy: audited here and reported to the owning centre.
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
    Ok(Json(json!({ "owner": row.get::<String, _>(0), "data": data })).into_response())
}
