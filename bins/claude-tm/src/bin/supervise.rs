//! `claude-tm-supervise`: the launcher's loop, exec'd by `claude-tm` once
//! its checks pass (see `claude_tm::supervise`). It uses std alone, so the
//! process that waits beside claude for the worker's whole life keeps
//! only a few hundred KiB of its own code resident.

fn main() {
    std::process::exit(claude_tm::supervise::run(std::env::args_os().skip(1)));
}
