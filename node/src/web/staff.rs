//! Centre staff: the dashboard, transfer offers, and cases other centres
//! share with this one.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::json;

use super::charts;
use super::forms::Form;
use super::i18n::{t, word};
use super::layout::{
    csrf_field, error_box, kv, local_time, message_page, page, respond, url_encode,
};
use super::login::check_csrf;
use super::{Ctx, Me, WebState, text as s};
use crate::domain::{Role, Sex, WireName};

async fn staff(state: &WebState, ctx: &Ctx) -> Result<Me, Response> {
    ctx.me_as(state, &[Role::Staff]).await
}

const BANDS: &[&str] = &[
    "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+",
];

pub async fn dashboard(State(state): State<WebState>, ctx: Ctx) -> Response {
    let me = match staff(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let reply = match ctx
        .api(&state, Method::GET, "/api/v1/dashboard", None)
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return message_page(&ctx, Some(&me), reply.status, &reply.message());
    }
    let lang = ctx.lang;
    let d = &reply.body;
    let cells = d["today_by_sex_and_age_band"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let count = |sex: &str, band: &str| {
        cells
            .iter()
            .find(|c| c["sex"] == sex && c["age_band"] == band)
            .and_then(|c| c["count"].as_i64())
            .unwrap_or(0)
    };
    let days: Vec<(String, i64)> = d["daily"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (s(&x["date"]).to_string(), x["count"].as_i64().unwrap_or(0)))
        .collect();
    let body = html! {
        div.tiles {
            a.tile href="/cases" { span.n { (d["today"]) } (t(lang, "dash.today")) }
            a.tile href="/cases?filter=unconfirmed" { span.n { (d["unconfirmed"]) } (t(lang, "dash.unconfirmed")) }
            a.tile.alert[d["alerts"].as_i64().unwrap_or(0) > 0] href="/cases?filter=alert" { span.n { (d["alerts"]) } (t(lang, "case.alert")) }
            a.tile href="/transfers" { span.n { (d["incoming_transfers"]) } (t(lang, "dash.incoming")) }
        }
        section {
            h2 { (t(lang, "dash.by_sex_age")) " " small { (s(&d["date"])) } }
            table.cross {
                thead { tr { th { "" } @for b in BANDS { th { (b) } } th { (t(lang, "dash.total")) } } }
                tbody {
                    @for sex in Sex::ALL {
                        tr {
                            th { (word(lang, "sex", sex.wire_name())) }
                            @for b in BANDS { td { (count(sex.wire_name(), b)) } }
                            td { (BANDS.iter().map(|b| count(sex.wire_name(), b)).sum::<i64>()) }
                        }
                    }
                }
            }
        }
        section {
            h2 { (t(lang, "dash.curve")) }
            (charts::daily_bars(t(lang, "dash.curve"), &days))
        }
    };
    respond(
        StatusCode::OK,
        page(&ctx, Some(&me), t(lang, "nav.dashboard"), body),
    )
}

async fn transfers_page(
    state: &WebState,
    ctx: &Ctx,
    me: &Me,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let lang = ctx.lang;
    let mut lists = Vec::new();
    for direction in ["in", "out"] {
        let reply = match ctx
            .api(
                state,
                Method::GET,
                &format!("/api/v1/transfers?direction={direction}"),
                None,
            )
            .await
        {
            Ok(r) => r,
            Err(r) => return r,
        };
        if !reply.ok() {
            return message_page(ctx, Some(me), reply.status, &reply.message());
        }
        lists.push(reply.body["items"].as_array().cloned().unwrap_or_default());
    }
    let body = html! {
        (error_box(error))
        section {
            h2 { (t(lang, "transfer.in")) }
            table {
                thead { tr { th { (t(lang, "transfer.peer")) } th { (t(lang, "name")) } th { (t(lang, "transfer.reason")) } th { "" } th { "" } } }
                tbody { @for x in &lists[0] {
                    @let o = &x["offered"];
                    tr {
                        td { (s(&x["peer"])) br; small { (local_time(s(&x["created_at"]))) } }
                        td {
                            (s(&o["name"])) " (" (s(&o["name_kana"])) ") " (word(lang, "sex", s(&o["sex"]))) " " (o["age"])
                            @if let Some(d) = x["duplicate_of"].as_array() {
                                br; span.badge.warn { (t(lang, "transfer.duplicate")) ": "
                                    @for c in d { a href={ "/cases/" (s(c)) } { (s(c).get(..8).unwrap_or("")) } " " } }
                            }
                        }
                        td { (s(&x["reason"])) }
                        td { (word(lang, "state", s(&x["state"]))) }
                        td { @if x["state"] == "offered" {
                            form.inline method="post" action={ "/transfers/" (s(&x["id"])) "/accept" } {
                                (csrf_field(ctx)) button.primary type="submit" { (t(lang, "action.accept")) }
                            }
                            form.inline method="post" action={ "/transfers/" (s(&x["id"])) "/reject" } {
                                (csrf_field(ctx))
                                label { span { (t(lang, "reject.reason")) } input name="reason" required; }
                                button type="submit" { (t(lang, "action.reject")) }
                            }
                        } }
                    }
                } }
            }
        }
        section {
            h2 { (t(lang, "transfer.out")) }
            table {
                thead { tr { th { (t(lang, "transfer.peer")) } th { "" } th { (t(lang, "transfer.reason")) } th { "" } th { "" } } }
                tbody { @for x in &lists[1] {
                    tr {
                        td { (s(&x["peer"])) br; small { (local_time(s(&x["created_at"]))) } }
                        td { a href={ "/cases/" (s(&x["case_id"])) } { (s(&x["case_id"]).get(..8).unwrap_or("")) } }
                        td { (s(&x["reason"])) }
                        td { (word(lang, "state", s(&x["state"]))) }
                        td { @if x["state"] == "offered" {
                            form.inline method="post" action={ "/transfers/" (s(&x["id"])) "/withdraw" } {
                                (csrf_field(ctx)) button type="submit" { (t(lang, "action.withdraw")) }
                            }
                        } }
                    }
                } }
            }
        }
    };
    respond(status, page(ctx, Some(me), t(lang, "nav.transfers"), body))
}

pub async fn transfers(State(state): State<WebState>, ctx: Ctx) -> Response {
    let me = match staff(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    transfers_page(&state, &ctx, &me, StatusCode::OK, None).await
}

pub async fn answer(
    State(state): State<WebState>,
    ctx: Ctx,
    Path((tid, answer)): Path<(String, String)>,
    form: Form,
) -> Response {
    let me = match staff(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    if !matches!(answer.as_str(), "accept" | "reject" | "withdraw") {
        return message_page(&ctx, Some(&me), StatusCode::NOT_FOUND, "no such action");
    }
    let body = (answer == "reject").then(|| json!({ "reason": form.text("reason") }));
    let path = format!("/api/v1/transfers/{}/{answer}", url_encode(&tid));
    let reply = match ctx.api(&state, Method::POST, &path, body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return transfers_page(
            &state,
            &ctx,
            &me,
            super::status_of(&reply),
            Some(&reply.message()),
        )
        .await;
    }
    Redirect::to("/transfers").into_response()
}

/// Cases other centres share with this one.
pub async fn shared_list(State(state): State<WebState>, ctx: Ctx) -> Response {
    let me = match staff(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let lang = ctx.lang;
    let reply = match ctx.api(&state, Method::GET, "/api/v1/shared", None).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return message_page(&ctx, Some(&me), reply.status, &reply.message());
    }
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    let body = html! {
        @if items.is_empty() {
            p { (t(lang, "shared.none")) }
        } @else {
            table {
                thead { tr { th { (t(lang, "shared.owner")) } th { (t(lang, "share.purpose")) } th { (t(lang, "shared.updated")) } th { "" } } }
                tbody { @for x in &items {
                    tr {
                        td { (s(&x["owner"])) }
                        td { (word(lang, "purpose", s(&x["purpose"]))) }
                        td { (local_time(s(&x["updated_at"]))) }
                        td { a href={ "/shared/" (url_encode(s(&x["share_id"]))) } { (t(lang, "shared.open")) } }
                    }
                } }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(&ctx, Some(&me), t(lang, "nav.shared"), body),
    )
}

/// One shared copy: only the fields its purpose carries. The API audits the
/// read here and reports it to the responsible centre.
pub async fn shared_case(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(sid): Path<String>,
) -> Response {
    let me = match staff(&state, &ctx).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let lang = ctx.lang;
    let path = format!("/api/v1/shared/{}", url_encode(&sid));
    let reply = match ctx.api(&state, Method::GET, &path, None).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return message_page(&ctx, Some(&me), reply.status, &reply.message());
    }
    let d = &reply.body["data"];
    let m = &d["medical"];
    let yes = |v: &serde_json::Value| {
        if v.as_bool() == Some(true) {
            "✓"
        } else {
            "—"
        }
    };
    let body = html! {
        p.notice { (t(lang, "shared.notice")) }
        dl {
            (kv(t(lang, "shared.owner"), s(&reply.body["owner"])))
            (kv(t(lang, "share.purpose"), word(lang, "purpose", s(&d["purpose"]))))
            (kv(t(lang, "name_kana"), s(&d["name_kana"])))
            (kv(t(lang, "sex"), word(lang, "sex", s(&d["sex"]))))
            (kv(t(lang, "age"), d["age"].to_string()))
            (kv(t(lang, "diagnosis_class"), word(lang, "class", s(&d["diagnosis_class"]))))
            (kv(t(lang, "status"), word(lang, "status", s(&d["status"]))))
            (kv(t(lang, "municipality_code"), s(&d["municipality_code"])))
            @if let Some(phone) = d["phone"].as_str() { (kv(t(lang, "phone"), phone)) }
            @if let Some(address) = d["address"].as_str() { (kv(t(lang, "place.address"), address)) }
            @if !m.is_null() {
                (kv(t(lang, "hospital"), s(&m["hospital"])))
                (kv(t(lang, "medical.admitted_on"), s(&m["admitted_on"])))
                (kv(t(lang, "medical.icu"), yes(&m["icu"])))
                (kv(t(lang, "medical.ventilator"), yes(&m["ventilator"])))
                (kv(t(lang, "medical.ecmo"), yes(&m["ecmo"])))
            }
        }
    };
    respond(StatusCode::OK, page(&ctx, Some(&me), s(&d["name"]), body))
}
