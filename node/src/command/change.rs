//! The changes a command can make, and the values they carry. Every change
//! is stored in the command log as JSON (`kind` names the variant): append
//! variants and optional fields only.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::domain::{
    AssignmentKind, CaseStatus, DiagnosisClass, Role, Sex, Specimen, Symptom, TestMethod,
    TestResult,
};
use renkei_federation::wire;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPerson {
    /// The keyed person hash for duplicate warnings across centres.
    #[serde(default)]
    pub person_key: Option<Vec<u8>>,
    pub name: String,
    pub name_kana: String,
    pub sex: Sex,
    pub date_of_birth: Date,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    pub id: String,
    pub method: TestMethod,
    pub specimen: Specimen,
    pub collected_on: Date,
    pub result: TestResult,
}

/// The parts of a notification that may follow the first six fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationDetails {
    pub onset_date: Option<Date>,
    pub diagnosis_date: Option<Date>,
    pub symptoms: Option<Vec<Symptom>>,
    pub reporting_doctor: Option<String>,
    pub reporting_institution: Option<String>,
    pub occupation: Option<String>,
    pub free_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCase {
    pub case_id: String,
    pub person_id: String,
    /// `None` when the case is for a person this node already holds.
    pub person: Option<NewPerson>,
    pub disease: String,
    pub diagnosis_class: DiagnosisClass,
    pub municipality_code: String,
    pub address: String,
    pub status: CaseStatus,
    pub tests: Vec<TestRecord>,
    pub details: NotificationDetails,
    /// The day (in Japan) the notification was received.
    pub reported_on: Date,
    /// The earlier notification this one supersedes (additional registration).
    pub supersedes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub temperature: Option<f64>,
    pub spo2: Option<u8>,
    pub symptoms: Vec<Symptom>,
    pub entered_role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub name_kana: Option<String>,
    pub phone: Option<String>,
    pub municipality_code: Option<String>,
    pub relation: Option<String>,
    pub last_exposure_on: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Medical {
    pub hospital: Option<String>,
    pub admitted_on: Option<Date>,
    pub discharged_on: Option<Date>,
    pub icu: bool,
    pub ventilator: bool,
    pub ecmo: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub kind: AssignmentKind,
    pub organisation: String,
    pub from_date: Date,
    pub until_date: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub id: String,
    pub role: Role,
    pub organisation: Option<String>,
    pub password_hash: String,
    pub totp_secret: String,
    pub until: Option<Date>,
}

/// What a command does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    CreateUser(NewUser),
    DisableUser {
        user_id: String,
    },
    SetPassword {
        user_id: String,
        password_hash: String,
        /// A second factor the user enrolled with this change (the secret
        /// and the time step of the code that proved it), replacing the one
        /// handed over with the account.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totp: Option<(String, i64)>,
    },
    /// An administrator's reset: a new one-time password and second factor;
    /// the user's sessions end.
    ResetCredentials {
        user_id: String,
        password_hash: String,
        totp_secret: String,
    },
    RegisterCase(Box<NewCase>),
    UpdateNotification {
        case_id: String,
        diagnosis_class: Option<DiagnosisClass>,
        details: NotificationDetails,
        reported_on: Date,
    },
    AddTests {
        case_id: String,
        tests: Vec<TestRecord>,
    },
    Confirm {
        case_id: String,
        status: CaseStatus,
        by_entrant: bool,
    },
    SetStatus {
        case_id: String,
        status: CaseStatus,
    },
    MovePlaceOfStay {
        case_id: String,
        municipality_code: String,
        address: String,
    },
    AddObservation {
        case_id: String,
        observation: Observation,
    },
    AddContact {
        case_id: String,
        contact: Contact,
    },
    SetMedical {
        case_id: String,
        medical: Medical,
    },
    SetAssignment {
        case_id: String,
        assignment: Assignment,
    },
    IssueSelfReportLink {
        case_id: String,
        token_hash: Vec<u8>,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    OfferTransfer {
        transfer_id: uuid::Uuid,
        case_id: String,
        me: String,
        to: String,
        reason: Option<String>,
        message_id: uuid::Uuid,
    },
    ReceiveTransferOffer {
        sender: String,
        message_id: uuid::Uuid,
        me: String,
        offer: Box<wire::TransferOffer>,
        auto_answer: Option<uuid::Uuid>,
    },
    AnswerTransfer {
        transfer_id: String,
        accepted: bool,
        reason: Option<String>,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveTransferAnswer {
        sender: String,
        message_id: uuid::Uuid,
        me: String,
        answer: wire::TransferAnswer,
        outcome_message: uuid::Uuid,
    },
    WithdrawTransfer {
        transfer_id: String,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveTransferOutcome {
        sender: String,
        message_id: uuid::Uuid,
        me: String,
        outcome: wire::TransferOutcome,
        person_id: String,
    },
    ForwardObservation {
        case_id: String,
        me: String,
        observation: wire::TransferredObservation,
        message_id: uuid::Uuid,
    },
    ReceiveForwardedObservation {
        sender: String,
        message_id: uuid::Uuid,
        forwarded: wire::ForwardedObservation,
    },
    ReferContact {
        referral_id: uuid::Uuid,
        case_id: String,
        contact_id: String,
        to: String,
        me: String,
        index_link: String,
        message_id: uuid::Uuid,
    },
    ReceiveContactReferral {
        sender: String,
        message_id: uuid::Uuid,
        referral: wire::ContactReferral,
    },
    GrantShare {
        share_id: uuid::Uuid,
        case_id: String,
        to: String,
        purpose: String,
        me: String,
        message_id: uuid::Uuid,
    },
    RevokeShare {
        share_id: String,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveShareData {
        sender: String,
        message_id: uuid::Uuid,
        data: Box<wire::ShareData>,
    },
    ReceiveShareRevoke {
        sender: String,
        message_id: uuid::Uuid,
        revoke: wire::ShareRevoke,
    },
    ReportShareView {
        share_id: String,
        viewer: String,
        role: String,
        me: String,
        message_id: uuid::Uuid,
    },
    ReceiveShareViewed {
        sender: String,
        message_id: uuid::Uuid,
        viewed: wire::ShareViewed,
    },
    /// A statutory report received from a centre (national node).
    ReceiveReport {
        sender: String,
        message_id: uuid::Uuid,
        /// When the sender committed the change (the envelope's created-at).
        #[serde(default)]
        sent_at_ms: i64,
        report: renkei_federation::StatutoryReport,
    },
}

impl Change {
    pub fn name(&self) -> &'static str {
        match self {
            Change::CreateUser(_) => "create_user",
            Change::DisableUser { .. } => "disable_user",
            Change::SetPassword { .. } => "set_password",
            Change::ResetCredentials { .. } => "reset_credentials",
            Change::RegisterCase(_) => "register_case",
            Change::UpdateNotification { .. } => "update_notification",
            Change::AddTests { .. } => "add_tests",
            Change::Confirm { .. } => "confirm",
            Change::SetStatus { .. } => "set_status",
            Change::MovePlaceOfStay { .. } => "move_place_of_stay",
            Change::AddObservation { .. } => "add_observation",
            Change::AddContact { .. } => "add_contact",
            Change::SetMedical { .. } => "set_medical",
            Change::SetAssignment { .. } => "set_assignment",
            Change::IssueSelfReportLink { .. } => "issue_self_report_link",
            Change::ReceiveReport { .. } => "receive_report",
            Change::OfferTransfer { .. } => "offer_transfer",
            Change::ReceiveTransferOffer { .. } => "receive_transfer_offer",
            Change::AnswerTransfer { .. } => "answer_transfer",
            Change::ReceiveTransferAnswer { .. } => "receive_transfer_answer",
            Change::WithdrawTransfer { .. } => "withdraw_transfer",
            Change::ReceiveTransferOutcome { .. } => "receive_transfer_outcome",
            Change::ForwardObservation { .. } => "forward_observation",
            Change::ReceiveForwardedObservation { .. } => "receive_forwarded_observation",
            Change::ReferContact { .. } => "refer_contact",
            Change::ReceiveContactReferral { .. } => "receive_contact_referral",
            Change::GrantShare { .. } => "grant_share",
            Change::RevokeShare { .. } => "revoke_share",
            Change::ReceiveShareData { .. } => "receive_share_data",
            Change::ReceiveShareRevoke { .. } => "receive_share_revoke",
            Change::ReportShareView { .. } => "report_share_view",
            Change::ReceiveShareViewed { .. } => "receive_share_viewed",
        }
    }

    /// Whether applying the change queues messages to other nodes.
    pub fn sends_messages(&self) -> bool {
        matches!(
            self,
            Change::OfferTransfer { .. }
                | Change::AnswerTransfer { .. }
                | Change::WithdrawTransfer { .. }
                | Change::ForwardObservation { .. }
                | Change::ReferContact { .. }
                | Change::GrantShare { .. }
                | Change::RevokeShare { .. }
                | Change::ReportShareView { .. }
        )
    }

    /// The cases whose statutory report this change alters: the one place
    /// that decides when a new report revision goes to the national node.
    pub fn reported_cases(&self) -> Vec<&str> {
        match self {
            Change::RegisterCase(case) => {
                let mut cases = vec![case.case_id.as_str()];
                // The superseded notification is withdrawn in its own report.
                cases.extend(case.supersedes.as_deref());
                cases
            }
            Change::UpdateNotification { case_id, .. }
            | Change::AddTests { case_id, .. }
            | Change::Confirm { case_id, .. }
            | Change::SetStatus { case_id, .. }
            | Change::MovePlaceOfStay { case_id, .. }
            | Change::SetMedical { case_id, .. } => vec![case_id.as_str()],
            _ => Vec::new(),
        }
    }
}
