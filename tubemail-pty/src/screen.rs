//! What the terminal shows (a vt100 model) and how to type into a TUI.

use std::num::NonZeroU16;

use crate::{Error, Result, Size};

/// Lines of scrollback the screen model keeps.
const SCROLLBACK: usize = 0;

/// A vt100 screen fed with the pty's output.
pub struct Screen {
    parser: vt100::Parser,
    /// Bumped by every feed and resize.
    generation: u64,
    /// The start of a UTF-8 character cut off at the end of the last feed,
    /// held back until the rest arrives.
    partial: Vec<u8>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.parser.screen().size();
        f.debug_struct("Screen")
            .field("rows", &rows)
            .field("cols", &cols)
            .finish_non_exhaustive()
    }
}

fn dims(size: Size) -> Result<(NonZeroU16, NonZeroU16)> {
    Ok((
        NonZeroU16::new(size.rows).ok_or(Error::ZeroSize)?,
        NonZeroU16::new(size.cols).ok_or(Error::ZeroSize)?,
    ))
}

impl Screen {
    /// An empty screen of `size`.
    pub fn new(size: Size) -> Result<Screen> {
        let (rows, cols) = dims(size)?;
        Ok(Screen {
            parser: vt100::Parser::new(rows, cols, SCROLLBACK),
            generation: 0,
            partial: Vec::new(),
        })
    }

    /// Applies output bytes (escape sequences included). A UTF-8
    /// character split across two feeds is applied whole with the second:
    /// the parser draws a split character differently from a whole one.
    pub fn feed(&mut self, bytes: &[u8]) {
        let joined;
        let data = if self.partial.is_empty() {
            bytes
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(bytes);
            joined = buf;
            &joined[..]
        };
        let (complete, rest) = data.split_at(data.len() - incomplete_utf8_tail(data));
        self.parser.process(complete);
        self.partial = rest.to_vec();
        self.generation += 1;
    }

    /// Changes with every feed and resize: a watcher compares it to skip
    /// rendering a screen that did not change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Follows a terminal resize.
    pub fn resize(&mut self, size: Size) -> Result<()> {
        let (rows, cols) = dims(size)?;
        self.parser.set_size(rows, cols);
        self.generation += 1;
        Ok(())
    }

    /// The size the model has.
    pub fn size(&self) -> Size {
        let (rows, cols) = self.parser.screen().size();
        Size {
            rows: rows.get(),
            cols: cols.get(),
        }
    }

    /// Escape sequences that redraw this screen on a freshly reset
    /// terminal of the same size: the alternate screen when it is in use,
    /// contents with colours and attributes, cursor, and input modes
    /// (bracketed paste, application keys, mouse reporting).
    pub fn repaint(&self) -> Vec<u8> {
        let screen = self.parser.screen();
        let mut out = Vec::new();
        if screen.alternate_screen() {
            out.extend_from_slice(b"\x1b[?1049h");
        }
        out.extend_from_slice(screen.state_formatted().as_bytes());
        out
    }

    /// The visible text, one line per row, trailing blanks trimmed.
    pub fn text(&self) -> String {
        let lines = self.lines();
        let end = lines
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |i| i + 1);
        lines[..end].join("\n")
    }

    /// The last `n` non-blank-trailing rows of the visible text.
    pub fn last_lines(&self, n: usize) -> String {
        let lines = self.lines();
        let end = lines
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |i| i + 1);
        lines[end.saturating_sub(n)..end].join("\n")
    }

    /// Visible rows as lines: a row the terminal wrapped into the next is
    /// joined with it, so a long line reads (and searches) as one.
    fn lines(&self) -> Vec<String> {
        let screen = self.parser.screen();
        let (_, cols) = screen.size();
        let mut lines = Vec::new();
        let mut current = String::new();
        for (i, row) in screen.rows(0, cols.get()).enumerate() {
            let wrapped = u16::try_from(i).is_ok_and(|i| screen.row_wrapped(i));
            current.push_str(&row);
            if !wrapped {
                // Trim the whole line: a wrapped row may end in blanks too.
                lines.push(current.trim_end().to_owned());
                current.clear();
            }
        }
        if !current.is_empty() {
            lines.push(current.trim_end().to_owned());
        }
        lines
    }
}

