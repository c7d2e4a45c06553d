//! The web interface, driven through headless Chromium: a doctor notifies,
//! a second member of staff confirms, a patient's self-report raises an
//! alert, and a contractor is refused a patient not assigned to them.
//! With `RENKEI_SCREENSHOTS=DIR` the test also saves the main pages as PNG.

use renkei_node::domain::Role;
use renkei_tests::browser::Browser;
use renkei_tests::federation::{MINATO, NATIONAL, SETAGAYA, TestFederation};
use renkei_tests::{PASSWORD, TestNode, eventually, notification_for};
use reqwest::StatusCode;
use serde_json::json;

struct Shots(Option<std::path::PathBuf>);

impl Shots {
    async fn take(&self, browser: &Browser, name: &str) {
        if let Some(dir) = &self.0 {
            std::fs::create_dir_all(dir).unwrap();
            browser
                .screenshot(&dir.join(format!("{name}.png")))
                .await
                .unwrap();
        }
    }
}

/// Logs in through the login page.
async fn log_in(b: &Browser, node: &TestNode, user: &str, password: &str, code: &str) {
    b.goto(&node.url("/login")).await.unwrap();
    b.fill("input[name=user]", user).await.unwrap();
    b.fill("input[name=password]", password).await.unwrap();
    b.fill("input[name=code]", code).await.unwrap();
    b.click("form button[type=submit]").await.unwrap();
}

/// First login through the browser: the one-time password, then the
/// welcome page's own password and fresh second factor. Returns the new secret.
async fn first_login(b: &Browser, node: &TestNode, c: &renkei_node::users::Credentials) -> String {
    b.clear_cookies().await.unwrap();
    let code = node.next_totp(&c.user, &c.totp_secret);
    log_in(b, node, &c.user, &c.password, &code).await;
    b.wait_for("figure.qr svg").await.unwrap();
    let secret: String = b
        .text("code.secret")
        .await
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(secret.len(), 32, "the key is shown as text");
    b.fill("input[name=current]", &c.password).await.unwrap();
    b.fill("input[name=new]", PASSWORD).await.unwrap();
    let code = node.next_totp(&c.user, &secret);
    b.fill("input[name=code]", &code).await.unwrap();
    b.click("form button[type=submit]").await.unwrap();
    b.wait_for("nav[aria-label=main]").await.unwrap();
    secret
}

