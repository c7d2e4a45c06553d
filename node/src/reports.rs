//! Statutory reports: built at the responsible centre from its own records
//! (inside `apply`, so deterministically), and kept at the national node,
//! highest revision per case.
//!
//! **Invariant:** a statutory report carries no name, kana, address, phone,
//! exact date of birth or free text; the national node stores only what the
//! message type carries.

use serde::{Deserialize, Serialize};
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use renkei_federation::authority::{self, HeldReport};
use renkei_federation::wire::{Body, StatutoryReport, TestsSummary, WireDate};

use crate::command::ApplyError;
use crate::domain::{CaseStatus, DiagnosisClass, Sex, WireName, age_on, disease, is_severe};
use crate::{municipality, time_fmt};

/// A decision, made before `apply`, that a case's report goes out with this
/// message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTicket {
    pub message_id: Uuid,
    pub case_id: String,
    pub sender: String,
    pub recipient: String,
}

fn wire_date(text: &str) -> Option<WireDate> {
    let d = time_fmt::parse_date(text)?;
    Some(d.year() as u32 * 10_000 + d.month() as u32 * 100 + d.day() as u32)
}

fn date_text(d: WireDate) -> Option<String> {
    let text = format!("{:04}-{:02}-{:02}", d / 10_000, (d / 100) % 100, d % 100);
    time_fmt::parse_date(&text).map(|_| text)
}

