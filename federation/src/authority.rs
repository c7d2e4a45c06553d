//! Authority: what a node may say about which case.
//!
//! Mutual TLS proves who is speaking; [`crate::directory::permitted`] decides
//! which kinds of message that kind of node may send at all. This module
//! decides the rest, for every body: whether *this* sender may say *this*
//! about *this* case, judged against what the receiver already holds. The
//! functions are pure: the receiver looks the facts up inside the
//! transaction that would apply the message and applies nothing unless the
//! verdict is [`Verdict::Apply`]. The rules are listed, with their codes, in
//! `docs/federation-fields.md`; a test holds that table and [`Rule::ALL`]
//! together.
//!
//! **Invariant:** only a case's owner reports or revises it; ownership moves
//! only by a hand-over its previous owner announced; every other message is
//! accepted only from the centre on the other side of the transfer, share or
//! referral it speaks of.

use crate::wire::{ShareData, StatutoryReport};

/// One authority rule. Append-only, like the wire: the codes appear in
/// refusals, logs and the documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A report of a case already held comes only from its owner.
    ReportFromOwner,
    /// The first report of a case comes from the centre where it was notified.
    FirstReportFromNotifyingCentre,
    /// A report naming another responsible centre is a hand-over: only the
    /// owner hands a case over, and only to a health centre in the directory.
    HandOverFromOwner,
    /// A transfer answer comes only from the centre the case was offered to.
    AnswerFromOfferee,
    /// A transfer outcome comes only from the centre that made the offer.
    OutcomeFromOfferer,
    /// A centre cannot be offered a case it owns, nor reuse a transfer id.
    OfferOfAnotherCase,
    /// A forwarded self-report comes only from the case's previous owner,
    /// named in the transfer this node accepted, and only for a case this
    /// node owns.
    ForwardFromPreviousOwner,
    /// A contact is referred only to the centre serving where they live.
    ReferralToHomeCentre,
    /// Share data comes only from the centre that opened the share, for the
    /// same case and purpose, and never about a case the receiver owns.
    ShareFromOwner,
    /// A share is revoked only by the centre that opened it.
    RevokeFromOwner,
    /// A view of a shared copy is reported only by the centre it was shared with.
    ViewFromSharee,
}

impl Rule {
    pub const ALL: &[Rule] = &[
        Rule::ReportFromOwner,
        Rule::FirstReportFromNotifyingCentre,
        Rule::HandOverFromOwner,
        Rule::AnswerFromOfferee,
        Rule::OutcomeFromOfferer,
        Rule::OfferOfAnotherCase,
        Rule::ForwardFromPreviousOwner,
        Rule::ReferralToHomeCentre,
        Rule::ShareFromOwner,
        Rule::RevokeFromOwner,
        Rule::ViewFromSharee,
    ];

    /// The stable code named in refusals, logs and the documentation.
    pub fn code(self) -> &'static str {
        match self {
            Rule::ReportFromOwner => "report-from-owner",
            Rule::FirstReportFromNotifyingCentre => "first-report-from-notifying-centre",
            Rule::HandOverFromOwner => "hand-over-from-owner",
            Rule::AnswerFromOfferee => "answer-from-offeree",
            Rule::OutcomeFromOfferer => "outcome-from-offerer",
            Rule::OfferOfAnotherCase => "offer-of-another-case",
            Rule::ForwardFromPreviousOwner => "forward-from-previous-owner",
            Rule::ReferralToHomeCentre => "referral-to-home-centre",
            Rule::ShareFromOwner => "share-from-owner",
            Rule::RevokeFromOwner => "revoke-from-owner",
            Rule::ViewFromSharee => "view-from-sharee",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What the receiver does with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it.
    Apply,
    /// Acknowledge it and change nothing (an older revision from a centre
    /// entitled to have sent it).
    NoChange,
    /// Not yet: the message may become acceptable when another centre's
    /// message arrives (a hand-over in flight). The sender tries again later;
    /// nothing is applied meanwhile.
    NotYet(Refused),
    /// Never: the sender has no authority for it.
    Refuse(Refused),
}

/// A refusal: the rule broken and what, in words that name no person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by rule `{rule}`: {detail}")]
pub struct Refused {
    pub rule: Rule,
    pub detail: String,
}

fn refuse(rule: Rule, detail: String) -> Verdict {
    Verdict::Refuse(Refused { rule, detail })
}

fn not_yet(rule: Rule, detail: String) -> Verdict {
    Verdict::NotYet(Refused { rule, detail })
}

/// The national node's row for a case: who owns it there, at what revision,
/// and which centre sent that revision (the previous owner, after a hand-over).
#[derive(Debug, Clone, Copy)]
pub struct HeldReport<'a> {
    pub owner: &'a str,
    pub revision: u32,
    pub last_sender: &'a str,
}

