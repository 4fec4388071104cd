//! Property tests of the terminal bridge's viewer frames: arbitrary text
//! and binary frames never panic; keystrokes reach the manager byte for
//! byte; a resize always carries a size in range.
//!
//! 256 cases per property by default; `PROPTEST_CASES=100000 cargo test
//! -p tubemail-hub --test props` for a longer run.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use proptest::prelude::*;
use serde_json::{Value, json};
use tubemail_core::StreamEvent;
use tubemail_hub::terminal::{ViewerFrame, viewer_frame};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn dim() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..2000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,4}".prop_map(Value::from),
        Just(Value::Null),
    ]
}

/// Text frames: JSON objects near the protocol, and any text at all.
fn text_frame() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(&["resize", "ping", "RESIZE", "other", ""][..]),
            dim(),
            dim()
        )
            .prop_map(|(kind, cols, rows)| {
                json!({"kind": kind, "cols": cols, "rows": rows}).to_string()
            }),
        (dim(), dim())
            .prop_map(|(c, r)| format!("{{\"kind\":\"resize\",\"cols\":{c},\"rows\":{r}")),
        ".*",
    ]
}

proptest! {
    #[test]
    fn binary_frames_reach_the_manager_byte_for_byte(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        match viewer_frame(ViewerFrame::Binary(&bytes)) {
            None => prop_assert!(bytes.is_empty()),
            Some(StreamEvent::PtyData { bytes_hex }) => prop_assert_eq!(unhex(&bytes_hex), bytes),
            Some(other) => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn text_frames_never_panic_and_resizes_stay_in_range(text in text_frame()) {
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        match viewer_frame(ViewerFrame::Text(&text)) {
            None => prop_assert!(parsed.is_none_or(|v| v["kind"] != "resize")),
            Some(StreamEvent::PtyResize { cols, rows }) => {
                let v = parsed.unwrap();
                prop_assert_eq!(&v["kind"], "resize");
                for (key, default, got) in [("cols", 80, cols), ("rows", 24, rows)] {
                    let got = u64::from(got);
                    prop_assert!((1..=1000).contains(&got));
                    // In range: passed on; otherwise the original's default.
                    let want = v[key].as_u64().filter(|n| (1..=1000).contains(n)).unwrap_or(default);
                    prop_assert_eq!(got, want);
                }
            }
            Some(other) => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn non_utf8_bytes_as_text_are_ignored(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = viewer_frame(ViewerFrame::Text(&text));
    }
}
