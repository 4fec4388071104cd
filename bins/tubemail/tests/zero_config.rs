//! One machine, nothing configured: `tubemail` finds the local hub's
//! secret in the hub's data dir (and says where), reads `.env` files, and
//! never offers that secret to a hub elsewhere. `mcp-config` prints a
//! configuration that works against `/mcp/`, and `--generate` the
//! completions and man page.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use common::{SECRET, TestHub, json, run, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_hub_s_secret_is_found_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("secret"), format!("{SECRET}\n")).unwrap();
    let hub = TestHub::start(&data).await;
    let url = hub.url.as_str();
    let d = data.to_str().unwrap();

    // TUBEMAIL_DATA_DIR names the hub's data dir.
    let out = run(
        dir.path(),
        &[("TUBEMAIL_HUB_URL", url), ("TUBEMAIL_DATA_DIR", d)],
        &["workers", "--json"],
    )
    .await;
    assert_eq!(json(&out), serde_json::json!([]));
    let said = stderr(&out);
    assert_eq!(
        said,
        format!("tubemail: using the local hub's secret from {d}/secret\n")
    );
    // So does XDG_DATA_HOME (as the hub picks its default), and the URL
    // may come from --hub; `localhost` is loopback too.
    let xdg = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&data, xdg.path().join("tubemail")).unwrap();
    let localhost = url.replace("127.0.0.1", "localhost");
    let out = run(
        dir.path(),
        &[("XDG_DATA_HOME", xdg.path().to_str().unwrap())],
        &["--hub", &localhost, "whoami", "--json"],
    )
    .await;
    assert_eq!(json(&out)["kind"], "secret");
    assert!(stderr(&out).contains("tubemail/secret"), "{out:?}");

    // A hub elsewhere never gets the file's secret: the error says what to
    // set, not where the file is.
    let elsewhere = url.replace("127.0.0.1", "hub.invalid");
    let out = run(
        dir.path(),
        &[("TUBEMAIL_HUB_URL", &elsewhere), ("TUBEMAIL_DATA_DIR", d)],
        &["workers"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no TUBEMAIL_TOKEN or TUBEMAIL_SECRET") && !err.contains(d),
        "{err}"
    );
    // Nothing anywhere: the advice names the file looked for.
    let out = run(dir.path(), &[("TUBEMAIL_HUB_URL", url)], &["workers"]).await;
    let err = stderr(&out);
    assert!(
        err.contains(".local/share/tubemail/secret") && err.contains("./.env"),
        "{err}"
    );

    // ./.env is read (and then no file is looked for, nothing said).
    std::fs::write(
        dir.path().join(".env"),
        format!("TUBEMAIL_HUB_URL={url}\nTUBEMAIL_SECRET='{SECRET}'\n"),
    )
    .unwrap();
    let out = run(dir.path(), &[], &["health", "--json"]).await;
    assert_eq!(json(&out)["status"], "ok");
    assert!(out.stderr.is_empty(), "{out:?}");
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    // ~/.config/tubemail/.env too; a wrong secret there is refused with
    // the fix.
    std::fs::create_dir_all(dir.path().join(".config/tubemail")).unwrap();
    std::fs::write(
        dir.path().join(".config/tubemail/.env"),
        format!("TUBEMAIL_HUB_URL={url}\nTUBEMAIL_SECRET=wrong\n"),
    )
    .unwrap();
    let out = run(dir.path(), &[], &["workers"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("hint: check TUBEMAIL_SECRET"),
        "{out:?}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_config_works_on_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&dir.path().join("hub")).await;
    let env = [
        ("TUBEMAIL_HUB_URL", hub.url.as_str()),
        ("TUBEMAIL_SECRET", SECRET),
    ];
    let out = run(dir.path(), &env, &["mcp-config", "--json"]).await;
    let warned = stderr(&out);
    assert!(
        warned.contains("carries the credential in use (the hub's shared secret)")
            && warned.contains("loopback"),
        "{warned}"
    );
    assert!(!warned.contains(SECRET), "{warned}");
    let config = json(&out);
    let server = &config["mcp_json"]["mcpServers"]["tubemail"];
    assert_eq!(server["type"], "http");
    let endpoint = server["url"].as_str().unwrap();
    assert_eq!(endpoint, format!("{}/mcp/", hub.url));
    let auth = server["headers"]["Authorization"].as_str().unwrap();
    assert_eq!(
        config["claude_mcp_add"],
        format!(
            "claude mcp add --transport http \"tubemail\" \"{endpoint}\" --header \
             \"Authorization: {auth}\""
        )
    );

    // What it prints opens an MCP session; a wrong header does not.
    let http = reqwest::Client::new();
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "cli-test", "version": "0"}}
    });
    let post = |auth: String| {
        http.post(endpoint)
            .header("Authorization", auth)
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
    };
    let ok = post(auth.to_owned()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let body = ok.text().await.unwrap();
    assert!(body.contains("\"serverInfo\""), "{body}");
    assert_eq!(post("Bearer wrong".into()).await.unwrap().status(), 401);

    // Another machine's URL; the human form holds both.
    let out = run(
        dir.path(),
        &env,
        &[
            "mcp-config",
            "--url",
            "http://10.1.2.3:8004/",
            "--name",
            "fleet",
        ],
    )
    .await;
    let text = common::text(&out);
    assert!(
        text.contains("\"fleet\": {")
            && text.contains(
                "claude mcp add --transport http \"fleet\" \"http://10.1.2.3:8004/mcp/\""
            ),
        "{text}"
    );
    assert!(!stderr(&out).contains("loopback"));

    // --token: an operator token is issued for it, and that is what the
    // configuration carries; it opens an MCP session too.
    let out = run(
        dir.path(),
        &env,
        &["mcp-config", "--token", "--label", "laptop", "--json"],
    )
    .await;
    let warned = stderr(&out);
    let minted = json(&out);
    let id = minted["token_id"].as_str().unwrap().to_owned();
    assert!(
        warned.contains(&format!("operator token {id}")) && warned.contains("tokens revoke"),
        "{warned}"
    );
    let auth = minted["mcp_json"]["mcpServers"]["tubemail"]["headers"]["Authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        auth.starts_with("Bearer tmt_") && !auth.contains(SECRET),
        "{auth}"
    );
    assert!(!warned.contains(&auth["Bearer ".len()..]), "{warned}");
    let ok = post(auth.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let listed = hub.state.tokens.list();
    let issued = listed.iter().find(|t| t.id == id).unwrap();
    assert_eq!(
        (issued.kind, issued.label.as_str()),
        (tubemail_hub::tokens::TokenKind::Operator, "laptop")
    );
    // The operator token itself may print a configuration, not issue one.
    let operator = auth["Bearer ".len()..].to_owned();
    let as_operator = [
        ("TUBEMAIL_HUB_URL", hub.url.as_str()),
        ("TUBEMAIL_TOKEN", operator.as_str()),
    ];
    let again = json(&run(dir.path(), &as_operator, &["mcp-config", "--json"]).await);
    assert_eq!(again["mcp_json"], minted["mcp_json"]);
    let out = run(dir.path(), &as_operator, &["mcp-config", "--token"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("only the hub's shared secret issues tokens"),
        "{out:?}"
    );
    // Revoked, it opens nothing.
    hub.state.tokens.revoke(&id).await.unwrap();
    assert_eq!(post(auth).await.unwrap().status(), 401);

    // A read-only token cannot use /mcp: refused, saying what to use.
    let (_, token) = hub
        .state
        .tokens
        .issue(
            tubemail_hub::tokens::TokenKind::OperatorRo,
            None,
            "ro".into(),
        )
        .await
        .unwrap();
    let out = run(
        dir.path(),
        &[
            ("TUBEMAIL_HUB_URL", hub.url.as_str()),
            ("TUBEMAIL_TOKEN", &token),
        ],
        &["mcp-config"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("operator-ro token, which the hub's MCP endpoint refuses")
            && err.contains("--token"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    hub.stop().await;
}

/// A hub URL without a scheme is said to be one, before any talk of a
/// missing secret (which is what the user would chase otherwise).
#[test]
fn a_url_without_a_scheme_is_named_as_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::command(dir.path(), &[], &["--hub", "localhost:8004", "workers"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no scheme: use http://localhost:8004"),
        "{err}"
    );
    assert!(!err.contains("TUBEMAIL_SECRET"), "{err}");
}