/// A statutory report from `sender` about a case of which the national node
/// holds `held`.
///
/// The directory is not consulted here, so that applying (and replaying) the
/// message depends only on the store: [`report_names_a_centre`] is checked
/// on receipt, before.
pub fn statutory_report(
    sender: &str,
    report: &StatutoryReport,
    held: Option<HeldReport<'_>>,
) -> Verdict {
    let case = report.case_id;
    let names = report.responsible_centre.as_str();
    let Some(held) = held else {
        // Nothing held yet. The case was first notified at its reporting
        // centre, whose own report comes first; anything else waits for it
        // (a transfer may have overtaken the first report on the way).
        if sender != report.reporting_centre {
            return not_yet(
                Rule::FirstReportFromNotifyingCentre,
                format!(
                    "no report of case {case} is held yet; its first report comes from `{}`, where it was notified",
                    report.reporting_centre
                ),
            );
        }
        if names != sender {
            return not_yet(
                Rule::HandOverFromOwner,
                format!("no report of case {case} is held yet, so `{sender}` cannot hand it over"),
            );
        }
        return Verdict::Apply;
    };
    if sender == held.owner {
        // The owner's word: only a higher revision changes anything, and it
        // may hand the case over by naming another responsible centre.
        return if report.revision > held.revision {
            Verdict::Apply
        } else {
            Verdict::NoChange
        };
    }
    if report.revision <= held.revision && sender == held.last_sender {
        // An older report from the centre that handed the case over, still on
        // its way when the hand-over arrived: it changes nothing.
        return Verdict::NoChange;
    }
    if names == sender && report.revision > held.revision {
        // The sender may be the new owner of a transfer whose hand-over has
        // not arrived yet; it is applied only after that hand-over.
        return not_yet(
            Rule::ReportFromOwner,
            format!(
                "case {case} is held as `{}`'s; a report from `{sender}` is applied only after `{}` hands it over",
                held.owner, held.owner
            ),
        );
    }
    let rule = if names == sender {
        Rule::ReportFromOwner
    } else {
        Rule::HandOverFromOwner
    };
    refuse(
        rule,
        format!(
            "case {case} is held as `{}`'s; `{sender}` may not report or hand it over",
            held.owner
        ),
    )
}

/// A report must name a health centre of the directory as responsible
/// (`is_centre`), or it would hand the case to no one.
pub fn report_names_a_centre(report: &StatutoryReport, is_centre: bool) -> Verdict {
    if is_centre {
        return Verdict::Apply;
    }
    refuse(
        Rule::HandOverFromOwner,
        format!(
            "the report names `{}` as responsible, which is no health centre in the directory",
            report.responsible_centre
        ),
    )
}

/// What the receiving centre holds about a transfer it is told of.
#[derive(Debug, Clone, Copy)]
pub struct HeldTransfer<'a> {
    /// The other centre of the transfer.
    pub peer: &'a str,
}

/// An answer to a transfer this node offered (`held` is the outgoing transfer).
pub fn transfer_answer(sender: &str, held: Option<HeldTransfer<'_>>) -> Verdict {
    match held {
        Some(t) if t.peer == sender => Verdict::Apply,
        Some(t) => refuse(
            Rule::AnswerFromOfferee,
            format!(
                "the transfer was offered to `{}`, not to `{sender}`",
                t.peer
            ),
        ),
        None => refuse(
            Rule::AnswerFromOfferee,
            "this node offered no such transfer".into(),
        ),
    }
}

/// The offering centre's outcome of a transfer (`held` is the incoming transfer).
pub fn transfer_outcome(sender: &str, held: Option<HeldTransfer<'_>>) -> Verdict {
    match held {
        Some(t) if t.peer == sender => Verdict::Apply,
        Some(t) => refuse(
            Rule::OutcomeFromOfferer,
            format!(
                "the transfer was offered by `{}`, not by `{sender}`",
                t.peer
            ),
        ),
        None => refuse(
            Rule::OutcomeFromOfferer,
            format!("`{sender}` offered no such transfer to this node"),
        ),
    }
}

