//! The audit trail: every read and write of personal data is recorded,
//! holds no personal data itself, and tampering is detected.

use renkei_node::audit::{self, ChainBreak};
use renkei_node::domain::Role;
use renkei_tests::{TestNode, notification_for};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::sqlite::SqlitePoolOptions;

async fn entries(admin: &renkei_tests::Client, query: &str) -> Vec<Value> {
    let (status, body) = admin.get(&format!("/api/v1/audit?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_read_and_write_of_a_case_leaves_an_entry() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, contractor) = node.user("c.acme", Role::Contractor, Some("acme")).await;
    let admin = node.enrol(&node.admin).await;
    let (_, case) = staff
        .post(
            "/api/v1/cases",
            notification_for(&node, "監査 太郎", "カンサ タロウ"),
        )
        .await;
    let id = case["id"].as_str().unwrap();
    let person = case["person"]["id"].as_str().unwrap();
    staff.get(&format!("/api/v1/cases/{id}")).await;
    staff.get("/api/v1/cases").await;
    contractor.get(&format!("/api/v1/cases/{id}")).await;

    let for_case = entries(&admin, &format!("case_id={id}")).await;
    let summary: Vec<(String, String, String, String)> = for_case
        .iter()
        .rev()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
                e["part"].as_str().unwrap_or("").into(),
                e["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("staff.a", "case.create", "notification", "allowed"),
        ("staff.a", "case.read", "full", "allowed"),
        ("staff.a", "case.list", "summary", "allowed"),
        ("c.acme", "case.read", "", "denied"),
    ];
    let expected: Vec<(String, String, String, String)> = expected
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(summary, expected);
    assert!(
        for_case
            .iter()
            .all(|e| e["person_id"] == person || e["outcome"] == "denied")
    );
    assert_eq!(for_case[0]["role"], "contractor");
    assert_eq!(for_case[0]["organisation"], "acme");

    // Querying the audit trail is itself audited.
    let queries = entries(&admin, "action=audit.query").await;
    assert_eq!(queries.len(), 1, "the earlier query: {queries:?}");
    assert_eq!(queries[0]["actor"], "admin");
    assert_eq!(
        queries[0]["case_id"], id,
        "it records which case the admin looked into"
    );
    assert_eq!(entries(&admin, "action=audit.query").await.len(), 2);

    // Entries name parts of records, never their contents.
    let dump: Vec<String> = sqlx::query_scalar("SELECT actor || role || COALESCE(organisation,'') || action || COALESCE(part,'') || COALESCE(reason,'') FROM audit")
        .fetch_all(&node.state.pool)
        .await
        .unwrap();
    assert!(
        dump.iter()
            .all(|d| !d.contains("監査") && !d.contains("カンサ") && !d.contains("芝公園"))
    );
    node.stop().await;
}

/// A copy of the node's database, to tamper with.
async fn snapshot(node: &TestNode, name: &str) -> sqlx::SqlitePool {
    let path = node.dir.path().join(name);
    sqlx::query(&format!("VACUUM INTO '{}'", path.display()))
        .execute(&node.state.pool)
        .await
        .unwrap();
    SqlitePoolOptions::new()
        .connect_with(renkei_node::store::connect_options(&path))
        .await
        .unwrap()
}

#[tokio::test]
async fn verify_detects_edited_deleted_reordered_and_truncated_entries() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    for i in 0..3 {
        let (_, case) = staff
            .post(
                "/api/v1/cases",
                notification_for(&node, &format!("監査 {i}"), "カンサ"),
            )
            .await;
        staff
            .get(&format!("/api/v1/cases/{}", case["id"].as_str().unwrap()))
            .await;
    }
    let intact = audit::verify(&node.state.pool)
        .await
        .unwrap()
        .expect("intact chain");
    assert!(intact.entries >= 10);

    let edited = snapshot(&node, "edited.db").await;
    sqlx::query("UPDATE audit SET outcome = 'denied' WHERE seq = 5")
        .execute(&edited)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&edited).await.unwrap(),
        Err(ChainBreak::Edited { seq: 5 })
    );

    let deleted = snapshot(&node, "deleted.db").await;
    sqlx::query("DELETE FROM audit WHERE seq = 4")
        .execute(&deleted)
        .await
        .unwrap();
    assert_eq!(
        audit::verify(&deleted).await.unwrap(),
        Err(ChainBreak::Gap {
            seq: 5,
            expected: 4
        })
    );

    // Swapping two entries' contents (keeping sequence numbers) breaks the links.
    let reordered = snapshot(&node, "reordered.db").await;
    sqlx::query(
        "UPDATE audit SET at = (SELECT at FROM audit WHERE seq = 7), actor = (SELECT actor FROM audit WHERE seq = 7), \
         action = (SELECT action FROM audit WHERE seq = 7), case_id = (SELECT case_id FROM audit WHERE seq = 7), \
         prev_hash = (SELECT prev_hash FROM audit WHERE seq = 7), hash = (SELECT hash FROM audit WHERE seq = 7) WHERE seq = 6",
    )
    .execute(&reordered)
    .await
    .unwrap();
    assert!(matches!(
        audit::verify(&reordered).await.unwrap(),
        Err(ChainBreak::Unlinked { seq: 6 } | ChainBreak::Edited { seq: 6 })
    ));

    let truncated = snapshot(&node, "truncated.db").await;
    sqlx::query("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
        .execute(&truncated)
        .await
        .unwrap();
    assert!(matches!(
        audit::verify(&truncated).await.unwrap(),
        Err(ChainBreak::Truncated { .. })
    ));
    node.stop().await;
}

