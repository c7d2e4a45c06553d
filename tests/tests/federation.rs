//! Real nodes on loopback talking QUIC with mutual TLS: statutory reports
//! flow from centres to the national node, through outages and restarts,
//! with nothing lost and nothing applied twice.

use renkei_node::domain::Role;
use renkei_tests::federation::{MINATO, NATIONAL, SHINJUKU, TestFederation};
use renkei_tests::{Client, TestNode, eventually, notification_for};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

/// The national node's (case id → revision) for every report it holds.
async fn national_reports(node: &TestNode) -> Vec<(String, i64)> {
    sqlx::query("SELECT case_id, revision FROM statutory_reports ORDER BY case_id")
        .fetch_all(&node.state.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn revision_at_national(national: &TestNode, case_id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT revision FROM statutory_reports WHERE case_id = ?")
        .bind(case_id)
        .fetch_optional(&national.state.pool)
        .await
        .unwrap()
}

async fn federation_status(admin: &Client) -> Value {
    let (status, body) = admin.get("/api/v1/federation/status").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn staff(node: &TestNode) -> Client {
    node.user("staff.a", Role::Staff, None).await.1
}

async fn new_case(node: &TestNode, staff: &Client, name: &str) -> String {
    let mut n = notification_for(node, name, "シケン");
    n["phone"] = json!("090-1111-2222");
    let (status, case) = staff.post("/api/v1/cases", n).await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case["id"].as_str().unwrap().to_string()
}

async fn outbox_pending(node: &TestNode) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&node.state.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn reports_reach_the_national_node_and_newer_revisions_replace_older_ones() {
    let fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let (centre, national) = (fed.node("hc-13103"), fed.node("national"));
    let staff = staff(centre).await;
    let id = new_case(centre, &staff, "全国 太郎").await;
    let first = eventually("the first report", || async {
        revision_at_national(national, &id).await
    })
    .await;

    staff
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "hospitalised"}),
        )
        .await;
    let (_, case) = staff
        .put(
            &format!("/api/v1/cases/{id}/medical"),
            json!({"hospital": "都立病院", "ventilator": true}),
        )
        .await;
    let latest = case["revision"].as_i64().unwrap();
    eventually("the latest revision", || async {
        (revision_at_national(national, &id).await == Some(latest)).then_some(())
    })
    .await;
    assert!(latest > first);
    let row = sqlx::query("SELECT status, hospitalised, severe, sex, age, municipality_code, prefecture_code, responsible_centre FROM statutory_reports WHERE case_id = ?")
        .bind(&id)
        .fetch_one(&national.state.pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "hospitalised");
    assert!(row.get::<bool, _>(1) && row.get::<bool, _>(2));
    assert_eq!(row.get::<String, _>(3), "male");
    assert_eq!(row.get::<String, _>(5), "131032");
    assert_eq!(row.get::<String, _>(6), "13");
    assert_eq!(row.get::<String, _>(7), "hc-13103");

    // No identity reaches the national database: not the name, kana,
    // address, phone or date of birth.
    let dump = std::fs::read(national.database_path()).unwrap();
    let wal = std::fs::read(national.database_path().with_extension("db-wal")).unwrap_or_default();
    for canary in [
        "全国 太郎",
        "シケン",
        "芝公園",
        "090-1111-2222",
        "1980-04-01",
    ] {
        let needle = canary.as_bytes();
        for bytes in [&dump, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "`{canary}` found at the national node"
            );
        }
    }
    let status = federation_status(&centre.enrol(&centre.admin).await).await;
    assert_eq!(status["peers"][0]["peer"], "national");
    assert_eq!(status["peers"][0]["outbox_depth"], 0);
    assert_eq!(status["peers"][0]["connected"], true);
    assert!(status["peers"][0]["delivered"].as_i64().unwrap() >= 3);
    fed.shutdown().await;
}

