//! The receiving centre creates the case from a completed transfer.

use renkei_federation::wire::{TransferredCase, TransferredObservation};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::command::ApplyError;

/// Creates the case here from a completed transfer. Ids of the parts are
/// derived from the case id, so replaying gives the same rows.
pub(super) async fn take_over(
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

pub(super) async fn insert_observations(
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
