//! The national node: statutory reports in, statistics out, no identities.

use std::time::Duration;

use renkei_node::domain::Role;
use renkei_tests::federation::{MINATO, NATIONAL, SETAGAYA, SHINJUKU, TestFederation};
use renkei_tests::{Client, TestNode, eventually, notification_for};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn drained(node: &TestNode) {
    eventually("the outbox drains", || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
                .fetch_one(&node.state.pool)
                .await
                .unwrap();
        (pending == 0).then_some(())
    })
    .await;
}

async fn create(staff: &Client, body: Value) -> Value {
    let (status, case) = staff.post("/api/v1/cases", body).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case
}

/// Everything the national node answers, as text.
async fn every_national_answer(national: &TestNode, ministry: &Client) -> String {
    let anon = Client::new(national);
    let mut all = String::new();
    for by in ["", "prefecture,centre,municipality,age_band,sex,class"] {
        for format in ["json", "csv"] {
            for basis in ["report", "diagnosis", "onset"] {
                let path =
                    format!("/api/v1/public/stats/daily?by={by}&format={format}&date={basis}");
                all.push_str(
                    &anon
                        .http
                        .get(national.url(&path))
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap(),
                );
                let path = format!("/api/v1/stats/daily?by={by}&format={format}&date={basis}");
                let response = ministry
                    .http
                    .get(national.url(&path))
                    .bearer_auth(ministry.token.as_ref().unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                all.push_str(&response.text().await.unwrap());
            }
        }
        all.push_str(
            &anon
                .get(&format!("/api/v1/public/stats/current?by={by}"))
                .await
                .1
                .to_string(),
        );
        all.push_str(
            &ministry
                .get(&format!("/api/v1/stats/current?by={by}"))
                .await
                .1
                .to_string(),
        );
    }
    all.push_str(&ministry.get("/api/v1/stats/timeliness").await.1.to_string());
    all.push_str(
        &anon
            .http
            .get(national.url("/stats"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    all
}

#[tokio::test]
async fn no_identity_reaches_the_national_database_or_any_answer() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU]).await;
    let canaries = [
        (
            "カナリア 一郎",
            "カナリア イチロウ",
            "東京都港区カナリア町1-1",
            "090-7777-0001",
            "1961-02-03",
        ),
        (
            "カナリア 花子",
            "カナリア ハナコ",
            "東京都新宿区カナリア町2-2",
            "090-7777-0002",
            "1972-05-06",
        ),
    ];
    for (i, centre) in ["hc-13103", "hc-13104"].into_iter().enumerate() {
        let node = fed.node(centre);
        let staff = node.user("staff.a", Role::Staff, None).await.1;
        let (name, kana, address, phone, dob) = canaries[i];
        let mut n = notification_for(node, name, kana);
        n["place_of_stay"] = json!({"municipality_code": if i == 0 { "131032" } else { "131041" }, "address": address});
        n["phone"] = json!(phone);
        n["date_of_birth"] = json!(dob);
        n["occupation"] = json!("カナリア職業");
        n["free_text"] = json!("カナリア自由記載");
        n["reporting_doctor"] = json!("カナリア医師");
        let case = create(&staff, n).await;
        let id = case["id"].as_str().unwrap();
        // The contact and the status change must be there, or the search
        // below proves nothing about them.
        let (status, body) = staff
            .post(
                &format!("/api/v1/cases/{id}/contacts"),
                json!({"name": "カナリア 接触者", "phone": "090-7777-0003"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = staff
            .put(
                &format!("/api/v1/cases/{id}/status"),
                json!({"status": "home"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"]["status"], "home");
        drained(node).await;
    }
    let national = fed.node("national");
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM statutory_reports")
        .fetch_one(&national.state.pool)
        .await
        .unwrap();
    assert_eq!(held, 2);
    let ministry = national.user("mhlw.analyst", Role::Ministry, None).await.1;
    let answers = every_national_answer(national, &ministry).await;
    let db = std::fs::read(national.database_path()).unwrap();
    let wal = std::fs::read(national.database_path().with_extension("db-wal")).unwrap_or_default();
    // The same search finds what must be there, so it can find a canary.
    assert!(answers.contains("131041") && answers.contains("hc-13104"));
    assert!(
        [&db, &wal]
            .iter()
            .any(|b| b.windows(6).any(|w| w == b"131041"))
    );
    for (name, kana, address, phone, dob) in canaries {
        for canary in [name, kana, address, phone, dob, "カナリア", "090-7777"] {
            assert!(!answers.contains(canary), "`{canary}` in a national answer");
            for bytes in [&db, &wal] {
                assert!(
                    !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                    "`{canary}` in the national database"
                );
            }
        }
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn revisions_move_a_case_through_classes_and_outcomes_and_count_it_once() {
    let fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let centre = fed.node("hc-13103");
    let staff = centre.user("staff.a", Role::Staff, None).await.1;
    let mut n = notification_for(centre, "改訂 太郎", "カイテイ タロウ");
    n["diagnosis_class"] = json!("suspected");
    n["status"] = json!("hospitalised");
    let id = create(&staff, n).await["id"].as_str().unwrap().to_string();
    drained(centre).await;
    let national = fed.node("national");
    let ministry = national.user("mhlw.analyst", Role::Ministry, None).await.1;
    let by_class = |body: &Value| -> Vec<(String, i64)> {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["group"][0].as_str().unwrap().to_string(),
                    r["cases"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let (_, current) = ministry.get("/api/v1/stats/current?by=class").await;
    assert_eq!(by_class(&current), [("suspected".to_string(), 1)]);

    // Suspected → confirmed; hospitalised → severe → deceased.
    staff
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/cases/{id}"),
            Some(json!({"diagnosis_class": "confirmed"})),
        )
        .await;
    staff
        .put(
            &format!("/api/v1/cases/{id}/medical"),
            json!({"hospital": "都立病院", "ventilator": true}),
        )
        .await;
    drained(centre).await;
    let (_, current) = ministry.get("/api/v1/stats/current?by=class").await;
    assert_eq!(
        by_class(&current),
        [("confirmed".to_string(), 1)],
        "one case, now confirmed"
    );
    assert_eq!(current["total"]["severe"], 1);
    assert_eq!(current["total"]["hospitalised"], 1);
    staff
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "deceased"}),
        )
        .await;
    drained(centre).await;
    let (_, current) = ministry.get("/api/v1/stats/current").await;
    assert_eq!(current["total"]["cases"], 1);
    assert_eq!(current["total"]["deceased"], 1);
    assert_eq!(current["total"]["active"], 0);
    let (_, daily) = ministry.get("/api/v1/stats/daily").await;
    let total: i64 = daily["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 1, "counted once, on its report date");

    // An additional registration withdraws the earlier notification: still one case.
    let case = staff.get(&format!("/api/v1/cases/{id}")).await.1;
    let tests = json!([{"method": "pcr", "specimen": "saliva", "collected_on": case["tests"][0]["collected_on"], "result": "positive"}]);
    let (status, _) = staff
        .post(
            &format!("/api/v1/cases/{id}/additional-registrations"),
            json!({"diagnosis_class": "confirmed", "tests": tests}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    drained(centre).await;
    let (_, current) = ministry.get("/api/v1/stats/current").await;
    assert_eq!(
        current["total"]["cases"], 1,
        "the withdrawn notification is not counted"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_late_report_counts_on_its_event_date_and_keeps_its_receipt_date() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let staff = fed
        .node("hc-13103")
        .user("staff.a", Role::Staff, None)
        .await
        .1;
    fed.stop("national").await;
    let event_day = renkei_node::domain::japan_date(fed.node("hc-13103").clock.now()).to_string();
    create(
        &staff,
        notification_for(fed.node("hc-13103"), "遅延 太郎", "チエン タロウ"),
    )
    .await;
    // The national node comes back three days later.
    fed.advance_clock("national", Duration::from_secs(3 * 86400));
    fed.restart("national").await;
    drained(fed.node("hc-13103")).await;
    let national = fed.node("national");
    let (report_date, received): (String, String) =
        sqlx::query_as("SELECT report_date, first_received_at FROM statutory_reports")
            .fetch_one(&national.state.pool)
            .await
            .unwrap();
    assert_eq!(report_date, event_day);
    assert!(
        received[..10] > *event_day.as_str(),
        "received {received}, days after {event_day}"
    );
    let ministry = national.user("mhlw.analyst", Role::Ministry, None).await.1;
    let (_, daily) = ministry.get("/api/v1/stats/daily").await;
    let counted: Vec<&str> = daily["totals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["count"].as_i64() == Some(1))
        .map(|t| t["date"].as_str().unwrap())
        .collect();
    assert_eq!(counted, [event_day.as_str()]);
    let (_, timeliness) = ministry.get("/api/v1/stats/timeliness").await;
    let minato = timeliness["centres"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["centre"] == "hc-13103")
        .unwrap()
        .clone();
    assert!(
        minato["median_lag_seconds"].as_f64().unwrap() > 2.0 * 86400.0,
        "{minato}"
    );
    assert_eq!(minato["state"], "behind");
    fed.shutdown().await;
}

#[tokio::test]
async fn public_tables_hide_small_cells_and_whatever_would_reveal_them() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU, SETAGAYA]).await;
    for (centre, code, count) in [("hc-13103", "131032", 12), ("hc-13104", "131041", 3)] {
        let node = fed.node(centre);
        let staff = node.user("staff.a", Role::Staff, None).await.1;
        for i in 0..count {
            let mut n = notification_for(node, &format!("秘匿 {i}"), "ヒトク");
            n["place_of_stay"]["municipality_code"] = json!(code);
            create(&staff, n).await;
        }
        drained(node).await;
    }
    let national = fed.node("national");
    let anon = Client::new(national);
    let ministry = national.user("mhlw.analyst", Role::Ministry, None).await.1;
    let day = renkei_node::domain::japan_date(national.clock.now()).to_string();
    let cells = |body: &Value| -> Vec<(String, Option<i64>)> {
        body["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["date"] == day.as_str())
            .map(|c| {
                (
                    c["group"][0].as_str().unwrap().to_string(),
                    c["count"].as_i64(),
                )
            })
            .collect()
    };
    let total = |body: &Value| {
        body["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["date"] == day.as_str())
            .unwrap()["count"]
            .as_i64()
    };

    let (status, public) = anon.get("/api/v1/public/stats/daily?by=municipality").await;
    assert_eq!(status, StatusCode::OK);
    // 3 is small; 12 would give it away next to the total of 15, so both go.
    assert_eq!(
        cells(&public),
        [("131032".to_string(), None), ("131041".to_string(), None)]
    );
    assert_eq!(total(&public), Some(15));
    let (_, fine) = ministry.get("/api/v1/stats/daily?by=municipality").await;
    assert_eq!(
        cells(&fine),
        [
            ("131032".to_string(), Some(12)),
            ("131041".to_string(), Some(3))
        ]
    );
    // A hidden count hides the 7-day averages built on it.
    assert!(
        public["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["avg7"].is_null())
    );

    let (_, current) = anon.get("/api/v1/public/stats/current?by=centre").await;
    let shown: Vec<Option<i64>> = current["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cases"].as_i64())
        .collect();
    assert_eq!(shown, [None, None]);
    assert_eq!(current["total"]["cases"], 15);
    let csv = anon
        .http
        .get(national.url("/api/v1/public/stats/daily?by=centre&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("date,centre,count,avg7,suppressed\n"));
    assert!(csv.contains(&format!("{day},hc-13104,,,true")), "{csv}");
    assert!(!csv.contains(",3,"), "{csv}");

    // The page shows the curve and never the small count.
    let page = anon.http.get(national.url("/stats")).send().await.unwrap();
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("<svg") && page.contains("東京都"));
    fed.shutdown().await;
}

#[tokio::test]
async fn ministry_tables_need_a_ministry_login_and_silent_centres_show() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SETAGAYA]).await;
    let national = fed.node("national");
    let anon = Client::new(national);
    assert_eq!(
        anon.get("/api/v1/stats/daily").await.0,
        StatusCode::UNAUTHORIZED
    );
    let admin = national.enrol(&national.admin).await;
    assert_eq!(
        admin.get("/api/v1/stats/daily").await.0,
        StatusCode::FORBIDDEN
    );
    let ministry = national.user("mhlw.analyst", Role::Ministry, None).await.1;
    let (status, body) = ministry.get("/api/v1/stats/daily?by=name").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().starts_with("by:"));
    let (status, _) = ministry
        .get("/api/v1/stats/daily?from=2026-01-01&to=2025-01-01")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = ministry
        .get("/api/v1/stats/daily?from=2020-01-01&to=2026-01-01")
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "windows are bounded"
    );
    let (status, _) = ministry.get("/api/v1/stats/daily?date=birth").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let centre = fed.node("hc-13103");
    let staff = centre.user("staff.a", Role::Staff, None).await.1;
    create(
        &staff,
        notification_for(centre, "適時 太郎", "テキジ タロウ"),
    )
    .await;
    drained(centre).await;
    let (_, timeliness) = ministry.get("/api/v1/stats/timeliness").await;
    let states: Vec<(String, String)> = timeliness["centres"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["centre"].as_str().unwrap().into(),
                c["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("hc-13103".to_string(), "ok".to_string()),
            ("hc-13112".to_string(), "silent".to_string())
        ]
    );
    // A national node has no case records or staff.
    let (status, _) = admin
        .post("/api/v1/users", json!({"id": "x", "role": "staff"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    fed.shutdown().await;
}
