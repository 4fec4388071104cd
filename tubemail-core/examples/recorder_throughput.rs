//! How fast the recorder turns pty output into its files: each stage on
//! its own (UTF-8 decoding, escape stripping, the `.cast` events, the text
//! frames) and the whole recorder (its thread, queue and files in a temp
//! dir), in MiB of pty output per CPU-second of the threads doing it (the
//! figure per core, steady on a shared machine) and by the wall clock.
//!
//! ```sh
//! cargo run --release -p tubemail-core --example recorder_throughput -- [MiB] [runs]
//! ```
//!
//! The input is a deterministic mix of what terminals print: scrolling log
//! lines, coloured compiler and `ls` output with some non-ASCII text, and
//! full-screen TUI redraws (cursor moves, erases, truecolor, box drawing).

use std::time::{Duration, Instant, SystemTime};

use tubemail_core::WorkerName;
use tubemail_core::recording::{
    AnsiStripper, Encoder, Recorder, RecorderLimits, Utf8Carry, escape_json, iso_millis,
};

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "request",
    "handled",
    "worker",
    "timeline",
    "delivered",
    "queue",
    "ticket",
    "viewer",
    "resize",
    "snapshot",
    "manager",
    "fn",
    "let",
    "match",
    "impl",
    "error",
    "warning",
    "ok",
];

fn scrolling(rng: &mut Rng, out: &mut Vec<u8>) {
    let n = rng.below(1000);
    let words = (0..3 + rng.below(10))
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ");
    out.extend_from_slice(
        format!(
            "2026-11-25T23:14:{:02}.{n:03}Z  INFO tubemail_hub::routes: {words} path=/api/workers/w{n}-tm status=200 took={}.{:02}ms\r\n",
            n % 60,
            n % 7,
            n % 100
        )
        .as_bytes(),
    );
}

fn coloured(rng: &mut Rng, out: &mut Vec<u8>) {
    let n = rng.below(1000);
    let line = match rng.below(4) {
        0 => format!("\x1b[1m\x1b[32m   Compiling\x1b[0m crate-{n} v0.{n}.1 (/work/crate-{n})\r\n"),
        1 => format!(
            "\x1b[0m\x1b[01;34mdir-{n}\x1b[0m  \x1b[01;32mrun-{n}.sh\x1b[0m  notes-{n}.md  \x1b[01;35mimage-{n}.png\x1b[0m\r\n"
        ),
        2 => format!(
            "\x1b[1m\x1b[33mwarning\x1b[0m\x1b[1m: unused variable: `x{n}`\x1b[0m\r\n  \x1b[1m\x1b[34m-->\x1b[0m src/lib.rs:{n}:9\r\n"
        ),
        _ => format!("  \x1b[32m✓\x1b[0m test {n} passed → déjà vu ({n} ms)\r\n"),
    };
    out.extend_from_slice(line.as_bytes());
}

