//! Turning pty byte chunks into text: UTF-8 sequences split across chunks
//! are carried over, and escape sequences are stripped for text frames
//! (also when they are split across chunks).

/// Decodes a byte stream chunk by chunk, keeping an incomplete trailing
/// UTF-8 sequence for the next chunk; invalid bytes become U+FFFD.
#[derive(Debug, Default, Clone)]
pub struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    /// The text of `bytes` (after what was carried over).
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(bytes);
        let keep = match std::str::from_utf8(&data) {
            Ok(_) => 0,
            // An incomplete sequence at the very end: wait for the rest.
            Err(e) if e.error_len().is_none() => data.len() - e.valid_up_to(),
            Err(_) => incomplete_tail(&data),
        };
        self.pending = data.split_off(data.len() - keep);
        String::from_utf8_lossy(&data).into_owned()
    }
}

/// Length of an incomplete (but so far valid) sequence at the end.
fn incomplete_tail(data: &[u8]) -> usize {
    for back in 1..=3.min(data.len()) {
        let b = data[data.len() - back];
        if b & 0xC0 != 0x80 {
            let need = match b {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => return 0,
            };
            return if back < need { back } else { 0 };
        }
    }
    0
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    Esc,
    /// `ESC [` … final byte.
    Csi,
    /// `ESC ]`, `ESC P`, `ESC _`, `ESC ^`, `ESC X` … BEL or `ESC \`.
    Str,
    /// `ESC` inside a string: `\` ends it.
    StrEsc,
    /// `ESC (` and friends: one more byte.
    Charset,
}

/// Removes escape sequences (CSI, OSC and other strings, charset and
/// two-byte escapes) and control characters other than `\n`, `\r`, `\t`.
#[derive(Debug, Default, Clone)]
pub struct AnsiStripper {
    state: State,
}

impl AnsiStripper {
    /// The visible text of `s`, continuing any sequence left open.
    pub fn strip(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            self.state = match (self.state, c) {
                (State::Text, '\x1b') => State::Esc,
                (State::Text, '\n' | '\r' | '\t') => {
                    out.push(c);
                    State::Text
                }
                (State::Text, c) if c.is_control() => State::Text,
                (State::Text, c) => {
                    out.push(c);
                    State::Text
                }
                (State::Esc, '[') => State::Csi,
                (State::Esc, ']' | 'P' | '_' | '^' | 'X') => State::Str,
                (State::Esc, '(' | ')' | '*' | '+' | '#' | '%') => State::Charset,
                (State::Esc, _) => State::Text,
                (State::Csi, '\x40'..='\x7e') => State::Text,
                (State::Csi, _) => State::Csi,
                (State::Str, '\x07') => State::Text,
                (State::Str, '\x1b') => State::StrEsc,
                (State::Str, _) => State::Str,
                (State::StrEsc, '\\') => State::Text,
                (State::StrEsc, _) => State::Str,
                (State::Charset, _) => State::Text,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_chunks() {
        let mut d = Utf8Carry::default();
        let bytes = "héllo → ok".as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(1) {
            out.push_str(&d.decode(chunk));
        }
        assert_eq!(out, "héllo → ok");
        assert_eq!(d.decode(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(d.decode(b"\xe2\x86"), "");
        assert_eq!(d.decode(b"\x92!"), "→!");
    }

    #[test]
    fn strips_sequences_even_when_split() {
        let mut s = AnsiStripper::default();
        assert_eq!(
            s.strip("\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\x1b(B!\x07"),
            "red ok!"
        );
        assert_eq!(s.strip("a\x1b["), "a");
        assert_eq!(s.strip("?2004hb\x1b]8;;http://x\x1b"), "b");
        assert_eq!(s.strip("\\link\r\n"), "link\r\n");
        assert_eq!(s.strip("\x1b7x\x1b8"), "x");
    }
}
