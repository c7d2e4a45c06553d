//! The OpenAPI document lists exactly the endpoints the node serves.

use renkei_node::api::ROUTES;
use renkei_tests::{Client, TestNode};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn openapi_document_matches_the_served_routes() {
    let node = TestNode::start().await;
    let anon = Client::new(&node);
    let (status, doc) = anon.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
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
    let mut listed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    assert_eq!(documented, listed);

    // Every listed route is served: an anonymous call reaches its handler
    // (401, 404 for a bad link, 422…) rather than the router's 404 or 405.
    let sample_id = "0190a1b2-0000-7000-8000-000000000000";
    for (method, path, _, _) in ROUTES {
        let concrete = path
            .replace("{id}", sample_id)
            .replace("{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (method != Method::GET).then(|| serde_json::json!({}));
        let (status, body) = anon.send(method.clone(), &concrete, body).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(
            body["message"], "no such endpoint",
            "{method} {path} is not routed"
        );
        assert!(status.as_u16() < 500, "{method} {path}: {status}");
    }
    // Every operation that takes a body names a schema that exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(reference) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            {
                assert!(
                    schemas.contains_key(reference.trim_start_matches("#/components/schemas/")),
                    "{reference}"
                );
            }
        }
    }
    node.stop().await;
}
