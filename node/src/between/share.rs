//! Related-centre shares (関係保健所): a read-only subset of a case for a
//! stated purpose, kept up to date, deleted on revoke, every look reported
//! back to the owner.

use renkei_federation::authority::{self, CaseHere, HeldShare};
use renkei_federation::wire::{Body, ShareData, ShareRevoke, ShareViewed};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::{Out, authorised, conflict, medical, queue};
use crate::command::ApplyError;
use crate::domain::age_on;
use crate::time_fmt;

/// The purposes a case may be shared for, and what each one includes beyond
/// name, kana, sex, age, phone, municipality, class and status. Changing this
/// is a privacy decision; docs/federation-fields.md lists it.
pub const SHARE_PURPOSES: &[(&str, SharePurpose)] = &[
    (
        "admission_coordination",
        SharePurpose {
            address: true,
            medical: true,
        },
    ),
    (
        "follow_up",
        SharePurpose {
            address: true,
            medical: false,
        },
    ),
    (
        "contact_tracing",
        SharePurpose {
            address: false,
            medical: false,
        },
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharePurpose {
    pub address: bool,
    pub medical: bool,
}

pub fn share_purpose(name: &str) -> Option<SharePurpose> {
    SHARE_PURPOSES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
}

/// The subset of a case a purpose allows, as it is now.
async fn share_data(
    conn: &mut SqliteConnection,
    share_id: &str,
) -> Result<(String, String, ShareData), ApplyError> {
    let s = sqlx::query("SELECT case_id, peer, purpose FROM shares WHERE id = ? AND direction = 'out' AND state = 'active'")
        .bind(share_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ApplyError::NotFound("share"))?;
    let (case_id, peer, purpose_name): (String, String, String) = (s.get(0), s.get(1), s.get(2));
    let purpose = share_purpose(&purpose_name).ok_or_else(|| conflict("unknown purpose"))?;
    let c = sqlx::query(
        "SELECT c.revision, p.name, p.name_kana, p.sex, p.date_of_birth, p.phone, c.municipality_code, c.address, c.diagnosis_class, c.status, \
         (SELECT MIN(reported_on) FROM class_reports r WHERE r.case_id = c.id) FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.id = ?",
    )
    .bind(&case_id)
    .fetch_one(&mut *conn)
    .await?;
    let dob = time_fmt::parse_date(c.get(4)).ok_or_else(|| conflict("bad birth date"))?;
    let on = c
        .get::<Option<String>, _>(10)
        .and_then(|d| time_fmt::parse_date(&d))
        .unwrap_or(dob);
    let data = ShareData {
        share_id: Uuid::parse_str(share_id).map_err(|_| conflict("bad share id"))?,
        purpose: purpose_name,
        case_id: Uuid::parse_str(&case_id).map_err(|_| conflict("bad case id"))?,
        revision: c.get::<i64, _>(0) as u32,
        name: c.get(1),
        name_kana: c.get(2),
        sex: c.get(3),
        age: age_on(dob, on).clamp(0, 255) as u8,
        phone: c.get(5),
        municipality_code: c.get(6),
        address: purpose.address.then(|| c.get(7)),
        diagnosis_class: c.get(8),
        status: c.get(9),
        medical: if purpose.medical {
            medical(conn, &case_id).await?
        } else {
            None
        },
    };
    Ok((case_id, peer, data))
}

#[allow(clippy::too_many_arguments)]
pub async fn grant_share(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    share_id: Uuid,
    case_id: &str,
    to: &str,
    purpose: &str,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    if share_purpose(purpose).is_none() {
        return Err(conflict(format!("`{purpose}` is not a share purpose")));
    }
    let owner: Option<Option<String>> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?;
    match owner {
        None => return Err(ApplyError::NotFound("case")),
        Some(Some(o)) => return Err(conflict(format!("the case was transferred to `{o}`"))),
        Some(None) => {}
    }
    let at = time_fmt::instant(out.at);
    sqlx::query("INSERT INTO shares (id, case_id, direction, peer, purpose, state, created_at, updated_at) VALUES (?, ?, 'out', ?, ?, 'active', ?, ?)")
        .bind(share_id.to_string())
        .bind(case_id)
        .bind(to)
        .bind(purpose)
        .bind(&at)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    send_share(conn, out, &share_id.to_string(), message_id).await
}

/// Sends the share's current data (on grant, and after every change).
pub async fn send_share(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    share_id: &str,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let (case_id, peer, data) = share_data(conn, share_id).await?;
    queue(
        conn,
        out,
        message_id,
        &peer,
        Some(&case_id),
        Body::ShareData(Box::new(data)),
    )
    .await
}

pub async fn revoke_share(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    share_id: &str,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let (case_id, peer): (String, String) = sqlx::query_as(
        "SELECT case_id, peer FROM shares WHERE id = ? AND direction = 'out' AND state = 'active'",
    )
    .bind(share_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApplyError::NotFound("share"))?;
    sqlx::query("UPDATE shares SET state = 'revoked', updated_at = ? WHERE id = ?")
        .bind(time_fmt::instant(out.at))
        .bind(share_id)
        .execute(&mut *conn)
        .await?;
    let body = Body::ShareRevoke(ShareRevoke {
        share_id: Uuid::parse_str(share_id).map_err(|_| conflict("bad share id"))?,
    });
    queue(conn, out, message_id, &peer, Some(&case_id), body).await
}

pub async fn receive_share(
    conn: &mut SqliteConnection,
    sender: &str,
    d: &ShareData,
    at: &str,
) -> Result<(), ApplyError> {
    if share_purpose(&d.purpose).is_none() {
        return Err(conflict(format!("`{}` is not a share purpose", d.purpose)));
    }
    let id = d.share_id.to_string();
    let held: Option<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT peer, case_id, purpose, state, COALESCE(revision, 0) FROM shares WHERE id = ? AND direction = 'in'",
    )
    .bind(&id)
    .fetch_optional(&mut *conn)
    .await?;
    let here: Option<Option<String>> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(d.case_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    // A case on its way here (offered, accepted, not yet taken over) is
    // about to be this node's: only the centre handing it over may share it.
    let offered_by: Option<String> = sqlx::query_scalar(
        "SELECT peer FROM transfers WHERE case_id = ? AND direction = 'in' AND state IN ('offered', 'accepting') LIMIT 1",
    )
    .bind(d.case_id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let verdict = authority::share_data(
        sender,
        d,
        held.as_ref()
            .map(|(peer, case_id, purpose, state, revision)| HeldShare {
                peer,
                case_id,
                purpose,
                revoked: state == "revoked",
                revision: u32::try_from(*revision).unwrap_or(u32::MAX),
            }),
        match &here {
            None => match &offered_by {
                Some(peer) => CaseHere::OfferedBy(peer),
                None => CaseHere::Unknown,
            },
            Some(None) => CaseHere::Owned,
            Some(Some(owner)) => CaseHere::MovedTo(owner),
        },
    );
    if !authorised(verdict)? {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO shares (id, case_id, direction, peer, purpose, state, payload, revision, created_at, updated_at) VALUES (?, ?, 'in', ?, ?, 'active', ?, ?, ?, ?) \
         ON CONFLICT(id) DO UPDATE SET payload = excluded.payload, revision = excluded.revision, updated_at = excluded.updated_at \
         WHERE excluded.revision >= shares.revision",
    )
    .bind(&id)
    .bind(d.case_id.to_string())
    .bind(sender)
    .bind(&d.purpose)
    .bind(postcard::to_stdvec(d).expect("shares serialise"))
    .bind(d.revision as i64)
    .bind(at)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn receive_revoke(
    conn: &mut SqliteConnection,
    sender: &str,
    r: &ShareRevoke,
    at: &str,
) -> Result<(), ApplyError> {
    let held_peer: Option<String> =
        sqlx::query_scalar("SELECT peer FROM shares WHERE id = ? AND direction = 'in'")
            .bind(r.share_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    if !authorised(authority::share_revoke(sender, held_peer.as_deref()))? {
        return Ok(());
    }
    // Revoking deletes the copy; the row stays, empty, so a late update
    // cannot revive it.
    sqlx::query("UPDATE shares SET state = 'revoked', payload = NULL, updated_at = ? WHERE id = ? AND direction = 'in'")
        .bind(at)
        .bind(r.share_id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Someone here looked at a shared copy: tell its owner.
pub async fn report_view(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    share_id: &str,
    viewer: &str,
    role: &str,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let peer: String = sqlx::query_scalar(
        "SELECT peer FROM shares WHERE id = ? AND direction = 'in' AND state = 'active'",
    )
    .bind(share_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApplyError::NotFound("share"))?;
    let body = Body::ShareViewed(ShareViewed {
        share_id: Uuid::parse_str(share_id).map_err(|_| conflict("bad share id"))?,
        viewer: viewer.to_string(),
        viewer_role: role.to_string(),
        viewed_at: time_fmt::instant(out.at),
    });
    queue(conn, out, message_id, &peer, None, body).await
}

pub async fn receive_view(
    conn: &mut SqliteConnection,
    sender: &str,
    v: &ShareViewed,
) -> Result<Option<String>, ApplyError> {
    let held: Option<(String, String)> =
        sqlx::query_as("SELECT case_id, peer FROM shares WHERE id = ? AND direction = 'out'")
            .bind(v.share_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    let verdict = authority::share_viewed(sender, held.as_ref().map(|(_, peer)| peer.as_str()));
    if !authorised(verdict)? {
        return Ok(None);
    }
    let Some((case_id, _)) = held else {
        return Ok(None);
    };
    sqlx::query("INSERT INTO share_views (share_id, peer, viewer, viewer_role, viewed_at) VALUES (?, ?, ?, ?, ?)")
        .bind(v.share_id.to_string())
        .bind(sender)
        .bind(&v.viewer)
        .bind(&v.viewer_role)
        .bind(&v.viewed_at)
        .execute(&mut *conn)
        .await?;
    Ok(Some(case_id))
}