#[tokio::test]
async fn a_centre_catches_up_after_the_national_node_was_down() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let staff = staff(fed.node("hc-13103")).await;
    fed.stop("national").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(new_case(fed.node("hc-13103"), &staff, &format!("停止中 {i}")).await);
    }
    let id0 = ids[0].clone();
    staff
        .put(
            &format!("/api/v1/cases/{id0}/status"),
            json!({"status": "home"}),
        )
        .await;
    let centre = fed.node("hc-13103");
    let admin = centre.enrol(&centre.admin).await;
    let status = eventually("a delivery failure is visible", || async {
        let s = federation_status(&admin).await;
        s["peers"][0]["last_error"].is_string().then_some(s)
    })
    .await;
    assert_eq!(status["peers"][0]["outbox_depth"], 6);
    assert_eq!(status["peers"][0]["connected"], false);
    assert!(status["peers"][0]["oldest_pending_age_seconds"].is_i64());

    fed.restart("national").await;
    let centre = fed.node("hc-13103");
    eventually("the outbox drains", || async {
        (outbox_pending(centre).await == 0).then_some(())
    })
    .await;
    let reports = national_reports(fed.node("national")).await;
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        reports.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        expected,
        "each case once"
    );
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox_seen")
        .fetch_one(&fed.node("national").state.pool)
        .await
        .unwrap();
    assert_eq!(seen, 6, "every message applied once");
    let (_, case0) = staff.get(&format!("/api/v1/cases/{id0}")).await;
    assert!(
        reports.contains(&(id0.clone(), case0["revision"].as_i64().unwrap())),
        "at the latest revision"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_sender_restarted_with_a_full_outbox_delivers_everything_once() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU]).await;
    let minato_staff = staff(fed.node("hc-13103")).await;
    let shinjuku_staff = staff(fed.node("hc-13104")).await;
    fed.stop("national").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(new_case(fed.node("hc-13103"), &minato_staff, &format!("港 {i}")).await);
        ids.push(new_case(fed.node("hc-13104"), &shinjuku_staff, &format!("新宿 {i}")).await);
    }
    // Both centres go down with full outboxes; the national node returns first.
    fed.stop("hc-13103").await;
    fed.stop("hc-13104").await;
    fed.restart("national").await;
    fed.restart("hc-13103").await;
    fed.restart("hc-13104").await;
    let national = fed.node("national");
    eventually("all six reports", || async {
        (national_reports(national).await.len() == 6).then_some(())
    })
    .await;
    let senders: Vec<(String, i64)> = sqlx::query(
        "SELECT sender, COUNT(*) FROM statutory_reports GROUP BY sender ORDER BY sender",
    )
    .fetch_all(&national.state.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(
        senders,
        [("hc-13103".to_string(), 3), ("hc-13104".to_string(), 3)]
    );
    for id in ["hc-13103", "hc-13104"] {
        eventually("the outbox drains", || async {
            (outbox_pending(fed.node(id)).await == 0).then_some(())
        })
        .await;
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn duplicates_and_stale_revisions_change_nothing() {
    let fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let (centre, national) = (fed.node("hc-13103"), fed.node("national"));
    let staff = staff(centre).await;
    let id = new_case(centre, &staff, "重複 太郎").await;
    staff
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "home"}),
        )
        .await;
    eventually("both revisions delivered", || async {
        (outbox_pending(centre).await == 0).then_some(())
    })
    .await;
    let held = revision_at_national(national, &id).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox_seen")
        .fetch_one(&national.state.pool)
        .await
        .unwrap();

    // Replay every delivered message, as a sender that lost its acks would.
    let transport = &centre.state.federation.as_ref().unwrap().transport;
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT envelope FROM outbox ORDER BY seq")
        .fetch_all(&centre.state.pool)
        .await
        .unwrap();
    for bytes in &stored {
        let envelope = renkei_federation::Envelope::decode(bytes).unwrap();
        transport
            .send(&envelope)
            .await
            .expect("a duplicate is acknowledged");
    }
    // The first revision again, under a new message id: older never overwrites newer.
    let mut stale = renkei_federation::Envelope::decode(&stored[0]).unwrap();
    stale.message_id = uuid::Uuid::now_v7();
    transport.send(&stale).await.unwrap();
    assert_eq!(revision_at_national(national, &id).await, Some(held));
    let seen_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox_seen")
        .fetch_one(&national.state.pool)
        .await
        .unwrap();
    assert_eq!(seen_after, seen + 1, "only the new message id was new");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_message_refused_for_good_is_set_aside_and_the_queue_moves_on() {
    let fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let (centre, national) = (fed.node("hc-13103"), fed.node("national"));
    // A report the national node must refuse: it claims another centre is responsible.
    let staff = staff(centre).await;
    let id = new_case(centre, &staff, "拒否 太郎").await;
    eventually("delivered", || async {
        (outbox_pending(centre).await == 0).then_some(())
    })
    .await;
    let bytes: Vec<u8> = sqlx::query_scalar("SELECT envelope FROM outbox LIMIT 1")
        .fetch_one(&centre.state.pool)
        .await
        .unwrap();
    let mut bad = renkei_federation::Envelope::decode(&bytes).unwrap();
    bad.message_id = uuid::Uuid::now_v7();
    let renkei_federation::Body::StatutoryReport(r) = &mut bad.body else {
        panic!("a report")
    };
    r.responsible_centre = "hc-13104".into();
    r.revision += 10;
    sqlx::query("INSERT INTO outbox (message_id, recipient, kind, envelope, created_at, next_attempt_at) VALUES (?, 'national', 'statutory_report', ?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')")
        .bind(bad.message_id.to_string())
        .bind(bad.encode())
        .execute(&centre.state.pool)
        .await
        .unwrap();
    let next = new_case(centre, &staff, "後続 太郎").await;
    eventually("the next report still arrives", || async {
        revision_at_national(national, &next).await
    })
    .await;
    let status = federation_status(&centre.enrol(&centre.admin).await).await;
    assert_eq!(status["peers"][0]["rejected"], 1);
    assert!(
        status["peers"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("hand-over-from-owner"),
        "{status}"
    );
    assert!(
        revision_at_national(national, &id).await.unwrap() < 10,
        "the refused report changed nothing"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_revoked_centre_is_cut_off_when_the_new_crl_appears() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let staff = staff(fed.node("hc-13103")).await;
    let first = new_case(fed.node("hc-13103"), &staff, "失効 前").await;
    eventually("delivered", || async {
        revision_at_national(fed.node("national"), &first).await
    })
    .await;
    fed.revoke("hc-13103");
    let national = fed.node("national");
    let transport = national
        .state
        .federation
        .as_ref()
        .unwrap()
        .transport
        .clone();
    eventually(
        "the national node closes the revoked centre's connection",
        || async { (!transport.is_connected("hc-13103")).then_some(()) },
    )
    .await;
    let second = new_case(fed.node("hc-13103"), &staff, "失効 後").await;
    let centre = fed.node("hc-13103");
    let admin = centre.enrol(&centre.admin).await;
    eventually("the failure is visible", || async {
        let s = federation_status(&admin).await;
        (s["peers"][0]["outbox_depth"] == 1 && s["peers"][0]["last_error"].is_string())
            .then_some(())
    })
    .await;
    assert_eq!(
        revision_at_national(fed.node("national"), &second).await,
        None
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_receiver_stopped_in_the_middle_of_a_burst_loses_nothing() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let staff = staff(fed.node("hc-13103")).await;
    // Thirty notifications as fast as the centre takes them, in parallel.
    let mut tasks = Vec::new();
    for i in 0..30 {
        let staff = staff.clone();
        let body = notification_for(fed.node("hc-13103"), &format!("連続 {i}"), "レンゾク");
        tasks.push(tokio::spawn(async move {
            staff.post("/api/v1/cases", body).await
        }));
    }
    // The national node goes away while reports are in flight.
    fed.stop("national").await;
    let mut ids = Vec::new();
    for task in tasks {
        let (status, case) = task.await.unwrap();
        assert_eq!(status, StatusCode::CREATED);
        ids.push(case["id"].as_str().unwrap().to_string());
    }
    fed.restart("national").await;
    let centre = fed.node("hc-13103");
    eventually("the outbox drains", || async {
        (outbox_pending(centre).await == 0).then_some(())
    })
    .await;
    let national = fed.node("national");
    let mut held: Vec<String> = national_reports(national)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    held.sort();
    ids.sort();
    assert_eq!(held, ids, "every case exactly once");
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox_seen")
        .fetch_one(&national.state.pool)
        .await
        .unwrap();
    assert_eq!(seen, 30);
    fed.shutdown().await;
}
