//! Turning pty byte chunks into text: UTF-8 sequences split across chunks
//! are carried over, and escape sequences are stripped for text frames
//! (also when they are split across chunks).
//!
//! Both work on bytes and hand out borrowed slices: the recorder calls them
//! for every byte a worker prints, so nothing here allocates per chunk.

/// Decodes a byte stream chunk by chunk, keeping an incomplete trailing
/// UTF-8 sequence for the next chunk; invalid bytes become U+FFFD (one per
/// maximal invalid sequence, as [`String::from_utf8_lossy`]).
#[derive(Debug, Default, Clone)]
pub struct Utf8Carry {
    /// An incomplete sequence from the end of the last chunk (≤ 3 bytes).
    pending: Vec<u8>,
    /// `pending` joined with the start of the next chunk.
    join: Vec<u8>,
}

impl Utf8Carry {
    /// The text of `bytes` (after what was carried over).
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len() + self.pending.len());
        self.decode_with(bytes, |s| out.push_str(s));
        out
    }

    /// Calls `f` with the text of `bytes` (after what was carried over), in
    /// order, in one or more pieces; nothing is copied when `bytes` is valid
    /// UTF-8 and nothing was carried over.
    pub fn decode_with(&mut self, bytes: &[u8], mut f: impl FnMut(&str)) {
        let mut rest = bytes;
        if let Some(&lead) = self.pending.first() {
            // Finish the carried character with as few bytes of this chunk
            // as it takes, then go on in `bytes` itself.
            let carried = self.pending.len();
            let take = char_len(lead).saturating_sub(carried).min(bytes.len());
            let mut join = std::mem::take(&mut self.join);
            join.clear();
            join.append(&mut self.pending);
            join.extend_from_slice(&bytes[..take]);
            match std::str::from_utf8(&join) {
                Ok(s) => {
                    f(s);
                    rest = &bytes[take..];
                }
                Err(e) => match e.error_len() {
                    // Still incomplete: `bytes` ended first.
                    None if take == bytes.len() => {
                        self.pending.extend_from_slice(&join);
                        rest = &[];
                    }
                    // One replacement for the maximal invalid sequence
                    // (which holds every carried byte), then on after it.
                    n => {
                        f("\u{FFFD}");
                        let n = n.unwrap_or(join.len());
                        rest = &bytes[n.saturating_sub(carried).min(bytes.len())..];
                    }
                },
            }
            self.join = join;
        }
        let tail = lossy(rest, &mut f);
        self.pending.extend_from_slice(tail);
    }
}

/// Feeds the text of `bytes` to `f`, invalid sequences as U+FFFD; returns
/// an incomplete sequence at the very end (not fed).
fn lossy<'a>(mut bytes: &'a [u8], f: &mut impl FnMut(&str)) -> &'a [u8] {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                if !s.is_empty() {
                    f(s);
                }
                return &[];
            }
            Err(e) => {
                let (valid, after) = bytes.split_at(e.valid_up_to());
                if !valid.is_empty() {
                    // `from_utf8` just said these bytes are valid.
                    f(std::str::from_utf8(valid).unwrap_or_default());
                }
                match e.error_len() {
                    Some(n) => {
                        f("\u{FFFD}");
                        bytes = &after[n..];
                    }
                    None => return after,
                }
            }
        }
    }
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
    /// `ESC (` and friends: one more character.
    Charset,
}

/// What a byte is in text.
const KEEP: u8 = 0;
const ESC: u8 = 1;
const DROP: u8 = 2;
/// `0xC2`: the first byte of U+0080..U+00FF, whose first 32 are the C1
/// controls (dropped).
const C2: u8 = 3;

/// Class of each byte in text: printable ASCII, `\t`, `\n`, `\r` and the
/// bytes of non-ASCII characters are kept, other controls dropped.
const TEXT_CLASS: [u8; 256] = {
    let mut t = [KEEP; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = DROP;
        b += 1;
    }
    t[b'\t' as usize] = KEEP;
    t[b'\n' as usize] = KEEP;
    t[b'\r' as usize] = KEEP;
    t[0x1b] = ESC;
    t[0x7f] = DROP;
    t[0xc2] = C2;
    t
};

/// Bytes of the UTF-8 character starting with `lead` (1 for ASCII and for
/// continuation bytes, which valid text never starts with).
fn char_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xff => 4,
        _ => 1,
    }
}

/// Removes escape sequences (CSI, OSC and other strings, charset and
/// two-byte escapes) and control characters other than `\n`, `\r`, `\t`
/// (C1 controls included).
#[derive(Debug, Default, Clone)]
pub struct AnsiStripper {
    state: State,
}

