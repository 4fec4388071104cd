//! Property tests: worker/flow names, every JSON request body and
//! `tm_keystroke` tokens. Arbitrary input never panics; what is accepted
//! round-trips; names are exactly the original's rule.
//!
//! 256 cases per property by default; `PROPTEST_CASES=100000 cargo test
//! -p tubemail-core --test props` for a longer run.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::fmt::Debug;
use std::path::{Component, Path};

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tubemail_core::api::*;
use tubemail_core::name::{MAX_NAME_LEN, check_name, is_valid_run_id};
use tubemail_core::{Behavior, EventId, FlowName, WorkerName, keystroke_bytes};

// ── names ────────────────────────────────────────────────────────────────

/// The rule written out independently of `check_name`.
fn model_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b" _.-".contains(c))
        && !s.contains("..")
}

fn valid_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}".prop_filter("no ..", |s| !s.contains(".."))
}

/// Names near the rule: valid ones with one character inserted or the
/// length pushed over, plus anything at all.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        valid_name(),
        (valid_name(), any::<char>(), any::<prop::sample::Index>()).prop_map(|(s, c, i)| {
            let at = i.index(s.len() + 1);
            let mut s = s;
            s.insert(at, c);
            s
        }),
        "[A-Za-z0-9 _./\\\\-]{0,80}",
        ".*",
    ]
}

proptest! {
    #[test]
    fn valid_names_round_trip(name in valid_name()) {
        prop_assert_eq!(check_name(&name), Ok(()));
        let w = WorkerName::new(name.clone()).unwrap();
        prop_assert_eq!(w.as_str(), name.as_str());
        prop_assert_eq!(w.to_string(), name.clone());
        prop_assert_eq!(name.parse::<WorkerName>().unwrap(), w.clone());
        let text = serde_json::to_string(&w).unwrap();
        prop_assert_eq!(serde_json::from_str::<WorkerName>(&text).unwrap(), w.clone());
        let f = FlowName::new(name.clone()).unwrap();
        prop_assert_eq!(serde_json::from_value::<FlowName>(json!(name)).unwrap(), f);
        // The manager identity is a valid name, or refused for length only.
        match w.manager() {
            Ok(m) => {
                prop_assert!(m.is_manager());
                prop_assert_eq!(m.as_str(), format!("{name}-manager"));
            }
            Err(e) => {
                prop_assert_eq!(e, tubemail_core::NameError::TooLong);
                prop_assert!(name.len() + "-manager".len() > MAX_NAME_LEN);
            }
        }
    }

    #[test]
    fn names_follow_the_rule_exactly(name in any_name()) {
        let ok = check_name(&name).is_ok();
        prop_assert_eq!(ok, model_ok(&name), "{:?}", name);
        prop_assert_eq!(WorkerName::new(name.clone()).is_ok(), ok);
        prop_assert_eq!(serde_json::from_value::<WorkerName>(json!(name)).is_ok(), ok);
        prop_assert_eq!(serde_json::from_value::<FlowName>(json!(name)).is_ok(), ok);
        if ok {
            // Always exactly one plain file name: never a path, never `.`/`..`.
            let parts: Vec<_> = Path::new(&name).components().collect();
            prop_assert_eq!(parts.len(), 1, "{:?}", name);
            prop_assert!(matches!(parts[0], Component::Normal(_)), "{:?}", name);
        }
    }

    #[test]
    fn run_ids_follow_their_rule(id in prop_oneof!["[A-Za-z0-9_-]{0,70}", ".{0,70}"]) {
        let model = (16..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        prop_assert_eq!(is_valid_run_id(&id), model);
    }

    #[test]
    fn event_ids_round_trip(n in any::<u64>(), junk in ".*") {
        let id = EventId(n);
        let wire = id.to_string();
        prop_assert!(wire.len() >= 10);
        prop_assert_eq!(EventId::parse(&wire), Some(id));
        prop_assert_eq!(serde_json::from_value::<EventId>(json!(wire)).unwrap(), id);
        // Anything else parses only when it is digits, never panics.
        if let Some(EventId(m)) = EventId::parse(&junk) {
            prop_assert_eq!(junk.parse::<u64>().ok(), Some(m));
        }
    }
}

// ── JSON bodies ──────────────────────────────────────────────────────────

/// Every key any request body knows, so arbitrary objects hit real fields.
const KEYS: &[&str] = &[
    "cwd",
    "pid",
    "forwarder_version",
    "text",
    "meta",
    "request_id",
    "tool_name",
    "description",
    "input_preview",
    "behavior",
    "pct",
    "is_active",
    "through",
    "worker",
    "name",
    "body",
    "default_worker",
    "message",
    "idempotency_key",
    "keys",
    "delay_s",
    "restore_name",
    "recording_enabled_by_default",
    "recording_max_bytes_per_file",
    "recording_keep_files",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        Just(json!("allow")),
        Just(json!("0000000042")),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// Objects made of known keys with arbitrary values.
fn json_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::collection::vec((key(), json_value()), 0..8)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        1 => json_value(),
    ]
}

