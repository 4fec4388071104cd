//! `mcp-config`: Claude Code's MCP configuration for this hub, to use on
//! another machine.

use anyhow::{Result, bail};
use serde_json::{Value, json};
use tubemail_client::{Client, TokenKind, local};

use crate::render::print_json;

/// The hub's MCP endpoint (streamable HTTP). The hub redirects `/mcp` to
/// it, but some clients drop the header on a redirect: name it exactly.
const MCP_PATH: &str = "/mcp/";

/// `s` inside double quotes for a POSIX shell.
fn shell_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The `.mcp.json` document and the `claude mcp add` line for a server
/// `name` at `url` (the hub's base URL) with `credential`.
pub fn config(name: &str, url: &str, credential: &str) -> (Value, String) {
    let endpoint = format!("{}{MCP_PATH}", url.trim_end_matches('/'));
    let header = format!("Authorization: Bearer {credential}");
    let doc = json!({
        "mcpServers": {
            name: {
                "type": "http",
                "url": endpoint,
                "headers": {"Authorization": format!("Bearer {credential}")},
            }
        }
    });
    let line = format!(
        "claude mcp add --transport http {} {} --header {}",
        shell_quoted(name),
        shell_quoted(&endpoint),
        shell_quoted(&header)
    );
    (doc, line)
}

/// Prints the configuration with the credential in use, after asking the
/// hub (`whoami`) that it is of a kind MCP accepts; with `mint` (a label),
/// with an operator token issued for it instead.
pub async fn run(
    hub: &Client,
    credential: &str,
    url: Option<String>,
    name: &str,
    mint: Option<&str>,
    json: bool,
) -> Result<()> {
    let me = hub.whoami().await?;
    let issued = match mint {
        Some(label) => {
            if me.kind != "secret" {
                bail!(
                    "only the hub's shared secret issues tokens, and the credential in use is \
                     a {} token: run this with TUBEMAIL_SECRET (or --secret) set",
                    me.kind
                );
            }
            Some(hub.issue_token(TokenKind::Operator, None, label).await?)
        }
        None if me.kind == "secret" || me.kind == "operator" => None,
        None => bail!(
            "the credential in use is a {} token, which the hub's MCP endpoint refuses: use \
             the shared secret or an operator token (`--token` issues one)",
            me.kind
        ),
    };
    let credential = issued.as_ref().map_or(credential, |t| t.token.as_str());
    let url = url.unwrap_or_else(|| hub.url().to_owned());
    let (doc, line) = config(name, &url, credential);
    match &issued {
        Some(t) => eprintln!(
            "warning: this output carries operator token {id}, a credential: keep it out of \
             version control and shared files (`tubemail tokens revoke {id}` ends it)",
            id = t.info.id
        ),
        None => eprintln!(
            "warning: this output carries the credential in use{}: keep it out of version \
             control and shared files (`--token` issues a revocable one instead)",
            if me.kind == "secret" {
                " (the hub's shared secret)"
            } else {
                ""
            }
        ),
    }
    if local::is_loopback_url(&url) {
        eprintln!(
            "warning: {url} is this machine's loopback address; on another machine use an \
             address that reaches the hub (--url), with the hub listening there (--bind)"
        );
    }
    if json {
        print_json(&json!({
            "url": format!("{}{MCP_PATH}", url.trim_end_matches('/')),
            "mcp_json": doc,
            "claude_mcp_add": line,
            "token_id": issued.as_ref().map(|t| t.info.id.clone()),
        }))
    } else {
        println!("# .mcp.json (in the project directory)");
        println!("{}", serde_json::to_string_pretty(&doc)?);
        println!();
        println!("# or, with the claude CLI:");
        println!("{line}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_survives_the_shell() {
        let (doc, line) = config("tubemail", "http://10.0.0.2:8004/", "a\"b$c");
        assert_eq!(
            doc["mcpServers"]["tubemail"]["url"],
            "http://10.0.0.2:8004/mcp/"
        );
        assert_eq!(
            line,
            r#"claude mcp add --transport http "tubemail" "http://10.0.0.2:8004/mcp/" --header "Authorization: Bearer a\"b\$c""#
        );
    }
}
