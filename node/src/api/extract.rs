//! Request extractors: a JSON body parsed only after authorisation, with
//! errors that name the field; path parameters and query strings whose
//! errors name the parameter; and the authenticated user.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use sqlx::Row;

use super::AppState;
use super::error::ApiError;
use crate::auth::token;
use crate::config::HttpConfig;
use crate::domain::{Role, WireName, japan_date};
use crate::forwarded;
use crate::time_fmt;

/// A JSON body, size-checked and content-type-checked but not yet parsed:
/// handlers parse it after they have authorised the request, so a caller
/// who may not use an endpoint learns nothing from its validation.
pub struct JsonBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
                )
            } else {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
        })?;
        Ok(JsonBody(bytes))
    }
}

impl JsonBody {
    /// Parses the body; errors name the offending field (`tests[0].method`).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.0)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body is an object; serde would otherwise also read a
    // struct from a positional array.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'[') | Some(b'"') | Some(b'0'..=b'9') | Some(b'-') | Some(b't') | Some(b'f')
        | Some(b'n') => {
            return Err(ApiError::field("body", "must be a JSON object"));
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the body is not valid JSON",
            ));
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." {
                    "body".to_string()
                } else {
                    path
                };
                ApiError::field(&field, strip_position(&inner.to_string()))
            }
            _ => ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })?;
    Ok(value)
}

/// serde_json appends "at line 1 column 80" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Path parameters, as axum's `Path`, except that a value that cannot be
/// read (`/api/v1/cases/%ff%fe` is not UTF-8 once decoded) answers like every
/// other API error, JSON naming the parameter, instead of axum's plain text.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(path_error(e.into_kind())),
            Err(other) => Err(ApiError::internal(other)),
        }
    }
}

fn path_error(kind: ErrorKind) -> ApiError {
    let invalid = |name: &str, problem: &str| {
        ApiError::bad_request("invalid_path", format!("path parameter `{name}` {problem}"))
    };
    match kind {
        ErrorKind::InvalidUtf8InPathParam { key } => {
            invalid(&key, "is not valid UTF-8 once percent-decoded")
        }
        ErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => invalid(&key, &format!("is not a valid {expected_type}")),
        ErrorKind::DeserializeError { key, message, .. } => invalid(&key, &message),
        ErrorKind::ParseErrorAtIndex {
            index,
            expected_type,
            ..
        } => invalid(
            &format!("{}", index + 1),
            &format!("is not a valid {expected_type}"),
        ),
        ErrorKind::ParseError { expected_type, .. } => {
            invalid("1", &format!("is not a valid {expected_type}"))
        }
        // The rest (wrong number of parameters, unsupported types) are
        // mistakes in the router, not in the request.
        other => ApiError::internal(other),
    }
}

/// Reads a query string into `T` (no query string: `T::default()`). A
/// parameter that does not read (an unknown name, a word where a number or
/// `true`/`false` belongs) is refused 422 `invalid_field` naming it, as a
/// body field is; percent-decoding cannot fail (bytes that are not UTF-8
/// become U+FFFD and then fail as values).
pub fn parse_query<T: DeserializeOwned + Default>(raw: Option<String>) -> Result<T, ApiError> {
    let Some(raw) = raw else {
        return Ok(T::default());
    };
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(pairs).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "query".to_string()
        } else {
            path
        };
        ApiError::field(&field, e.into_inner())
    })
}

/// The client's address, for the login throttle: the TCP peer, or the
/// address a trusted proxy forwards ([`crate::forwarded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The address of a request. A web page calling the API in-process
    /// passes the address it resolved for the browser as an extension
    /// (which only code in this process can set); otherwise it is resolved
    /// from the connection and the headers.
    pub fn of(parts: &Parts, http: &HttpConfig) -> Self {
        if let Some(addr) = parts.extensions.get::<ClientAddr>() {
            return *addr;
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        ClientAddr(forwarded::client_address(
            peer,
            &parts.headers,
            &http.trusted_proxies,
            http.client_address_header,
        ))
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.config.http))
    }
}

/// The user behind a request's session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub id: String,
    pub role: Role,
    pub organisation: Option<String>,
    pub must_change_password: bool,
    pub token_hash: Vec<u8>,
}

/// An authenticated user who has set their own password: what every
/// endpoint but the password change and logout requires.
#[derive(Debug, Clone)]
pub struct AuthUser(pub SessionUser);

pub const SESSION_COOKIE: &str = "renkei_session";

fn session_token(parts: &Parts) -> Option<String> {
    if let Some(auth) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return auth.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    let cookies = axum_extra::extract::CookieJar::from_headers(&parts.headers);
    cookies.get(SESSION_COOKIE).map(|c| c.value().to_string())
}

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token =
            session_token(parts).ok_or_else(|| ApiError::unauthenticated("log in first"))?;
        if !token::looks_valid(&token) {
            return Err(ApiError::unauthenticated("the session token is not valid"));
        }
        let token_hash = token::digest(&token);
        let row = sqlx::query(
            "SELECT s.created_at, s.last_seen_at, u.id, u.role, u.organisation, u.must_change_password, u.until, u.disabled_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
        )
        .bind(&token_hash)
        .fetch_optional(&state.pool)
        .await?;
        let Some(row) = row else {
            return Err(ApiError::unauthenticated(
                "the session has ended; log in again",
            ));
        };
        let now = state.clock.now();
        let created = time_fmt::parse_instant(row.get(0))
            .ok_or_else(|| ApiError::internal("bad session time"))?;
        let last_seen = time_fmt::parse_instant(row.get(1))
            .ok_or_else(|| ApiError::internal("bad session time"))?;
        let user_id: String = row.get(2);
        let until: Option<String> = row.get(6);
        let disabled: Option<String> = row.get(7);
        let expired_account = until.is_some_and(|u| time_fmt::date(japan_date(now)) > u);
        if disabled.is_some() || expired_account {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(&user_id)
                .execute(&state.pool)
                .await?;
            return Err(ApiError::unauthenticated(
                "the account is disabled or has passed its end date",
            ));
        }
        let sessions = &state.config.sessions;
        if now - last_seen > sessions.idle_timeout || now - created > sessions.absolute_lifetime {
            sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
                .bind(&token_hash)
                .execute(&state.pool)
                .await?;
            return Err(ApiError::unauthenticated(
                "the session has expired; log in again",
            ));
        }
        // Record activity at most once a minute: enough for the idle timeout.
        if now - last_seen > time::Duration::minutes(1) {
            sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
                .bind(time_fmt::instant(now))
                .bind(&token_hash)
                .execute(&state.pool)
                .await?;
        }
        let role_name: String = row.get(3);
        let role =
            Role::from_wire(&role_name).ok_or_else(|| ApiError::internal("unknown role stored"))?;
        Ok(SessionUser {
            id: user_id,
            role,
            organisation: row.get(4),
            must_change_password: row.get(5),
            token_hash,
        })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = SessionUser::from_request_parts(parts, state).await?;
        if user.must_change_password {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "set your own password first (POST /api/v1/password)",
            ));
        }
        Ok(AuthUser(user))
    }
}
