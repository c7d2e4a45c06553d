//! Read models: what the API returns for a case, for a case list, and for
//! follow-up bodies.
//!
//! **Invariant:** a follow-up body (contractor, facility) receives only the
//! fields in [`FOLLOW_UP_FIELDS`]; [`FollowUpView`] is the only type they get.

use serde::Serialize;
use sqlx::{FromRow, QueryBuilder, Row, Sqlite, SqlitePool};
use time::Date;
use utoipa::ToSchema;

use crate::domain::{age_on, is_severe};
use crate::time_fmt;

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct PersonView {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub date_of_birth: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct TestView {
    pub id: String,
    pub method: String,
    pub specimen: String,
    pub collected_on: String,
    pub result: String,
}

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct ClassReportView {
    pub class: String,
    pub reported_on: String,
}

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct StatusView {
    pub status: String,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct PlaceOfStayView {
    pub municipality_code: String,
    pub address: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MedicalView {
    pub hospital: Option<String>,
    pub admitted_on: Option<String>,
    pub discharged_on: Option<String>,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
    /// ICU, ventilator or ECMO.
    pub severe: bool,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObservationView {
    pub id: String,
    pub observed_at: String,
    pub temperature: Option<f64>,
    pub spo2: Option<i64>,
    pub symptoms: Vec<String>,
    pub entered_by: String,
    pub entered_role: String,
}

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct ContactView {
    pub id: String,
    pub name: String,
    pub name_kana: Option<String>,
    pub phone: Option<String>,
    pub municipality_code: Option<String>,
    pub relation: Option<String>,
    pub last_exposure_on: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct AssignmentView {
    pub kind: String,
    pub organisation: String,
    pub from_date: String,
    pub until_date: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfirmationView {
    pub by: String,
    pub at: String,
    /// The confirmer also entered the notification; a second person is preferred.
    pub by_entrant: bool,
}

/// The whole case record, for centre staff and the notifying institution.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseView {
    pub id: String,
    pub revision: i64,
    pub person: PersonView,
    pub disease: String,
    pub diagnosis_class: String,
    /// The day the current class was first reported.
    pub report_date: String,
    pub class_reports: Vec<ClassReportView>,
    pub onset_date: Option<String>,
    pub diagnosis_date: Option<String>,
    pub symptoms: Vec<String>,
    pub reporting_doctor: Option<String>,
    pub reporting_institution: Option<String>,
    pub occupation: Option<String>,
    pub free_text: Option<String>,
    pub place_of_stay: PlaceOfStayView,
    pub place_of_stay_history: Vec<PlaceOfStayView>,
    pub tests: Vec<TestView>,
    pub entered_by: String,
    pub entered_at: String,
    pub confirmation: Option<ConfirmationView>,
    pub status: StatusView,
    pub status_history: Vec<StatusView>,
    pub medical: Option<MedicalView>,
    pub observations: Vec<ObservationView>,
    pub contacts: Vec<ContactView>,
    pub assignment: Option<AssignmentView>,
    /// The additional registration that locked this notification.
    pub locked_by: Option<String>,
    /// The earlier notification this one supersedes.
    pub supersedes: Option<String>,
    /// The centre this case was transferred to; the record here is read-only.
    pub owner: Option<String>,
    /// The outstanding transfer offer, if any.
    pub pending_transfer: Option<String>,
    /// The centre that first received the notification, if not this one.
    pub reporting_centre: Option<String>,
    /// Why the patient needs a call now (`spo2`, `fever`), see [`crate::alerts`].
    pub alert: Option<String>,
}

/// The fields a follow-up body receives, and no others. Changing this list
/// is a privacy decision: a test holds [`FollowUpView`] to it.
pub const FOLLOW_UP_FIELDS: &[&str] = &[
    "id",
    "name",
    "name_kana",
    "sex",
    "age",
    "phone",
    "status",
    "assignment",
    "observations",
];

/// What a follow-up contractor or facility sees of a patient: enough to call
/// them and record their health, nothing of the notification, tests,
/// address or medical record.
#[derive(Debug, Clone, Serialize, ToSchema)]
// Serialising ignores this; it makes the OpenAPI schema closed
// (`additionalProperties: false`), so a client or fuzzer checking answers
// against the document notices any field beyond these.
#[serde(deny_unknown_fields)]
pub struct FollowUpView {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub age: i32,
    pub phone: Option<String>,
    pub status: String,
    pub assignment: Option<AssignmentView>,
    pub observations: Vec<ObservationView>,
}

/// One row of the case list for staff and medical institutions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub age: i32,
    pub disease: String,
    pub diagnosis_class: String,
    pub status: String,
    pub municipality_code: String,
    pub reporting_institution: Option<String>,
    pub entered_at: String,
    pub confirmed: bool,
    pub locked: bool,
    /// The centre this case was transferred to.
    pub owner: Option<String>,
    /// The centre responsible for the place of stay, when it is another one.
    pub belongs_elsewhere: Option<String>,
    /// Why the patient needs a call now (`spo2`, `fever`), see [`crate::alerts`].
    pub alert: Option<String>,
}

/// One row of the case list for follow-up bodies.
#[derive(Debug, Clone, Serialize, ToSchema)]
// Serialising ignores this; it makes the OpenAPI schema closed
// (`additionalProperties: false`), so a client or fuzzer checking answers
// against the document notices any field beyond these.
#[serde(deny_unknown_fields)]
pub struct FollowUpSummary {
    pub id: String,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub age: i32,
    pub status: String,
}

fn age(date_of_birth: &str, today: Date) -> i32 {
    time_fmt::parse_date(date_of_birth)
        .map(|dob| age_on(dob, today))
        .unwrap_or(0)
}

async fn observations(
    pool: &SqlitePool,
    case_id: &str,
) -> Result<Vec<ObservationView>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, observed_at, temperature, spo2, symptoms, entered_by, entered_role FROM observations \
         WHERE case_id = ? ORDER BY observed_at, id",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ObservationView {
            id: r.get(0),
            observed_at: r.get(1),
            temperature: r.get(2),
            spo2: r.get(3),
            symptoms: serde_json::from_str(r.get::<&str, _>(4)).unwrap_or_default(),
            entered_by: r.get(5),
            entered_role: r.get(6),
        })
        .collect())
}

