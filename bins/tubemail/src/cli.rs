//! The command line: clap derive, doc comments as help.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use tubemail_client::core::{EventId, WorkerName};

use tubemail_cli_support::Generate;

/// Exit status when `send --strict` stored the message but could only
/// queue it.
pub const EXIT_QUEUED: u8 = 3;

/// What `--help` lists after the commands.
const AFTER_HELP: &str = "\
Configuration (flags win over the environment, which wins over ./.env, then
~/.config/tubemail/.env):
  TUBEMAIL_HUB_URL   the hub (default http://localhost:8004; --hub)
  TUBEMAIL_TOKEN     a scoped token, else
  TUBEMAIL_SECRET    the hub's shared secret (--secret takes either); with
                     neither and a loopback hub, the local hub's secret file:
                     $TUBEMAIL_DATA_DIR/secret, else $XDG_DATA_HOME/tubemail/secret,
                     else ~/.local/share/tubemail/secret

Exit status:
  0  done
  1  failed (the message says what to do)
  2  bad command line
  3  send --strict: the message is stored but only queued (the worker has not
     registered, is offline, or cannot take it yet); it is delivered later";

/// Drive TubeMail workers from the shell. Human text by default, `--json`
/// for scripts (one JSON document per command; `tail --json`: one per line).
#[derive(Debug, Parser)]
#[command(name = "tubemail", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Hub URL (else TUBEMAIL_HUB_URL, else http://localhost:8004).
    #[arg(long, global = true, value_name = "URL")]
    pub hub: Option<String>,
    /// The credential: the hub's shared secret or a scoped token (else
    /// TUBEMAIL_TOKEN, else TUBEMAIL_SECRET, else a local hub's secret
    /// file; `tubemail --help` says where each is read).
    #[arg(long, global = true, value_name = "SECRET")]
    pub secret: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Write shell completions or the man page to stdout, and exit.
    #[arg(long, hide = true, value_name = "WHAT")]
    pub generate: Option<Generate>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List workers with their state.
    Workers,
    /// One worker's state and why.
    Status {
        /// Worker name.
        worker: WorkerName,
    },
    /// Send a message (slash commands go to the worker's manager).
    Send {
        /// Worker name.
        worker: WorkerName,
        /// The message.
        message: String,
        /// Idempotency key: repeating it does not send twice.
        #[arg(long)]
        key: Option<String>,
        /// Send even if no worker by this name is on the hub yet: it gets
        /// the message when it starts (else a name the hub does not know is
        /// refused, so a typo is not a message nobody reads).
        #[arg(long)]
        queue: bool,
        /// Exit 3 when the message could only be queued (the worker has not
        /// registered, is offline, or cannot take it yet).
        #[arg(long)]
        strict: bool,
    },
    /// Read a worker's timeline.
    Receive {
        /// Worker name.
        worker: WorkerName,
        /// Only events after this id.
        #[arg(long)]
        since: Option<EventId>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Wait for new events of a worker (from now, or after --since).
    Wait {
        /// Worker name.
        worker: WorkerName,
        /// Events after this id.
        #[arg(long)]
        since: Option<EventId>,
        /// Seconds to wait (at most 300).
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// Follow every worker's events live (Ctrl-C to stop).
    Tail {
        /// Resume after this event id.
        #[arg(long)]
        since: Option<EventId>,
    },
    /// Pending permission prompts.
    Permissions {
        /// Include workers that are offline.
        #[arg(long)]
        all: bool,
    },
    /// Allow a pending prompt.
    Allow {
        /// Worker name.
        worker: WorkerName,
        /// Request id (see `permissions`).
        request_id: String,
    },
    /// Deny a pending prompt.
    Deny {
        /// Worker name.
        worker: WorkerName,
        /// Request id (see `permissions`).
        request_id: String,
    },
    /// Interrupt what the worker is doing.
    Interrupt {
        /// Worker name.
        worker: WorkerName,
    },
    /// Stop the worker: its manager ends claude, and itself.
    Stop {
        /// Worker name.
        worker: WorkerName,
    },
    /// Restart the worker's claude (its manager starts it again).
    Restart {
        /// Worker name.
        worker: WorkerName,
    },
    /// Type keys into the worker's terminal, via its manager.
    Keys {
        /// Worker name.
        worker: WorkerName,
        /// Whitespace-separated keys: enter, esc, up, down, left, right,
        /// tab, backspace, delete, space, or literal text (joined without
        /// spaces: `space` types one).
        #[arg(required = true, num_args = 1..)]
        keys: Vec<String>,
    },
    /// The text on the worker's screen now.
    Screen {
        /// Worker name.
        worker: WorkerName,
        /// Only the last this many lines.
        #[arg(long)]
        lines: Option<u32>,
    },
    /// `/clear`, `/rename <worker>`, then a message: a fresh start for an
    /// idle worker.
    ClearAndSend {
        /// Worker name.
        worker: WorkerName,
        /// The message.
        message: String,
        /// Seconds between the steps.
        #[arg(long, default_value_t = 1.0)]
        delay: f64,
        /// Skip the `/rename` (the worker keeps the name claude gives it).
        #[arg(long)]
        no_rename: bool,
    },
    /// Remove a worker and its timeline from the hub.
    Purge {
        /// Worker name.
        worker: WorkerName,
    },
    /// Saved messages (flows) and their runs.
    #[command(subcommand)]
    Flows(FlowsCommand),
    /// Scoped credentials (shared secret only).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Webhooks: notifications to Slack, Discord or any HTTP receiver
    /// (shared secret only).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Recordings of workers' terminals.
    #[command(subcommand)]
    Recording(RecordingCommand),
    /// Hub settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Permission rules: the ordered list that answers prompts before a
    /// person sees them (first match wins).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The hub's health and fleet counts; with a worker, its process health
    /// as its manager reports it.
    Health {
        /// Worker name.
        worker: Option<WorkerName>,
    },
    /// What the credential in use is and may do.
    Whoami,
    /// Print the MCP configuration for Claude Code on another machine: an
    /// `.mcp.json` snippet and a `claude mcp add` command. The output
    /// carries a credential: keep it out of shared files.
    McpConfig {
        /// The hub's URL as the other machine reaches it (default: the hub
        /// URL in use).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The server's name in Claude Code.
        #[arg(long, default_value = "tubemail")]
        name: String,
        /// Issue an operator token for it (revocable, no token management)
        /// instead of handing out the credential in use.
        #[arg(long)]
        token: bool,
        /// The issued token's label (with --token).
        #[arg(long, requires = "token", default_value = "mcp-config")]
        label: String,
    },
}

/// `tubemail flows …`
#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Every flow.
    List,
    /// One flow with its message.
    Show {
        /// Flow name.
        name: String,
    },
    /// Create a flow, or replace one of the same name.
    Save {
        /// Flow name.
        name: String,
        /// The message.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        body: Option<String>,
        /// Read the message from this file (`-`: stdin).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// The worker it goes to when a run names none.
        #[arg(long)]
        worker: Option<WorkerName>,
    },
    /// Delete a flow (its runs stay).
    Delete {
        /// Flow name.
        name: String,
    },
    /// Send a flow's message to a worker; prints the run id.
    Run {
        /// Flow name.
        name: String,
        /// The worker (default: the flow's).
        #[arg(long)]
        worker: Option<WorkerName>,
    },
    /// A run with its worker's events since.
    Log {
        /// Run id (from `flows run`).
        run_id: String,
    },
    /// Mark a run finished.
    Finish {
        /// Run id.
        run_id: String,
    },
}

/// Token kinds `tokens create` issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Acts as one worker and its manager (for `claude-tm`: TUBEMAIL_TOKEN).
    Worker,
    /// Reads the operator API, changes nothing.
    OperatorRo,
    /// An orchestrator's: the operator API and MCP, but no tokens.
    Operator,
}