/// Deserializing never panics; whatever is accepted serializes to JSON
/// that deserializes to the same value.
fn accepted_round_trips<T>(v: &Value) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Ok(parsed) = serde_json::from_value::<T>(v.clone()) else {
        return Ok(());
    };
    let text = serde_json::to_string(&parsed).unwrap();
    let again: T = serde_json::from_str(&text).unwrap();
    prop_assert_eq!(again, parsed, "{}", text);
    Ok(())
}

fn every_body(v: &Value) -> Result<(), TestCaseError> {
    accepted_round_trips::<RegisterRequest>(v)?;
    accepted_round_trips::<OutboundRequest>(v)?;
    accepted_round_trips::<PermissionRequestBody>(v)?;
    accepted_round_trips::<PermissionResponseBody>(v)?;
    accepted_round_trips::<ContextPctRequest>(v)?;
    accepted_round_trips::<ActiveRequest>(v)?;
    accepted_round_trips::<DeliveredRequest>(v)?;
    accepted_round_trips::<ResolveRequest>(v)?;
    accepted_round_trips::<FlowSaveRequest>(v)?;
    accepted_round_trips::<FlowRunRequest>(v)?;
    accepted_round_trips::<SendRequest>(v)?;
    accepted_round_trips::<KeystrokeRequest>(v)?;
    accepted_round_trips::<ClearAndSendRequest>(v)?;
    accepted_round_trips::<SettingsPatch>(v)?;
    Ok(())
}

