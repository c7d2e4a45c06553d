//! Fuzzing envelope and reply decoding on stable Rust with proptest:
//! arbitrary bytes, and damaged encodings of arbitrary well-formed envelopes
//! of every body type. Decoding must never panic, must refuse oversize input
//! and other versions with the right error, and whatever it accepts must
//! re-encode to bytes that decode to the same envelope.
//!
//! The short run is part of `cargo test`; the long run sets the number of
//! cases per property:
//! `PROPTEST_CASES=1000000 cargo test -p renkei-federation --release --test fuzz_wire -- --nocapture`

use proptest::collection::vec;
use proptest::prelude::*;
use renkei_federation::fuzzing::{self, mutate, mutations};
use renkei_federation::wire::{DecodeError, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
use renkei_federation::{Envelope, Refusal, Reply};

/// Shrunk failing inputs, replayed first on every run.
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fuzz_wire.proptest-regressions"
);

/// Whatever decoding accepted re-encodes to bytes that decode to the same
/// value. Compared as encodings and as `Debug` text, because a temperature
/// may be NaN, which `PartialEq` never calls equal to itself.
fn assert_round_trips(envelope: &Envelope) -> Result<(), TestCaseError> {
    let bytes = envelope.encode();
    let again = Envelope::decode(&bytes)
        .map_err(|e| TestCaseError::fail(format!("its own encoding is refused: {e}")))?;
    prop_assert_eq!(again.encode(), bytes);
    prop_assert_eq!(format!("{again:?}"), format!("{envelope:?}"));
    Ok(())
}

/// What the envelope's leading version field says, if it can be read.
fn leading_version(bytes: &[u8]) -> Option<u16> {
    postcard::take_from_bytes::<u16>(bytes).ok().map(|(v, _)| v)
}

/// Checks one decoding of arbitrary bytes against what the bytes say.
fn check_decoding(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Envelope::decode(bytes) {
        Ok(envelope) => {
            prop_assert_eq!(envelope.version, PROTOCOL_VERSION);
            assert_round_trips(&envelope)?;
        }
        Err(DecodeError::UnsupportedVersion(v)) => {
            prop_assert_ne!(v, PROTOCOL_VERSION);
            prop_assert_eq!(leading_version(bytes), Some(v));
        }
        Err(DecodeError::Malformed(detail)) => {
            prop_assert!(!detail.is_empty());
            // A readable version other than ours is reported as such.
            if let Some(v) = leading_version(bytes) {
                prop_assert_eq!(v, PROTOCOL_VERSION);
            }
        }
        Err(DecodeError::TooLarge(n)) => prop_assert!(n > MAX_MESSAGE_BYTES),
    }
    if let Ok(reply) = Reply::decode(bytes) {
        prop_assert_eq!(Reply::decode(&reply.encode()).ok(), Some(reply));
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic_and_are_judged_consistently() {
    let bytes = prop_oneof![
        vec(any::<u8>(), 0..64),
        vec(any::<u8>(), 0..2048),
        // Starting with our version byte gets past the first check.
        vec(any::<u8>(), 0..512).prop_map(|mut b| {
            b.insert(0, 1);
            b
        }),
    ];
    fuzzing::run("arbitrary bytes", REGRESSIONS, 1000, bytes, |b| {
        check_decoding(&b)
    });
}

#[test]
fn well_formed_envelopes_of_every_body_round_trip() {
    fuzzing::run(
        "well-formed envelopes",
        REGRESSIONS,
        200,
        fuzzing::envelope(),
        |e| {
            let decoded = Envelope::decode(&e.encode())
                .map_err(|err| TestCaseError::fail(format!("refused: {err}")))?;
            prop_assert_eq!(format!("{decoded:?}"), format!("{e:?}"));
            assert_round_trips(&decoded)
        },
    );
}

#[test]
fn damaged_envelopes_never_panic_and_what_decodes_round_trips() {
    fuzzing::run(
        "damaged envelopes",
        REGRESSIONS,
        500,
        (fuzzing::envelope(), mutations()),
        |(e, damage)| check_decoding(&mutate(&e.encode(), &damage)),
    );
}

#[test]
fn other_versions_are_refused_as_unsupported() {
    let other = any::<u16>().prop_filter("another version", |v| *v != PROTOCOL_VERSION);
    fuzzing::run(
        "other versions",
        REGRESSIONS,
        100,
        fuzzing::envelope_of_version(other),
        |e| {
            let err = Envelope::decode(&e.encode()).unwrap_err();
            prop_assert_eq!(&err, &DecodeError::UnsupportedVersion(e.version));
            prop_assert_eq!(err.refusal(), Refusal::UnsupportedVersion);
            Ok(())
        },
    );
}

#[test]
fn oversize_messages_are_refused_before_decoding() {
    // A valid envelope padded past the limit: refused for its size, not parsed.
    let oversize = (fuzzing::envelope(), 1usize..4096, any::<u8>());
    fuzzing::run(
        "oversize messages",
        REGRESSIONS,
        50,
        oversize,
        |(e, extra, fill)| {
            let mut bytes = e.encode();
            bytes.resize(MAX_MESSAGE_BYTES + extra, fill);
            let err = Envelope::decode(&bytes).unwrap_err();
            prop_assert_eq!(&err, &DecodeError::TooLarge(bytes.len()));
            prop_assert_eq!(err.refusal(), Refusal::TooLarge);
            prop_assert_eq!(
                Reply::decode(&bytes).unwrap_err(),
                DecodeError::TooLarge(bytes.len())
            );
            Ok(())
        },
    );
}

#[test]
fn replies_round_trip_and_damaged_replies_never_panic() {
    fuzzing::run(
        "replies",
        REGRESSIONS,
        300,
        (fuzzing::reply(), mutations()),
        |(reply, damage)| {
            prop_assert_eq!(Reply::decode(&reply.encode()).ok(), Some(reply.clone()));
            if let Ok(r) = Reply::decode(&mutate(&reply.encode(), &damage)) {
                prop_assert_eq!(Reply::decode(&r.encode()).ok(), Some(r));
            }
            Ok(())
        },
    );
}