async fn assignment(
    pool: &SqlitePool,
    case_id: &str,
) -> Result<Option<AssignmentView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, organisation, from_date, until_date FROM assignments WHERE case_id = ?",
    )
    .bind(case_id)
    .fetch_optional(pool)
    .await
}

/// Loads the whole record, or `None` if there is no such case.
pub async fn load_case(pool: &SqlitePool, case_id: &str) -> Result<Option<CaseView>, sqlx::Error> {
    let Some(c) = sqlx::query(
        "SELECT id, revision, person_id, disease, diagnosis_class, onset_date, diagnosis_date, symptoms, reporting_doctor, \
         reporting_institution, occupation, free_text, entered_by, entered_at, confirmed_by, confirmed_at, confirmed_by_entrant, \
         locked_by, supersedes, owner, pending_transfer, reporting_centre, alert FROM cases WHERE id = ?",
    )
    .bind(case_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let person_id: String = c.get("person_id");
    let person: PersonView = sqlx::query_as(
        "SELECT id, name, name_kana, sex, date_of_birth, phone FROM persons WHERE id = ?",
    )
    .bind(&person_id)
    .fetch_one(pool)
    .await?;
    let class_reports: Vec<ClassReportView> =
        sqlx::query_as("SELECT class, reported_on FROM class_reports WHERE case_id = ? ORDER BY reported_on, class")
            .bind(case_id)
            .fetch_all(pool)
            .await?;
    let tests: Vec<TestView> = sqlx::query_as(
        "SELECT id, method, specimen, collected_on, result FROM tests WHERE case_id = ? ORDER BY collected_on, id",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    let status_history: Vec<StatusView> = sqlx::query_as(
        "SELECT status, at, by_user AS by FROM status_history WHERE case_id = ? ORDER BY seq",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    let place_of_stay_history: Vec<PlaceOfStayView> = sqlx::query_as(
        "SELECT municipality_code, address, at FROM place_of_stay_history WHERE case_id = ? ORDER BY seq",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    let medical = sqlx::query(
        "SELECT hospital, admitted_on, discharged_on, icu, ventilator, ecmo, updated_at FROM medical WHERE case_id = ?",
    )
    .bind(case_id)
    .fetch_optional(pool)
    .await?
    .map(|m| {
        let (icu, ventilator, ecmo): (bool, bool, bool) = (m.get(3), m.get(4), m.get(5));
        MedicalView {
            hospital: m.get(0),
            admitted_on: m.get(1),
            discharged_on: m.get(2),
            icu,
            ventilator,
            ecmo,
            severe: is_severe(icu, ventilator, ecmo),
            updated_at: m.get(6),
        }
    });
    let contacts: Vec<ContactView> = sqlx::query_as(
        "SELECT id, name, name_kana, phone, municipality_code, relation, last_exposure_on FROM contacts \
         WHERE case_id = ? ORDER BY entered_at, id",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await?;
    let class: String = c.get("diagnosis_class");
    let report_date = class_reports
        .iter()
        .find(|r| r.class == class)
        .map(|r| r.reported_on.clone())
        .unwrap_or_default();
    let confirmation = c
        .get::<Option<String>, _>("confirmed_by")
        .map(|by| ConfirmationView {
            by,
            at: c.get("confirmed_at"),
            by_entrant: c
                .get::<Option<bool>, _>("confirmed_by_entrant")
                .unwrap_or(false),
        });
    let status = status_history
        .last()
        .cloned()
        .expect("every case has a status");
    let place_of_stay = place_of_stay_history
        .last()
        .cloned()
        .expect("every case has a place of stay");
    Ok(Some(CaseView {
        id: c.get("id"),
        revision: c.get("revision"),
        person,
        disease: c.get("disease"),
        diagnosis_class: class,
        report_date,
        class_reports,
        onset_date: c.get("onset_date"),
        diagnosis_date: c.get("diagnosis_date"),
        symptoms: serde_json::from_str(c.get::<&str, _>("symptoms")).unwrap_or_default(),
        reporting_doctor: c.get("reporting_doctor"),
        reporting_institution: c.get("reporting_institution"),
        occupation: c.get("occupation"),
        free_text: c.get("free_text"),
        place_of_stay,
        place_of_stay_history,
        tests,
        entered_by: c.get("entered_by"),
        entered_at: c.get("entered_at"),
        confirmation,
        status,
        status_history,
        medical,
        observations: observations(pool, case_id).await?,
        contacts,
        assignment: assignment(pool, case_id).await?,
        locked_by: c.get("locked_by"),
        supersedes: c.get("supersedes"),
        owner: c.get("owner"),
        pending_transfer: c.get("pending_transfer"),
        reporting_centre: c.get("reporting_centre"),
        alert: c.get("alert"),
    }))
}

/// Loads the follow-up view of a case.
pub async fn load_follow_up(
    pool: &SqlitePool,
    case_id: &str,
    today: Date,
) -> Result<Option<FollowUpView>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT c.id, p.name, p.name_kana, p.sex, p.date_of_birth, p.phone, c.status \
         FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.id = ?",
    )
    .bind(case_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(FollowUpView {
        id: row.get(0),
        name: row.get(1),
        name_kana: row.get(2),
        sex: row.get(3),
        age: age(row.get(4), today),
        phone: row.get(5),
        status: row.get(6),
        assignment: assignment(pool, case_id).await?,
        observations: observations(pool, case_id).await?,
    }))
}

/// Filters for the case list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub diagnosis_class: Option<String>,
    pub confirmed: Option<bool>,
    pub municipality_code: Option<String>,
    /// Only cases notified by this institution (medical users).
    pub reporting_institution: Option<String>,
    /// Only cases assigned today to this organisation with one of these kinds.
    pub assigned_to: Option<(String, Vec<&'static str>, String)>,
    /// Only cases with an alert.
    pub alert: bool,
    /// Only cases whose place of stay is outside these municipalities (the
    /// ones this centre serves): they belong to another centre.
    pub outside: Option<Vec<String>>,
    /// Cases with ids below this one (ids are time-ordered: older cases).
    pub before: Option<String>,
    pub limit: u32,
}

pub struct ListedCase {
    pub summary: CaseSummary,
    pub person_id: String,
}

/// Newest first; one query.
pub async fn list_cases(
    pool: &SqlitePool,
    filter: &CaseFilter,
    today: Date,
) -> Result<Vec<ListedCase>, sqlx::Error> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT c.id, p.name, p.name_kana, p.sex, p.date_of_birth, c.disease, c.diagnosis_class, c.status, \
         c.municipality_code, c.reporting_institution, c.entered_at, c.confirmed_at IS NOT NULL, c.locked_by IS NOT NULL, p.id, c.owner, c.alert \
         FROM cases c JOIN persons p ON p.id = c.person_id",
    );
    if filter.assigned_to.is_some() {
        q.push(" JOIN assignments a ON a.case_id = c.id");
    }
    q.push(" WHERE 1=1");
    if let Some(status) = &filter.status {
        q.push(" AND c.status = ").push_bind(status.clone());
    }
    if let Some(class) = &filter.diagnosis_class {
        q.push(" AND c.diagnosis_class = ").push_bind(class.clone());
    }
    if let Some(confirmed) = filter.confirmed {
        q.push(if confirmed {
            " AND c.confirmed_at IS NOT NULL"
        } else {
            " AND c.confirmed_at IS NULL"
        });
    }
    if let Some(code) = &filter.municipality_code {
        q.push(" AND c.municipality_code = ")
            .push_bind(code.clone());
    }
    if let Some(institution) = &filter.reporting_institution {
        q.push(" AND c.reporting_institution = ")
            .push_bind(institution.clone());
    }
    if let Some((org, kinds, today_s)) = &filter.assigned_to {
        q.push(" AND a.organisation = ").push_bind(org.clone());
        q.push(" AND a.kind IN (");
        let mut sep = q.separated(", ");
        for kind in kinds {
            sep.push_bind(*kind);
        }
        q.push(") AND a.from_date <= ").push_bind(today_s.clone());
        q.push(" AND (a.until_date IS NULL OR a.until_date >= ")
            .push_bind(today_s.clone())
            .push(")");
    }
    if filter.alert {
        q.push(" AND c.alert IS NOT NULL");
    }
    if let Some(served) = &filter.outside {
        q.push(" AND c.owner IS NULL AND c.municipality_code NOT IN (");
        let mut sep = q.separated(", ");
        for code in served {
            sep.push_bind(code.clone());
        }
        q.push(")");
    }
    if let Some(before) = &filter.before {
        q.push(" AND c.id < ").push_bind(before.clone());
    }
    q.push(" ORDER BY c.id DESC LIMIT ")
        .push_bind(filter.limit as i64);
    let rows = q.build().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| ListedCase {
            summary: CaseSummary {
                id: r.get(0),
                name: r.get(1),
                name_kana: r.get(2),
                sex: r.get(3),
                age: age(r.get(4), today),
                disease: r.get(5),
                diagnosis_class: r.get(6),
                status: r.get(7),
                municipality_code: r.get(8),
                reporting_institution: r.get(9),
                entered_at: r.get(10),
                confirmed: r.get(11),
                locked: r.get(12),
                owner: r.get(14),
                belongs_elsewhere: None,
                alert: r.get(15),
            },
            person_id: r.get(13),
        })
        .collect())
}

impl From<&CaseSummary> for FollowUpSummary {
    fn from(s: &CaseSummary) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            name_kana: s.name_kana.clone(),
            sex: s.sex.clone(),
            age: s.age,
            status: s.status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_view_has_exactly_the_declared_fields() {
        let view = FollowUpView {
            id: "c".into(),
            name: "n".into(),
            name_kana: "k".into(),
            sex: "female".into(),
            age: 40,
            phone: None,
            status: "home".into(),
            assignment: None,
            observations: vec![],
        };
        let json = serde_json::to_value(&view).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut declared = FOLLOW_UP_FIELDS.to_vec();
        declared.sort_unstable();
        assert_eq!(keys, declared);
    }
}
