//! A malicious peer: a real centre (Setagaya, with its real certificate)
//! sends every kind of message about cases it has no authority over —
//! other centres' case ids, absurd revisions, forged hand-overs, transfers
//! and shares of others, a replayed message id with a new body — and
//! nothing changes at any receiver.

use renkei_federation::authority::Rule;
use renkei_federation::wire::{
    ContactReferral, ForwardedObservation, PROTOCOL_VERSION, ShareData, ShareRevoke, ShareViewed,
    StatutoryReport, TestsSummary, TransferAnswer, TransferOffer, TransferOutcome, TransferredCase,
    TransferredContact, TransferredObservation,
};
use renkei_federation::{Body, Envelope, Refusal, SendError};
use renkei_node::domain::Role;
use renkei_tests::federation::{MINATO, NATIONAL, SETAGAYA, SHINJUKU, TestFederation};
use renkei_tests::{Client, TestNode, eventually, notification_for};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

const ROGUE: &str = "hc-13112";

async fn staff(node: &TestNode) -> Client {
    node.user("staff.a", Role::Staff, None).await.1
}

async fn new_case(node: &TestNode, staff: &Client, name: &str) -> String {
    let (status, case) = staff
        .post(
            "/api/v1/cases",
            notification_for(node, name, "ロウグ テスト"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    case["id"].as_str().unwrap().to_string()
}

/// Every table's rows as text, except the outbox (delivery bookkeeping
/// moves on its own) and the audit trail (a refusal is audited).
async fn snapshot(node: &TestNode) -> Vec<(String, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx%' AND name NOT IN ('outbox', 'audit') ORDER BY name",
    )
    .fetch_all(&node.state.pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&node.state.pool)
                .await
                .unwrap();
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Option<String> = sqlx::query_scalar(&format!(
            "SELECT group_concat(r, char(10)) FROM (SELECT {row} AS r FROM \"{table}\" ORDER BY r)"
        ))
        .fetch_one(&node.state.pool)
        .await
        .unwrap();
        out.push((table, rows.unwrap_or_default()));
    }
    out
}

async fn outbox_pending(node: &TestNode) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        .fetch_one(&node.state.pool)
        .await
        .unwrap()
}

fn envelope(to: &str, body: Body) -> Envelope {
    Envelope {
        version: PROTOCOL_VERSION,
        message_id: Uuid::now_v7(),
        sender: ROGUE.into(),
        recipient: to.into(),
        created_at_ms: 1_790_000_000_000,
        body,
    }
}

fn report(case_id: &str, responsible: &str, revision: u32) -> StatutoryReport {
    StatutoryReport {
        case_id: Uuid::parse_str(case_id).unwrap(),
        revision,
        disease: "covid-19".into(),
        diagnosis_class: "confirmed".into(),
        sex: "male".into(),
        age: 40,
        municipality_code: "131121".into(),
        reporting_centre: "hc-13103".into(),
        responsible_centre: responsible.into(),
        onset_date: None,
        diagnosis_date: None,
        report_date: 20261201,
        tests: TestsSummary {
            positive: 1,
            negative: 0,
            other: 0,
            methods: vec!["pcr".into()],
        },
        status: "deceased".into(),
        hospitalised: false,
        severe: false,
        deceased: true,
        withdrawn: true,
    }
}

fn observation() -> TransferredObservation {
    TransferredObservation {
        observed_at: "2026-12-01T03:00:00.000000Z".into(),
        temperature: Some(39.5),
        spo2: Some(85),
        symptoms: vec![],
    }
}

fn share(share_id: Uuid, case_id: &str) -> ShareData {
    ShareData {
        share_id,
        purpose: "follow_up".into(),
        case_id: Uuid::parse_str(case_id).unwrap(),
        revision: u32::MAX,
        name: "偽造 太郎".into(),
        name_kana: "ギゾウ タロウ".into(),
        sex: "male".into(),
        age: 40,
        phone: None,
        municipality_code: "131041".into(),
        address: Some("偽の住所".into()),
        diagnosis_class: "confirmed".into(),
        status: "home".into(),
        medical: None,
    }
}

