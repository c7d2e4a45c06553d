//! The case record over real HTTP: notification, confirmation, the tabs of
//! a case, and the rules from the ministry's Q&A.

use renkei_node::domain::Role;
use renkei_tests::{TestNode, count, notification, notification_for};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn notification_flow_from_doctor_to_confirmed_case() {
    let node = TestNode::start().await;
    let (_, doctor) = node
        .user("dr.sato", Role::Medical, Some("clinic-shiba"))
        .await;
    let (_, staff_a) = node.user("staff.a", Role::Staff, None).await;
    let (_, staff_b) = node.user("staff.b", Role::Staff, None).await;

    // The doctor notifies with the six minimum fields only.
    let (status, case) = doctor.post("/api/v1/cases", notification()).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap().to_string();
    assert_eq!(case["person"]["name"], "山田 太郎");
    assert_eq!(case["diagnosis_class"], "confirmed");
    assert_eq!(case["reporting_institution"], "clinic-shiba");
    assert_eq!(case["status"]["status"], "awaiting_decision");
    assert_eq!(case["confirmation"], json!(null));
    assert_eq!(case["tests"].as_array().unwrap().len(), 1);
    assert_eq!(case["place_of_stay"]["municipality_code"], "131032");
    let today = renkei_node::domain::japan_date(node.clock.now());
    assert_eq!(case["report_date"], today.to_string());

    // The rest of the notification follows later.
    let (status, case) = doctor
        .send(reqwest::Method::PATCH, &format!("/api/v1/cases/{id}"), Some(json!({"onset_date": "2026-11-18", "symptoms": ["fever", "cough"], "occupation": "会社員"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["onset_date"], "2026-11-18");
    assert_eq!(case["symptoms"], json!(["fever", "cough"]));

    // Staff see it unconfirmed in their list.
    let (status, list) = staff_a.get("/api/v1/cases?confirmed=false").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], id.as_str());
    // Born 1980-04-01: the age on the node's today, one less before the birthday.
    let birthday_passed = (today.month() as u8, today.day()) >= (4, 1);
    let age = today.year() - 1980 - i32::from(!birthday_passed);
    assert_eq!(list["items"][0]["age"], age);

    // A second person confirms, setting the current status.
    let (status, case) = staff_b
        .post(
            &format!("/api/v1/cases/{id}/confirm"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["confirmation"]["by"], "staff.b");
    assert_eq!(case["confirmation"]["by_entrant"], false);
    assert_eq!(case["status"]["status"], "home");
    // Confirming twice is a conflict, not a second confirmation.
    let (status, body) = staff_a
        .post(
            &format!("/api/v1/cases/{id}/confirm"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The tabs: tests, status, place of stay, medical, observation, contact, assignment.
    let (status, case) = staff_a
        .post(&format!("/api/v1/cases/{id}/tests"), json!({"tests": [{"method": "antigen_quantitative", "specimen": "saliva", "collected_on": "2026-11-21", "result": "positive"}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["tests"].as_array().unwrap().len(), 2);
    let (status, case) = staff_a
        .put(
            &format!("/api/v1/cases/{id}/place-of-stay"),
            json!({"municipality_code": "131041", "address": "東京都新宿区西新宿2-8-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["place_of_stay"]["municipality_code"], "131041");
    assert_eq!(case["place_of_stay_history"].as_array().unwrap().len(), 2);
    let (status, case) = doctor
        .put(
            &format!("/api/v1/cases/{id}/medical"),
            json!({"hospital": "都立病院", "admitted_on": "2026-11-21", "icu": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["medical"]["severe"], true);
    let (status, case) = staff_a
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "hospitalised"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let history: Vec<_> = case["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(history, ["awaiting_decision", "home", "hospitalised"]);
    let (status, case) = staff_a
        .post(
            &format!("/api/v1/cases/{id}/observations"),
            json!({"temperature": 38.44, "spo2": 95, "symptoms": ["fever"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["observations"][0]["temperature"], 38.4);
    assert_eq!(case["observations"][0]["entered_role"], "staff");
    let (status, case) = staff_a
        .post(&format!("/api/v1/cases/{id}/contacts"), json!({"name": "山田 花子", "relation": "家族", "municipality_code": "131121", "last_exposure_on": "2026-11-19"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["contacts"][0]["relation"], "家族");
    let (status, case) = staff_a
        .put(&format!("/api/v1/cases/{id}/assignment"), json!({"kind": "contractor", "organisation": "follow-up-co", "from_date": "2026-11-21"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(case["assignment"]["organisation"], "follow-up-co");
    assert!(case["revision"].as_i64().unwrap() >= 9);
    node.stop().await;
}

#[tokio::test]
async fn confirmation_by_the_entrant_is_recorded_and_shown() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, case) = staff.post("/api/v1/cases", notification()).await;
    let id = case["id"].as_str().unwrap();
    let (status, case) = staff
        .post(
            &format!("/api/v1/cases/{id}/confirm"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(case["confirmation"]["by_entrant"], true);
    node.stop().await;
}

#[tokio::test]
async fn suspected_cases_only_when_hospitalised() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let mut n = notification();
    n["diagnosis_class"] = json!("suspected");
    let (status, body) = staff.post("/api/v1/cases", n.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().contains("hospitalised"),
        "{body}"
    );
    assert_eq!(count(&node, "cases").await, 0);
    n["status"] = json!("hospitalised");
    let (status, _) = staff.post("/api/v1/cases", n).await;
    assert_eq!(status, StatusCode::CREATED);
    node.stop().await;
}

#[tokio::test]
async fn class_change_keeps_the_first_report_date_of_each_class() {
    let node = TestNode::start().await;
    let (credentials, staff) = node.user("staff.a", Role::Staff, None).await;
    let mut n = notification();
    n["diagnosis_class"] = json!("suspected");
    n["status"] = json!("hospitalised");
    let (_, case) = staff.post("/api/v1/cases", n).await;
    let id = case["id"].as_str().unwrap();
    let suspected_day = case["report_date"].as_str().unwrap().to_string();
    // Two days later the suspected case turns out positive.
    node.clock
        .advance(std::time::Duration::from_secs(2 * 86400));
    let (status, login) = node.login(&credentials).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the old session has expired; a new one: {login}"
    );
    let staff = staff.with_token(login["token"].as_str().unwrap());
    let (status, case) = staff
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/cases/{id}"),
            Some(json!({"diagnosis_class": "confirmed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    let confirmed_day = renkei_node::domain::japan_date(node.clock.now()).to_string();
    assert_eq!(case["report_date"], confirmed_day.as_str());
    let reports = case["class_reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert!(
        reports
            .iter()
            .any(|r| r["class"] == "suspected" && r["reported_on"] == suspected_day.as_str())
    );
    node.stop().await;
}

#[tokio::test]
async fn additional_registration_locks_the_earlier_notification() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, doctor) = node
        .user("dr.sato", Role::Medical, Some("clinic-shiba"))
        .await;
    let (_, case) = doctor.post("/api/v1/cases", notification()).await;
    let first = case["id"].as_str().unwrap().to_string();
    let person = case["person"]["id"].clone();

    // Doctors cannot register additionally; staff can.
    let body = json!({"diagnosis_class": "confirmed", "tests": [{"method": "pcr", "specimen": "saliva", "collected_on": "2026-11-21", "result": "positive"}]});
    let (status, _) = doctor
        .post(
            &format!("/api/v1/cases/{first}/additional-registrations"),
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, second) = staff
        .post(
            &format!("/api/v1/cases/{first}/additional-registrations"),
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["supersedes"], first.as_str());
    assert_eq!(second["person"]["id"], person);

    // The earlier one is locked against every edit, and says by what.
    let (_, earlier) = staff.get(&format!("/api/v1/cases/{first}")).await;
    assert_eq!(earlier["locked_by"], second["id"]);
    let (status, err) = doctor
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/cases/{first}"),
            Some(json!({"occupation": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"], "locked");
    let (status, _) = staff
        .put(
            &format!("/api/v1/cases/{first}/status"),
            json!({"status": "released"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = staff
        .post(
            &format!("/api/v1/cases/{first}/additional-registrations"),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    node.stop().await;
}

#[tokio::test]
async fn self_report_link_adds_observations_and_nothing_else() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, case) = staff.post("/api/v1/cases", notification()).await;
    let id = case["id"].as_str().unwrap();
    let (status, link) = staff
        .post(&format!("/api/v1/cases/{id}/self-report-link"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let token = link["token"].as_str().unwrap();

    let patient = renkei_tests::Client::new(&node);
    let (status, body) = patient.get(&format!("/api/v1/self-report/{token}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"valid": true}),
        "the link shows no personal data"
    );
    let (status, _) = patient
        .post(
            &format!("/api/v1/self-report/{token}/observations"),
            json!({"temperature": 37.9, "spo2": 96}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, case) = staff.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["observations"][0]["entered_role"], "patient");
    assert_eq!(case["observations"][0]["spo2"], 96);

    // The link is not a session: it opens no other endpoint.
    let as_bearer = patient.with_token(token);
    let (status, _) = as_bearer.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A wrong or expired link is refused the same way.
    let (status, body) = patient
        .post(
            "/api/v1/self-report/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/observations",
            json!({"spo2": 96}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "link_invalid");
    node.clock
        .advance(std::time::Duration::from_secs(15 * 86400));
    let (status, _) = patient
        .post(
            &format!("/api/v1/self-report/{token}/observations"),
            json!({"spo2": 96}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.stop().await;
}

#[tokio::test]
async fn case_list_pages_are_bounded_and_filterable() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    for i in 0..5 {
        let (status, _) = staff
            .post(
                "/api/v1/cases",
                notification_for(&node, &format!("試験 {i}"), "シケン"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, page1) = staff.get("/api/v1/cases?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    assert_eq!(page1["items"][0]["name"], "試験 4", "newest first");
    let before = page1["next_before"].as_str().unwrap();
    let (_, page2) = staff
        .get(&format!("/api/v1/cases?limit=2&before={before}"))
        .await;
    assert_eq!(page2["items"][0]["name"], "試験 2");
    let (_, page3) = staff
        .get(&format!(
            "/api/v1/cases?limit=2&before={}",
            page2["next_before"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page3["items"].as_array().unwrap().len(), 1);
    assert_eq!(page3["next_before"], json!(null));

    let (status, body) = staff.get("/api/v1/cases?limit=1000").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().starts_with("limit"));
    let (status, body) = staff.get("/api/v1/cases?status=sleeping").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = staff.get("/api/v1/cases?colour=red").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, filtered) = staff.get("/api/v1/cases?status=home").await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 0);
    node.stop().await;
}

#[tokio::test]
async fn worsening_reports_raise_an_alert_the_list_and_dashboard_show() {
    let node = renkei_tests::TestNode::start().await;
    let (_, staff) = node
        .user("staff.al", renkei_node::domain::Role::Staff, None)
        .await;
    let (status, case) = staff
        .post("/api/v1/cases", renkei_tests::notification())
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let id = case["id"].as_str().unwrap();
    let observe = |t: f64, s: u8| serde_json::json!({"temperature": t, "spo2": s});
    let alerts = || async {
        let (_, list) = staff.get("/api/v1/cases?alert=true").await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["alert"].clone())
            .collect::<Vec<_>>()
    };
    staff
        .post(
            &format!("/api/v1/cases/{id}/observations"),
            observe(37.0, 97),
        )
        .await;
    assert!(alerts().await.is_empty());
    staff
        .post(
            &format!("/api/v1/cases/{id}/observations"),
            observe(38.1, 96),
        )
        .await;
    assert_eq!(alerts().await, vec![serde_json::json!("fever")]);
    staff
        .post(
            &format!("/api/v1/cases/{id}/observations"),
            observe(37.9, 93),
        )
        .await;
    assert_eq!(alerts().await, vec![serde_json::json!("spo2")]);
    let (_, dash) = staff.get("/api/v1/dashboard").await;
    assert_eq!(dash["alerts"], 1);
    assert_eq!(dash["today"], 1);
    assert_eq!(dash["unconfirmed"], 1);
    assert_eq!(dash["daily"].as_array().unwrap().len(), 28);
    assert_eq!(dash["daily"][27]["count"], 1);
    assert_eq!(dash["today_by_sex_and_age_band"][0]["sex"], "male");
    // Recovery clears it.
    staff
        .post(
            &format!("/api/v1/cases/{id}/observations"),
            observe(36.6, 98),
        )
        .await;
    assert!(alerts().await.is_empty());
    let (_, case) = staff.get(&format!("/api/v1/cases/{id}")).await;
    assert!(case["alert"].is_null());
    // Without a federation nothing belongs elsewhere; bad filters are refused.
    let (_, list) = staff.get("/api/v1/cases?belongs_elsewhere=true").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (status, _) = staff.get("/api/v1/cases?alert=maybe").await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    node.stop().await;
}
