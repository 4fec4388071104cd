//! Property tests of the vt100 screen model: arbitrary output bytes and
//! resizes never panic, the text stays within the screen, feeding in
//! pieces equals feeding at once, and a repaint redraws the same text.
//!
//! 256 cases per property by default; `PROPTEST_CASES=20000 cargo test
//! -p tubemail-pty --test props` for a longer run.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use proptest::prelude::*;
use tubemail_pty::{Screen, Size};

/// Most bytes a vt100 cell holds (a character plus combining marks).
const CELL_BYTES: usize = 22;

fn size() -> impl Strategy<Value = Size> {
    (1u16..=120, 1u16..=160).prop_map(|(rows, cols)| Size { rows, cols })
}

/// Terminal output: arbitrary bytes mixed with the sequences TUIs use.
fn output() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "[ -~]{0,80}".prop_map(String::into_bytes),
        ".{0,20}".prop_map(String::into_bytes),
        prop::sample::select(
            &[
                "\r\n",
                "\x1b[H",
                "\x1b[2J",
                "\x1b[K",
                "\x1b[1;31m",
                "\x1b[0m",
                "\x1b[?1049h",
                "\x1b[?1049l",
                "\x1b[?2004h",
                "\x1b[?25l",
                "\x1b[3;5r",
                "\x1bM",
                "\x1b[10;200H",
                "\x1b[999C",
                "\x1b[L",
                "\x1b[P",
                "\x1b[@",
                "\x1b]0;title\x07",
                "\x1b[6n",
                "\t",
                "\x08",
                "e\u{301}",
                "宽字",
                "\x1b(0lqk\x1b(B",
                "\x1b[?1000h",
                "\x1b[S",
                "\x1b[T",
            ][..],
        )
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// A step: output, or a resize (zero sizes included, which are refused).
#[derive(Debug, Clone)]
enum Step {
    Feed(Vec<u8>),
    Resize(u16, u16),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            4 => output().prop_map(Step::Feed),
            1 => (0u16..=200, 0u16..=200).prop_map(|(r, c)| Step::Resize(r, c)),
        ],
        0..12,
    )
}

