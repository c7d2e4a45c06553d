//! The web interface: server-rendered pages (maud, auto-escaping) for every
//! role, served by the node's own HTTP server next to the API.
//!
//! **Invariant:** a page never reads or writes records itself. Every page
//! asks the JSON API in-process ([`Ctx::api`]) with the browser's session,
//! so it gets exactly the API's authorisation, validation and audit: a page
//! cannot show what the API would refuse, and every read it makes is
//! audited as the API's reads are.
//!
//! Every form carries a CSRF token; every page is sent with a strict
//! Content-Security-Policy (no scripts at all), `Cache-Control: no-store`
//! and no referrer (the patient's link is a secret).

// Handlers answer early with a finished page (`Err(Response)`), as axum does.
#![allow(clippy::result_large_err)]

mod admin;
mod cases;
mod charts;
mod csrf;
mod forms;
pub mod i18n;
mod layout;
mod login;
mod patient;
mod staff;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tower::ServiceExt;

use crate::api::extract::ClientAddr;
use crate::api::{self, AppState};
use crate::domain::{Role, WireName};
use i18n::Lang;

/// The web pages' state: the node, and the API they call in-process.
#[derive(Clone)]
pub struct WebState {
    pub node: AppState,
    api: Router,
}

/// The web pages and the API, in one router.
pub fn router(state: AppState) -> Router {
    let api = api::router(state.clone());
    let web = WebState {
        node: state,
        api: api.clone(),
    };
    let pages = Router::new()
        .route("/", get(home))
        .route("/lang", get(switch_language))
        .route("/static/renkei.css", get(stylesheet))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/welcome", get(login::welcome).post(login::enrol))
        .route("/cases", get(cases::list))
        .route("/cases/new", get(cases::new_form).post(cases::create))
        .route("/cases/{id}", get(cases::case_page))
        .route("/cases/{id}/{action}", post(cases::act))
        .route("/dashboard", get(staff::dashboard))
        .route("/transfers", get(staff::transfers))
        .route("/transfers/{tid}/{answer}", post(staff::answer))
        .route("/shared", get(staff::shared_list))
        .route("/shared/{sid}", get(staff::shared_case))
        .route("/r/{token}", get(patient::form).post(patient::submit))
        .route("/r/{token}/thanks", get(patient::thanks))
        .route("/admin/users", get(admin::users).post(admin::add_user))
        .route("/admin/users/{id}/{action}", post(admin::user_action))
        .route("/admin/audit", get(admin::audit))
        .route("/national", get(admin::national))
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .with_state(web);
    // The API's own fallback answers unknown paths. The headers wrap the
    // merged router, so no answer escapes them: not the API's JSON (which
    // carries personal records), its errors, `/stats`, nor a route added
    // later on either side.
    pages
        .merge(api)
        .layer(middleware::from_fn(security_headers))
}

/// Headers on every answer, pages and API alike: no scripts or inline
/// styles, no framing, no sniffing, no referrer, and no caching anywhere
/// (browser or proxy) except of the stylesheet, which is the same for all.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let is_css = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/css"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_css {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("renkei.css"),
    )
        .into_response()
}

/// What a page knows about its request: language, session, client address.
pub struct Ctx {
    pub lang: Lang,
    token: Option<String>,
    form_cookie: Option<String>,
    /// The browser's address, resolved once (behind a trusted proxy, the
    /// address it forwards) and handed to every API call the page makes.
    addr: ClientAddr,
    /// The path and query of this page (for the language switch).
    pub here: String,
}

pub const LANG_COOKIE: &str = "renkei_lang";

impl FromRequestParts<WebState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        let jar = axum_extra::extract::CookieJar::from_headers(&parts.headers);
        let lang = jar
            .get(LANG_COOKIE)
            .map(|c| Lang::parse(c.value()))
            .unwrap_or_default();
        Ok(Ctx {
            lang,
            token: jar
                .get(api::extract::SESSION_COOKIE)
                .map(|c| c.value().to_string()),
            form_cookie: jar.get(csrf::FORM_COOKIE).map(|c| c.value().to_string()),
            addr: ClientAddr::of(parts, &state.node.config.http),
            here: parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "/".into()),
        })
    }
}

/// The API's answer to an in-process call.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The API's message (it says what was wrong).
    pub fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the request failed")
            .to_string()
    }
}

