//! The patient's page, reached by the link from an SMS or e-mail: today's
//! temperature, SpO2 and symptoms, then a thank-you. Nothing else: no
//! record, no graph, no name (the link may be opened by someone else).

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::json;

use super::forms::Form;
use super::i18n::{t, word};
use super::layout::{error_box, message_page, page, respond, url_encode};
use super::login::{check_csrf, pre_session_token};
use super::{Ctx, WebState, with_cookie};
use crate::domain::{Symptom, WireName};

fn report_form(ctx: &Ctx, token: &str, csrf: &str, error: Option<&str>) -> Markup {
    let lang = ctx.lang;
    page(
        ctx,
        None,
        t(lang, "patient.title"),
        html! {
            p.lead { (t(lang, "patient.intro")) }
            (error_box(error))
            form.patient method="post" action={ "/r/" (token) } {
                input type="hidden" name="csrf" value=(csrf);
                label { span { (t(lang, "obs.temperature")) } input type="number" name="temperature" step="0.1" min="34" max="43" inputmode="decimal" required; }
                label { span { (t(lang, "obs.spo2")) } input type="number" name="spo2" min="50" max="100" inputmode="numeric"; }
                fieldset.symptoms {
                    legend { (t(lang, "obs.symptoms")) }
                    @for sy in Symptom::ALL {
                        label.check { input type="checkbox" name="symptoms" value=(sy.wire_name()); (word(lang, "symptom", sy.wire_name())) }
                    }
                }
                button.primary type="submit" { (t(lang, "action.send_report")) }
            }
        },
    )
}

async fn link_is_live(state: &WebState, ctx: &Ctx, token: &str) -> Result<(), Response> {
    let path = format!("/api/v1/self-report/{}", url_encode(token));
    let reply = ctx.api(state, Method::GET, &path, None).await?;
    if reply.ok() {
        Ok(())
    } else {
        Err(message_page(
            ctx,
            None,
            StatusCode::NOT_FOUND,
            t(ctx.lang, "error.link"),
        ))
    }
}

pub async fn form(State(state): State<WebState>, ctx: Ctx, Path(token): Path<String>) -> Response {
    if let Err(r) = link_is_live(&state, &ctx, &token).await {
        return r;
    }
    let (csrf, cookie) = pre_session_token(&state, &ctx);
    with_cookie(
        respond(StatusCode::OK, report_form(&ctx, &token, &csrf, None)),
        cookie,
    )
}

pub async fn submit(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(token): Path<String>,
    form: Form,
) -> Response {
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    let body = json!({
        "temperature": form.number("temperature"),
        "spo2": form.number("spo2"),
        "symptoms": form.all("symptoms"),
    });
    let path = format!("/api/v1/self-report/{}/observations", url_encode(&token));
    let reply = match ctx.api(&state, Method::POST, &path, Some(body)).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if reply.ok() {
        return Redirect::to(&format!("/r/{}/thanks", url_encode(&token))).into_response();
    }
    if reply.status == StatusCode::NOT_FOUND {
        return message_page(&ctx, None, StatusCode::NOT_FOUND, t(ctx.lang, "error.link"));
    }
    respond(
        super::status_of(&reply),
        report_form(&ctx, &token, &ctx.csrf(), Some(&reply.message())),
    )
}

pub async fn thanks(ctx: Ctx) -> Response {
    let lang = ctx.lang;
    respond(
        StatusCode::OK,
        page(
            &ctx,
            None,
            t(lang, "patient.title"),
            html! {
                p.lead role="status" { (t(lang, "patient.thanks")) }
                p { (t(lang, "patient.thanks_more")) }
            },
        ),
    )
}
