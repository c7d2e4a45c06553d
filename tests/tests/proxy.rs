//! A node behind a reverse proxy: the login throttle counts the address the
//! trusted proxy forwards, so one client cannot lock out another, and nobody
//! else's forwarding headers are believed.
//!
//! The test client plays the proxy: it connects from 127.0.0.1, the address
//! the node is told to trust, and sets the headers a proxy would.

use renkei_node::auth::throttle::FREE_FAILURES;
use renkei_node::domain::Role;
use renkei_tests::{PASSWORD, TestNode};
use reqwest::StatusCode;
use serde_json::json;

const ATTACKER: &str = "203.0.113.7";
const VICTIM: &str = "198.51.100.20";

async fn behind_loopback_proxy() -> TestNode {
    TestNode::start_with(|c| c.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await
}

/// An API login carrying `headers`, as the proxy forwards it.
async fn api_login(
    node: &TestNode,
    headers: &[(&str, String)],
    user: &str,
    password: &str,
    totp: &str,
) -> StatusCode {
    let mut request = reqwest::Client::new()
        .post(node.url("/api/v1/login"))
        .json(&json!({"user": user, "password": password, "totp": totp}));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().status()
}

fn forwarded_for(addr: &str) -> Vec<(&'static str, String)> {
    vec![("x-forwarded-for", addr.to_string())]
}

#[tokio::test]
async fn behind_a_trusted_proxy_an_attacker_cannot_lock_the_victim_out() {
    let node = behind_loopback_proxy().await;
    let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
    let attacker = forwarded_for(ATTACKER);
    for i in 0..FREE_FAILURES + 3 {
        let status = api_login(&node, &attacker, "staff.a", "guess-guess", "123456").await;
        let expected = if i < FREE_FAILURES {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "attempt {i}");
    }
    // Spoofing through the proxy does not help the attacker: what the client
    // wrote is left of the address the proxy appended, and the RFC 7239
    // header, which this proxy does not set, is not read.
    for i in 0..3 {
        let spoofed = vec![
            ("x-forwarded-for", format!("192.0.2.{i}, {ATTACKER}")),
            ("forwarded", format!("for=192.0.2.{i}")),
        ];
        let status = api_login(&node, &spoofed, "staff.a", "guess-guess", "123456").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "spoof {i}");
    }
    // The victim shares the proxy's address but not the attacker's.
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let status = api_login(&node, &forwarded_for(VICTIM), "staff.a", PASSWORD, &code).await;
    assert_eq!(status, StatusCode::OK);
    // Requests the proxy sends without a header count as its own, and are
    // not held back by the attacker either.
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    assert_eq!(
        api_login(&node, &[], "staff.a", PASSWORD, &code).await,
        StatusCode::OK
    );
    node.stop().await;
}

#[tokio::test]
async fn the_web_login_counts_the_forwarded_address_too() {
    let node = behind_loopback_proxy().await;
    let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http.get(node.url("/login")).send().await.unwrap();
    let csrf = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().unwrap().strip_prefix("renkei_form="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .next()
        .expect("a form cookie");
    let submit = |from: &str, password: &str, code: &str| {
        http.post(node.url("/login"))
            .header("x-forwarded-for", from)
            .header("cookie", format!("renkei_form={csrf}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("csrf", csrf.as_str()),
                    ("user", "staff.a"),
                    ("password", password),
                    ("code", code),
                ])
                .unwrap(),
            )
            .send()
    };
    for _ in 0..FREE_FAILURES {
        let page = submit(ATTACKER, "guess-guess", "123456").await.unwrap();
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = submit(ATTACKER, "guess-guess", "123456").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let code = node.next_totp("staff.a", &credentials.totp_secret);
    let welcome = submit(VICTIM, PASSWORD, &code).await.unwrap();
    assert_eq!(
        welcome.status(),
        StatusCode::SEE_OTHER,
        "the victim logs in"
    );
    assert_eq!(welcome.headers()["location"], "/");
    node.stop().await;
}

#[tokio::test]
async fn an_untrusted_peer_cannot_escape_the_throttle_by_claiming_new_addresses() {
    // No proxy trusted (the default), and a proxy trusted that is not the
    // one connecting: either way the headers are the client's own words.
    let untrusted_proxy = |c: &mut renkei_node::config::Config| {
        c.http.trusted_proxies = vec!["127.0.0.2".parse().unwrap()];
    };
    for node in [
        TestNode::start().await,
        TestNode::start_with(untrusted_proxy).await,
    ] {
        let (credentials, _) = node.user("staff.a", Role::Staff, None).await;
        for i in 0..FREE_FAILURES {
            let spoofed = vec![
                ("x-forwarded-for", format!("192.0.2.{i}")),
                ("forwarded", format!("for=192.0.2.{i}")),
            ];
            let status = api_login(&node, &spoofed, "staff.a", "guess-guess", "123456").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let code = node.next_totp("staff.a", &credentials.totp_secret);
        let fresh = vec![("x-forwarded-for", "192.0.2.200".to_string())];
        let status = api_login(&node, &fresh, "staff.a", PASSWORD, &code).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        node.stop().await;
    }
}
