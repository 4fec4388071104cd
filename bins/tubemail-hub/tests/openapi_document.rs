//! `frontend/openapi.json` is the document the hub serves at
//! `/api/openapi.json`: the web UI's API types are generated from it, so
//! these tests fail while it is stale and say how to refresh it.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

/// Refreshes the committed document and the types generated from it.
const REFRESH: &str = "make openapi";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../frontend/openapi.json")
}

fn committed() -> Value {
    let path = committed_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `{REFRESH}`", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}); run `{REFRESH}`", path.display()))
}

/// Where `current` differs from `committed`, one line per place, as a JSON
/// pointer: `+` only in `current`, `-` only in `committed`, `~` changed.
fn differences(committed: &Value, current: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", committed, current, &mut out);
    out
}

fn diff_at(at: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let child = |key: &str| format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, v) in o {
                match n.get(k) {
                    Some(w) => diff_at(&child(k), v, w, out),
                    None => out.push(format!("- {}", child(k))),
                }
            }
            for k in n.keys().filter(|k| !o.contains_key(*k)) {
                out.push(format!("+ {}", child(k)));
            }
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            for (i, (v, w)) in o.iter().zip(n).enumerate() {
                diff_at(&child(&i.to_string()), v, w, out);
            }
        }
        _ if old != new => out.push(format!("~ {}", if at.is_empty() { "/" } else { at })),
        _ => {}
    }
}

/// The failure message for a stale document, or `None` when it is current.
fn staleness(committed: &Value, current: &Value) -> Option<String> {
    let diffs = differences(committed, current);
    (!diffs.is_empty()).then(|| {
        format!(
            "frontend/openapi.json differs from the document the hub serves; run `{REFRESH}` \
             and commit frontend/openapi.json and frontend/src/lib/api-types.gen.ts:\n{}",
            diffs.join("\n")
        )
    })
}

#[test]
fn the_committed_document_is_the_one_the_hub_dumps() {
    let out = Command::new(common::hub_bin())
        .arg("--openapi")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dumped: Value = serde_json::from_slice(&out.stdout).unwrap();
    if let Some(stale) = staleness(&committed(), &dumped) {
        panic!("{stale}");
    }
}

#[tokio::test]
async fn the_hub_serves_the_document_it_dumps() {
    let (_dir, hub, c) = common::hub().await;
    assert_eq!(
        c.get("/api/openapi.json").await,
        tubemail_hub::openapi_document()
    );
    hub.stop().await;
}

#[test]
fn a_changed_document_is_reported_with_the_command_that_refreshes_it() {
    let committed = committed();
    let mut changed = committed.clone();
    changed["components"]["schemas"]["SendReceipt"]["properties"]["queued_at"]["type"] =
        json!("string");
    changed["paths"]["/api/new-route"] = json!({"get": {}});
    let schemas = changed["components"]["schemas"].as_object_mut().unwrap();
    schemas.remove("Health");
    changed["security"][0]["bearer"] = json!(["scope"]);

    assert_eq!(
        differences(&committed, &changed),
        [
            "- /components/schemas/Health",
            "~ /components/schemas/SendReceipt/properties/queued_at/type",
            "+ /paths/~1api~1new-route",
            "~ /security/0/bearer",
        ]
    );
    let stale = staleness(&committed, &changed).unwrap();
    assert!(stale.contains("run `make openapi`"), "{stale}");
    assert!(stale.contains("- /components/schemas/Health"), "{stale}");
    assert_eq!(staleness(&committed, &committed), None);
    assert_eq!(
        differences(&json!({"a": [1, 2]}), &json!({"a": [1]})),
        ["~ /a"]
    );
}
