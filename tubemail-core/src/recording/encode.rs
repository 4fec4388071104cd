//! The recorder's lines, written straight into output buffers: a `.cast`
//! output event and a text frame per piece of output, JSON-escaped byte for
//! byte as `serde_json` would, with no allocation per piece.

use std::io::Write;

use super::text::{AnsiStripper, Utf8Carry, below, byte_eq, word};

/// What a byte becomes in a JSON string: `0` itself, `b'u'` `\u00XX`,
/// anything else a backslash and that byte.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` JSON-escaped (without quotes) to `out`, exactly as
/// `serde_json` escapes strings: `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`,
/// other controls as `\u00xx`, everything else (non-ASCII and DEL
/// included) as is.
pub fn escape_json(s: &[u8], out: &mut Vec<u8>) {
    out.reserve(s.len());
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        // Skip 8 clean bytes at a time; otherwise go to the first byte
        // that may need escaping.
        if let Some(w) = word(s, i) {
            let m = below(w, 0x20) | byte_eq(w, b'"') | byte_eq(w, b'\\');
            if m == 0 {
                i += 8;
                continue;
            }
            i += (m.trailing_zeros() / 8) as usize;
        }
        let b = s[i];
        let e = ESCAPE[b as usize];
        if e != 0 {
            out.extend_from_slice(&s[start..i]);
            if e == b'u' {
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
            } else {
                out.extend_from_slice(&[b'\\', e]);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Turns one worker's output into recording lines; keeps what spans pieces
/// (a split UTF-8 character, an open escape sequence).
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    utf8: Utf8Carry,
    strip: AnsiStripper,
}

impl Encoder {
    /// Appends the lines of `piece` (output `t` seconds into the recording,
    /// at `iso`, a frame time such as `2026-05-17T12:34:56.789Z`) to the
    /// buffers: `[t, "o", text]` to `cast` when there is text, and
    /// `{"t", "delta"}` (with `"gap_bytes"` when `gap` is set) to `frames`
    /// when there is visible text or a gap.
    pub fn encode(
        &mut self,
        piece: &[u8],
        t: f64,
        iso: &str,
        gap: Option<u64>,
        cast: &mut Vec<u8>,
        frames: &mut Vec<u8>,
    ) {
        let mark = cast.len();
        // Writing into a Vec cannot fail.
        let _ = write!(cast, "[{t:.6}, \"o\", \"");
        let body = cast.len();
        // The frame is written as the text comes and taken back if there
        // is none (and no gap to report).
        let frame_mark = frames.len();
        frames.extend_from_slice(b"{\"t\":\"");
        escape_json(iso.as_bytes(), frames);
        frames.extend_from_slice(b"\",\"delta\":\"");
        let delta = frames.len();
        let strip = &mut self.strip;
        self.utf8.decode_with(piece, |s| {
            escape_json(s.as_bytes(), cast);
            strip.strip_json_into(s, frames);
        });
        if cast.len() == body {
            // Nothing decoded yet (a split character): no empty event.
            cast.truncate(mark);
        } else {
            cast.extend_from_slice(b"\"]\n");
        }
        if frames.len() == delta && gap.is_none() {
            frames.truncate(frame_mark);
        } else {
            frames.push(b'"');
            if let Some(gap) = gap {
                let _ = write!(frames, ",\"gap_bytes\":{gap}");
            }
            frames.extend_from_slice(b"}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Frame;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn escaping_any_text_is_serde_jsons(
            text in "(\\PC|[\\x00-\\x1f\\x7f\"\\\\]|\\x1b\\[[0-9;]*m|[a-z ]{8,20}){0,60}"
        ) {
            let mut out = b"\"".to_vec();
            escape_json(text.as_bytes(), &mut out);
            out.push(b'"');
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
        }
    }

    #[test]
    fn escapes_as_serde_json_does() {
        let mut all: Vec<u8> = (0u8..0x80).collect();
        all.extend_from_slice("é → ✳ 🦀 \u{85}\u{2028}".as_bytes());
        let s = String::from_utf8(all).unwrap();
        for text in [
            s.as_str(),
            "",
            "plain ascii that is longer than a word",
            "\x1b[1m\"quoted\"\\\x1b[0m\r\n",
        ] {
            let mut out = b"\"".to_vec();
            escape_json(text.as_bytes(), &mut out);
            out.push(b'"');
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn lines_parse_and_carry_across_pieces() {
        let mut enc = Encoder::default();
        let (mut cast, mut frames) = (Vec::new(), Vec::new());
        let iso = "2026-05-17T12:34:56.789Z";
        let text = "\x1b[1;32mgrün → ok\x1b[0m\r\n";
        // Cut inside 'ü'.
        let (a, b) = text.as_bytes().split_at(text.find('ü').unwrap() + 1);
        enc.encode(a, 0.25, iso, Some(7), &mut cast, &mut frames);
        enc.encode(&b[..1], 0.5, iso, None, &mut cast, &mut frames);
        enc.encode(&b[1..], 0.5, iso, None, &mut cast, &mut frames);
        let cast = String::from_utf8(cast).unwrap();
        let events: Vec<serde_json::Value> = cast
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            cast.lines().next().unwrap(),
            r#"[0.250000, "o", "\u001b[1;32mgr"]"#
        );
        let joined: String = events.iter().map(|e| e[2].as_str().unwrap()).collect();
        assert_eq!(joined, text);
        assert!(events.iter().all(|e| e[1] == "o"));
        let frames: Vec<Frame> = String::from_utf8(frames)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(frames[0].gap_bytes, Some(7));
        assert_eq!(frames[0].t, iso);
        let joined: String = frames.iter().map(|f| f.delta.as_str()).collect();
        assert_eq!(joined, "grün → ok\r\n");
        // Same bytes as serde_json writes a frame.
        let mut one = Vec::new();
        Encoder::default().encode(b"a\"b", 1.0, iso, Some(3), &mut Vec::new(), &mut one);
        let want = Frame {
            t: iso.into(),
            delta: "a\"b".into(),
            gap_bytes: Some(3),
        };
        assert_eq!(
            String::from_utf8(one).unwrap(),
            serde_json::to_string(&want).unwrap() + "\n"
        );
    }
}
