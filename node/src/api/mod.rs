//! The HTTP API (axum, JSON). [`api_routes`] registers every endpoint with
//! its OpenAPI operation (utoipa), so the document and the router are one list.

mod admin;
mod between;
mod between_answers;
mod case_list;
mod case_requests;
mod cases;
mod dashboard;
pub mod error;
pub mod extract;
mod login;
pub mod openapi;
mod self_report;
mod shares;
mod stats;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use sqlx::SqlitePool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// Every endpoint, with its OpenAPI operation: each `routes!` entry adds a
/// handler to the router and its `#[utoipa::path]` to the document, so the
/// two cannot disagree. Handlers on one path share one `routes!`.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi::healthz))
        .routes(routes!(openapi::serve))
        .routes(routes!(login::login))
        .routes(routes!(login::logout))
        .routes(routes!(login::change_password))
        .routes(routes!(login::me))
        .routes(routes!(case_list::list, cases::create))
        .routes(routes!(cases::read, cases::update_notification))
        .routes(routes!(cases::additional_registration))
        .routes(routes!(cases::add_tests))
        .routes(routes!(cases::confirm))
        .routes(routes!(cases::set_status))
        .routes(routes!(cases::move_place_of_stay))
        .routes(routes!(cases::add_observation))
        .routes(routes!(cases::add_contact))
        .routes(routes!(cases::set_medical))
        .routes(routes!(cases::set_assignment))
        .routes(routes!(self_report::issue))
        .routes(routes!(self_report::check))
        .routes(routes!(self_report::report))
        .routes(routes!(admin::list_users, admin::add_user))
        .routes(routes!(admin::disable_user))
        .routes(routes!(admin::reset_user))
        .routes(routes!(admin::query_audit))
        .routes(routes!(dashboard::dashboard))
        .routes(routes!(admin::federation_status))
        .routes(routes!(stats::public_daily))
        .routes(routes!(stats::daily))
        .routes(routes!(stats::public_current))
        .routes(routes!(stats::current))
        .routes(routes!(stats::timeliness))
        .routes(routes!(stats::page))
        .routes(routes!(between::offer))
        .routes(routes!(between::list_transfers))
        .routes(routes!(between::read_transfer))
        .routes(routes!(between::accept))
        .routes(routes!(between::reject))
        .routes(routes!(between::withdraw))
        .routes(routes!(between::refer))
        .routes(routes!(between::list_referrals))
        .routes(routes!(shares::share, shares::list_case_shares))
        .routes(routes!(shares::revoke_share))
        .routes(routes!(shares::list_shared))
        .routes(routes!(shares::read_shared))
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    routes
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

/// One documented operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// Upper case, as HTTP writes it.
    pub method: String,
    /// With `{name}` for path parameters, as axum and OpenAPI write it.
    pub path: String,
    /// Whether anyone may call it without a session (`security` allows none).
    pub public: bool,
}

/// Every endpoint the router serves, read from the document.
pub fn routes() -> Vec<Route> {
    let mut routes: Vec<Route> = openapi::document()["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, operation)| Route {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    public: operation["security"].as_array().is_some_and(|s| {
                        s.is_empty() || s.iter().any(|r| r == &serde_json::json!({}))
                    }),
                })
        })
        .collect();
    routes.sort();
    routes
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