/// Length of a UTF-8 character cut off at the end of `bytes` (0–3): a lead
/// byte and fewer continuation bytes than it announces.
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let start = bytes.len() - back;
        if bytes[start] & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        return match std::str::from_utf8(&bytes[start..]) {
            Err(e) if e.valid_up_to() == 0 && e.error_len().is_none() => back,
            _ => 0,
        };
    }
    0
}

/// Frames `text` as a bracketed paste and returns it with the Enter to
/// send after a short pause: a TUI like Claude Code's treats a pasted
/// newline as text, not as "submit", so multi-line messages stay whole and
/// the separate Enter submits them.
pub fn paste_input(text: &str) -> (Vec<u8>, &'static [u8]) {
    let mut out = Vec::with_capacity(text.len() + 12);
    out.extend_from_slice(b"\x1b[200~");
    // A paste-end sequence inside the text would end the paste early.
    out.extend_from_slice(text.replace("\x1b[201~", "").as_bytes());
    out.extend_from_slice(b"\x1b[201~");
    (out, b"\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_follows_cursor_moves_and_clears() {
        let mut s = Screen::new(Size { rows: 5, cols: 20 }).unwrap();
        s.feed(b"hello\r\nworld");
        assert_eq!(s.text(), "hello\nworld");
        // Move home and overwrite; clear the rest of the screen.
        s.feed(b"\x1b[H\x1b[2JHI");
        assert_eq!(s.text(), "HI");
        s.feed(b"\r\n\x1b[31mred\x1b[0m  ");
        assert_eq!(s.last_lines(1), "red");
        assert!(Screen::new(Size { rows: 0, cols: 1 }).is_err());
    }

    #[test]
    fn wrapped_rows_read_as_one_line() {
        let mut s = Screen::new(Size { rows: 4, cols: 10 }).unwrap();
        s.feed(b"0123456789abcdef\r\nnext   \r\n");
        assert_eq!(s.text(), "0123456789abcdef\nnext");
        // A row that is merely full is not joined with the next.
        let mut s = Screen::new(Size { rows: 4, cols: 4 }).unwrap();
        s.feed(b"abcd\r\nefg");
        assert_eq!(s.text(), "abcd\nefg");
    }

    #[test]
    fn repaint_redraws_the_same_screen() {
        let size = Size { rows: 4, cols: 12 };
        let mut s = Screen::new(size).unwrap();
        s.feed(b"one\r\n\x1b[1;31mtwo\x1b[0m\r\nthree\x1b[?2004h");
        let mut copy = Screen::new(size).unwrap();
        copy.feed(b"garbage\r\nmore garbage");
        copy.feed(&s.repaint());
        assert_eq!(copy.text(), s.text());
        assert_eq!(copy.size(), size);
        assert!(copy.parser.screen().bracketed_paste());
        assert_eq!(
            copy.parser.screen().cursor_position(),
            s.parser.screen().cursor_position()
        );
        s.feed(b"\x1b[?1049hALT");
        let mut alt = Screen::new(size).unwrap();
        alt.feed(&s.repaint());
        assert!(alt.parser.screen().alternate_screen());
        assert_eq!(alt.text(), "ALT");
    }

    #[test]
    fn a_character_split_across_feeds_is_drawn_whole() {
        let bytes = "\u{a1} \u{10000}\u{10000}\u{10000}\n\u{10000}\u{a1}\u{a1}".as_bytes();
        let size = Size { rows: 1, cols: 3 };
        let mut whole = Screen::new(size).unwrap();
        whole.feed(bytes);
        for cut in 0..=bytes.len() {
            let mut split = Screen::new(size).unwrap();
            split.feed(&bytes[..cut]);
            split.feed(&bytes[cut..]);
            assert_eq!(split.text(), whole.text(), "cut at {cut}");
        }
        assert_eq!(incomplete_utf8_tail(b"ab\xe2\x82"), 2);
        assert_eq!(incomplete_utf8_tail(b"ab\xe2\x82\xac"), 0);
        assert_eq!(incomplete_utf8_tail(b"\xf0"), 1);
        assert_eq!(incomplete_utf8_tail(b"\x80\x80\x80"), 0);
        assert_eq!(incomplete_utf8_tail(b"\xc0"), 0); // never valid: not held
    }

    #[test]
    fn paste_is_bracketed_and_cannot_be_cut_short() {
        let (paste, enter) = paste_input("a\nb\x1b[201~c");
        assert_eq!(paste, b"\x1b[200~a\nbc\x1b[201~");
        assert_eq!(enter, b"\r");
    }
}
