//! Stream events: everything the hub sends on a worker's stream
//! (`/tubemail/{w}/stream`) and on the global stream (`/api/events/stream`).
//!
//! One type, [`StreamEvent`], whose variant is the SSE `event:` name and
//! whose fields are the JSON in `data:`. The hub builds SSE frames with
//! [`StreamEvent::to_sse`]; clients read them back with
//! [`StreamEvent::from_sse`]. Three names appear on both streams with the
//! same fields: `channel_event`, `permission_response` and `interrupt`; on
//! the global stream they also carry `worker` (and `ts`).

use serde::{Deserialize, Serialize};

#[cfg(feature = "schema")]
use schemars::JsonSchema;

use crate::name::WorkerName;
use crate::wire::{Behavior, EventId, Meta, Timestamp, WorkerCondition};

/// Why a stream ended from the hub's side (`closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionEnd {
    /// A newer subscription for the same worker took over.
    Superseded,
    /// The worker unregistered or said goodbye.
    Unregistered,
    /// The worker was purged.
    Purged,
    /// The credential that opened the stream was revoked (worker and
    /// global streams): reconnecting with it is refused.
    Revoked,
}

/// Why pending permissions were dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClearedReason {
    /// A later reply of the worker proves they were answered.
    ProvenResolved,
    /// The worker's process changed; the old prompts are gone with it.
    NewProcess,
    /// The worker was purged.
    Purged,
}

/// One event on a hub stream: the variant is the SSE event name.
///
/// Timeline events (`channel_event`, `outbound`, `permission_request`,
/// `permission_response`, `interrupt`) carry an SSE `id:` too, which
/// streams resume from; the others are live notices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A message to the worker (both streams).
    ChannelEvent {
        /// The worker (global stream only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<WorkerName>,
        /// The event.
        event_id: EventId,
        /// When it was stored.
        ts: Timestamp,
        /// Message text.
        content: String,
        /// Its metadata (`kind` for manager commands).
        #[serde(default)]
        meta: Meta,
    },
    /// A reply of the worker (global stream).
    Outbound {
        /// The worker.
        worker: WorkerName,
        /// The event.
        event_id: EventId,
        /// When it was stored.
        ts: Timestamp,
        /// Reply text.
        content: String,
        /// Its metadata.
        #[serde(default)]
        meta: Meta,
    },
    /// A permission prompt the worker relayed (global stream).
    PermissionRequest {
        /// The worker.
        worker: WorkerName,
        /// The event.
        event_id: EventId,
        /// When it was stored.
        ts: Timestamp,
        /// Claude Code's id for the prompt.
        request_id: String,
        /// The tool that wants to run.
        tool_name: String,
        /// Description of the call.
        #[serde(default)]
        description: String,
        /// Preview of the tool input.
        #[serde(default)]
        input_preview: String,
        /// When it gets its default answer if nobody answers (absent = never).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<Timestamp>,
    },
    /// A prompt was answered (both streams).
    PermissionResponse {
        /// The worker (global stream only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<WorkerName>,
        /// The event.
        event_id: EventId,
        /// When it was stored (global stream only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<Timestamp>,
        /// The prompt.
        request_id: String,
        /// The answer.
        behavior: Behavior,
    },
    /// The worker is asked to stop what it does (both streams).
    Interrupt {
        /// The worker (global stream only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<WorkerName>,
        /// The event.
        event_id: EventId,
        /// When it was stored (global stream only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ts: Option<Timestamp>,
    },
    /// The stream ends (last event): a worker stream for any
    /// [`SubscriptionEnd`], the global stream when its credential is
    /// revoked.
    Closed {
        /// Why.
        reason: SubscriptionEnd,
    },
    /// A browser watches the worker's terminal or it is recorded: the
    /// manager starts posting its output (manager stream).
    PtyAttach {},
    /// Nobody watches or records any more (manager stream).
    PtyDetach {},
    /// Keys a viewer typed (manager stream).
    PtyData {
        /// The bytes, hex-encoded.
        bytes_hex: String,
    },
    /// A viewer's terminal size (manager stream).
    PtyResize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Context window use changed (global stream).
    ContextPct {
        /// The worker.
        worker: WorkerName,
        /// Percent in use, when known.
        context_pct: Option<u8>,
    },
    /// The worker started or stopped working (global stream).
    ActiveState {
        /// The worker.
        worker: WorkerName,
        /// Whether it works now.
        is_active: bool,
    },
    /// The worker side reported a condition, or that it cleared (global
    /// stream).
    WorkerCondition {
        /// The worker.
        worker: WorkerName,
        /// The condition now (`null`: cleared).
        condition: Option<WorkerCondition>,
    },
    /// A worker registered (global stream).
    WorkerRegistered {
        /// The worker.
        worker: WorkerName,
        /// Its working directory.
        cwd: String,
    },
    /// A worker's stream connected (global stream).
    WorkerOnline {
        /// The worker.
        worker: WorkerName,
    },
    /// A worker's last stream ended (global stream).
    WorkerOffline {
        /// The worker.
        worker: WorkerName,
    },
    /// A worker unregistered (global stream).
    WorkerUnregistered {
        /// The worker.
        worker: WorkerName,
    },
    /// A worker said goodbye: a clean exit (global stream).
    WorkerExited {
        /// The worker.
        worker: WorkerName,
    },
    /// A worker was purged from the registry (global stream).
    WorkerPurged {
        /// The worker.
        worker: WorkerName,
    },
    /// Recording of a worker's terminal was turned on or off (global
    /// stream).
    Recording {
        /// The worker.
        worker: WorkerName,
        /// Whether it is recorded now.
        enabled: bool,
    },
    /// Pending permissions were dropped without an answer (global stream).
    PermissionsCleared {
        /// The worker.
        worker: WorkerName,
        /// The dropped prompts.
        request_ids: Vec<String>,
        /// Why.
        reason: ClearedReason,
    },
    /// The subscriber fell behind and status notices were skipped: read
    /// the roster again (global stream; timeline events are never
    /// skipped).
    Resync {
        /// How many.
        skipped_notices: u64,
    },
}

