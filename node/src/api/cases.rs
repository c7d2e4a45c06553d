//! Case endpoints: notification, tests, confirmation, status, place of stay,
//! observations, contacts, medical, assignment, and reading a case (the
//! list is in `case_list.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::Row;
use time::Date;
use utoipa::ToSchema;

use super::case_requests::*;
use super::error::{ApiError, ApiResult};
use super::extract::{AuthUser, JsonBody, Path, SessionUser};
use super::openapi::{
    BadBody, BadPath, BadPathAndBody, Conflict, NotFound, Unauthorised, Unavailable,
};
use super::{AppState, CaseAccess};
use crate::access::{Action, View};
use crate::audit::{AuditEntry, Outcome};
use crate::command::{Change, Command};
use crate::domain::{CaseStatus, Role, WireName, japan_date};
use crate::time_fmt;
use crate::views::{self, CaseView, FollowUpView};

/// Answers with the case as `view` allows, after a write.
async fn respond_with_case(
    state: &AppState,
    case_id: &str,
    view: View,
    status: StatusCode,
) -> ApiResult<Response> {
    let answer = load_case_answer(state, case_id, view).await?;
    Ok((status, Json(answer)).into_response())
}

/// The case as `view` allows.
async fn load_case_answer(state: &AppState, case_id: &str, view: View) -> ApiResult<CaseAnswer> {
    let missing = || ApiError::not_found("case");
    Ok(match view {
        View::FollowUp => {
            let today = japan_date(state.clock.now());
            CaseAnswer::FollowUp(Box::new(
                views::load_follow_up(&state.pool, case_id, today)
                    .await?
                    .ok_or_else(missing)?,
            ))
        }
        _ => CaseAnswer::Full(Box::new(
            views::load_case(&state.pool, case_id)
                .await?
                .ok_or_else(missing)?,
        )),
    })
}

/// A case as the caller's role may see it: the whole record, or the
/// follow-up view for contractors and facilities.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CaseAnswer {
    Full(Box<CaseView>),
    FollowUp(Box<FollowUpView>),
}

fn command(state: &AppState, user: &AuthUser, change: Change) -> Command {
    Command {
        reports: Vec::new(),
        share_updates: Vec::new(),
        at: state.clock.now(),
        actor: user.0.id.clone(),
        change,
    }
}

fn entry(
    state: &AppState,
    user: &AuthUser,
    action: &str,
    case_id: &str,
    person_id: &str,
    part: &str,
) -> AuditEntry {
    AuditEntry::new(state.clock.now(), &user.0.actor(), action, Outcome::Allowed)
        .case(case_id)
        .person(person_id)
        .part(part)
}

/// Register a notification (発生届).
///
/// Who may call it: staff, medical.
#[utoipa::path(post, path = "/api/v1/cases", request_body = NotificationRequest,
    responses((status = 201, description = "The new case", body = CaseView),
        BadBody, Unauthorised, Conflict, Unavailable))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    body: JsonBody,
) -> ApiResult<Response> {
    state
        .authorize(&user.0, Action::CreateCase, "case.create")
        .await?;
    let case_id = register(&state, &user.0, body.parse()?).await?;
    respond_with_case(&state, &case_id, View::Full, StatusCode::CREATED).await
}

/// Registers a notification for `actor`: the one path behind
/// `POST /api/v1/cases` and the seeding of `renkei up`. A medical user's
/// notification is bound to its institution.
pub(super) async fn register(
    state: &AppState,
    actor: &SessionUser,
    request: NotificationRequest,
) -> ApiResult<String> {
    let today = japan_date(state.clock.now());
    let institution = (actor.role == Role::Medical)
        .then_some(actor.organisation.as_deref())
        .flatten();
    let mut case = request.into_new_case(today, institution)?;
    if let (Some(f), Some(p)) = (&state.federation, case.person.as_mut()) {
        p.person_key = f.person_key(
            &p.name_kana,
            &time_fmt::date(p.date_of_birth),
            p.sex.wire_name(),
        );
    }
    let (case_id, person_id) = (case.case_id.clone(), case.person_id.clone());
    let now = state.clock.now();
    let audit = AuditEntry::new(now, &actor.actor(), "case.create", Outcome::Allowed)
        .case(&case_id)
        .person(&person_id)
        .part("notification");
    state
        .submit(
            Command::new(now, &actor.id, Change::RegisterCase(Box::new(case))),
            vec![audit],
        )
        .await?;
    Ok(case_id)
}

