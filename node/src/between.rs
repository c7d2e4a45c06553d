//! Between centres, inside `apply`: transfers of responsibility (移管),
//! related-centre shares (関係保健所), contact referrals and forwarded
//! self-reports. Every outgoing message is built here from the database and
//! queued in the outbox in the same transaction as the change; every
//! incoming one is applied once per (sender, message id).
//!
//! **Invariant:** a case has one owner. Only the offering centre moves
//! ownership (on the receiver's acceptance, if its offer still stands), the
//! receiver takes the case only when told so, and while an offer is out
//! nobody edits the case.

use renkei_federation::authority::{self, CaseHere, HeldShare, HeldTransfer};
use renkei_federation::wire::{
    Body, ContactReferral, ForwardedObservation, ShareData, ShareRevoke, ShareViewed,
    TransferAnswer, TransferOffer, TransferOutcome, TransferredCase, TransferredContact,
    TransferredMedical, TransferredObservation, TransferredTest,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

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

pub use crate::outbox::{Out, authorised, first_time, queue};

/// Checks an offered case before it is stored: vocabularies, dates, codes, sizes.
pub fn check_offer(c: &TransferredCase) -> Result<(), String> {
    use crate::domain::{CaseStatus, DiagnosisClass, Sex, WireName};
    let text = |field: &str, v: &str, max: usize| {
        crate::domain::check_text(field, v, max).map_err(|e| e.to_string())
    };
    text("name", &c.name, 100)?;
    crate::domain::check_kana("name_kana", &c.name_kana).map_err(|e| e.to_string())?;
    text("address", &c.address, 200)?;
    Sex::from_wire(&c.sex).ok_or("unknown sex")?;
    DiagnosisClass::from_wire(&c.diagnosis_class).ok_or("unknown diagnosis class")?;
    CaseStatus::from_wire(&c.status).ok_or("unknown status")?;
    crate::domain::disease(&c.disease).ok_or("unknown disease")?;
    crate::municipality::validate(&c.municipality_code)
        .map_err(|e| format!("municipality_code: {e}"))?;
    renkei_ca::node_id::validate(&c.reporting_centre)
        .map_err(|e| format!("reporting_centre: {e}"))?;
    time_fmt::parse_date(&c.date_of_birth).ok_or("date_of_birth is not a date")?;
    let dates = c
        .tests
        .iter()
        .map(|t| t.collected_on.as_str())
        .chain(c.class_reports.iter().map(|(_, d)| d.as_str()));
    for d in dates
        .chain(c.onset_date.as_deref())
        .chain(c.diagnosis_date.as_deref())
    {
        time_fmt::parse_date(d).ok_or_else(|| format!("`{d}` is not a date"))?;
    }
    if c.tests.len() > 100 || c.observations.len() > 2000 || c.contacts.len() > 200 {
        return Err("too many tests, observations or contacts".into());
    }
    c.contacts.iter().try_for_each(check_contact)
}

pub fn check_contact(k: &TransferredContact) -> Result<(), String> {
    crate::domain::check_text("contact.name", &k.name, 100).map_err(|e| e.to_string())?;
    if let Some(code) = &k.municipality_code {
        crate::municipality::validate(code)
            .map_err(|e| format!("contact.municipality_code: {e}"))?;
    }
    Ok(())
}

fn conflict(message: impl Into<String>) -> ApplyError {
    ApplyError::Conflict(message.into())
}

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

async fn medical(
    conn: &mut SqliteConnection,
    case_id: &str,
) -> Result<Option<TransferredMedical>, ApplyError> {
    Ok(sqlx::query("SELECT hospital, admitted_on, discharged_on, icu, ventilator, ecmo FROM medical WHERE case_id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|m| TransferredMedical {
            hospital: m.get(0),
            admitted_on: m.get(1),
            discharged_on: m.get(2),
            icu: m.get(3),
            ventilator: m.get(4),
            ecmo: m.get(5),
        }))
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

/// Creates the case here from a completed transfer. Ids of the parts are
/// derived from the case id, so replaying gives the same rows.
async fn take_over(
    conn: &mut SqliteConnection,
    c: &TransferredCase,
    person_id: &str,
    from: &str,
    at: &str,
) -> Result<(), ApplyError> {
    let case_id = c.case_id.to_string();
    // A stub of the same case (it once left this node) is replaced.
    let previous: Option<String> = sqlx::query_scalar("SELECT person_id FROM cases WHERE id = ?")
        .bind(&case_id)
        .fetch_optional(&mut *conn)
        .await?;
    for table in [
        "class_reports",
        "tests",
        "status_history",
        "place_of_stay_history",
        "medical",
        "observations",
        "contacts",
        "assignments",
        "self_report_links",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE case_id = ?"))
            .bind(&case_id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM cases WHERE id = ?")
        .bind(&case_id)
        .execute(&mut *conn)
        .await?;
    if let Some(p) = previous {
        sqlx::query("DELETE FROM persons WHERE id = ? AND NOT EXISTS (SELECT 1 FROM cases WHERE person_id = ?)").bind(&p).bind(&p).execute(&mut *conn).await?;
    }
    let by = format!("node:{from}");
    sqlx::query("INSERT INTO persons (id, name, name_kana, sex, date_of_birth, phone, person_key) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(person_id)
        .bind(&c.name)
        .bind(&c.name_kana)
        .bind(&c.sex)
        .bind(&c.date_of_birth)
        .bind(&c.phone)
        .bind(&c.person_key)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO cases (id, person_id, disease, diagnosis_class, onset_date, diagnosis_date, symptoms, reporting_institution, \
         municipality_code, address, status, entered_by, entered_at, confirmed_by, confirmed_at, confirmed_by_entrant, revision, reporting_centre) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&case_id)
    .bind(person_id)
    .bind(&c.disease)
    .bind(&c.diagnosis_class)
    .bind(&c.onset_date)
    .bind(&c.diagnosis_date)
    .bind(serde_json::to_string(&c.symptoms).expect("symptoms serialise"))
    .bind(&c.reporting_institution)
    .bind(&c.municipality_code)
    .bind(&c.address)
    .bind(&c.status)
    .bind(&by)
    .bind(at)
    .bind(c.confirmed.then_some(by.clone()))
    .bind(c.confirmed.then_some(at))
    .bind(c.confirmed.then_some(false))
    // The offering centre's hand-over report is the offer's revision + 1;
    // this node's first report supersedes it.
    .bind(c.revision as i64 + 2)
    .bind(&c.reporting_centre)
    .execute(&mut *conn)
    .await?;
    // Many rows per statement: an offer may carry long histories.
    if !c.class_reports.is_empty() {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO class_reports (case_id, class, reported_on) ");
        q.push_values(&c.class_reports, |mut b, (class, on)| {
            b.push_bind(&case_id).push_bind(class).push_bind(on);
        });
        q.build().execute(&mut *conn).await?;
    }
    for (chunk_no, chunk) in c.tests.chunks(ROWS_PER_STATEMENT).enumerate() {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO tests (id, case_id, method, specimen, collected_on, result, entered_by, entered_at) ",
        );
        q.push_values(chunk.iter().enumerate(), |mut b, (k, t)| {
            b.push_bind(format!("{case_id}-t{}", chunk_no * ROWS_PER_STATEMENT + k))
                .push_bind(&case_id)
                .push_bind(&t.method)
                .push_bind(&t.specimen)
                .push_bind(&t.collected_on)
                .push_bind(&t.result)
                .push_bind(&by)
                .push_bind(at);
        });
        q.build().execute(&mut *conn).await?;
    }
    sqlx::query(
        "INSERT INTO status_history (case_id, seq, status, at, by_user) VALUES (?, 1, ?, ?, ?)",
    )
    .bind(&case_id)
    .bind(&c.status)
    .bind(at)
    .bind(&by)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO place_of_stay_history (case_id, seq, municipality_code, address, at, by_user) VALUES (?, 1, ?, ?, ?, ?)")
        .bind(&case_id)
        .bind(&c.municipality_code)
        .bind(&c.address)
        .bind(at)
        .bind(&by)
        .execute(&mut *conn)
        .await?;
    if let Some(m) = &c.medical {
        sqlx::query("INSERT INTO medical (case_id, hospital, admitted_on, discharged_on, icu, ventilator, ecmo, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&case_id)
            .bind(&m.hospital)
            .bind(&m.admitted_on)
            .bind(&m.discharged_on)
            .bind(m.icu)
            .bind(m.ventilator)
            .bind(m.ecmo)
            .bind(at)
            .bind(&by)
            .execute(&mut *conn)
            .await?;
    }
    let observations: Vec<(String, &TransferredObservation)> = c
        .observations
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("{case_id}-o{i}"), o))
        .collect();
    insert_observations(conn, &case_id, &observations, &by, "transferred").await?;
    for (chunk_no, chunk) in c.contacts.chunks(ROWS_PER_STATEMENT).enumerate() {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO contacts (id, case_id, name, name_kana, phone, municipality_code, relation, last_exposure_on, entered_by, entered_at) ",
        );
        q.push_values(chunk.iter().enumerate(), |mut b, (k, contact)| {
            b.push_bind(format!("{case_id}-c{}", chunk_no * ROWS_PER_STATEMENT + k))
                .push_bind(&case_id)
                .push_bind(&contact.name)
                .push_bind(&contact.name_kana)
                .push_bind(&contact.phone)
                .push_bind(&contact.municipality_code)
                .push_bind(&contact.relation)
                .push_bind(&contact.last_exposure_on)
                .push_bind(&by)
                .push_bind(at);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per multi-row INSERT (SQLite allows 32,766 bound values).
const ROWS_PER_STATEMENT: usize = 500;

async fn insert_observations(
    conn: &mut SqliteConnection,
    case_id: &str,
    observations: &[(String, &TransferredObservation)],
    by: &str,
    role: &str,
) -> Result<(), ApplyError> {
    for chunk in observations.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO observations (id, case_id, observed_at, temperature, spo2, symptoms, entered_by, entered_role) ",
        );
        q.push_values(chunk, |mut b, (id, o)| {
            b.push_bind(id)
                .push_bind(case_id)
                .push_bind(&o.observed_at)
                .push_bind(o.temperature)
                .push_bind(o.spo2.map(i64::from))
                .push_bind(serde_json::to_string(&o.symptoms).expect("symptoms serialise"))
                .push_bind(by)
                .push_bind(role);
        });
        q.build().execute(&mut *conn).await?;
    }
    crate::alerts::refresh(conn, case_id).await?;
    Ok(())
}

/// A self-report that reached a transferred case's old link goes to its owner.
pub async fn forward_observation(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    case_id: &str,
    observation: TransferredObservation,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let owner: Option<String> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
    let owner = owner.ok_or_else(|| conflict("the case was not transferred"))?;
    let body = Body::ForwardedObservation(ForwardedObservation {
        case_id: Uuid::parse_str(case_id).map_err(|_| conflict("bad case id"))?,
        observation,
    });
    queue(conn, out, message_id, &owner, Some(case_id), body).await
}

pub async fn receive_forwarded(
    conn: &mut SqliteConnection,
    sender: &str,
    message_id: Uuid,
    f: &ForwardedObservation,
) -> Result<(), ApplyError> {
    let case_id = f.case_id.to_string();
    let owned: Option<Option<String>> = sqlx::query_scalar("SELECT owner FROM cases WHERE id = ?")
        .bind(&case_id)
        .fetch_optional(&mut *conn)
        .await?;
    // The centre this node last took the case over from.
    let previous_owner: Option<String> = sqlx::query_scalar(
        "SELECT peer FROM transfers WHERE case_id = ? AND direction = 'in' AND state = 'completed' ORDER BY updated_at DESC, id DESC LIMIT 1",
    )
    .bind(&case_id)
    .fetch_optional(&mut *conn)
    .await?;
    if !authorised(authority::forwarded_observation(
        sender,
        matches!(owned, Some(None)),
        previous_owner.as_deref(),
    ))? {
        return Ok(());
    }
    insert_observations(
        conn,
        &case_id,
        &[(message_id.to_string(), &f.observation)],
        &format!("self-report via node:{sender}"),
        "patient",
    )
    .await?;
    sqlx::query("UPDATE cases SET revision = revision + 1 WHERE id = ?")
        .bind(&case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Refers a close contact to the centre where they live.
#[allow(clippy::too_many_arguments)]
pub async fn refer(
    conn: &mut SqliteConnection,
    out: &Out<'_>,
    referral_id: Uuid,
    case_id: &str,
    contact_id: &str,
    to: &str,
    index_link: &str,
    message_id: Uuid,
) -> Result<(), ApplyError> {
    let k = sqlx::query("SELECT name, name_kana, phone, municipality_code, relation, last_exposure_on, referred_to FROM contacts WHERE id = ? AND case_id = ?")
        .bind(contact_id)
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ApplyError::NotFound("contact"))?;
    if let Some(already) = k.get::<Option<String>, _>(6) {
        return Err(conflict(format!(
            "the contact was already referred to `{already}`"
        )));
    }
    let contact = TransferredContact {
        name: k.get(0),
        name_kana: k.get(1),
        phone: k.get(2),
        municipality_code: k.get(3),
        relation: k.get(4),
        last_exposure_on: k.get(5),
    };
    sqlx::query("UPDATE contacts SET referred_to = ? WHERE id = ?")
        .bind(to)
        .bind(contact_id)
        .execute(&mut *conn)
        .await?;
    let body = Body::ContactReferral(ContactReferral {
        referral_id,
        index_link: index_link.to_string(),
        contact,
    });
    queue(conn, out, message_id, to, None, body).await
}

pub async fn receive_referral(
    conn: &mut SqliteConnection,
    sender: &str,
    r: &ContactReferral,
    at: &str,
) -> Result<(), ApplyError> {
    let k = &r.contact;
    sqlx::query(
        "INSERT INTO referred_contacts (id, from_centre, index_link, name, name_kana, phone, municipality_code, relation, last_exposure_on, received_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(r.referral_id.to_string())
    .bind(sender)
    .bind(&r.index_link)
    .bind(&k.name)
    .bind(&k.name_kana)
    .bind(&k.phone)
    .bind(&k.municipality_code)
    .bind(&k.relation)
    .bind(&k.last_exposure_on)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
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
            None => CaseHere::Unknown,
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
