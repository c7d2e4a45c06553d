//! The API's one error type: a status code, a stable machine-readable code
//! and a message that says what was wrong. Internal causes are logged, never
//! sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::command::ApplyError;
use crate::domain::FieldError;
use crate::log::SubmitError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn field(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field}: {message}"),
        )
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// Too many failed attempts. The wait is announced in whole seconds,
    /// rounded up: a client that waits exactly as long as told must get in.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = retry_after_seconds(wait);
        Self {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many failed attempts; try again in {secs} s"),
            )
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A fault on our side: logged with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the node could not complete the request",
        )
    }
}

/// A wait in whole seconds for `Retry-After`, never shorter than the wait
/// itself and never 0 (which would invite an immediate retry).
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::field(&e.field, &e.message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && (db.is_unique_violation()
                || db.is_foreign_key_violation()
                || db.is_check_violation())
        {
            return Self::conflict("the change conflicts with the stored record");
        }
        Self::internal(e)
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Refused(ApplyError::NotFound(what)) => Self::not_found(what),
            SubmitError::Refused(ApplyError::Locked { by }) => Self::new(
                StatusCode::CONFLICT,
                "locked",
                format!("the notification is locked: additional registration {by} supersedes it"),
            ),
            SubmitError::Refused(ApplyError::Conflict(message)) => Self::conflict(message),
            // Only federation messages are judged by authority rules; an API
            // request never meets one, but if it did it is a refusal.
            SubmitError::Refused(e @ (ApplyError::Unauthorised(_) | ApplyError::NotYet(_))) => {
                Self::conflict(e.to_string())
            }
            SubmitError::Refused(ApplyError::Database(e)) => Self::from(e),
            SubmitError::Unavailable(message) => {
                tracing::error!(%message, "command log unavailable");
                Self::unavailable("the node cannot record changes right now; try again")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1200)), 2);
        assert_eq!(retry_after_seconds(Duration::from_nanos(1_000_000_001)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        let limited = ApiError::rate_limited(Duration::from_millis(1999));
        assert_eq!(limited.retry_after, Some(2));
        assert!(
            limited.message.contains("try again in 2 s"),
            "{}",
            limited.message
        );
    }
}
