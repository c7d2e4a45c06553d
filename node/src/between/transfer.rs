//! Transfers of responsibility (移管): the offer, the answer, the outcome
//! the offering centre decides, and withdrawal.

use renkei_federation::authority::{self, HeldTransfer};
use renkei_federation::wire::{
    Body, TransferAnswer, TransferOffer, TransferOutcome, TransferredCase, TransferredContact,
    TransferredObservation, TransferredTest,
};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::take_over::take_over;
use super::{Out, authorised, conflict, medical, queue};
use crate::command::ApplyError;
use crate::time_fmt;

/// The case as it may be handed over.
async fn transferred_case(
    conn: &mut SqliteConnection,
    case_id: &str,
    me: &str,
) -> Result<TransferredCase, ApplyError> {
    let c = sqlx::query(
        "SELECT c.revision, p.person_key, p.name, p.name_kana, p.sex, p.date_of_birth, p.phone, c.disease, c.diagnosis_class, \
         c.onset_date, c.diagnosis_date, c.symptoms, c.reporting_centre, c.reporting_institution, c.municipality_code, c.address, \
         c.status, c.confirmed_at IS NOT NULL FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.id = ?",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApplyError::NotFound("case"))?;
    let class_reports = sqlx::query_as::<_, (String, String)>("SELECT class, reported_on FROM class_reports WHERE case_id = ? ORDER BY reported_on, class")
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?;
    let tests = sqlx::query_as::<_, (String, String, String, String)>("SELECT method, specimen, collected_on, result FROM tests WHERE case_id = ? ORDER BY collected_on, id")
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(method, specimen, collected_on, result)| TransferredTest { method, specimen, collected_on, result })
        .collect();
    let medical = medical(conn, case_id).await?;
    let observations = sqlx::query("SELECT observed_at, temperature, spo2, symptoms FROM observations WHERE case_id = ? ORDER BY observed_at, id")
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| TransferredObservation {
            observed_at: r.get(0),
            temperature: r.get(1),
            spo2: r.get::<Option<i64>, _>(2).map(|v| v as u8),
            symptoms: serde_json::from_str(r.get::<&str, _>(3)).unwrap_or_default(),
        })
        .collect();
    let contacts = sqlx::query("SELECT name, name_kana, phone, municipality_code, relation, last_exposure_on FROM contacts WHERE case_id = ? ORDER BY entered_at, id")
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| TransferredContact {
            name: r.get(0),
            name_kana: r.get(1),
            phone: r.get(2),
            municipality_code: r.get(3),
            relation: r.get(4),
            last_exposure_on: r.get(5),
        })
        .collect();
    Ok(TransferredCase {
        case_id: Uuid::parse_str(case_id).map_err(|_| conflict("case id is not a UUID"))?,
        revision: c.get::<i64, _>(0) as u32,
        person_key: c.get(1),
        name: c.get(2),
        name_kana: c.get(3),
        sex: c.get(4),
        date_of_birth: c.get(5),
        phone: c.get(6),
        disease: c.get(7),
        diagnosis_class: c.get(8),
        class_reports,
        onset_date: c.get(9),
        diagnosis_date: c.get(10),
        symptoms: serde_json::from_str(c.get::<&str, _>(11)).unwrap_or_default(),
        reporting_centre: c
            .get::<Option<String>, _>(12)
            .unwrap_or_else(|| me.to_string()),
        reporting_institution: c.get(13),
        municipality_code: c.get(14),
        address: c.get(15),
        status: c.get(16),
        confirmed: c.get(17),
        tests,
        medical,
        observations,
        contacts,
    })
}

