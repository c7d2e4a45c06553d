//! The vocabulary of a case record: diseases, diagnosis classes, tests,
//! statuses and roles, with the validation rules from the ministry's Q&A.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, UtcOffset};

/// Japan has one time zone and no daylight saving: calendar dates in
/// records (report dates, onset, collection) are days in Japan.
pub const JAPAN: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("+09:00 is a valid offset"),
};

/// The day it is in Japan at `now`.
pub fn japan_date(now: OffsetDateTime) -> Date {
    now.to_offset(JAPAN).date()
}

/// A value that names one of a fixed set of variants, with its wire name.
pub trait WireName: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn wire_name(self) -> &'static str;
    fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.wire_name() == name)
    }
}

/// The OpenAPI schema of a [`WireName`]: a string, one of its wire names.
pub fn wire_name_schema<T: WireName>() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    string_enum_schema(T::ALL.iter().map(|v| v.wire_name()))
}

/// A string schema whose values are exactly `values`.
pub fn string_enum_schema<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// The OpenAPI schema of a disease id: one of [`DISEASES`].
pub fn disease_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    string_enum_schema(DISEASES.iter().map(|d| d.id))
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }
        impl WireName for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn wire_name(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }
        // The OpenAPI schema lists `ALL`, so the document cannot drift
        // from what the deserialiser accepts.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                wire_name_schema::<Self>()
            }
        }
        impl utoipa::ToSchema for $name {}
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.wire_name())
            }
        }
    };
}

wire_enum!(
    /// 診断類型: the diagnosis class of a notification.
    DiagnosisClass {
        /// 確定患者
        Confirmed = "confirmed",
        /// 疑似症患者: registered only when hospitalised.
        Suspected = "suspected",
        /// 無症状病原体保有者
        AsymptomaticCarrier = "asymptomatic_carrier",
        /// 感染症死亡者の死体
        Deceased = "deceased",
        /// 感染症死亡疑い者の死体
        DeceasedSuspected = "deceased_suspected",
    }
);

wire_enum!(
    Sex {
        Male = "male",
        Female = "female",
        Other = "other",
    }
);

wire_enum!(
    TestMethod {
        Pcr = "pcr",
        Lamp = "lamp",
        OtherNucleicAcid = "other_nucleic_acid",
        AntigenQuantitative = "antigen_quantitative",
        AntigenQualitative = "antigen_qualitative",
    }
);

wire_enum!(
    Specimen {
        NasopharyngealSwab = "nasopharyngeal_swab",
        NasalSwab = "nasal_swab",
        Saliva = "saliva",
        Sputum = "sputum",
        Other = "other",
    }
);

wire_enum!(
    TestResult {
        Positive = "positive",
        Negative = "negative",
        Unknown = "unknown",
    }
);

wire_enum!(
    /// 現在のステータス: where the patient is in their care.
    CaseStatus {
        AwaitingDecision = "awaiting_decision",
        AwaitingAdmission = "awaiting_admission",
        Hospitalised = "hospitalised",
        Accommodation = "accommodation",
        Home = "home",
        Released = "released",
        Deceased = "deceased",
    }
);

wire_enum!(
    Symptom {
        Fever = "fever",
        Cough = "cough",
        SoreThroat = "sore_throat",
        Fatigue = "fatigue",
        Headache = "headache",
        Dyspnoea = "dyspnoea",
        LossOfSmell = "loss_of_smell",
        LossOfTaste = "loss_of_taste",
        Diarrhoea = "diarrhoea",
        Pneumonia = "pneumonia",
        Other = "other",
    }
);

wire_enum!(
    /// Which kind of body observes a patient's health (健康観察).
    AssignmentKind {
        Centre = "centre",
        Contractor = "contractor",
        Facility = "facility",
        Midwives = "midwives",
    }
);

wire_enum!(
    /// What a user may do is decided by its role (and, for some roles, by
    /// which organisation it belongs to).
    Role {
        /// Manages users and reads the audit trail; sees no case records.
        Admin = "admin",
        /// Health-centre staff (ID type H).
        Staff = "staff",
        /// A medical institution, or one ward of it.
        Medical = "medical",
        /// A health follow-up contractor (ID type C).
        Contractor = "contractor",
        /// An accommodation facility (ID type W).
        Facility = "facility",
        /// The ministry, on the national node.
        Ministry = "ministry",
    }
);

impl Role {
    /// Roles that act for an organisation must name it.
    pub fn needs_organisation(self) -> bool {
        matches!(self, Role::Medical | Role::Contractor | Role::Facility)
    }

    /// Contractors' accounts must end: the 2023 leak came through one.
    pub fn needs_end_date(self) -> bool {
        matches!(self, Role::Contractor)
    }
}

/// One entry of the disease catalogue.
#[derive(Debug)]
pub struct Disease {
    pub id: &'static str,
    pub name_ja: &'static str,
    pub name_en: &'static str,
    /// Diagnosis classes the law defines for this disease.
    pub classes: &'static [DiagnosisClass],
}

