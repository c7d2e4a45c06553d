//! Test support for fuzzing the wire on stable Rust: proptest strategies for
//! every wire struct and a runner that reports how many cases it tried.
//! Compiled only with the `fuzzing` feature, which only tests turn on.
//!
//! Strings are a mix of values a real node sends (so validation gets past
//! its first check) and arbitrary Unicode (so it sees what an attacker
//! might send); numbers are arbitrary, dates both well-formed and not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, FileFailurePersistence, TestError, TestRunner};
use uuid::Uuid;

use crate::wire::*;

/// A string that is one of `samples` most of the time, else anything. The
/// first sample of each list is valid at a node, so a whole message is
/// often valid and the checks after the first are reached.
fn text(samples: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just(samples[0].to_string()),
        4 => select(samples).prop_map(String::from),
        1 => "[a-z0-9_-]{0,16}",
        1 => any::<String>(),
    ]
    .boxed()
}

fn free_text() -> BoxedStrategy<String> {
    text(&["発熱", "", "都立病院", "家族", "x"])
}

fn node_id() -> BoxedStrategy<String> {
    text(&[
        "hc-13103", "national", "hc-13104", "hc-13112", "HC-1", "-bad",
    ])
}

fn disease() -> BoxedStrategy<String> {
    text(&["covid-19", "influenza", "measles"])
}

fn class() -> BoxedStrategy<String> {
    text(&["confirmed", "suspected", "asymptomatic_carrier", "deceased"])
}

fn sex() -> BoxedStrategy<String> {
    text(&["female", "male", "other", "unknown"])
}

fn status() -> BoxedStrategy<String> {
    text(&["home", "hospitalised", "released", "deceased", "hotel"])
}

fn municipality() -> BoxedStrategy<String> {
    text(&["131032", "131041", "131121", "131030", "000000", "13103"])
}

fn kana() -> BoxedStrategy<String> {
    text(&["ヤマダ タロウ", "シケン", "やまだ", "ｶﾀｶﾅ"])
}

/// `YYYY-MM-DD`, mostly real, sometimes impossible (month 13, day 0).
fn date_text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (1900i32..2100, 1u8..=12, 1u8..=28)
            .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        1 => (1900i32..2100, 0u8..14, 0u8..33)
            .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        1 => any::<String>(),
    ]
    .boxed()
}

/// An RFC 3339 instant, mostly plausible.
fn instant_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (date_text(), 0u8..25, 0u8..61)
            .prop_map(|(d, h, m)| format!("{d}T{h:02}:{m:02}:00Z")),
        1 => any::<String>(),
    ]
    .boxed()
}

/// A `yyyymmdd` calendar date, mostly real.
fn wire_date() -> BoxedStrategy<WireDate> {
    prop_oneof![
        8 => (1900u32..2100, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| y * 10_000 + m * 100 + d),
        1 => (1900u32..2100, 0u32..14, 0u32..33).prop_map(|(y, m, d)| y * 10_000 + m * 100 + d),
        1 => any::<u32>(),
    ]
    .boxed()
}

/// An age in years, mostly plausible.
fn age() -> BoxedStrategy<u8> {
    prop_oneof![4 => 0u8..=110, 1 => any::<u8>()].boxed()
}

fn uuid() -> BoxedStrategy<Uuid> {
    prop_oneof![any::<u128>().prop_map(Uuid::from_u128), Just(Uuid::nil())].boxed()
}

fn temperature() -> BoxedStrategy<f64> {
    prop_oneof![3 => 34.0f64..42.0, 1 => any::<f64>()].boxed()
}

pub fn tests_summary() -> impl Strategy<Value = TestsSummary> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        vec(text(&["pcr", "antigen", "lamp"]), 0..4),
    )
        .prop_map(|(positive, negative, other, methods)| TestsSummary {
            positive,
            negative,
            other,
            methods,
        })
}

pub fn statutory_report() -> impl Strategy<Value = StatutoryReport> {
    (
        (uuid(), any::<u32>(), disease(), class(), sex(), age()),
        (municipality(), node_id(), node_id()),
        (
            option::of(wire_date()),
            option::of(wire_date()),
            wire_date(),
        ),
        (tests_summary(), status(), any::<[bool; 4]>()),
    )
        .prop_map(
            |(
                (case_id, revision, disease, diagnosis_class, sex, age),
                (municipality_code, reporting_centre, responsible_centre),
                (onset_date, diagnosis_date, report_date),
                (tests, status, [hospitalised, severe, deceased, withdrawn]),
            )| StatutoryReport {
                case_id,
                revision,
                disease,
                diagnosis_class,
                sex,
                age,
                municipality_code,
                reporting_centre,
                responsible_centre,
                onset_date,
                diagnosis_date,
                report_date,
                tests,
                status,
                hospitalised,
                severe,
                deceased,
                withdrawn,
            },
        )
}