/// The command log is the seam for replication: replaying it on an empty
/// database rebuilds the same records.
#[tokio::test]
async fn replaying_the_command_log_rebuilds_the_same_records() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, doctor) = node.user("dr.sato", Role::Medical, Some("clinic-a")).await;
    // Every kind of record the replay must rebuild, each step checked: a
    // step that failed would leave its table empty on both sides, and two
    // empty tables prove nothing.
    let (status, case) = doctor
        .post(
            "/api/v1/cases",
            notification_for(&node, "再生 太郎", "サイセイ タロウ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let id = case["id"].as_str().unwrap();
    let (status, body) = staff
        .post(
            &format!("/api/v1/cases/{id}/confirm"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = staff
        .post(
            &format!("/api/v1/cases/{id}/observations"),
            json!({"temperature": 38.0, "spo2": 93}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = staff
        .post(
            &format!("/api/v1/cases/{id}/contacts"),
            json!({"name": "再生 花子"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = doctor.put(&format!("/api/v1/cases/{id}/medical"), json!({"hospital": "都立病院", "admitted_on": case["tests"][0]["collected_on"], "ventilator": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = staff.post(&format!("/api/v1/cases/{id}/additional-registrations"), json!({"diagnosis_class": "confirmed", "tests": case["tests"][0].as_object().map(|t| { let mut t = t.clone(); t.remove("id"); vec![t] })})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let replica_path = node.dir.path().join("replica.db");
    let replica = renkei_node::store::open(&replica_path).await.unwrap();
    let commands: Vec<String> = sqlx::query_scalar("SELECT body FROM command_log ORDER BY seq")
        .fetch_all(&node.state.pool)
        .await
        .unwrap();
    assert!(commands.len() >= 9);
    let mut conn = replica.acquire().await.unwrap();
    for body in &commands {
        let command: renkei_node::command::Command = serde_json::from_str(body).unwrap();
        renkei_node::command::apply(&mut conn, &command)
            .await
            .unwrap();
    }
    drop(conn);
    for table in [
        "users",
        "persons",
        "cases",
        "class_reports",
        "tests",
        "status_history",
        "place_of_stay_history",
        "medical",
        "observations",
        "contacts",
    ] {
        let dump = |pool: sqlx::SqlitePool| async move {
            let rows: Vec<sqlx::sqlite::SqliteRow> =
                sqlx::query(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows.iter()
                .map(|r| {
                    use sqlx::{Column, Row, TypeInfo, ValueRef};
                    r.columns()
                        .iter()
                        .filter(|c| {
                            !matches!(
                                c.name(),
                                "totp_last_step" | "must_change_password" | "password_hash"
                            )
                        })
                        .map(|c| {
                            let raw = r.try_get_raw(c.ordinal()).unwrap();
                            if raw.is_null() {
                                "NULL".to_string()
                            } else {
                                match raw.type_info().name() {
                                    "INTEGER" | "BOOLEAN" => {
                                        r.get::<i64, _>(c.ordinal()).to_string()
                                    }
                                    "REAL" => r.get::<f64, _>(c.ordinal()).to_string(),
                                    "BLOB" => format!("{:?}", r.get::<Vec<u8>, _>(c.ordinal())),
                                    _ => r.get::<String, _>(c.ordinal()),
                                }
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect::<Vec<_>>()
        };
        let original = dump(node.state.pool.clone()).await;
        let rebuilt = dump(replica.clone()).await;
        assert!(!original.is_empty(), "{table} has rows");
        assert_eq!(original, rebuilt, "table {table}");
    }
    node.stop().await;
}

#[tokio::test]
async fn a_read_is_judged_by_the_assignment_in_force_when_it_happened() {
    let node = TestNode::start().await;
    let (_, staff) = node.user("staff.a", Role::Staff, None).await;
    let (_, acme) = node.user("c.acme", Role::Contractor, Some("acme")).await;
    let (_, beta) = node.user("c.beta", Role::Contractor, Some("beta")).await;
    let admin = node.enrol(&node.admin).await;
    let (_, case) = staff
        .post(
            "/api/v1/cases",
            notification_for(&node, "割当 次郎", "ワリアテ ジロウ"),
        )
        .await;
    let id = case["id"].as_str().unwrap();
    let today = renkei_node::domain::japan_date(node.clock.now()).to_string();
    let assign = |organisation: &str| json!({"kind": "contractor", "organisation": organisation, "from_date": today});
    let read = format!("/api/v1/cases/{id}");
    // acme follows the patient, then the patient moves to beta.
    assert_eq!(
        staff
            .put(&format!("{read}/assignment"), assign("acme"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(acme.get(&read).await.0, StatusCode::OK);
    node.clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(
        staff
            .put(&format!("{read}/assignment"), assign("beta"))
            .await
            .0,
        StatusCode::OK
    );
    node.clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(beta.get(&read).await.0, StatusCode::OK);
    assert_eq!(acme.get(&read).await.0, StatusCode::FORBIDDEN);

    // acme's read while assigned and beta's read are explained; acme's
    // attempt after the move is not.
    let unexplained = entries(&admin, &format!("unexplained=true&case_id={id}")).await;
    let who: Vec<(&str, &str)> = unexplained
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(who, vec![("c.acme", "denied")], "{unexplained:#?}");
}
