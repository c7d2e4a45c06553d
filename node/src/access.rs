//! Who may do what. One table, [`decide`], says for every role and action
//! whether it is allowed and which view of the record the actor gets; the
//! handlers ask it and nothing else.
//!
//! **Invariant:** a contractor or facility sees only patients assigned to its
//! own organisation, and only through the follow-up view.

use sqlx::{Row, SqlitePool};
use time::Date;

use crate::domain::{AssignmentKind, Role, WireName};
use crate::time_fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateCase,
    ListCases,
    ReadCase,
    EditNotification,
    /// A new notification that supersedes and locks this one: staff only,
    /// since it decides the case's history.
    AdditionalRegistration,
    AddTests,
    Confirm,
    SetStatus,
    MovePlaceOfStay,
    AddObservation,
    AddContact,
    SetMedical,
    SetAssignment,
    IssueSelfReportLink,
    ReadAudit,
    ManageUsers,
    /// The federation's delivery status (no record data).
    ViewFederation,
    /// Unsuppressed national statistics and reporting timeliness (anonymous).
    ReadStatistics,
    /// Transfers, shares and referrals with other centres (staff only).
    BetweenCentres,
    /// The centre's dashboard: counts only (staff).
    ViewDashboard,
}

/// How the actor stands to one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Not about one case (creating, listing, users, audit).
    NoCase,
    /// The actor's institution notified the case.
    Notifier,
    /// The case is assigned, today, to the actor's organisation for follow-up.
    Assigned,
    /// Neither of the above.
    Unrelated,
}

/// Which view of a record the actor gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The whole record.
    Full,
    /// Only what health follow-up needs (see `views::FOLLOW_UP_FIELDS`).
    FollowUp,
    /// No record data (administration).
    None,
}

/// The policy. `None` means refused.
pub fn decide(role: Role, action: Action, relation: Relation) -> Option<View> {
    use Action::*;
    match role {
        // Staff of the centre act on every case the centre holds.
        Role::Staff => match action {
            ReadAudit | ManageUsers | ViewFederation | ReadStatistics => None,
            _ => Some(View::Full),
        },
        // A medical institution notifies, adds tests and keeps hospital
        // status, for its own notifications only.
        Role::Medical => match (action, relation) {
            (CreateCase | ListCases, _) => Some(View::Full),
            (ReadCase | EditNotification | AddTests | SetMedical, Relation::Notifier) => {
                Some(View::Full)
            }
            _ => None,
        },
        // Follow-up bodies see and observe the patients assigned to them.
        Role::Contractor | Role::Facility => match (action, relation) {
            (ListCases, _) => Some(View::FollowUp),
            (ReadCase | AddObservation, Relation::Assigned) => Some(View::FollowUp),
            _ => None,
        },
        Role::Admin => match action {
            ReadAudit | ManageUsers | ViewFederation => Some(View::None),
            _ => None,
        },
        // The ministry works on the national node, not on a centre's records.
        Role::Ministry => match action {
            ReadStatistics => Some(View::None),
            _ => None,
        },
    }
}

/// Which assignment kinds a follow-up role may act on.
pub fn assignment_kinds(role: Role) -> &'static [AssignmentKind] {
    match role {
        Role::Contractor => &[AssignmentKind::Contractor, AssignmentKind::Midwives],
        Role::Facility => &[AssignmentKind::Facility],
        _ => &[],
    }
}

/// What the policy needs to know about a case.
#[derive(Debug, Clone)]
pub struct CaseFacts {
    pub person_id: String,
    pub reporting_institution: Option<String>,
    pub assignment: Option<(String, String, String, Option<String>)>,
}

pub async fn case_facts(
    pool: &SqlitePool,
    case_id: &str,
) -> Result<Option<CaseFacts>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT c.person_id, c.reporting_institution, a.kind, a.organisation, a.from_date, a.until_date \
         FROM cases c LEFT JOIN assignments a ON a.case_id = c.id WHERE c.id = ?",
    )
    .bind(case_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| CaseFacts {
        person_id: row.get(0),
        reporting_institution: row.get(1),
        assignment: row
            .get::<Option<String>, _>(2)
            .map(|kind| (kind, row.get(3), row.get(4), row.get(5))),
    }))
}

