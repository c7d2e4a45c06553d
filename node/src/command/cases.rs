//! Applying the changes a centre makes to its own cases: the notification,
//! tests, confirmation, status, place of stay, observations, contacts,
//! medical, assignment and self-report links.

use sqlx::{Row, SqliteConnection};
use time::{Date, OffsetDateTime};

use super::{
    ApplyError, Assignment, Contact, Cx, Medical, NewCase, NotificationDetails, Observation,
    TestRecord,
};
use crate::domain::{CaseStatus, DiagnosisClass, WireName};
use crate::time_fmt;

pub(super) async fn register_case(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case: &NewCase,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    insert_case(conn, case, at, by).await?;
    Ok(())
}

pub(super) async fn update_notification(
    conn: &mut SqliteConnection,
    case_id: &str,
    diagnosis_class: &Option<DiagnosisClass>,
    details: &NotificationDetails,
    reported_on: &Date,
) -> Result<(), ApplyError> {
    touch_case(conn, case_id).await?;
    if let Some(class) = diagnosis_class {
        sqlx::query("UPDATE cases SET diagnosis_class = ? WHERE id = ?")
            .bind(class.wire_name())
            .bind(case_id)
            .execute(&mut *conn)
            .await?;
        record_class_report(conn, case_id, *class, *reported_on).await?;
    }
    sqlx::query(
        "UPDATE cases SET onset_date = COALESCE(?, onset_date), diagnosis_date = COALESCE(?, diagnosis_date), \
         symptoms = COALESCE(?, symptoms), reporting_doctor = COALESCE(?, reporting_doctor), \
         reporting_institution = COALESCE(?, reporting_institution), occupation = COALESCE(?, occupation), \
         free_text = COALESCE(?, free_text) WHERE id = ?",
    )
    .bind(details.onset_date.map(time_fmt::date))
    .bind(details.diagnosis_date.map(time_fmt::date))
    .bind(details.symptoms.as_ref().map(|s| serde_json::to_string(s).expect("symptoms serialise")))
    .bind(&details.reporting_doctor)
    .bind(&details.reporting_institution)
    .bind(&details.occupation)
    .bind(&details.free_text)
    .bind(case_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn add_tests(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    tests: &[TestRecord],
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    insert_tests(conn, case_id, tests, at, by).await?;
    Ok(())
}

pub(super) async fn confirm(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    status: &CaseStatus,
    by_entrant: &bool,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    let result = sqlx::query(
        "UPDATE cases SET confirmed_by = ?, confirmed_at = ?, confirmed_by_entrant = ? WHERE id = ? AND confirmed_at IS NULL",
    )
    .bind(by)
    .bind(at)
    .bind(*by_entrant)
    .bind(case_id)
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        return Err(ApplyError::Conflict("the case is already confirmed".into()));
    }
    record_status(conn, case_id, *status, at, by).await?;
    Ok(())
}

pub(super) async fn change_status(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    status: &CaseStatus,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    record_status(conn, case_id, *status, at, by).await?;
    Ok(())
}

pub(super) async fn move_place_of_stay(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    municipality_code: &str,
    address: &str,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    sqlx::query("UPDATE cases SET municipality_code = ?, address = ? WHERE id = ?")
        .bind(municipality_code)
        .bind(address)
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    push_place_of_stay(conn, case_id, municipality_code, address, at, by).await?;
    Ok(())
}

pub(super) async fn add_observation(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    o: &Observation,
) -> Result<(), ApplyError> {
    let by = cx.by;
    touch_case(conn, case_id).await?;
    sqlx::query(
        "INSERT INTO observations (id, case_id, observed_at, temperature, spo2, symptoms, entered_by, entered_role) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&o.id)
    .bind(case_id)
    .bind(time_fmt::instant(o.observed_at))
    .bind(o.temperature)
    .bind(o.spo2.map(i64::from))
    .bind(serde_json::to_string(&o.symptoms).expect("symptoms serialise"))
    .bind(by)
    .bind(&o.entered_role)
    .execute(&mut *conn)
    .await?;
    crate::alerts::refresh(conn, case_id).await?;
    Ok(())
}

pub(super) async fn add_contact(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    c: &Contact,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    sqlx::query(
        "INSERT INTO contacts (id, case_id, name, name_kana, phone, municipality_code, relation, last_exposure_on, entered_by, entered_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&c.id)
    .bind(case_id)
    .bind(&c.name)
    .bind(&c.name_kana)
    .bind(&c.phone)
    .bind(&c.municipality_code)
    .bind(&c.relation)
    .bind(c.last_exposure_on.map(time_fmt::date))
    .bind(by)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn set_medical(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    m: &Medical,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    sqlx::query(
        "INSERT INTO medical (case_id, hospital, admitted_on, discharged_on, icu, ventilator, ecmo, updated_at, updated_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET hospital = excluded.hospital, \
         admitted_on = excluded.admitted_on, discharged_on = excluded.discharged_on, icu = excluded.icu, \
         ventilator = excluded.ventilator, ecmo = excluded.ecmo, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(case_id)
    .bind(&m.hospital)
    .bind(m.admitted_on.map(time_fmt::date))
    .bind(m.discharged_on.map(time_fmt::date))
    .bind(m.icu)
    .bind(m.ventilator)
    .bind(m.ecmo)
    .bind(at)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn set_assignment(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    a: &Assignment,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    sqlx::query(
        "INSERT INTO assignments (case_id, kind, organisation, from_date, until_date, assigned_by, assigned_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET kind = excluded.kind, \
         organisation = excluded.organisation, from_date = excluded.from_date, until_date = excluded.until_date, \
         assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at",
    )
    .bind(case_id)
    .bind(a.kind.wire_name())
    .bind(&a.organisation)
    .bind(time_fmt::date(a.from_date))
    .bind(a.until_date.map(time_fmt::date))
    .bind(by)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn issue_self_report_link(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    case_id: &str,
    token_hash: &[u8],
    expires_at: &OffsetDateTime,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    touch_case(conn, case_id).await?;
    sqlx::query("INSERT INTO self_report_links (token_hash, case_id, expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(token_hash)
        .bind(case_id)
        .bind(time_fmt::instant(*expires_at))
        .bind(by)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Checks the case exists and is not locked, and bumps its revision.
async fn touch_case(conn: &mut SqliteConnection, case_id: &str) -> Result<(), ApplyError> {
    let row = sqlx::query("SELECT locked_by, owner, pending_transfer FROM cases WHERE id = ?")
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Err(ApplyError::NotFound("case"));
    };
    if let Some(by) = row.get::<Option<String>, _>(0) {
        return Err(ApplyError::Locked { by });
    }
    if let Some(owner) = row.get::<Option<String>, _>(1) {
        return Err(ApplyError::Conflict(format!(
            "the case was transferred to `{owner}`; it is read-only here"
        )));
    }
    if row.get::<Option<String>, _>(2).is_some() {
        return Err(ApplyError::Conflict(
            "a transfer of this case is pending; it cannot be changed until the other centre answers or the offer is withdrawn".into(),
        ));
    }
    sqlx::query("UPDATE cases SET revision = revision + 1 WHERE id = ?")
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_case(
    conn: &mut SqliteConnection,
    case: &NewCase,
    at: &str,
    by: &str,
) -> Result<(), ApplyError> {
    if let Some(p) = &case.person {
        sqlx::query("INSERT INTO persons (id, name, name_kana, sex, date_of_birth, phone, person_key) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&case.person_id)
            .bind(&p.name)
            .bind(&p.name_kana)
            .bind(p.sex.wire_name())
            .bind(time_fmt::date(p.date_of_birth))
            .bind(&p.phone)
            .bind(&p.person_key)
            .execute(&mut *conn)
            .await?;
    }
    let d = &case.details;
    sqlx::query(
        "INSERT INTO cases (id, person_id, disease, diagnosis_class, onset_date, diagnosis_date, symptoms, reporting_doctor, \
         reporting_institution, occupation, free_text, municipality_code, address, status, entered_by, entered_at, supersedes) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&case.case_id)
    .bind(&case.person_id)
    .bind(&case.disease)
    .bind(case.diagnosis_class.wire_name())
    .bind(d.onset_date.map(time_fmt::date))
    .bind(d.diagnosis_date.map(time_fmt::date))
    .bind(serde_json::to_string(d.symptoms.as_deref().unwrap_or_default()).expect("symptoms serialise"))
    .bind(&d.reporting_doctor)
    .bind(&d.reporting_institution)
    .bind(&d.occupation)
    .bind(&d.free_text)
    .bind(&case.municipality_code)
    .bind(&case.address)
    .bind(case.status.wire_name())
    .bind(by)
    .bind(at)
    .bind(&case.supersedes)
    .execute(&mut *conn)
    .await?;
    if let Some(earlier) = &case.supersedes {
        // Lock the earlier notification (after the new case exists, which the
        // lock refers to); refuse if it is already locked.
        let result = sqlx::query("UPDATE cases SET locked_by = ?, revision = revision + 1 WHERE id = ? AND locked_by IS NULL")
            .bind(&case.case_id)
            .bind(earlier)
            .execute(&mut *conn)
            .await?;
        if result.rows_affected() == 0 {
            let locked: Option<Option<String>> =
                sqlx::query_scalar("SELECT locked_by FROM cases WHERE id = ?")
                    .bind(earlier)
                    .fetch_optional(&mut *conn)
                    .await?;
            return Err(match locked {
                Some(Some(by)) => ApplyError::Locked { by },
                _ => ApplyError::NotFound("case"),
            });
        }
    }
    record_class_report(conn, &case.case_id, case.diagnosis_class, case.reported_on).await?;
    insert_tests(conn, &case.case_id, &case.tests, at, by).await?;
    record_status(conn, &case.case_id, case.status, at, by).await?;
    push_place_of_stay(
        conn,
        &case.case_id,
        &case.municipality_code,
        &case.address,
        at,
        by,
    )
    .await?;
    Ok(())
}

/// The report date of a class is the day it was first reported (Q&A Q8):
/// reporting the same class again keeps the first date.
async fn record_class_report(
    conn: &mut SqliteConnection,
    case_id: &str,
    class: DiagnosisClass,
    on: Date,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO class_reports (case_id, class, reported_on) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(case_id)
        .bind(class.wire_name())
        .bind(time_fmt::date(on))
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_tests(
    conn: &mut SqliteConnection,
    case_id: &str,
    tests: &[TestRecord],
    at: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    if tests.is_empty() {
        return Ok(());
    }
    let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO tests (id, case_id, method, specimen, collected_on, result, entered_by, entered_at) ",
    );
    builder.push_values(tests, |mut b, t| {
        b.push_bind(t.id.clone())
            .push_bind(case_id.to_string())
            .push_bind(t.method.wire_name())
            .push_bind(t.specimen.wire_name())
            .push_bind(time_fmt::date(t.collected_on))
            .push_bind(t.result.wire_name())
            .push_bind(by.to_string())
            .push_bind(at.to_string());
    });
    builder.build().execute(conn).await?;
    Ok(())
}

async fn record_status(
    conn: &mut SqliteConnection,
    case_id: &str,
    status: CaseStatus,
    at: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cases SET status = ? WHERE id = ?")
        .bind(status.wire_name())
        .bind(case_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO status_history (case_id, seq, status, at, by_user) \
         VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM status_history WHERE case_id = ?), ?, ?, ?)",
    )
    .bind(case_id)
    .bind(case_id)
    .bind(status.wire_name())
    .bind(at)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

async fn push_place_of_stay(
    conn: &mut SqliteConnection,
    case_id: &str,
    municipality_code: &str,
    address: &str,
    at: &str,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO place_of_stay_history (case_id, seq, municipality_code, address, at, by_user) \
         VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM place_of_stay_history WHERE case_id = ?), ?, ?, ?, ?)",
    )
    .bind(case_id)
    .bind(case_id)
    .bind(municipality_code)
    .bind(address)
    .bind(at)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}