/// `tubemail tokens …`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Every issued token (never the tokens themselves).
    List,
    /// Issue a token; it is printed once.
    Create {
        /// What it may do.
        kind: Kind,
        /// The worker a `worker` token acts as.
        #[arg(required_if_eq("kind", "worker"))]
        worker: Option<WorkerName>,
        /// Free text to tell tokens apart.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke a token at once.
    Revoke {
        /// Token id (see `tokens list`).
        id: String,
    },
}

/// `tubemail recording …`
#[derive(Debug, Subcommand)]
pub enum RecordingCommand {
    /// Whether a worker's terminal is recorded, and the files.
    Status {
        /// Worker name.
        worker: WorkerName,
    },
    /// Start recording a worker's terminal.
    On {
        /// Worker name.
        worker: WorkerName,
    },
    /// Stop recording a worker's terminal.
    Off {
        /// Worker name.
        worker: WorkerName,
    },
    /// Recorded text frames, oldest first.
    Frames {
        /// Worker name.
        worker: WorkerName,
        /// From this time (ISO-8601 or epoch seconds), inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Up to this time, exclusive.
        #[arg(long)]
        until: Option<String>,
        /// Only frames whose text matches this regular expression.
        #[arg(long)]
        grep: Option<String>,
        /// At most this many (1-2000).
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
}

/// Keys `settings set` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SettingKey {
    /// New workers' terminals are recorded (true/false).
    RecordingEnabledByDefault,
    /// A recording file is rotated past this many bytes.
    RecordingMaxBytesPerFile,
    /// Rotated recording files kept per worker.
    RecordingKeepFiles,
    /// Events and recordings older than this many days are deleted (0 = kept).
    RetentionMaxAgeDays,
    /// Each worker keeps at most this many events (0 = no limit).
    RetentionMaxEventsPerWorker,
    /// The database is kept under this many MiB (0 = no limit).
    RetentionMaxDatabaseMib,
    /// Answer unanswered permission prompts after this many seconds (0 = never).
    PermissionTimeoutSecs,
    /// The answer an expired prompt gets (allow/deny).
    PermissionDefaultAnswer,
}

