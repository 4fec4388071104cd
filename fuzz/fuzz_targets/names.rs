//! Worker/flow names: never panic; accepted names are one plain path
//! component and round-trip through JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tubemail_core::name::{check_name, is_valid_run_id};
use tubemail_core::{EventId, WorkerName};

fuzz_target!(|s: &str| {
    let ok = check_name(s).is_ok();
    assert_eq!(WorkerName::new(s).is_ok(), ok);
    if ok {
        assert!(!s.contains('/') && !s.contains("..") && s.len() <= 64);
        let w = WorkerName::new(s).unwrap();
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<WorkerName>(&text).unwrap(), w);
        let _ = w.manager();
    }
    let _ = is_valid_run_id(s);
    if let Some(id) = EventId::parse(s) {
        assert_eq!(EventId::parse(&id.to_string()), Some(id));
    }
});
