//! What travels between nodes: a versioned envelope around one body, and
//! the receiver's reply. Encoded with postcard.
//!
//! Each body is a struct holding exactly the fields its purpose needs: the
//! type is the data-minimisation policy. [`Body`] and [`Refusal`] are
//! append-only: never reorder or remove a variant (postcard encodes the
//! index); a golden-bytes test pins the encoding.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The ALPN protocol id every connection negotiates.
pub const ALPN: &[u8] = b"renkei/1";
/// The envelope version this build writes and reads.
pub const PROTOCOL_VERSION: u16 = 1;
/// The largest encoded message (envelope or reply) accepted.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One message from one node to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u16,
    /// UUID v7, chosen by the sender; the receiver de-duplicates on
    /// (sender, message id).
    pub message_id: Uuid,
    pub sender: String,
    pub recipient: String,
    /// Milliseconds since the Unix epoch, at the sender.
    pub created_at_ms: i64,
    pub body: Body,
}

/// What a message is about. Append-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// Responsible health centre → national node.
    StatutoryReport(StatutoryReport),
    /// Centre → centre: "take over this case" (移管), with what follow-up needs.
    TransferOffer(Box<TransferOffer>),
    /// Receiving centre → offering centre: accepted or rejected.
    TransferAnswer(TransferAnswer),
    /// Offering centre → receiving centre: the outcome it decided.
    TransferOutcome(TransferOutcome),
    /// Former owner → new owner: a patient's self-report that arrived at the old link.
    ForwardedObservation(ForwardedObservation),
    /// Centre → the centre where a close contact lives.
    ContactReferral(ContactReferral),
    /// Owner → related centre (関係保健所): a read-only copy for a stated purpose, or its update.
    ShareData(Box<ShareData>),
    /// Owner → related centre: delete the copy.
    ShareRevoke(ShareRevoke),
    /// Related centre → owner: someone there looked at the shared copy.
    ShareViewed(ShareViewed),
}

impl Body {
    pub fn name(&self) -> &'static str {
        match self {
            Body::StatutoryReport(_) => "statutory_report",
            Body::TransferOffer(_) => "transfer_offer",
            Body::TransferAnswer(_) => "transfer_answer",
            Body::TransferOutcome(_) => "transfer_outcome",
            Body::ForwardedObservation(_) => "forwarded_observation",
            Body::ContactReferral(_) => "contact_referral",
            Body::ShareData(_) => "share_data",
            Body::ShareRevoke(_) => "share_revoke",
            Body::ShareViewed(_) => "share_viewed",
        }
    }
}

