//! How the manager starts the real Claude Code: our channel as an MCP
//! server, the development-channel flag that lets it push messages, our
//! own tools allowed, and the TubeMail plugin commands.
//!
//! Everything claude reads is written to the worker's private runtime
//! directory (see [`crate::runtime`]), never into the project:
//!
//! * `mcp.json` (0600), passed with `--mcp-config`: a `tubemail-channel`
//!   server running this same binary as `claude-tm channel`, with the
//!   worker's name and hub URL (never the secret, which claude's
//!   environment already carries). A project `.mcp.json` written by us
//!   would make Claude Code stop at "New MCP server found in this project"
//!   in every fresh project; `--mcp-config` servers load without asking,
//!   and the user's own MCP servers still load next to it.
//! * `plugin/`: the plugin assets embedded in this binary (commands
//!   `/restart`, `/sync-inbox`, `/reconnect-mcp`), passed with
//!   `--plugin-dir`.
//!
//! Not done on purpose: `--rc` (Remote Control works only for claude.ai
//! logins and otherwise prints a warning; pass it yourself when you want
//! it) and the original's Stop-hook reply relay (it posts every turn's
//! last text besides the `reply` the model already sent, so orchestrators
//! saw each answer twice; our `reply` tool is allowed without a prompt,
//! which removes the reason the relay existed).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use tubemail_client::core::WorkerName;

/// The MCP server name claude knows our channel by.
pub const CHANNEL_SERVER: &str = "tubemail-channel";

/// The channel's own tools, allowed without a permission prompt: a
/// `reply` waiting on a prompt at an unattended terminal answers nobody.
pub const CHANNEL_TOOLS: &[&str] = &["reply", "ack", "channel_health", "reconnect_mcp"];

/// Variables with which Claude Code turns channels off (its feature flags
/// then fall back to "off"): the worker would start but never see a hub
/// message.
pub const CHANNEL_BLOCKERS: &[&str] = &[
    "DISABLE_TELEMETRY",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DO_NOT_TRACK",
    "DISABLE_GROWTHBOOK",
];

/// The [`CHANNEL_BLOCKERS`] set (non-empty) in an environment.
pub fn channel_blockers(lookup: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    CHANNEL_BLOCKERS
        .iter()
        .copied()
        .filter(|k| lookup(k).is_some_and(|v| !v.is_empty()))
        .collect()
}

/// The plugin files, embedded so an installed binary always has them
/// (`@WORKER@`, `@MANAGER@` and `@VERSION@` are filled in per worker).
const PLUGIN_FILES: &[(&str, &str)] = &[
    (
        ".claude-plugin/plugin.json",
        include_str!("../plugin/.claude-plugin/plugin.json"),
    ),
    (
        "commands/restart.md",
        include_str!("../plugin/commands/restart.md"),
    ),
    (
        "commands/sync-inbox.md",
        include_str!("../plugin/commands/sync-inbox.md"),
    ),
    (
        "commands/reconnect-mcp.md",
        include_str!("../plugin/commands/reconnect-mcp.md"),
    ),
];

/// The `--mcp-config` document for `worker`.
pub fn mcp_config(exe: &Path, worker: &WorkerName, hub_url: &str) -> serde_json::Value {
    json!({
        "mcpServers": {
            CHANNEL_SERVER: {
                "type": "stdio",
                "command": exe.display().to_string(),
                "args": ["channel"],
                // Never deferred behind tool search (2.1.3xx defers MCP
                // tools by default): `reply` must be in the model's first
                // tool list, or a worker cannot answer.
                "alwaysLoad": true,
                "env": {
                    "TM_WORKER_NAME": worker.as_str(),
                    "TUBEMAIL_HUB_URL": hub_url,
                }
            }
        }
    })
}

/// Writes the plugin into `dir` (replacing what an older version left).
pub fn write_plugin(dir: &Path, worker: &WorkerName) -> Result<()> {
    let manager = format!("{worker}-manager");
    for (rel, body) in PLUGIN_FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text = body
            .replace("@MANAGER@", &manager)
            .replace("@WORKER@", worker.as_str())
            .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
        crate::runtime::write_private(&path, text.as_bytes())?;
    }
    Ok(())
}

/// The permission mode claude-tm starts claude in unless the user chose
/// one: tool prompts then reach the hub. Claude Code's own default moved
/// to "auto" in 2.1.3xx (a classifier approves tools, nobody is asked).
pub const PERMISSION_MODE: &str = "default";

/// The permission mode the user asked for in claude's arguments, if any
/// (`--permission-mode X`, `--permission-mode=X`, or
/// `--dangerously-skip-permissions`, which is `bypassPermissions`).
pub fn permission_mode_arg(user: &[String]) -> Option<String> {
    let mut args = user.iter();
    while let Some(a) = args.next() {
        if a == "--permission-mode" {
            return args.next().cloned();
        }
        if let Some(mode) = a.strip_prefix("--permission-mode=") {
            return Some(mode.to_owned());
        }
        if a == "--dangerously-skip-permissions" {
            return Some("bypassPermissions".to_owned());
        }
    }
    None
}

