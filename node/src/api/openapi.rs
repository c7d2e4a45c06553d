//! The OpenAPI 3 document of the API, built from [`super::ROUTES`] so that it
//! lists exactly the endpoints the router serves.

use axum::Json;
use serde_json::{Map, Value, json};

use super::ROUTES;

fn request_schema(method: &str, path: &str) -> Option<&'static str> {
    Some(match (method, path) {
        ("POST", "/api/v1/login") => "LoginRequest",
        ("POST", "/api/v1/password") => "PasswordRequest",
        ("POST", "/api/v1/cases") => "Notification",
        ("PATCH", "/api/v1/cases/{id}") => "NotificationPatch",
        ("POST", "/api/v1/cases/{id}/additional-registrations") => "AdditionalRegistration",
        ("POST", "/api/v1/cases/{id}/tests") => "TestsRequest",
        ("POST", "/api/v1/cases/{id}/confirm") | ("PUT", "/api/v1/cases/{id}/status") => {
            "StatusRequest"
        }
        ("PUT", "/api/v1/cases/{id}/place-of-stay") => "PlaceOfStay",
        ("POST", "/api/v1/cases/{id}/observations")
        | ("POST", "/api/v1/self-report/{token}/observations") => "Observation",
        ("POST", "/api/v1/cases/{id}/contacts") => "Contact",
        ("PUT", "/api/v1/cases/{id}/medical") => "Medical",
        ("PUT", "/api/v1/cases/{id}/assignment") => "Assignment",
        ("POST", "/api/v1/users") => "NewUser",
        _ => return None,
    })
}

fn enum_of(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

fn wire_names<T: crate::domain::WireName>() -> Vec<&'static str> {
    T::ALL.iter().map(|v| v.wire_name()).collect()
}

