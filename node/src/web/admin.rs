//! Administration (users, the audit trail, unexplained views) and the
//! ministry's timeliness page.

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};
use time::Duration;

use super::forms::Form;
use super::i18n::{t, word};
use super::layout::{
    csrf_field, error_box, field, local_time, message_page, page, respond, url_encode,
};
use super::login::{check_csrf, enrolment};
use super::{Ctx, Me, WebState, text as s};
use crate::domain::{Role, WireName, japan_date};

async fn admin(state: &WebState, ctx: &Ctx) -> Result<Me, Response> {
    ctx.me_as(state, &[Role::Admin]).await
}

/// Roles an admin of this kind of node may create.
fn roles(state: &WebState) -> Vec<Role> {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| match state.node.config.kind {
            crate::config::NodeKind::National => matches!(r, Role::Admin | Role::Ministry),
            crate::config::NodeKind::HealthCentre => *r != Role::Ministry,
        })
        .collect()
}

async fn users_page(
    state: &WebState,
    ctx: &Ctx,
    me: &Me,
    status: StatusCode,
    notice: Option<Markup>,
    error: Option<&str>,
) -> Response {
    let lang = ctx.lang;
    let reply = match ctx.api(state, Method::GET, "/api/v1/users", None).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return message_page(ctx, Some(me), reply.status, &reply.message());
    }
    let today = japan_date(state.node.clock.now());
    let soon = crate::time_fmt::date(today + Duration::days(14));
    let month_ago = crate::time_fmt::instant(state.node.clock.now() - Duration::days(30));
    let body = html! {
        (error_box(error))
        @if let Some(n) = notice { div.notice { (n) } }
        table.users {
            thead { tr { th { "ID" } th { (t(lang, "role")) } th { (t(lang, "organisation")) } th { (t(lang, "admin.until")) } th { (t(lang, "admin.last_login")) } th { "" } th { "" } } }
            tbody { @for u in reply.body["items"].as_array().into_iter().flatten() {
                @let id = s(&u["id"]);
                @let disabled = !u["disabled_at"].is_null();
                tr {
                    td { (id) }
                    td { (word(lang, "role", s(&u["role"]))) }
                    td { (s(&u["organisation"])) }
                    td { (s(&u["until"])) }
                    td { (u["last_login_at"].as_str().map(local_time).unwrap_or_default()) }
                    td.flags {
                        @if disabled { span.badge { (t(lang, "admin.disabled")) } }
                        @else {
                            @if u["must_change_password"].as_bool() == Some(true) { span.badge { (t(lang, "admin.must_change")) } }
                            @if u["until"].as_str().is_some_and(|d| d <= soon.as_str()) { span.badge.warn { (t(lang, "admin.expiring")) } }
                            @if u["last_login_at"].as_str().is_none_or(|l| l < month_ago.as_str()) && u["must_change_password"].as_bool() != Some(true) { span.badge.warn { (t(lang, "admin.inactive")) } }
                        }
                    }
                    td { @if !disabled && id != me.id {
                        form.inline method="post" action={ "/admin/users/" (url_encode(id)) "/reset" } { (csrf_field(ctx)) button.small type="submit" { (t(lang, "action.reset")) } }
                        form.inline method="post" action={ "/admin/users/" (url_encode(id)) "/disable" } { (csrf_field(ctx)) button.small type="submit" { (t(lang, "action.disable")) } }
                    } }
                }
            } }
        }
        section {
            h2 { (t(lang, "action.add_user")) }
            form.inline method="post" action="/admin/users" {
                (csrf_field(ctx))
                (field("ID", "id", "text", "", true))
                label { span { (t(lang, "role")) } select name="role" { @for r in roles(state) { option value=(r.wire_name()) { (word(lang, "role", r.wire_name())) } } } }
                (field(t(lang, "organisation"), "organisation", "text", "", false))
                (field(t(lang, "admin.until"), "until", "date", "", false))
                button type="submit" { (t(lang, "action.add_user")) }
            }
        }
    };
    respond(status, page(ctx, Some(me), t(lang, "admin.users"), body))
}