/// The logged-in user, as the API sees them.
#[derive(Debug, Clone)]
pub struct Me {
    pub id: String,
    pub role: Role,
    pub organisation: Option<String>,
}

impl Ctx {
    /// Calls the API in-process with this browser's session.
    pub async fn api(
        &self,
        state: &WebState,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, Response> {
        let mut builder = axum::http::Request::builder().method(method).uri(path);
        if let Some(token) = &self.token {
            builder = builder.header(
                header::COOKIE,
                format!("{}={token}", api::extract::SESSION_COOKIE),
            );
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&v).map_err(|_| self.failure())?)
            }
            None => Body::empty(),
        };
        let mut request = builder.body(body).map_err(|_| self.failure())?;
        request.extensions_mut().insert(self.addr);
        let response = state
            .api
            .clone()
            .oneshot(request)
            .await
            .map_err(|_| self.failure())?;
        let (parts, body) = response.into_parts();
        let bytes: Bytes = axum::body::to_bytes(body, 4 * 1024 * 1024)
            .await
            .map_err(|_| self.failure())?;
        Ok(Reply {
            status: parts.status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers: parts.headers,
        })
    }

    /// The logged-in user, or a redirect to the login page (or to the
    /// first-login page while the one-time password is still in use).
    pub async fn me(&self, state: &WebState) -> Result<Me, Response> {
        if self.token.is_none() {
            return Err(Redirect::to("/login").into_response());
        }
        let reply = self.api(state, Method::GET, "/api/v1/me", None).await?;
        if !reply.ok() {
            return Err(Redirect::to("/login").into_response());
        }
        let b = &reply.body;
        if b["must_change_password"].as_bool() == Some(true) {
            return Err(Redirect::to("/welcome").into_response());
        }
        Ok(Me {
            id: b["user"].as_str().unwrap_or_default().to_string(),
            role: b["role"]
                .as_str()
                .and_then(Role::from_wire)
                .ok_or_else(|| self.failure())?,
            organisation: b["organisation"].as_str().map(String::from),
        })
    }

    /// The CSRF token every form on this page must carry.
    pub fn csrf(&self) -> String {
        csrf::token(self.token.as_deref(), self.form_cookie.as_deref())
    }

    /// A generic failure page (the cause is in the node's log).
    pub fn failure(&self) -> Response {
        layout::message_page(
            self,
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            i18n::t(self.lang, "error.internal"),
        )
    }
}

/// `/`: each role's starting page.
async fn home(State(state): State<WebState>, ctx: Ctx) -> Response {
    let me = match ctx.me(&state).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let to = match me.role {
        Role::Staff => "/dashboard",
        Role::Medical | Role::Contractor | Role::Facility => "/cases",
        Role::Admin => "/admin/users",
        Role::Ministry => "/national",
    };
    Redirect::to(to).into_response()
}

#[derive(serde::Deserialize)]
struct LangQuery {
    to: String,
    back: Option<String>,
}

/// `/lang?to=en&back=/cases`: switches the language and goes back.
async fn switch_language(axum::extract::Query(q): axum::extract::Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to);
    // Only a path on this site: never an open redirect.
    let back = q
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

impl Ctx {
    /// The logged-in user if their role may use this page, or a refusal page.
    pub async fn me_as(&self, state: &WebState, allowed: &[Role]) -> Result<Me, Response> {
        let me = self.me(state).await?;
        if !allowed.contains(&me.role) {
            return Err(layout::message_page(
                self,
                Some(&me),
                StatusCode::FORBIDDEN,
                i18n::t(self.lang, "error.forbidden"),
            ));
        }
        Ok(me)
    }
}

/// A string field of an API answer, or "".
pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A page's query string read leniently: anything unreadable is no filter.
pub fn query<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> T {
    raw.and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default()
}

/// Adds a Set-Cookie header, if there is one to add.
pub fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// The roles that work on a health centre's cases.
pub const CASE_ROLES: &[Role] = &[Role::Staff, Role::Medical, Role::Contractor, Role::Facility];

/// Status for a refused form: what the API said, or 400.
pub fn status_of(reply: &Reply) -> StatusCode {
    if reply.status.is_client_error() {
        reply.status
    } else {
        StatusCode::BAD_REQUEST
    }
}
