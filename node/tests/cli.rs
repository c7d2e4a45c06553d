//! The `renkei` binary as an operator uses it.

use std::process::Command;

fn renkei(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .output()
        .expect("renkei runs")
}

#[test]
fn init_add_users_and_verify_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("centre").join("node.toml");
    let config = config.to_str().unwrap();

    let out = renkei(&[
        "node",
        "init",
        "--config",
        config,
        "--node-id",
        "hc-13103",
        "--http",
        "127.0.0.1:0",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(admin["user"], "admin");
    assert_eq!(admin["password"].as_str().unwrap().len(), 20);
    assert!(admin["totp_secret"].as_str().unwrap().len() >= 32);
    let written = std::fs::read_to_string(config).unwrap();
    assert!(
        written.contains("node_id = \"hc-13103\"") && written.contains("# "),
        "a commented config"
    );

    // A second init must not create a second first admin.
    let again = renkei(&["node", "init", "--config", config]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("initialised already"));

    let out = renkei(&[
        "user", "add", "--config", config, "--id", "staff.a", "--role", "staff", "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = renkei(&[
        "user",
        "add",
        "--config",
        config,
        "--id",
        "c.acme",
        "--role",
        "contractor",
        "--organisation",
        "acme",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must have an end date"));
    let out = renkei(&[
        "user", "add", "--config", config, "--id", "x", "--role", "root",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role `root`"));
    let out = renkei(&["user", "disable", "--config", config, "--id", "staff.a"]);
    assert!(out.status.success());

    let out = renkei(&["audit", "verify", "--config", config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit chain intact: 3 entries"));

    // Someone edits the database behind the node's back.
    let db = dir.path().join("centre").join("data").join("node.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = renkei_node::store::open(&db).await.unwrap();
        sqlx::query("UPDATE audit SET actor = 'someone-else' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let out = renkei(&["audit", "verify", "--config", config]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("audit chain broken: entry 2: its contents do not match its hash (edited)"),
        "{stderr}"
    );
}

#[test]
fn refuses_a_bad_config_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "node_id = \"Minato Centre\"\n").unwrap();
    let out = renkei(&["node", "run", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("node_id"));
    let out = renkei(&[
        "node",
        "init",
        "--config",
        dir.path().join("new.toml").to_str().unwrap(),
        "--node-id",
        "HC 1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node-id"));
}