#[tokio::test]
async fn doctor_notifies_staff_confirm_patient_alerts_contractor_is_refused() {
    let shots = Shots(std::env::var_os("RENKEI_SCREENSHOTS").map(Into::into));
    let node = TestNode::start().await;
    let today = renkei_node::domain::japan_date(node.clock.now());
    let until = today + time::Duration::days(60);
    let doctor = node
        .add_user("dr.tanaka", Role::Medical, Some("clinic-minato"), None)
        .await;
    let staff_a = node.add_user("staff.sato", Role::Staff, None, None).await;
    let contractor = node
        .add_user(
            "acme.suzuki",
            Role::Contractor,
            Some("acme-care"),
            Some(until),
        )
        .await;
    let b = Browser::start().await.expect("headless Chromium");

    // Login page: Japanese by default; a wrong code is refused with a message.
    b.goto(&node.url("/login")).await.unwrap();
    shots.take(&b, "login").await;
    assert!(b.source().await.unwrap().contains("ログイン"));
    log_in(&b, &node, &doctor.user, &doctor.password, "000000").await;
    b.wait_for("p.error").await.unwrap();
    assert!(b.text("p.error").await.unwrap().contains("確認コード"));

    // First login: own password and a new second factor (QR code and key).
    // A wrong code from the new key is refused and nothing changes.
    let code = node.next_totp(&doctor.user, &doctor.totp_secret);
    log_in(&b, &node, &doctor.user, &doctor.password, &code).await;
    b.wait_for("figure.qr svg").await.unwrap();
    shots.take(&b, "first-login").await;
    b.fill("input[name=current]", &doctor.password)
        .await
        .unwrap();
    b.fill("input[name=new]", PASSWORD).await.unwrap();
    b.fill("input[name=code]", "123456").await.unwrap();
    b.click("form button[type=submit]").await.unwrap();
    b.wait_for("p.error").await.unwrap();
    assert!(b.text("p.error").await.unwrap().contains("totp_code"));
    let secret: String = b
        .text("code.secret")
        .await
        .unwrap()
        .split_whitespace()
        .collect();
    b.fill("input[name=current]", &doctor.password)
        .await
        .unwrap();
    b.fill("input[name=new]", PASSWORD).await.unwrap();
    let code = node.next_totp(&doctor.user, &secret);
    b.fill("input[name=code]", &code).await.unwrap();
    b.click("form button[type=submit]").await.unwrap();
    b.wait_for("nav[aria-label=main]").await.unwrap();
    // The handed-over key no longer works; the enrolled one does.
    let (status, _) = node.login(&doctor).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // 1. The doctor's notification: six fields first, the rest folded away.
    b.goto(&node.url("/cases/new")).await.unwrap();
    b.wait_for("form.notification").await.unwrap();
    assert_eq!(
        b.count("details[open]").await.unwrap(),
        0,
        "the optional fields start folded"
    );
    // Missing the place of stay's code: refused, with the field named, and what was typed is kept.
    b.fill("input[name=name]", "試験 花子").await.unwrap();
    b.fill("input[name=name_kana]", "シケン ハナコ")
        .await
        .unwrap();
    b.choose("select[name=sex]", "female").await.unwrap();
    b.set_date("input[name=date_of_birth]", "1986-04-01")
        .await
        .unwrap();
    b.fill("input[name=municipality_code]", "131032")
        .await
        .unwrap();
    b.fill("input[name=address]", "港区芝公園1-1-1")
        .await
        .unwrap();
    b.set_date(
        "input[name=test_collected_on]",
        &renkei_node::time_fmt::date(today),
    )
    .await
    .unwrap();
    b.choose("select[name=test_result]", "positive")
        .await
        .unwrap();
    shots.take(&b, "notification-form").await;
    b.set_date("input[name=date_of_birth]", "2999-01-01")
        .await
        .unwrap();
    b.click("form.notification > button[type=submit]")
        .await
        .unwrap();
    b.wait_for("p.error").await.unwrap();
    assert!(b.text("p.error").await.unwrap().contains("date_of_birth"));
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM cases")
            .fetch_one(&node.state.pool)
            .await
            .unwrap(),
        0,
        "nothing was written"
    );
    assert!(
        b.source().await.unwrap().contains("港区芝公園1-1-1"),
        "the form keeps what was typed"
    );
    b.set_date("input[name=date_of_birth]", "1986-04-01")
        .await
        .unwrap();
    b.click("form.notification > button[type=submit]")
        .await
        .unwrap();
    if b.wait_for("nav.tabs").await.is_err() {
        panic!("{}", b.text("main").await.unwrap());
    }
    assert_eq!(b.text("h1").await.unwrap(), "試験 花子");
    let case_url = b.url().await.unwrap();
    let case_id = case_url.rsplit('/').next().unwrap().to_string();
    // A doctor cannot confirm.
    assert_eq!(b.count("button.primary").await.unwrap(), 0);

    // 2. Confirmation by a member of staff (not the one who entered it).
    first_login(&b, &node, &staff_a).await;
    b.goto(&node.url("/cases?filter=unconfirmed"))
        .await
        .unwrap();
    b.wait_for("table.cases").await.unwrap();
    shots.take(&b, "case-list").await;
    b.click(&format!("a[href=\"/cases/{case_id}\"]"))
        .await
        .unwrap();
    b.wait_for("nav.tabs").await.unwrap();
    assert_eq!(
        b.count("p.warn").await.unwrap(),
        0,
        "no warning: someone else entered it"
    );
    b.click("div.actions button.primary").await.unwrap();
    b.wait_for("span.badge.ok").await.unwrap();
    let confirmed_by: Option<String> =
        sqlx::query_scalar("SELECT confirmed_by FROM cases WHERE id = ?")
            .bind(&case_id)
            .fetch_one(&node.state.pool)
            .await
            .unwrap();
    assert_eq!(confirmed_by.as_deref(), Some("staff.sato"));

    // Staff issue the patient's self-report link (shown once on the page).
    b.goto(&node.url(&format!("/cases/{case_id}?tab=record")))
        .await
        .unwrap();
    b.click(&format!("form[action=\"/cases/{case_id}/link\"] button"))
        .await
        .unwrap();
    b.wait_for("code.link").await.unwrap();
    let link = b.text("code.link").await.unwrap();
    assert!(link.starts_with("/r/"));

    // 3. The patient, on a phone, reports twice; the second report raises an alert.
    b.clear_cookies().await.unwrap();
    b.set_size(390, 844).await.unwrap();
    for (temperature, spo2) in [("37.2", "97"), ("38.4", "92")] {
        b.goto(&node.url(&link)).await.unwrap();
        b.wait_for("form.patient").await.unwrap();
        let page = b.source().await.unwrap();
        assert!(
            !page.contains("試験"),
            "the patient page shows no record data"
        );
        b.fill("input[name=temperature]", temperature)
            .await
            .unwrap();
        b.fill("input[name=spo2]", spo2).await.unwrap();
        b.click("input[value=cough]").await.unwrap();
        if temperature == "38.4" {
            shots.take(&b, "patient-report").await;
        }
        b.click("form.patient button").await.unwrap();
        b.wait_for("p.lead[role=status]").await.unwrap();
    }
    shots.take(&b, "patient-thanks").await;
    // Out-of-range input is refused with a message, and not recorded.
    b.goto(&node.url(&link)).await.unwrap();
    b.fill("input[name=temperature]", "36.5").await.unwrap();
    // (Past the browser's own check, as a hand-made request would be.)
    b.execute("form.patient", "arguments[0].noValidate = true;")
        .await
        .unwrap();
    b.fill("input[name=spo2]", "130").await.unwrap();
    b.click("form.patient button").await.unwrap();
    b.wait_for("p.error").await.unwrap();
    assert!(b.text("p.error").await.unwrap().contains("spo2"));
    b.set_size(1280, 1000).await.unwrap();
    let observations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM observations")
        .fetch_one(&node.state.pool)
        .await
        .unwrap();
    assert_eq!(observations, 2);

    // Staff see the alert in the list and on the case's chart.
    let code = node.next_totp(&staff_a.user, &staff_secret(&node, "staff.sato").await);
    log_in(&b, &node, &staff_a.user, PASSWORD, &code).await;
    b.wait_for("div.tiles").await.unwrap();
    shots.take(&b, "dashboard").await;
    b.goto(&node.url("/cases?filter=alert")).await.unwrap();
    b.wait_for("span.badge.alert").await.unwrap();
    assert_eq!(b.text("span.badge.alert").await.unwrap(), "SpO2低下");
    b.goto(&node.url(&format!("/cases/{case_id}?tab=observations")))
        .await
        .unwrap();
    b.wait_for("svg.chart path.temp").await.unwrap();
    shots.take(&b, "case-observations").await;
    // English on request.
    b.click("a[hreflang=en]").await.unwrap();
    b.wait_for("nav.tabs").await.unwrap();
    assert!(
        b.text("nav.tabs")
            .await
            .unwrap()
            .contains("Health observation")
    );
    b.click("a[hreflang=ja]").await.unwrap();
    b.wait_for("nav.tabs").await.unwrap();

    // 4. A contractor sees no one until assigned, and is refused this patient.
    first_login(&b, &node, &contractor).await;
    b.goto(&node.url("/cases")).await.unwrap();
    b.wait_for("main p").await.unwrap();
    assert_eq!(b.count("table.cases").await.unwrap(), 0);
    b.goto(&node.url(&format!("/cases/{case_id}")))
        .await
        .unwrap();
    b.wait_for("p.error").await.unwrap();
    assert!(
        !b.source().await.unwrap().contains("試験"),
        "nothing of the patient is shown"
    );
    shots.take(&b, "contractor-refused").await;
    let refused: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit WHERE actor = 'acme.suzuki' AND case_id = ? AND outcome = 'denied'",
    )
    .bind(&case_id)
    .fetch_one(&node.state.pool)
    .await
    .unwrap();
    assert_eq!(refused, 1, "the refusal is audited");

    // Once assigned, the contractor gets the follow-up page and nothing more.
    let (_, staff_api) = node.user("staff.api", Role::Staff, None).await;
    let (status, body) = staff_api
        .put(
            &format!("/api/v1/cases/{case_id}/assignment"),
            json!({ "kind": "contractor", "organisation": "acme-care", "from_date": renkei_node::time_fmt::date(today) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    b.goto(&node.url(&format!("/cases/{case_id}")))
        .await
        .unwrap();
    b.wait_for("svg.chart").await.unwrap();
    let page = b.source().await.unwrap();
    assert!(!page.contains("港区芝公園"), "no address for a contractor");
    assert!(
        !page.contains("nav class=\"tabs\""),
        "no record tabs for a contractor"
    );
    assert_eq!(b.count("table tbody tr").await.unwrap(), 2);
    b.fill("input[name=temperature]", "37.0").await.unwrap();
    b.fill("input[name=spo2]", "96").await.unwrap();
    b.click("form.inline button[type=submit]").await.unwrap();
    // The page after the post lists the new reading first, and the chart has
    // a third point.
    b.wait_for("table tbody tr:nth-child(3)").await.unwrap();
    let newest = b.text("table tbody tr").await.unwrap();
    assert!(newest.contains("37.0") && newest.contains("96"), "{newest}");
    assert_eq!(b.count("svg.chart circle.temp").await.unwrap(), 3);
    let (entered_by, temperature, spo2): (String, f64, i64) = sqlx::query_as(
        "SELECT entered_by, temperature, spo2 FROM observations WHERE case_id = ? ORDER BY observed_at DESC LIMIT 1",
    )
    .bind(&case_id)
    .fetch_one(&node.state.pool)
    .await
    .unwrap();
    assert_eq!(
        (entered_by.as_str(), temperature, spo2),
        ("acme.suzuki", 37.0, 96)
    );
    shots.take(&b, "contractor-follow-up").await;

    // The administrator's report shows the contractor's refused attempt.
    b.clear_cookies().await.unwrap();
    first_login(&b, &node, &node.admin).await;
    b.goto(&node.url("/admin/audit?unexplained=1"))
        .await
        .unwrap();
    b.wait_for("table.audit").await.unwrap();
    assert!(b.text("table.audit").await.unwrap().contains("acme.suzuki"));
    shots.take(&b, "admin-unexplained").await;
    // Every account is listed with its role and end date; each but the
    // administrator's own can be reset or disabled from here.
    b.goto(&node.url("/admin/users")).await.unwrap();
    b.wait_for("table.users").await.unwrap();
    let ids = b
        .execute(
            "table.users",
            "return Array.from(arguments[0].querySelectorAll('tbody tr td:first-child'), td => td.textContent);",
        )
        .await
        .unwrap();
    assert_eq!(
        ids,
        json!([
            "acme.suzuki",
            "admin",
            "dr.tanaka",
            "staff.api",
            "staff.sato"
        ])
    );
    let users = b.text("table.users").await.unwrap();
    assert!(
        users.contains("acme-care") && users.contains(&renkei_node::time_fmt::date(until)),
        "{users}"
    );
    assert_eq!(
        b.count("table.users form[action$='/disable']")
            .await
            .unwrap(),
        4
    );
    shots.take(&b, "admin-users").await;

    b.quit().await;
    node.stop().await;
}

/// The TOTP secret a user enrolled (read from the node, as their phone has it).
async fn staff_secret(node: &TestNode, user: &str) -> String {
    sqlx::query_scalar("SELECT totp_secret FROM users WHERE id = ?")
        .bind(user)
        .fetch_one(&node.state.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn pages_carry_security_headers_and_refuse_forms_without_their_token() {
    let node = TestNode::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(node.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    let form_cookie = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("renkei_form="))
        .expect("a form cookie");
    assert!(form_cookie.contains("SameSite=Strict"));
    let token = form_cookie["renkei_form=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // A login post without the token, or with another, is refused before anything is checked.
    let login = |csrf: Option<&str>| {
        let mut form = vec![("user", "admin"), ("password", "x"), ("code", "000000")];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        http.post(node.url("/login"))
            .header("cookie", format!("renkei_form={token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
    };
    assert_eq!(login(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        login(Some("0000")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        login(Some(&token)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // A logged-in staff member's case action needs the session's token.
    let (creds, staff) = node.user("staff.b", Role::Staff, None).await;
    let (status, case) = staff
        .post("/api/v1/cases", renkei_tests::notification())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = case["id"].as_str().unwrap();
    let (_, session) = node.login(&creds).await;
    let session = session["token"].as_str().unwrap();
    let confirm = |csrf: &str| {
        http.post(node.url(&format!("/cases/{id}/confirm")))
            .header("cookie", format!("renkei_session={session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
    };
    assert_eq!(
        confirm("forged").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let (_, after) = staff.get(&format!("/api/v1/cases/{id}")).await;
    assert!(
        after["confirmation"].is_null(),
        "a forged form changes nothing"
    );
    // The page's own token works.
    let page = http
        .get(node.url(&format!("/cases/{id}")))
        .header("cookie", format!("renkei_session={session}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The same person entered it: the page warns before confirming.
    assert!(page.contains("この届出はあなたが入力しました"), "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let r = confirm(csrf).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, after) = staff.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(after["confirmation"]["by"], "staff.b");

    // Unknown pages and bad links answer clearly.
    let r = http.get(node.url("/r/not-a-link")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = http
        .get(node.url("/lang?to=en&back=//evil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
    node.stop().await;
}

/// Logs in an enrolled user with their next one-time code.
async fn log_in_again(b: &Browser, node: &TestNode, user: &str) {
    let code = node.next_totp(user, &staff_secret(node, user).await);
    log_in(b, node, user, PASSWORD, &code).await;
    b.wait_for("nav[aria-label=main]").await.unwrap();
}

#[tokio::test]
async fn staff_share_a_case_see_who_looked_at_it_and_revoke_the_share() {
    let shots = Shots(std::env::var_os("RENKEI_SCREENSHOTS").map(Into::into));
    let fed = TestFederation::start(&[NATIONAL, MINATO, SETAGAYA]).await;
    let (minato, setagaya) = (fed.node("hc-13103"), fed.node("hc-13112"));
    let (_, ms) = minato.user("staff.m", Role::Staff, None).await;
    let (_, gs) = setagaya.user("staff.g", Role::Staff, None).await;
    let (status, case) = ms
        .post(
            "/api/v1/cases",
            notification_for(minato, "共有 花子", "キョウユウ ハナコ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap().to_string();
    // Medical data is stored, so that its absence from the follow-up copy
    // below shows the share's purpose at work.
    let (status, body) = ms
        .put(
            &format!("/api/v1/cases/{id}/medical"),
            json!({"hospital": "都立病院", "icu": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["medical"]["icu"], true);
    let record = format!("/cases/{id}?tab=record");
    let b = Browser::start().await.expect("headless Chromium");

    // Minato's staff share the case for follow-up from its record tab.
    log_in_again(&b, minato, "staff.m").await;
    b.goto(&minato.url(&record)).await.unwrap();
    b.wait_for("section.shares").await.unwrap();
    assert!(
        b.text("section.shares")
            .await
            .unwrap()
            .contains("共有していません")
    );
    b.choose("form[action$='/share'] select[name=to]", "hc-13112")
        .await
        .unwrap();
    b.choose("form[action$='/share'] select[name=purpose]", "follow_up")
        .await
        .unwrap();
    b.click("form[action$='/share'] button").await.unwrap();
    b.wait_for("section.shares table").await.unwrap();
    let shares = b.text("section.shares table").await.unwrap();
    assert!(
        shares.contains("hc-13112") && shares.contains("健康観察") && shares.contains("共有中"),
        "{shares}"
    );

    // Setagaya's staff find it among the cases shared with them and open it:
    // what follow-up carries, and not the medical record.
    eventually("the copy arrives", || async {
        (gs.get("/api/v1/shared").await.1["items"]
            .as_array()
            .unwrap()
            .len()
            == 1)
            .then_some(())
    })
    .await;
    log_in_again(&b, setagaya, "staff.g").await;
    b.goto(&setagaya.url("/shared")).await.unwrap();
    b.click("td a").await.unwrap();
    b.wait_for("p.notice").await.unwrap();
    let copy = b.source().await.unwrap();
    assert!(copy.contains("共有 花子") && copy.contains("hc-13103"));
    assert!(
        copy.contains("住所(居所)"),
        "the address is part of follow-up"
    );
    assert!(
        !copy.contains("都立病院") && !copy.contains("ICU入室"),
        "nothing of the medical record"
    );
    shots.take(&b, "shared-copy").await;

    // Back at Minato: who at Setagaya looked, then the share is revoked.
    eventually("the look is reported back", || async {
        let (_, body) = ms.get(&format!("/api/v1/cases/{id}/shares")).await;
        (body["items"][0]["views"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    log_in_again(&b, minato, "staff.m").await;
    b.goto(&minato.url(&record)).await.unwrap();
    b.wait_for("ul.views li").await.unwrap();
    assert!(
        b.text("ul.views li")
            .await
            .unwrap()
            .contains("staff.g@hc-13112")
    );
    shots.take(&b, "case-shares").await;
    b.click("form[action$='/revoke-share'] button")
        .await
        .unwrap();
    b.wait_for_text("取り消し済み").await.unwrap();
    assert_eq!(b.count("form[action$='/revoke-share']").await.unwrap(), 0);
    eventually("the copy is gone", || async {
        gs.get("/api/v1/shared").await.1["items"]
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    log_in_again(&b, setagaya, "staff.g").await;
    b.goto(&setagaya.url("/shared")).await.unwrap();
    b.wait_for_text("共有された患者はいません").await.unwrap();
    b.quit().await;
}

#[tokio::test]
async fn staff_correct_a_notification_and_a_refused_correction_changes_nothing() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.k", Role::Staff, None).await;
    let (status, case) = staff
        .post(
            "/api/v1/cases",
            notification_for(&node, "訂正 一郎", "テイセイ イチロウ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap().to_string();
    let revision = case["revision"].clone();
    let today = renkei_node::domain::japan_date(node.clock.now());
    let b = Browser::start().await.expect("headless Chromium");
    log_in_again(&b, &node, "staff.k").await;
    b.goto(&node.url(&format!("/cases/{id}?tab=notification")))
        .await
        .unwrap();
    let form = "form[action$='/correct']";

    // An onset date in the future is refused with the field named; nothing is written.
    b.click("details.correct summary").await.unwrap();
    b.set_date(
        &format!("{form} input[name=onset_date]"),
        &(today + time::Duration::days(3)).to_string(),
    )
    .await
    .unwrap();
    b.click(&format!("{form} button[type=submit]"))
        .await
        .unwrap();
    b.wait_for("p.error").await.unwrap();
    assert!(b.text("p.error").await.unwrap().contains("onset_date"));
    let (_, unchanged) = staff.get(&format!("/api/v1/cases/{id}")).await;
    assert!(unchanged["onset_date"].is_null());
    assert_eq!(unchanged["revision"], revision);

    // A correction: onset date, a symptom and the occupation.
    b.click("details.correct summary").await.unwrap();
    let onset = (today - time::Duration::days(2)).to_string();
    b.set_date(&format!("{form} input[name=onset_date]"), &onset)
        .await
        .unwrap();
    b.click(&format!("{form} input[value=cough]"))
        .await
        .unwrap();
    b.fill(&format!("{form} input[name=occupation]"), "会社員")
        .await
        .unwrap();
    b.click(&format!("{form} button[type=submit]"))
        .await
        .unwrap();
    b.wait_for_text("会社員").await.unwrap();
    let (_, corrected) = staff.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(corrected["onset_date"], onset.as_str());
    assert_eq!(corrected["symptoms"], json!(["cough"]));
    assert_eq!(corrected["occupation"], "会社員");
    assert_eq!(
        corrected["diagnosis_class"], case["diagnosis_class"],
        "the class is unchanged"
    );
    b.quit().await;
}
