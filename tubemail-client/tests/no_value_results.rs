//! The client's public operations return core's types, never an untyped
//! `serde_json::Value`: this reads every `pub` function of the client's
//! sources and lists the result types, so a new operation that returns
//! `Value` (or a `Result<Value>`) fails here with its name.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::path::Path;

/// `(function, result type)` of every `pub fn` / `pub async fn` in `src`.
fn public_results(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices("pub ") {
        let rest = &src[at + 4..];
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        let end = sig.find(['{', ';']).unwrap_or(sig.len());
        let sig = &sig[..end];
        let name = sig.split(['(', '<']).next().unwrap().trim().to_owned();
        let result = sig
            .rsplit_once("->")
            .map_or("()", |(_, r)| r)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        out.push((name, result));
    }
    out
}

#[test]
fn no_public_operation_returns_an_untyped_value() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    for file in [
        "client.rs",
        "worker.rs",
        "admin.rs",
        "transport.rs",
        "stream.rs",
    ] {
        let src = std::fs::read_to_string(dir.join(file)).unwrap();
        all.extend(public_results(&src));
    }
    // The operations are all there (a parser that found nothing would
    // pass vacuously).
    for op in [
        "send",
        "events",
        "manager_health",
        "clear_and_send",
        "reconnect_mcp",
        "run_flow",
    ] {
        assert!(
            all.iter().any(|(n, _)| n == op),
            "{op} not found in {all:?}"
        );
    }
    assert!(all.len() > 40, "{all:?}");
    let untyped: Vec<_> = all
        .iter()
        .filter(|(_, r)| r.contains("Value") || r.contains("serde_json"))
        .collect();
    assert!(
        untyped.is_empty(),
        "public results that are untyped JSON: {untyped:?}"
    );
}

#[test]
fn the_check_sees_a_value_result() {
    let src = "impl C {\n    pub async fn raw(&self) -> Result<serde_json::Value> {\n        todo\n    }\n    pub fn typed(&self) -> Result<Health> {}\n}";
    assert_eq!(
        public_results(src),
        [
            ("raw".to_owned(), "Result<serde_json::Value>".to_owned()),
            ("typed".to_owned(), "Result<Health>".to_owned())
        ]
    );
}