/// Read a case.
///
/// Who may call it: staff, medical (own), contractor and facility (assigned;
/// follow-up view).
#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = String, Path, description = "The case id")),
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPath, Unauthorised, NotFound, Unavailable))]
pub async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let CaseAccess { view, facts } = state
        .authorize_case(&user.0, Action::ReadCase, &id, "case.read")
        .await?;
    let part = if view == View::FollowUp {
        "follow_up"
    } else {
        "full"
    };
    let body = load_case_answer(&state, &id, view).await?;
    state
        .record(vec![entry(
            &state,
            &user,
            "case.read",
            &id,
            &facts.person_id,
            part,
        )])
        .await?;
    Ok(Json(body).into_response())
}

/// What several handlers need to know about the stored case.
struct Stored {
    date_of_birth: Date,
    disease: String,
    status: CaseStatus,
    entered_by: String,
    municipality_code: String,
    address: String,
    reporting_institution: Option<String>,
}

async fn stored(state: &AppState, case_id: &str) -> ApiResult<Stored> {
    let row = sqlx::query(
        "SELECT p.date_of_birth, c.disease, c.status, c.entered_by, c.municipality_code, c.address, c.reporting_institution \
         FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.id = ?",
    )
    .bind(case_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("case"))?;
    Ok(Stored {
        date_of_birth: time_fmt::parse_date(row.get(0))
            .ok_or_else(|| ApiError::internal("bad stored date"))?,
        disease: row.get(1),
        status: CaseStatus::from_wire(row.get(2))
            .ok_or_else(|| ApiError::internal("bad stored status"))?,
        entered_by: row.get(3),
        municipality_code: row.get(4),
        address: row.get(5),
        reporting_institution: row.get(6),
    })
}

/// Add or correct notification details, or change the class.
///
/// Who may call it: staff, medical (own).
#[utoipa::path(patch, path = "/api/v1/cases/{id}", params(("id" = String, Path, description = "The case id")), request_body = NotificationPatch,
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn update_notification(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let access = state
        .authorize_case(
            &user.0,
            Action::EditNotification,
            &id,
            "case.notification.update",
        )
        .await?;
    let patch: NotificationPatch = body.parse()?;
    if user.0.role == Role::Medical
        && patch
            .reporting_institution
            .as_ref()
            .is_some_and(|r| Some(r) != user.0.organisation.as_ref())
    {
        return Err(ApiError::field(
            "reporting_institution",
            "must be your own institution",
        ));
    }
    let s = stored(&state, &id).await?;
    let today = japan_date(state.clock.now());
    let (diagnosis_class, details) = patch.check(s.date_of_birth, today, &s.disease, s.status)?;
    let change = Change::UpdateNotification {
        case_id: id.clone(),
        diagnosis_class,
        details,
        reported_on: today,
    };
    let audit = entry(
        &state,
        &user,
        "case.notification.update",
        &id,
        &access.facts.person_id,
        "notification",
    );
    state
        .submit(command(&state, &user, change), vec![audit])
        .await?;
    respond_with_case(&state, &id, access.view, StatusCode::OK).await
}