/// A transfer offer. `owns_case`: this node owns the offered case;
/// `transfer_known`: the transfer id is already in use here.
pub fn transfer_offer(owns_case: bool, transfer_known: bool) -> Verdict {
    if owns_case {
        return refuse(
            Rule::OfferOfAnotherCase,
            "this node already owns that case".into(),
        );
    }
    if transfer_known {
        return refuse(
            Rule::OfferOfAnotherCase,
            "that transfer id is already in use here".into(),
        );
    }
    Verdict::Apply
}

/// A self-report forwarded from a transferred case's old link. `owns_case`:
/// this node owns the case; `previous_owner`: the centre this node took the
/// case over from, if it did.
pub fn forwarded_observation(
    sender: &str,
    owns_case: bool,
    previous_owner: Option<&str>,
) -> Verdict {
    if !owns_case {
        return refuse(
            Rule::ForwardFromPreviousOwner,
            "this node does not own that case".into(),
        );
    }
    match previous_owner {
        Some(p) if p == sender => Verdict::Apply,
        Some(p) => refuse(
            Rule::ForwardFromPreviousOwner,
            format!("the case came from `{p}`, not from `{sender}`"),
        ),
        None => refuse(
            Rule::ForwardFromPreviousOwner,
            format!("the case did not come to this node from `{sender}`"),
        ),
    }
}

/// A contact referral: `served_here` says whether the contact's
/// municipality is one this node serves.
pub fn contact_referral(municipality: Option<&str>, served_here: bool) -> Verdict {
    if served_here {
        return Verdict::Apply;
    }
    refuse(
        Rule::ReferralToHomeCentre,
        match municipality {
            Some(code) => format!("municipality {code} is not served by this node"),
            None => "the contact's municipality is missing, so they cannot be referred here".into(),
        },
    )
}

/// What the receiver holds of an incoming share.
#[derive(Debug, Clone, Copy)]
pub struct HeldShare<'a> {
    pub peer: &'a str,
    pub case_id: &'a str,
    pub purpose: &'a str,
    pub revoked: bool,
    pub revision: u32,
}

