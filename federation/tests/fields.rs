//! Data minimisation, enforced: every message type carries exactly the
//! fields docs/federation-fields.md declares for it.

use std::collections::{BTreeMap, BTreeSet};

use renkei_federation::wire::*;
use serde_json::Value;
use uuid::Uuid;

fn medical() -> TransferredMedical {
    TransferredMedical {
        hospital: Some("h".into()),
        admitted_on: Some("d".into()),
        discharged_on: Some("d".into()),
        icu: true,
        ventilator: true,
        ecmo: true,
    }
}

fn observation() -> TransferredObservation {
    TransferredObservation {
        observed_at: "t".into(),
        temperature: Some(37.0),
        spo2: Some(95),
        symptoms: vec!["fever".into()],
    }
}

fn contact() -> TransferredContact {
    TransferredContact {
        name: "n".into(),
        name_kana: Some("k".into()),
        phone: Some("p".into()),
        municipality_code: Some("m".into()),
        relation: Some("r".into()),
        last_exposure_on: Some("d".into()),
    }
}

/// One message of every type, with every optional field present.
fn samples() -> Vec<Body> {
    let id = Uuid::nil();
    vec![
        Body::StatutoryReport(StatutoryReport {
            case_id: id,
            revision: 1,
            disease: "d".into(),
            diagnosis_class: "c".into(),
            sex: "s".into(),
            age: 1,
            municipality_code: "m".into(),
            reporting_centre: "r".into(),
            responsible_centre: "r".into(),
            onset_date: Some(1),
            diagnosis_date: Some(1),
            report_date: 1,
            tests: TestsSummary {
                positive: 1,
                negative: 0,
                other: 0,
                methods: vec!["pcr".into()],
            },
            status: "s".into(),
            hospitalised: true,
            severe: true,
            deceased: true,
            withdrawn: true,
        }),
        Body::TransferOffer(Box::new(TransferOffer {
            transfer_id: id,
            reason: Some("r".into()),
            case: TransferredCase {
                case_id: id,
                revision: 1,
                person_key: Some(vec![1]),
                name: "n".into(),
                name_kana: "k".into(),
                sex: "s".into(),
                date_of_birth: "d".into(),
                phone: Some("p".into()),
                disease: "d".into(),
                diagnosis_class: "c".into(),
                class_reports: vec![("c".into(), "d".into())],
                onset_date: Some("d".into()),
                diagnosis_date: Some("d".into()),
                symptoms: vec!["fever".into()],
                reporting_centre: "r".into(),
                reporting_institution: Some("i".into()),
                municipality_code: "m".into(),
                address: "a".into(),
                status: "s".into(),
                confirmed: true,
                tests: vec![TransferredTest {
                    method: "m".into(),
                    specimen: "s".into(),
                    collected_on: "d".into(),
                    result: "r".into(),
                }],
                medical: Some(medical()),
                observations: vec![observation()],
                contacts: vec![contact()],
            },
        })),
        Body::TransferAnswer(TransferAnswer {
            transfer_id: id,
            accepted: true,
            reason: Some("r".into()),
        }),
        Body::TransferOutcome(TransferOutcome {
            transfer_id: id,
            completed: true,
        }),
        Body::ForwardedObservation(ForwardedObservation {
            case_id: id,
            observation: observation(),
        }),
        Body::ContactReferral(ContactReferral {
            referral_id: id,
            index_link: "l".into(),
            contact: contact(),
        }),
        Body::ShareData(Box::new(ShareData {
            share_id: id,
            purpose: "p".into(),
            case_id: id,
            revision: 1,
            name: "n".into(),
            name_kana: "k".into(),
            sex: "s".into(),
            age: 1,
            phone: Some("p".into()),
            municipality_code: "m".into(),
            address: Some("a".into()),
            diagnosis_class: "c".into(),
            status: "s".into(),
            medical: Some(medical()),
        })),
        Body::ShareRevoke(ShareRevoke { share_id: id }),
        Body::ShareViewed(ShareViewed {
            share_id: id,
            viewer: "v".into(),
            viewer_role: "r".into(),
            viewed_at: "t".into(),
        }),
    ]
}

fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    Value::Object(_) | Value::Array(_) => paths(v, &p, out),
                    _ => {
                        out.insert(p);
                    }
                }
            }
        }
        Value::Array(items) => {
            let p = format!("{prefix}[]");
            if items.iter().all(|i| !i.is_object() && !i.is_array()) {
                out.insert(p.clone());
            }
            for item in items {
                paths(item, &p, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn declared() -> BTreeMap<String, BTreeSet<String>> {
    let doc = include_str!("../../docs/federation-fields.md");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut section = None;
    for line in doc.lines() {
        if line.starts_with("# Who may send what") {
            break; // the authority rules follow, not fields
        }
        if let Some(name) = line.strip_prefix("## ") {
            section = Some(name.trim().to_string());
        } else if let (Some(s), Some(rest)) = (&section, line.strip_prefix("| `")) {
            let field = rest.split('`').next().unwrap();
            out.entry(s.clone()).or_default().insert(field.to_string());
        }
    }
    out
}

#[test]
fn every_message_carries_exactly_its_declared_fields() {
    let declared = declared();
    let mut seen = BTreeSet::new();
    for body in samples() {
        let json = serde_json::to_value(&body).unwrap();
        let (name, inner) = json.as_object().unwrap().iter().next().unwrap();
        let mut actual = BTreeSet::new();
        paths(inner, "", &mut actual);
        // Each message's nested groups only list their leaves; a list of
        // lists (class_reports) lists both levels.
        let listed = declared
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in docs/federation-fields.md"));
        let undeclared: Vec<_> = actual.difference(listed).collect();
        let gone: Vec<_> = listed
            .iter()
            .filter(|f| {
                !actual.contains(*f) && !actual.iter().any(|a| a.starts_with(&format!("{f}[]")))
            })
            .collect();
        assert!(
            undeclared.is_empty(),
            "{name} carries fields docs/federation-fields.md does not declare: {undeclared:?}"
        );
        assert!(
            gone.is_empty(),
            "{name}: declared fields that are not on the wire: {gone:?}"
        );
        seen.insert(name.clone());
    }
    let documented: BTreeSet<String> = declared.keys().cloned().collect();
    assert_eq!(
        seen, documented,
        "every documented message type has a sample, and every sample is documented"
    );
}

#[test]
fn the_statutory_report_carries_no_identity() {
    let json = serde_json::to_value(&samples()[0]).unwrap();
    let mut fields = BTreeSet::new();
    paths(&json["StatutoryReport"], "", &mut fields);
    for forbidden in [
        "name",
        "name_kana",
        "address",
        "phone",
        "date_of_birth",
        "free_text",
        "person_key",
    ] {
        assert!(
            !fields.iter().any(|f| f
                .split('.')
                .any(|part| part.trim_end_matches("[]") == forbidden)),
            "{forbidden}"
        );
    }
}

#[test]
fn every_authority_rule_is_documented_and_every_documented_rule_exists() {
    let doc = include_str!("../../docs/federation-fields.md");
    let table = doc
        .split("# Who may send what")
        .nth(1)
        .expect("the authority section");
    let documented: BTreeSet<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|rest| rest.split('`').next().unwrap())
        .collect();
    let coded: BTreeSet<&str> = renkei_federation::authority::Rule::ALL
        .iter()
        .map(|r| r.code())
        .collect();
    assert_eq!(documented, coded);
}
