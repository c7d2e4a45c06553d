//! Submitted forms: `application/x-www-form-urlencoded`, size-limited,
//! CSRF-checked, read field by field into the API's JSON.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The fields of a submitted form, in order (a checkbox group repeats its name).
pub struct Form(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response()
        })?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| (StatusCode::BAD_REQUEST, "the form is not readable").into_response())?;
        Ok(Form(fields))
    }
}

impl Form {
    /// A field, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A field as a JSON string, or null.
    pub fn text(&self, name: &str) -> Value {
        self.get(name).map_or(Value::Null, |v| json!(v))
    }

    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// A number field: a JSON number, or the text itself so the API names
    /// the field and says what is wrong with it.
    pub fn number(&self, name: &str) -> Value {
        match self.get(name) {
            None => Value::Null,
            Some(v) => v
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| v.parse::<f64>().map(|f| json!(f)))
                .unwrap_or_else(|_| json!(v)),
        }
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}
