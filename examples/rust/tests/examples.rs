//! Every example, run as a program against a real hub on a loopback port
//! (the orchestrator with simulated workers; the embedded hub brings its
//! own).
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::process::{Output, Stdio};
use std::time::Duration;

use futures::StreamExt;
use tubemail_client::core::WorkerName;
use tubemail_client::{Client, StreamEvent};
use tubemail_hub::{AppState, Hub, Options};

const SECRET: &str = "examples-secret";

struct TestHub {
    url: String,
    client: Client,
    state: AppState,
    _dir: tempfile::TempDir,
}

impl TestHub {
    async fn start() -> TestHub {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
        let state = hub.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));
        let client = Client::builder().url(&url).secret(SECRET).build().unwrap();
        TestHub {
            url,
            client,
            state,
            _dir: dir,
        }
    }

    /// The orchestrator with `args`, pointed at this hub with `secret`.
    fn orchestrator(&self, args: &[&str], secret: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orchestrator"));
        cmd.args(args)
            .env_remove("TUBEMAIL_TOKEN")
            .env("TUBEMAIL_HUB_URL", &self.url)
            .env("TUBEMAIL_SECRET", secret)
            .kill_on_drop(true);
        cmd
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// Runs `cmd` to its end, within 60 s.
async fn output(mut cmd: tokio::process::Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the example ends within 60 s")
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A worker that answers every message with "<name>: done <message>".
fn simulated_worker(hub: Client, name: WorkerName) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = hub.worker_stream(&name, None).await.unwrap();
        while let Some(Ok(ev)) = stream.next().await {
            if let StreamEvent::ChannelEvent { content, .. } = ev {
                let text = format!("{name}: done {content}");
                hub.outbound(&name, &text, None).await.unwrap();
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_fans_out_and_reads_the_timeline() {
    let hub = TestHub::start().await;
    let names = ["a-tm", "b-tm"];
    let workers: Vec<_> = names
        .iter()
        .map(|n| simulated_worker(hub.client.clone(), n.parse().unwrap()))
        .collect();
    let mut args = vec!["fan-out", "count the files"];
    args.extend(names);
    args.extend(["silent-tm", "--within", "3"]);
    let out = output(hub.orchestrator(&args, SECRET)).await;
    let mut expected: String = names
        .iter()
        .map(|w| format!("== {w}\n{w}: done count the files\n\n"))
        .collect();
    expected += "== silent-tm\n(no reply in time)\n\n";
    assert_eq!(stdout(&out), expected);

    let out = output(hub.orchestrator(&["timeline", "a-tm"], SECRET)).await;
    let timeline: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_once(' ').unwrap().1.to_owned())
        .collect();
    assert_eq!(
        timeline,
        [
            "inbound count the files",
            "outbound a-tm: done count the files"
        ]
    );
    workers.iter().for_each(|w| w.abort());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_reports_a_wrong_secret() {
    let hub = TestHub::start().await;
    let out = output(hub.orchestrator(&["fan-out", "x", "a-tm"], "wrong")).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unauthorized"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrator_auto_approves_only_the_configured_tools() {
    let hub = TestHub::start().await;
    let c = &hub.client;
    let w: WorkerName = "perm-tm".parse().unwrap();
    // One prompt is waiting before the approver starts, more come later.
    c.permission_request(&w, "r1", "Read", "", "")
        .await
        .unwrap();
    let _online = c.worker_stream(&w, None).await.unwrap();
    let approver = hub
        .orchestrator(
            &["auto-approve", "Read", "Grep", "--stop-after", "2"],
            SECRET,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The approver answers the backlog after it subscribed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !c
        .pending_permissions(Some(&w), true)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "r1 was not allowed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.permission_request(&w, "b1", "Bash", "rm -rf /", "")
        .await
        .unwrap();
    c.permission_request(&w, "g1", "Grep", "", "")
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), approver.wait_with_output())
        .await
        .expect("the approver stops after 2 approvals")
        .unwrap();
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        [
            "allowed Read for perm-tm (r1)",
            "left Bash for perm-tm (b1) to a human",
            "allowed Grep for perm-tm (g1)",
        ]
    );
    let left: Vec<String> = c
        .pending_permissions(Some(&w), true)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    assert_eq!(left, ["b1"], "Bash is left to a human");
}

#[tokio::test]
async fn the_embedded_hub_serves_a_round_trip_and_stops() {
    let cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_embedded_hub"));
    let out = output(cmd).await;
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("hub listening on http://127.0.0.1:"),
        "{text}"
    );
    assert_eq!(
        lines[1..],
        [
            "reply: demo-tm: done hello from the host program",
            "timeline: inbound hello from the host program",
            "timeline: outbound demo-tm: done hello from the host program",
            "hub stopped",
        ],
        "{text}"
    );
}
