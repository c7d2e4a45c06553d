//! Request bodies for case endpoints, and their validation into commands.
//! Every rule here names the field it refuses.

use serde::Deserialize;
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::command::{
    Assignment, Contact, Medical, NewCase, NewPerson, NotificationDetails, Observation, TestRecord,
};
use crate::domain::{
    AssignmentKind, CaseStatus, DiagnosisClass, FieldError, Sex, Specimen, Symptom, TestMethod,
    TestResult, check_date_of_birth, check_kana, check_len, check_not_future, check_optional_text,
    check_phone, check_text, disease,
};
use crate::municipality;

/// The most tests one request may carry.
pub const MAX_TESTS: usize = 20;
pub const MAX_SYMPTOMS: usize = 20;

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOfStayInput {
    /// The local government code (JIS X 0402, six digits with check digit).
    #[schema(pattern = "^[0-9]{6}$")]
    pub municipality_code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub address: String,
}

impl PlaceOfStayInput {
    pub fn check(&self, prefix: &str) -> Result<(), FieldError> {
        municipality::validate(&self.municipality_code)
            .map_err(|m| FieldError::new(format!("{prefix}municipality_code"), m))?;
        check_text(&format!("{prefix}address"), &self.address, 200)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    pub method: TestMethod,
    pub specimen: Specimen,
    pub collected_on: Date,
    pub result: TestResult,
}

fn check_tests(
    tests: &[TestInput],
    dob: Option<Date>,
    today: Date,
    required: bool,
) -> Result<Vec<TestRecord>, FieldError> {
    if required && tests.is_empty() {
        return Err(FieldError::new(
            "tests",
            "at least one test is needed (the diagnosis method)",
        ));
    }
    check_len("tests", tests, MAX_TESTS)?;
    tests
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let field = format!("tests[{i}].collected_on");
            check_not_future(&field, t.collected_on, today)?;
            if dob.is_some_and(|dob| t.collected_on < dob) {
                return Err(FieldError::new(field, "is before the date of birth"));
            }
            Ok(TestRecord {
                id: new_id(),
                method: t.method,
                specimen: t.specimen,
                collected_on: t.collected_on,
                result: t.result,
            })
        })
        .collect()
}

fn check_symptoms(field: &str, symptoms: &[Symptom]) -> Result<(), FieldError> {
    check_len(field, symptoms, MAX_SYMPTOMS)?;
    for (i, s) in symptoms.iter().enumerate() {
        if symptoms[..i].contains(s) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("`{s}` is listed twice"),
            ));
        }
    }
    Ok(())
}

/// Notification details that may be sent with the first six fields or later.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailsInput {
    pub onset_date: Option<Date>,
    pub diagnosis_date: Option<Date>,
    /// Each at most once.
    #[schema(max_items = 20)]
    pub symptoms: Option<Vec<Symptom>>,
    #[schema(max_length = 100)]
    pub reporting_doctor: Option<String>,
    #[schema(max_length = 100)]
    pub reporting_institution: Option<String>,
    #[schema(max_length = 100)]
    pub occupation: Option<String>,
    #[schema(max_length = 2000)]
    pub free_text: Option<String>,
}

impl DetailsInput {
    fn check(self, dob: Date, today: Date) -> Result<NotificationDetails, FieldError> {
        for (field, date) in [
            ("onset_date", self.onset_date),
            ("diagnosis_date", self.diagnosis_date),
        ] {
            if let Some(date) = date {
                check_not_future(field, date, today)?;
                if date < dob {
                    return Err(FieldError::new(
                        "date_of_birth",
                        format!("is after the {field} ({date})"),
                    ));
                }
            }
        }
        if let (Some(onset), Some(diagnosis)) = (self.onset_date, self.diagnosis_date)
            && onset > diagnosis
        {
            return Err(FieldError::new("onset_date", "is after the diagnosis date"));
        }
        if let Some(symptoms) = &self.symptoms {
            check_symptoms("symptoms", symptoms)?;
        }
        for (field, value, max) in [
            ("reporting_doctor", &self.reporting_doctor, 100),
            ("reporting_institution", &self.reporting_institution, 100),
            ("occupation", &self.occupation, 100),
            ("free_text", &self.free_text, 2000),
        ] {
            if let Some(value) = value {
                check_optional_text(field, value, max)?;
            }
        }
        Ok(NotificationDetails {
            onset_date: self.onset_date,
            diagnosis_date: self.diagnosis_date,
            symptoms: self.symptoms,
            reporting_doctor: self.reporting_doctor,
            reporting_institution: self.reporting_institution,
            occupation: self.occupation,
            free_text: self.free_text,
        })
    }
}

