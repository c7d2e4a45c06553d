//! The OpenAPI document lists exactly the endpoints the node serves, every
//! reference in it resolves, and what an anonymous caller gets matches it.

use renkei_node::api::{Route, routes};
use renkei_node::domain::Role;
use renkei_tests::{Client, TestNode};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The path with sample values for its parameters.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0190a1b2-0000-7000-8000-000000000000")
        .replace("{cid}", "0190a1b2-0000-7000-8000-000000000001")
        .replace("{sid}", "0190a1b2-0000-7000-8000-000000000002")
        .replace("{tid}", "0190a1b2-0000-7000-8000-000000000003")
        .replace("{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}

/// Every `$ref` anywhere under `value`.
fn references<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => references(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

async fn served_document(anon: &Client) -> Value {
    let (status, doc) = anon.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    doc
}

#[tokio::test]
async fn openapi_document_matches_the_served_routes() {
    let node = TestNode::start().await;
    let anon = Client::new(&node);
    let doc = served_document(&anon).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    documented.sort();
    let listed: Vec<(String, String)> = routes().into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(documented, listed);
    assert!(listed.len() >= 48, "only {} operations", listed.len());

    for Route { method, path, .. } in routes() {
        // Every documented operation is served: the router's own 404 and
        // 405 never answer it.
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m != Method::GET).then(|| serde_json::json!({}));
        let (status, answer) = anon.send(m, &concrete(&path), body).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(answer["message"], "no such endpoint", "{method} {path}");
        // No method is served on a path without being documented.
        let item = &doc["paths"][&path];
        for other in METHODS {
            if item.get(other.to_lowercase()).is_none() {
                let m = Method::from_bytes(other.as_bytes()).unwrap();
                let (status, _) = anon.send(m, &concrete(&path), None).await;
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{other} {path} is served but not documented"
                );
            }
        }
    }
    node.stop().await;
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let node = TestNode::start().await;
    let doc = served_document(&Client::new(&node)).await;
    let mut refs = Vec::new();
    references(&doc, &mut refs);
    assert!(refs.len() > 100, "only {} references", refs.len());
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not local"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    // Every refusal is the `Error` schema, and every operation that takes a
    // JSON body lists what the body extractor can answer.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (code, response) in op["responses"].as_object().unwrap() {
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {code}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                for code in ["400", "413", "415", "422"] {
                    assert!(
                        op["responses"].get(code).is_some(),
                        "{method} {path} does not list {code}"
                    );
                }
                let schema = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
                let name = schema.as_str().unwrap().rsplit('/').next().unwrap();
                assert_eq!(
                    doc["components"]["schemas"][name]["additionalProperties"], false,
                    "{method} {path}: the API refuses unknown fields"
                );
            }
        }
    }
    node.stop().await;
}

/// An anonymous caller gets 401 from every route not documented as public,
/// and every answer it gets is a status the document lists.
#[tokio::test]
async fn anonymous_calls_are_refused_except_on_public_routes() {
    let node = TestNode::start().await;
    let anon = Client::new(&node);
    let doc = served_document(&anon).await;
    let public: Vec<String> = routes()
        .iter()
        .filter(|r| r.public)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        public,
        [
            "GET /api/v1/openapi.json",
            "GET /api/v1/public/stats/current",
            "GET /api/v1/public/stats/daily",
            "GET /api/v1/self-report/{token}",
            "GET /healthz",
            "GET /stats",
            "POST /api/v1/login",
            "POST /api/v1/self-report/{token}/observations",
        ]
    );
    for Route {
        method,
        path,
        public,
    } in routes()
    {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m != Method::GET).then(|| serde_json::json!({}));
        let (status, _) = anon.send(m, &concrete(&path), body).await;
        if public {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
        let responses = &doc["paths"][&path][method.to_lowercase()]["responses"];
        assert!(
            responses.get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which the document does not list"
        );
    }
    node.stop().await;
}

/// A path parameter that is not UTF-8 once percent-decoded is refused with
/// JSON 400 `invalid_path`, a status every operation with path parameters
/// lists (schemathesis cannot send such bytes, so this checks it).
#[tokio::test]
async fn unreadable_path_parameters_answer_as_documented() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff-1", Role::Staff, None).await;
    let doc = served_document(&staff).await;
    let mut checked = 0;
    for Route { method, path, .. } in routes().into_iter().filter(|r| r.path.contains('{')) {
        let unreadable: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "%ff%fe"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m != Method::GET).then(|| serde_json::json!({}));
        let (status, answer) = staff.send(m, &unreadable, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "invalid_path", "{method} {path}");
        let responses = &doc["paths"][&path][method.to_lowercase()]["responses"];
        assert!(
            responses.get("400").is_some(),
            "{method} {path} answers 400 but does not list it"
        );
        checked += 1;
    }
    assert!(
        checked >= 25,
        "only {checked} operations take path parameters"
    );
    node.stop().await;
}