impl AnsiStripper {
    /// The visible text of `s`, continuing any sequence left open.
    pub fn strip(&mut self, s: &str) -> String {
        let mut out = Vec::with_capacity(s.len());
        self.strip_into(s, &mut out);
        // Only whole characters are removed, so what is left is UTF-8.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends the visible text of `s` to `out` (whole characters only, so
    /// `out` stays UTF-8), continuing any sequence left open.
    pub fn strip_into(&mut self, s: &str, out: &mut Vec<u8>) {
        self.strip_with(s, |run| out.extend_from_slice(run));
    }

    /// Calls `kept` with the visible text of `s`, in order, as runs of
    /// whole characters borrowed from `s`; continues any sequence left open.
    pub fn strip_with(&mut self, s: &str, mut kept: impl FnMut(&[u8])) {
        self.drive(s.as_bytes(), |b, i| text_runs(b, i, &mut kept));
    }

    /// Appends the visible text of `s` to `out` JSON-escaped (as
    /// [`escape_json`](super::escape_json) would escape it), in one pass;
    /// continues any sequence left open.
    pub fn strip_json_into(&mut self, s: &str, out: &mut Vec<u8>) {
        self.drive(s.as_bytes(), |b, i| text_json(b, i, out));
    }

    /// The state machine over `b` (UTF-8); `text(b, i)` handles text from
    /// `i` and returns where it stopped and whether at an escape.
    fn drive(&mut self, b: &[u8], mut text: impl FnMut(&[u8], usize) -> (usize, bool)) {
        let mut i = 0;
        while i < b.len() {
            match self.state {
                State::Text => {
                    let (at, esc) = text(b, i);
                    i = at;
                    if esc {
                        self.state = State::Esc;
                    }
                }
                State::Esc => {
                    let c = b[i];
                    self.state = match c {
                        b'[' => State::Csi,
                        b']' | b'P' | b'_' | b'^' | b'X' => State::Str,
                        b'(' | b')' | b'*' | b'+' | b'#' | b'%' => State::Charset,
                        _ => State::Text,
                    };
                    i += char_len(c);
                }
                State::Csi => {
                    // Non-ASCII bytes are never final bytes.
                    match b[i..].iter().position(|c| (0x40..=0x7e).contains(c)) {
                        Some(p) => {
                            self.state = State::Text;
                            i += p + 1;
                        }
                        None => break,
                    }
                }
                State::Str => match b[i..].iter().position(|&c| c == 0x07 || c == 0x1b) {
                    Some(p) => {
                        self.state = if b[i + p] == 0x07 {
                            State::Text
                        } else {
                            State::StrEsc
                        };
                        i += p + 1;
                    }
                    None => break,
                },
                State::StrEsc => {
                    let c = b[i];
                    self.state = if c == b'\\' { State::Text } else { State::Str };
                    i += char_len(c);
                }
                State::Charset => {
                    self.state = State::Text;
                    i += char_len(b[i]);
                }
            }
        }
    }
}

/// Text from `b[i..]` up to an escape (or the end): runs of kept bytes go
/// to `kept`; returns where it stopped (after the escape) and whether it
/// stopped at an escape.
fn text_runs(b: &[u8], mut i: usize, kept: &mut impl FnMut(&[u8])) -> (usize, bool) {
    let mut run = i;
    let mut emit = |from: usize, to: usize| {
        if from < to {
            kept(&b[from..to]);
        }
    };
    while i < b.len() {
        // Skip 8 plain bytes at a time; otherwise go to the first byte that
        // may not be.
        if let Some(w) = word(b, i) {
            let m = below(w, 0x20) | byte_eq(w, 0x7f) | byte_eq(w, 0xc2);
            if m == 0 {
                i += 8;
                continue;
            }
            i += (m.trailing_zeros() / 8) as usize;
        }
        match TEXT_CLASS[b[i] as usize] {
            KEEP => i += 1,
            C2 => {
                // `b` is UTF-8: a continuation byte follows.
                let next = b.get(i + 1).copied().unwrap_or(0);
                if (0x80..=0x9f).contains(&next) {
                    emit(run, i);
                    run = i + 2;
                }
                i = (i + 2).min(b.len());
            }
            ESC => {
                emit(run, i);
                return (i + 1, true);
            }
            _ => {
                emit(run, i);
                i += 1;
                run = i;
            }
        }
    }
    emit(run, i);
    (i, false)
}

/// As [`text_runs`], the kept text JSON-escaped into `out`.
fn text_json(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> (usize, bool) {
    let mut run = i;
    while i < b.len() {
        if let Some(w) = word(b, i) {
            let m = below(w, 0x20)
                | byte_eq(w, 0x7f)
                | byte_eq(w, 0xc2)
                | byte_eq(w, b'"')
                | byte_eq(w, b'\\');
            if m == 0 {
                i += 8;
                continue;
            }
            i += (m.trailing_zeros() / 8) as usize;
        }
        let c = b[i];
        let escaped: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x1b => {
                out.extend_from_slice(&b[run..i]);
                return (i + 1, true);
            }
            0xc2 => {
                let next = b.get(i + 1).copied().unwrap_or(0);
                if (0x80..=0x9f).contains(&next) {
                    out.extend_from_slice(&b[run..i]);
                    run = i + 2;
                }
                i = (i + 2).min(b.len());
                continue;
            }
            0..0x20 | 0x7f => b"",
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&b[run..i]);
        out.extend_from_slice(escaped);
        i += 1;
        run = i;
    }
    out.extend_from_slice(&b[run..i]);
    (i, false)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The 8 bytes at `b[i..]` as one word (first byte lowest), if there are 8.
#[inline]
pub(super) fn word(b: &[u8], i: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

/// The high bit of each byte of `w` below `n` (`n` ≤ 0x80); exact up to
/// and including the lowest one set, which is all callers use.
#[inline]
pub(super) fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH
}

/// The high bit of each byte of `w` equal to `c` (exact up to the lowest).
#[inline]
pub(super) fn byte_eq(w: u64, c: u8) -> u64 {
    let v = w ^ (ONES * u64::from(c));
    v.wrapping_sub(ONES) & !v & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The stripper's rules one character at a time (the first
    /// implementation), to check the byte-level one against.
    fn reference_strip(state: &mut State, s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            *state = match (*state, c) {
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

    /// Bytes that look like terminal output: escape sequences, controls,
    /// multi-byte characters (C1 controls included) and invalid bytes.
    fn terminal_bytes() -> impl Strategy<Value = Vec<u8>> {
        let atom = prop_oneof![
            Just(b"\x1b".to_vec()),
            Just(b"\x1b[".to_vec()),
            Just(b"\x1b]".to_vec()),
            Just(b"\x07".to_vec()),
            Just(b"\\".to_vec()),
            Just(b"\r\n".to_vec()),
            Just("é→🦀\u{85}\u{9f}\u{a0}".as_bytes().to_vec()),
            Just(b"\xc2".to_vec()),
            Just(b"\xe2\x86".to_vec()),
            Just(b"\xff".to_vec()),
            "[ -~]{0,12}".prop_map(String::into_bytes),
            any::<u8>().prop_map(|b| vec![b]),
        ];
        prop::collection::vec(atom, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn decoding_in_any_chunks_is_lossy_decoding_of_the_whole(
            bytes in terminal_bytes(),
            cuts in prop::collection::vec(0usize..64, 0..8),
        ) {
            let mut d = Utf8Carry::default();
            let mut out = String::new();
            let mut rest = &bytes[..];
            for cut in cuts {
                let (a, b) = rest.split_at(cut.min(rest.len()));
                out.push_str(&d.decode(a));
                rest = b;
            }
            out.push_str(&d.decode(rest));
            // An incomplete end stays pending; the rest is decoded as a
            // whole would be (where the pending end is one U+FFFD).
            let pending = d.pending.len();
            prop_assert!(pending <= 3);
            let head = String::from_utf8_lossy(&bytes[..bytes.len() - pending]).into_owned();
            prop_assert_eq!(&out, &head);
            let whole = String::from_utf8_lossy(&bytes).into_owned();
            if pending > 0 {
                prop_assert_eq!(whole, head + "\u{fffd}");
            } else {
                prop_assert_eq!(whole, head);
            }
        }

        #[test]
        fn stripping_matches_the_rules_in_any_chunks(
            bytes in terminal_bytes(),
            cuts in prop::collection::vec(0usize..64, 0..8),
            cuts2 in prop::collection::vec(0usize..64, 0..8),
        ) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut fast = AnsiStripper::default();
            let mut reference = State::Text;
            let mut rest = text.as_str();
            let (mut got, mut want) = (String::new(), String::new());
            for cut in cuts.into_iter().chain([usize::MAX]) {
                let mut at = cut.min(rest.len());
                while !rest.is_char_boundary(at) {
                    at += 1;
                }
                let (a, b) = rest.split_at(at);
                got.push_str(&fast.strip(a));
                want.push_str(&reference_strip(&mut reference, a));
                rest = b;
            }
            prop_assert_eq!(fast.state, reference);
            // The one-pass JSON variant: the escaping of the same text.
            let mut json = AnsiStripper::default();
            let mut rest = text.as_str();
            let mut got_json = Vec::new();
            for cut in cuts2.into_iter().chain([usize::MAX]) {
                let mut at = cut.min(rest.len());
                while !rest.is_char_boundary(at) {
                    at += 1;
                }
                let (a, b) = rest.split_at(at);
                json.strip_json_into(a, &mut got_json);
                rest = b;
            }
            let mut want_json = Vec::new();
            super::super::escape_json(want.as_bytes(), &mut want_json);
            prop_assert_eq!(String::from_utf8(got_json).unwrap(), String::from_utf8(want_json).unwrap());
            prop_assert_eq!(got, want);
        }
    }

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
        // A carried start that the next chunk shows to be invalid.
        assert_eq!(d.decode(b"x\xf0\x9f"), "x");
        assert_eq!(d.decode(b"A"), "\u{fffd}A");
        assert_eq!(d.decode(b"\xe2"), "");
        assert_eq!(d.decode(b"\x86"), "");
        assert_eq!(d.decode(b"\x92\xe2\x86\x92"), "→→");
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
        assert_eq!(s.strip("a\u{85}b\u{a0}é\x1b→c\x1b(→d"), "ab\u{a0}écd");
    }
}
