//! What the terminal shows (a compact screen model on the `vte` parser,
//! see `vt`) and how to type into a TUI.

use crate::vt::Term;
use crate::{Error, Result, Size};

/// A model of the screen, fed with the pty's output: the visible rows
/// (no scrollback), colours and attributes, the cursor, the alternate
/// screen and input modes.
pub struct Screen {
    parser: vte::Parser,
    term: Term,
    /// Bumped by every feed and resize.
    generation: u64,
    /// The start of a UTF-8 character cut off at the end of the last feed,
    /// held back until the rest arrives.
    partial: Vec<u8>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.term.size();
        f.debug_struct("Screen")
            .field("rows", &rows)
            .field("cols", &cols)
            .finish_non_exhaustive()
    }
}

fn dims(size: Size) -> Result<(u16, u16)> {
    if size.rows == 0 || size.cols == 0 {
        return Err(Error::ZeroSize);
    }
    Ok((size.rows, size.cols))
}

impl Screen {
    /// An empty screen of `size`.
    pub fn new(size: Size) -> Result<Screen> {
        let (rows, cols) = dims(size)?;
        Ok(Screen {
            parser: vte::Parser::new(),
            term: Term::new(rows, cols),
            generation: 0,
            partial: Vec::new(),
        })
    }

    /// Applies output bytes (escape sequences included). A UTF-8
    /// character split across two feeds is applied whole with the second.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.partial.is_empty() {
            let (complete, rest) = bytes.split_at(bytes.len() - incomplete_utf8_tail(bytes));
            self.parser.advance(&mut self.term, complete);
            self.partial.extend_from_slice(rest);
        } else {
            let mut data = std::mem::take(&mut self.partial);
            data.extend_from_slice(bytes);
            let (complete, rest) = data.split_at(data.len() - incomplete_utf8_tail(&data));
            self.parser.advance(&mut self.term, complete);
            self.partial = rest.to_vec();
        }
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
        self.term.resize(rows, cols);
        self.generation += 1;
        Ok(())
    }

    /// The size the model has.
    pub fn size(&self) -> Size {
        let (rows, cols) = self.term.size();
        Size { rows, cols }
    }

    /// Escape sequences that redraw this screen on a freshly reset
    /// terminal of the same size: the main screen, and the alternate one
    /// over it when it is in use, contents with colours and attributes,
    /// scroll region, cursor (position, visibility, saved position) and
    /// input modes (bracketed paste, application keys, mouse reporting).
    pub fn repaint(&self) -> Vec<u8> {
        self.term.repaint()
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
        let mut lines = Vec::new();
        let mut current = String::new();
        for (row, wrapped) in self.term.rows() {
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
        assert!(copy.term.bracketed_paste());
        assert_eq!(copy.term.cursor(), s.term.cursor());
        s.feed(b"\x1b[?1049hALT");
        let mut alt = Screen::new(size).unwrap();
        alt.feed(&s.repaint());
        assert!(alt.term.alternate_screen());
        assert_eq!(alt.text(), "ALT");
    }

    #[test]
    fn repaint_keeps_modes_region_saved_cursor_and_the_main_screen() {
        let size = Size { rows: 5, cols: 10 };
        let mut s = Screen::new(size).unwrap();
        s.feed(b"main\x1b[2;4r\x1b[?1h\x1b[?25l\x1b[?1002h\x1b[?1006h\x1b=\x1b[?2004h");
        // A saved cursor; the cursor past the last column of a row outside
        // the scroll region (the next character wraps).
        s.feed(b"\x1b[3;3H\x1b[1;44m\x1b7\x1b[0m\x1b[5;1H0123456789");
        let mut copy = Screen::new(size).unwrap();
        copy.feed(b"junk\x1b[?1049h\x1b[?1000h\x1b[?1l\x1b[?9h");
        copy.feed(&s.repaint());
        assert_eq!(copy.text(), s.text());
        assert_eq!(copy.term.cursor(), s.term.cursor());
        assert_eq!(copy.term.modes(), s.term.modes());
        assert!(!copy.term.alternate_screen());
        // Both go on the same way.
        for t in [&mut s, &mut copy] {
            t.feed(b"X\x1b8Y\r\n\n\n\nZ");
        }
        assert_eq!(copy.text(), s.text());
        assert_eq!(copy.repaint(), s.repaint());
        // The alternate screen is drawn over the main one, which is there
        // when the program leaves it.
        s.feed(b"\x1b[?1049h\x1b[HALT");
        let mut copy = Screen::new(size).unwrap();
        copy.feed(&s.repaint());
        assert_eq!(copy.text(), "ALT");
        for t in [&mut s, &mut copy] {
            t.feed(b"\x1b[?1049l");
        }
        assert_eq!(copy.text(), s.text());
        assert_eq!(copy.term.cursor(), s.term.cursor());
    }

    #[test]
    fn wide_and_combining_characters() {
        let mut s = Screen::new(Size { rows: 3, cols: 5 }).unwrap();
        // Two columns each; the third does not fit and goes to the next
        // row whole (which, the last column being empty, is not joined).
        s.feed("宽字宽e\u{301}".as_bytes());
        assert_eq!(s.text(), "宽字\n宽e\u{301}");
        assert_eq!(s.term.cursor(), (1, 3));
        // Overwriting half of a wide character clears the other half.
        s.feed(b"\x1b[1;2Hx");
        assert_eq!(s.last_lines(3).lines().next(), Some(" x字"));
    }

    #[test]
    fn the_largest_size_wraps_without_overflow() {
        let mut s = Screen::new(Size {
            rows: 2,
            cols: u16::MAX,
        })
        .unwrap();
        // A wide character in the last column goes to the next row.
        s.feed(format!("\x1b[1;{}H宽x宽", u16::MAX).as_bytes());
        assert_eq!(s.text(), "\n宽x宽");
        s.feed(b"\x1b[999;999999HA\x1b[999b\x1b[65535X\x1b[65535@\x1b[65535P");
        assert!(s.text().lines().count() <= 2);
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