fn check_bounds(s: &Screen) -> Result<(), TestCaseError> {
    let Size { rows, cols } = s.size();
    let text = s.text();
    let lines: Vec<&str> = if text.is_empty() {
        vec![]
    } else {
        text.split('\n').collect()
    };
    prop_assert!(
        lines.len() <= usize::from(rows),
        "{} lines on {} rows",
        lines.len(),
        rows
    );
    prop_assert!(text.len() <= usize::from(rows) * (usize::from(cols) * CELL_BYTES + 1));
    for line in &lines {
        prop_assert!(
            !line.ends_with(' '),
            "trailing blanks are trimmed: {:?}",
            line
        );
        prop_assert!(!line.contains('\n'));
    }
    // last_lines is a suffix of text.
    for n in [0, 1, 3, usize::from(rows)] {
        let last = s.last_lines(n);
        prop_assert!(
            text.ends_with(&last),
            "last_lines({}) = {:?} not a suffix",
            n,
            last
        );
        prop_assert!(last.split('\n').count() <= n.max(1));
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_output_and_resizes_never_panic(start in size(), steps in steps()) {
        let mut s = Screen::new(start).unwrap();
        let mut size = start;
        let mut generation = s.generation();
        for step in steps {
            match step {
                Step::Feed(bytes) => {
                    s.feed(&bytes);
                    prop_assert!(s.generation() > generation);
                }
                Step::Resize(rows, cols) => {
                    let r = s.resize(Size { rows, cols });
                    if rows == 0 || cols == 0 {
                        prop_assert!(r.is_err());
                        prop_assert_eq!(s.generation(), generation);
                    } else {
                        prop_assert!(r.is_ok());
                        prop_assert!(s.generation() > generation);
                        size = Size { rows, cols };
                    }
                }
            }
            generation = s.generation();
            prop_assert_eq!(s.size(), size);
            check_bounds(&s)?;
            let _ = s.repaint();
        }
    }

    #[test]
    fn feeding_in_pieces_equals_feeding_at_once(
        size in size(),
        bytes in output(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut whole = Screen::new(size).unwrap();
        whole.feed(&bytes);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut pieces = Screen::new(size).unwrap();
        let mut prev = 0;
        for cut in at.into_iter().chain([bytes.len()]) {
            pieces.feed(&bytes[prev..cut]);
            prev = cut;
        }
        prop_assert_eq!(pieces.text(), whole.text());
        prop_assert_eq!(pieces.repaint(), whole.repaint());
    }

    #[test]
    fn repaint_redraws_the_same_text(size in size(), bytes in output()) {
        let mut s = Screen::new(size).unwrap();
        s.feed(&bytes);
        let mut copy = Screen::new(size).unwrap();
        copy.feed(&s.repaint());
        prop_assert_eq!(copy.text(), s.text());
    }
}

/// A number for a CSI parameter: mostly small, sometimes beyond the screen.
fn num() -> impl Strategy<Value = u16> {
    prop_oneof![4 => 0u16..6, 2 => 0u16..40, 1 => 0u16..300]
}

/// What shells, CLIs and TUIs (Claude Code's Ink) write: text (wide and
/// combining characters included), line controls, colours, cursor moves,
/// erasing, scroll regions, the alternate screen. Only what both models
/// implement.
fn tui_output() -> impl Strategy<Value = Vec<u8>> {
    let csi1 = (
        prop::sample::select(
            &[
                "A", "B", "C", "D", "E", "F", "G", "`", "d", "J", "K", "X", "@", "P", "L", "M",
                "S", "T", "b", "?J", "?K",
            ][..],
        ),
        num(),
    )
        .prop_map(|(f, n)| match f.strip_prefix('?') {
            Some(f) => format!("\x1b[?{}{f}", n % 3),
            None if f == "J" || f == "K" => format!("\x1b[{}{f}", n % 4),
            None => format!("\x1b[{n}{f}"),
        });
    let csi2 = (prop::sample::select(&["H", "f", "r"][..]), num(), num())
        .prop_map(|(f, a, b)| format!("\x1b[{a};{b}{f}"));
    let sgr = prop::collection::vec(
        prop_oneof![
            (0u16..110).prop_map(|n| n.to_string()),
            (0u16..300).prop_map(|n| format!("38;5;{n}")),
            (0u8..=255, 0u8..=255, 0u8..=255).prop_map(|(r, g, b)| format!("48;2;{r};{g};{b}")),
        ],
        0..4,
    )
    .prop_map(|p| format!("\x1b[{}m", p.join(";")));
    let piece = prop_oneof![
        6 => "[ -~]{1,90}",
        2 => "[a-z 宽字🦀é\u{301}]{1,30}",
        3 => prop::sample::select(&["\r\n", "\r", "\n", "\x08", "\t", "\x0b", "\x0c"][..]).prop_map(str::to_owned),
        3 => csi1,
        2 => csi2,
        2 => sgr,
        2 => prop::sample::select(
            &[
                "\x1b7", "\x1b8", "\x1bM", "\x1b[H", "\x1b[r", "\x1b[?1049h", "\x1b[?1049l",
                "\x1b[?47h", "\x1b[?47l", "\x1b[?6h", "\x1b[?6l", "\x1b[?25l", "\x1b[?25h",
                "\x1b[?2004h", "\x1b[?1h", "\x1b[?1000h", "\x1b[?1006h", "\x1b]0;title\x07",
                "\x1b(0", "\x1b(B", "\x1b=", "\x1bc",
            ][..],
        )
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat().into_bytes())
}

fn nz(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).unwrap()
}

/// vt100's text read as `Screen::text` reads it (rows, wrapped ones joined).
fn vt100_text(screen: &vt100::Screen) -> String {
    let (_, cols) = screen.size();
    let mut lines = Vec::new();
    let mut current = String::new();
    for (i, row) in screen.rows(0, cols.get()).enumerate() {
        current.push_str(&row);
        if !u16::try_from(i).is_ok_and(|i| screen.row_wrapped(i)) {
            lines.push(current.trim_end().to_owned());
            current.clear();
        }
    }
    if !current.is_empty() {
        lines.push(current.trim_end().to_owned());
    }
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    lines[..end].join("\n")
}

proptest! {
    /// The screen shows what the vt100 crate's model shows, through resizes.
    #[test]
    fn text_matches_the_vt100_model(
        start in (1u16..=40, 1u16..=100),
        steps in prop::collection::vec(
            prop_oneof![
                5 => tui_output().prop_map(Step::Feed),
                1 => (1u16..=40, 1u16..=100).prop_map(|(r, c)| Step::Resize(r, c)),
            ],
            1..6,
        ),
    ) {
        let (rows, cols) = start;
        let mut ours = Screen::new(Size { rows, cols }).unwrap();
        let mut reference = vt100::Parser::new(nz(rows), nz(cols), 0);
        for step in &steps {
            match step {
                Step::Feed(bytes) => {
                    ours.feed(bytes);
                    reference.process(bytes);
                }
                Step::Resize(rows, cols) => {
                    ours.resize(Size { rows: *rows, cols: *cols }).unwrap();
                    reference.set_size(nz(*rows), nz(*cols));
                }
            }
            prop_assert_eq!(ours.text(), vt100_text(reference.screen()));
        }
    }

    /// A repaint read by the vt100 model shows the same text.
    #[test]
    fn vt100_reads_the_same_text_from_a_repaint(size in (1u16..=40, 1u16..=100), bytes in tui_output()) {
        let (rows, cols) = size;
        let mut ours = Screen::new(Size { rows, cols }).unwrap();
        ours.feed(&bytes);
        let mut reference = vt100::Parser::new(nz(rows), nz(cols), 0);
        reference.process(&ours.repaint());
        prop_assert_eq!(vt100_text(reference.screen()), ours.text());
    }
}

/// Found by the property above: after VPA (`CSI d`, which ignores origin
/// mode here as in the vt100 model) put the cursor above the scroll region
/// in origin mode, the repaint's arithmetic underflowed.
#[test]
fn a_repaint_with_the_cursor_above_the_origin_region() {
    for (rows, cols) in [(20, 1), (1, 20), (20, 20)] {
        let mut ours = Screen::new(Size { rows, cols }).unwrap();
        ours.feed(b"\x1b[?6h\x1b[4;5r\x1b[0dX");
        let mut reference = vt100::Parser::new(nz(rows), nz(cols), 0);
        reference.process(&ours.repaint());
        assert_eq!(vt100_text(reference.screen()), ours.text(), "{rows}x{cols}");
    }
}
