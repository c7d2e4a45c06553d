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
//!
//! One file per kind of exchange: `transfer.rs` and `take_over.rs`,
//! `forward.rs`, `referral.rs`, `share.rs`.

mod forward;
mod referral;
mod share;
mod take_over;
mod transfer;

pub use forward::*;
pub use referral::*;
pub use share::*;
pub use transfer::*;

use renkei_federation::wire::{
    TransferredCase, TransferredContact, TransferredMedical, TransferredObservation,
};
use sqlx::{Row, SqliteConnection};

use crate::command::ApplyError;
use crate::time_fmt;

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
    c.observations.iter().try_for_each(check_observation)?;
    c.contacts.iter().try_for_each(check_contact)
}

/// Checks a received health observation with the ranges the API applies to
/// one entered here: a finite temperature of 30.0–45.0 °C, SpO2 of 50–100 %,
/// known symptoms and an instant that parses.
pub fn check_observation(o: &TransferredObservation) -> Result<(), String> {
    use crate::domain::{Symptom, WireName};
    if let Some(t) = o.temperature
        && !(30.0..=45.0).contains(&t)
    {
        return Err(format!("temperature {t} is outside 30.0–45.0 °C"));
    }
    if let Some(s) = o.spo2
        && !(50..=100).contains(&s)
    {
        return Err(format!("spo2 {s} is outside 50–100 %"));
    }
    if o.symptoms.len() > 20 || o.symptoms.iter().any(|s| Symptom::from_wire(s).is_none()) {
        return Err("symptoms: unknown or too many".into());
    }
    time_fmt::parse_instant(&o.observed_at)
        .map(|_| ())
        .ok_or_else(|| "observed_at is not an RFC 3339 instant".into())
}

pub fn check_contact(k: &TransferredContact) -> Result<(), String> {
    crate::domain::check_text("contact.name", &k.name, 100).map_err(|e| e.to_string())?;
    if let Some(code) = &k.municipality_code {
        crate::municipality::validate(code)
            .map_err(|e| format!("contact.municipality_code: {e}"))?;
    }
    Ok(())
}

pub(super) fn conflict(message: impl Into<String>) -> ApplyError {
    ApplyError::Conflict(message.into())
}

pub(super) async fn medical(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_observations_are_held_to_the_api_ranges() {
        let ok = TransferredObservation {
            observed_at: "2026-12-01T03:00:00.000000Z".into(),
            temperature: Some(37.2),
            spo2: Some(96),
            symptoms: vec!["cough".into()],
        };
        assert_eq!(check_observation(&ok), Ok(()));
        for (bad, why) in [
            (
                TransferredObservation {
                    temperature: Some(f64::NAN),
                    ..ok.clone()
                },
                "temperature",
            ),
            (
                TransferredObservation {
                    temperature: Some(f64::INFINITY),
                    ..ok.clone()
                },
                "temperature",
            ),
            (
                TransferredObservation {
                    spo2: Some(101),
                    ..ok.clone()
                },
                "spo2",
            ),
            (
                TransferredObservation {
                    symptoms: vec!["sneezing loudly".into()],
                    ..ok.clone()
                },
                "symptoms",
            ),
            (
                TransferredObservation {
                    observed_at: "yesterday".into(),
                    ..ok.clone()
                },
                "observed_at",
            ),
        ] {
            assert!(check_observation(&bad).unwrap_err().contains(why), "{why}");
        }
    }
}
