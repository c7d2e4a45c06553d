//! Between centres over real QUIC: transfers (移管), related-centre shares
//! (関係保健所), contact referrals, the duplicate warning, and the national
//! node seeing one case throughout.

use renkei_node::domain::Role;
use renkei_tests::federation::{MINATO, NATIONAL, SETAGAYA, SHINJUKU, TestFederation};
use renkei_tests::{Client, TestNode, eventually, notification_for};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn staff(node: &TestNode) -> Client {
    node.user("staff.a", Role::Staff, None).await.1
}

async fn new_case(node: &TestNode, staff: &Client, name: &str, kana: &str) -> Value {
    let (status, case) = staff
        .post("/api/v1/cases", notification_for(node, name, kana))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case
}

async fn incoming(staff: &Client, state: &str) -> Vec<Value> {
    let (status, body) = staff
        .get(&format!("/api/v1/transfers?direction=in&state={state}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn case_at(staff: &Client, id: &str) -> (StatusCode, Value) {
    staff.get(&format!("/api/v1/cases/{id}")).await
}

async fn audit_actions(node: &TestNode, case_id: &str) -> Vec<String> {
    let admin = node.enrol(&node.admin).await;
    let (_, body) = admin
        .get(&format!("/api/v1/audit?case_id={case_id}&limit=500"))
        .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

async fn national_row(national: &TestNode, id: &str) -> Option<(String, String, i64)> {
    sqlx::query_as("SELECT responsible_centre, reporting_centre, revision FROM statutory_reports WHERE case_id = ?")
        .bind(id)
        .fetch_optional(&national.state.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_transfer_moves_the_case_once_and_everything_follows_it() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU]).await;
    let (minato, shinjuku) = (fed.node("hc-13103"), fed.node("hc-13104"));
    let (ms, ss) = (staff(minato).await, staff(shinjuku).await);
    let case = new_case(minato, &ms, "移管 太郎", "イカン タロウ").await;
    let id = case["id"].as_str().unwrap().to_string();
    let (_, link) = ms
        .post(&format!("/api/v1/cases/{id}/self-report-link"), json!({}))
        .await;
    ms.post(
        &format!("/api/v1/cases/{id}/contacts"),
        json!({"name": "移管 花子", "relation": "家族"}),
    )
    .await;
    ms.post(
        &format!("/api/v1/cases/{id}/observations"),
        json!({"temperature": 38.2}),
    )
    .await;
    // The patient goes home to Shinjuku: the case now belongs elsewhere.
    ms.put(
        &format!("/api/v1/cases/{id}/place-of-stay"),
        json!({"municipality_code": "131041", "address": "東京都新宿区西新宿2-8-1"}),
    )
    .await;
    let (_, list) = ms.get("/api/v1/cases").await;
    assert_eq!(list["items"][0]["belongs_elsewhere"], "hc-13104");

    // Medical users cannot transfer; staff can.
    let (_, doctor) = minato
        .user("dr.sato", Role::Medical, Some("clinic-a"))
        .await;
    assert_eq!(
        doctor
            .post(
                &format!("/api/v1/cases/{id}/transfer"),
                json!({"to": "hc-13104"})
            )
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = ms
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"to": "national"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, offered) = ms
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"to": "hc-13104", "reason": "自宅療養のため転居"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{offered}");
    // While the offer is out, nobody edits the case.
    let (status, body) = ms
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("pending"));
    assert_eq!(
        ms.post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"to": "hc-13104"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );

    let offers = eventually("the offer arrives", || async {
        Some(incoming(&ss, "offered").await).filter(|o| !o.is_empty())
    })
    .await;
    assert_eq!(offers[0]["case_id"], id.as_str());
    assert_eq!(offers[0]["offered"]["name"], "移管 太郎");
    assert_eq!(offers[0]["duplicate_of"], Value::Null);
    assert_eq!(
        case_at(&ss, &id).await.0,
        StatusCode::NOT_FOUND,
        "not Shinjuku's case yet"
    );
    let tid = offers[0]["id"].as_str().unwrap().to_string();
    let (status, _) = ss
        .post(&format!("/api/v1/transfers/{tid}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let taken = eventually("Shinjuku owns the case", || async {
        let (status, case) = case_at(&ss, &id).await;
        (status == StatusCode::OK).then_some(case)
    })
    .await;
    assert_eq!(taken["person"]["name"], "移管 太郎");
    assert_eq!(taken["contacts"][0]["relation"], "家族");
    assert_eq!(taken["observations"][0]["temperature"], 38.2);
    assert_eq!(taken["place_of_stay"]["municipality_code"], "131041");
    assert_eq!(taken["reporting_centre"], "hc-13103");
    let (_, stub) = case_at(&ms, &id).await;
    assert_eq!(stub["owner"], "hc-13104");
    let (status, body) = ms
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("transferred to `hc-13104`")
    );
    let (status, _) = ss
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the new owner edits");

    // The patient's link still works and lands at the new owner.
    let patient = Client::new(minato);
    let token = link["token"].as_str().unwrap();
    let (status, _) = patient
        .post(
            &format!("/api/v1/self-report/{token}/observations"),
            json!({"spo2": 93}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    eventually("the self-report reaches Shinjuku", || async {
        let (_, case) = case_at(&ss, &id).await;
        case["observations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["spo2"] == 93 && o["entered_role"] == "patient")
            .then_some(())
    })
    .await;

    // The national node sees one case, now reported by Shinjuku.
    let national = fed.node("national");
    eventually("Shinjuku reports the case", || async {
        national_row(national, &id)
            .await
            .filter(|(responsible, _, _)| responsible == "hc-13104")
    })
    .await;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM statutory_reports")
        .fetch_one(&national.state.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let (_, reporting, _) = national_row(national, &id).await.unwrap();
    assert_eq!(reporting, "hc-13103");

    // Both sides audited it.
    let m = audit_actions(minato, &id).await;
    assert!(
        m.contains(&"case.transfer.offer".into())
            && m.contains(&"case.transfer.answer_received".into()),
        "{m:?}"
    );
    let s = audit_actions(shinjuku, &id).await;
    for action in [
        "case.transfer.offer_received",
        "case.transfer.offer_read",
        "case.transfer.answer",
        "case.transfer.outcome_received",
    ] {
        assert!(
            s.contains(&action.to_string()),
            "{action} missing at Shinjuku: {s:?}"
        );
    }
    fed.shutdown().await;
}

#[tokio::test]
async fn a_rejected_offer_leaves_the_sender_in_charge() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU]).await;
    let (minato, shinjuku) = (fed.node("hc-13103"), fed.node("hc-13104"));
    let (ms, ss) = (staff(minato).await, staff(shinjuku).await);
    let id = new_case(minato, &ms, "却下 太郎", "キャッカ タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ms.post(
        &format!("/api/v1/cases/{id}/transfer"),
        json!({"to": "hc-13104"}),
    )
    .await;
    let offers = eventually("the offer arrives", || async {
        Some(incoming(&ss, "offered").await).filter(|o| !o.is_empty())
    })
    .await;
    let tid = offers[0]["id"].as_str().unwrap().to_string();
    let (status, body) = ss
        .post(&format!("/api/v1/transfers/{tid}/reject"), json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is needed: {body}"
    );
    let (status, _) = ss
        .post(
            &format!("/api/v1/transfers/{tid}/reject"),
            json!({"reason": "当所の管轄外"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        ss.post(&format!("/api/v1/transfers/{tid}/accept"), json!({}))
            .await
            .0,
        StatusCode::CONFLICT,
        "answered once"
    );
    let out = eventually("Minato learns of the rejection", || async {
        let (_, body) = ms.get("/api/v1/transfers?direction=out").await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["state"] == "rejected")
            .cloned()
    })
    .await;
    assert_eq!(out["reason"], "当所の管轄外");
    let (status, case) = ms
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "editable again: {case}");
    assert_eq!(case["owner"], Value::Null);
    assert_eq!(case_at(&ss, &id).await.0, StatusCode::NOT_FOUND);
    fed.shutdown().await;
}

#[tokio::test]
async fn an_offer_to_a_centre_that_is_down_completes_when_it_returns() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU]).await;
    let ms = staff(fed.node("hc-13103")).await;
    let ss = staff(fed.node("hc-13104")).await;
    let id = new_case(fed.node("hc-13103"), &ms, "不在 太郎", "フザイ タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    fed.stop("hc-13104").await;
    let (status, _) = ms
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"to": "hc-13104"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the offer waits in the outbox"
    );
    fed.restart("hc-13104").await;
    let ss = ss.at(fed.node("hc-13104"));
    let offers = eventually("the offer arrives after the restart", || async {
        Some(incoming(&ss, "offered").await).filter(|o| !o.is_empty())
    })
    .await;
    ss.post(
        &format!(
            "/api/v1/transfers/{}/accept",
            offers[0]["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    eventually("Shinjuku owns the case", || async {
        (case_at(&ss, &id).await.0 == StatusCode::OK).then_some(())
    })
    .await;
    fed.shutdown().await;
}

