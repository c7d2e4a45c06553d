//! Between centres over HTTP: offering, answering and withdrawing transfers;
//! referring close contacts (sharing is in `shares.rs`). Centre staff only;
//! every read of personal data is audited.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::between_answers::*;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody, Path, parse_query};
use super::openapi::{
    BadPath, BadPathAndBody, Conflict, Invalid, NotFound, Unauthorised, Unavailable,
};
use crate::access::Action;
use crate::audit::{AuditEntry, Outcome};
use crate::command::{Change, Command};
use crate::domain::{age_on, check_optional_text, japan_date};
use crate::federation::Federation;
use crate::time_fmt;
use renkei_federation::wire::TransferOffer;

pub(super) fn federation(state: &AppState) -> ApiResult<&Federation> {
    state
        .federation
        .as_deref()
        .ok_or_else(|| ApiError::conflict("this node is not part of a federation"))
}

pub(super) fn command(state: &AppState, user: &AuthUser, change: Change) -> Command {
    Command::new(state.clock.now(), &user.0.id, change)
}

pub(super) fn entry(
    state: &AppState,
    user: &AuthUser,
    action: &str,
    case_id: &str,
    part: &str,
) -> AuditEntry {
    AuditEntry::new(state.clock.now(), &user.0.actor(), action, Outcome::Allowed)
        .case(case_id)
        .part(part)
}

/// Submits one change with the one audit entry that describes it.
pub(super) async fn submit(
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

pub(super) fn check_centre(f: &Federation, field: &str, to: &str) -> ApiResult<()> {
    if f.is_centre(to) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("`{to}` is not another health centre in the directory"),
        ))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OfferBody {
    /// The receiving health centre's node id.
    to: String,
    #[schema(max_length = 500)]
    reason: Option<String>,
}

pub(super) const CASE_ID: &str = "The case id";

/// Offer the case to another centre (移管).
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/cases/{id}/transfer",
    params(("id" = String, Path, description = CASE_ID)), request_body = OfferBody,
    responses((status = 202, description = "The offer is queued for the other centre", body = TransferOffered),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
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
        Json(TransferOffered {
            transfer_id,
            state: "offered",
        }),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TransferQuery {
    /// `in` (offered to this centre) or `out` (offered by it).
    #[param(inline, value_type = Option<Direction>)]
    direction: Option<String>,
    /// Only transfers in this state (`offered`, `accepting`, `accepted`, …).
    state: Option<String>,
}

fn offered(payload: Option<Vec<u8>>) -> Option<TransferOffer> {
    payload.and_then(|p| postcard::from_bytes(&p).ok())
}

/// Incoming and outgoing transfers.
///
/// Who may call it: staff.
#[utoipa::path(get, path = "/api/v1/transfers", params(TransferQuery),
    responses((status = 200, description = "Transfers, newest first", body = TransferList),
        Invalid, Unauthorised, Unavailable))]
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
                audit.push(entry(
                    &state,
                    &user,
                    "case.transfer.offer_read",
                    &case_id,
                    "transfer_offer.summary",
                ));
                let c = o.case;
                OfferedSummary {
                    age: time_fmt::parse_date(&c.date_of_birth).map(|d| age_on(d, today)),
                    name: c.name,
                    name_kana: c.name_kana,
                    sex: c.sex,
                    municipality_code: c.municipality_code,
                    diagnosis_class: c.diagnosis_class,
                }
            });
            TransferRow {
                id: r.get(0),
                case_id,
                direction: r.get(2),
                peer: r.get(3),
                state: r.get(4),
                reason: r.get(5),
                duplicate_of: r
                    .get::<Option<String>, _>(6)
                    .map(|d| d.split(',').map(String::from).collect()),
                created_at: r.get(7),
                updated_at: r.get(8),
                offered: summary,
            }
        })
        .collect();
    if !audit.is_empty() {
        state.record(audit).await?;
    }
    Ok(Json(TransferList { items }).into_response())
}

/// A transfer, with the offered record if incoming.
///
/// Who may call it: staff.
#[utoipa::path(get, path = "/api/v1/transfers/{tid}",
    params(("tid" = String, Path, description = "The transfer id")),
    responses((status = 200, description = "The transfer", body = TransferDetail),
        BadPath, Unauthorised, NotFound, Unavailable))]
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
    Ok(Json(TransferDetail {
        id: tid,
        case_id,
        direction: row.get(1),
        peer: row.get(2),
        state: row.get(3),
        reason: row.get(4),
        duplicate_of: row.get(5),
        offered: offer.map(|o| o.case),
    })
    .into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    /// Required to reject.
    #[schema(max_length = 500)]
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
        Json(TransferState {
            state: if accepted { "accepting" } else { "rejected" },
        }),
    )
        .into_response())
}

/// Accept an incoming offer.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/transfers/{tid}/accept", params(("tid" = String, Path, description = "The transfer id")),
    responses((status = 202, description = "The acceptance is queued for the offering centre", body = TransferState),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn accept(
    State(state): State<AppState>,
    user: AuthUser,
    Path(tid): Path<String>,
) -> ApiResult<Response> {
    answer(state, user, tid, true, None).await
}

/// Reject an incoming offer, with a reason.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/transfers/{tid}/reject", params(("tid" = String, Path, description = "The transfer id")), request_body = AnswerBody,
    responses((status = 202, description = "The rejection is queued for the offering centre", body = TransferState),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    Path(tid): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    answer(state, user, tid, false, Some(body)).await
}

/// Withdraw an outgoing offer.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/transfers/{tid}/withdraw", params(("tid" = String, Path, description = "The transfer id")),
    responses((status = 202, description = "The withdrawal is queued for the other centre", body = TransferState),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
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
    let withdrawn = TransferState { state: "withdrawn" };
    Ok((StatusCode::ACCEPTED, Json(withdrawn)).into_response())
}

/// Refer a close contact to the centre where they live.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/cases/{id}/contacts/{cid}/refer",
    params(("id" = String, Path, description = CASE_ID), ("cid" = String, Path, description = "The contact id")),
    responses((status = 202, description = "The referral is queued for the other centre", body = Referred),
        BadPath, Unauthorised, NotFound, Conflict, Unavailable))]
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
    Ok((StatusCode::ACCEPTED, Json(Referred { referral_id, to })).into_response())
}

/// Close contacts referred here by other centres.
///
/// Who may call it: staff.
#[utoipa::path(get, path = "/api/v1/referrals",
    responses((status = 200, description = "Referred contacts, newest first", body = ReferralList),
        Unauthorised, Unavailable))]
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
    let items = rows
        .iter()
        .map(|r| ReferredContact {
            id: r.get(0),
            from_centre: r.get(1),
            index_link: r.get(2),
            name: r.get(3),
            name_kana: r.get(4),
            phone: r.get(5),
            municipality_code: r.get(6),
            relation: r.get(7),
            last_exposure_on: r.get(8),
            received_at: r.get(9),
        })
        .collect();
    Ok(Json(ReferralList { items }).into_response())
}
