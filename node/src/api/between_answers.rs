//! What the between-centres endpoints answer, and the vocabulary of their
//! parameters, as typed structs so the OpenAPI document describes them.

use renkei_federation::wire::{ShareData, TransferredCase};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A transfer's new state, after an offer, answer or withdrawal.
#[derive(Serialize, ToSchema)]
pub(super) struct TransferState {
    /// `offered`, `accepting`, `rejected` or `withdrawn`.
    pub(super) state: &'static str,
}

/// A transfer offer on its way.
#[derive(Serialize, ToSchema)]
pub(super) struct TransferOffered {
    pub(super) transfer_id: Uuid,
    /// `offered`.
    pub(super) state: &'static str,
}

/// Which way a transfer goes, seen from this centre.
pub(super) struct Direction;

impl utoipa::PartialSchema for Direction {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::domain::string_enum_schema(["in", "out"])
    }
}

impl ToSchema for Direction {}

/// Who an incoming offer is about: enough for staff to decide.
#[derive(Serialize, ToSchema)]
pub(super) struct OfferedSummary {
    pub(super) name: String,
    pub(super) name_kana: String,
    pub(super) sex: String,
    /// Null if the offered date of birth cannot be read.
    pub(super) age: Option<i32>,
    pub(super) municipality_code: String,
    pub(super) diagnosis_class: String,
}

/// One transfer, incoming or outgoing.
#[derive(Serialize, ToSchema)]
pub(super) struct TransferRow {
    pub(super) id: String,
    pub(super) case_id: String,
    #[schema(value_type = Direction)]
    pub(super) direction: String,
    /// The other centre.
    pub(super) peer: String,
    pub(super) state: String,
    pub(super) reason: Option<String>,
    /// Cases here that may be the same person (incoming offers).
    pub(super) duplicate_of: Option<Vec<String>>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    /// Incoming offers only.
    pub(super) offered: Option<OfferedSummary>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct TransferList {
    /// Newest first, at most 200.
    pub(super) items: Vec<TransferRow>,
}

/// A transfer, with the offered record if it is incoming.
#[derive(Serialize, ToSchema)]
pub(super) struct TransferDetail {
    pub(super) id: String,
    pub(super) case_id: String,
    #[schema(value_type = Direction)]
    pub(super) direction: String,
    pub(super) peer: String,
    pub(super) state: String,
    pub(super) reason: Option<String>,
    /// Comma-separated ids of cases here that may be the same person.
    pub(super) duplicate_of: Option<String>,
    /// The offered record (`TransferredCase` in docs/federation-fields.md).
    #[schema(value_type = Option<Object>)]
    pub(super) offered: Option<TransferredCase>,
}

/// A referral on its way.
#[derive(Serialize, ToSchema)]
pub(super) struct Referred {
    pub(super) referral_id: Uuid,
    /// The centre that serves where the contact lives.
    pub(super) to: String,
}

/// A close contact another centre referred here.
#[derive(Serialize, ToSchema)]
pub(super) struct ReferredContact {
    pub(super) id: String,
    pub(super) from_centre: String,
    /// The referring centre's reference to its case.
    pub(super) index_link: String,
    pub(super) name: String,
    pub(super) name_kana: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) municipality_code: Option<String>,
    pub(super) relation: Option<String>,
    pub(super) last_exposure_on: Option<String>,
    pub(super) received_at: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ReferralList {
    /// Newest first, at most 200.
    pub(super) items: Vec<ReferredContact>,
}

/// What a share is for: one of `between::SHARE_PURPOSES`.
pub(super) struct SharePurpose;

impl utoipa::PartialSchema for SharePurpose {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::domain::string_enum_schema(crate::between::SHARE_PURPOSES.iter().map(|(n, _)| *n))
    }
}

impl ToSchema for SharePurpose {}

#[derive(Serialize, ToSchema)]
pub(super) struct ShareGranted {
    pub(super) share_id: Uuid,
}

/// One look at a shared copy, reported by the centre that looked.
#[derive(Serialize, ToSchema)]
pub(super) struct ShareView {
    pub(super) viewer: String,
    pub(super) role: String,
    pub(super) at: String,
}

/// One share of a case.
#[derive(Serialize, ToSchema)]
pub(super) struct CaseShare {
    pub(super) id: String,
    pub(super) peer: String,
    #[schema(value_type = SharePurpose)]
    pub(super) purpose: String,
    /// `active` or `revoked`.
    pub(super) state: String,
    pub(super) created_at: String,
    pub(super) views: Vec<ShareView>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct CaseShareList {
    pub(super) items: Vec<CaseShare>,
}

/// A case another centre shares with this one.
#[derive(Serialize, ToSchema)]
pub(super) struct SharedCase {
    pub(super) share_id: String,
    /// The centre that owns the case.
    pub(super) owner: String,
    #[schema(value_type = SharePurpose)]
    pub(super) purpose: String,
    pub(super) case_id: Uuid,
    pub(super) updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SharedList {
    /// Most recently updated first.
    pub(super) items: Vec<SharedCase>,
}

/// A shared copy.
#[derive(Serialize, ToSchema)]
pub(super) struct SharedCopy {
    pub(super) owner: String,
    /// Only the purpose's fields (`ShareData` in docs/federation-fields.md).
    #[schema(value_type = Object)]
    pub(super) data: ShareData,
}