async fn set_transfer_state(
    conn: &mut SqliteConnection,
    id: &str,
    state: &str,
    reason: Option<&str>,
    at: &str,
) -> Result<(), ApplyError> {
    sqlx::query(
        "UPDATE transfers SET state = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
    )
    .bind(state)
    .bind(reason)
    .bind(at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn transfer(
    conn: &mut SqliteConnection,
    id: &str,
    direction: &str,
) -> Result<(String, String, String), ApplyError> {
    sqlx::query_as("SELECT case_id, peer, state FROM transfers WHERE id = ? AND direction = ?")
        .bind(id)
        .bind(direction)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ApplyError::NotFound("transfer"))
}

/// Staff offer a case to another centre.
pub async fn offer(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    transfer_id: Uuid,
    case_id: &str,
    to: &str,
    reason: Option<&str>,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let row = sqlx::query("SELECT owner, pending_transfer, locked_by FROM cases WHERE id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ApplyError::NotFound("case"))?;
    if let Some(owner) = row.get::<Option<String>, _>(0) {
        return Err(conflict(format!("the case was transferred to `{owner}`")));
    }
    if row.get::<Option<String>, _>(1).is_some() {
        return Err(conflict("a transfer of this case is already pending"));
    }
    if let Some(by) = row.get::<Option<String>, _>(2) {
        return Err(ApplyError::Locked { by });
    }
    let case = transferred_case(conn, case_id, out.me).await?;
    let at = time_fmt::instant(out.at);
    sqlx::query("INSERT INTO transfers (id, case_id, direction, peer, state, reason, created_at, updated_at) VALUES (?, ?, 'out', ?, 'offered', ?, ?, ?)")
        .bind(transfer_id.to_string())
        .bind(case_id)
        .bind(to)
        .bind(reason)
        .bind(&at)
        .bind(&at)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE cases SET pending_transfer = ? WHERE id = ?")
        .bind(transfer_id.to_string())
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    let body = Body::TransferOffer(Box::new(TransferOffer {
        transfer_id,
        reason: reason.map(Into::into),
        case,
    }));
    queue(conn, out, message_id, to, Some(case_id), body).await
}

/// An offer arrives; `answer` is set when this node accepts offers from the
/// sender automatically.
pub async fn receive_offer(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    sender: &str,
    offer: &TransferOffer,
    auto_answer: Option<Uuid>,
) -> Result<(), ApplyError> {
    let case_id = offer.case.case_id.to_string();
    let exists: Option<Option<String>> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(&case_id)
        .fetch_optional(&mut *conn)
        .await?;
    let transfer_known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM transfers WHERE id = ?)")
            .bind(offer.transfer_id.to_string())
            .fetch_one(&mut *conn)
            .await?;
    authorised(authority::transfer_offer(
        matches!(exists, Some(None)),
        transfer_known,
    ))?;
    let duplicates: Vec<String> = match &offer.case.person_key {
        Some(key) => sqlx::query_scalar("SELECT c.id FROM cases c JOIN persons p ON p.id = c.person_id WHERE p.person_key = ? AND c.owner IS NULL ORDER BY c.id")
            .bind(key)
            .fetch_all(&mut *conn)
            .await?,
        None => Vec::new(),
    };
    let at = time_fmt::instant(out.at);
    let state = if auto_answer.is_some() {
        "accepting"
    } else {
        "offered"
    };
    sqlx::query(
        "INSERT INTO transfers (id, case_id, direction, peer, state, reason, payload, duplicate_of, created_at, updated_at) \
         VALUES (?, ?, 'in', ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(offer.transfer_id.to_string())
    .bind(&case_id)
    .bind(sender)
    .bind(state)
    .bind(&offer.reason)
    .bind(postcard::to_stdvec(offer).expect("offers serialise"))
    .bind((!duplicates.is_empty()).then(|| duplicates.join(",")))
    .bind(&at)
    .bind(&at)
    .execute(&mut *conn)
    .await?;
    if let Some(message_id) = auto_answer {
        let body = Body::TransferAnswer(TransferAnswer {
            transfer_id: offer.transfer_id,
            accepted: true,
            reason: None,
        });
        queue(conn, out, message_id, sender, None, body).await?;
    }
    Ok(())
}

/// Staff of the receiving centre accept or reject an offer.
pub async fn answer(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    transfer_id: &str,
    accepted: bool,
    reason: Option<&str>,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let (_, peer, state) = transfer(conn, transfer_id, "in").await?;
    if state != "offered" {
        return Err(conflict(format!(
            "the offer is {state}; it can no longer be answered"
        )));
    }
    let at = time_fmt::instant(out.at);
    set_transfer_state(
        conn,
        transfer_id,
        if accepted { "accepting" } else { "rejected" },
        reason,
        &at,
    )
    .await?;
    let id = Uuid::parse_str(transfer_id).map_err(|_| conflict("bad transfer id"))?;
    let body = Body::TransferAnswer(TransferAnswer {
        transfer_id: id,
        accepted,
        reason: reason.map(Into::into),
    });
    queue(conn, out, message_id, &peer, None, body).await
}

/// The answer arrives at the offering centre, which decides the outcome.
pub async fn receive_answer(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    sender: &str,
    a: &TransferAnswer,
    outcome_message: Uuid,
) -> Result<(), ApplyError> {
    let id = a.transfer_id.to_string();
    let held: Option<(String, String, String)> = sqlx::query_as(
        "SELECT case_id, peer, state FROM transfers WHERE id = ? AND direction = 'out'",
    )
    .bind(&id)
    .fetch_optional(&mut *conn)
    .await?;
    let verdict = authority::transfer_answer(
        sender,
        held.as_ref().map(|(_, peer, _)| HeldTransfer { peer }),
    );
    if !authorised(verdict)? {
        return Ok(());
    }
    let Some((case_id, peer, state)) = held else {
        return Err(ApplyError::NotFound("transfer"));
    };
    let at = time_fmt::instant(out.at);
    match (state.as_str(), a.accepted) {
        ("offered", true) => {
            set_transfer_state(conn, &id, "completed", None, &at).await?;
            sqlx::query("UPDATE cases SET owner = ?, pending_transfer = NULL, revision = revision + 1 WHERE id = ?")
                .bind(&peer)
                .bind(&case_id)
                .execute(&mut *conn)
                .await?;
            let body = Body::TransferOutcome(TransferOutcome {
                transfer_id: a.transfer_id,
                completed: true,
            });
            queue(conn, out, outcome_message, &peer, Some(&case_id), body).await
        }
        ("offered", false) => {
            set_transfer_state(conn, &id, "rejected", a.reason.as_deref(), &at).await?;
            sqlx::query("UPDATE cases SET pending_transfer = NULL WHERE id = ?")
                .bind(&case_id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        // Withdrawn before the acceptance arrived: tell the receiver to drop it.
        ("withdrawn", true) => {
            let body = Body::TransferOutcome(TransferOutcome {
                transfer_id: a.transfer_id,
                completed: false,
            });
            queue(conn, out, outcome_message, &peer, Some(&case_id), body).await
        }
        _ => Ok(()),
    }
}

/// Staff of the offering centre withdraw an offer that is still open.
pub async fn withdraw(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    transfer_id: &str,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let (case_id, peer, state) = transfer(conn, transfer_id, "out").await?;
    if state != "offered" {
        return Err(conflict(format!(
            "the transfer is {state}; it can no longer be withdrawn"
        )));
    }
    set_transfer_state(
        conn,
        transfer_id,
        "withdrawn",
        None,
        &time_fmt::instant(out.at),
    )
    .await?;
    sqlx::query("UPDATE cases SET pending_transfer = NULL WHERE id = ?")
        .bind(&case_id)
        .execute(&mut *conn)
        .await?;
    let id = Uuid::parse_str(transfer_id).map_err(|_| conflict("bad transfer id"))?;
    let body = Body::TransferOutcome(TransferOutcome {
        transfer_id: id,
        completed: false,
    });
    queue(conn, out, message_id, &peer, Some(&case_id), body).await
}

/// The offering centre's decision arrives at the receiver.
pub async fn receive_outcome(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    sender: &str,
    o: &TransferOutcome,
    person_id: &str,
) -> Result<Option<String>, ApplyError> {
    let id = o.transfer_id.to_string();
    let held = sqlx::query_as::<_, (String, String)>(
        "SELECT peer, state FROM transfers WHERE id = ? AND direction = 'in'",
    )
    .bind(&id)
    .fetch_optional(&mut *conn)
    .await?;
    let verdict =
        authority::transfer_outcome(sender, held.as_ref().map(|(peer, _)| HeldTransfer { peer }));
    if !authorised(verdict)? {
        return Ok(None);
    }
    let Some((_, state)) = held else {
        return Ok(None);
    };
    let at = time_fmt::instant(out.at);
    if !o.completed {
        if matches!(state.as_str(), "offered" | "accepting") {
            set_transfer_state(conn, &id, "withdrawn", None, &at).await?;
            sqlx::query("UPDATE transfers SET payload = NULL WHERE id = ?")
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        }
        return Ok(None);
    }
    if state != "accepting" {
        return Err(conflict(format!(
            "a completed transfer for an offer that is {state} here"
        )));
    }
    let payload: Vec<u8> = sqlx::query_scalar("SELECT payload FROM transfers WHERE id = ?")
        .bind(&id)
        .fetch_one(&mut *conn)
        .await?;
    let offer: TransferOffer =
        postcard::from_bytes(&payload).map_err(|e| conflict(format!("stored offer: {e}")))?;
    take_over(conn, &offer.case, person_id, sender, &at).await?;
    set_transfer_state(conn, &id, "completed", None, &at).await?;
    sqlx::query("UPDATE transfers SET payload = NULL WHERE id = ?")
        .bind(&id)
        .execute(&mut *conn)
        .await?;
    Ok(Some(offer.case.case_id.to_string()))
}
