//! Bad input gets a clear 4xx naming what was wrong, and writes nothing.

use renkei_node::domain::Role;
use renkei_tests::{TestNode, count, notification};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Applies `change` to a valid notification.
fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut n = notification();
    change(&mut n);
    n
}

#[tokio::test]
async fn invalid_notifications_are_refused_with_the_field_named() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, doctor) = node.user("dr.sato", Role::Medical, Some("clinic-a")).await;
    let future =
        (renkei_node::domain::japan_date(node.clock.now()) + time::Duration::days(3)).to_string();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown enum value",
            with(|n| n["sex"] = json!("unknown")),
            "sex: unknown variant `unknown`",
        ),
        (
            "unknown nested enum",
            with(|n| n["tests"][0]["method"] = json!("magic")),
            "tests[0].method: unknown variant",
        ),
        (
            "unknown class",
            with(|n| n["diagnosis_class"] = json!("probable")),
            "diagnosis_class: unknown variant",
        ),
        (
            "unknown disease",
            with(|n| n["disease"] = json!("plague-x")),
            "disease: `plague-x` is not a notifiable disease",
        ),
        (
            "unknown field",
            with(|n| n["blood_type"] = json!("A")),
            "blood_type: unknown field `blood_type`",
        ),
        (
            "missing field",
            with(|n| {
                n.as_object_mut().unwrap().remove("name_kana");
            }),
            "missing field `name_kana`",
        ),
        (
            "wrong type",
            with(|n| n["date_of_birth"] = json!(19800401)),
            "date_of_birth: invalid type",
        ),
        (
            "impossible date",
            with(|n| n["date_of_birth"] = json!("1980-02-30")),
            "date_of_birth:",
        ),
        (
            "future date of birth",
            with(|n| n["date_of_birth"] = json!(future)),
            "date_of_birth: ",
        ),
        (
            "future test date",
            with(|n| n["tests"][0]["collected_on"] = json!(future)),
            "tests[0].collected_on: ",
        ),
        (
            "future onset",
            with(|n| n["onset_date"] = json!(future)),
            "onset_date: ",
        ),
        (
            "birth after diagnosis",
            with(|n| {
                n["date_of_birth"] = json!("2026-11-10");
                n["tests"][0]["collected_on"] = json!("2026-11-20");
                n["diagnosis_date"] = json!("2026-11-01");
            }),
            "date_of_birth: is after the diagnosis_date",
        ),
        (
            "test before birth",
            with(|n| {
                n["date_of_birth"] = json!("2026-11-10");
                n["tests"][0]["collected_on"] = json!("2026-11-01");
            }),
            "tests[0].collected_on: is before the date of birth",
        ),
        (
            "onset after diagnosis",
            with(|n| {
                n["onset_date"] = json!("2026-11-19");
                n["diagnosis_date"] = json!("2026-11-18");
            }),
            "onset_date: is after the diagnosis date",
        ),
        (
            "unknown municipality",
            with(|n| n["place_of_stay"]["municipality_code"] = json!("999997")),
            "place_of_stay.municipality_code: `999997` is not a known",
        ),
        (
            "bad check digit",
            with(|n| n["place_of_stay"]["municipality_code"] = json!("131033")),
            "place_of_stay.municipality_code: `131033` has a wrong check digit",
        ),
        (
            "not six digits",
            with(|n| n["place_of_stay"]["municipality_code"] = json!("13103")),
            "place_of_stay.municipality_code: `13103` is not a 6-digit",
        ),
        (
            "no tests",
            with(|n| n["tests"] = json!([])),
            "tests: at least one test",
        ),
        (
            "huge array",
            with(|n| {
                let t = n["tests"][0].clone();
                n["tests"] = json!(vec![t; 21]);
            }),
            "tests: has 21 entries; at most 20",
        ),
        (
            "huge string",
            with(|n| n["name"] = json!("山".repeat(101))),
            "name: is 101 characters long; at most 100",
        ),
        (
            "empty name",
            with(|n| n["name"] = json!("   ")),
            "name: must not be empty",
        ),
        (
            "hiragana kana",
            with(|n| n["name_kana"] = json!("やまだ たろう")),
            "name_kana: must be written in full-width katakana",
        ),
        (
            "bad phone",
            with(|n| n["phone"] = json!("call me")),
            "phone: must be a phone number",
        ),
        (
            "repeated symptom",
            with(|n| n["symptoms"] = json!(["fever", "fever"])),
            "symptoms[1]: `fever` is listed twice",
        ),
        (
            "control characters",
            with(|n| n["free_text"] = json!("a\u{0007}b")),
            "free_text: contains control characters",
        ),
        (
            "suspected at home",
            with(|n| {
                n["diagnosis_class"] = json!("suspected");
                n["status"] = json!("home");
            }),
            "diagnosis_class: a suspected case is registered only when hospitalised",
        ),
        (
            "top-level array",
            json!([notification()]),
            "body: must be a JSON object",
        ),
        (
            "top-level string",
            json!("notification"),
            "body: must be a JSON object",
        ),
    ];
    for (what, body, expected) in &cases {
        let (status, answer) = staff.post("/api/v1/cases", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(answer["error"], "invalid_field", "{what}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{what}: `{message}` should contain `{expected}`"
        );
    }
    let (status, answer) = doctor
        .post(
            "/api/v1/cases",
            with(|n| n["reporting_institution"] = json!("clinic-b")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("reporting_institution")
    );
    assert_eq!(count(&node, "cases").await, 0, "nothing was written");
    assert_eq!(count(&node, "persons").await, 0);
    assert_eq!(count(&node, "tests").await, 0);
    node.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_refused_at_the_door() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let valid = serde_json::to_vec(&notification()).unwrap();

    // Duplicate keys: the second `name` must not silently win.
    let duplicated = String::from_utf8(valid.clone()).unwrap().replacen(
        "\"name\":",
        "\"name\":\"別人\",\"name\":",
        1,
    );
    let (status, body) = staff
        .send_raw(
            Method::POST,
            "/api/v1/cases",
            "application/json",
            duplicated.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("duplicate field `name`"),
        "{body}"
    );

    let (status, body) = staff
        .send_raw(
            Method::POST,
            "/api/v1/cases",
            "application/json",
            b"{\"disease\": ".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let (status, body) = staff
        .send_raw(
            Method::POST,
            "/api/v1/cases",
            "application/json",
            vec![0xff, 0xfe, 0x00],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let (status, body) = staff
        .send_raw(Method::POST, "/api/v1/cases", "text/plain", valid.clone())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let mut huge = notification();
    huge["free_text"] = json!("x".repeat(100_000));
    let (status, body) = staff.post("/api/v1/cases", huge).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    // Deeply nested JSON is refused without exhausting the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, _) = staff
        .send_raw(
            Method::POST,
            "/api/v1/cases",
            "application/json",
            deep.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let deep = format!(
        "{{\"disease\": {}{}}}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let (status, body) = staff
        .send_raw(
            Method::POST,
            "/api/v1/cases",
            "application/json",
            deep.into_bytes(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
    );
    assert_eq!(
        staff.get("/healthz").await.0,
        StatusCode::OK,
        "the node is still up"
    );

    // Unknown endpoints, methods and case ids answer in JSON too.
    let (status, body) = staff.get("/api/v1/nothing-here").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = staff.send(Method::DELETE, "/api/v1/cases", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let (status, _) = staff.get("/api/v1/cases/not-a-case-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = staff
        .get(&format!("/api/v1/cases/{}", "9".repeat(5000)))
        .await;
    assert!(status.is_client_error());
    assert_eq!(count(&node, "cases").await, 0);
    node.stop().await;
}

#[tokio::test]
async fn invalid_updates_change_nothing() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, case) = staff.post("/api/v1/cases", notification()).await;
    let id = case["id"].as_str().unwrap();
    let revision = case["revision"].clone();
    let today = renkei_node::domain::japan_date(node.clock.now());
    let future = (today + time::Duration::days(1)).to_string();
    let attempts: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::POST,
            format!("/api/v1/cases/{id}/observations"),
            json!({"temperature": 50.0}),
            "temperature: 50 °C is outside",
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/observations"),
            json!({"spo2": 300}),
            "spo2: invalid value",
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/observations"),
            json!({}),
            "give at least one of",
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/observations"),
            json!({"spo2": 95, "observed_at": "2099-01-01T00:00:00Z"}),
            "observed_at: is in the future",
        ),
        (
            Method::PUT,
            format!("/api/v1/cases/{id}/medical"),
            json!({"admitted_on": "2026-11-20", "discharged_on": "2026-11-19"}),
            "discharged_on: is before the admission date",
        ),
        (
            Method::PUT,
            format!("/api/v1/cases/{id}/medical"),
            json!({"admitted_on": future}),
            "admitted_on: ",
        ),
        (
            Method::PUT,
            format!("/api/v1/cases/{id}/status"),
            json!({"status": "asleep"}),
            "status: unknown variant",
        ),
        (
            Method::PUT,
            format!("/api/v1/cases/{id}/assignment"),
            json!({"kind": "contractor", "organisation": "acme", "from_date": "2026-11-20", "until_date": "2026-11-01"}),
            "until_date: is before from_date",
        ),
        (
            Method::PUT,
            format!("/api/v1/cases/{id}/place-of-stay"),
            json!({"municipality_code": "000000", "address": "x"}),
            "municipality_code: ",
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/contacts"),
            json!({"name": "x", "last_exposure_on": future}),
            "last_exposure_on: ",
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/tests"),
            json!({"tests": []}),
            "tests: at least one test",
        ),
        (
            Method::PATCH,
            format!("/api/v1/cases/{id}"),
            json!({"diagnosis_class": "suspected"}),
            "diagnosis_class: a suspected case",
        ),
    ];
    for (method, path, body, expected) in attempts {
        let (status, answer) = staff.send(method.clone(), &path, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}: {answer}"
        );
        assert!(
            answer["message"].as_str().unwrap().contains(expected),
            "{method} {path}: {answer} should contain {expected}"
        );
    }
    let (_, after) = staff.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(after["revision"], revision, "no update was applied");
    assert_eq!(after["observations"], json!([]));
    node.stop().await;
}

#[tokio::test]
async fn unreadable_path_and_query_parameters_answer_json_naming_them() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (status, case) = staff.post("/api/v1/cases", notification()).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap();
    let anon = renkei_tests::Client::new(&node);
    // Bytes that are not UTF-8 once percent-decoded, in each position of a
    // path: 400, as for a body that is not JSON.
    let paths = [
        (
            &staff,
            Method::GET,
            "/api/v1/cases/%ff%fe".to_string(),
            "`id`",
        ),
        (
            &staff,
            Method::POST,
            format!("/api/v1/cases/{id}/contacts/%c3%28/refer"),
            "`cid`",
        ),
        (
            &anon,
            Method::GET,
            "/api/v1/self-report/%80".to_string(),
            "`token`",
        ),
        (
            &staff,
            Method::GET,
            "/api/v1/transfers/%ff".to_string(),
            "`tid`",
        ),
    ];
    for (client, method, path, names) in paths {
        let (status, body) = client.send(method.clone(), &path, Some(json!({}))).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_path")),
            "{method} {path}: {body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(names), "{method} {path}: {message}");
    }
    // A query parameter that does not read is a field like any other: 422,
    // and the message starts with its name.
    let queries = [
        (&staff, "/api/v1/cases?limit=ten", "limit: "),
        (&staff, "/api/v1/cases?confirmed=maybe", "confirmed: "),
        (&staff, "/api/v1/cases?colour=red", "colour: unknown field"),
        (&staff, "/api/v1/cases?before=%ff", "before: "),
        (
            &anon,
            "/api/v1/public/stats/daily?by=sex&by=class",
            "query: duplicate field `by`",
        ),
    ];
    for (client, path, starts) in queries {
        let (status, body) = client.get(path).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")),
            "{path}: {body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(starts), "{path}: {message}");
    }
    node.stop().await;
}