/// What the receiver answered, as (refusal, detail); `None` for an ack.
async fn send(fed: &TestFederation, envelope: &Envelope) -> Option<(Refusal, String)> {
    let transport = &fed.node(ROGUE).state.federation.as_ref().unwrap().transport;
    match transport.send(envelope).await {
        Ok(()) => None,
        Err(SendError::Refused { reason, detail, .. }) => Some((reason, detail)),
        Err(other) => panic!("{}: {other}", envelope.body.name()),
    }
}

/// The message is refused for good, naming `rule`.
async fn refused(fed: &TestFederation, envelope: Envelope, rule: Rule) {
    let (reason, detail) = send(fed, &envelope)
        .await
        .unwrap_or_else(|| panic!("{} was acknowledged", envelope.body.name()));
    assert_eq!(reason, Refusal::Unauthorised, "{detail}");
    assert!(detail.contains(rule.code()), "{rule}: {detail}");
}

#[tokio::test]
async fn a_peer_with_a_real_certificate_changes_nothing_it_has_no_authority_over() {
    let fed = TestFederation::start(&[NATIONAL, MINATO, SHINJUKU, SETAGAYA]).await;
    let (minato, shinjuku, setagaya) =
        (fed.node("hc-13103"), fed.node("hc-13104"), fed.node(ROGUE));
    let (ms, ss, gs) = (
        staff(minato).await,
        staff(shinjuku).await,
        staff(setagaya).await,
    );

    // Minato's case X, shared with the rogue (which so learns its id
    // legitimately) and looked at there once.
    let x = new_case(minato, &ms, "所有 太郎").await;
    let (status, body) = ms
        .post(
            &format!("/api/v1/cases/{x}/shares"),
            json!({"to": ROGUE, "purpose": "follow_up"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let shared_with_rogue = body["share_id"].as_str().unwrap().to_string();
    eventually("the rogue looks at its copy", || async {
        let (status, _) = gs.get(&format!("/api/v1/shared/{shared_with_rogue}")).await;
        (status == StatusCode::OK).then_some(())
    })
    .await;
    // Case Y moves from Minato to Shinjuku; case Z is shared with
    // Shinjuku; case W is offered to Shinjuku and not yet answered.
    let y = new_case(minato, &ms, "移管 太郎").await;
    ms.post(
        &format!("/api/v1/cases/{y}/transfer"),
        json!({"to": "hc-13104"}),
    )
    .await;
    let offer_of = |case: String| {
        let ss = ss.clone();
        async move {
            eventually("the offer arrives", || async {
                let (_, body) = ss.get("/api/v1/transfers?direction=in").await;
                body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["case_id"] == case.as_str())
                    .map(|t| t["id"].as_str().unwrap().to_string())
            })
            .await
        }
    };
    let ty = offer_of(y.clone()).await;
    let (status, _) = ss
        .post(&format!("/api/v1/transfers/{ty}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let z = new_case(minato, &ms, "共有 太郎").await;
    let (_, body) = ms
        .post(
            &format!("/api/v1/cases/{z}/shares"),
            json!({"to": "hc-13104", "purpose": "follow_up"}),
        )
        .await;
    let shared_with_shinjuku = Uuid::parse_str(body["share_id"].as_str().unwrap()).unwrap();
    let w = new_case(minato, &ms, "保留 太郎").await;
    ms.post(
        &format!("/api/v1/cases/{w}/transfer"),
        json!({"to": "hc-13104"}),
    )
    .await;
    let tw = Uuid::parse_str(&offer_of(w.clone()).await).unwrap();

    // Everything delivered, and the hand-over of Y recorded at the national node.
    let national = fed.node("national");
    eventually("the national node holds Y as Shinjuku's", || async {
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT responsible_centre FROM statutory_reports WHERE case_id = ?",
        )
        .bind(&y)
        .fetch_optional(&national.state.pool)
        .await
        .unwrap();
        (owner.as_deref() == Some("hc-13104")).then_some(())
    })
    .await;
    eventually("every outbox drained", || async {
        let mut pending = 0;
        for id in ["hc-13103", "hc-13104", ROGUE] {
            pending += outbox_pending(fed.node(id)).await;
        }
        (pending == 0).then_some(())
    })
    .await;
    let before = [
        snapshot(national).await,
        snapshot(minato).await,
        snapshot(shinjuku).await,
    ];

    // The national node: X is Minato's. The rogue claims it with an absurd
    // revision, withdrawn: never applied, at most waiting for a hand-over
    // Minato will never send.
    let (reason, detail) = send(
        &fed,
        &envelope(
            "national",
            Body::StatutoryReport(report(&x, ROGUE, u32::MAX)),
        ),
    )
    .await
    .expect("a claim on another centre's case is not acknowledged");
    assert_eq!(reason, Refusal::Unavailable, "{detail}");
    assert!(detail.contains(Rule::ReportFromOwner.code()), "{detail}");
    // A forged hand-over of X to Shinjuku, in Minato's place.
    refused(
        &fed,
        envelope(
            "national",
            Body::StatutoryReport(report(&x, "hc-13104", u32::MAX)),
        ),
        Rule::HandOverFromOwner,
    )
    .await;
    // A forged hand-over of Y (now Shinjuku's) back to Minato.
    refused(
        &fed,
        envelope(
            "national",
            Body::StatutoryReport(report(&y, "hc-13103", u32::MAX)),
        ),
        Rule::HandOverFromOwner,
    )
    .await;

    // Minato: an offer of its own case X.
    let offered = TransferredCase {
        case_id: Uuid::parse_str(&x).unwrap(),
        revision: 1,
        person_key: None,
        name: "偽造 太郎".into(),
        name_kana: "ギゾウ タロウ".into(),
        sex: "male".into(),
        date_of_birth: "1980-04-01".into(),
        phone: None,
        disease: "covid-19".into(),
        diagnosis_class: "confirmed".into(),
        class_reports: vec![],
        onset_date: None,
        diagnosis_date: None,
        symptoms: vec![],
        reporting_centre: ROGUE.into(),
        reporting_institution: None,
        municipality_code: "131032".into(),
        address: "東京都港区芝公園1-1".into(),
        status: "home".into(),
        confirmed: false,
        tests: vec![],
        medical: None,
        observations: vec![],
        contacts: vec![],
    };
    refused(
        &fed,
        envelope(
            "hc-13103",
            Body::TransferOffer(Box::new(TransferOffer {
                transfer_id: Uuid::now_v7(),
                reason: None,
                case: offered,
            })),
        ),
        Rule::OfferOfAnotherCase,
    )
    .await;
    // Minato: an acceptance of W's offer, which went to Shinjuku.
    refused(
        &fed,
        envelope(
            "hc-13103",
            Body::TransferAnswer(TransferAnswer {
                transfer_id: tw,
                accepted: true,
                reason: None,
            }),
        ),
        Rule::AnswerFromOfferee,
    )
    .await;
    // Shinjuku: "the transfer of W is complete", in Minato's place.
    refused(
        &fed,
        envelope(
            "hc-13104",
            Body::TransferOutcome(TransferOutcome {
                transfer_id: tw,
                completed: true,
            }),
        ),
        Rule::OutcomeFromOfferer,
    )
    .await;
    // Patients' readings that would raise alerts: into Minato's own X, and
    // into Y at Shinjuku, which came from Minato, not from the rogue.
    for (to, case) in [("hc-13103", &x), ("hc-13104", &y)] {
        refused(
            &fed,
            envelope(
                to,
                Body::ForwardedObservation(ForwardedObservation {
                    case_id: Uuid::parse_str(case).unwrap(),
                    observation: observation(),
                }),
            ),
            Rule::ForwardFromPreviousOwner,
        )
        .await;
    }
    // Minato: a contact who lives in Shinjuku.
    refused(
        &fed,
        envelope(
            "hc-13103",
            Body::ContactReferral(ContactReferral {
                referral_id: Uuid::now_v7(),
                index_link: "forged".into(),
                contact: TransferredContact {
                    name: "偽造 花子".into(),
                    name_kana: None,
                    phone: None,
                    municipality_code: Some("131041".into()),
                    relation: None,
                    last_exposure_on: None,
                },
            }),
        ),
        Rule::ReferralToHomeCentre,
    )
    .await;
    // Minato: a "share" of its own case X.
    refused(
        &fed,
        envelope(
            "hc-13103",
            Body::ShareData(Box::new(share(Uuid::now_v7(), &x))),
        ),
        Rule::ShareFromOwner,
    )
    .await;
    // Shinjuku: an update, a revocation, of Minato's share of Z.
    refused(
        &fed,
        envelope(
            "hc-13104",
            Body::ShareData(Box::new(share(shared_with_shinjuku, &z))),
        ),
        Rule::ShareFromOwner,
    )
    .await;
    refused(
        &fed,
        envelope(
            "hc-13104",
            Body::ShareRevoke(ShareRevoke {
                share_id: shared_with_shinjuku,
            }),
        ),
        Rule::RevokeFromOwner,
    )
    .await;
    // Minato: a look at the copy Shinjuku holds, in Shinjuku's place.
    refused(
        &fed,
        envelope(
            "hc-13103",
            Body::ShareViewed(ShareViewed {
                share_id: shared_with_shinjuku,
                viewer: "staff.a".into(),
                viewer_role: "staff".into(),
                viewed_at: "2026-12-01T03:00:00.000000Z".into(),
            }),
        ),
        Rule::ViewFromSharee,
    )
    .await;
    // A replay: the rogue's own delivered message id, with a new body. The
    // receiver acknowledges the id it has seen and applies nothing.
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT envelope FROM outbox WHERE kind = 'share_viewed' AND state = 'delivered' LIMIT 1",
    )
    .fetch_one(&setagaya.state.pool)
    .await
    .unwrap();
    let mut replay = Envelope::decode(&stored).unwrap();
    let Body::ShareViewed(viewed) = &mut replay.body else {
        panic!("a view")
    };
    viewed.viewer = "someone.else".into();
    assert_eq!(send(&fed, &replay).await, None, "a seen id is acknowledged");
    replay.body = Body::ForwardedObservation(ForwardedObservation {
        case_id: Uuid::parse_str(&x).unwrap(),
        observation: observation(),
    });
    assert_eq!(send(&fed, &replay).await, None, "a seen id is acknowledged");

    let after = [
        snapshot(national).await,
        snapshot(minato).await,
        snapshot(shinjuku).await,
    ];
    for ((node, before), after) in ["national", "hc-13103", "hc-13104"]
        .iter()
        .zip(&before)
        .zip(&after)
    {
        for ((table, rows_before), (_, rows_after)) in before.iter().zip(after) {
            let gone: Vec<&str> = rows_before
                .lines()
                .filter(|l| !rows_after.lines().any(|a| a == *l))
                .collect();
            let new: Vec<&str> = rows_after
                .lines()
                .filter(|l| !rows_before.lines().any(|b| b == *l))
                .collect();
            assert!(
                gone.is_empty() && new.is_empty(),
                "{node}: table {table} changed\n  gone: {gone:?}\n  new: {new:?}"
            );
        }
    }
    // And the owners still work: Minato revises X, the national node takes it.
    let (status, _) = ms
        .put(
            &format!("/api/v1/cases/{x}/status"),
            json!({"status": "home"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let revision: i64 = sqlx::query_scalar("SELECT revision FROM cases WHERE id = ?")
        .bind(&x)
        .fetch_one(&minato.state.pool)
        .await
        .unwrap();
    eventually("Minato's revision of X is applied", || async {
        let row: Option<(String, bool, i64)> = sqlx::query_as(
            "SELECT responsible_centre, withdrawn, revision FROM statutory_reports WHERE case_id = ?",
        )
        .bind(&x)
        .fetch_optional(&national.state.pool)
        .await
        .unwrap();
        (row == Some(("hc-13103".into(), false, revision))).then_some(())
    })
    .await;
    fed.shutdown().await;
}
