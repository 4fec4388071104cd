//! The permission-rule tools: `tm_rules_list`, `tm_rules_set` and
//! `tm_rules_test` (twins of `/api/rules`).

use rmcp::handler::server::wrapper::Parameters;
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;
use tubemail_core::PermissionRule;
use tubemail_core::api::{RuleDecision, RuleTestRequest, RulesList};
use tubemail_core::engine::Error as EngineError;

use super::{HubMcp, ToolResult, dict, fail, object_of};

/// Arguments of tm_rules_set.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RulesSetArgs {
    /// The whole ordered list (first match wins); it replaces the rules in
    /// force. Each rule: `worker` and `tool` (exact or glob, default `*`),
    /// optional `project` (glob on the worker's directory), optional `input`
    /// (regex on the tool's main argument: a Bash `command`, a `file_path`,
    /// a `url`…; else on the input text), `verdict` (`allow`, `deny` or `ask`), and for
    /// `ask` optional `timeout_secs` and `default_answer`. Keep `id`s to
    /// keep rules; new rules get one.
    rules: Vec<PermissionRule>,
}

/// Arguments of tm_rules_test.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RulesTestArgs {
    /// The worker that would ask.
    worker: String,
    /// The tool, e.g. `Bash`.
    tool_name: String,
    /// The tool input as Claude Code shows it, e.g. `{"command":"git status"}`.
    #[serde(default)]
    input_preview: String,
    /// The worker's directory (default: the registered one).
    #[serde(default)]
    project: Option<String>,
}

#[tool_router(router = rules_router, vis = "pub(super)")]
impl HubMcp {
    #[tool(
        description = "The permission rules in order: the first rule matching a prompt (worker, project, tool, input regex) allows or denies it at once, or leaves it to a person with a timeout.",
        output_schema = object_of::<RulesList>()
    )]
    async fn tm_rules_list(&self) -> ToolResult {
        dict(RulesList {
            rules: self.state.engine.rules(),
        })
    }

    #[tool(
        description = "Replace the permission rules with this ordered list (tm_rules_list first to edit it). An invalid glob or regex is refused with the rule and field at fault; nothing changes then.",
        output_schema = object_of::<RulesList>()
    )]
    async fn tm_rules_set(&self, Parameters(a): Parameters<RulesSetArgs>) -> ToolResult {
        match self.state.engine.set_rules(a.rules).await {
            Ok(rules) => dict(RulesList { rules }),
            Err(EngineError::BadRequest(m)) => fail(m),
            Err(e) => {
                tracing::error!(error = ?e, "tm_rules_set failed");
                fail("could not store the rules (see the hub's log)")
            }
        }
    }

    #[tool(
        description = "Which rule would decide a permission prompt and how (allow, deny, or ask with its timeout and default answer); nothing is recorded.",
        output_schema = object_of::<RuleDecision>()
    )]
    async fn tm_rules_test(&self, Parameters(a): Parameters<RulesTestArgs>) -> ToolResult {
        dict(self.state.engine.test_rules(&RuleTestRequest {
            worker: a.worker,
            tool_name: a.tool_name,
            input_preview: a.input_preview,
            project: a.project,
        }))
    }
}