/// Everything the receiving centre needs to take over a case's follow-up.
/// Dates are `YYYY-MM-DD`, instants RFC 3339; the receiver validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferOffer {
    pub transfer_id: Uuid,
    pub reason: Option<String>,
    pub case: TransferredCase,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferredCase {
    /// The federation-wide case id; it stays the same after the transfer.
    pub case_id: Uuid,
    pub revision: u32,
    /// The keyed hash of the person (normalised kana, birth date, sex) for
    /// the receiver's duplicate check; never the plain values' substitute.
    pub person_key: Option<Vec<u8>>,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub date_of_birth: String,
    pub phone: Option<String>,
    pub disease: String,
    pub diagnosis_class: String,
    /// Each class with the day it was first reported.
    pub class_reports: Vec<(String, String)>,
    pub onset_date: Option<String>,
    pub diagnosis_date: Option<String>,
    pub symptoms: Vec<String>,
    pub reporting_centre: String,
    pub reporting_institution: Option<String>,
    pub municipality_code: String,
    pub address: String,
    pub status: String,
    pub confirmed: bool,
    pub tests: Vec<TransferredTest>,
    pub medical: Option<TransferredMedical>,
    pub observations: Vec<TransferredObservation>,
    pub contacts: Vec<TransferredContact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferredTest {
    pub method: String,
    pub specimen: String,
    pub collected_on: String,
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferredMedical {
    pub hospital: Option<String>,
    pub admitted_on: Option<String>,
    pub discharged_on: Option<String>,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferredObservation {
    pub observed_at: String,
    pub temperature: Option<f64>,
    pub spo2: Option<u8>,
    pub symptoms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferredContact {
    pub name: String,
    pub name_kana: Option<String>,
    pub phone: Option<String>,
    pub municipality_code: Option<String>,
    pub relation: Option<String>,
    pub last_exposure_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferAnswer {
    pub transfer_id: Uuid,
    pub accepted: bool,
    pub reason: Option<String>,
}

/// The offering centre's decision. Only it moves ownership, so a case never
/// has two owners: `completed` makes the receiver the owner; `cancelled`
/// (the offer was withdrawn before the acceptance arrived) leaves it where it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferOutcome {
    pub transfer_id: Uuid,
    pub completed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedObservation {
    pub case_id: Uuid,
    pub observation: TransferredObservation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactReferral {
    pub referral_id: Uuid,
    /// A pseudonymous link to the index case: the referring centre can map it
    /// back, the receiving centre cannot.
    pub index_link: String,
    pub contact: TransferredContact,
}

/// The read-only subset a related centre receives; which fields are filled
/// depends on the purpose (see docs/federation-fields.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareData {
    pub share_id: Uuid,
    pub purpose: String,
    pub case_id: Uuid,
    pub revision: u32,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub age: u8,
    pub phone: Option<String>,
    pub municipality_code: String,
    pub address: Option<String>,
    pub diagnosis_class: String,
    pub status: String,
    pub medical: Option<TransferredMedical>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareRevoke {
    pub share_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareViewed {
    pub share_id: Uuid,
    pub viewer: String,
    pub viewer_role: String,
    pub viewed_at: String,
}

/// A calendar date (in Japan) as `yyyymmdd`.
pub type WireDate = u32;

/// The statutory report of one case (感染症法 Art. 12), pseudonymous: no
/// name, kana, address, phone, exact date of birth or free text, ever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatutoryReport {
    /// The federation-wide case id; it stays the same across transfers.
    pub case_id: Uuid,
    /// Grows with every change of the case; the national node keeps the
    /// highest it has seen.
    pub revision: u32,
    pub disease: String,
    pub diagnosis_class: String,
    pub sex: String,
    /// Age in whole years on the report date.
    pub age: u8,
    /// The 6-digit local government code of the place of stay.
    pub municipality_code: String,
    pub reporting_centre: String,
    pub responsible_centre: String,
    pub onset_date: Option<WireDate>,
    pub diagnosis_date: Option<WireDate>,
    pub report_date: WireDate,
    pub tests: TestsSummary,
    pub status: String,
    pub hospitalised: bool,
    pub severe: bool,
    pub deceased: bool,
    /// The notification was withdrawn or superseded (additional registration).
    pub withdrawn: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestsSummary {
    pub positive: u16,
    pub negative: u16,
    pub other: u16,
    /// Test methods used, each once, sorted.
    pub methods: Vec<String>,
}

/// The receiver's answer on the same stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Durably recorded (or recorded before: a duplicate is acknowledged again).
    Ack { message_id: Uuid },
    Refused {
        message_id: Option<Uuid>,
        reason: Refusal,
        detail: String,
    },
}

/// Why a receiver refused a message. Append-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Not a decodable envelope.
    Malformed,
    /// An envelope version this node does not speak.
    UnsupportedVersion,
    TooLarge,
    /// The envelope names a sender other than the peer's certificate.
    WrongSender,
    /// The envelope is addressed to another node.
    WrongRecipient,
    /// This peer may not send this kind of message to this node.
    NotPermitted,
    /// The receiver could not record it now; send again later.
    Unavailable,
    /// Well-formed, but its contents break the receiver's rules.
    Invalid,
    /// The sender has no authority to say this about this case (the rule is
    /// named in the detail; see `authority`).
    Unauthorised,
}

impl Refusal {
    /// Whether sending the same message again may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Refusal::Unavailable)
    }
}

/// Why bytes could not be read as an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the message is {0} bytes; at most {MAX_MESSAGE_BYTES} are accepted")]
    TooLarge(usize),
    #[error("envelope version {0} is not supported (this node speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u16),
    #[error("the message is not a valid envelope: {0}")]
    Malformed(String),
}

impl DecodeError {
    pub fn refusal(&self) -> Refusal {
        match self {
            DecodeError::TooLarge(_) => Refusal::TooLarge,
            DecodeError::UnsupportedVersion(_) => Refusal::UnsupportedVersion,
            DecodeError::Malformed(_) => Refusal::Malformed,
        }
    }
}

impl Envelope {
    pub fn new(sender: &str, recipient: &str, created_at_ms: i64, body: Body) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            message_id: Uuid::now_v7(),
            sender: sender.to_string(),
            recipient: recipient.to_string(),
            created_at_ms,
            body,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("envelopes serialise")
    }

    /// Decodes, checking size and version first; never panics on any input.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        // The version is the first field: read it alone, so an envelope from
        // a newer node is refused as such rather than as garbage.
        let (version, _) = postcard::take_from_bytes::<u16>(bytes)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let (envelope, rest) = postcard::take_from_bytes::<Envelope>(bytes)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{} bytes after the envelope",
                rest.len()
            )));
        }
        Ok(envelope)
    }
}

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("replies serialise")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        postcard::from_bytes(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Envelope {
        Envelope {
            version: PROTOCOL_VERSION,
            message_id: Uuid::from_u128(0x0190_a1b2_c3d4_7e5f_8a6b_1c2d_3e4f_5a6b),
            sender: "hc-13103".into(),
            recipient: "national".into(),
            created_at_ms: 1_795_300_000_000,
            body: Body::StatutoryReport(StatutoryReport {
                case_id: Uuid::from_u128(0x0190_a1b2_0000_7000_8000_0000_0000_0001),
                revision: 3,
                disease: "covid-19".into(),
                diagnosis_class: "confirmed".into(),
                sex: "female".into(),
                age: 46,
                municipality_code: "131032".into(),
                reporting_centre: "hc-13103".into(),
                responsible_centre: "hc-13103".into(),
                onset_date: Some(20261118),
                diagnosis_date: None,
                report_date: 20261120,
                tests: TestsSummary {
                    positive: 1,
                    negative: 0,
                    other: 0,
                    methods: vec!["pcr".into()],
                },
                status: "home".into(),
                hospitalised: false,
                severe: false,
                deceased: false,
                withdrawn: false,
            }),
        }
    }

    /// The encoding of [`sample`] as version 1 wrote it. If this test fails,
    /// a change broke the wire format: old messages would no longer decode.
    const GOLDEN_V1: &str = concat!(
        "01",                                 // version
        "100190a1b2c3d47e5f8a6b1c2d3e4f5a6b", // message id
        "0868632d3133313033",                 // sender
        "086e6174696f6e616c",                 // recipient
        "8084c083c068",                       // created at (zigzag varint)
        "00",                                 // body: StatutoryReport
        "100190a1b2000070008000000000000001", // case id
        "03",                                 // revision
        "08636f7669642d3139",                 // disease
        "09636f6e6669726d6564",               // class
        "0666656d616c65",                     // sex
        "2e",                                 // age 46
        "06313331303332",                     // municipality
        "0868632d3133313033",                 // reporting centre
        "0868632d3133313033",                 // responsible centre
        "01fed1d409",                         // onset 20261118
        "00",                                 // no diagnosis date
        "80d2d409",                           // report date 20261120
        "010000",                             // tests: 1 positive, 0 negative, 0 other
        "0103706372",                         // methods ["pcr"]
        "04686f6d65",                         // status "home"
        "00000000",                           // hospitalised, severe, deceased, withdrawn
    );

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn golden_bytes_pin_the_v1_encoding() {
        let encoded = hex(&sample().encode());
        assert_eq!(encoded, GOLDEN_V1, "the wire format changed");
    }

    #[test]
    fn round_trip_and_refusals() {
        let bytes = sample().encode();
        assert_eq!(Envelope::decode(&bytes).unwrap(), sample());
        assert!(matches!(
            Envelope::decode(&bytes[..bytes.len() - 3]),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Envelope::decode(&[]),
            Err(DecodeError::Malformed(_))
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Envelope::decode(&longer),
            Err(DecodeError::Malformed(_))
        ));
        let mut future = bytes.clone();
        future[0] = 2;
        assert_eq!(
            Envelope::decode(&future),
            Err(DecodeError::UnsupportedVersion(2))
        );
        assert!(matches!(
            Envelope::decode(&vec![0u8; MAX_MESSAGE_BYTES + 1]),
            Err(DecodeError::TooLarge(_))
        ));
        // An unknown body variant (appended by a later version) is malformed here.
        let mut unknown = bytes.clone();
        let idx = 1 + 17 + 9 + 9 + 6;
        assert_eq!(unknown[idx], 0, "body tag position");
        unknown[idx] = 9;
        assert!(matches!(
            Envelope::decode(&unknown),
            Err(DecodeError::Malformed(_))
        ));
    }

    /// Random bytes and every one-byte change to a valid message get an
    /// answer, never a panic, and the answer is right: a refusal of the
    /// kind the bytes call for, or an envelope that survives a round trip.
    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let (mut malformed, mut unsupported) = (0, 0);
        for len in 0..2000 {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            match Envelope::decode(&bytes) {
                Ok(envelope) => assert_eq!(Envelope::decode(&envelope.encode()), Ok(envelope)),
                Err(DecodeError::Malformed(why)) => {
                    assert!(!why.is_empty(), "a refusal says what was wrong");
                    malformed += 1;
                }
                Err(DecodeError::UnsupportedVersion(version)) => {
                    assert_ne!(version, PROTOCOL_VERSION);
                    unsupported += 1;
                }
                Err(e @ DecodeError::TooLarge(_)) => panic!("{} bytes: {e}", bytes.len()),
            }
            if let Ok(reply) = Reply::decode(&bytes) {
                assert_eq!(Reply::decode(&reply.encode()), Ok(reply));
            }
        }
        assert!(
            malformed > 100 && unsupported > 100,
            "both refusals were reached: {malformed} malformed, {unsupported} unsupported"
        );
        // Changing any one byte of a valid message: a changed version is
        // refused as such, and whatever still decodes is a different
        // envelope (nothing is silently read back as the original).
        let bytes = sample().encode();
        let mut still_decoded = 0;
        for i in 0..bytes.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[i] = v;
                let result = Envelope::decode(&m);
                if m == bytes {
                    assert_eq!(result, Ok(sample()));
                    continue;
                }
                if i == 0 {
                    assert!(
                        matches!(result, Err(DecodeError::UnsupportedVersion(_))),
                        "version byte {v:#04x}: {result:?}"
                    );
                }
                if let Ok(envelope) = result {
                    still_decoded += 1;
                    assert_ne!(envelope, sample(), "byte {i} set to {v:#04x}");
                    assert_eq!(Envelope::decode(&envelope.encode()), Ok(envelope));
                }
            }
        }
        assert!(
            still_decoded > 0,
            "some changed messages decode and were checked"
        );
    }

    #[test]
    fn replies_round_trip() {
        let r = Reply::Refused {
            message_id: None,
            reason: Refusal::NotPermitted,
            detail: "x".into(),
        };
        assert_eq!(Reply::decode(&r.encode()).unwrap(), r);
        assert!(Refusal::Unavailable.is_retryable());
        assert!(!Refusal::WrongSender.is_retryable());
    }
}