#[tokio::test]
async fn a_withdrawal_racing_an_acceptance_leaves_exactly_one_owner() {
    let mut fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU]).await;
    let ms = staff(fed.node("hc-13103")).await;
    let ss = staff(fed.node("hc-13104")).await;
    let id = new_case(fed.node("hc-13103"), &ms, "競合 太郎", "キョウゴウ タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, offered) = ms
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"to": "hc-13104"}),
        )
        .await;
    let tid = offered["transfer_id"].as_str().unwrap().to_string();
    eventually("the offer arrives", || async {
        Some(incoming(&ss, "offered").await).filter(|o| !o.is_empty())
    })
    .await;

    // Minato is cut off; Shinjuku accepts (the answer waits in its outbox)
    // and, meanwhile, an operator at Minato withdraws the offer.
    fed.stop("hc-13103").await;
    assert_eq!(
        ss.post(&format!("/api/v1/transfers/{tid}/accept"), json!({}))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let writer = renkei_node::store::open_writer(&fed.stopped_database("hc-13103"))
        .await
        .unwrap();
    let log = renkei_node::log::LocalLog::start(writer).await.unwrap();
    let withdraw = renkei_node::command::Command::new(
        fed.clock("hc-13103").now(),
        "operator",
        renkei_node::command::Change::WithdrawTransfer {
            transfer_id: tid.clone(),
            me: "hc-13103".into(),
            message_id: uuid::Uuid::now_v7(),
        },
    );
    renkei_node::log::CommandLog::submit(
        &log,
        renkei_node::log::Submission::command(withdraw, vec![]),
    )
    .await
    .unwrap();
    fed.restart("hc-13103").await;
    let ms = ms.at(fed.node("hc-13103"));

    // The acceptance arrives after the withdrawal: Minato keeps the case and
    // tells Shinjuku to drop it.
    eventually("Shinjuku drops the offer", || async {
        let (_, body) = ss.get("/api/v1/transfers?direction=in").await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["state"] == "withdrawn")
            .then_some(())
    })
    .await;
    assert_eq!(case_at(&ss, &id).await.0, StatusCode::NOT_FOUND);
    let (status, case) = ms
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["owner"], Value::Null);
    let national = fed.node("national");
    eventually("still reported by Minato", || async {
        national_row(national, &id)
            .await
            .filter(|(r, _, _)| r == "hc-13103")
    })
    .await;
    fed.shutdown().await;
}

