//! Case pages: the list with its filters, the notification form, the case
//! page with its tabs and actions, and the follow-up page contractors and
//! facilities get.

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::charts;
use super::forms::Form;
use super::i18n::{Lang, t, word};
use super::layout::{
    csrf_field, error_box, field, kv, local_time, message_page, options, page, respond, url_encode,
};
use super::login::check_csrf;
use super::{Ctx, Me, WebState, status_of, text as s};
use crate::domain::{
    AssignmentKind, CaseStatus, DiagnosisClass, Role, Sex, Specimen, Symptom, TestMethod,
    TestResult, WireName,
};

#[derive(serde::Deserialize, Default)]
struct ListParams {
    filter: Option<String>,
    status: Option<String>,
    before: Option<String>,
}

const FILTERS: &[(&str, &str)] = &[
    ("", "filter.all"),
    ("unconfirmed", "filter.unconfirmed"),
    ("alert", "filter.alert"),
    ("elsewhere", "filter.elsewhere"),
];

pub async fn list(State(state): State<WebState>, ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let me = match ctx.me_as(&state, super::CASE_ROLES).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let params: ListParams = super::query(raw.as_deref());
    let mut query: Vec<(&str, String)> = vec![("limit", "50".into())];
    match params.filter.as_deref() {
        Some("unconfirmed") => query.push(("confirmed", "false".into())),
        Some("alert") => query.push(("alert", "true".into())),
        Some("elsewhere") => query.push(("belongs_elsewhere", "true".into())),
        _ => {}
    }
    if let Some(st) = params
        .status
        .as_deref()
        .filter(|s| CaseStatus::from_wire(s).is_some())
    {
        query.push(("status", st.into()));
    }
    if let Some(b) = &params.before {
        query.push(("before", b.clone()));
    }
    let qs = serde_urlencoded::to_string(&query).unwrap_or_default();
    let reply = match ctx
        .api(&state, Method::GET, &format!("/api/v1/cases?{qs}"), None)
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return message_page(&ctx, Some(&me), reply.status, &reply.message());
    }
    let lang = ctx.lang;
    let staff = me.role == Role::Staff;
    let follow_up = matches!(me.role, Role::Contractor | Role::Facility);
    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
    let current = params.filter.as_deref().unwrap_or("");
    let title = t(
        lang,
        match me.role {
            Role::Medical => "nav.notifications",
            Role::Contractor | Role::Facility => "nav.followup",
            _ => "nav.cases",
        },
    );
    let body = html! {
        @if staff {
            nav.filters aria-label="filters" {
                @for (value, key) in FILTERS {
                    a href={ "/cases" @if !value.is_empty() { "?filter=" (value) } }
                      aria-current=[(current == *value).then_some("true")] { (t(lang, key)) }
                }
                a href="/transfers" { (t(lang, "filter.incoming")) }
            }
            form.inline method="get" action="/cases" {
                @if !current.is_empty() { input type="hidden" name="filter" value=(current); }
                label { span { (t(lang, "status")) }
                    select name="status" {
                        option value="" { "—" }
                        (options::<CaseStatus>(lang, "status", params.status.as_deref()))
                    }
                }
                button type="submit" { (t(lang, "action.filter")) }
            }
        }
        @if items.is_empty() {
            p { (t(lang, "list.empty")) }
        } @else {
            table.cases {
                thead { tr {
                    th { (t(lang, "name")) }
                    th { (t(lang, "sex")) " / " (t(lang, "age")) }
                    @if !follow_up { th { (t(lang, "diagnosis_class")) } }
                    th { (t(lang, "status")) }
                    @if !follow_up { th { (t(lang, "municipality_code")) } th { "" } }
                } }
                tbody {
                    @for c in &items {
                        tr {
                            td { a href={ "/cases/" (s(&c["id"])) } { (s(&c["name"])) } br; small { (s(&c["name_kana"])) } }
                            td { (word(lang, "sex", s(&c["sex"]))) " / " (c["age"]) }
                            @if !follow_up { td { (word(lang, "class", s(&c["diagnosis_class"]))) } }
                            td { (word(lang, "status", s(&c["status"]))) }
                            @if !follow_up {
                                td { (s(&c["municipality_code"])) }
                                td.flags {
                                    @if c["confirmed"].as_bool() == Some(true) { span.badge.ok { (t(lang, "case.confirmed")) } }
                                    @else { span.badge { (t(lang, "case.not_confirmed")) } }
                                    @if let Some(a) = c["alert"].as_str() { span.badge.alert { (word(lang, "alert", a)) } }
                                    @if let Some(o) = c["belongs_elsewhere"].as_str() { span.badge.warn { (t(lang, "case.belongs_elsewhere")) " " (o) } }
                                    @if let Some(o) = c["owner"].as_str() { span.badge { "→ " (o) } }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = reply.body["next_before"].as_str() {
                p { a href={ "/cases?" @if !current.is_empty() { "filter=" (current) "&" } "before=" (next) } { (t(lang, "action.older")) } }
            }
        }
    };
    respond(StatusCode::OK, page(&ctx, Some(&me), title, body))
}

/// The notification form: the six minimum fields first, the rest folded.
fn notification_form(ctx: &Ctx, me: &Me, form: Option<&Form>, error: Option<&str>) -> Markup {
    let lang = ctx.lang;
    let v = |name: &str| form.and_then(|f| f.get(name)).unwrap_or("").to_string();
    let chosen = form.map(|f| f.all("symptoms")).unwrap_or_default();
    html! {
        (error_box(error))
        form.notification method="post" action="/cases/new" {
            (csrf_field(ctx))
            fieldset {
                legend { (t(lang, "new.minimum")) }
                label { span { "1. " (t(lang, "diagnosis_class")) }
                    select name="diagnosis_class" required { (options::<DiagnosisClass>(lang, "class", Some(v("diagnosis_class").as_str()).filter(|s| !s.is_empty()).or(Some("confirmed")))) }
                }
                (field(&format!("2. {}", t(lang, "name")), "name", "text", &v("name"), true))
                (field(&format!("2. {}", t(lang, "name_kana")), "name_kana", "text", &v("name_kana"), true))
                label { span { "3. " (t(lang, "sex")) }
                    select name="sex" required { (options::<Sex>(lang, "sex", Some(v("sex").as_str()))) }
                }
                (field(&format!("4. {}", t(lang, "date_of_birth")), "date_of_birth", "date", &v("date_of_birth"), true))
                (field(&format!("5. {}", t(lang, "municipality_code")), "municipality_code", "text", &v("municipality_code"), true))
                (field(&format!("5. {}", t(lang, "place.address")), "address", "text", &v("address"), true))
                fieldset.test {
                    legend { "6. " (t(lang, "tab.tests")) }
                    (test_fields(lang, form))
                }
            }
            details {
                summary { (t(lang, "fold.more")) }
                label { span { (t(lang, "status")) }
                    select name="status" { option value="" { "—" } (options::<CaseStatus>(lang, "status", Some(v("status").as_str()))) }
                }
                (field(t(lang, "phone"), "phone", "tel", &v("phone"), false))
                (detail_fields(lang, me, &v, &chosen))
            }
            button type="submit" { (t(lang, "action.register")) }
        }
    }
}

fn test_fields(lang: Lang, form: Option<&Form>) -> Markup {
    let v = |name: &str| form.and_then(|f| f.get(name)).map(String::from);
    html! {
        label { span { (t(lang, "test.method")) } select name="test_method" { (options::<TestMethod>(lang, "test_method", v("test_method").as_deref())) } }
        label { span { (t(lang, "test.specimen")) } select name="test_specimen" { (options::<Specimen>(lang, "specimen", v("test_specimen").as_deref())) } }
        (field(t(lang, "test.collected_on"), "test_collected_on", "date", v("test_collected_on").as_deref().unwrap_or(""), true))
        label { span { (t(lang, "test.result")) } select name="test_result" { (options::<TestResult>(lang, "result", v("test_result").as_deref())) } }
    }
}

/// Correcting or completing a notification: the current values filled
/// in; an emptied field is left as it was (the API's PATCH).
fn correction_form(ctx: &Ctx, me: &Me, case: &Value) -> Markup {
    let lang = ctx.lang;
    let id = s(&case["id"]);
    let symptoms: Vec<String> = case["symptoms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| s(x).to_string())
        .collect();
    html! {
        details.correct {
            summary { (t(lang, "notification.correct")) }
            form.notification method="post" action={ "/cases/" (id) "/correct" } {
                (csrf_field(ctx))
                input type="hidden" name="current_class" value=(s(&case["diagnosis_class"]));
                label { span { (t(lang, "diagnosis_class")) }
                    select name="diagnosis_class" { (options::<DiagnosisClass>(lang, "class", case["diagnosis_class"].as_str())) }
                }
                (detail_fields(lang, me, &|name| s(&case[name]).to_string(), &symptoms))
                button type="submit" { (t(lang, "action.save")) }
            }
        }
    }
}

/// The notification's optional details, filled with `value` of each field:
/// the same fields when a case is notified and when it is corrected.
fn detail_fields(
    lang: Lang,
    me: &Me,
    value: &dyn Fn(&str) -> String,
    symptoms: &[String],
) -> Markup {
    html! {
        (field(t(lang, "onset_date"), "onset_date", "date", &value("onset_date"), false))
        (field(t(lang, "diagnosis_date"), "diagnosis_date", "date", &value("diagnosis_date"), false))
        (symptom_boxes(lang, symptoms))
        (field(t(lang, "reporting_doctor"), "reporting_doctor", "text", &value("reporting_doctor"), false))
        @if me.role == Role::Staff {
            (field(t(lang, "reporting_institution"), "reporting_institution", "text", &value("reporting_institution"), false))
        }
        (field(t(lang, "occupation"), "occupation", "text", &value("occupation"), false))
        label { span { "Memo" } textarea name="free_text" { (value("free_text")) } }
    }
}

/// The details of a posted notification form, for the API (symptoms apart:
/// notifying leaves them out when none is ticked, correcting clears them).
/// Only staff name the reporting institution; a doctor's is their own.
fn details_json(form: &Form, me: &Me) -> serde_json::Map<String, Value> {
    let mut details = serde_json::Map::new();
    for name in [
        "onset_date",
        "diagnosis_date",
        "reporting_doctor",
        "occupation",
        "free_text",
    ] {
        details.insert(name.into(), form.text(name));
    }
    if me.role == Role::Staff {
        details.insert(
            "reporting_institution".into(),
            form.text("reporting_institution"),
        );
    }
    details
}

fn symptom_boxes(lang: Lang, chosen: &[String]) -> Markup {
    html! {
        fieldset.symptoms {
            legend { (t(lang, "obs.symptoms")) }
            @for sy in Symptom::ALL {
                label.check { input type="checkbox" name="symptoms" value=(sy.wire_name()) checked[chosen.iter().any(|c| c == sy.wire_name())]; (word(lang, "symptom", sy.wire_name())) }
            }
        }
    }
}

fn test_json(form: &Form) -> Value {
    json!({
        "method": form.text("test_method"),
        "specimen": form.text("test_specimen"),
        "collected_on": form.text("test_collected_on"),
        "result": form.text("test_result"),
    })
}

/// Who may notify a case.
const NOTIFIERS: &[Role] = &[Role::Staff, Role::Medical];

pub async fn new_form(State(state): State<WebState>, ctx: Ctx) -> Response {
    let me = match ctx.me_as(&state, NOTIFIERS).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let body = notification_form(&ctx, &me, None, None);
    respond(
        StatusCode::OK,
        page(&ctx, Some(&me), t(ctx.lang, "new.title"), body),
    )
}

pub async fn create(State(state): State<WebState>, ctx: Ctx, form: Form) -> Response {
    let me = match ctx.me(&state).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    let symptoms = form.all("symptoms");
    let mut body = json!({
        "disease": "covid-19",
        "diagnosis_class": form.text("diagnosis_class"),
        "name": form.text("name"),
        "name_kana": form.text("name_kana"),
        "sex": form.text("sex"),
        "date_of_birth": form.text("date_of_birth"),
        "place_of_stay": { "municipality_code": form.text("municipality_code"), "address": form.text("address") },
        "tests": [test_json(&form)],
        "status": form.text("status"),
        "phone": form.text("phone"),
        "symptoms": if symptoms.is_empty() { Value::Null } else { json!(symptoms) },
    });
    if let Value::Object(fields) = &mut body {
        fields.extend(details_json(&form, &me));
    }
    let reply = match ctx
        .api(&state, Method::POST, "/api/v1/cases", Some(body))
        .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    if reply.ok() {
        return Redirect::to(&format!("/cases/{}", s(&reply.body["id"]))).into_response();
    }
    let markup = notification_form(&ctx, &me, Some(&form), Some(&reply.message()));
    respond(
        status_of(&reply),
        page(&ctx, Some(&me), t(ctx.lang, "new.title"), markup),
    )
}

const TABS: &[(&str, &str)] = &[
    ("tests", "tab.tests"),
    ("notification", "tab.notification"),
    ("place", "tab.place"),
    ("observations", "tab.observations"),
    ("medical", "tab.medical"),
    ("record", "tab.record"),
    ("contacts", "tab.contacts"),
];

#[derive(serde::Deserialize, Default)]
struct PageParams {
    tab: Option<String>,
}

pub async fn case_page(
    State(state): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let me = match ctx.me(&state).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let params: PageParams = super::query(raw.as_deref());
    render_case(&state, &ctx, &me, &id, params.tab.as_deref(), None, None).await
}

/// Reads the case through the API and renders it, with an error or a notice.
async fn render_case(
    state: &WebState,
    ctx: &Ctx,
    me: &Me,
    id: &str,
    tab: Option<&str>,
    error: Option<(StatusCode, String)>,
    notice: Option<Markup>,
) -> Response {
    let path = format!("/api/v1/cases/{}", url_encode(id));
    let reply = match ctx.api(state, Method::GET, &path, None).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        return message_page(ctx, Some(me), reply.status, &reply.message());
    }
    let case = &reply.body;
    let status = error.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let message = error.map(|(_, m)| m);
    if case.get("person").is_none() {
        let title = s(&case["name"]).to_string();
        let body = follow_up_body(ctx, case, message.as_deref());
        return respond(status, page(ctx, Some(me), &title, body));
    }
    let tab = tab
        .filter(|t| TABS.iter().any(|(k, _)| k == t))
        .unwrap_or("tests");
    let title = s(&case["person"]["name"]).to_string();
    // The record tab lists the centres this case is shared with and who
    // there looked at it (staff only; the API audits the read).
    let shares = if tab == "record" && me.role == Role::Staff {
        let path = format!("/api/v1/cases/{}/shares", url_encode(id));
        match ctx.api(state, Method::GET, &path, None).await {
            Ok(r) if r.ok() => Some(r.body),
            Ok(_) => None,
            Err(r) => return r,
        }
    } else {
        None
    };
    let body = case_body(
        state,
        ctx,
        me,
        case,
        tab,
        message.as_deref(),
        notice,
        shares.as_ref(),
    );
    respond(status, page(ctx, Some(me), &title, body))
}

fn follow_up_body(ctx: &Ctx, case: &Value, error: Option<&str>) -> Markup {
    let lang = ctx.lang;
    let id = s(&case["id"]);
    html! {
        p.person {
            (s(&case["name_kana"])) " · " (word(lang, "sex", s(&case["sex"]))) " · " (case["age"]) " · "
            (t(lang, "phone")) ": " (s(&case["phone"])) " · " (word(lang, "status", s(&case["status"])))
        }
        (error_box(error))
        (observations_section(ctx, id, &case["observations"], true))
    }
}

fn observations_section(ctx: &Ctx, id: &str, observations: &Value, may_add: bool) -> Markup {
    let lang = ctx.lang;
    let list = observations.as_array().cloned().unwrap_or_default();
    html! {
        section {
            h2 { (t(lang, "obs.chart")) }
            @if list.is_empty() { p { (t(lang, "obs.none")) } }
            @else {
                (charts::observations(lang, &list))
                table {
                    thead { tr { th { (t(lang, "obs.time")) } th { (t(lang, "obs.temperature")) } th { (t(lang, "obs.spo2")) } th { (t(lang, "obs.symptoms")) } th { (t(lang, "obs.entered_by")) } } }
                    tbody {
                        @for o in list.iter().rev() {
                            tr {
                                td { (local_time(s(&o["observed_at"]))) }
                                td { (o["temperature"].as_f64().map(|t| format!("{t:.1}")).unwrap_or_default()) }
                                td.spo2[o["spo2"].as_i64().is_some_and(|v| v <= crate::alerts::SPO2_ALERT)] { (o["spo2"].as_i64().map(|v| v.to_string()).unwrap_or_default()) }
                                td { (o["symptoms"].as_array().map(|a| a.iter().map(|x| word(lang, "symptom", s(x))).collect::<Vec<_>>().join("、")).unwrap_or_default()) }
                                td { (word(lang, "role", s(&o["entered_role"]))) }
                            }
                        }
                    }
                }
            }
        }
        @if may_add {
            section {
                h2 { (t(lang, "obs.new")) }
                form.inline method="post" action={ "/cases/" (id) "/observations" } {
                    (csrf_field(ctx))
                    label { span { (t(lang, "obs.temperature")) } input type="number" name="temperature" step="0.1" min="30" max="45" inputmode="decimal"; }
                    label { span { (t(lang, "obs.spo2")) } input type="number" name="spo2" min="50" max="100" inputmode="numeric"; }
                    (symptom_boxes(lang, &[]))
                    button type="submit" { (t(lang, "action.save")) }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn case_body(
    state: &WebState,
    ctx: &Ctx,
    me: &Me,
    case: &Value,
    tab: &str,
    error: Option<&str>,
    notice: Option<Markup>,
    shares: Option<&Value>,
) -> Markup {
    let lang = ctx.lang;
    let id = s(&case["id"]);
    let p = &case["person"];
    let staff = me.role == Role::Staff;
    let medical = me.role == Role::Medical;
    let read_only = !case["owner"].is_null()
        || !case["locked_by"].is_null()
        || !case["pending_transfer"].is_null();
    let editable = !read_only;
    let confirmed = &case["confirmation"];
    html! {
        p.person {
            (s(&p["name_kana"])) " · " (word(lang, "sex", s(&p["sex"]))) " · " (t(lang, "date_of_birth")) " " (s(&p["date_of_birth"]))
            " · " (word(lang, "class", s(&case["diagnosis_class"])))
            " · " strong { (word(lang, "status", s(&case["status"]["status"]))) }
            @if let Some(a) = case["alert"].as_str() { " " span.badge.alert { (word(lang, "alert", a)) } }
        }
        @if let Some(owner) = case["owner"].as_str() { p.notice { (t(lang, "case.owner")) " " (owner) } }
        @if !case["pending_transfer"].is_null() { p.notice { (t(lang, "case.pending_transfer")) } }
        @if !case["locked_by"].is_null() { p.notice { (t(lang, "case.locked")) } }
        (error_box(error))
        @if let Some(n) = notice { div.notice { (n) } }
        div.actions {
            @if confirmed.is_null() {
                @if staff && editable {
                    form method="post" action={ "/cases/" (id) "/confirm" } {
                        (csrf_field(ctx))
                        @if s(&case["entered_by"]) == me.id { p.warn role="note" { (t(lang, "confirm.by_entrant")) } }
                        button.primary type="submit" { (t(lang, "action.confirm")) }
                    }
                } @else { span.badge { (t(lang, "case.not_confirmed")) } }
            } @else {
                span.badge.ok { (t(lang, "case.confirmed")) } " "
                small { (t(lang, "confirm.done")) ": " (s(&confirmed["by"])) " " (local_time(s(&confirmed["at"]))) }
            }
            @if staff && editable {
                form.inline method="post" action={ "/cases/" (id) "/status" } {
                    (csrf_field(ctx))
                    label { span { (t(lang, "status")) }
                        select name="status" { (options::<CaseStatus>(lang, "status", Some(s(&case["status"]["status"])))) }
                    }
                    button type="submit" { (t(lang, "action.set_status")) }
                }
            }
        }
        nav.tabs aria-label="tabs" {
            @for (key, label) in TABS {
                a href={ "/cases/" (id) "?tab=" (key) } aria-current=[(tab == *key).then_some("page")] { (t(lang, label)) }
            }
        }
        section.tab {
            @match tab {
                "tests" => {
                    table {
                        thead { tr { th { (t(lang, "test.method")) } th { (t(lang, "test.specimen")) } th { (t(lang, "test.collected_on")) } th { (t(lang, "test.result")) } } }
                        tbody { @for x in case["tests"].as_array().into_iter().flatten() {
                            tr { td { (word(lang, "test_method", s(&x["method"]))) } td { (word(lang, "specimen", s(&x["specimen"]))) } td { (s(&x["collected_on"])) } td { (word(lang, "result", s(&x["result"]))) } }
                        } }
                    }
                    @if (staff || medical) && editable {
                        form.inline method="post" action={ "/cases/" (id) "/tests" } {
                            (csrf_field(ctx))
                            (test_fields(lang, None))
                            button type="submit" { (t(lang, "action.add")) }
                        }
                    }
                }
                "notification" => {
                    dl {
                        (kv(t(lang, "diagnosis_class"), word(lang, "class", s(&case["diagnosis_class"]))))
                        (kv("Report date", s(&case["report_date"])))
                        (kv(t(lang, "onset_date"), s(&case["onset_date"])))
                        (kv(t(lang, "diagnosis_date"), s(&case["diagnosis_date"])))
                        (kv(t(lang, "obs.symptoms"), case["symptoms"].as_array().map(|a| a.iter().map(|x| word(lang, "symptom", s(x))).collect::<Vec<_>>().join("、")).unwrap_or_default()))
                        (kv(t(lang, "reporting_doctor"), s(&case["reporting_doctor"])))
                        (kv(t(lang, "reporting_institution"), s(&case["reporting_institution"])))
                        (kv(t(lang, "occupation"), s(&case["occupation"])))
                        (kv(t(lang, "phone"), s(&p["phone"])))
                        (kv(t(lang, "case.entered_by"), format!("{} {}", s(&case["entered_by"]), local_time(s(&case["entered_at"])))))
                    }
                    @if let Some(memo) = case["free_text"].as_str() { p.memo { (memo) } }
                    @if (staff || medical) && editable {
                        (correction_form(ctx, me, case))
                    }
                }
                "place" => {
                    p { strong { (s(&case["place_of_stay"]["municipality_code"])) " " (s(&case["place_of_stay"]["address"])) } }
                    h2 { (t(lang, "place.history")) }
                    ul { @for h in case["place_of_stay_history"].as_array().into_iter().flatten() {
                        li { (local_time(s(&h["at"]))) " — " (s(&h["municipality_code"])) " " (s(&h["address"])) }
                    } }
                    @if staff && editable {
                        form.inline method="post" action={ "/cases/" (id) "/place" } {
                            (csrf_field(ctx))
                            (field(t(lang, "municipality_code"), "municipality_code", "text", "", true))
                            (field(t(lang, "place.address"), "address", "text", "", true))
                            button type="submit" { (t(lang, "action.move")) }
                        }
                    }
                }
                "observations" => { (observations_section(ctx, id, &case["observations"], staff && editable)) }
                "medical" => {
                    @let m = &case["medical"];
                    dl {
                        (kv(t(lang, "hospital"), s(&m["hospital"])))
                        (kv(t(lang, "medical.admitted_on"), s(&m["admitted_on"])))
                        (kv(t(lang, "medical.discharged_on"), s(&m["discharged_on"])))
                        (kv(t(lang, "medical.severe"), if m["severe"].as_bool() == Some(true) { "✔" } else { "—" }))
                    }
                    @if (staff || medical) && editable {
                        form.inline method="post" action={ "/cases/" (id) "/medical" } {
                            (csrf_field(ctx))
                            (field(t(lang, "hospital"), "hospital", "text", s(&m["hospital"]), false))
                            (field(t(lang, "medical.admitted_on"), "admitted_on", "date", s(&m["admitted_on"]), false))
                            (field(t(lang, "medical.discharged_on"), "discharged_on", "date", s(&m["discharged_on"]), false))
                            label.check { input type="checkbox" name="icu" value="1" checked[m["icu"].as_bool() == Some(true)]; (t(lang, "medical.icu")) }
                            label.check { input type="checkbox" name="ventilator" value="1" checked[m["ventilator"].as_bool() == Some(true)]; (t(lang, "medical.ventilator")) }
                            label.check { input type="checkbox" name="ecmo" value="1" checked[m["ecmo"].as_bool() == Some(true)]; (t(lang, "medical.ecmo")) }
                            button type="submit" { (t(lang, "action.save")) }
                        }
                    }
                }
                "record" => { (record_tab(state, ctx, me, case, editable)) (shares_section(ctx, id, shares)) }
                _ => {
                    table {
                        thead { tr { th { (t(lang, "name")) } th { (t(lang, "phone")) } th { (t(lang, "municipality_code")) } th { (t(lang, "contact.relation")) } th { (t(lang, "contact.exposure")) } th { "" } } }
                        tbody { @for c in case["contacts"].as_array().into_iter().flatten() {
                            tr {
                                td { (s(&c["name"])) br; small { (s(&c["name_kana"])) } }
                                td { (s(&c["phone"])) } td { (s(&c["municipality_code"])) } td { (s(&c["relation"])) } td { (s(&c["last_exposure_on"])) }
                                td { @if staff && !c["municipality_code"].is_null() {
                                    form method="post" action={ "/cases/" (id) "/refer" } {
                                        (csrf_field(ctx))
                                        input type="hidden" name="contact" value=(s(&c["id"]));
                                        button.small type="submit" { (t(lang, "action.refer")) }
                                    }
                                } }
                            }
                        } }
                    }
                    @if staff && editable {
                        form.inline method="post" action={ "/cases/" (id) "/contacts" } {
                            (csrf_field(ctx))
                            (field(t(lang, "name"), "name", "text", "", true))
                            (field(t(lang, "name_kana"), "name_kana", "text", "", false))
                            (field(t(lang, "phone"), "phone", "tel", "", false))
                            (field(t(lang, "municipality_code"), "municipality_code", "text", "", false))
                            (field(t(lang, "contact.relation"), "relation", "text", "", false))
                            (field(t(lang, "contact.exposure"), "last_exposure_on", "date", "", false))
                            button type="submit" { (t(lang, "action.add")) }
                        }
                    }
                }
            }
        }
    }
}

/// Other centres in the directory, for transfers and shares.
fn centres(state: &WebState, lang: Lang) -> Vec<(String, String)> {
    let Some(f) = &state.node.federation else {
        return Vec::new();
    };
    f.directory
        .nodes()
        .filter(|n| {
            n.kind == renkei_federation::directory::NodeKind::HealthCentre && n.id != f.node_id
        })
        .map(|n| {
            let name = if lang == Lang::Ja {
                &n.name_ja
            } else {
                &n.name_en
            };
            (n.id.clone(), format!("{name} ({})", n.id))
        })
        .collect()
}

fn record_tab(state: &WebState, ctx: &Ctx, me: &Me, case: &Value, editable: bool) -> Markup {
    let lang = ctx.lang;
    let id = s(&case["id"]);
    let staff = me.role == Role::Staff;
    let centres = centres(state, lang);
    let a = &case["assignment"];
    html! {
        h2 { (t(lang, "record.status_history")) }
        ul { @for h in case["status_history"].as_array().into_iter().flatten() {
            li { (local_time(s(&h["at"]))) " — " (word(lang, "status", s(&h["status"]))) " (" (s(&h["by"])) ")" }
        } }
        h2 { (t(lang, "assignment")) }
        @if !a.is_null() {
            p { (word(lang, "assignment_kind", s(&a["kind"]))) ": " (s(&a["organisation"])) " " (s(&a["from_date"])) "–" (s(&a["until_date"])) }
        }
        @if staff && editable {
            form.inline method="post" action={ "/cases/" (id) "/assignment" } {
                (csrf_field(ctx))
                label { span { (t(lang, "assignment")) } select name="kind" { (options::<AssignmentKind>(lang, "assignment_kind", a["kind"].as_str())) } }
                (field(t(lang, "organisation"), "organisation", "text", s(&a["organisation"]), true))
                (field("From", "from_date", "date", s(&a["from_date"]), true))
                (field("Until", "until_date", "date", s(&a["until_date"]), false))
                button type="submit" { (t(lang, "action.assign")) }
            }
            form.inline method="post" action={ "/cases/" (id) "/link" } {
                (csrf_field(ctx))
                button type="submit" { (t(lang, "action.issue_link")) }
            }
            @if !centres.is_empty() {
                form.inline method="post" action={ "/cases/" (id) "/transfer" } {
                    (csrf_field(ctx))
                    label { span { (t(lang, "transfer.to")) } select name="to" { @for (cid, name) in &centres { option value=(cid) { (name) } } } }
                    (field(t(lang, "transfer.reason"), "reason", "text", "", false))
                    button type="submit" { (t(lang, "action.transfer")) }
                }
                form.inline method="post" action={ "/cases/" (id) "/share" } {
                    (csrf_field(ctx))
                    label { span { (t(lang, "share.to")) } select name="to" { @for (cid, name) in &centres { option value=(cid) { (name) } } } }
                    label { span { (t(lang, "share.purpose")) } select name="purpose" {
                        @for (p, _) in crate::between::SHARE_PURPOSES { option value=(p) { (word(lang, "purpose", p)) } }
                    } }
                    button type="submit" { (t(lang, "action.share")) }
                }
            }
        }
    }
}

/// The centres a case is shared with, for what, who there looked at it, and
/// a button to revoke each share still active.
fn shares_section(ctx: &Ctx, id: &str, shares: Option<&Value>) -> Markup {
    let lang = ctx.lang;
    let Some(shares) = shares else {
        return html! {};
    };
    let items = shares["items"].as_array().cloned().unwrap_or_default();
    html! {
        section.shares {
            h2 { (t(lang, "shares")) }
            @if items.is_empty() {
                p { (t(lang, "share.none")) }
            } @else {
                table {
                    thead { tr { th { (t(lang, "share.to")) } th { (t(lang, "share.purpose")) } th { (t(lang, "share.created")) } th { "" } th { (t(lang, "share.viewers")) } th { "" } } }
                    tbody { @for x in &items {
                        tr {
                            td { (s(&x["peer"])) }
                            td { (word(lang, "purpose", s(&x["purpose"]))) }
                            td { (local_time(s(&x["created_at"]))) }
                            td { (word(lang, "state", s(&x["state"]))) }
                            td { ul.views { @for v in x["views"].as_array().into_iter().flatten() {
                                li { (s(&v["viewer"])) "@" (s(&x["peer"])) " (" (word(lang, "role", s(&v["role"]))) ") " (local_time(s(&v["at"]))) }
                            } } }
                            td { @if x["state"] == "active" {
                                form.inline method="post" action={ "/cases/" (id) "/revoke-share" } {
                                    (csrf_field(ctx))
                                    input type="hidden" name="share" value=(s(&x["id"]));
                                    button type="submit" { (t(lang, "action.revoke")) }
                                }
                            } }
                        }
                    } }
                }
            }
        }
    }
}

/// Case actions: each posts the API's request and returns to the case.
pub async fn act(
    State(state): State<WebState>,
    ctx: Ctx,
    Path((id, action)): Path<(String, String)>,
    form: Form,
) -> Response {
    let me = match ctx.me(&state).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&ctx, &form) {
        return r;
    }
    let base = format!("/api/v1/cases/{}", url_encode(&id));
    let (method, path, body, tab) = match action.as_str() {
        "confirm" => {
            // Confirmation keeps the current status.
            let reply = match ctx.api(&state, Method::GET, &base, None).await {
                Ok(r) => r,
                Err(r) => return r,
            };
            let status = reply.body["status"]["status"].clone();
            (
                Method::POST,
                format!("{base}/confirm"),
                json!({ "status": status }),
                "tests",
            )
        }
        "status" => (
            Method::PUT,
            format!("{base}/status"),
            json!({ "status": form.text("status") }),
            "record",
        ),
        "tests" => (
            Method::POST,
            format!("{base}/tests"),
            json!({ "tests": [test_json(&form)] }),
            "tests",
        ),
        "observations" => (
            Method::POST,
            format!("{base}/observations"),
            json!({ "temperature": form.number("temperature"), "spo2": form.number("spo2"), "symptoms": form.all("symptoms") }),
            "observations",
        ),
        "contacts" => (
            Method::POST,
            format!("{base}/contacts"),
            json!({ "name": form.text("name"), "name_kana": form.text("name_kana"), "phone": form.text("phone"),
                    "municipality_code": form.text("municipality_code"), "relation": form.text("relation"),
                    "last_exposure_on": form.text("last_exposure_on") }),
            "contacts",
        ),
        "medical" => (
            Method::PUT,
            format!("{base}/medical"),
            json!({ "hospital": form.text("hospital"), "admitted_on": form.text("admitted_on"), "discharged_on": form.text("discharged_on"),
                    "icu": form.checked("icu"), "ventilator": form.checked("ventilator"), "ecmo": form.checked("ecmo") }),
            "medical",
        ),
        "assignment" => (
            Method::PUT,
            format!("{base}/assignment"),
            json!({ "kind": form.text("kind"), "organisation": form.text("organisation"), "from_date": form.text("from_date"), "until_date": form.text("until_date") }),
            "record",
        ),
        "place" => (
            Method::PUT,
            format!("{base}/place-of-stay"),
            json!({ "municipality_code": form.text("municipality_code"), "address": form.text("address") }),
            "place",
        ),
        "link" => (
            Method::POST,
            format!("{base}/self-report-link"),
            json!({}),
            "record",
        ),
        "transfer" => (
            Method::POST,
            format!("{base}/transfer"),
            json!({ "to": form.text("to"), "reason": form.text("reason") }),
            "record",
        ),
        "share" => (
            Method::POST,
            format!("{base}/shares"),
            json!({ "to": form.text("to"), "purpose": form.text("purpose") }),
            "record",
        ),
        "correct" => {
            // The class is sent only when it changes (a change is recorded
            // as such).
            let class = form.text("diagnosis_class");
            let class = if class == form.text("current_class") {
                Value::Null
            } else {
                class
            };
            let mut details = details_json(&form, &me);
            details.insert("diagnosis_class".into(), class);
            details.insert("symptoms".into(), json!(form.all("symptoms")));
            (
                Method::PATCH,
                base.clone(),
                Value::Object(details),
                "notification",
            )
        }
        "revoke-share" => (
            Method::POST,
            format!(
                "{base}/shares/{}/revoke",
                url_encode(form.get("share").unwrap_or_default())
            ),
            json!({}),
            "record",
        ),
        "refer" => (
            Method::POST,
            format!(
                "{base}/contacts/{}/refer",
                url_encode(form.get("contact").unwrap_or_default())
            ),
            json!({}),
            "contacts",
        ),
        _ => return message_page(&ctx, Some(&me), StatusCode::NOT_FOUND, "no such action"),
    };
    let reply = match ctx.api(&state, method, &path, Some(body)).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !reply.ok() {
        let error = Some((status_of(&reply), reply.message()));
        return render_case(&state, &ctx, &me, &id, Some(tab), error, None).await;
    }
    if action == "link" {
        // The link is a secret: shown once, never in a redirect URL.
        let link = format!("/r/{}", s(&reply.body["token"]));
        let notice = html! { (t(ctx.lang, "self_link.issued")) " " code.link { (link) } };
        return render_case(&state, &ctx, &me, &id, Some(tab), None, Some(notice)).await;
    }
    Redirect::to(&format!("/cases/{id}?tab={tab}")).into_response()
}
