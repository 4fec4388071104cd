//! How fast the screen model parses terminal output, in MiB/s, for three
//! kinds of output fed in 4 KiB chunks to an 80x24 screen: scrolling plain
//! text (67-byte lines), coloured text (an SGR every few words) and a
//! TUI-like redraw (cursor moves, erases and text, as Ink writes). The same
//! input through the `vt100` crate's model is printed beside it for
//! comparison. Run in release:
//!
//! ```sh
//! cargo run --release --locked -p tubemail-pty --example screen_rate [MIB]
//! ```
#![allow(
    clippy::unwrap_used,
    reason = "a measurement program: a panic is a failed run"
)]

use std::time::Instant;

use tubemail_pty::{Screen, Size};

const CHUNK: usize = 4096;

fn plain(total: usize) -> Vec<u8> {
    let line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n";
    line.iter().copied().cycle().take(total).collect()
}

fn coloured(total: usize) -> Vec<u8> {
    let words = [
        "build",
        "ok",
        "warning:",
        "src/main.rs:12",
        "passed",
        "0.42s",
        "note",
    ];
    let mut out = Vec::with_capacity(total + 256);
    let mut i = 0usize;
    while out.len() < total {
        for _ in 0..8 {
            let w = words[i % words.len()];
            if i.is_multiple_of(3) {
                let colour = 31 + (i % 7);
                out.extend_from_slice(format!("\x1b[1;{colour}m{w}\x1b[0m ").as_bytes());
            } else if i.is_multiple_of(5) {
                out.extend_from_slice(format!("\x1b[38;5;{}m{w}\x1b[39m ", i % 256).as_bytes());
            } else {
                out.extend_from_slice(w.as_bytes());
                out.push(b' ');
            }
            i += 1;
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Ink-style frames: move up over the last frame, erase each line, redraw
/// a box with a spinner, a status line and a prompt.
fn tui(total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(total + 4096);
    let spinner = ["·", "✢", "✳", "∗", "✻", "✽"];
    let mut frame = 0usize;
    let height = 12;
    while out.len() < total {
        if frame > 0 {
            // Up to the first line of the previous frame, erasing as Ink does.
            for _ in 0..height - 1 {
                out.extend_from_slice(b"\x1b[2K\x1b[1A");
            }
            out.extend_from_slice(b"\x1b[2K\x1b[G");
        }
        out.extend_from_slice(
            format!(
                "\x1b[38;2;215;119;87m{} Thinking… \x1b[2m({}s · esc to interrupt)\x1b[22m\x1b[39m\r\n",
                spinner[frame % spinner.len()],
                frame / 10
            )
            .as_bytes(),
        );
        out.extend_from_slice("\x1b[2m╭────────────────────────────────────────────────────────────────────────────╮\x1b[22m\r\n".as_bytes());
        for row in 0..height - 5 {
            out.extend_from_slice(
                format!(
                    "│ \x1b[1m{row}\x1b[22m  line {frame} of the answer, with some text that fills the row   │\r\n"
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(
            "╰────────────────────────────────────────────────────────────────────────────╯\r\n"
                .as_bytes(),
        );
        out.extend_from_slice(b"\x1b[7m>\x1b[27m \x1b[2mTry \"fix lint errors\"\x1b[22m\r\n");
        out.extend_from_slice(b"  \x1b[2m? for shortcuts\x1b[22m                                    \x1b[38;5;246mContext left: 42%\x1b[39m");
        frame += 1;
    }
    out
}

/// Parses and does nothing: the parser's own cost.
struct Nothing;
impl vte::Perform for Nothing {}

fn rate(bytes: &[u8], mut feed: impl FnMut(&[u8])) -> f64 {
    let t = Instant::now();
    for chunk in bytes.chunks(CHUNK) {
        feed(chunk);
    }
    bytes.len() as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map_or(64, |a| a.parse().expect("MIB: a number of MiB per input"));
    let size = Size { rows: 24, cols: 80 };
    let rows = std::num::NonZeroU16::new(size.rows).unwrap();
    let cols = std::num::NonZeroU16::new(size.cols).unwrap();
    println!(
        "input            Screen MiB/s   vt100 0.18 MiB/s   ({mib} MiB each, {CHUNK}-byte feeds, 80x24)"
    );
    for (name, input) in [
        ("scrolling text", plain(mib << 20)),
        ("coloured text", coloured(mib << 20)),
        ("TUI redraw", tui(mib << 20)),
    ] {
        let mut screen = Screen::new(size).unwrap();
        let ours = rate(&input, |c| screen.feed(c));
        let mut reference = vt100::Parser::new(rows, cols, 0);
        let theirs = rate(&input, |c| reference.process(c));
        // The two models end on the same screen.
        assert_eq!(
            screen.text(),
            reference
                .screen()
                .rows(0, size.cols)
                .map(|r| r.trim_end().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
                .trim_end(),
            "{name}: the models disagree"
        );
        let mut parser = vte::Parser::new();
        let floor = rate(&input, |c| parser.advance(&mut Nothing, c));
        println!("{name:<16} {ours:>12.1}   {theirs:>16.1}   (vte parse alone: {floor:.1})");
    }
}