/// Additional registration: a new notification that locks this one.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/cases/{id}/additional-registrations", params(("id" = String, Path, description = "The case id")), request_body = AdditionalRegistrationRequest,
    responses((status = 201, description = "The new case", body = CaseView),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn additional_registration(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let access = state
        .authorize_case(
            &user.0,
            Action::AdditionalRegistration,
            &id,
            "case.additional_registration",
        )
        .await?;
    let request: AdditionalRegistrationRequest = body.parse()?;
    let s = stored(&state, &id).await?;
    let today = japan_date(state.clock.now());
    let earlier = EarlierCase {
        case_id: &id,
        person_id: &access.facts.person_id,
        disease: &s.disease,
        date_of_birth: s.date_of_birth,
        municipality_code: &s.municipality_code,
        address: &s.address,
        reporting_institution: s.reporting_institution.as_deref(),
    };
    let case = request.into_new_case(&earlier, today)?;
    let new_id = case.case_id.clone();
    let audit = vec![
        entry(
            &state,
            &user,
            "case.additional_registration",
            &id,
            &access.facts.person_id,
            "notification.locked",
        ),
        entry(
            &state,
            &user,
            "case.create",
            &new_id,
            &access.facts.person_id,
            "notification",
        ),
    ];
    state
        .submit(
            command(&state, &user, Change::RegisterCase(Box::new(case))),
            audit,
        )
        .await?;
    respond_with_case(&state, &new_id, View::Full, StatusCode::CREATED).await
}

/// Add tests.
///
/// Who may call it: staff, medical (own).
#[utoipa::path(post, path = "/api/v1/cases/{id}/tests", params(("id" = String, Path, description = "The case id")), request_body = TestsRequest,
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn add_tests(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let access = state
        .authorize_case(&user.0, Action::AddTests, &id, "case.tests.add")
        .await?;
    let request: TestsRequest = body.parse()?;
    let s = stored(&state, &id).await?;
    let tests = request.check(s.date_of_birth, japan_date(state.clock.now()))?;
    let audit = entry(
        &state,
        &user,
        "case.tests.add",
        &id,
        &access.facts.person_id,
        "tests",
    );
    state
        .submit(
            command(
                &state,
                &user,
                Change::AddTests {
                    case_id: id.clone(),
                    tests,
                },
            ),
            vec![audit],
        )
        .await?;
    respond_with_case(&state, &id, access.view, StatusCode::OK).await
}

/// Health-centre confirmation (保健所確認済) with the current status.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/cases/{id}/confirm", params(("id" = String, Path, description = "The case id")), request_body = ConfirmRequest,
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn confirm(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let access = state
        .authorize_case(&user.0, Action::Confirm, &id, "case.confirm")
        .await?;
    let request: ConfirmRequest = body.parse()?;
    let s = stored(&state, &id).await?;
    // Q&A Q14-2: preferably someone other than the person who entered it.
    // Allowed (small centres), but recorded and shown.
    let by_entrant = s.entered_by == user.0.id;
    let change = Change::Confirm {
        case_id: id.clone(),
        status: request.status,
        by_entrant,
    };
    let audit = entry(
        &state,
        &user,
        "case.confirm",
        &id,
        &access.facts.person_id,
        "confirmation",
    );
    state
        .submit(command(&state, &user, change), vec![audit])
        .await?;
    respond_with_case(&state, &id, access.view, StatusCode::OK).await
}

/// The shape shared by simple case updates: authorise, parse, build the
/// change, submit it with its audit entry, answer with the role's view.
#[allow(clippy::too_many_arguments)]
async fn change_case<B: serde::de::DeserializeOwned>(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    action: Action,
    audit_action: &str,
    part: &str,
    status: StatusCode,
    body: JsonBody,
    make: impl FnOnce(B) -> ApiResult<Change>,
) -> ApiResult<Response> {
    let access = state
        .authorize_case(&user.0, action, id, audit_action)
        .await?;
    let change = make(body.parse()?)?;
    let audit = entry(state, user, audit_action, id, &access.facts.person_id, part);
    state
        .submit(command(state, user, change), vec![audit])
        .await?;
    respond_with_case(state, id, access.view, status).await
}

/// Set the current status.
///
/// Who may call it: staff.
#[utoipa::path(put, path = "/api/v1/cases/{id}/status", params(("id" = String, Path, description = "The case id")), request_body = StatusRequest,
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn set_status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let case_id = id.clone();
    change_case(
        &state,
        &user,
        &id,
        Action::SetStatus,
        "case.status.set",
        "status",
        StatusCode::OK,
        body,
        |r: StatusRequest| {
            Ok(Change::SetStatus {
                case_id,
                status: r.status,
            })
        },
    )
    .await
}