#[tokio::test]
async fn a_share_follows_the_case_reports_its_views_and_disappears_when_revoked() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SETAGAYA]).await;
    let (minato, setagaya) = (fed.node("hc-13103"), fed.node("hc-13112"));
    let (ms, gs) = (staff(minato).await, staff(setagaya).await);
    let id = new_case(minato, &ms, "共有 太郎", "キョウユウ タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Medical data is stored first, so that its absence from a follow-up
    // copy shows the purpose at work.
    let (status, case) = ms
        .put(
            &format!("/api/v1/cases/{id}/medical"),
            json!({"hospital": "都立病院", "icu": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["medical"]["hospital"], "都立病院");
    let (status, body) = ms
        .post(
            &format!("/api/v1/cases/{id}/shares"),
            json!({"to": "hc-13112", "purpose": "gossip"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, share) = ms
        .post(
            &format!("/api/v1/cases/{id}/shares"),
            json!({"to": "hc-13112", "purpose": "follow_up"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{share}");
    let sid = share["share_id"].as_str().unwrap().to_string();

    let copy = eventually("the copy arrives", || async {
        let (status, body) = gs.get(&format!("/api/v1/shared/{sid}")).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    assert_eq!(copy["owner"], "hc-13103");
    assert_eq!(copy["data"]["name"], "共有 太郎");
    assert_eq!(copy["data"]["purpose"], "follow_up");
    assert!(
        copy["data"]["address"].is_string(),
        "follow-up includes the address"
    );
    assert_eq!(
        copy["data"]["medical"],
        Value::Null,
        "but not the medical record"
    );
    assert!(
        !copy.to_string().contains("都立病院"),
        "nothing of the medical record: {copy}"
    );

    // An update at the owner reaches the copy.
    let (status, body) = ms
        .put(
            &format!("/api/v1/cases/{id}/status"),
            json!({"status": "accommodation"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("the copy is updated", || async {
        let (_, body) = gs.get(&format!("/api/v1/shared/{sid}")).await;
        (body["data"]["status"] == "accommodation").then_some(())
    })
    .await;
    // The owner sees who at Setagaya looked, in its share list and its audit trail.
    let shares = eventually("views come back", || async {
        let (_, body) = ms.get(&format!("/api/v1/cases/{id}/shares")).await;
        let views = body["items"][0]["views"].as_array().unwrap().len();
        (views >= 2).then_some(body)
    })
    .await;
    assert_eq!(shares["items"][0]["views"][0]["viewer"], "staff.a");
    let admin = minato.enrol(&minato.admin).await;
    let (_, audit) = admin
        .get(&format!(
            "/api/v1/audit?case_id={id}&action=case.shared_copy.read"
        ))
        .await;
    assert_eq!(audit["items"][0]["actor"], "staff.a@hc-13112");
    assert_eq!(audit["items"][0]["organisation"], "hc-13112");

    // Revoking deletes the copy there.
    let (status, _) = ms
        .post(
            &format!("/api/v1/cases/{id}/shares/{sid}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    eventually("the copy is gone", || async {
        (gs.get(&format!("/api/v1/shared/{sid}")).await.0 == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    let payload: Option<Vec<u8>> = sqlx::query_scalar("SELECT payload FROM shares WHERE id = ?")
        .bind(&sid)
        .fetch_one(&setagaya.state.pool)
        .await
        .unwrap();
    assert_eq!(payload, None, "no copy kept");
    assert_eq!(
        gs.get("/api/v1/shared").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // The same record shared for admission coordination does carry the
    // medical data: the follow-up copy lacked it by purpose, not by chance.
    let (status, share) = ms
        .post(
            &format!("/api/v1/cases/{id}/shares"),
            json!({"to": "hc-13112", "purpose": "admission_coordination"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{share}");
    let sid = share["share_id"].as_str().unwrap().to_string();
    let copy = eventually("the admission copy arrives", || async {
        let (status, body) = gs.get(&format!("/api/v1/shared/{sid}")).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    assert_eq!(copy["data"]["medical"]["hospital"], "都立病院", "{copy}");
    fed.shutdown().await;
}

#[tokio::test]
async fn a_close_contact_is_referred_to_the_centre_where_they_live() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SETAGAYA]).await;
    let (minato, setagaya) = (fed.node("hc-13103"), fed.node("hc-13112"));
    let (ms, gs) = (staff(minato).await, staff(setagaya).await);
    let id = new_case(minato, &ms, "接触 太郎", "セッショク タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, case) = ms.post(&format!("/api/v1/cases/{id}/contacts"), json!({"name": "接触 次郎", "phone": "090-2222-3333", "municipality_code": "131121", "relation": "同僚", "last_exposure_on": "2026-11-19"})).await;
    let cid = case["contacts"][0]["id"].as_str().unwrap().to_string();
    let (_, case) = ms
        .post(
            &format!("/api/v1/cases/{id}/contacts"),
            json!({"name": "接触 三郎"}),
        )
        .await;
    let nowhere = case["contacts"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(
        ms.post(
            &format!("/api/v1/cases/{id}/contacts/{nowhere}/refer"),
            json!({})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (status, body) = ms
        .post(
            &format!("/api/v1/cases/{id}/contacts/{cid}/refer"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["to"], "hc-13112");
    assert_eq!(
        ms.post(
            &format!("/api/v1/cases/{id}/contacts/{cid}/refer"),
            json!({})
        )
        .await
        .0,
        StatusCode::CONFLICT,
        "referred once"
    );
    let referred = eventually("Setagaya receives the contact", || async {
        let (_, body) = gs.get("/api/v1/referrals").await;
        body["items"].as_array().unwrap().first().cloned()
    })
    .await;
    assert_eq!(referred["name"], "接触 次郎");
    assert_eq!(referred["from_centre"], "hc-13103");
    let link = referred["index_link"].as_str().unwrap();
    assert!(
        !link.contains(&id) && !referred.to_string().contains("接触 太郎"),
        "the index case stays pseudonymous: {referred}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn the_receiver_is_warned_when_it_already_holds_the_person() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU]).await;
    let (minato, shinjuku) = (fed.node("hc-13103"), fed.node("hc-13104"));
    let (ms, ss) = (staff(minato).await, staff(shinjuku).await);
    // Shinjuku already follows this person (spacing of the kana differs).
    let existing = new_case(shinjuku, &ss, "重複 太郎", "チョウフク　タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = new_case(minato, &ms, "重複 太郎", "チョウフク タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = ms
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"to": "hc-13104"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let offers = eventually("the offer arrives", || async {
        Some(incoming(&ss, "offered").await).filter(|o| !o.is_empty())
    })
    .await;
    assert_eq!(offers[0]["duplicate_of"], json!([existing]));
    // The key, not the person, crossed: the centres share no plain identity for the check.
    let key: Option<Vec<u8>> = sqlx::query_scalar("SELECT person_key FROM persons LIMIT 1")
        .fetch_one(&minato.state.pool)
        .await
        .unwrap();
    assert_eq!(key.map(|k| k.len()), Some(32));
    let other = new_case(minato, &ms, "別人 太郎", "ベツジン タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = ms
        .post(
            &format!("/api/v1/cases/{other}/transfer"),
            json!({"to": "hc-13104"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let offers = eventually("the second offer", || async {
        Some(incoming(&ss, "offered").await).filter(|o| o.len() == 2)
    })
    .await;
    let second = offers
        .iter()
        .find(|o| o["case_id"] == other.as_str())
        .unwrap();
    assert_eq!(
        second["duplicate_of"],
        Value::Null,
        "another person is no duplicate: {second}"
    );
    fed.shutdown().await;
}

#[tokio::test]
async fn a_centre_can_accept_offers_from_a_named_peer_without_asking() {
    let fed = TestFederation::start_with(&[NATIONAL, MINATO, SHINJUKU], |id, f| {
        if id == "hc-13104" {
            f.auto_accept_transfers_from = vec!["hc-13103".into()];
        }
    })
    .await;
    let (minato, shinjuku) = (fed.node("hc-13103"), fed.node("hc-13104"));
    let (ms, ss) = (staff(minato).await, staff(shinjuku).await);
    let id = new_case(minato, &ms, "自動 太郎", "ジドウ タロウ").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = ms
        .post(
            &format!("/api/v1/cases/{id}/transfer"),
            json!({"to": "hc-13104"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    eventually("Shinjuku owns the case without a click", || async {
        (case_at(&ss, &id).await.0 == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(case_at(&ms, &id).await.1["owner"], "hc-13104");
    fed.shutdown().await;
}
