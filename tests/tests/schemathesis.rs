//! Schemathesis, a schema-driven fuzzer, against a real node: it reads
//! `/api/v1/openapi.json`, sends generated valid and invalid requests to every
//! operation and fails on a server error, a status the document does not
//! list, or an answer that does not match its schema.
//!
//! Gated by `RENKEI_SCHEMATHESIS=1` (CI sets it; `.ci/run` installs the
//! pinned schemathesis from PyPI). Three runs, each with its own session:
//! - staff, on every operation but logout and password change (those end or
//!   change the session the run relies on);
//! - the node's admin, on the user, audit and federation operations (staff
//!   only ever get 403 there, so their answers would go unchecked);
//! - a throwaway staff session, on logout and password change;
//! - the ministry, on a national node, on the statistics operations (only
//!   the ministry may read the unsuppressed tables, and only there).

use std::time::Duration;

use renkei_node::config::NodeKind;
use renkei_node::domain::Role;
use renkei_tests::{Client, TestNode, notification_for};
use reqwest::StatusCode;

/// Test cases per operation and phase: enough to find what a client would
/// trip on, bounded so that the runs stay near two minutes on 2 cores; set
/// `RENKEI_SCHEMATHESIS_EXAMPLES` to search longer.
const MAX_EXAMPLES: &str = "10";

/// The same cases every run, so a CI failure reproduces; set
/// `RENKEI_SCHEMATHESIS_SEED` to explore others.
const DEFAULT_SEED: &str = "20261120";

/// Runs schemathesis as `client` on the operations `filter` selects, with
/// path parameters fixed to `parameters` (so it reaches real records instead
/// of answering 404 to random ids).
async fn schemathesis(
    node: &TestNode,
    client: &Client,
    filter: &[&str],
    parameters: &[(&str, &str)],
) -> (bool, String) {
    let token = client.token.as_deref().expect("a logged-in client");
    let seed = std::env::var("RENKEI_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let examples =
        std::env::var("RENKEI_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.into());
    // Hypothesis keeps a database of examples in the working directory; a
    // temporary one keeps the tree clean and the runs independent.
    let workdir = tempfile::tempdir().unwrap();
    let config: String = std::iter::once("[parameters]\n".to_string())
        .chain(
            parameters
                .iter()
                .map(|(name, value)| format!("\"path.{name}\" = \"{value}\"\n")),
        )
        .collect();
    let config_file = workdir.path().join("schemathesis.toml");
    std::fs::write(&config_file, config).unwrap();
    let mut command = tokio::process::Command::new("schemathesis");
    command
        .current_dir(workdir.path())
        .arg("--no-color")
        .arg("--config-file")
        .arg(&config_file)
        .args(["run", &node.url("/api/v1/openapi.json")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
        ])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--generation-database", "none", "--request-timeout", "10"])
        .args(filter)
        .kill_on_drop(true);
    let output = match tokio::time::timeout(Duration::from_secs(600), command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("could not start schemathesis (pip install schemathesis): {e}"),
        Err(_) => panic!("schemathesis ran for more than 10 minutes"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    if std::env::var("RENKEI_SCHEMATHESIS").as_deref() != Ok("1") {
        eprintln!("skipped: set RENKEI_SCHEMATHESIS=1 to run schemathesis");
        return;
    }
    let node = TestNode::start().await;
    let (_, staff) = node.user("fuzz-staff", Role::Staff, None).await;
    // A case with a contact and a self-report link: the staff run works on
    // these instead of random ids, so the answers of the case, contact and
    // self-report operations are checked against their schemas.
    let (status, case) = staff
        .post(
            "/api/v1/cases",
            notification_for(&node, "試験 花子", "シケン ハナコ"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let case_id = case["id"].as_str().unwrap().to_string();
    let (status, with_contact) = staff
        .post(
            &format!("/api/v1/cases/{case_id}/contacts"),
            serde_json::json!({"name": "接触 一郎"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_contact}");
    let contact_id = with_contact["contacts"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, link) = staff
        .post(
            &format!("/api/v1/cases/{case_id}/self-report-link"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let link_token = link["token"].as_str().unwrap().to_string();
    let records = [
        ("id", case_id.as_str()),
        ("cid", contact_id.as_str()),
        ("token", link_token.as_str()),
    ];
    let admin = node.enrol(&node.admin.clone()).await;
    let (_, throwaway) = node.user("fuzz-session", Role::Staff, None).await;

    let national = TestNode::start_with(|c| c.kind = NodeKind::National).await;
    let (_, ministry) = national.user("fuzz-ministry", Role::Ministry, None).await;

    type Run<'a> = (
        &'a str,
        &'a TestNode,
        &'a Client,
        &'a [&'a str],
        &'a [(&'a str, &'a str)],
    );
    let runs: [Run; 4] = [
        (
            "staff",
            &node,
            &staff,
            &["--exclude-path-regex", "^/api/v1/(logout|password)$"],
            &records,
        ),
        (
            "admin",
            &node,
            &admin,
            &["--include-path-regex", "^/api/v1/(users|audit|federation)"],
            &[],
        ),
        (
            "own session",
            &node,
            &throwaway,
            &["--include-path-regex", "^/api/v1/(logout|password)$"],
            &[],
        ),
        (
            "ministry",
            &national,
            &ministry,
            &["--include-path-regex", "^/api/v1/(public/)?stats/"],
            &[],
        ),
    ];
    let mut failed = Vec::new();
    for (name, target, client, filter, parameters) in runs {
        let started = std::time::Instant::now();
        let (ok, output) = schemathesis(target, client, filter, parameters).await;
        eprintln!(
            "schemathesis ({name}): {} in {:.0?}",
            if ok { "passed" } else { "FAILED" },
            started.elapsed()
        );
        if !ok {
            eprintln!("{output}");
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "schemathesis failed: {failed:?}");
    node.stop().await;
    national.stop().await;
}