pub fn transferred_test() -> impl Strategy<Value = TransferredTest> {
    (
        text(&["pcr", "antigen"]),
        text(&["nasal", "saliva"]),
        date_text(),
        text(&["positive", "negative", "pending"]),
    )
        .prop_map(|(method, specimen, collected_on, result)| TransferredTest {
            method,
            specimen,
            collected_on,
            result,
        })
}

pub fn transferred_medical() -> impl Strategy<Value = TransferredMedical> {
    (
        option::of(free_text()),
        option::of(date_text()),
        option::of(date_text()),
        any::<[bool; 3]>(),
    )
        .prop_map(
            |(hospital, admitted_on, discharged_on, [icu, ventilator, ecmo])| TransferredMedical {
                hospital,
                admitted_on,
                discharged_on,
                icu,
                ventilator,
                ecmo,
            },
        )
}

pub fn transferred_observation() -> impl Strategy<Value = TransferredObservation> {
    (
        instant_text(),
        option::of(temperature()),
        option::of(any::<u8>()),
        vec(free_text(), 0..3),
    )
        .prop_map(
            |(observed_at, temperature, spo2, symptoms)| TransferredObservation {
                observed_at,
                temperature,
                spo2,
                symptoms,
            },
        )
}

pub fn transferred_contact() -> impl Strategy<Value = TransferredContact> {
    (
        free_text(),
        option::of(kana()),
        option::of(text(&["090-1111-2222", "03-1234-5678"])),
        option::of(municipality()),
        option::of(free_text()),
        option::of(date_text()),
    )
        .prop_map(
            |(name, name_kana, phone, municipality_code, relation, last_exposure_on)| {
                TransferredContact {
                    name,
                    name_kana,
                    phone,
                    municipality_code,
                    relation,
                    last_exposure_on,
                }
            },
        )
}

pub fn transferred_case() -> impl Strategy<Value = TransferredCase> {
    (
        (
            uuid(),
            any::<u32>(),
            option::of(vec(any::<u8>(), 0..40)),
            free_text(),
            kana(),
            sex(),
            date_text(),
            option::of(text(&["090-1111-2222"])),
        ),
        (
            disease(),
            class(),
            vec((class(), date_text()), 0..3),
            option::of(date_text()),
            option::of(date_text()),
            vec(free_text(), 0..3),
            node_id(),
            option::of(free_text()),
        ),
        (
            municipality(),
            free_text(),
            status(),
            any::<bool>(),
            vec(transferred_test(), 0..3),
            option::of(transferred_medical()),
            vec(transferred_observation(), 0..3),
            vec(transferred_contact(), 0..3),
        ),
    )
        .prop_map(
            |(
                (case_id, revision, person_key, name, name_kana, sex, date_of_birth, phone),
                (
                    disease,
                    diagnosis_class,
                    class_reports,
                    onset_date,
                    diagnosis_date,
                    symptoms,
                    reporting_centre,
                    reporting_institution,
                ),
                (
                    municipality_code,
                    address,
                    status,
                    confirmed,
                    tests,
                    medical,
                    observations,
                    contacts,
                ),
            )| TransferredCase {
                case_id,
                revision,
                person_key,
                name,
                name_kana,
                sex,
                date_of_birth,
                phone,
                disease,
                diagnosis_class,
                class_reports,
                onset_date,
                diagnosis_date,
                symptoms,
                reporting_centre,
                reporting_institution,
                municipality_code,
                address,
                status,
                confirmed,
                tests,
                medical,
                observations,
                contacts,
            },
        )
}

pub fn share_data() -> impl Strategy<Value = ShareData> {
    (
        (
            uuid(),
            text(&["hospital_bed", "contact_tracing"]),
            uuid(),
            any::<u32>(),
        ),
        (free_text(), kana(), sex(), age(), option::of(free_text())),
        (municipality(), option::of(free_text()), class(), status()),
        option::of(transferred_medical()),
    )
        .prop_map(
            |(
                (share_id, purpose, case_id, revision),
                (name, name_kana, sex, age, phone),
                (municipality_code, address, diagnosis_class, status),
                medical,
            )| ShareData {
                share_id,
                purpose,
                case_id,
                revision,
                name,
                name_kana,
                sex,
                age,
                phone,
                municipality_code,
                address,
                diagnosis_class,
                status,
                medical,
            },
        )
}

