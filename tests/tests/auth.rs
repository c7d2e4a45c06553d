//! Login and sessions over real HTTP.

use std::time::Duration;

use renkei_node::domain::Role;
use renkei_tests::{Client, PASSWORD, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn login_body(user: &str, password: &str, totp: &str) -> serde_json::Value {
    json!({"user": user, "password": password, "totp": totp})
}

#[tokio::test]
async fn a_one_time_code_is_accepted_once() {
    let node = TestNode::start().await;
    let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let anon = Client::new(&node);
    let (status, first) = anon
        .post("/api/v1/login", login_body("staff.a", PASSWORD, &code))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, replay) = anon
        .post("/api/v1/login", login_body("staff.a", PASSWORD, &code))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a replayed code is refused: {replay}"
    );
    let (status, _) = node.login(&credentials).await;
    assert_eq!(status, StatusCode::OK, "a fresh code works");
    node.stop().await;
}

#[tokio::test]
async fn failures_say_nothing_about_which_part_was_wrong() {
    let node = TestNode::start().await;
    let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
    let anon = Client::new(&node);
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let unknown = anon
        .post("/api/v1/login", login_body("nobody", PASSWORD, &code))
        .await;
    let wrong_password = anon
        .post(
            "/api/v1/login",
            login_body("staff.a", "wrong-password!", &code),
        )
        .await;
    let wrong_code = anon
        .post("/api/v1/login", login_body("staff.a", PASSWORD, "000000"))
        .await;
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown, wrong_password);
    assert_eq!(unknown, wrong_code);
    node.stop().await;
}

