//! Every operation once, as a future that ends in a Python object; the
//! blocking `Client` runs it with the GIL released, the `AsyncClient` hands
//! it to asyncio.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use tubemail_client::core::WorkerCondition;
use tubemail_client::core::api::{RegisterRequest, RuleTestRequest, SettingsPatch};
use tubemail_client::{Client, Error};

use crate::convert::{BehaviorArg, MetaArg, SinceArg, ToPy, worker_name};
use crate::errors::{bad_argument, shutting_down, to_py_err};
use crate::runtime::with_python;

/// A condition from its signal's name (`channel_unavailable`, `blocked`).
fn condition(signal: &str, detail: String) -> Result<WorkerCondition, Error> {
    let signal =
        serde_json::from_value(serde_json::Value::String(signal.to_owned())).map_err(|_| {
            crate::errors::bad_argument(format!(
                "signal must be \"channel_unavailable\" or \"blocked\", not {signal:?}"
            ))
        })?;
    Ok(WorkerCondition { signal, detail })
}

/// What an operation's future yields.
pub(crate) type Reply = PyResult<Py<PyAny>>;

/// The Rust client shared by both Python classes.
#[derive(Clone)]
pub(crate) struct Core {
    pub(crate) hub: Arc<Client>,
}

impl Core {
    /// A client for `url` (default `http://localhost:8004`) with `secret`.
    pub(crate) fn new(url: Option<String>, secret: Option<String>, timeout: f64) -> PyResult<Core> {
        let timeout = Duration::try_from_secs_f64(timeout)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                to_py_err(Error::Config(format!(
                    "timeout must be a positive number of seconds, not {timeout}"
                )))
            })?;
        let mut b = Client::builder().timeout(timeout);
        if let Some(url) = url {
            b = b.url(url);
        }
        if let Some(secret) = secret {
            b = b.secret(secret);
        }
        let hub = b.build().map_err(to_py_err)?;
        Ok(Core { hub: Arc::new(hub) })
    }

    /// From `TUBEMAIL_HUB_URL` and `TUBEMAIL_SECRET`.
    pub(crate) fn from_env() -> PyResult<Core> {
        let hub = Client::from_env().map_err(to_py_err)?;
        Ok(Core { hub: Arc::new(hub) })
    }
}

/// Awaits a client call and converts its value with the GIL held.
async fn finish<T: ToPy>(fut: impl Future<Output = Result<T, Error>>) -> Reply {
    let value = fut.await.map_err(to_py_err)?;
    with_python(|py| value.to_py(py)).unwrap_or_else(|| Err(shutting_down()))
}

/// Defines `Core::$name(args) -> impl Future<Output = Reply>` running `$body`
/// with `hub` bound to the client.
macro_rules! op {
    ($name:ident($($arg:ident: $ty:ty),*) => |$hub:ident| $body:expr) => {
        #[allow(clippy::too_many_arguments, reason = "one Rust argument per Python keyword argument")]
        pub(crate) fn $name(&self, $($arg: $ty),*) -> impl Future<Output = Reply> + Send + 'static {
            let $hub = Arc::clone(&self.hub);
            finish(async move { $body })
        }
    };
}

