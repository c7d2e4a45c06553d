//! Login with password and one-time code, logout, password change.
//!
//! Every failure answers the same way whatever was wrong (unknown user,
//! wrong password, wrong or replayed code, disabled account), and an unknown
//! user costs the same hashing time as a known one: no user enumeration.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ClientAddr, JsonBody, SESSION_COOKIE, SessionUser};
use super::openapi::{BadBody, RateLimited, Unauthenticated, Unavailable};
use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::{password, token, totp};
use crate::command::{Change, Command};
use crate::domain::{Role, WireName, japan_date};
use crate::time_fmt;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    #[schema(max_length = 64)]
    user: String,
    #[schema(max_length = 1024)]
    password: String,
    /// The current code of the user's authenticator.
    #[schema(max_length = 16)]
    totp: String,
}

/// A new session.
#[derive(Serialize, ToSchema)]
struct LoginAnswer {
    /// The bearer token (also set as the session cookie).
    token: String,
    user: String,
    role: Role,
    organisation: Option<String>,
    /// The one-time password must be replaced before anything else.
    must_change_password: bool,
    #[schema(format = DateTime)]
    expires_at: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the user id, password or one-time code is wrong",
    )
}

fn session_cookie(state: &AppState, token: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.http.behind_tls {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("cookie characters are header-safe")
}

/// Log in with user id, password and one-time code.
///
/// Who may call it: anyone.
#[utoipa::path(post, path = "/api/v1/login", security(()), request_body = LoginRequest,
    responses((status = 200, description = "Logged in; the session cookie is set too", body = LoginAnswer),
        BadBody, Unauthenticated, RateLimited, Unavailable))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    body: JsonBody,
) -> ApiResult<Response> {
    let request: LoginRequest = body.parse()?;
    if request.user.len() > 64 || request.password.len() > 1024 || request.totp.len() > 16 {
        return Err(invalid_credentials());
    }
    state
        .throttle
        .check(addr, &request.user, state.clock.instant())
        .map_err(ApiError::rate_limited)?;
    let now = state.clock.now();
    let row = sqlx::query(
        "SELECT password_hash, totp_secret, totp_last_step, role, organisation, disabled_at, until, must_change_password \
         FROM users WHERE id = ?",
    )
    .bind(&request.user)
    .fetch_optional(&state.pool)
    .await?;
    let stored_hash: Option<String> = row.as_ref().map(|r| r.get(0));
    let attempt = request.password.clone();
    let password_ok = tokio::task::spawn_blocking(move || match stored_hash {
        Some(hash) => password::verify(&attempt, &hash),
        None => {
            password::verify_dummy(&attempt);
            false
        }
    })
    .await
    .map_err(ApiError::internal)?;

    let mut accepted = None;
    if let (true, Some(row)) = (password_ok, &row) {
        let secret: String = row.get(1);
        let last_step: i64 = row.get(2);
        let disabled: Option<String> = row.get(5);
        let until: Option<String> = row.get(6);
        let account_ok =
            disabled.is_none() && until.is_none_or(|u| time_fmt::date(japan_date(now)) <= u);
        if let (true, Some(step)) = (
            account_ok,
            totp::verify(&secret, &request.totp, now.unix_timestamp(), last_step),
        ) {
            // Accept the code once, even against a concurrent login with it.
            let used = sqlx::query(
                "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
            )
            .bind(step)
            .bind(&request.user)
            .bind(step)
            .execute(&state.pool)
            .await?;
            if used.rows_affected() == 1 {
                accepted = Some(row);
            }
        }
    }

    let Some(row) = accepted else {
        state
            .throttle
            .failed(addr, &request.user, state.clock.instant());
        let actor = Actor {
            id: request.user.clone(),
            role: "unknown".into(),
            organisation: None,
        };
        state
            .record(vec![
                AuditEntry::new(now, &actor, "login", Outcome::Denied)
                    .reason("invalid credentials"),
            ])
            .await?;
        return Err(invalid_credentials());
    };
    state.throttle.succeeded(addr, &request.user);
    let role_name: String = row.get(3);
    let role =
        Role::from_wire(&role_name).ok_or_else(|| ApiError::internal("unknown role stored"))?;
    let organisation: Option<String> = row.get(4);
    let must_change_password: bool = row.get(7);
    let session = token::generate();
    let at = time_fmt::instant(now);
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
    )
    .bind(token::digest(&session))
    .bind(&request.user)
    .bind(&at)
    .bind(&at)
    .execute(&state.pool)
    .await?;
    let actor = Actor::user(&request.user, role, organisation.as_deref());
    state
        .record(vec![AuditEntry::new(
            now,
            &actor,
            "login",
            Outcome::Allowed,
        )])
        .await?;
    let lifetime = state.config.sessions.absolute_lifetime.as_secs() as i64;
    let body = LoginAnswer {
        token: session.clone(),
        user: request.user,
        role,
        organisation,
        must_change_password,
        expires_at: time_fmt::instant(now + time::Duration::seconds(lifetime)),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &session, lifetime),
    );
    Ok(response)
}