/// An SSE frame that is not a [`StreamEvent`] this version knows.
#[derive(Debug, thiserror::Error)]
pub enum StreamEventError {
    /// An event name this version does not know (a newer hub's).
    #[error("unknown stream event {0:?}")]
    Unknown(String),
    /// A known name with data that does not fit it.
    #[error("bad data for stream event {event:?}: {source}")]
    BadData {
        /// The event name.
        event: String,
        /// What did not fit.
        #[source]
        source: serde_json::Error,
    },
}

impl StreamEvent {
    /// Every event name, in declaration order.
    pub const NAMES: [&'static str; 22] = [
        "channel_event",
        "outbound",
        "permission_request",
        "permission_response",
        "interrupt",
        "closed",
        "pty_attach",
        "pty_detach",
        "pty_data",
        "pty_resize",
        "context_pct",
        "active_state",
        "worker_condition",
        "worker_registered",
        "worker_online",
        "worker_offline",
        "worker_unregistered",
        "worker_exited",
        "worker_purged",
        "recording",
        "permissions_cleared",
        "resync",
    ];

    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::ChannelEvent { .. } => "channel_event",
            StreamEvent::Outbound { .. } => "outbound",
            StreamEvent::PermissionRequest { .. } => "permission_request",
            StreamEvent::PermissionResponse { .. } => "permission_response",
            StreamEvent::Interrupt { .. } => "interrupt",
            StreamEvent::Closed { .. } => "closed",
            StreamEvent::PtyAttach {} => "pty_attach",
            StreamEvent::PtyDetach {} => "pty_detach",
            StreamEvent::PtyData { .. } => "pty_data",
            StreamEvent::PtyResize { .. } => "pty_resize",
            StreamEvent::ContextPct { .. } => "context_pct",
            StreamEvent::ActiveState { .. } => "active_state",
            StreamEvent::WorkerCondition { .. } => "worker_condition",
            StreamEvent::WorkerRegistered { .. } => "worker_registered",
            StreamEvent::WorkerOnline { .. } => "worker_online",
            StreamEvent::WorkerOffline { .. } => "worker_offline",
            StreamEvent::WorkerUnregistered { .. } => "worker_unregistered",
            StreamEvent::WorkerExited { .. } => "worker_exited",
            StreamEvent::WorkerPurged { .. } => "worker_purged",
            StreamEvent::Recording { .. } => "recording",
            StreamEvent::PermissionsCleared { .. } => "permissions_cleared",
            StreamEvent::Resync { .. } => "resync",
        }
    }

    /// The timeline event this is, for the ones that have an id.
    pub fn event_id(&self) -> Option<EventId> {
        match self {
            StreamEvent::ChannelEvent { event_id, .. }
            | StreamEvent::Outbound { event_id, .. }
            | StreamEvent::PermissionRequest { event_id, .. }
            | StreamEvent::PermissionResponse { event_id, .. }
            | StreamEvent::Interrupt { event_id, .. } => Some(*event_id),
            _ => None,
        }
    }

    /// The SSE event name and `data:` JSON text.
    pub fn to_sse(&self) -> (&'static str, String) {
        let name = self.name();
        // Serialized as `{"event":"<name>","data":<data>}` (the adjacent
        // tag first): the data is that text without the frame, with no
        // intermediate `Value` on a stream's hot path.
        let data = serde_json::to_string(self).ok().and_then(|whole| {
            whole
                .strip_prefix(r#"{"event":""#)?
                .strip_prefix(name)?
                .strip_prefix(r#"","data":"#)?
                .strip_suffix('}')
                .map(str::to_owned)
        });
        // Every variant is plain data with a data object, so the frame is
        // always there; `{}` only if serde ever changed its layout.
        (name, data.unwrap_or_else(|| "{}".to_owned()))
    }

    /// Reads an SSE event back from its name and `data:` text.
    pub fn from_sse(event: &str, data: &str) -> Result<StreamEvent, StreamEventError> {
        if !Self::NAMES.contains(&event) {
            return Err(StreamEventError::Unknown(event.to_owned()));
        }
        let bad = |source| StreamEventError::BadData {
            event: event.to_owned(),
            source,
        };
        let data: serde_json::Value = if data.trim().is_empty() {
            serde_json::Value::Object(Meta::new())
        } else {
            serde_json::from_str(data).map_err(bad)?
        };
        let mut tagged = Meta::new();
        tagged.insert("event".into(), event.into());
        tagged.insert("data".into(), data);
        serde_json::from_value(serde_json::Value::Object(tagged)).map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> WorkerName {
        WorkerName::new(s).expect("valid name")
    }

    #[test]
    fn worker_stream_shapes_are_the_originals() {
        let ev = StreamEvent::ChannelEvent {
            worker: None,
            event_id: EventId(7),
            ts: 1.5,
            content: "hi".into(),
            meta: Meta::new(),
        };
        let (name, data) = ev.to_sse();
        assert_eq!(name, "channel_event");
        let v: serde_json::Value = serde_json::from_str(&data).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"event_id": "0000000007", "ts": 1.5, "content": "hi", "meta": {}})
        );
        let (name, data) = StreamEvent::Interrupt {
            worker: None,
            event_id: EventId(8),
            ts: None,
        }
        .to_sse();
        assert_eq!(
            (name, data.as_str()),
            ("interrupt", r#"{"event_id":"0000000008"}"#)
        );
        assert_eq!(
            StreamEvent::PtyAttach {}.to_sse(),
            ("pty_attach", "{}".into())
        );
        assert_eq!(
            StreamEvent::Closed {
                reason: SubscriptionEnd::Revoked
            }
            .to_sse(),
            ("closed", r#"{"reason":"revoked"}"#.into())
        );
    }

    #[test]
    fn every_name_round_trips() {
        let samples = [
            StreamEvent::Outbound {
                worker: w("a"),
                event_id: EventId(1),
                ts: 2.0,
                content: "done".into(),
                meta: Meta::new(),
            },
            StreamEvent::PermissionResponse {
                worker: Some(w("a")),
                event_id: EventId(3),
                ts: Some(4.0),
                request_id: "abcde".into(),
                behavior: Behavior::Allow,
            },
            StreamEvent::Closed {
                reason: SubscriptionEnd::Superseded,
            },
            StreamEvent::Closed {
                reason: SubscriptionEnd::Revoked,
            },
            StreamEvent::PtyDetach {},
            StreamEvent::PtyResize { cols: 80, rows: 24 },
            StreamEvent::PermissionsCleared {
                worker: w("a"),
                request_ids: vec!["x".into()],
                reason: ClearedReason::NewProcess,
            },
            StreamEvent::Resync { skipped_notices: 3 },
        ];
        for ev in samples {
            let (name, data) = ev.to_sse();
            let back = StreamEvent::from_sse(name, &data).expect("parses");
            assert_eq!(back, ev, "{name}");
        }
    }

    #[test]
    fn unknown_names_and_bad_data_are_told_apart() {
        assert!(matches!(
            StreamEvent::from_sse("from_the_future", "{}"),
            Err(StreamEventError::Unknown(_))
        ));
        assert!(matches!(
            StreamEvent::from_sse("closed", r#"{"reason": 5}"#),
            Err(StreamEventError::BadData { .. })
        ));
        assert!(matches!(
            StreamEvent::from_sse("pty_attach", ""),
            Ok(StreamEvent::PtyAttach {})
        ));
    }
}
