//! The CRL file on real nodes talking QUIC: a CRL from another CA, or an
//! older CRL replayed over the file, is refused with an alarm and changes
//! nothing; a newer CRL from the federation CA still revokes; a stale CRL
//! stays in force with an alarm.

use renkei_ca::Authority;
use renkei_node::domain::Role;
use renkei_tests::federation::{MINATO, NATIONAL, TestFederation};
use renkei_tests::{Client, TestNode, eventually, notification_for};
use reqwest::StatusCode;
use serde_json::Value;

async fn revision_at_national(national: &TestNode, case_id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT revision FROM statutory_reports WHERE case_id = ?")
        .bind(case_id)
        .fetch_optional(&national.state.pool)
        .await
        .unwrap()
}

async fn crl_status(admin: &Client) -> Value {
    let (status, body) = admin.get("/api/v1/federation/status").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["crl"].clone()
}

async fn new_case(node: &TestNode, staff: &Client, name: &str) -> String {
    let (status, case) = staff
        .post("/api/v1/cases", notification_for(node, name, "シケン"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case["id"].as_str().unwrap().to_string()
}

/// Waits until a node's status shows an alarm containing `needle`.
async fn alarm_containing(admin: &Client, needle: &str) -> Value {
    eventually(&format!("an alarm about `{needle}`"), || async {
        let crl = crl_status(admin).await;
        crl["alarm"]
            .as_str()
            .is_some_and(|a| a.contains(needle))
            .then_some(crl)
    })
    .await
}

#[tokio::test]
async fn a_crl_from_another_ca_is_refused_and_the_federation_keeps_talking() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    let staff = fed
        .node("hc-13103")
        .user("staff.a", Role::Staff, None)
        .await
        .1;
    let centre_admin = fed
        .node("hc-13103")
        .enrol(&fed.node("hc-13103").admin)
        .await;
    let national_admin = fed
        .node("national")
        .enrol(&fed.node("national").admin)
        .await;
    let good = crl_status(&national_admin).await;
    assert_eq!(good["installed_number"], "1", "{good}");
    assert_eq!(good["alarm"], Value::Null);
    assert_eq!(good["stale"], false);
    let first = new_case(fed.node("hc-13103"), &staff, "失効 前").await;
    eventually("the first report", || async {
        revision_at_national(fed.node("national"), &first).await
    })
    .await;

    // Another CA, even one with the same name, signs a CRL that lands where
    // every node reads its CRL.
    let other = tempfile::tempdir().unwrap();
    let mut foreign = Authority::init(&other.path().join("ca"), "Test federation", None).unwrap();
    let original = std::fs::read(fed.crl_path()).unwrap();
    std::fs::write(fed.crl_path(), foreign.crl_pem(7).unwrap()).unwrap();
    for admin in [&centre_admin, &national_admin] {
        let crl = alarm_containing(admin, "signature").await;
        let alarm = crl["alarm"].as_str().unwrap();
        assert!(alarm.starts_with("the CRL at "), "{alarm}");
        assert!(alarm.contains("was refused"), "{alarm}");
        assert!(crl["refused_at"].is_string(), "{crl}");
        assert_eq!(crl["installed_number"], "1", "the good CRL stays in force");
    }
    // Peers still talk: a new report reaches the national node.
    let second = new_case(fed.node("hc-13103"), &staff, "失効 中").await;
    eventually("a report after the refusal", || async {
        revision_at_national(fed.node("national"), &second).await
    })
    .await;

    // Putting the good file back clears the alarm.
    std::fs::write(fed.crl_path(), &original).unwrap();
    eventually("the alarm clears", || async {
        let crl = crl_status(&national_admin).await;
        (crl["alarm"].is_null() && crl["refused_at"].is_null()).then_some(())
    })
    .await;

    // A newer CRL from the federation CA still revokes, as before.
    fed.revoke("hc-13103");
    let national = fed.node("national");
    let transport = national
        .state
        .federation
        .as_ref()
        .unwrap()
        .transport
        .clone();
    eventually("the revoked centre is cut off", || async {
        (!transport.is_connected("hc-13103")).then_some(())
    })
    .await;
    let crl = crl_status(&national_admin).await;
    assert_eq!(crl["installed_number"], "2", "{crl}");
    assert_eq!(crl["revoked_certificates"], 1, "{crl}");
    assert_eq!(crl["alarm"], Value::Null);

    // Replaying the older CRL over the file does not bring the centre back.
    std::fs::write(fed.crl_path(), &original).unwrap();
    let crl = alarm_containing(&national_admin, "not newer").await;
    assert_eq!(crl["installed_number"], "2", "{crl}");
    let centre_cert = std::fs::read(
        fed.dir
            .path()
            .join("certs")
            .join("hc-13103")
            .join("node.pem"),
    )
    .unwrap();
    let centre_cert =
        renkei_ca::identity::parse_cert_pem(&centre_cert, "the centre's certificate").unwrap();
    assert!(matches!(
        transport.trust().verify(&centre_cert),
        Err(renkei_ca::CaError::Revoked(_))
    ));
    fed.shutdown().await;
}

#[tokio::test]
async fn a_stale_crl_raises_an_alarm_but_reports_still_flow() {
    let fed = TestFederation::start(&[NATIONAL, MINATO]).await;
    // The test CRL is good for 7 days; the national node's clock moves past that.
    fed.advance_clock("national", std::time::Duration::from_secs(8 * 24 * 3600));
    let national_admin = fed
        .node("national")
        .enrol(&fed.node("national").admin)
        .await;
    let crl = crl_status(&national_admin).await;
    assert_eq!(crl["stale"], true, "{crl}");
    assert!(
        crl["alarm"]
            .as_str()
            .is_some_and(|a| a.contains("past its next update")),
        "{crl}"
    );
    assert_eq!(crl["refused_at"], Value::Null);
    let staff = fed
        .node("hc-13103")
        .user("staff.a", Role::Staff, None)
        .await
        .1;
    let id = new_case(fed.node("hc-13103"), &staff, "期限 切れ").await;
    eventually("the report arrives", || async {
        revision_at_national(fed.node("national"), &id).await
    })
    .await;
    fed.shutdown().await;
}