pub async fn users(State(state): State<WebState>, ctx: Ctx) -> Response {
    let me = match admin(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    users_page(&state, &ctx, &me, StatusCode::OK, None, None).await
}

/// The one-time credentials, to hand over in person.
fn handover(ctx: &Ctx, intro: &str, c: &Value) -> Markup {
    html! {
        p { (intro) }
        dl {
            div { dt { "ID" } dd { code { (s(&c["user"])) } } }
            div { dt { (t(ctx.lang, "admin.one_time_password")) } dd { code.secret { (s(&c["password"])) } } }
        }
        (enrolment(ctx, s(&c["totp_uri"]), s(&c["totp_secret"])))
    }
}

pub async fn add_user(State(state): State<WebState>, ctx: Ctx, form: Form) -> Response {
    let me = match admin(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    let body = json!({ "id": form.text("id"), "role": form.text("role"), "organisation": form.text("organisation"), "until": form.text("until") });
    let reply = match ctx
        .api(&state, Method::POST, "/api/v1/users", Some(body))
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return users_page(
            &state,
            &ctx,
            &me,
            super::status_of(&reply),
            None,
            Some(&reply.message()),
        )
        .await;
    }
    let notice = handover(&ctx, t(ctx.lang, "admin.created"), &reply.body);
    users_page(&state, &ctx, &me, StatusCode::CREATED, Some(notice), None).await
}

pub async fn user_action(
    State(state): State<WebState>,
    ctx: Ctx,
    Path((id, action)): Path<(String, String)>,
    form: Form,
) -> Response {
    let me = match admin(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    if !matches!(action.as_str(), "disable" | "reset") {
        return message_page(&ctx, Some(&me), StatusCode::NOT_FOUND, "no such action");
    }
    let path = format!("/api/v1/users/{}/{action}", url_encode(&id));
    let reply = match ctx.api(&state, Method::POST, &path, None).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return users_page(
            &state,
            &ctx,
            &me,
            super::status_of(&reply),
            None,
            Some(&reply.message()),
        )
        .await;
    }
    if action == "reset" {
        let notice = handover(&ctx, t(ctx.lang, "admin.reset_done"), &reply.body);
        return users_page(&state, &ctx, &me, StatusCode::OK, Some(notice), None).await;
    }
    Redirect::to("/admin/users").into_response()
}

#[derive(serde::Deserialize, Default)]
struct AuditParams {
    actor: Option<String>,
    case_id: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    unexplained: Option<String>,
    before: Option<String>,
}

pub async fn audit(State(state): State<WebState>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let me = match admin(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let lang = ctx.lang;
    let p: AuditParams = super::query(raw.as_deref());
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let unexplained = p.unexplained.is_some();
    let mut query: Vec<(&str, String)> = vec![("limit", "200".into())];
    for (k, v) in [
        ("actor", &p.actor),
        ("case_id", &p.case_id),
        ("action", &p.action),
        ("outcome", &p.outcome),
        ("before", &p.before),
    ] {
        if let Some(v) = nonempty(v) {
            query.push((k, v));
        }
    }
    if unexplained {
        query.push(("unexplained", "true".into()));
    }
    let qs = serde_urlencoded::to_string(&query).unwrap_or_default();
    let reply = match ctx
        .api(&state, Method::GET, &format!("/api/v1/audit?{qs}"), None)
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    let error = (!reply.ok()).then(|| reply.message());
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let body = html! {
        @if unexplained { p { (t(lang, "admin.unexplained_help")) } }
        form.inline method="get" action="/admin/audit" {
            (field(t(lang, "admin.actor"), "actor", "text", &v(&p.actor), false))
            (field(t(lang, "audit.case"), "case_id", "text", &v(&p.case_id), false))
            (field(t(lang, "audit.action"), "action", "text", &v(&p.action), false))
            label { span { (t(lang, "admin.outcome")) } select name="outcome" {
                option value="" { "—" }
                @for o in ["allowed", "denied"] { option value=(o) selected[p.outcome.as_deref() == Some(o)] { (o) } }
            } }
            label.check { input type="checkbox" name="unexplained" value="1" checked[unexplained]; (t(lang, "admin.unexplained")) }
            button type="submit" { (t(lang, "action.filter")) }
        }
        (error_box(error.as_deref()))
        table.audit {
            thead { tr { th { "#" } th { (t(lang, "obs.time")) } th { (t(lang, "admin.actor")) } th { (t(lang, "audit.action")) } th { (t(lang, "audit.case")) } th { (t(lang, "audit.part")) } th { (t(lang, "admin.outcome")) } } }
            tbody { @for e in &items {
                tr.denied[e["outcome"] == "denied"] {
                    td { (e["seq"]) }
                    td { (local_time(s(&e["at"]))) }
                    td { (s(&e["actor"])) br; small { (word(lang, "role", s(&e["role"]))) " " (s(&e["organisation"])) } }
                    td { (s(&e["action"])) }
                    td { (s(&e["case_id"]).get(..8).unwrap_or("")) }
                    td { (s(&e["part"])) }
                    td { (s(&e["outcome"])) " " small { (s(&e["reason"])) } }
                }
            } }
        }
        @if let Some(last) = items.last().and_then(|e| e["seq"].as_i64()).filter(|_| items.len() == 200) {
            p { a href={ "/admin/audit?before=" (last) @if unexplained { "&unexplained=1" } } { (t(lang, "action.older")) } }
        }
    };
    let title = if unexplained {
        t(lang, "admin.unexplained")
    } else {
        t(lang, "admin.audit")
    };
    respond(StatusCode::OK, page(&ctx, Some(&me), title, body))
}

/// The ministry's page: reporting timeliness per centre.
pub async fn national(State(state): State<WebState>, ctx: Ctx) -> Response {
    let me = match ctx.me(&state).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let reply = match ctx
        .api(&state, Method::GET, "/api/v1/stats/timeliness", None)
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return message_page(&ctx, Some(&me), reply.status, &reply.message());
    }
    let lang = ctx.lang;
    let rows = reply.body["centres"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let body = html! {
        p { a href="/stats" { (t(lang, "nav.stats")) } }
        table {
            thead { tr { th { "Centre" } th { "State" } th { "p50 (s)" } th { "p90 (s)" } th { "Last" } } }
            tbody { @for r in &rows {
                tr.denied[r["state"] != "ok"] {
                    td { (s(&r["centre"])) }
                    td { (s(&r["state"])) }
                    td { (r["median_lag_seconds"]) }
                    td { (r["p90_lag_seconds"]) }
                    td { (r["last_received_at"].as_str().map(local_time).unwrap_or_default()) }
                }
            } }
        }
    };
    respond(
        StatusCode::OK,
        page(&ctx, Some(&me), t(lang, "national.timeliness"), body),
    )
}