#[tokio::test]
async fn throttling_slows_the_attacker_without_locking_out_the_victim() {
    let node = TestNode::start().await;
    let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
    let attacker = Client::new(&node);
    for _ in 0..renkei_node::auth::throttle::FREE_FAILURES {
        let (status, _) = attacker
            .post(
                "/api/v1/login",
                login_body("staff.a", "guess-guess-guess", "123456"),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right credentials are refused from the attacker's address…
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let response = attacker
        .http
        .post(node.url("/api/v1/login"))
        .json(&login_body("staff.a", PASSWORD, &code))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // …while the victim, at another address, logs in.
    let victim_http = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    let victim = Client {
        http: victim_http,
        ..Client::new(&node)
    };
    let (status, body) = victim
        .post("/api/v1/login", login_body("staff.a", PASSWORD, &code))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    node.stop().await;
}

/// A login attempt's status and its `Retry-After` seconds, if any.
async fn attempt(node: &TestNode, body: serde_json::Value) -> (StatusCode, Option<u64>) {
    let response = reqwest::Client::new()
        .post(node.url("/api/v1/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status(), retry_after)
}

#[tokio::test]
async fn waiting_as_long_as_retry_after_says_is_enough() {
    let node = TestNode::start().await;
    let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
    let wrong = login_body("staff.a", "guess-guess-guess", "123456");
    for _ in 0..renkei_node::auth::throttle::FREE_FAILURES {
        assert_eq!(
            attempt(&node, wrong.clone()).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // The first wait is a second; the next failure doubles it to two.
    let (status, wait) = attempt(&node, wrong.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    node.clock.advance(Duration::from_secs(wait.unwrap()));
    assert_eq!(
        attempt(&node, wrong.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Some real time has passed since that failure, so less than two
    // seconds remain: rounded down the node would announce one.
    let (status, wait) = attempt(&node, wrong).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(wait, Some(2));
    node.clock.advance(Duration::from_secs(2));
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let (status, wait) = attempt(&node, login_body("staff.a", PASSWORD, &code)).await;
    assert_eq!((status, wait), (StatusCode::OK, None));
    node.stop().await;
}

#[tokio::test]
async fn first_login_requires_a_new_password() {
    let node = TestNode::start().await;
    let credentials = node.add_user("staff.a", Role::Staff, None, None).await;
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let (status, login) = Client::new(&node)
        .post(
            "/api/v1/login",
            login_body("staff.a", &credentials.password, &code),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let client = Client::new(&node).with_token(login["token"].as_str().unwrap());
    let (status, body) = client.get("/api/v1/cases").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "password_change_required");
    let (status, body) = client
        .post(
            "/api/v1/password",
            json!({"current": credentials.password, "new": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().starts_with("new:"));
    let (status, _) = client
        .post(
            "/api/v1/password",
            json!({"current": "not-it-at-all", "new": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = client
        .post(
            "/api/v1/password",
            json!({"current": credentials.password, "new": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(client.get("/api/v1/cases").await.0, StatusCode::OK);
    node.stop().await;
}

#[tokio::test]
async fn session_cookie_is_http_only_and_strict_and_logout_ends_it() {
    let node = TestNode::start().await;
    let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let response = reqwest::Client::new()
        .post(node.url("/api/v1/login"))
        .json(&login_body("staff.a", PASSWORD, &code))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "no Secure flag on plain loopback HTTP"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie = |m: Method, p: &str| {
        reqwest::Client::new()
            .request(m, node.url(p))
            .header("cookie", pair.clone())
    };
    assert_eq!(
        with_cookie(Method::GET, "/api/v1/me")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        with_cookie(Method::POST, "/api/v1/logout")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        with_cookie(Method::GET, "/api/v1/me")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    node.stop().await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_on_the_next_request() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, staff_b) = node.user("staff.b", Role::Staff, None).await;
    let admin = node.enrol(&node.admin).await;
    assert_eq!(staff.get("/api/v1/cases").await.0, StatusCode::OK);
    let (status, _) = admin.post("/api/v1/users/staff.a/disable", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = staff.get("/api/v1/cases").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // The command line disables from another process, through its own writer.
    let writer = renkei_node::store::open_writer(&node.database_path())
        .await
        .unwrap();
    let cli_log = renkei_node::log::LocalLog::start(writer).await.unwrap();
    renkei_node::users::disable(
        &cli_log,
        &renkei_node::audit::Actor::operator(),
        node.clock.now(),
        "staff.b",
    )
    .await
    .unwrap();
    assert_eq!(
        staff_b.get("/api/v1/cases").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Both writers appended to one audit chain without breaking it.
    admin.get("/api/v1/audit").await;
    let report = renkei_node::audit::verify(&node.state.pool)
        .await
        .unwrap()
        .expect("chain intact");
    assert!(report.entries > 10);
    node.stop().await;
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_and_the_absolute_lifetime() {
    let node = TestNode::start().await;
    let (credentials, staff) = node.user("staff.a", Role::Staff, None).await;
    node.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        staff.get("/api/v1/me").await.0,
        StatusCode::OK,
        "used within the idle timeout"
    );
    node.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(
        staff.get("/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "idle too long"
    );

    // Kept busy, a session still ends after its absolute lifetime (12 h).
    let (_, login) = node.login(&credentials).await;
    let staff = staff.with_token(login["token"].as_str().unwrap());
    for _ in 0..(11 * 3 + 2) {
        node.clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(staff.get("/api/v1/me").await.0, StatusCode::OK);
    }
    node.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(
        staff.get("/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "past 12 hours"
    );
    node.stop().await;
}

#[tokio::test]
async fn an_account_past_its_end_date_stops_working() {
    let node = TestNode::start_with(|c| {
        c.sessions.idle_timeout = Duration::from_secs(7 * 86400);
        c.sessions.absolute_lifetime = Duration::from_secs(7 * 86400);
    })
    .await;
    let today = renkei_node::domain::japan_date(node.clock.now());
    let credentials = node
        .add_user(
            "c.acme",
            Role::Contractor,
            Some("acme"),
            Some(today + time::Duration::days(1)),
        )
        .await;
    let contractor = node.enrol(&credentials).await;
    assert_eq!(contractor.get("/api/v1/me").await.0, StatusCode::OK);
    node.clock.advance(Duration::from_secs(2 * 86400));
    let (status, body) = contractor.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("end date"),
        "{body}"
    );
    assert_eq!(node.login(&credentials).await.0, StatusCode::UNAUTHORIZED);
    node.stop().await;
}

#[tokio::test]
async fn admins_add_users_over_the_api_with_the_role_rules_enforced() {
    let node = TestNode::start().await;
    let admin = node.enrol(&node.admin).await;
    let (status, body) = admin
        .post(
            "/api/v1/users",
            json!({"id": "acme.suzuki", "role": "contractor", "organisation": "acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"].as_str().unwrap().starts_with("until:"),
        "{body}"
    );
    let (status, body) = admin
        .post("/api/v1/users", json!({"id": "Bad Id", "role": "staff"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A health centre has no ministry accounts.
    let (status, body) = admin
        .post("/api/v1/users", json!({"id": "x", "role": "ministry"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("role:"),
        "{body}"
    );
    let (status, created) = admin
        .post("/api/v1/users", json!({"id": "acme.suzuki", "role": "contractor", "organisation": "acme", "until": "2099-03-31"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _) = admin
        .post(
            "/api/v1/users",
            json!({"id": "acme.suzuki", "role": "staff"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "ids are unique");
    let credentials: renkei_node::users::Credentials = serde_json::from_value(created).unwrap();
    let contractor = node.enrol(&credentials).await;
    let (status, me) = contractor.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["role"], "contractor");
    assert_eq!(me["organisation"], "acme");
    let (status, users) = admin.get("/api/v1/users").await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let listed: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["acme.suzuki", "admin"]);
    assert!(
        !users.to_string().contains("argon2"),
        "no password hashes or secrets in the list"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_user_enrols_a_new_second_factor_and_an_admin_can_reset_it() {
    let node = TestNode::start().await;
    let admin = node.enrol(&node.admin).await;
    let credentials = node.add_user("staff.e", Role::Staff, None, None).await;
    let code = node.next_totp("staff.e", &credentials.totp_secret);
    let (status, body) = Client::new(&node)
        .post(
            "/api/v1/login",
            login_body("staff.e", &credentials.password, &code),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let client = Client::new(&node).with_token(body["token"].as_str().unwrap());
    let secret = renkei_node::auth::totp::generate_secret();
    let change = |secret: &str, code: &str| json!({"current": credentials.password, "new": PASSWORD, "totp_secret": secret, "totp_code": code});
    // Refused, each with the field named, and nothing changes.
    for (body, field) in [
        (change("SHORT", "123456"), "totp_secret"),
        (change(&secret, "000000"), "totp_code"),
        (
            json!({"current": credentials.password, "new": PASSWORD, "totp_secret": secret}),
            "totp_code",
        ),
    ] {
        let (status, answer) = client.post("/api/v1/password", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().starts_with(field),
            "{answer}"
        );
    }
    let (_, me) = client.get("/api/v1/me").await;
    assert_eq!(me["must_change_password"], true);
    let code = node.next_totp("staff.e", &secret);
    let (status, answer) = client
        .post("/api/v1/password", change(&secret, &code))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    // The handed-over secret is dead; the enrolled one works.
    let old = renkei_node::users::Credentials {
        password: PASSWORD.into(),
        ..credentials.clone()
    };
    assert_eq!(node.login(&old).await.0, StatusCode::UNAUTHORIZED);
    let enrolled = renkei_node::users::Credentials {
        totp_secret: secret.clone(),
        ..old.clone()
    };
    assert_eq!(node.login(&enrolled).await.0, StatusCode::OK);

    // An admin resets: sessions end, new one-time credentials work once more.
    let (status, reset) = admin.post("/api/v1/users/staff.e/reset", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(client.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(node.login(&enrolled).await.0, StatusCode::UNAUTHORIZED);
    let fresh = renkei_node::users::Credentials {
        password: reset["password"].as_str().unwrap().into(),
        totp_secret: reset["totp_secret"].as_str().unwrap().into(),
        ..credentials.clone()
    };
    node.enrol(&fresh).await;
    // Not oneself, not an unknown user, and not by staff.
    let (status, _) = admin.post("/api/v1/users/admin/reset", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin.post("/api/v1/users/nobody/reset", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, staff) = node.user("staff.f", Role::Staff, None).await;
    let (status, _) = staff.post("/api/v1/users/staff.e/reset", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, users) = admin.get("/api/v1/users").await;
    let e = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "staff.e")
        .unwrap();
    assert!(e["last_login_at"].is_string());
    node.stop().await;
}