fn meta() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((".{0,8}", json_value()), 0..4).prop_map(|kv| kv.into_iter().collect())
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite())
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics_the_bodies(v in json_body()) {
        every_body(&v)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_bodies(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // Text the hub receives before it knows it is JSON.
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            every_body(&v)?;
        }
        let _ = serde_json::from_slice::<SendRequest>(&bytes);
        let _ = serde_json::from_slice::<RegisterRequest>(&bytes);
        let _ = serde_json::from_slice::<SettingsPatch>(&bytes);
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash(depth in 100usize..5000) {
        let text = format!("{{\"message\":{}0{}}}", "[".repeat(depth), "]".repeat(depth));
        let r = serde_json::from_str::<SendRequest>(&text);
        prop_assert!(r.is_err());
    }

    #[test]
    fn valid_bodies_round_trip(
        s in ".*", t in ".*", pid in any::<Option<i64>>(), m in meta(),
        b in any::<bool>(), id in any::<u64>(), delay in finite(),
        key in any::<Option<String>>(), n in any::<Option<u64>>(), k in any::<Option<u32>>(),
        pct in json_value(),
    ) {
        fn rt<T: DeserializeOwned + Serialize + PartialEq + Debug>(x: T) -> Result<(), TestCaseError> {
            let v = serde_json::to_value(&x).unwrap();
            prop_assert_eq!(serde_json::from_value::<T>(v).unwrap(), x);
            Ok(())
        }
        rt(RegisterRequest { cwd: s.clone(), pid, forwarder_version: key.clone(), permission_mode: key.clone() })?;
        rt(OutboundRequest { text: s.clone(), meta: m.clone() })?;
        rt(PermissionRequestBody { request_id: s.clone(), tool_name: t.clone(), description: t.clone(), input_preview: s.clone() })?;
        rt(PermissionResponseBody { request_id: s.clone(), behavior: if b { Behavior::Allow } else { Behavior::Deny } })?;
        rt(ContextPctRequest { pct: pct.clone() })?;
        rt(ActiveRequest { is_active: pct })?;
        rt(DeliveredRequest { through: EventId(id) })?;
        rt(ResolveRequest { worker: s.clone(), request_id: t.clone(), behavior: s.clone() })?;
        rt(FlowSaveRequest { name: s.clone(), body: t.clone(), default_worker: key.clone(), meta: Some(m.clone()) })?;
        rt(FlowRunRequest { worker: key.clone(), meta: Some(m.clone()) })?;
        rt(SendRequest { message: s.clone(), meta: Some(m), idempotency_key: key })?;
        rt(KeystrokeRequest { keys: t })?;
        rt(ClearAndSendRequest { message: s, delay_s: delay, restore_name: b })?;
        rt(SettingsPatch { recording_enabled_by_default: Some(b), recording_max_bytes_per_file: n, recording_keep_files: k, ..SettingsPatch::default() })?;
    }

    #[test]
    fn original_minimal_bodies_take_defaults(s in ".*") {
        let r: RegisterRequest = serde_json::from_value(json!({"cwd": s})).unwrap();
        prop_assert_eq!(r.pid, None);
        let c: ClearAndSendRequest = serde_json::from_value(json!({"message": s})).unwrap();
        prop_assert!((c.delay_s - 1.5).abs() < f64::EPSILON && c.restore_name);
        let p: SettingsPatch = serde_json::from_value(json!({})).unwrap();
        prop_assert_eq!(p, SettingsPatch::default());
    }
}

// ── keystrokes ───────────────────────────────────────────────────────────

const NAMED: &[(&str, &[u8])] = &[
    ("enter", b"\r"),
    ("esc", b"\x1b"),
    ("escape", b"\x1b"),
    ("up", b"\x1b[A"),
    ("down", b"\x1b[B"),
    ("right", b"\x1b[C"),
    ("left", b"\x1b[D"),
    ("tab", b"\t"),
    ("backspace", b"\x7f"),
    ("delete", b"\x1b[3~"),
    ("space", b" "),
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        // A named key in random case.
        (prop::sample::select(NAMED), any::<u64>()).prop_map(|((name, _), bits)| {
            name.chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        }),
        "\\PZ{1,12}".prop_filter("no whitespace", |s| !s.chars().any(char::is_whitespace)),
    ]
}

fn space() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(&[" ", "\t", "\n", "\r\n", "\u{a0}", "\u{3000}"][..]),
        1..3,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn keystrokes_never_panic_and_are_bounded(keys in ".*") {
        let out = keystroke_bytes(&keys);
        // Each token becomes itself or a sequence of at most 4 bytes.
        let bound: usize = keys.split_whitespace().map(|t| t.len().max(4)).sum();
        prop_assert!(out.len() <= bound);
    }

    #[test]
    fn keystrokes_map_token_by_token(tokens in prop::collection::vec((token(), space()), 0..12), lead in space()) {
        let mut keys = lead;
        let mut want = Vec::new();
        for (t, sep) in &tokens {
            keys.push_str(t);
            keys.push_str(sep);
            let lower = t.to_ascii_lowercase();
            match NAMED.iter().find(|(n, _)| *n == lower) {
                Some((_, seq)) => want.extend_from_slice(seq),
                None => want.extend_from_slice(t.as_bytes()),
            }
        }
        prop_assert_eq!(keystroke_bytes(&keys), want);
    }

    #[test]
    fn keystrokes_concatenate(a in ".*", b in ".*") {
        let mut joined = keystroke_bytes(&a);
        joined.extend(keystroke_bytes(&b));
        prop_assert_eq!(keystroke_bytes(&format!("{a} {b}")), joined);
    }
}
