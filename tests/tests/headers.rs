//! Every answer the node sends carries the security headers: each web page
//! route for the role that uses it, `/stats`, the API's JSON and its errors.

use std::collections::BTreeSet;

use renkei_node::config::NodeKind;
use renkei_node::domain::Role;
use renkei_tests::{Client, TestNode, notification_for};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

/// The paths the web router declares, read from its source so that a page
/// added later cannot be left out of the walk below.
fn declared_page_routes() -> BTreeSet<String> {
    let source = include_str!("../../node/src/web/mod.rs");
    let router = source
        .split("pub fn router(")
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .expect("web::router in node/src/web/mod.rs");
    router
        .split(".route(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

/// Fails unless `headers` are the ones every answer must carry.
fn assert_secure(what: &str, headers: &HeaderMap, cacheable: bool) {
    let get = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_str()
            .unwrap()
            .to_string()
    };
    let csp = get("content-security-policy");
    assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("style-src 'self'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-"), "{what}: {csp}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    if !cacheable {
        assert_eq!(get("cache-control"), "no-store", "{what}");
    }
}

/// One request of the walk: which declared route it exercises, and as whom.
struct Visit {
    route: &'static str,
    method: Method,
    path: String,
    session: Option<String>,
    /// The status of a page that renders for this user; `None` where the
    /// visit is a refusal (no CSRF token, unknown id) whose status other
    /// tests pin.
    status: Option<StatusCode>,
}

fn visit(route: &'static str, path: &str, session: Option<&Client>, status: u16) -> Visit {
    Visit {
        route,
        method: Method::GET,
        path: path.to_string(),
        session: session.and_then(|c| c.token.clone()),
        status: Some(StatusCode::from_u16(status).unwrap()),
    }
}

/// A form post without its CSRF token: refused, but still a page.
fn refused_post(route: &'static str, path: &str, session: Option<&Client>) -> Visit {
    Visit {
        route,
        method: Method::POST,
        path: path.to_string(),
        session: session.and_then(|c| c.token.clone()),
        status: Some(StatusCode::FORBIDDEN),
    }
}

async fn walk(node: &TestNode, visits: &[Visit]) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for v in visits {
        let mut request = http.request(v.method.clone(), node.url(&v.path));
        if let Some(token) = &v.session {
            request = request.header("cookie", format!("renkei_session={token}"));
        }
        if v.method == Method::POST {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body("x=1");
        }
        let response = request.send().await.unwrap();
        let what = format!("{} {} ({})", v.method, v.path, v.route);
        if let Some(status) = v.status {
            assert_eq!(response.status(), status, "{what}");
        }
        let is_css = v.route == "/static/renkei.css";
        assert_secure(&what, response.headers(), is_css);
        let body = response.text().await.unwrap();
        // The policy forbids inline styles: a page that used them would be
        // shown unstyled, so none may.
        assert!(
            !body.contains("<style") && !body.contains(" style="),
            "{what} has inline styles"
        );
    }
}