/// What the receiver itself holds of a case a message speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseHere<'a> {
    /// Nothing: the case was never here.
    Unknown,
    /// This node owns it.
    Owned,
    /// It was here and moved to this centre.
    MovedTo(&'a str),
    /// It is on its way here: this centre offered it to this node.
    OfferedBy(&'a str),
}

/// Share data. `held`: the incoming share with this id, if any; `here`:
/// what this node holds of the case the data speaks of.
pub fn share_data(
    sender: &str,
    data: &ShareData,
    held: Option<HeldShare<'_>>,
    here: CaseHere<'_>,
) -> Verdict {
    match here {
        CaseHere::Owned => {
            return refuse(
                Rule::ShareFromOwner,
                format!("`{sender}` shares a case this node owns"),
            );
        }
        CaseHere::MovedTo(owner) if owner != sender => {
            return refuse(
                Rule::ShareFromOwner,
                format!("`{sender}` shares a case this node handed to `{owner}`"),
            );
        }
        CaseHere::OfferedBy(owner) if owner != sender => {
            return refuse(
                Rule::ShareFromOwner,
                format!("`{sender}` shares a case `{owner}` is handing to this node"),
            );
        }
        _ => {}
    }
    let Some(h) = held else {
        return Verdict::Apply;
    };
    if h.peer != sender {
        return refuse(
            Rule::ShareFromOwner,
            format!("the share was opened by `{}`, not by `{sender}`", h.peer),
        );
    }
    if h.case_id != data.case_id.to_string() || h.purpose != data.purpose {
        return refuse(
            Rule::ShareFromOwner,
            "an update may not change the shared case or its purpose".into(),
        );
    }
    if h.revoked || data.revision < h.revision {
        return Verdict::NoChange;
    }
    Verdict::Apply
}

/// A share revocation; `held_peer` is the centre that opened the incoming
/// share, if this node holds it.
pub fn share_revoke(sender: &str, held_peer: Option<&str>) -> Verdict {
    match held_peer {
        Some(p) if p == sender => Verdict::Apply,
        Some(p) => refuse(
            Rule::RevokeFromOwner,
            format!("the share was opened by `{p}`, not by `{sender}`"),
        ),
        None => refuse(
            Rule::RevokeFromOwner,
            format!("`{sender}` shares nothing under that id with this node"),
        ),
    }
}

/// A view of a shared copy; `held_peer` is the centre this node shared
/// the case with under that id, if any.
pub fn share_viewed(sender: &str, held_peer: Option<&str>) -> Verdict {
    match held_peer {
        Some(p) if p == sender => Verdict::Apply,
        Some(p) => refuse(
            Rule::ViewFromSharee,
            format!("the case was shared with `{p}`, not with `{sender}`"),
        ),
        None => refuse(
            Rule::ViewFromSharee,
            format!("this node shares nothing under that id with `{sender}`"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::TestsSummary;
    use uuid::Uuid;

    fn report(from: &str, responsible: &str, revision: u32) -> StatutoryReport {
        StatutoryReport {
            case_id: Uuid::nil(),
            revision,
            disease: "covid-19".into(),
            diagnosis_class: "confirmed".into(),
            sex: "female".into(),
            age: 40,
            municipality_code: "131032".into(),
            reporting_centre: from.into(),
            responsible_centre: responsible.into(),
            onset_date: None,
            diagnosis_date: None,
            report_date: 20261201,
            tests: TestsSummary {
                positive: 1,
                negative: 0,
                other: 0,
                methods: vec![],
            },
            status: "home".into(),
            hospitalised: false,
            severe: false,
            deceased: false,
            withdrawn: false,
        }
    }

    fn held<'a>(owner: &'a str, revision: u32, last_sender: &'a str) -> Option<HeldReport<'a>> {
        Some(HeldReport {
            owner,
            revision,
            last_sender,
        })
    }

    fn rule(v: Verdict) -> Option<(Rule, bool)> {
        match v {
            Verdict::Refuse(r) => Some((r.rule, false)),
            Verdict::NotYet(r) => Some((r.rule, true)),
            _ => None,
        }
    }

    #[test]
    fn only_the_owner_revises_a_report() {
        let mine = held("hc-a", 3, "hc-a");
        assert_eq!(
            statutory_report("hc-a", &report("hc-a", "hc-a", 4), mine),
            Verdict::Apply
        );
        assert_eq!(
            statutory_report("hc-a", &report("hc-a", "hc-a", 3), mine),
            Verdict::NoChange
        );
        // The attack found from outside: another centre claims the case with
        // an absurd revision. Held until the owner hands over; never applied.
        let forged = report("hc-a", "hc-x", u32::MAX);
        assert_eq!(
            rule(statutory_report("hc-x", &forged, mine)),
            Some((Rule::ReportFromOwner, true))
        );
        // Or hands it to a third centre in the owner's name.
        assert_eq!(
            rule(statutory_report("hc-x", &report("hc-a", "hc-b", 9), mine)),
            Some((Rule::HandOverFromOwner, false))
        );
        // A stale revision from someone who never held it is refused, not ignored.
        assert_eq!(
            rule(statutory_report("hc-x", &report("hc-a", "hc-x", 1), mine)),
            Some((Rule::ReportFromOwner, false))
        );
    }

    #[test]
    fn a_hand_over_moves_the_case_and_only_then_admits_the_new_owner() {
        let mine = held("hc-a", 3, "hc-a");
        // The owner names the new owner: applied.
        assert_eq!(
            statutory_report("hc-a", &report("hc-a", "hc-b", 4), mine),
            Verdict::Apply
        );
        // ... but never to something that is not a centre.
        assert_eq!(
            rule(report_names_a_centre(&report("hc-a", "national", 4), false)),
            Some((Rule::HandOverFromOwner, false))
        );
        // After the hand-over the new owner reports; the old owner's late,
        // older report changes nothing and its newer ones are refused.
        let handed = held("hc-b", 4, "hc-a");
        assert_eq!(
            statutory_report("hc-b", &report("hc-a", "hc-b", 4), handed),
            Verdict::NoChange
        );
        assert_eq!(
            statutory_report("hc-b", &report("hc-a", "hc-b", 5), handed),
            Verdict::Apply
        );
        assert_eq!(
            statutory_report("hc-a", &report("hc-a", "hc-a", 2), handed),
            Verdict::NoChange
        );
        assert_eq!(
            rule(statutory_report("hc-a", &report("hc-a", "hc-c", 9), handed)),
            Some((Rule::HandOverFromOwner, false))
        );
    }

    #[test]
    fn the_first_report_comes_from_where_the_case_was_notified() {
        assert_eq!(
            statutory_report("hc-a", &report("hc-a", "hc-a", 1), None),
            Verdict::Apply
        );
        // A transfer overtook the first report: wait for it.
        assert_eq!(
            rule(statutory_report("hc-b", &report("hc-a", "hc-b", 2), None)),
            Some((Rule::FirstReportFromNotifyingCentre, true))
        );
        assert_eq!(
            rule(statutory_report("hc-a", &report("hc-a", "hc-b", 2), None)),
            Some((Rule::HandOverFromOwner, true))
        );
    }

    #[test]
    fn messages_about_transfers_shares_and_contacts_come_from_the_other_party() {
        let t = Some(HeldTransfer { peer: "hc-b" });
        assert_eq!(transfer_answer("hc-b", t), Verdict::Apply);
        assert!(matches!(transfer_answer("hc-x", t), Verdict::Refuse(_)));
        assert!(matches!(transfer_answer("hc-b", None), Verdict::Refuse(_)));
        assert_eq!(transfer_outcome("hc-b", t), Verdict::Apply);
        assert!(matches!(transfer_outcome("hc-x", t), Verdict::Refuse(_)));
        assert!(matches!(transfer_offer(true, false), Verdict::Refuse(_)));
        assert!(matches!(transfer_offer(false, true), Verdict::Refuse(_)));
        assert_eq!(transfer_offer(false, false), Verdict::Apply);
        assert_eq!(
            forwarded_observation("hc-a", true, Some("hc-a")),
            Verdict::Apply
        );
        assert!(matches!(
            forwarded_observation("hc-x", true, Some("hc-a")),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            forwarded_observation("hc-x", true, None),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            forwarded_observation("hc-a", false, Some("hc-a")),
            Verdict::Refuse(_)
        ));
        assert_eq!(contact_referral(Some("131032"), true), Verdict::Apply);
        assert!(matches!(
            contact_referral(Some("131041"), false),
            Verdict::Refuse(_)
        ));
        assert_eq!(share_revoke("hc-a", Some("hc-a")), Verdict::Apply);
        assert!(matches!(
            share_revoke("hc-x", Some("hc-a")),
            Verdict::Refuse(_)
        ));
        assert!(matches!(share_revoke("hc-x", None), Verdict::Refuse(_)));
        assert_eq!(share_viewed("hc-b", Some("hc-b")), Verdict::Apply);
        assert!(matches!(
            share_viewed("hc-x", Some("hc-b")),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn share_updates_come_from_the_sharing_owner_for_the_same_case() {
        let data = ShareData {
            share_id: Uuid::nil(),
            purpose: "follow_up".into(),
            case_id: Uuid::nil(),
            revision: 5,
            name: "x".into(),
            name_kana: "x".into(),
            sex: "female".into(),
            age: 1,
            phone: None,
            municipality_code: "131032".into(),
            address: None,
            diagnosis_class: "confirmed".into(),
            status: "home".into(),
            medical: None,
        };
        let case = Uuid::nil().to_string();
        let held = |peer, purpose, revoked, revision| {
            Some(HeldShare {
                peer,
                case_id: &case,
                purpose,
                revoked,
                revision,
            })
        };
        assert_eq!(
            share_data("hc-a", &data, None, CaseHere::Unknown),
            Verdict::Apply
        );
        assert_eq!(
            share_data("hc-a", &data, None, CaseHere::MovedTo("hc-a")),
            Verdict::Apply
        );
        assert!(matches!(
            share_data("hc-a", &data, None, CaseHere::Owned),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            share_data("hc-x", &data, None, CaseHere::MovedTo("hc-a")),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            share_data("hc-x", &data, None, CaseHere::OfferedBy("hc-a")),
            Verdict::Refuse(_)
        ));
        assert_eq!(
            share_data("hc-a", &data, None, CaseHere::OfferedBy("hc-a")),
            Verdict::Apply
        );
        assert_eq!(
            share_data(
                "hc-a",
                &data,
                held("hc-a", "follow_up", false, 4),
                CaseHere::Unknown
            ),
            Verdict::Apply
        );
        assert_eq!(
            share_data(
                "hc-a",
                &data,
                held("hc-a", "follow_up", false, 6),
                CaseHere::Unknown
            ),
            Verdict::NoChange
        );
        assert_eq!(
            share_data(
                "hc-a",
                &data,
                held("hc-a", "follow_up", true, 1),
                CaseHere::Unknown
            ),
            Verdict::NoChange
        );
        assert!(matches!(
            share_data(
                "hc-x",
                &data,
                held("hc-a", "follow_up", false, 1),
                CaseHere::Unknown
            ),
            Verdict::Refuse(_)
        ));
        assert!(matches!(
            share_data(
                "hc-a",
                &data,
                held("hc-a", "medical", false, 1),
                CaseHere::Unknown
            ),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = Rule::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Rule::ALL.len());
    }
}
