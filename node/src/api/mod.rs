//! The HTTP API (axum, JSON). [`ROUTES`] lists every endpoint; the OpenAPI
//! document is built from the same list and a test holds the two together.

mod admin;
mod between;
mod case_requests;
mod cases;
mod dashboard;
pub mod error;
pub mod extract;
mod login;
pub mod openapi;
mod self_report;
mod stats;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post, put};
use sqlx::SqlitePool;

use crate::access::{self, Action, CaseFacts, Relation, View};
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::throttle::LoginThrottle;
use crate::clock::Clock;
use crate::command::Command;
use crate::config::Config;
use crate::domain::{Role, japan_date};
use crate::log::{CommandLog, LocalLog, Receipt, Submission};
use error::{ApiError, ApiResult};
use extract::SessionUser;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub log: LocalLog,
    pub config: Arc<Config>,
    pub throttle: Arc<LoginThrottle>,
    pub clock: Clock,
    pub federation: Option<Arc<crate::federation::Federation>>,
}

/// Every endpoint: method, path, summary, and who may call it.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/healthz", "Liveness: the node answers", "anyone"),
    (
        "GET",
        "/api/v1/openapi.json",
        "This API as an OpenAPI 3 document",
        "anyone",
    ),
    (
        "POST",
        "/api/v1/login",
        "Log in with user id, password and one-time code",
        "anyone",
    ),
    (
        "POST",
        "/api/v1/logout",
        "End the current session",
        "any user",
    ),
    (
        "POST",
        "/api/v1/password",
        "Set a new password (required after first login)",
        "any user",
    ),
    ("GET", "/api/v1/me", "The logged-in user", "any user"),
    (
        "GET",
        "/api/v1/cases",
        "List cases (filtered, paged, newest first)",
        "staff, medical (own), contractor and facility (assigned)",
    ),
    (
        "POST",
        "/api/v1/cases",
        "Register a notification (発生届)",
        "staff, medical",
    ),
    (
        "GET",
        "/api/v1/cases/{id}",
        "Read a case",
        "staff, medical (own), contractor and facility (assigned; follow-up view)",
    ),
    (
        "PATCH",
        "/api/v1/cases/{id}",
        "Add or correct notification details, or change the class",
        "staff, medical (own)",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/additional-registrations",
        "Additional registration: a new notification that locks this one",
        "staff",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/tests",
        "Add tests",
        "staff, medical (own)",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/confirm",
        "Health-centre confirmation (保健所確認済) with the current status",
        "staff",
    ),
    (
        "PUT",
        "/api/v1/cases/{id}/status",
        "Set the current status",
        "staff",
    ),
    (
        "PUT",
        "/api/v1/cases/{id}/place-of-stay",
        "Record a new place of stay",
        "staff",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/observations",
        "Record a health observation",
        "staff, contractor and facility (assigned)",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/contacts",
        "Add a close contact",
        "staff",
    ),
    (
        "PUT",
        "/api/v1/cases/{id}/medical",
        "Set hospital, admission, ICU, ventilator, ECMO",
        "staff, medical (own)",
    ),
    (
        "PUT",
        "/api/v1/cases/{id}/assignment",
        "Assign follow-up to an organisation",
        "staff",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/self-report-link",
        "Issue the patient's self-report link",
        "staff",
    ),
    (
        "GET",
        "/api/v1/self-report/{token}",
        "Check a self-report link",
        "the patient (link)",
    ),
    (
        "POST",
        "/api/v1/self-report/{token}/observations",
        "The patient reports temperature, SpO2 and symptoms",
        "the patient (link)",
    ),
    ("GET", "/api/v1/users", "List users", "admin"),
    (
        "POST",
        "/api/v1/users",
        "Add a user (returns a one-time password and TOTP secret)",
        "admin",
    ),
    (
        "POST",
        "/api/v1/users/{id}/disable",
        "Disable a user and end their sessions",
        "admin",
    ),
    (
        "POST",
        "/api/v1/users/{id}/reset",
        "Reset a user's password and second factor (new one-time credentials)",
        "admin",
    ),
    (
        "GET",
        "/api/v1/dashboard",
        "Today's notifications by sex and age band, 28 days of daily counts, open work",
        "staff",
    ),
    (
        "GET",
        "/api/v1/audit",
        "Query the audit trail (the query is itself audited)",
        "admin",
    ),
    (
        "GET",
        "/api/v1/federation/status",
        "Per peer: connected, outbox depth, oldest pending age, last error; the CRL in force and its alarm",
        "admin",
    ),
    (
        "GET",
        "/api/v1/public/stats/daily",
        "Daily new cases, small cells suppressed (by=, date=, from=, to=, format=csv)",
        "anyone",
    ),
    (
        "GET",
        "/api/v1/stats/daily",
        "Daily new cases, unsuppressed (by=, date=, from=, to=, format=csv)",
        "ministry",
    ),
    (
        "GET",
        "/api/v1/public/stats/current",
        "Current cases, hospitalised, severe, deceased, released; small cells suppressed (by=)",
        "anyone",
    ),
    (
        "GET",
        "/api/v1/stats/current",
        "Current counts, unsuppressed (by=)",
        "ministry",
    ),
    (
        "GET",
        "/api/v1/stats/timeliness",
        "Per centre: reporting lag and whether it is silent or behind",
        "ministry",
    ),
    (
        "GET",
        "/stats",
        "The public statistics page (HTML, SVG epidemic curve)",
        "anyone",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/transfer",
        "Offer the case to another centre (移管)",
        "staff",
    ),
    (
        "GET",
        "/api/v1/transfers",
        "Incoming and outgoing transfers (direction=, state=)",
        "staff",
    ),
    (
        "GET",
        "/api/v1/transfers/{tid}",
        "A transfer, with the offered record if incoming",
        "staff",
    ),
    (
        "POST",
        "/api/v1/transfers/{tid}/accept",
        "Accept an incoming offer",
        "staff",
    ),
    (
        "POST",
        "/api/v1/transfers/{tid}/reject",
        "Reject an incoming offer, with a reason",
        "staff",
    ),
    (
        "POST",
        "/api/v1/transfers/{tid}/withdraw",
        "Withdraw an outgoing offer",
        "staff",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/contacts/{cid}/refer",
        "Refer a close contact to the centre where they live",
        "staff",
    ),
    (
        "GET",
        "/api/v1/referrals",
        "Close contacts referred here by other centres",
        "staff",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/shares",
        "Share a read-only subset with a related centre for a purpose",
        "staff",
    ),
    (
        "GET",
        "/api/v1/cases/{id}/shares",
        "This case's shares and who looked at them",
        "staff",
    ),
    (
        "POST",
        "/api/v1/cases/{id}/shares/{sid}/revoke",
        "Revoke a share: the copy is deleted there",
        "staff",
    ),
    (
        "GET",
        "/api/v1/shared",
        "Cases other centres share with this one",
        "staff",
    ),
    (
        "GET",
        "/api/v1/shared/{sid}",
        "Read a shared copy (reported to the owning centre)",
        "staff",
    ),
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/login", post(login::login))
        .route("/api/v1/logout", post(login::logout))
        .route("/api/v1/password", post(login::change_password))
        .route("/api/v1/me", get(login::me))
        .route("/api/v1/cases", get(cases::list).post(cases::create))
        .route(
            "/api/v1/cases/{id}",
            get(cases::read).patch(cases::update_notification),
        )
        .route(
            "/api/v1/cases/{id}/additional-registrations",
            post(cases::additional_registration),
        )
        .route("/api/v1/cases/{id}/tests", post(cases::add_tests))
        .route("/api/v1/cases/{id}/confirm", post(cases::confirm))
        .route("/api/v1/cases/{id}/status", put(cases::set_status))
        .route(
            "/api/v1/cases/{id}/place-of-stay",
            put(cases::move_place_of_stay),
        )
        .route(
            "/api/v1/cases/{id}/observations",
            post(cases::add_observation),
        )
        .route("/api/v1/cases/{id}/contacts", post(cases::add_contact))
        .route("/api/v1/cases/{id}/medical", put(cases::set_medical))
        .route("/api/v1/cases/{id}/assignment", put(cases::set_assignment))
        .route(
            "/api/v1/cases/{id}/self-report-link",
            post(self_report::issue),
        )
        .route("/api/v1/self-report/{token}", get(self_report::check))
        .route(
            "/api/v1/self-report/{token}/observations",
            post(self_report::report),
        )
        .route(
            "/api/v1/users",
            get(admin::list_users).post(admin::add_user),
        )
        .route("/api/v1/users/{id}/disable", post(admin::disable_user))
        .route("/api/v1/users/{id}/reset", post(admin::reset_user))
        .route("/api/v1/audit", get(admin::query_audit))
        .route("/api/v1/dashboard", get(dashboard::dashboard))
        .route("/api/v1/federation/status", get(admin::federation_status))
        .route("/api/v1/public/stats/daily", get(stats::public_daily))
        .route("/api/v1/stats/daily", get(stats::daily))
        .route("/api/v1/public/stats/current", get(stats::public_current))
        .route("/api/v1/stats/current", get(stats::current))
        .route("/api/v1/stats/timeliness", get(stats::timeliness))
        .route("/stats", get(stats::page))
        .route("/api/v1/cases/{id}/transfer", post(between::offer))
        .route("/api/v1/transfers", get(between::list_transfers))
        .route("/api/v1/transfers/{tid}", get(between::read_transfer))
        .route("/api/v1/transfers/{tid}/accept", post(between::accept))
        .route("/api/v1/transfers/{tid}/reject", post(between::reject))
        .route("/api/v1/transfers/{tid}/withdraw", post(between::withdraw))
        .route(
            "/api/v1/cases/{id}/contacts/{cid}/refer",
            post(between::refer),
        )
        .route("/api/v1/referrals", get(between::list_referrals))
        .route(
            "/api/v1/cases/{id}/shares",
            post(between::share).get(between::list_case_shares),
        )
        .route(
            "/api/v1/cases/{id}/shares/{sid}/revoke",
            post(between::revoke_share),
        )
        .route("/api/v1/shared", get(between::list_shared))
        .route("/api/v1/shared/{sid}", get(between::read_shared))
        .fallback(|| async { ApiError::not_found("endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Whether a route in [`ROUTES`] matches a method (used by tests).
pub fn lists(method: &Method, path: &str) -> bool {
    ROUTES
        .iter()
        .any(|(m, p, _, _)| *m == method.as_str() && *p == path)
}

impl SessionUser {
    pub fn actor(&self) -> Actor {
        Actor::user(&self.id, self.role, self.organisation.as_deref())
    }
}

/// What an authorised case request carries on to the handler.
pub struct CaseAccess {
    pub view: View,
    pub facts: CaseFacts,
}

/// Registers a notification as a user would through `POST /api/v1/cases`
/// (same validation, same command, same reports); for seeding demo data.
pub async fn register_notification(
    state: &AppState,
    actor: &SessionUser,
    body: &serde_json::Value,
) -> ApiResult<String> {
    let body = serde_json::to_vec(body).map_err(ApiError::internal)?;
    cases::register(state, actor, extract::parse_json(&body)?).await
}

impl AppState {
    /// Makes audit entries durable (for reads: before the data is sent).
    pub async fn record(&self, entries: Vec<AuditEntry>) -> ApiResult<()> {
        self.log.submit(Submission::audit_only(entries)).await?;
        Ok(())
    }

    /// Submits a command with its audit entries. The statutory reports the
    /// change requires are attached here, so they are queued in the same
    /// transaction.
    pub async fn submit(
        &self,
        mut command: Command,
        entries: Vec<AuditEntry>,
    ) -> ApiResult<Receipt> {
        if let Some(federation) = &self.federation {
            command.reports = federation.report_tickets(&command.change);
            // Related centres get the new state of every case they share.
            for case_id in command.change.reported_cases() {
                let shares: Vec<String> =
                    sqlx::query_scalar("SELECT id FROM shares WHERE case_id = ? AND direction = 'out' AND state = 'active'")
                        .bind(case_id)
                        .fetch_all(&self.pool)
                        .await?;
                command
                    .share_updates
                    .extend(
                        shares
                            .into_iter()
                            .map(|share_id| crate::command::ShareTicket {
                                share_id,
                                me: federation.node_id.clone(),
                                message_id: uuid::Uuid::now_v7(),
                            }),
                    );
            }
        }
        let queued = !command.reports.is_empty()
            || !command.share_updates.is_empty()
            || command.change.sends_messages();
        let receipt = self
            .log
            .submit(Submission::command(command, entries))
            .await?;
        if let (true, Some(federation)) = (queued, &self.federation) {
            federation.outbox_changed();
        }
        Ok(receipt)
    }

    /// Decides an action that is not about one case; a refusal is audited.
    pub async fn authorize(
        &self,
        user: &SessionUser,
        action: Action,
        audit_action: &str,
    ) -> ApiResult<View> {
        match access::decide(user.role, action, Relation::NoCase) {
            Some(view) => Ok(view),
            None => {
                let entry = AuditEntry::new(
                    self.clock.now(),
                    &user.actor(),
                    audit_action,
                    Outcome::Denied,
                )
                .reason("role not permitted");
                self.record(vec![entry]).await?;
                Err(ApiError::forbidden(format!(
                    "the role `{}` may not do this",
                    user.role
                )))
            }
        }
    }

    /// Decides an action on one case; a refusal is audited. Staff learn that
    /// a case does not exist; other roles get the same answer for a missing
    /// case as for someone else's, so ids cannot be probed.
    pub async fn authorize_case(
        &self,
        user: &SessionUser,
        action: Action,
        case_id: &str,
        audit_action: &str,
    ) -> ApiResult<CaseAccess> {
        let facts = if uuid::Uuid::parse_str(case_id).is_ok() {
            access::case_facts(&self.pool, case_id).await?
        } else {
            None
        };
        let now = self.clock.now();
        let decision = facts.as_ref().and_then(|facts| {
            let relation = access::relation(
                user.role,
                user.organisation.as_deref(),
                facts,
                japan_date(now),
            );
            access::decide(user.role, action, relation)
        });
        match (facts, decision) {
            (Some(facts), Some(view)) => Ok(CaseAccess { view, facts }),
            (None, _) if user.role == Role::Staff => Err(ApiError::not_found("case")),
            (facts, _) => {
                let mut entry = AuditEntry::new(now, &user.actor(), audit_action, Outcome::Denied)
                    .reason("not permitted for this case");
                if let Some(facts) = &facts {
                    entry = entry.case(case_id).person(&facts.person_id);
                }
                self.record(vec![entry]).await?;
                Err(ApiError::forbidden("you may not access this case"))
            }
        }
    }
}