/// Builds the case's current report and queues it in the outbox.
pub async fn queue(
    conn: &mut SqliteConnection,
    ticket: &ReportTicket,
    at: OffsetDateTime,
) -> Result<(), ApplyError> {
    let row = sqlx::query(
        "SELECT c.revision, c.disease, c.diagnosis_class, p.sex, p.date_of_birth, c.municipality_code, c.onset_date, \
         c.diagnosis_date, c.status, c.locked_by, (SELECT reported_on FROM class_reports r WHERE r.case_id = c.id AND r.class = c.diagnosis_class), \
         m.admitted_on, m.discharged_on, COALESCE(m.icu, 0), COALESCE(m.ventilator, 0), COALESCE(m.ecmo, 0), c.reporting_centre, c.owner \
         FROM cases c JOIN persons p ON p.id = c.person_id LEFT JOIN medical m ON m.case_id = c.id WHERE c.id = ?",
    )
    .bind(&ticket.case_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ApplyError::NotFound("case"))?;
    let tests = sqlx::query("SELECT method, result FROM tests WHERE case_id = ?")
        .bind(&ticket.case_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut summary = TestsSummary {
        positive: 0,
        negative: 0,
        other: 0,
        methods: Vec::new(),
    };
    for t in &tests {
        match t.get::<&str, _>(1) {
            "positive" => summary.positive += 1,
            "negative" => summary.negative += 1,
            _ => summary.other += 1,
        }
        let method: String = t.get(0);
        if !summary.methods.contains(&method) {
            summary.methods.push(method);
        }
    }
    summary.methods.sort();
    let report_date: String = row
        .get::<Option<String>, _>(10)
        .unwrap_or_else(|| time_fmt::date(crate::domain::japan_date(at)));
    let dob = time_fmt::parse_date(row.get(4)).ok_or(ApplyError::Conflict(
        "stored date of birth is invalid".into(),
    ))?;
    let report_day = time_fmt::parse_date(&report_date)
        .ok_or(ApplyError::Conflict("stored report date is invalid".into()))?;
    let status: String = row.get(8);
    let class: String = row.get(2);
    let admitted: Option<String> = row.get(11);
    let discharged: Option<String> = row.get(12);
    let (icu, ventilator, ecmo): (bool, bool, bool) = (row.get(13), row.get(14), row.get(15));
    let report = StatutoryReport {
        case_id: Uuid::parse_str(&ticket.case_id)
            .map_err(|_| ApplyError::Conflict("case id is not a UUID".into()))?,
        revision: row.get::<i64, _>(0) as u32,
        disease: row.get(1),
        diagnosis_class: class.clone(),
        sex: row.get(3),
        age: age_on(dob, report_day).clamp(0, 255) as u8,
        municipality_code: row.get(5),
        // The centre that first received the notification, across transfers.
        reporting_centre: row
            .get::<Option<String>, _>(16)
            .unwrap_or_else(|| ticket.sender.clone()),
        // A case this centre handed over names its new owner: the hand-over
        // the national node needs before it takes the new owner's reports.
        responsible_centre: row
            .get::<Option<String>, _>(17)
            .unwrap_or_else(|| ticket.sender.clone()),
        onset_date: row
            .get::<Option<String>, _>(6)
            .as_deref()
            .and_then(wire_date),
        diagnosis_date: row
            .get::<Option<String>, _>(7)
            .as_deref()
            .and_then(wire_date),
        report_date: wire_date(&report_date).unwrap_or_default(),
        tests: summary,
        hospitalised: status == "hospitalised" || (admitted.is_some() && discharged.is_none()),
        severe: is_severe(icu, ventilator, ecmo),
        deceased: status == "deceased" || class.starts_with("deceased"),
        withdrawn: row.get::<Option<String>, _>(9).is_some(),
        status,
    };
    let out = crate::outbox::Out {
        me: &ticket.sender,
        at,
    };
    crate::outbox::queue(
        conn,
        &out,
        ticket.message_id,
        &ticket.recipient,
        Some(&ticket.case_id),
        Body::StatutoryReport(report),
    )
    .await
}

/// Checks that a received report is well formed. Whether its sender may
/// send it is decided by `renkei_federation::authority` when it is applied.
pub fn check_received(r: &StatutoryReport) -> Result<(), String> {
    renkei_ca::node_id::validate(&r.reporting_centre)
        .map_err(|e| format!("reporting_centre: {e}"))?;
    renkei_ca::node_id::validate(&r.responsible_centre)
        .map_err(|e| format!("responsible_centre: {e}"))?;
    let d = disease(&r.disease).ok_or_else(|| format!("disease `{}` is unknown", r.disease))?;
    let class = DiagnosisClass::from_wire(&r.diagnosis_class)
        .ok_or_else(|| format!("diagnosis class `{}` is unknown", r.diagnosis_class))?;
    if !d.classes.contains(&class) {
        return Err(format!("`{class}` is not a class of {}", d.name_en));
    }
    Sex::from_wire(&r.sex).ok_or_else(|| format!("sex `{}` is unknown", r.sex))?;
    CaseStatus::from_wire(&r.status).ok_or_else(|| format!("status `{}` is unknown", r.status))?;
    if r.age > 130 {
        return Err(format!("age {} is out of range", r.age));
    }
    municipality::validate(&r.municipality_code).map_err(|e| format!("municipality_code: {e}"))?;
    for (field, date) in [
        ("report_date", Some(r.report_date)),
        ("onset_date", r.onset_date),
        ("diagnosis_date", r.diagnosis_date),
    ] {
        if let Some(d) = date {
            date_text(d).ok_or_else(|| format!("{field} {d} is not a date"))?;
        }
    }
    if r.tests.methods.len() > 20 || r.tests.methods.iter().any(|m| m.len() > 40) {
        return Err("tests.methods is too long".into());
    }
    if r.revision == 0 {
        return Err("revision must be at least 1".into());
    }
    Ok(())
}

/// Records a received report once per (sender, message id); a lower
/// revision than the one held never overwrites it.
pub async fn store_received(
    conn: &mut SqliteConnection,
    sender: &str,
    message_id: Uuid,
    r: &StatutoryReport,
    at: &str,
    sent_at: &str,
) -> Result<(), ApplyError> {
    if !crate::outbox::first_time(conn, sender, message_id, at).await? {
        return Ok(()); // a duplicate: acknowledged again, not applied twice
    }
    let held: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT responsible_centre, revision, sender FROM statutory_reports WHERE case_id = ?",
    )
    .bind(r.case_id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let held = held
        .as_ref()
        .map(|(owner, revision, last_sender)| HeldReport {
            owner,
            revision: u32::try_from(*revision).unwrap_or(u32::MAX),
            last_sender,
        });
    if !crate::outbox::authorised(authority::statutory_report(sender, r, held))? {
        return Ok(());
    }
    let date = |d: Option<WireDate>| d.and_then(date_text);
    sqlx::query(
        "INSERT INTO statutory_reports (case_id, revision, disease, diagnosis_class, sex, age, municipality_code, prefecture_code, \
         reporting_centre, responsible_centre, onset_date, diagnosis_date, report_date, tests_positive, tests_negative, tests_other, \
         test_methods, status, hospitalised, severe, deceased, withdrawn, sender, message_id, first_received_at, received_at, \
         first_sent_at, sent_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT(case_id) DO UPDATE SET revision = excluded.revision, disease = excluded.disease, \
         diagnosis_class = excluded.diagnosis_class, sex = excluded.sex, age = excluded.age, \
         municipality_code = excluded.municipality_code, prefecture_code = excluded.prefecture_code, \
         reporting_centre = excluded.reporting_centre, responsible_centre = excluded.responsible_centre, \
         onset_date = excluded.onset_date, diagnosis_date = excluded.diagnosis_date, report_date = excluded.report_date, \
         tests_positive = excluded.tests_positive, tests_negative = excluded.tests_negative, tests_other = excluded.tests_other, \
         test_methods = excluded.test_methods, status = excluded.status, hospitalised = excluded.hospitalised, \
         severe = excluded.severe, deceased = excluded.deceased, withdrawn = excluded.withdrawn, sender = excluded.sender, \
         message_id = excluded.message_id, received_at = excluded.received_at, sent_at = excluded.sent_at, \
         first_sent_at = MIN(COALESCE(statutory_reports.first_sent_at, excluded.sent_at), excluded.sent_at) \
         WHERE excluded.revision > statutory_reports.revision",
    )
    .bind(r.case_id.to_string())
    .bind(r.revision as i64)
    .bind(&r.disease)
    .bind(&r.diagnosis_class)
    .bind(&r.sex)
    .bind(r.age as i64)
    .bind(&r.municipality_code)
    .bind(&r.municipality_code[..2])
    .bind(&r.reporting_centre)
    .bind(&r.responsible_centre)
    .bind(date(r.onset_date))
    .bind(date(r.diagnosis_date))
    .bind(date(Some(r.report_date)))
    .bind(r.tests.positive as i64)
    .bind(r.tests.negative as i64)
    .bind(r.tests.other as i64)
    .bind(r.tests.methods.join(","))
    .bind(&r.status)
    .bind(r.hospitalised)
    .bind(r.severe)
    .bind(r.deceased)
    .bind(r.withdrawn)
    .bind(sender)
    .bind(message_id.to_string())
    .bind(at)
    .bind(at)
    .bind(sent_at)
    .bind(sent_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_dates() {
        assert_eq!(wire_date("2026-11-20"), Some(20261120));
        assert_eq!(date_text(20261120).as_deref(), Some("2026-11-20"));
        assert_eq!(date_text(20261340), None);
    }
}
