//! The page frame (header, navigation, language switch) and small pieces
//! every page uses.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::i18n::{Lang, t, word};
use super::{Ctx, Me};
use crate::domain::{Role, WireName};

/// A whole page.
pub fn page(ctx: &Ctx, me: Option<&Me>, title: &str, body: Markup) -> Markup {
    let lang = ctx.lang;
    let switch = format!(
        "/lang?to={}&back={}",
        lang.other().code(),
        url_encode(&ctx.here)
    );
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Renkei" }
                link rel="stylesheet" href="/static/renkei.css";
            }
            body {
                header.top {
                    a.brand href="/" { "Renkei " span lang="ja" { "連携" } }
                    @if let Some(me) = me {
                        nav aria-label="main" {
                            @for (href, key) in nav(me.role) {
                                a href=(href) aria-current=[ctx.here.split('?').next().filter(|p| p == href).map(|_| "page")] { (t(lang, key)) }
                            }
                        }
                    }
                    div.session {
                        a href=(switch) hreflang=(lang.other().code()) { (t(lang, "lang.switch")) }
                        @if let Some(me) = me {
                            span.who { (me.id) " · " (word(lang, "role", me.role.wire_name())) }
                            form method="post" action="/logout" {
                                (csrf_field(ctx))
                                button.link type="submit" { (t(lang, "action.logout")) }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn nav(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Staff => &[
            ("/dashboard", "nav.dashboard"),
            ("/cases", "nav.cases"),
            ("/transfers", "nav.transfers"),
            ("/shared", "nav.shared"),
            ("/cases/new", "nav.new"),
        ],
        Role::Medical => &[("/cases", "nav.notifications"), ("/cases/new", "nav.new")],
        Role::Contractor | Role::Facility => &[("/cases", "nav.followup")],
        Role::Admin => &[
            ("/admin/users", "nav.users"),
            ("/admin/audit", "nav.audit"),
            ("/admin/audit?unexplained=1", "nav.unexplained"),
        ],
        Role::Ministry => &[("/national", "nav.national"), ("/stats", "nav.stats")],
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf()); }
}

/// A page as a response.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Html(markup.into_string()),
    )
        .into_response()
}

/// A page that only says something (an error, a refusal).
pub fn message_page(ctx: &Ctx, me: Option<&Me>, status: StatusCode, message: &str) -> Response {
    let title = if status.is_success() {
        "Renkei"
    } else {
        status.canonical_reason().unwrap_or("Error")
    };
    respond(
        status,
        page(
            ctx,
            me,
            title,
            html! { p.error role="alert" { (message) } p { a href="/" { "↩" } } },
        ),
    )
}

/// An error message box (what the API said was wrong).
pub fn error_box(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.error role="alert" { (m) }
        }
    }
}

/// `<option>`s for a vocabulary, with its words.
pub fn options<T: WireName>(lang: Lang, prefix: &str, selected: Option<&str>) -> Markup {
    html! {
        @for v in T::ALL {
            option value=(v.wire_name()) selected[selected == Some(v.wire_name())] {
                (word(lang, prefix, v.wire_name()))
            }
        }
    }
}

/// A labelled input.
/// One label and value of a `<dl>`.
pub fn kv(label: &str, value: impl maud::Render) -> Markup {
    html! { div { dt { (label) } dd { (value) } } }
}

pub fn field(label: &str, name: &str, kind: &str, value: &str, required: bool) -> Markup {
    html! {
        label {
            span { (label) @if required { " " abbr title="required" { "*" } } }
            input type=(kind) name=(name) value=(value) required[required];
        }
    }
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A date-time from the API (UTC, RFC 3339) as Japan time, to the minute.
pub fn local_time(at: &str) -> String {
    crate::time_fmt::parse_instant(at)
        .map(|t| {
            let j = t.to_offset(time::macros::offset!(+9));
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                j.year(),
                j.month() as u8,
                j.day(),
                j.hour(),
                j.minute()
            )
        })
        .unwrap_or_else(|| at.to_string())
}
