//! Fuzzing the inbox's validation of received messages with proptest: the
//! checks a node runs on a statutory report, a transfer offer and a contact
//! from another node, fed arbitrary wire structs. They must never panic,
//! and every refusal must say what was wrong.
//!
//! The short run is part of `cargo test`; the long run sets the number of
//! cases per property:
//! `PROPTEST_CASES=100000 cargo test -p renkei-node --release --test fuzz_inbox -- --nocapture`

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use renkei_federation::fuzzing;
use renkei_node::{between, reports};

/// Shrunk failing inputs, replayed first on every run.
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fuzz_inbox.proptest-regressions"
);

/// Counts accepted inputs, so a test can show its inputs get past the checks
/// (a generator that only ever makes garbage would test the first check alone).
static ACCEPTED: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn refusal_says_why(which: usize, outcome: Result<(), String>) -> Result<(), TestCaseError> {
    match outcome {
        Ok(()) => {
            ACCEPTED[which].fetch_add(1, Ordering::Relaxed);
        }
        Err(why) => prop_assert!(!why.trim().is_empty(), "a refusal without a reason"),
    }
    Ok(())
}

fn accepted(which: usize) -> u64 {
    let n = ACCEPTED[which].load(Ordering::Relaxed);
    eprintln!("accepted: {n}");
    n
}

#[test]
fn received_reports_are_judged_without_panicking() {
    fuzzing::run(
        "check_received",
        REGRESSIONS,
        600,
        fuzzing::statutory_report(),
        |report| refusal_says_why(0, reports::check_received(&report)),
    );
    assert!(accepted(0) > 0, "no generated report was valid");
}

#[test]
fn transfer_offers_are_judged_without_panicking() {
    fuzzing::run(
        "check_offer",
        REGRESSIONS,
        300,
        fuzzing::transferred_case(),
        |case| refusal_says_why(1, between::check_offer(&case)),
    );
    accepted(1);
}

#[test]
fn contacts_are_judged_without_panicking() {
    fuzzing::run(
        "check_contact",
        REGRESSIONS,
        600,
        fuzzing::transferred_contact(),
        |contact| refusal_says_why(2, between::check_contact(&contact)),
    );
    assert!(accepted(2) > 0, "no generated contact was valid");
}