/// How a user with `role` and `organisation` stands to a case, on `today`.
pub fn relation(
    role: Role,
    organisation: Option<&str>,
    facts: &CaseFacts,
    today: Date,
) -> Relation {
    let Some(org) = organisation else {
        return Relation::Unrelated;
    };
    if role == Role::Medical && facts.reporting_institution.as_deref() == Some(org) {
        return Relation::Notifier;
    }
    if let Some((kind, assigned_org, from, until)) = &facts.assignment {
        let kind_ok = assignment_kinds(role).iter().any(|k| k.wire_name() == kind);
        let today_s = time_fmt::date(today);
        let active = *from <= today_s && until.as_ref().is_none_or(|u| today_s <= *u);
        if kind_ok && assigned_org == org && active {
            return Relation::Assigned;
        }
    }
    Relation::Unrelated
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    const CASE_ACTIONS: &[Action] = &[
        ReadCase,
        EditNotification,
        AdditionalRegistration,
        AddTests,
        Confirm,
        SetStatus,
        MovePlaceOfStay,
        AddObservation,
        AddContact,
        SetMedical,
        SetAssignment,
        IssueSelfReportLink,
    ];

    #[test]
    fn contractor_sees_only_assigned_and_only_follow_up() {
        for action in CASE_ACTIONS {
            assert_eq!(
                decide(Role::Contractor, *action, Relation::Unrelated),
                None,
                "{action:?}"
            );
            let expected = matches!(action, ReadCase | AddObservation).then_some(View::FollowUp);
            assert_eq!(
                decide(Role::Contractor, *action, Relation::Assigned),
                expected,
                "{action:?}"
            );
        }
        assert_eq!(decide(Role::Contractor, ReadAudit, Relation::NoCase), None);
        assert_eq!(decide(Role::Contractor, CreateCase, Relation::NoCase), None);
    }

    #[test]
    fn admin_manages_but_reads_no_records() {
        for action in CASE_ACTIONS.iter().chain(&[CreateCase, ListCases]) {
            assert_eq!(
                decide(Role::Admin, *action, Relation::Unrelated),
                None,
                "{action:?}"
            );
        }
        assert_eq!(
            decide(Role::Admin, ReadAudit, Relation::NoCase),
            Some(View::None)
        );
    }

    #[test]
    fn medical_needs_its_own_notification() {
        assert_eq!(decide(Role::Medical, ReadCase, Relation::Unrelated), None);
        assert_eq!(
            decide(Role::Medical, ReadCase, Relation::Notifier),
            Some(View::Full)
        );
        assert_eq!(decide(Role::Medical, Confirm, Relation::Notifier), None);
    }

    fn facts(kind: &str, org: &str, from: &str, until: Option<&str>) -> CaseFacts {
        CaseFacts {
            person_id: "p".into(),
            reporting_institution: Some("clinic-a".into()),
            assignment: Some((kind.into(), org.into(), from.into(), until.map(Into::into))),
        }
    }

    #[test]
    fn assignment_must_match_kind_organisation_and_dates() {
        let today = time::macros::date!(2026 - 11 - 20);
        let f = facts("contractor", "acme", "2026-11-01", Some("2026-11-30"));
        assert_eq!(
            relation(Role::Contractor, Some("acme"), &f, today),
            Relation::Assigned
        );
        assert_eq!(
            relation(Role::Contractor, Some("other"), &f, today),
            Relation::Unrelated
        );
        assert_eq!(
            relation(Role::Facility, Some("acme"), &f, today),
            Relation::Unrelated
        );
        let ended = facts("contractor", "acme", "2026-11-01", Some("2026-11-19"));
        assert_eq!(
            relation(Role::Contractor, Some("acme"), &ended, today),
            Relation::Unrelated
        );
        assert_eq!(
            relation(Role::Medical, Some("clinic-a"), &f, today),
            Relation::Notifier
        );
    }
}