/// Every [`Body`] variant, with arbitrary field values.
pub fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        statutory_report().prop_map(Body::StatutoryReport),
        (uuid(), option::of(free_text()), transferred_case()).prop_map(
            |(transfer_id, reason, case)| Body::TransferOffer(Box::new(TransferOffer {
                transfer_id,
                reason,
                case,
            }))
        ),
        (uuid(), any::<bool>(), option::of(free_text())).prop_map(
            |(transfer_id, accepted, reason)| Body::TransferAnswer(TransferAnswer {
                transfer_id,
                accepted,
                reason,
            })
        ),
        (uuid(), any::<bool>()).prop_map(|(transfer_id, completed)| {
            Body::TransferOutcome(TransferOutcome {
                transfer_id,
                completed,
            })
        }),
        (uuid(), transferred_observation()).prop_map(|(case_id, observation)| {
            Body::ForwardedObservation(ForwardedObservation {
                case_id,
                observation,
            })
        }),
        (uuid(), free_text(), transferred_contact()).prop_map(
            |(referral_id, index_link, contact)| Body::ContactReferral(ContactReferral {
                referral_id,
                index_link,
                contact,
            })
        ),
        share_data().prop_map(|s| Body::ShareData(Box::new(s))),
        uuid().prop_map(|share_id| Body::ShareRevoke(ShareRevoke { share_id })),
        (uuid(), node_id(), text(&["staff", "admin"]), instant_text()).prop_map(
            |(share_id, viewer, viewer_role, viewed_at)| Body::ShareViewed(ShareViewed {
                share_id,
                viewer,
                viewer_role,
                viewed_at,
            })
        ),
    ]
}

/// A well-formed envelope of this protocol version.
pub fn envelope() -> impl Strategy<Value = Envelope> {
    envelope_of_version(Just(PROTOCOL_VERSION))
}

/// An envelope with the version drawn from `version`.
pub fn envelope_of_version(version: impl Strategy<Value = u16>) -> impl Strategy<Value = Envelope> {
    (version, uuid(), node_id(), node_id(), any::<i64>(), body()).prop_map(
        |(version, message_id, sender, recipient, created_at_ms, body)| Envelope {
            version,
            message_id,
            sender,
            recipient,
            created_at_ms,
            body,
        },
    )
}

pub fn refusal() -> impl Strategy<Value = Refusal> {
    select(
        &[
            Refusal::Malformed,
            Refusal::UnsupportedVersion,
            Refusal::TooLarge,
            Refusal::WrongSender,
            Refusal::WrongRecipient,
            Refusal::NotPermitted,
            Refusal::Unavailable,
            Refusal::Invalid,
            Refusal::Unauthorised,
        ][..],
    )
}

pub fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        uuid().prop_map(|message_id| Reply::Ack { message_id }),
        (option::of(uuid()), refusal(), free_text()).prop_map(|(message_id, reason, detail)| {
            Reply::Refused {
                message_id,
                reason,
                detail,
            }
        }),
    ]
}

/// One way to damage an encoded message.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Sets the byte at (index modulo length) to a value.
    Set(usize, u8),
    /// Flips one bit.
    Flip(usize, u8),
    /// Inserts a byte.
    Insert(usize, u8),
    /// Removes a byte.
    Remove(usize),
    /// Keeps only the first (index modulo length) bytes.
    Truncate(usize),
}

pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let special = prop_oneof![select(&[0u8, 1, 0x7f, 0x80, 0xff][..]), any::<u8>()];
    vec(
        prop_oneof![
            4 => (any::<usize>(), special).prop_map(|(i, v)| Mutation::Set(i, v)),
            2 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
            1 => (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
            1 => any::<usize>().prop_map(Mutation::Remove),
            1 => any::<usize>().prop_map(Mutation::Truncate),
        ],
        1..6,
    )
}

/// Applies mutations in order to a copy of `bytes`.
pub fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match *m {
            Mutation::Set(i, v) if !out.is_empty() => {
                let i = at(i, out.len());
                out[i] = v;
            }
            Mutation::Flip(i, b) if !out.is_empty() => {
                let i = at(i, out.len());
                out[i] ^= 1 << b;
            }
            Mutation::Insert(i, v) => {
                let i = at(i, out.len() + 1);
                out.insert(i, v);
            }
            Mutation::Remove(i) if !out.is_empty() => {
                let i = at(i, out.len());
                out.remove(i);
            }
            Mutation::Truncate(i) => {
                let keep = at(i, out.len() + 1);
                out.truncate(keep);
            }
            _ => {}
        }
    }
    out
}

/// How many cases a property runs: `PROPTEST_CASES` if set (the long run),
/// else `default` (the short run in every `cargo test`).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on `cases(default)` inputs from `strategy`. A failure (a
/// panic included) is shrunk to a minimal input, saved in `regressions`
/// (an absolute path; commit the file) so it is tried first on every later
/// run, and reported by panicking. Prints the count and time, so a long run
/// can be quoted.
pub fn run<S: Strategy>(
    name: &str,
    regressions: &'static str,
    default: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases: cases(default),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        // Shrinking a failure this many times is plenty for these inputs.
        max_shrink_iters: 10_000,
        ..Config::default()
    };
    let executed = AtomicU64::new(0);
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&strategy, |value| {
        executed.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    eprintln!(
        "fuzz {name}: {} cases (shrinking included) in {:.1} s",
        executed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => {
            panic!("fuzz {name} failed: {why}\nminimal input: {input:#?}")
        }
        Err(TestError::Abort(why)) => panic!("fuzz {name} aborted: {why}"),
    }
}
