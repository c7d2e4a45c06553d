//! Least privilege, shown over HTTP: every role against every endpoint.

use renkei_node::domain::Role;
use renkei_node::views::FOLLOW_UP_FIELDS;
use renkei_tests::{Client, TestNode, notification_for};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ROLES: &[&str] = &[
    "staff",
    "medical",
    "medical-other",
    "contractor",
    "contractor-other",
    "facility",
    "admin",
];

struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Expected status per entry of ROLES.
    expect: [u16; 7],
}

fn row(method: Method, path: String, body: Option<Value>, expect: [u16; 7]) -> Row {
    Row {
        method,
        path,
        body,
        expect,
    }
}

#[tokio::test]
async fn each_role_reaches_exactly_what_it_should() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, medical) = node.user("dr.sato", Role::Medical, Some("clinic-a")).await;
    let (_, medical_other) = node.user("dr.other", Role::Medical, Some("clinic-b")).await;
    let (_, contractor) = node.user("c.acme", Role::Contractor, Some("acme")).await;
    let (_, contractor_other) = node
        .user("c.other", Role::Contractor, Some("other-co"))
        .await;
    let (_, facility) = node
        .user("hotel.desk", Role::Facility, Some("hotel-1"))
        .await;
    let admin = node.enrol(&node.admin).await;
    let clients: [&Client; 7] = [
        &staff,
        &medical,
        &medical_other,
        &contractor,
        &contractor_other,
        &facility,
        &admin,
    ];

    // A case notified by clinic-a and assigned to contractor acme.
    let (status, case) = medical
        .post(
            "/api/v1/cases",
            notification_for(&node, "試験 太郎", "シケン タロウ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = case["id"].as_str().unwrap().to_string();
    let today = renkei_node::domain::japan_date(node.clock.now()).to_string();
    let assign = json!({"kind": "contractor", "organisation": "acme", "from_date": today});
    let (status, _) = staff
        .put(&format!("/api/v1/cases/{id}/assignment"), assign.clone())
        .await;
    assert_eq!(status, StatusCode::OK);

    // Every role but the admin may ask for the list, and each finds only
    // the patients it may see: the notifying doctor and the assigned
    // contractor this one, another clinic's doctor, another contractor and
    // the facility an empty list.
    for (role, client) in ROLES.iter().zip(clients).filter(|(r, _)| **r != "admin") {
        let (status, list) = client.get("/api/v1/cases").await;
        assert_eq!(status, StatusCode::OK, "{role}: {list}");
        let listed: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        let expected: &[&str] = match *role {
            "staff" | "medical" | "contractor" => &[id.as_str()],
            _ => &[],
        };
        assert_eq!(listed, expected, "the case list of {role}");
    }

    let c = |p: &str| format!("/api/v1/cases/{id}{p}");
    let test = json!({"tests": [{"method": "pcr", "specimen": "saliva", "collected_on": today, "result": "positive"}]});
    let obs = json!({"temperature": 37.2});
    //                                                              staff med  med2 con  con2 fac  admin
    let rows = vec![
        row(
            Method::GET,
            "/api/v1/cases".into(),
            None,
            [200, 200, 200, 200, 200, 200, 403],
        ),
        row(
            Method::POST,
            "/api/v1/cases".into(),
            Some(notification_for(&node, "試験 花子", "シケン ハナコ")),
            [201, 201, 201, 403, 403, 403, 403],
        ),
        row(
            Method::GET,
            c(""),
            None,
            [200, 200, 403, 200, 403, 403, 403],
        ),
        row(
            Method::PATCH,
            c(""),
            Some(json!({"occupation": "教員"})),
            [200, 200, 403, 403, 403, 403, 403],
        ),
        row(
            Method::POST,
            c("/tests"),
            Some(test),
            [200, 200, 403, 403, 403, 403, 403],
        ),
        row(
            Method::POST,
            c("/confirm"),
            Some(json!({"status": "home"})),
            [200, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::PUT,
            c("/status"),
            Some(json!({"status": "home"})),
            [200, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::PUT,
            c("/place-of-stay"),
            Some(json!({"municipality_code": "131032", "address": "東京都港区芝公園1-1"})),
            [200, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::POST,
            c("/observations"),
            Some(obs),
            [201, 403, 403, 201, 403, 403, 403],
        ),
        row(
            Method::POST,
            c("/contacts"),
            Some(json!({"name": "試験 次郎"})),
            [201, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::PUT,
            c("/medical"),
            Some(json!({"hospital": "都立病院"})),
            [200, 200, 403, 403, 403, 403, 403],
        ),
        row(
            Method::PUT,
            c("/assignment"),
            Some(assign),
            [200, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::POST,
            c("/self-report-link"),
            Some(json!({})),
            [201, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::POST,
            c("/additional-registrations"),
            Some(json!({})),
            [0, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::GET,
            "/api/v1/users".into(),
            None,
            [403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            Method::GET,
            "/api/v1/audit".into(),
            None,
            [403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            Method::GET,
            "/api/v1/federation/status".into(),
            None,
            [403, 403, 403, 403, 403, 403, 200],
        ),
        row(
            Method::GET,
            "/api/v1/stats/daily".into(),
            None,
            [403, 403, 403, 403, 403, 403, 403],
        ),
        row(
            Method::GET,
            "/api/v1/public/stats/daily".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            Method::POST,
            "/api/v1/users/staff.a/disable".into(),
            None,
            [403, 403, 403, 403, 403, 403, 0],
        ),
    ];
    let mut failures = Vec::new();
    for r in &rows {
        for (i, client) in clients.iter().enumerate() {
            if r.expect[i] == 0 {
                continue; // covered by its own test
            }
            let (status, body) = client.send(r.method.clone(), &r.path, r.body.clone()).await;
            if status.as_u16() != r.expect[i] {
                failures.push(format!(
                    "{} {} as {}: got {status}, expected {} ({body})",
                    r.method, r.path, ROLES[i], r.expect[i]
                ));
            }
            if status == StatusCode::FORBIDDEN {
                assert_eq!(body["error"], "forbidden", "{body}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "policy violations:\n{}",
        failures.join("\n")
    );
    node.stop().await;
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn a_contractor_sees_only_assigned_patients_and_only_follow_up_fields() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, contractor) = node.user("c.acme", Role::Contractor, Some("acme")).await;
    let (_, facility) = node
        .user("hotel.desk", Role::Facility, Some("hotel-1"))
        .await;
    let today = renkei_node::domain::japan_date(node.clock.now()).to_string();
    let mut ids = Vec::new();
    for (name, kana) in [
        ("試験 一", "シケン イチ"),
        ("試験 二", "シケン ニ"),
        ("試験 三", "シケン サン"),
    ] {
        let mut n = notification_for(&node, name, kana);
        n["phone"] = json!("090-0000-0000");
        let (_, case) = staff.post("/api/v1/cases", n).await;
        ids.push(case["id"].as_str().unwrap().to_string());
    }
    staff
        .put(
            &format!("/api/v1/cases/{}/assignment", ids[0]),
            json!({"kind": "contractor", "organisation": "acme", "from_date": today}),
        )
        .await;
    staff
        .put(
            &format!("/api/v1/cases/{}/assignment", ids[1]),
            json!({"kind": "facility", "organisation": "hotel-1", "from_date": today}),
        )
        .await;

    // The list holds only the assigned patient, in the follow-up shape.
    let (status, list) = contractor.get("/api/v1/cases").await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[0].as_str());
    assert_eq!(
        keys(&items[0]),
        ["age", "id", "name", "name_kana", "sex", "status"]
    );

    // The case itself: exactly the declared follow-up fields.
    let (status, view) = contractor.get(&format!("/api/v1/cases/{}", ids[0])).await;
    assert_eq!(status, StatusCode::OK);
    let mut declared: Vec<String> = FOLLOW_UP_FIELDS.iter().map(|s| s.to_string()).collect();
    declared.sort();
    assert_eq!(keys(&view), declared);
    assert_eq!(view["phone"], "090-0000-0000");
    let text = view.to_string();
    assert!(
        !text.contains("芝公園") && !text.contains("1980-04-01") && !text.contains("pcr"),
        "no address, birth date or tests: {text}"
    );

    // Recording an observation answers with the follow-up view too.
    let (status, view) = contractor
        .post(
            &format!("/api/v1/cases/{}/observations", ids[0]),
            json!({"spo2": 94}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(keys(&view), declared);
    assert_eq!(view["observations"][0]["entered_role"], "contractor");

    // Unassigned, assigned to someone else, or not existing: the same 403.
    for other in [
        &ids[1],
        &ids[2],
        &"0190a1b2-0000-7000-8000-000000000000".to_string(),
    ] {
        let (status, body) = contractor.get(&format!("/api/v1/cases/{other}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["message"], "you may not access this case");
    }
    // The facility sees its own guest, not the contractor's patient.
    assert_eq!(
        facility.get(&format!("/api/v1/cases/{}", ids[1])).await.0,
        StatusCode::OK
    );
    assert_eq!(
        facility.get(&format!("/api/v1/cases/{}", ids[0])).await.0,
        StatusCode::FORBIDDEN
    );

    // When the assignment ends, so does access.
    let yesterday =
        (renkei_node::domain::japan_date(node.clock.now()) - time::Duration::days(1)).to_string();
    staff.put(&format!("/api/v1/cases/{}/assignment", ids[0]), json!({"kind": "contractor", "organisation": "acme", "from_date": "2026-01-01", "until_date": yesterday})).await;
    assert_eq!(
        contractor.get(&format!("/api/v1/cases/{}", ids[0])).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        contractor.get("/api/v1/cases").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    node.stop().await;
}
