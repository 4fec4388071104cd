//! What permission rules add to the prompt path: the time to decide a
//! prompt against 1 000 rules, compiled once, and `permission_request`
//! end to end (real SQLite file in a temp dir) with no rules and with them.
//!
//! ```sh
//! cargo run --release -p tubemail-core --example rule_eval -- [rules] [iterations]
//! ```
//!
//! Three rule lists of `rules` rules (default 1 000), each ending in no
//! match for the prompt, so every rule is tried:
//! - `mixed`: worker globs, exact tools, project globs and input regexes,
//!   as an operator would write them;
//! - `worst`: every rule matches the worker and tool (`*`, `Bash`), so
//!   every rule's input regex runs against the command;
//! - `first`: the prompt matches rule 0 (the common fast path).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tubemail_core::api::PermissionRequestBody;
use tubemail_core::engine::{Engine, EngineConfig, RuleSet};
use tubemail_core::store::SqliteStore;
use tubemail_core::{HubConfig, PermissionRule, RuleVerdict, WorkerName};

type Error = Box<dyn std::error::Error>;

fn rule(
    worker: String,
    tool: &str,
    project: Option<String>,
    input: Option<String>,
) -> PermissionRule {
    PermissionRule {
        id: String::new(),
        name: String::new(),
        worker,
        project,
        tool: tool.into(),
        input,
        verdict: RuleVerdict::Allow,
        timeout_secs: None,
        default_answer: None,
    }
}

fn mixed(n: usize) -> Vec<PermissionRule> {
    const TOOLS: [&str; 5] = ["Bash", "Edit", "Write", "Read", "mcp__*"];
    (0..n)
        .map(|i| {
            rule(
                format!("team{i}-*"),
                TOOLS[i % TOOLS.len()],
                (i % 3 == 0).then(|| format!("/src/project{i}/*")),
                (i % 2 == 0).then(|| format!(r"^(git|cargo) (status|build|test) --p{i}\b")),
            )
        })
        .collect()
}

fn worst(n: usize) -> Vec<PermissionRule> {
    (0..n)
        .map(|i| {
            rule(
                "*".into(),
                "Bash",
                None,
                Some(format!(r"^(rm|curl|wget) .*(--force|-rf) ?/?tmp{i}[a-z]*$")),
            )
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<34} n={:<6} p50={:.4} ms  p99={:.4} ms  max={:.4} ms",
        lat.len(),
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0)),
    );
}

fn decide_bench(name: &str, set: &RuleSet, worker: &str, iterations: usize) {
    let config = HubConfig::default();
    let input = r#"{"command":"git push origin main --force","description":"push the branch"}"#;
    let mut lat = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let d = set.decide(worker, "/home/me/app", "Bash", input, &config);
        lat.push(t.elapsed());
        std::hint::black_box(d);
    }
    report(name, lat);
}

async fn request_bench(rules: Vec<PermissionRule>, name: &str, n: usize) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("tubemail.db"))?;
    let e = Engine::start(
        Arc::new(store),
        EngineConfig::new(dir.path().join("hub-config.json")),
    )?;
    e.set_rules(rules).await?;
    let worker = WorkerName::new("w1")?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let ask = PermissionRequestBody {
            request_id: format!("r{i}"),
            tool_name: "Bash".into(),
            description: String::new(),
            input_preview: r#"{"command":"git push"}"#.into(),
        };
        let t = Instant::now();
        e.permission_request(&worker, ask).await?;
        lat.push(t.elapsed());
        // Keep the pending list below its cap.
        e.resolve_permission(&worker, &format!("r{i}"), tubemail_core::Behavior::Deny)
            .await?;
    }
    e.shutdown().await;
    report(name, lat);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let iterations: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);

    let t = Instant::now();
    let set = RuleSet::compile(mixed(n))?;
    println!(
        "compiled {n} mixed rules in {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    decide_bench(
        &format!("decide, mixed, {n} rules, no match"),
        &set,
        "build-7",
        iterations,
    );
    let mut first = mixed(n);
    first[0].worker = "build-*".into();
    first[0].tool = "Bash".into();
    first[0].input = Some("^git push".into());
    let first = RuleSet::compile(first)?;
    decide_bench(
        &format!("decide, first of {n} matches"),
        &first,
        "build-7",
        iterations,
    );
    let t = Instant::now();
    let worst_set = RuleSet::compile(worst(n))?;
    println!(
        "compiled {n} worst-case rules in {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    decide_bench(
        &format!("decide, worst, {n} regexes run"),
        &worst_set,
        "build-7",
        iterations / 10,
    );

    let requests = 2000;
    request_bench(Vec::new(), "permission_request, no rules", requests).await?;
    request_bench(
        mixed(n),
        &format!("permission_request, {n} mixed"),
        requests,
    )
    .await?;
    request_bench(
        worst(n),
        &format!("permission_request, {n} worst"),
        requests,
    )
    .await?;
    Ok(())
}
