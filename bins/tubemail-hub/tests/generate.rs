//! `tubemail-hub --generate WHAT` (hidden): what a release archive packs.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::process::Command;

#[test]
fn completions_and_the_man_page() {
    let cases = [
        ("completions-bash", "complete -F"),
        ("completions-zsh", "#compdef tubemail-hub"),
        ("completions-fish", "complete -c tubemail-hub"),
        ("man", ".TH tubemail-hub 1"),
    ];
    for (what, head) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_tubemail-hub"))
            .args(["--generate", what])
            .env_remove("TUBEMAIL_SECRET")
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(head), "{what}: {text}");
        assert!(text.contains("bind"), "{what}: {text}");
        assert!(out.stderr.is_empty(), "{what}: {:?}", out.stderr);
        if what == "man" {
            assert!(
                !text.contains("\\-\\-generate"),
                "hidden from the man page: {text}"
            );
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_tubemail-hub"))
        .args(["--generate", "completions-tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("completions-fish"));
}
