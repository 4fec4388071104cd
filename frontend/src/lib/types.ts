// Wire shapes of the hub's JSON API (see /api/openapi.json).

export type WorkerStateName = 'idle' | 'busy' | 'waiting_permission' | 'unknown';
export type Presence = 'online' | 'offline' | 'exited';

export interface StateReason {
  state: WorkerStateName;
  signal: string;
  since: number;
  /** For `channel_unavailable` and `blocked`: what the worker side saw. */
  detail?: string | null;
}

export interface Worker {
  name: string;
  cwd: string;
  online: boolean;
  state: WorkerStateName;
  last_activity: number;
  pending_count: number;
  event_count: number;
  forwarder_version: string;
  exited_cleanly: boolean;
  recording_enabled: boolean;
  context_pct: number | null;
  registered_at?: number;
  presence?: Presence;
  state_reason?: StateReason;
  pid?: number | null;
  observed_active?: boolean | null;
  last_event_id?: string | null;
  /** The Claude Code permission mode the worker runs in. */
  permission_mode?: string | null;
}

export interface PendingPermission {
  worker: string;
  request_id: string;
  tool_name: string;
  description: string;
  input_preview: string;
}

export interface Flow {
  name: string;
  body: string;
  default_worker: string | null;
  meta: Record<string, unknown>;
  created_at: number;
  updated_at: number;
  last_run_at: number | null;
}

export interface TimelineEvent {
  event_id: string;
  ts: number;
  kind: string;
  content: string;
  meta: Record<string, unknown>;
}

/** `POST /api/workers/{w}/send`: the message is on disk. */
export interface SendReceipt {
  event_id: string;
  queued_at: number;
  routed_to: string;
  /** The timeline it went to (the worker, or its manager for a harness command). */
  worker: string;
  duplicate?: boolean;
  /** Stored but not deliverable yet (channel unavailable, terminal blocked). */
  warning?: string | null;
}

/** `GET /api/workers/{w}/status`. */
export interface WorkerStatus {
  state: WorkerStateName;
  pending_count: number;
  last_activity: number;
  event_count: number;
  state_reason: StateReason;
  presence: Presence | null;
  last_event_id: string | null;
  /** The newest event the worker's stream has handed over. */
  delivered_through: string | null;
  acknowledged_through?: string | null;
  permission_mode?: string | null;
}

export interface RunLog {
  run_id: string;
  flow_name: string;
  worker: string;
  started_at: number;
  first_event_id: string;
  finished_at: number | null;
  events: TimelineEvent[];
}

export interface HubSettings {
  recording_enabled_by_default: boolean;
  recording_max_bytes_per_file: number;
  recording_keep_files: number;
}

export interface Health {
  status: string;
  version: string;
  git_sha: string;
  uptime: string;
  workers_online: number;
  workers_total: number;
  pending_permissions: number;
}