/// 発生届: the six minimum fields (class, name, sex, date of birth, place of
/// stay, tests) and optionally the rest.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRequest {
    #[schema(schema_with = crate::domain::disease_schema)]
    pub disease: String,
    pub diagnosis_class: DiagnosisClass,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Full-width katakana.
    #[schema(min_length = 1, max_length = 100)]
    pub name_kana: String,
    pub sex: Sex,
    pub date_of_birth: Date,
    pub place_of_stay: PlaceOfStayInput,
    /// At least one: the diagnosis method.
    #[schema(min_items = 1, max_items = 20)]
    pub tests: Vec<TestInput>,
    /// The current status; defaults to `awaiting_decision`.
    pub status: Option<CaseStatus>,
    /// 6 to 15 digits, with optional hyphens and a leading plus.
    #[schema(max_length = 20)]
    pub phone: Option<String>,
    pub onset_date: Option<Date>,
    pub diagnosis_date: Option<Date>,
    /// Each at most once.
    #[schema(max_items = 20)]
    pub symptoms: Option<Vec<Symptom>>,
    #[schema(max_length = 100)]
    pub reporting_doctor: Option<String>,
    #[schema(max_length = 100)]
    pub reporting_institution: Option<String>,
    #[schema(max_length = 100)]
    pub occupation: Option<String>,
    #[schema(max_length = 2000)]
    pub free_text: Option<String>,
}

fn check_disease_class(
    disease_id: &str,
    class: DiagnosisClass,
    status: CaseStatus,
) -> Result<(), FieldError> {
    let d = disease(disease_id).ok_or_else(|| {
        FieldError::new(
            "disease",
            format!("`{disease_id}` is not a notifiable disease this node knows"),
        )
    })?;
    if !d.classes.contains(&class) {
        return Err(FieldError::new(
            "diagnosis_class",
            format!("`{class}` is not a class of {}", d.name_en),
        ));
    }
    // Q&A Q10-2: suspected cases are registered only when hospitalised.
    if class == DiagnosisClass::Suspected && status != CaseStatus::Hospitalised {
        return Err(FieldError::new(
            "diagnosis_class",
            "a suspected case is registered only when hospitalised: set status to `hospitalised`",
        ));
    }
    Ok(())
}

impl NotificationRequest {
    /// Validates the notification into a new case. `institution` is the
    /// notifying medical user's organisation, which the case records.
    pub fn into_new_case(
        self,
        today: Date,
        institution: Option<&str>,
    ) -> Result<NewCase, FieldError> {
        let status = self.status.unwrap_or(CaseStatus::AwaitingDecision);
        check_disease_class(&self.disease, self.diagnosis_class, status)?;
        check_text("name", &self.name, 100)?;
        check_kana("name_kana", &self.name_kana)?;
        check_date_of_birth("date_of_birth", self.date_of_birth, today)?;
        if let Some(phone) = &self.phone {
            check_phone("phone", phone)?;
        }
        self.place_of_stay.check("place_of_stay.")?;
        let tests = check_tests(&self.tests, Some(self.date_of_birth), today, true)?;
        if let Some(institution) = institution
            && self
                .reporting_institution
                .as_deref()
                .is_some_and(|r| r != institution)
        {
            return Err(FieldError::new(
                "reporting_institution",
                "must be your own institution",
            ));
        }
        let details = DetailsInput {
            onset_date: self.onset_date,
            diagnosis_date: self.diagnosis_date,
            symptoms: self.symptoms,
            reporting_doctor: self.reporting_doctor,
            reporting_institution: institution
                .map(str::to_string)
                .or(self.reporting_institution),
            occupation: self.occupation,
            free_text: self.free_text,
        }
        .check(self.date_of_birth, today)?;
        Ok(NewCase {
            case_id: new_id(),
            person_id: new_id(),
            person: Some(NewPerson {
                person_key: None,
                name: self.name,
                name_kana: self.name_kana,
                sex: self.sex,
                date_of_birth: self.date_of_birth,
                phone: self.phone,
            }),
            disease: self.disease,
            diagnosis_class: self.diagnosis_class,
            municipality_code: self.place_of_stay.municipality_code,
            address: self.place_of_stay.address,
            status,
            tests,
            details,
            reported_on: today,
            supersedes: None,
        })
    }
}

