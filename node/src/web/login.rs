//! Login, logout, and the first login: own password and a fresh second
//! factor shown as a QR code.

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use serde_json::json;

use super::forms::Form;
use super::i18n::t;
use super::layout::{csrf_field, error_box, page, respond};
use super::{Ctx, WebState, csrf, with_cookie};
use crate::auth::totp;

/// The CSRF token for a page that may be shown before any session: reuses
/// the browser's cookie or sets a new one.
pub fn pre_session_token(state: &WebState, ctx: &Ctx) -> (String, Option<HeaderValue>) {
    let token = ctx.csrf();
    if !token.is_empty() {
        return (token, None);
    }
    let (value, cookie) = csrf::new_form_cookie(state.node.config.http.behind_tls);
    (value, Some(cookie))
}

/// Refuses a form whose CSRF token is wrong.
pub fn check_csrf(ctx: &Ctx, form: &Form) -> Result<(), Response> {
    if csrf::check(&ctx.csrf(), form.get("csrf")) {
        Ok(())
    } else {
        Err(super::layout::message_page(
            ctx,
            None,
            StatusCode::FORBIDDEN,
            t(ctx.lang, "error.csrf"),
        ))
    }
}

fn login_page(ctx: &Ctx, csrf_token: &str, user: &str, error: Option<&str>) -> Markup {
    let lang = ctx.lang;
    page(
        ctx,
        None,
        t(lang, "login.title"),
        html! {
            (error_box(error))
            form.narrow method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf_token);
                label { span { (t(lang, "login.user")) } input name="user" value=(user) autocomplete="username" required autofocus; }
                label { span { (t(lang, "login.password")) } input type="password" name="password" autocomplete="current-password" required; }
                label { span { (t(lang, "login.code")) } input name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required; }
                button type="submit" { (t(lang, "action.login")) }
            }
        },
    )
}

pub async fn form(State(state): State<WebState>, ctx: Ctx) -> Response {
    let (token, cookie) = pre_session_token(&state, &ctx);
    with_cookie(
        respond(StatusCode::OK, login_page(&ctx, &token, "", None)),
        cookie,
    )
}

pub async fn submit(State(state): State<WebState>, ctx: Ctx, form: Form) -> Response {
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    let user = form.get("user").unwrap_or_default().to_string();
    let body = json!({
        "user": user,
        "password": form.0.iter().find(|(k, _)| k == "password").map(|(_, v)| v.as_str()).unwrap_or_default(),
        "totp": form.get("code").unwrap_or_default(),
    });
    let reply = match ctx
        .api(&state, Method::POST, "/api/v1/login", Some(body))
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        let message = if reply.status == StatusCode::TOO_MANY_REQUESTS {
            reply.message()
        } else {
            t(ctx.lang, "error.login").to_string()
        };
        let mut response = respond(
            reply.status,
            login_page(&ctx, &ctx.csrf(), &user, Some(&message)),
        );
        // A refused browser is told how long to wait, as an API client is.
        if let Some(wait) = reply.headers.get(header::RETRY_AFTER) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.clone());
        }
        return response;
    }
    let mut response = Redirect::to("/").into_response();
    for cookie in reply.headers.get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

pub async fn logout(State(state): State<WebState>, ctx: Ctx, form: Form) -> Response {
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    let reply = match ctx.api(&state, Method::POST, "/api/v1/logout", None).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut response = Redirect::to("/login").into_response();
    for cookie in reply.headers.get_all(header::SET_COOKIE) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// The QR code of an `otpauth://` URI, as inline SVG.
pub fn qr_svg(uri: &str) -> Markup {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => PreEscaped(
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build(),
        ),
        Err(_) => html! {},
    }
}

/// A secret in groups of four, easier to type.
pub fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The handover of a second factor: QR code and key.
pub fn enrolment(ctx: &Ctx, uri: &str, secret: &str) -> Markup {
    html! {
        figure.qr {
            (qr_svg(uri))
            figcaption {
                (t(ctx.lang, "welcome.qr"))
                br;
                (t(ctx.lang, "welcome.secret")) ": " code.secret { (grouped(secret)) }
            }
        }
    }
}

async fn me_before_password(state: &WebState, ctx: &Ctx) -> Result<(String, bool), Response> {
    let reply = ctx.api(state, Method::GET, "/api/v1/me", None).await?;
    if !reply.ok() {
        return Err(Redirect::to("/login").into_response());
    }
    Ok((
        reply.body["user"].as_str().unwrap_or_default().to_string(),
        reply.body["must_change_password"].as_bool() == Some(true),
    ))
}

fn welcome_page(
    state: &WebState,
    ctx: &Ctx,
    user: &str,
    secret: &str,
    error: Option<&str>,
) -> Markup {
    let lang = ctx.lang;
    let uri = totp::provisioning_uri(
        &format!("Renkei {}", state.node.config.node_id),
        user,
        secret,
    );
    page(
        ctx,
        None,
        t(lang, "welcome.title"),
        html! {
            p { (t(lang, "welcome.intro")) }
            (error_box(error))
            form.narrow method="post" action="/welcome" {
                (csrf_field(ctx))
                input type="hidden" name="secret" value=(secret);
                label { span { (t(lang, "welcome.old_password")) } input type="password" name="current" autocomplete="current-password" required; }
                label { span { (t(lang, "welcome.new_password")) } input type="password" name="new" minlength="12" autocomplete="new-password" required; }
                (enrolment(ctx, &uri, secret))
                label { span { (t(lang, "login.code")) } input name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required; }
                button type="submit" { (t(lang, "action.start")) }
            }
        },
    )
}

pub async fn welcome(State(state): State<WebState>, ctx: Ctx) -> Response {
    let (user, must_change) = match me_before_password(&state, &ctx).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !must_change {
        return Redirect::to("/").into_response();
    }
    let secret = totp::generate_secret();
    respond(
        StatusCode::OK,
        welcome_page(&state, &ctx, &user, &secret, None),
    )
}

pub async fn enrol(State(state): State<WebState>, ctx: Ctx, form: Form) -> Response {
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    let (user, _) = match me_before_password(&state, &ctx).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let raw = |name: &str| {
        form.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let secret = form.get("secret").unwrap_or_default().to_string();
    let body = json!({
        "current": raw("current"),
        "new": raw("new"),
        "totp_secret": secret,
        "totp_code": form.get("code").unwrap_or_default(),
    });
    let reply = match ctx
        .api(&state, Method::POST, "/api/v1/password", Some(body))
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if reply.ok() {
        return Redirect::to("/").into_response();
    }
    // Keep the same key so a user who already scanned it can retry.
    let secret = if secret.len() == 32 && totp::decode_secret(&secret).is_some() {
        secret
    } else {
        totp::generate_secret()
    };
    respond(
        super::status_of(&reply),
        welcome_page(&state, &ctx, &user, &secret, Some(&reply.message())),
    )
}
