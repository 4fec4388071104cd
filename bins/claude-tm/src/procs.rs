//! CPU and memory of a whole process tree, read from `/proc`.
//!
//! claude starts helpers (MCP servers, shells, language servers); the
//! numbers a person wants are for all of them together.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    ppid: i32,
    /// utime + stime, in clock ticks.
    ticks: u64,
    /// Resident pages.
    rss_pages: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name sits in parentheses
/// and may itself hold spaces and parentheses, so fields are counted from
/// the last `)`.
fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        ticks: num(14)? + num(15)?,
        rss_pages: num(24)?,
    })
}

fn all_stats() -> HashMap<i32, Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let line = std::fs::read_to_string(e.path().join("stat")).ok()?;
        Some((pid, parse_stat(&line)?))
    })
    .collect()
}

/// Totals for `root` and every descendant at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    /// Processes in the tree.
    pub processes: usize,
    /// CPU time used so far, in clock ticks.
    pub ticks: u64,
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
}

fn tree_of(root: i32, stats: &HashMap<i32, Stat>) -> Option<Tree> {
    stats.get(&root)?;
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, s) in stats {
        children.entry(s.ppid).or_default().push(*pid);
    }
    let page = page_size();
    let mut tree = Tree {
        processes: 0,
        ticks: 0,
        rss_bytes: 0,
    };
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        if let Some(s) = stats.get(&pid) {
            tree.processes += 1;
            tree.ticks += s.ticks;
            tree.rss_bytes += s.rss_pages * page;
        }
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    Some(tree)
}

/// The tree under `root` now; `None` when `root` is gone.
pub fn tree(root: u32) -> Option<Tree> {
    tree_of(i32::try_from(root).ok()?, &all_stats())
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(4096)
}

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |v| v as f64)
}

/// CPU use of the tree under `root` over `window`, in percent of one core
/// (a tree busy on two cores reads 200).
pub async fn cpu_percent(root: u32, window: Duration) -> Option<f64> {
    let before = tree(root)?;
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let after = tree(root)?;
    let secs = start.elapsed().as_secs_f64();
    let used = after.ticks.saturating_sub(before.ticks) as f64 / ticks_per_second();
    Some((used / secs * 1000.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names() {
        let line = "42 (my (odd) name) S 7 42 42 0 -1 4194560 100 0 0 0 25 5 0 0 20 0 1 0 \
                    100 1000000 250 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 7,
                ticks: 30,
                rss_pages: 250
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn trees_sum_descendants_only() {
        let s = |ppid, ticks, rss_pages| Stat {
            ppid,
            ticks,
            rss_pages,
        };
        let stats: HashMap<i32, Stat> = [
            (1, s(0, 1000, 1000)),
            (10, s(1, 5, 1)),
            (11, s(10, 7, 2)),
            (12, s(11, 1, 3)),
            (20, s(1, 99, 99)),
        ]
        .into();
        let t = tree_of(10, &stats).expect("tree");
        assert_eq!((t.processes, t.ticks), (3, 13));
        assert_eq!(t.rss_bytes, 6 * page_size());
        assert_eq!(tree_of(99, &stats), None);
    }

    #[test]
    fn this_process_is_seen() {
        let t = tree(std::process::id()).expect("own tree");
        assert!(t.processes >= 1 && t.rss_bytes > 0, "{t:?}");
    }
}
