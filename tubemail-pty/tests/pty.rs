//! Real ptys: spawn, output, input, resize, signals, stop, fds, screen.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tubemail_pty::{Pty, PtyCommand, Screen, Size, paste_input};

/// Reads until `want` appears in the output (or the output ends); fails
/// after 10 s with what was read.
async fn read_until(pty: &Pty, out: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !out.contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, pty.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {want:?} within 10 s; got {out:?}"))
            .unwrap();
        assert!(n > 0, "output ended before {want:?}; got {out:?}");
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

fn sh(script: &str) -> PtyCommand {
    PtyCommand::new("sh").arg("-c").arg(script)
}

#[tokio::test]
async fn runs_in_its_own_session_on_the_pty() {
    let pty = Pty::spawn(&sh("echo hello; tty; stty size; ps -o sid= -p $$")).unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "24 80").await;
    assert!(out.contains("hello"), "{out}");
    assert!(out.contains("/dev/pts/"), "stdin is the pty: {out}");
    let status = pty.wait().await.unwrap();
    assert!(status.success());
    // The child was the session leader: its session id is its pid.
    read_until(&pty, &mut out, &pty.pid().to_string()).await;
    // After the child is gone and the output drained, reads end.
    let mut buf = [0u8; 64];
    while pty.read(&mut buf).await.unwrap() > 0 {}
}

#[tokio::test]
async fn input_reaches_the_child() {
    let pty = Pty::spawn(&sh("read line; echo got:$line")).unwrap();
    pty.write_all(b"xyz\r").await.unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "got:xyz").await;
    assert!(pty.wait().await.unwrap().success());
}

#[tokio::test]
async fn resize_reaches_the_child() {
    let pty = Pty::spawn(
        &sh("trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done")
            .size(Size { rows: 24, cols: 80 }),
    )
    .unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "ready").await;
    pty.resize(Size {
        rows: 40,
        cols: 120,
    })
    .unwrap();
    assert_eq!(
        pty.size().unwrap(),
        Size {
            rows: 40,
            cols: 120
        }
    );
    read_until(&pty, &mut out, "40 120").await;
    assert!(pty.resize(Size { rows: 0, cols: 5 }).is_err());
    pty.stop(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test]
async fn ctrl_c_goes_to_the_foreground_group() {
    let pty = Pty::spawn(&sh(
        "trap 'echo caught; exit 3' INT; echo ready; while :; do sleep 0.05; done",
    ))
    .unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "ready").await;
    pty.signal(Signal::SIGINT).unwrap();
    read_until(&pty, &mut out, "caught").await;
    assert_eq!(pty.wait().await.unwrap().code(), Some(3));
}

#[tokio::test]
async fn stop_escalates_to_sigkill_for_the_whole_group() {
    // The shell ignores SIGTERM; its background child is in the same group.
    let pty = Pty::spawn(&sh("trap '' TERM; sleep 30 & echo ready:$!; wait")).unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "ready:").await;
    read_until(&pty, &mut out, "\n").await;
    let bg: i32 = out
        .split("ready:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let started = Instant::now();
    let status = pty.stop(Duration::from_millis(300)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    // The background child went with the group (it is gone or a zombie
    // awaiting its reaper).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{bg}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if matches!(state, None | Some("Z" | "X")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "background child {bg} survived: {stat}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn signal_group_reaches_what_the_child_left_behind() {
    // The shell leaves at once; its background child stays in the group
    // and keeps the terminal open.
    let pty = Pty::spawn(&sh("sleep 30 & echo ready:$!")).unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "ready:").await;
    assert!(pty.wait().await.unwrap().success());
    assert!(
        pty.signal_group(Signal::SIGTERM).unwrap(),
        "the group still has the background child"
    );
    // The output ends once its last holder, the background child, is gone.
    let mut buf = [0u8; 256];
    tokio::time::timeout(Duration::from_secs(5), async {
        while pty.read(&mut buf).await.unwrap() > 0 {}
    })
    .await
    .expect("the background child died of SIGTERM");

    // A group with nobody left: the signal reaches no one.
    let pty = Pty::spawn(&sh("exit 0")).unwrap();
    assert!(pty.wait().await.unwrap().success());
    assert!(!pty.signal_group(Signal::SIGTERM).unwrap());
}

#[tokio::test]
async fn no_pty_descriptor_leaks_into_the_child() {
    // List every fd of the child that points at a pty, except 0/1/2.
    let script = "for f in /proc/$$/fd/*; do n=${f##*/}; case $n in 0|1|2) ;; *) t=$(readlink $f); case $t in /dev/pts/*|/dev/ptmx|*ptmx*) echo LEAK:$n:$t;; esac;; esac; done; echo done";
    let pty = Pty::spawn(&sh(script)).unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "done").await;
    assert!(!out.contains("LEAK"), "{out}");
    pty.wait().await.unwrap();
}

#[tokio::test]
async fn screen_model_and_bracketed_paste() {
    // The child redraws: clear screen, home, write. The screen shows only the result.
    let pty = Pty::spawn(&sh("printf 'old text\\033[2J\\033[Hnew\\n'; printf '\\033[?2004h'; read -r line; echo \"[$line]\"")).unwrap();
    let mut screen = Screen::new(Size::default()).unwrap();
    let mut out = String::new();
    read_until(&pty, &mut out, "\x1b[?2004h").await;
    let (paste, enter) = paste_input("pasted text");
    pty.write_all(&paste).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    pty.write_all(enter).await.unwrap();
    read_until(&pty, &mut out, "]").await;
    screen.feed(out.as_bytes());
    let text = screen.text();
    assert!(!text.contains("old text"), "{text}");
    assert!(text.starts_with("new"), "{text}");
    // The shell is not a bracketed-paste reader, so it sees the markers
    // around the text: the framing reached the child intact.
    assert!(out.contains("200~pasted text"), "{out:?}");
    pty.wait().await.unwrap();
}