/// The diseases this node accepts notifications for.
pub const DISEASES: &[Disease] = &[Disease {
    id: "covid-19",
    name_ja: "新型コロナウイルス感染症",
    name_en: "COVID-19",
    classes: &[
        DiagnosisClass::Confirmed,
        DiagnosisClass::Suspected,
        DiagnosisClass::AsymptomaticCarrier,
        DiagnosisClass::Deceased,
        DiagnosisClass::DeceasedSuspected,
    ],
}];

pub fn disease(id: &str) -> Option<&'static Disease> {
    DISEASES.iter().find(|d| d.id == id)
}

/// "Severe" means ICU, ventilator or ECMO (Q&A Q15).
pub fn is_severe(icu: bool, ventilator: bool, ecmo: bool) -> bool {
    icu || ventilator || ecmo
}

/// A validation failure, naming the field that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a required piece of text: trimmed non-empty, at most `max` characters,
/// no control characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    check_optional_text(field, value, max)
}

/// Like [`check_text`] but allows an empty value; newlines and tabs are allowed.
pub fn check_optional_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters long; at most {max} are allowed"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(())
}

/// A name in katakana (フリガナ): full-width katakana, the long-vowel mark,
/// the middle dot and spaces.
pub fn check_kana(field: &str, value: &str) -> Result<(), FieldError> {
    check_text(field, value, 100)?;
    let ok = value.chars().all(|c| {
        ('\u{30A1}'..='\u{30FA}').contains(&c) || matches!(c, 'ー' | '・' | ' ' | '\u{3000}')
    });
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be written in full-width katakana",
        ))
    }
}

/// A phone number: digits with optional hyphens and a leading plus.
pub fn check_phone(field: &str, value: &str) -> Result<(), FieldError> {
    let digits = value.chars().filter(|c| c.is_ascii_digit()).count();
    let ok = !value.is_empty()
        && value.len() <= 20
        && value
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == '-' || (i == 0 && c == '+'))
        && (6..=15).contains(&digits);
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be a phone number of 6 to 15 digits",
        ))
    }
}

/// A calendar date that has already happened (in Japan).
pub fn check_not_future(field: &str, date: Date, today: Date) -> Result<(), FieldError> {
    if date > today {
        return Err(FieldError::new(
            field,
            format!("{date} is in the future (today is {today} in Japan)"),
        ));
    }
    Ok(())
}

/// A date of birth: not in the future and not absurdly old.
pub fn check_date_of_birth(field: &str, date: Date, today: Date) -> Result<(), FieldError> {
    check_not_future(field, date, today)?;
    if today.year() - date.year() > 130 {
        return Err(FieldError::new(field, "is more than 130 years ago"));
    }
    Ok(())
}

/// Age in whole years on `on`.
pub fn age_on(date_of_birth: Date, on: Date) -> i32 {
    let mut age = on.year() - date_of_birth.year();
    if (on.month() as u8, on.day()) < (date_of_birth.month() as u8, date_of_birth.day()) {
        age -= 1;
    }
    age
}

/// Checks a list is not longer than `max`.
pub fn check_len<T>(field: &str, items: &[T], max: usize) -> Result<(), FieldError> {
    if items.len() > max {
        return Err(FieldError::new(
            field,
            format!("has {} entries; at most {max} are allowed", items.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn japan_date_turns_at_midnight_in_tokyo() {
        assert_eq!(
            japan_date(datetime!(2026-11-20 14:59 UTC)),
            date!(2026 - 11 - 20)
        );
        assert_eq!(
            japan_date(datetime!(2026-11-20 15:00 UTC)),
            date!(2026 - 11 - 21)
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for class in DiagnosisClass::ALL {
            assert_eq!(DiagnosisClass::from_wire(class.wire_name()), Some(*class));
        }
        assert_eq!(Role::from_wire("root"), None);
    }

    #[test]
    fn kana_accepts_katakana_only() {
        assert!(check_kana("name_kana", "ヤマダ タロウ").is_ok());
        assert!(check_kana("name_kana", "ヤマダ　ハナコ").is_ok());
        assert!(check_kana("name_kana", "やまだ").is_err());
        assert!(check_kana("name_kana", "Yamada").is_err());
        assert!(check_kana("name_kana", " ").is_err());
    }

    #[test]
    fn text_limits_count_characters_not_bytes() {
        assert!(check_text("name", &"山".repeat(100), 100).is_ok());
        let err = check_text("name", &"山".repeat(101), 100).unwrap_err();
        assert_eq!(err.field, "name");
        assert!(check_text("name", "a\u{0}b", 100).is_err());
    }

    #[test]
    fn phone_numbers() {
        assert!(check_phone("phone", "03-1234-5678").is_ok());
        assert!(check_phone("phone", "+81312345678").is_ok());
        assert!(check_phone("phone", "12").is_err());
        assert!(check_phone("phone", "03-1234-567a").is_err());
    }

    #[test]
    fn age_counts_whole_years() {
        assert_eq!(age_on(date!(1980 - 04 - 01), date!(2026 - 03 - 31)), 45);
        assert_eq!(age_on(date!(1980 - 04 - 01), date!(2026 - 04 - 01)), 46);
    }

    #[test]
    fn severity_is_icu_ventilator_or_ecmo() {
        assert!(!is_severe(false, false, false));
        assert!(is_severe(true, false, false));
        assert!(is_severe(false, false, true));
    }
}
