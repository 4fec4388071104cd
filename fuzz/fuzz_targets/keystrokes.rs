//! `tm_keystroke` tokens: never panic, bounded output, token by token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tubemail_core::keystroke_bytes;

fuzz_target!(|s: &str| {
    let out = keystroke_bytes(s);
    let bound: usize = s.split_whitespace().map(|t| t.len().max(4)).sum();
    assert!(out.len() <= bound);
    let mut parts = Vec::new();
    for t in s.split_whitespace() {
        parts.extend(keystroke_bytes(t));
    }
    assert_eq!(parts, out);
});