/// A rule's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Verdict {
    /// Answer allow at once.
    Allow,
    /// Answer deny at once.
    Deny,
    /// Leave it to a person (with --timeout and --default-answer).
    Ask,
}

/// An answer given on expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Answer {
    /// Let the tool run.
    Allow,
    /// Refuse the tool.
    Deny,
}

/// `tubemail rules …`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Every rule, in order.
    List,
    /// Add a rule (at the end, or at --position).
    Add {
        /// What to do with a matching prompt.
        verdict: Verdict,
        /// Worker name, exact or a glob such as `build-*`.
        #[arg(long, default_value = "*")]
        worker: String,
        /// The worker's directory, exact or a glob (default: any).
        #[arg(long)]
        project: Option<String>,
        /// Tool name, exact or a glob such as `mcp__*`.
        #[arg(long, default_value = "*")]
        tool: String,
        /// Regular expression on the tool input (for Claude Code's JSON
        /// input only on its main argument: a Bash command, a file_path, a url).
        #[arg(long, value_name = "REGEX")]
        input: Option<String>,
        /// A name shown with the decisions the rule makes.
        #[arg(long, default_value = "")]
        name: String,
        /// For `ask`: answer after this many seconds (0 = never; default:
        /// the hub's permission-timeout-secs).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// For `ask`: the answer on expiry (default: the hub's).
        #[arg(long)]
        default_answer: Option<Answer>,
        /// 0-based position in the list (default: the end).
        #[arg(long)]
        position: Option<usize>,
    },
    /// Remove a rule.
    Remove {
        /// Rule id (see `rules list`).
        id: String,
    },
    /// Which rule would decide a prompt, and how (nothing is recorded).
    Test {
        /// The worker that would ask.
        worker: String,
        /// The tool, e.g. Bash.
        tool: String,
        /// The tool input, e.g. '{"command":"git status"}' or just the command.
        #[arg(default_value = "")]
        input: String,
        /// The worker's directory (default: the registered one).
        #[arg(long)]
        project: Option<String>,
    },
}

/// `tubemail settings …`
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Every setting.
    Get,
    /// Change one setting; prints them all.
    Set {
        /// Which.
        key: SettingKey,
        /// The new value.
        value: String,
    },
}

/// `tubemail webhooks …`
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Every webhook (URLs redacted).
    List,
    /// Add a webhook.
    Add {
        /// Where to POST (http or https); may hold a secret, never shown again.
        url: String,
        /// What to send: permission_waiting, worker_blocked, worker_exited,
        /// reply, rule_decision (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// Body preset: json, slack or discord.
        #[arg(long, default_value = "json")]
        format: String,
        /// permission_waiting fires once a prompt waited this many seconds.
        #[arg(long)]
        waiting_secs: Option<u64>,
        /// Only workers whose name matches this glob (`*`, `?`).
        #[arg(long)]
        worker: Option<String>,
        /// HMAC key of X-TubeMail-Signature.
        #[arg(long, env = "TUBEMAIL_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Remove a webhook and its undelivered notifications.
    Remove {
        /// Webhook id (see `webhooks list`).
        id: String,
    },
    /// A webhook's notifications, newest first.
    Deliveries {
        /// Webhook id.
        id: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Send a test notification now.
    Test {
        /// Webhook id.
        id: String,
    },
}
