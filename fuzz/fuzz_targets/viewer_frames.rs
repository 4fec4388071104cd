//! The terminal bridge's viewer frames: never panic; keys byte for byte;
//! resizes in range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tubemail_hub::terminal::{ViewerFrame, viewer_frame};

fuzz_target!(|data: &[u8]| {
    if let Some((name, v)) = viewer_frame(ViewerFrame::Binary(data)) {
        assert_eq!(name, "pty_data");
        assert_eq!(v["bytes_hex"].as_str().unwrap().len(), data.len() * 2);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some((name, v)) = viewer_frame(ViewerFrame::Text(text)) {
            assert_eq!(name, "pty_resize");
            for key in ["cols", "rows"] {
                assert!((1..=1000).contains(&v[key].as_u64().unwrap()));
            }
        }
    }
});