impl Core {
    op!(health() => |hub| hub.health().await);
    op!(workers() => |hub| hub.workers().await);
    op!(worker(name: String) => |hub| hub.worker(&worker_name(&name)?).await);
    op!(send(worker: String, message: String, meta: Option<MetaArg>, idempotency_key: Option<String>) => |hub| {
        let w = worker_name(&worker)?;
        hub.send_with_key(&w, &message, meta.map(|m| m.0), idempotency_key.as_deref()).await
    });
    op!(receive(worker: String, since: Option<SinceArg>, limit: u32) => |hub| {
        hub.events(&worker_name(&worker)?, since.map(|s| s.0), limit).await
    });
    op!(status(worker: String) => |hub| hub.status(&worker_name(&worker)?).await);
    op!(wait(worker: String, since: Option<SinceArg>, timeout: f64) => |hub| {
        hub.wait(&worker_name(&worker)?, since.map(|s| s.0), timeout).await
    });
    op!(interrupt(worker: String) => |hub| hub.interrupt(&worker_name(&worker)?).await);
    op!(restart(worker: String) => |hub| hub.restart(&worker_name(&worker)?).await);
    op!(stop(worker: String) => |hub| hub.stop(&worker_name(&worker)?).await);
    op!(keystroke(worker: String, keys: String) => |hub| {
        hub.keystroke(&worker_name(&worker)?, &keys).await
    });
    op!(clear_and_send(worker: String, message: String, delay: f64, restore_name: bool) => |hub| {
        hub.clear_and_send(&worker_name(&worker)?, &message, delay, restore_name).await
    });
    op!(manager_health(worker: String) => |hub| hub.manager_health(&worker_name(&worker)?).await);
    op!(screenshot(worker: String, max_lines: Option<u32>) => |hub| {
        hub.screenshot(&worker_name(&worker)?, max_lines).await
    });
    op!(reconnect_mcp(worker: String, server: String) => |hub| {
        hub.reconnect_mcp(&worker_name(&worker)?, &server).await
    });
    op!(purge(worker: String) => |hub| hub.purge(&worker_name(&worker)?).await);
    op!(permissions(worker: Option<String>, include_offline: bool) => |hub| {
        let w = worker.as_deref().map(worker_name).transpose()?;
        hub.pending_permissions(w.as_ref(), include_offline).await
    });
    op!(respond(worker: String, request_id: String, behavior: BehaviorArg) => |hub| {
        hub.resolve_permission(&worker_name(&worker)?, &request_id, behavior.0).await
    });
    op!(allow(worker: String, request_id: String) => |hub| {
        hub.resolve_permission(&worker_name(&worker)?, &request_id, tubemail_client::core::Behavior::Allow).await
    });
    op!(deny(worker: String, request_id: String) => |hub| {
        hub.resolve_permission(&worker_name(&worker)?, &request_id, tubemail_client::core::Behavior::Deny).await
    });
    op!(settings() => |hub| hub.settings().await);
    op!(update_settings(
        recording_enabled_by_default: Option<bool>,
        recording_max_bytes_per_file: Option<u64>,
        recording_keep_files: Option<u32>,
        retention_max_age_days: Option<u32>,
        retention_max_events_per_worker: Option<u64>,
        retention_max_database_mib: Option<u64>,
        permission_timeout_secs: Option<u64>,
        permission_default_answer: Option<BehaviorArg>
    ) => |hub| {
        let patch = SettingsPatch {
            recording_enabled_by_default,
            recording_max_bytes_per_file,
            recording_keep_files,
            retention_max_age_days,
            retention_max_events_per_worker,
            retention_max_database_mib,
            permission_timeout_secs,
            permission_default_answer: permission_default_answer.map(|b| b.0),
        };
        hub.update_settings(&patch).await
    });
    op!(flows() => |hub| hub.flows().await);
    op!(save_flow(name: String, body: String, default_worker: Option<String>, meta: Option<MetaArg>) => |hub| {
        let w = default_worker.as_deref().map(worker_name).transpose()?;
        hub.save_flow(&name, &body, w.as_ref(), meta.map(|m| m.0)).await
    });
    op!(run_flow(name: String, worker: Option<String>, meta: Option<MetaArg>) => |hub| {
        let w = worker.as_deref().map(worker_name).transpose()?;
        hub.run_flow(&name, w.as_ref(), meta.map(|m| m.0)).await
    });
    op!(run_log(run_id: String) => |hub| hub.run_log(&run_id).await);
    op!(delete_flow(name: String) => |hub| hub.delete_flow(&name).await);
    op!(rules() => |hub| hub.rules().await);
    op!(add_rule(
        verdict: String,
        worker: Option<String>,
        tool: Option<String>,
        project: Option<String>,
        input: Option<String>,
        name: Option<String>,
        timeout_secs: Option<u64>,
        default_answer: Option<BehaviorArg>,
        position: Option<usize>
    ) => |hub| {
        let rule = serde_json::json!({
            "verdict": verdict, "worker": worker.as_deref().unwrap_or("*"),
            "tool": tool.as_deref().unwrap_or("*"), "project": project, "input": input,
            "name": name.unwrap_or_default(), "timeout_secs": timeout_secs,
            "default_answer": default_answer.map(|b| b.0),
        });
        let rule: tubemail_client::PermissionRule = serde_json::from_value(rule)
            .map_err(|e| bad_argument(format!("invalid rule: {e}")))?;
        hub.add_rule(&rule, position).await
    });
    op!(delete_rule(id: String) => |hub| hub.delete_rule(&id).await);
    op!(test_rules(worker: String, tool_name: String, input_preview: Option<String>, project: Option<String>) => |hub| {
        let input_preview = input_preview.unwrap_or_default();
        let prompt = RuleTestRequest { worker, tool_name, input_preview, project };
        hub.test_rules(&prompt).await
    });
    op!(webhooks() => |hub| hub.webhooks().await);
    op!(webhook_deliveries(id: String, limit: u32) => |hub| hub.webhook_deliveries(&id, limit).await);
    op!(register(worker: String, cwd: String, pid: Option<i64>, forwarder_version: Option<String>, permission_mode: Option<String>) => |hub| {
        let req = RegisterRequest { cwd, pid, forwarder_version, permission_mode };
        hub.register(&worker_name(&worker)?, &req).await
    });
    op!(outbound(worker: String, text: String, meta: Option<MetaArg>) => |hub| {
        hub.outbound(&worker_name(&worker)?, &text, meta.map(|m| m.0)).await
    });
    op!(permission_request(
        worker: String,
        request_id: String,
        tool_name: String,
        description: Option<String>,
        input_preview: Option<String>
    ) => |hub| {
        let (description, input_preview) = (description.unwrap_or_default(), input_preview.unwrap_or_default());
        hub.permission_request(&worker_name(&worker)?, &request_id, &tool_name, &description, &input_preview)
            .await
    });
    op!(permission_response(worker: String, request_id: String, behavior: BehaviorArg) => |hub| {
        hub.permission_response(&worker_name(&worker)?, &request_id, behavior.0).await
    });
    op!(context_pct(worker: String, pct: Option<u8>) => |hub| {
        hub.context_pct(&worker_name(&worker)?, pct).await
    });
    op!(set_condition(worker: String, signal: Option<String>, detail: Option<String>) => |hub| {
        let condition = signal.map(|s| condition(&s, detail.unwrap_or_default())).transpose()?;
        hub.set_condition(&worker_name(&worker)?, condition.as_ref()).await
    });
    op!(set_active(worker: String, is_active: bool) => |hub| {
        hub.set_active(&worker_name(&worker)?, is_active).await
    });
    op!(delivered(worker: String, through: SinceArg) => |hub| {
        hub.delivered(&worker_name(&worker)?, through.0).await
    });
    op!(unregister(worker: String) => |hub| hub.unregister(&worker_name(&worker)?).await);
    op!(goodbye(worker: String) => |hub| hub.goodbye(&worker_name(&worker)?).await);
}