/// PATCH of a notification: details added later, or a change of class.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationPatch {
    pub diagnosis_class: Option<DiagnosisClass>,
    pub onset_date: Option<Date>,
    pub diagnosis_date: Option<Date>,
    /// Each at most once.
    #[schema(max_items = 20)]
    pub symptoms: Option<Vec<Symptom>>,
    #[schema(max_length = 100)]
    pub reporting_doctor: Option<String>,
    #[schema(max_length = 100)]
    pub reporting_institution: Option<String>,
    #[schema(max_length = 100)]
    pub occupation: Option<String>,
    #[schema(max_length = 2000)]
    pub free_text: Option<String>,
}

impl NotificationPatch {
    pub fn check(
        self,
        dob: Date,
        today: Date,
        disease_id: &str,
        status: CaseStatus,
    ) -> Result<(Option<DiagnosisClass>, NotificationDetails), FieldError> {
        if let Some(class) = self.diagnosis_class {
            check_disease_class(disease_id, class, status)?;
        }
        let details = DetailsInput {
            onset_date: self.onset_date,
            diagnosis_date: self.diagnosis_date,
            symptoms: self.symptoms,
            reporting_doctor: self.reporting_doctor,
            reporting_institution: self.reporting_institution,
            occupation: self.occupation,
            free_text: self.free_text,
        };
        Ok((self.diagnosis_class, details.check(dob, today)?))
    }
}

/// An additional registration: a new notification of the same person that
/// supersedes (and locks) this one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdditionalRegistrationRequest {
    pub diagnosis_class: DiagnosisClass,
    #[schema(min_items = 1, max_items = 20)]
    pub tests: Vec<TestInput>,
    pub status: Option<CaseStatus>,
    pub onset_date: Option<Date>,
    pub diagnosis_date: Option<Date>,
    #[schema(max_items = 20)]
    pub symptoms: Option<Vec<Symptom>>,
    #[schema(max_length = 100)]
    pub reporting_doctor: Option<String>,
    #[schema(max_length = 2000)]
    pub free_text: Option<String>,
}

pub struct EarlierCase<'a> {
    pub case_id: &'a str,
    pub person_id: &'a str,
    pub disease: &'a str,
    pub date_of_birth: Date,
    pub municipality_code: &'a str,
    pub address: &'a str,
    pub reporting_institution: Option<&'a str>,
}

