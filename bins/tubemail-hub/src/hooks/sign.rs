//! HMAC-SHA256 (RFC 2104) over the workspace's `sha2`, and the
//! `X-TubeMail-Signature` header built from it.
//!
//! Written here rather than taken from the `hmac` crate: its release that
//! matches `sha2` 0.11 (`digest` 0.11) is not in the lock file yet, and
//! the construction is a dozen lines over a hash we already have.

use sha2::{Digest, Sha256};

const BLOCK: usize = 64;

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, unix: u64, body: &[u8]) -> String {
    let mut msg = Vec::with_capacity(body.len() + 24);
    msg.extend_from_slice(unix.to_string().as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(body);
    format!("t={unix},v1={}", hex(&hmac_sha256(secret.as_bytes(), &msg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 2 and 6 (a short key and one longer than a block).
    #[test]
    fn rfc_4231_vectors() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signature_header_shape() {
        let s = signature("k", 1_700_000_000, b"{}");
        let expected = hex(&hmac_sha256(b"k", b"1700000000.{}"));
        assert_eq!(s, format!("t=1700000000,v1={expected}"));
    }
}