/// The permission mode claude runs in: the user's (in `user`), else
/// `chosen` (`TM_PERMISSION_MODE`), else [`PERMISSION_MODE`].
pub fn permission_mode(user: &[String], chosen: Option<&str>) -> String {
    permission_mode_arg(user)
        .or_else(|| {
            chosen
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| PERMISSION_MODE.to_owned())
}

/// claude's argv: ours first, then the user's. The variadic options
/// (`--mcp-config`, `--allowedTools`, …) each end at the next option, so
/// `--name` (one value) comes last and a prompt the user passes stays a
/// prompt.
pub fn argv(
    mcp_config: &Path,
    plugin_dir: &Path,
    worker: &WorkerName,
    mode: &str,
    user: &[String],
) -> Vec<String> {
    let allowed = CHANNEL_TOOLS
        .iter()
        .map(|t| format!("mcp__{CHANNEL_SERVER}__{t}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut args = vec![
        "--mcp-config".to_owned(),
        mcp_config.display().to_string(),
        "--allowedTools".to_owned(),
        allowed,
        "--dangerously-load-development-channels".to_owned(),
        format!("server:{CHANNEL_SERVER}"),
        "--plugin-dir".to_owned(),
        plugin_dir.display().to_string(),
    ];
    if permission_mode_arg(user).is_none() {
        args.extend(["--permission-mode".to_owned(), mode.to_owned()]);
    }
    let named = user
        .iter()
        .any(|a| a == "--name" || a == "-n" || a.starts_with("--name="));
    if !named {
        args.extend(["--name".to_owned(), worker.as_str().to_owned()]);
    }
    args.extend(user.iter().cloned());
    args
}

/// Writes the channel config and plugin for `worker` and returns claude's
/// argv (ours, then `user`), claude running in permission mode `mode`.
pub fn prepare(
    worker: &WorkerName,
    hub_url: &str,
    mode: &str,
    user: &[String],
) -> Result<Vec<String>> {
    let exe = std::env::current_exe().context("cannot find claude-tm's own path")?;
    let dir = crate::runtime::worker_dir(worker)?;
    let config = dir.join("mcp.json");
    let body = serde_json::to_vec_pretty(&mcp_config(&exe, worker, hub_url))?;
    crate::runtime::write_private(&config, &body)?;
    let plugin = dir.join("plugin");
    write_plugin(&plugin, worker)?;
    Ok(argv(&config, &plugin, worker, mode, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_order_and_tools() {
        let w: WorkerName = "proj-tm".parse().unwrap();
        let a = argv(
            Path::new("/rt/proj-tm/mcp.json"),
            Path::new("/rt/proj-tm/plugin"),
            &w,
            "default",
            &["--continue".into(), "fix the bug".into()],
        );
        assert_eq!(
            a,
            [
                "--mcp-config",
                "/rt/proj-tm/mcp.json",
                "--allowedTools",
                "mcp__tubemail-channel__reply,mcp__tubemail-channel__ack,\
                 mcp__tubemail-channel__channel_health,mcp__tubemail-channel__reconnect_mcp",
                "--dangerously-load-development-channels",
                "server:tubemail-channel",
                "--plugin-dir",
                "/rt/proj-tm/plugin",
                "--permission-mode",
                "default",
                "--name",
                "proj-tm",
                "--continue",
                "fix the bug",
            ]
        );
        // The user's own --name wins.
        let a = argv(
            Path::new("c"),
            Path::new("p"),
            &w,
            "default",
            &["--name".into(), "mine".into()],
        );
        assert_eq!(a.iter().filter(|x| *x == "--name").count(), 1);
        // So does their permission mode, in either spelling.
        for user in [
            vec!["--permission-mode".to_owned(), "plan".to_owned()],
            vec!["--permission-mode=plan".to_owned()],
        ] {
            let a = argv(Path::new("c"), Path::new("p"), &w, "default", &user);
            assert_eq!(
                a.iter()
                    .filter(|x| x.starts_with("--permission-mode"))
                    .count(),
                1,
                "{a:?}"
            );
            assert_eq!(permission_mode(&user, Some("acceptEdits")), "plan");
        }
    }

    #[test]
    fn permission_modes() {
        assert_eq!(permission_mode(&[], None), "default");
        assert_eq!(permission_mode(&[], Some(" ")), "default");
        assert_eq!(permission_mode(&[], Some("acceptEdits")), "acceptEdits");
        let skip = ["--dangerously-skip-permissions".to_owned()];
        assert_eq!(permission_mode(&skip, Some("plan")), "bypassPermissions");
        assert_eq!(permission_mode_arg(&["--continue".to_owned()]), None);
    }

    #[test]
    fn blockers() {
        let env = |k: &str| match k {
            "DO_NOT_TRACK" => Some("1".to_owned()),
            "DISABLE_TELEMETRY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(channel_blockers(env), ["DO_NOT_TRACK"]);
    }

    #[test]
    fn config_and_plugin() {
        let w: WorkerName = "my proj-tm".parse().unwrap();
        let c = mcp_config(Path::new("/bin/claude-tm"), &w, "http://h:1");
        let s = &c["mcpServers"]["tubemail-channel"];
        assert_eq!(s["command"], "/bin/claude-tm");
        assert_eq!(s["args"], json!(["channel"]));
        assert_eq!(s["env"]["TM_WORKER_NAME"], "my proj-tm");
        assert!(!c.to_string().contains("SECRET"), "{c}");

        let dir = tempfile::tempdir().unwrap();
        write_plugin(dir.path(), &w).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(".claude-plugin/plugin.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["name"], "tubemail");
        assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
        let restart = std::fs::read_to_string(dir.path().join("commands/restart.md")).unwrap();
        assert!(restart.contains("\"my proj-tm-manager\""), "{restart}");
        assert!(!restart.contains('@'), "{restart}");
    }
}