impl AdditionalRegistrationRequest {
    pub fn into_new_case(
        self,
        earlier: &EarlierCase<'_>,
        today: Date,
    ) -> Result<NewCase, FieldError> {
        let status = self.status.unwrap_or(CaseStatus::AwaitingDecision);
        check_disease_class(earlier.disease, self.diagnosis_class, status)?;
        let tests = check_tests(&self.tests, Some(earlier.date_of_birth), today, true)?;
        let details = DetailsInput {
            onset_date: self.onset_date,
            diagnosis_date: self.diagnosis_date,
            symptoms: self.symptoms,
            reporting_doctor: self.reporting_doctor,
            reporting_institution: earlier.reporting_institution.map(str::to_string),
            occupation: None,
            free_text: self.free_text,
        }
        .check(earlier.date_of_birth, today)?;
        Ok(NewCase {
            case_id: new_id(),
            person_id: earlier.person_id.to_string(),
            person: None,
            disease: earlier.disease.to_string(),
            diagnosis_class: self.diagnosis_class,
            municipality_code: earlier.municipality_code.to_string(),
            address: earlier.address.to_string(),
            status,
            tests,
            details,
            reported_on: today,
            supersedes: Some(earlier.case_id.to_string()),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestsRequest {
    #[schema(min_items = 1, max_items = 20)]
    pub tests: Vec<TestInput>,
}

impl TestsRequest {
    pub fn check(&self, dob: Date, today: Date) -> Result<Vec<TestRecord>, FieldError> {
        check_tests(&self.tests, Some(dob), today, true)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub status: CaseStatus,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationRequest {
    /// When the observation was taken; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub observed_at: Option<OffsetDateTime>,
    /// °C.
    #[schema(minimum = 30.0, maximum = 45.0)]
    pub temperature: Option<f64>,
    /// Per cent.
    #[schema(minimum = 50, maximum = 100)]
    pub spo2: Option<u8>,
    /// Each at most once.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub symptoms: Vec<Symptom>,
}

impl ObservationRequest {
    pub fn check(self, now: OffsetDateTime, role: &str) -> Result<Observation, FieldError> {
        if self.temperature.is_none() && self.spo2.is_none() && self.symptoms.is_empty() {
            return Err(FieldError::new(
                "body",
                "give at least one of temperature, spo2 or symptoms",
            ));
        }
        if let Some(t) = self.temperature
            && !(30.0..=45.0).contains(&t)
        {
            return Err(FieldError::new(
                "temperature",
                format!("{t} °C is outside 30.0–45.0"),
            ));
        }
        if let Some(s) = self.spo2
            && !(50..=100).contains(&s)
        {
            return Err(FieldError::new("spo2", format!("{s}% is outside 50–100")));
        }
        check_symptoms("symptoms", &self.symptoms)?;
        let observed_at = self.observed_at.unwrap_or(now);
        if observed_at > now + time::Duration::minutes(5) {
            return Err(FieldError::new("observed_at", "is in the future"));
        }
        if observed_at < now - time::Duration::days(30) {
            return Err(FieldError::new("observed_at", "is more than 30 days ago"));
        }
        Ok(Observation {
            id: new_id(),
            observed_at,
            temperature: self.temperature.map(|t| (t * 10.0).round() / 10.0),
            spo2: self.spo2,
            symptoms: self.symptoms,
            entered_role: role.to_string(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Full-width katakana.
    #[schema(min_length = 1, max_length = 100)]
    pub name_kana: Option<String>,
    /// 6 to 15 digits, with optional hyphens and a leading plus.
    #[schema(max_length = 20)]
    pub phone: Option<String>,
    #[schema(pattern = "^[0-9]{6}$")]
    pub municipality_code: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub relation: Option<String>,
    pub last_exposure_on: Option<Date>,
}

impl ContactRequest {
    pub fn check(self, today: Date) -> Result<Contact, FieldError> {
        check_text("name", &self.name, 100)?;
        if let Some(kana) = &self.name_kana {
            check_kana("name_kana", kana)?;
        }
        if let Some(phone) = &self.phone {
            check_phone("phone", phone)?;
        }
        if let Some(code) = &self.municipality_code {
            municipality::validate(code).map_err(|m| FieldError::new("municipality_code", m))?;
        }
        if let Some(relation) = &self.relation {
            check_text("relation", relation, 100)?;
        }
        if let Some(date) = self.last_exposure_on {
            check_not_future("last_exposure_on", date, today)?;
        }
        Ok(Contact {
            id: new_id(),
            name: self.name,
            name_kana: self.name_kana,
            phone: self.phone,
            municipality_code: self.municipality_code,
            relation: self.relation,
            last_exposure_on: self.last_exposure_on,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicalRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub hospital: Option<String>,
    pub admitted_on: Option<Date>,
    pub discharged_on: Option<Date>,
    #[serde(default)]
    pub icu: bool,
    #[serde(default)]
    pub ventilator: bool,
    #[serde(default)]
    pub ecmo: bool,
}

impl MedicalRequest {
    pub fn check(self, today: Date) -> Result<Medical, FieldError> {
        if let Some(h) = &self.hospital {
            check_text("hospital", h, 200)?;
        }
        for (field, date) in [
            ("admitted_on", self.admitted_on),
            ("discharged_on", self.discharged_on),
        ] {
            if let Some(date) = date {
                check_not_future(field, date, today)?;
            }
        }
        match (self.admitted_on, self.discharged_on) {
            (None, Some(_)) => {
                return Err(FieldError::new("discharged_on", "needs an admission date"));
            }
            (Some(a), Some(d)) if d < a => {
                return Err(FieldError::new(
                    "discharged_on",
                    "is before the admission date",
                ));
            }
            _ => {}
        }
        Ok(Medical {
            hospital: self.hospital,
            admitted_on: self.admitted_on,
            discharged_on: self.discharged_on,
            icu: self.icu,
            ventilator: self.ventilator,
            ecmo: self.ecmo,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    pub kind: AssignmentKind,
    #[schema(min_length = 1, max_length = 100)]
    pub organisation: String,
    pub from_date: Date,
    pub until_date: Option<Date>,
}

impl AssignmentRequest {
    pub fn check(self) -> Result<Assignment, FieldError> {
        check_text("organisation", &self.organisation, 100)?;
        if self.until_date.is_some_and(|u| u < self.from_date) {
            return Err(FieldError::new("until_date", "is before from_date"));
        }
        Ok(Assignment {
            kind: self.kind,
            organisation: self.organisation,
            from_date: self.from_date,
            until_date: self.until_date,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOfStayRequest {
    /// The local government code (JIS X 0402, six digits with check digit).
    #[schema(pattern = "^[0-9]{6}$")]
    pub municipality_code: String,
    #[schema(min_length = 1, max_length = 200)]
    pub address: String,
}

impl PlaceOfStayRequest {
    pub fn check(&self) -> Result<(), FieldError> {
        PlaceOfStayInput {
            municipality_code: self.municipality_code.clone(),
            address: self.address.clone(),
        }
        .check("")
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The current status must be set at confirmation (Q&A Q14-3).
    pub status: CaseStatus,
}