fn redraw(rng: &mut Rng, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\x1b[?2026h\x1b[?25l");
    let top = 1 + rng.below(10);
    for row in top..top + 6 {
        let n = rng.below(1000);
        let r = 100 + rng.below(150);
        let text = format!(
            "\x1b[{row};1H\x1b[2K\x1b[38;2;{r};119;87m│\x1b[0m > {} {n}\x1b[48;5;236m{}\x1b[0m\x1b[38;2;{r};119;87m│\x1b[0m",
            WORDS[(n as usize) % WORDS.len()],
            " ".repeat((n % 30) as usize)
        );
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(
        "\x1b[20;1H\x1b[2K\x1b[2m╰──────────────────────────────────────╯\x1b[0m\x1b]0;✳ Claude Code\x07\x1b[?25h\x1b[?2026l"
            .as_bytes(),
    );
}

/// `mib` MiB of mixed terminal output.
fn input(mib: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity((mib << 20) + 4096);
    while out.len() < mib << 20 {
        let kind = rng.below(3);
        let end = out.len() + 4096;
        while out.len() < end {
            match kind {
                0 => scrolling(&mut rng, &mut out),
                1 => coloured(&mut rng, &mut out),
                _ => redraw(&mut rng, &mut out),
            }
        }
    }
    out.truncate(mib << 20);
    out
}

/// CPU time a thread has run, from `/proc/.../schedstat` (nanoseconds);
/// `task` is `thread-self` or `self/task/<tid>`.
fn cpu(task: &str) -> Duration {
    std::fs::read_to_string(format!("/proc/{task}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Tasks (`self/task/<tid>`) of this process named `name`.
fn tasks(name: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let tid = e.ok()?.file_name().into_string().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
        // The kernel keeps 15 bytes of a thread's name.
        (comm.trim() == &name[..name.len().min(15)]).then(|| format!("self/task/{tid}"))
    })
    .collect()
}

/// Wall and CPU time of some threads from a start.
struct Clock {
    wall: Instant,
    threads: Vec<(String, Duration)>,
}

impl Clock {
    fn start(threads: &[String]) -> Clock {
        Clock {
            wall: Instant::now(),
            threads: threads.iter().map(|t| (t.clone(), cpu(t))).collect(),
        }
    }

    /// MiB/s of `bytes` by the wall clock and per CPU-second of the threads.
    fn rates(&self, bytes: usize) -> (f64, f64) {
        let wall = self.wall.elapsed();
        let busy: Duration = self
            .threads
            .iter()
            .map(|(t, c)| cpu(t).saturating_sub(*c))
            .sum();
        (rate(bytes, wall), rate(bytes, busy))
    }
}

fn rate(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / f64::from(1 << 20) / took.as_secs_f64().max(1e-9)
}

/// All runs, the best per CPU-second first.
fn runs(n: usize, mut f: impl FnMut() -> (f64, f64)) -> Vec<(f64, f64)> {
    let mut all: Vec<(f64, f64)> = (0..n).map(|_| f()).collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    all
}

fn show(name: &str, all: &[(f64, f64)]) {
    let per_cpu: Vec<String> = all.iter().map(|r| format!("{:.0}", r.1)).collect();
    let wall: Vec<String> = all.iter().map(|r| format!("{:.0}", r.0)).collect();
    println!(
        "{name:<38} {:>5.0} MiB per CPU-second (runs: {}; by the wall clock: {} MiB/s)",
        all.first().map_or(0.0, |r| r.1),
        per_cpu.join(", "),
        wall.join(", ")
    );
}

const PIECE: usize = 16 << 10;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let n: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let me = vec!["thread-self".to_owned()];
    let data = input(mib);
    println!("{mib} MiB of mixed terminal output, {n} runs each");

    let mut sink = Vec::with_capacity(4 << 20);
    show(
        "UTF-8 decoding",
        &runs(n, || {
            let mut carry = Utf8Carry::default();
            let t = Clock::start(&me);
            let mut n = 0;
            for piece in data.chunks(PIECE) {
                carry.decode_with(piece, |s| n += s.len());
            }
            assert_eq!(n, data.len());
            t.rates(data.len())
        }),
    );
    // The stripper takes whole characters: the pieces decoded beforehand.
    let texts: Vec<String> = {
        let mut carry = Utf8Carry::default();
        data.chunks(PIECE).map(|p| carry.decode(p)).collect()
    };
    show(
        "escape stripping",
        &runs(n, || {
            let mut strip = AnsiStripper::default();
            let t = Clock::start(&me);
            for text in &texts {
                sink.clear();
                strip.strip_into(text, &mut sink);
            }
            t.rates(data.len())
        }),
    );
    show(
        "JSON escaping of the output",
        &runs(n, || {
            let t = Clock::start(&me);
            for text in &texts {
                sink.clear();
                escape_json(text.as_bytes(), &mut sink);
            }
            t.rates(data.len())
        }),
    );
    let iso = iso_millis(SystemTime::now());
    show(
        "encoder: .cast + .frames.jsonl lines",
        &runs(n, || {
            let mut enc = Encoder::default();
            let (mut cast, mut frames) = (Vec::with_capacity(1 << 20), Vec::with_capacity(1 << 20));
            let mut total = 0;
            let t = Clock::start(&me);
            for piece in data.chunks(PIECE) {
                enc.encode(piece, 1.5, &iso, None, &mut cast, &mut frames);
                if cast.len() + frames.len() > 1 << 20 {
                    total += cast.len() + frames.len();
                    cast.clear();
                    frames.clear();
                }
            }
            std::hint::black_box(total);
            t.rates(data.len())
        }),
    );

    // The whole recorder: queue, writer thread, files. Flushing every
    // 8 MiB keeps the queue under its budget, so nothing is dropped.
    let w: WorkerName = "bench-tm".parse()?;
    let limits = RecorderLimits {
        max_bytes_per_file: 1 << 40,
        keep_files: 1,
    };
    let mut results = Vec::new();
    for post in [64 << 10, 1 << 20] {
        let mut all = Vec::new();
        for _ in 0..n {
            let dir = tempfile::tempdir()?;
            let before = tasks("tubemail-recorder");
            let rec = Recorder::start(dir.path())?;
            // The thread names itself once it runs.
            let mut threads = Vec::new();
            for _ in 0..1000 {
                threads = tasks("tubemail-recorder");
                threads.retain(|t| !before.contains(t));
                if !threads.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            if threads.is_empty() {
                return Err("the recorder thread was not found".into());
            }
            threads.extend(me.iter().cloned());
            let chunks: Vec<bytes::Bytes> = data
                .chunks(post)
                .map(bytes::Bytes::copy_from_slice)
                .collect();
            let t = Clock::start(&threads);
            for (i, c) in chunks.into_iter().enumerate() {
                if !rec.output(&w, c, limits) {
                    return Err("the recorder dropped output".into());
                }
                if (i + 1) * post % (8 << 20) == 0 {
                    rec.flush().await;
                }
            }
            rec.flush().await;
            all.push(t.rates(data.len()));
            let st = rec.status(&w, true, limits)?;
            results.push(st.files.iter().map(|f| f.size_bytes).sum::<u64>());
        }
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        show(
            &format!("recorder, {} KiB posts, to files", post >> 10),
            &all,
        );
    }
    println!(
        "written per run: {:.1} MiB (.cast + .frames.jsonl)",
        results.iter().copied().max().unwrap_or(0) as f64 / f64::from(1 << 20)
    );
    Ok(())
}