#[tokio::test]
async fn every_page_route_goes_out_with_the_security_headers() {
    let centre = TestNode::start().await;
    let (_, staff) = centre.user("staff.a", Role::Staff, None).await;
    let (_, doctor) = centre
        .user("dr.sato", Role::Medical, Some("clinic-a"))
        .await;
    let (_, admin) = centre.user("admin.b", Role::Admin, None).await;
    // A user still on the one-time password sees the welcome page.
    let newcomer = centre.add_user("staff.new", Role::Staff, None, None).await;
    let code = centre.next_totp("staff.new", &newcomer.totp_secret);
    let (status, first) = Client::new(&centre)
        .post(
            "/api/v1/login",
            serde_json::json!({"user": "staff.new", "password": newcomer.password, "totp": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let newcomer = Client::new(&centre).with_token(first["token"].as_str().unwrap());

    let (status, case) = staff
        .post(
            "/api/v1/cases",
            notification_for(&centre, "山田 花子", "ヤマダ ハナコ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let case_id = case["id"].as_str().unwrap().to_string();
    let (status, own) = doctor
        .post(
            "/api/v1/cases",
            notification_for(&centre, "佐藤 一郎", "サトウ イチロウ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let own_id = own["id"].as_str().unwrap().to_string();
    let (status, link) = staff
        .post(
            &format!("/api/v1/cases/{case_id}/self-report-link"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let link = link["token"].as_str().unwrap().to_string();
    let unknown = uuid::Uuid::now_v7();

    let (s, d, a) = (Some(&staff), Some(&doctor), Some(&admin));
    let mut visits = vec![
        // Before login, and the patient's link.
        visit("/login", "/login", None, 200),
        refused_post("/login", "/login", None),
        visit("/", "/", None, 303),
        visit("/lang", "/lang?to=en&back=/login", None, 303),
        visit("/static/renkei.css", "/static/renkei.css", None, 200),
        visit("/r/{token}", &format!("/r/{link}"), None, 200),
        refused_post("/r/{token}", &format!("/r/{link}"), None),
        visit("/r/{token}/thanks", &format!("/r/{link}/thanks"), None, 200),
        visit("/r/{token}", "/r/not-a-link", None, 404),
        visit("/welcome", "/welcome", Some(&newcomer), 200),
        refused_post("/welcome", "/welcome", Some(&newcomer)),
        // Staff.
        visit("/", "/", s, 303),
        visit("/dashboard", "/dashboard", s, 200),
        visit("/cases", "/cases", s, 200),
        visit("/cases/new", "/cases/new", s, 200),
        refused_post("/cases/new", "/cases/new", s),
        visit("/cases/{id}", &format!("/cases/{case_id}"), s, 200),
        visit(
            "/cases/{id}",
            &format!("/cases/{case_id}?tab=record"),
            s,
            200,
        ),
        visit("/cases/{id}", &format!("/cases/{unknown}"), s, 404),
        refused_post(
            "/cases/{id}/{action}",
            &format!("/cases/{case_id}/confirm"),
            s,
        ),
        visit("/transfers", "/transfers", s, 200),
        refused_post(
            "/transfers/{tid}/{answer}",
            &format!("/transfers/{unknown}/accept"),
            s,
        ),
        visit("/shared", "/shared", s, 200),
        Visit {
            status: None,
            ..visit("/shared/{sid}", &format!("/shared/{unknown}"), s, 200)
        },
        refused_post("/logout", "/logout", s),
        // The notifying doctor.
        visit("/cases", "/cases", d, 200),
        visit("/cases/new", "/cases/new", d, 200),
        visit("/cases/{id}", &format!("/cases/{own_id}"), d, 200),
        // A role on the wrong page gets a refusal page.
        visit("/dashboard", "/dashboard", d, 403),
        // The administrator.
        visit("/admin/users", "/admin/users", a, 200),
        refused_post("/admin/users", "/admin/users", a),
        refused_post(
            "/admin/users/{id}/{action}",
            "/admin/users/staff.a/disable",
            a,
        ),
        visit("/admin/audit", "/admin/audit", a, 200),
        visit("/national", "/national", a, 403),
        // The public statistics page, here and on the national node below.
        visit("/stats", "/stats", None, 200),
    ];
    walk(&centre, &visits).await;

    let national = TestNode::start_with(|c| c.kind = NodeKind::National).await;
    let (_, ministry) = national.user("mhlw.analyst", Role::Ministry, None).await;
    let at_national = vec![
        visit("/national", "/national", Some(&ministry), 200),
        visit("/", "/", Some(&ministry), 303),
        visit("/stats", "/stats", None, 200),
    ];
    walk(&national, &at_national).await;
    visits.extend(at_national);

    let walked: BTreeSet<String> = visits.iter().map(|v| v.route.to_string()).collect();
    let mut declared = declared_page_routes();
    assert!(declared.len() > 15, "the router was read: {declared:?}");
    declared.insert("/stats".into());
    assert_eq!(
        walked, declared,
        "every declared page route is walked (add new pages to this test)"
    );
    centre.stop().await;
    national.stop().await;
}

#[tokio::test]
async fn api_answers_are_never_stored_anywhere() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (status, case) = staff
        .post(
            "/api/v1/cases",
            notification_for(&node, "山田 花子", "ヤマダ ハナコ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap();
    let token = staff.token.clone().unwrap();
    let http = reqwest::Client::new();
    let requests = [
        (Method::GET, format!("/api/v1/cases/{id}"), true, 200),
        (Method::GET, "/api/v1/cases".to_string(), true, 200),
        (Method::GET, "/api/v1/me".to_string(), true, 200),
        (Method::GET, "/api/v1/dashboard".to_string(), true, 200),
        (
            Method::GET,
            format!("/api/v1/cases/{}", uuid::Uuid::now_v7()),
            true,
            404,
        ),
        (Method::GET, "/api/v1/cases".to_string(), false, 401),
        (Method::POST, "/api/v1/cases".to_string(), true, 415),
        (Method::DELETE, "/api/v1/cases".to_string(), true, 405),
        (Method::GET, "/api/v1/nothing-here".to_string(), true, 404),
        (
            Method::GET,
            "/api/v1/public/stats/daily?format=csv".to_string(),
            false,
            200,
        ),
        (Method::GET, "/healthz".to_string(), false, 200),
    ];
    for (method, path, with_session, status) in requests {
        let mut request = http.request(method.clone(), node.url(&path));
        if with_session {
            request = request.bearer_auth(&token);
        }
        let response = request.send().await.unwrap();
        let what = format!("{method} {path}");
        assert_eq!(response.status().as_u16(), status, "{what}");
        // Records and errors about them must not stay in a browser's or a
        // proxy's cache.
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.as_bytes()),
            Some(&b"no-store"[..]),
            "{what}"
        );
        assert_secure(&what, response.headers(), false);
    }
    node.stop().await;
}