fn schemas() -> Value {
    use crate::domain::*;
    let date = json!({ "type": "string", "format": "date" });
    let test = json!({
        "type": "object", "additionalProperties": false,
        "required": ["method", "specimen", "collected_on", "result"],
        "properties": {
            "method": enum_of(&wire_names::<TestMethod>()), "specimen": enum_of(&wire_names::<Specimen>()),
            "collected_on": date, "result": enum_of(&wire_names::<TestResult>()),
        }
    });
    let symptoms =
        json!({ "type": "array", "maxItems": 20, "items": enum_of(&wire_names::<Symptom>()) });
    let place = json!({
        "type": "object", "additionalProperties": false, "required": ["municipality_code", "address"],
        "properties": { "municipality_code": { "type": "string", "pattern": "^[0-9]{6}$" }, "address": { "type": "string", "maxLength": 200 } }
    });
    let details = json!({
        "onset_date": date, "diagnosis_date": date, "symptoms": symptoms,
        "reporting_doctor": { "type": "string", "maxLength": 100 }, "reporting_institution": { "type": "string", "maxLength": 100 },
        "occupation": { "type": "string", "maxLength": 100 }, "free_text": { "type": "string", "maxLength": 2000 },
    });
    let mut notification = json!({
        "disease": enum_of(&DISEASES.iter().map(|d| d.id).collect::<Vec<_>>()),
        "diagnosis_class": enum_of(&wire_names::<DiagnosisClass>()),
        "name": { "type": "string", "maxLength": 100 }, "name_kana": { "type": "string", "maxLength": 100 },
        "sex": enum_of(&wire_names::<Sex>()), "date_of_birth": date, "place_of_stay": place,
        "tests": { "type": "array", "minItems": 1, "maxItems": 20, "items": test },
        "status": enum_of(&wire_names::<CaseStatus>()), "phone": { "type": "string" },
    });
    let mut patch = json!({ "diagnosis_class": enum_of(&wire_names::<DiagnosisClass>()) });
    for (k, v) in details.as_object().expect("object") {
        notification[k] = v.clone();
        patch[k] = v.clone();
    }
    json!({
        "Error": { "type": "object", "required": ["error", "message"], "properties": {
            "error": { "type": "string", "description": "a stable code, e.g. invalid_field" },
            "message": { "type": "string", "description": "what was wrong, naming the field" } } },
        "LoginRequest": { "type": "object", "additionalProperties": false, "required": ["user", "password", "totp"],
            "properties": { "user": { "type": "string" }, "password": { "type": "string" }, "totp": { "type": "string", "pattern": "^[0-9]{6}$" } } },
        "PasswordRequest": { "type": "object", "additionalProperties": false, "required": ["current", "new"],
            "properties": { "current": { "type": "string" }, "new": { "type": "string", "minLength": 12 } } },
        "Notification": { "type": "object", "additionalProperties": false,
            "required": ["disease", "diagnosis_class", "name", "name_kana", "sex", "date_of_birth", "place_of_stay", "tests"],
            "properties": notification },
        "NotificationPatch": { "type": "object", "additionalProperties": false, "properties": patch },
        "AdditionalRegistration": { "type": "object", "additionalProperties": false, "required": ["diagnosis_class", "tests"],
            "properties": { "diagnosis_class": enum_of(&wire_names::<DiagnosisClass>()), "tests": { "type": "array", "items": test },
                "status": enum_of(&wire_names::<CaseStatus>()), "onset_date": date, "diagnosis_date": date, "symptoms": symptoms,
                "reporting_doctor": { "type": "string" }, "free_text": { "type": "string" } } },
        "TestsRequest": { "type": "object", "additionalProperties": false, "required": ["tests"],
            "properties": { "tests": { "type": "array", "minItems": 1, "maxItems": 20, "items": test } } },
        "StatusRequest": { "type": "object", "additionalProperties": false, "required": ["status"],
            "properties": { "status": enum_of(&wire_names::<CaseStatus>()) } },
        "PlaceOfStay": place,
        "Observation": { "type": "object", "additionalProperties": false, "properties": {
            "observed_at": { "type": "string", "format": "date-time" }, "temperature": { "type": "number", "minimum": 30, "maximum": 45 },
            "spo2": { "type": "integer", "minimum": 50, "maximum": 100 }, "symptoms": symptoms } },
        "Contact": { "type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "name": { "type": "string" }, "name_kana": { "type": "string" }, "phone": { "type": "string" },
            "municipality_code": { "type": "string" }, "relation": { "type": "string" }, "last_exposure_on": date } },
        "Medical": { "type": "object", "additionalProperties": false, "properties": {
            "hospital": { "type": "string" }, "admitted_on": date, "discharged_on": date,
            "icu": { "type": "boolean" }, "ventilator": { "type": "boolean" }, "ecmo": { "type": "boolean" } } },
        "Assignment": { "type": "object", "additionalProperties": false, "required": ["kind", "organisation", "from_date"], "properties": {
            "kind": enum_of(&wire_names::<AssignmentKind>()), "organisation": { "type": "string" }, "from_date": date, "until_date": date } },
        "NewUser": { "type": "object", "additionalProperties": false, "required": ["id", "role"], "properties": {
            "id": { "type": "string" }, "role": enum_of(&wire_names::<Role>()), "organisation": { "type": "string" }, "until": date } },
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, who) in ROUTES {
        let mut op = json!({
            "summary": summary,
            "description": format!("Who may call it: {who}."),
            "responses": {
                "200": { "description": "success" },
                "4XX": { "description": "refused; the body says why", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            },
        });
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(schema) = request_schema(method, path) {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
        }
        if matches!(*who, "anyone" | "the patient (link)") {
            op["security"] = json!([]);
        }
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path item is an object")
            .insert(method.to_lowercase(), op);
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Renkei node API", "version": env!("CARGO_PKG_VERSION"),
            "description": "One health centre's node: notifications, case records, follow-up, users and audit." },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "cookie": { "type": "apiKey", "in": "cookie", "name": super::extract::SESSION_COOKIE },
            },
        },
        "security": [{ "bearer": [] }, { "cookie": [] }],
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