/// Record a new place of stay.
///
/// Who may call it: staff.
#[utoipa::path(put, path = "/api/v1/cases/{id}/place-of-stay", params(("id" = String, Path, description = "The case id")), request_body = PlaceOfStayRequest,
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn move_place_of_stay(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let case_id = id.clone();
    change_case(
        &state,
        &user,
        &id,
        Action::MovePlaceOfStay,
        "case.place_of_stay.set",
        "place_of_stay",
        StatusCode::OK,
        body,
        |r: PlaceOfStayRequest| {
            r.check()?;
            Ok(Change::MovePlaceOfStay {
                case_id,
                municipality_code: r.municipality_code,
                address: r.address,
            })
        },
    )
    .await
}

/// Record a health observation.
///
/// Who may call it: staff, contractor and facility (assigned).
#[utoipa::path(post, path = "/api/v1/cases/{id}/observations", params(("id" = String, Path, description = "The case id")), request_body = ObservationRequest,
    responses((status = 201, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn add_observation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let (case_id, now, role) = (id.clone(), state.clock.now(), user.0.role.wire_name());
    change_case(
        &state,
        &user,
        &id,
        Action::AddObservation,
        "case.observation.add",
        "observations",
        StatusCode::CREATED,
        body,
        |r: ObservationRequest| {
            Ok(Change::AddObservation {
                case_id,
                observation: r.check(now, role)?,
            })
        },
    )
    .await
}

/// Add a close contact.
///
/// Who may call it: staff.
#[utoipa::path(post, path = "/api/v1/cases/{id}/contacts", params(("id" = String, Path, description = "The case id")), request_body = ContactRequest,
    responses((status = 201, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn add_contact(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let (case_id, today) = (id.clone(), japan_date(state.clock.now()));
    change_case(
        &state,
        &user,
        &id,
        Action::AddContact,
        "case.contact.add",
        "contacts",
        StatusCode::CREATED,
        body,
        |r: ContactRequest| {
            Ok(Change::AddContact {
                case_id,
                contact: r.check(today)?,
            })
        },
    )
    .await
}

/// Set hospital, admission, ICU, ventilator, ECMO.
///
/// Who may call it: staff, medical (own).
#[utoipa::path(put, path = "/api/v1/cases/{id}/medical", params(("id" = String, Path, description = "The case id")), request_body = MedicalRequest,
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn set_medical(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let (case_id, today) = (id.clone(), japan_date(state.clock.now()));
    change_case(
        &state,
        &user,
        &id,
        Action::SetMedical,
        "case.medical.set",
        "medical",
        StatusCode::OK,
        body,
        |r: MedicalRequest| {
            Ok(Change::SetMedical {
                case_id,
                medical: r.check(today)?,
            })
        },
    )
    .await
}

/// Assign follow-up to an organisation.
///
/// Who may call it: staff.
#[utoipa::path(put, path = "/api/v1/cases/{id}/assignment", params(("id" = String, Path, description = "The case id")), request_body = AssignmentRequest,
    responses((status = 200, description = "The case as the role may see it", body = CaseAnswer),
        BadPathAndBody, Unauthorised, NotFound, Conflict, Unavailable))]
pub async fn set_assignment(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let case_id = id.clone();
    change_case(
        &state,
        &user,
        &id,
        Action::SetAssignment,
        "case.assignment.set",
        "assignment",
        StatusCode::OK,
        body,
        |r: AssignmentRequest| {
            Ok(Change::SetAssignment {
                case_id,
                assignment: r.check()?,
            })
        },
    )
    .await
}