/// End the current session.
///
/// Who may call it: any user.
#[utoipa::path(post, path = "/api/v1/logout",
    responses((status = 204, description = "The session has ended; the cookie is cleared"),
        Unauthenticated, Unavailable))]
pub async fn logout(State(state): State<AppState>, user: SessionUser) -> ApiResult<Response> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(&user.token_hash)
        .execute(&state.pool)
        .await?;
    state
        .record(vec![AuditEntry::new(
            state.clock.now(),
            &user.actor(),
            "logout",
            Outcome::Allowed,
        )])
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok(response)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    current: String,
    /// At least 12 characters (see `auth::password::check_new`).
    new: String,
    /// Enrol a new second factor at the same time: a fresh secret (base32,
    /// 160 bits) and a code from it, proving the authenticator has it.
    totp_secret: Option<String>,
    totp_code: Option<String>,
}

/// Set a new password (required after first login), optionally enrolling a
/// new second factor.
///
/// Who may call it: any user.
#[utoipa::path(post, path = "/api/v1/password", request_body = PasswordRequest,
    responses((status = 204, description = "The password (and second factor) are set"),
        BadBody, Unauthenticated, Unavailable))]
pub async fn change_password(
    State(state): State<AppState>,
    user: SessionUser,
    body: JsonBody,
) -> ApiResult<Response> {
    let request: PasswordRequest = body.parse()?;
    password::check_new(&request.new).map_err(|m| ApiError::field("new", m))?;
    let now = state.clock.now();
    let totp = match (&request.totp_secret, &request.totp_code) {
        (None, None) => None,
        (Some(secret), Some(code)) => {
            if secret.len() != 32 || totp::decode_secret(secret).is_none_or(|b| b.len() != 20) {
                return Err(ApiError::field(
                    "totp_secret",
                    "must be 32 base32 characters (160 bits)",
                ));
            }
            let step =
                totp::verify(secret, code.trim(), now.unix_timestamp(), 0).ok_or_else(|| {
                    ApiError::field("totp_code", "is not the current code for this secret")
                })?;
            Some((secret.clone(), step))
        }
        _ => {
            return Err(ApiError::field(
                "totp_code",
                "totp_secret and totp_code come together",
            ));
        }
    };
    if request.new == request.current {
        return Err(ApiError::field(
            "new",
            "must differ from the current password",
        ));
    }
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
        .bind(&user.id)
        .fetch_one(&state.pool)
        .await?;
    let (current, new) = (request.current, request.new);
    let hash = tokio::task::spawn_blocking(move || {
        password::verify(&current, &stored).then(|| password::hash(&new))
    })
    .await
    .map_err(ApiError::internal)?
    .ok_or_else(|| ApiError::field("current", "is not your current password"))?;
    let enrolled = totp.is_some();
    let command = Command {
        reports: Vec::new(),
        share_updates: Vec::new(),
        at: now,
        actor: user.id.clone(),
        change: Change::SetPassword {
            user_id: user.id.clone(),
            password_hash: hash,
            totp,
        },
    };
    let action = if enrolled {
        "user.credentials.set"
    } else {
        "user.password.set"
    };
    let audit = AuditEntry::new(now, &user.actor(), action, Outcome::Allowed)
        .part(&format!("user:{}", user.id));
    state.submit(command, vec![audit]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The logged-in user.
#[derive(Serialize, ToSchema)]
pub(super) struct Me {
    user: String,
    role: Role,
    organisation: Option<String>,
    must_change_password: bool,
}

/// The logged-in user.
///
/// Who may call it: any user.
#[utoipa::path(get, path = "/api/v1/me",
    responses((status = 200, description = "The session's user", body = Me), Unauthenticated))]
pub async fn me(user: SessionUser) -> Json<Me> {
    Json(Me {
        user: user.id,
        role: user.role,
        organisation: user.organisation,
        must_change_password: user.must_change_password,
    })
}
