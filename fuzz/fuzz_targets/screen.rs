//! The screen model: arbitrary output and resizes never panic; the text
//! stays within the screen; feeding in two pieces equals feeding at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tubemail_pty::{Screen, Size};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let size = Size {
        rows: u16::from(data[0] % 60) + 1,
        cols: u16::from(data[1] % 120) + 1,
    };
    let cut = usize::from(data[2]) % (data.len() - 2);
    let bytes = &data[3..];
    let cut = cut.min(bytes.len());
    let mut whole = Screen::new(size).unwrap();
    whole.feed(bytes);
    let mut split = Screen::new(size).unwrap();
    split.feed(&bytes[..cut]);
    split.feed(&bytes[cut..]);
    assert_eq!(whole.text(), split.text());
    assert!(whole.text().split('\n').count() <= usize::from(size.rows));
    // Resizes driven by the input, including zero (refused).
    for pair in bytes.chunks(2).take(4) {
        let rows = u16::from(pair[0] % 80);
        let cols = u16::from(*pair.get(1).unwrap_or(&1) % 200);
        let _ = whole.resize(Size { rows, cols });
        whole.feed(pair);
        let _ = whole.repaint();
    }
});
