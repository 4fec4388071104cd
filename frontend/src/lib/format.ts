// How workers read at a glance: state badges, durations, projects, sorting.

import type { Worker } from './types';

export type Tone = 'idle' | 'busy' | 'waiting' | 'blocked' | 'offline' | 'exited';

export interface Badge {
  label: string;
  tone: Tone;
  /** The reason, for the hover title. */
  title: string;
}

/** 47s · 3m 05s · 1h 02m · 2d 03h */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${String(h % 24).padStart(2, '0')}h`;
}

/** "12s ago", "5m ago", "2h 05m ago"; "never" for 0. Coarse on purpose:
 * past a minute the text changes once a minute, not every second. */
export function formatAgo(ts: number, now: number): string {
  if (!ts) return 'never';
  const d = Math.floor(now - ts);
  if (d < 2) return 'just now';
  if (d < 60) return `${d}s ago`;
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ${String(Math.floor(d / 60) % 60).padStart(2, '0')}m ago`;
  return `${Math.floor(d / 86400)}d ago`;
}

const SIGNALS: Record<string, string> = {
  pending_permission: 'a permission prompt is waiting for an answer',
  observed_active: 'the manager sees claude working',
  observed_idle: 'the manager sees claude at the prompt',
  unanswered_inbound: 'a message has not been answered yet',
  inbound_decayed: 'the last message is over 10 minutes old without a reply',
  quiet_after_inbound: 'quiet for a minute after working on the last message',
  no_unanswered_inbound: 'no message is waiting for a reply',
  unknown_worker: 'not in the registry',
  channel_unavailable: 'Claude Code did not take its channel: messages are stored but not delivered',
  blocked: 'a screen its manager does not know holds the terminal',
};

/** The condition that keeps a worker from taking messages, if any:
 * a short label and what the worker side saw. */
export function conditionOf(w: Worker): { label: string; detail: string } | null {
  const r = w.state_reason;
  if (!r) return null;
  if (r.signal === 'channel_unavailable') return { label: 'channel unavailable', detail: r.detail ?? '' };
  if (r.signal === 'blocked') return { label: 'blocked', detail: r.detail ?? '' };
  return null;
}

function clock(ts: number): string {
  return new Date(ts * 1000).toLocaleTimeString();
}

/** A row the hub made for a name it was sent messages for, before any
 * process registered under it: registration always brings a pid, a
 * version or a directory; a queued send brings none of them. */
export function neverConnected(w: Pick<Worker, 'online' | 'pid' | 'forwarder_version' | 'cwd'>): boolean {
  return !w.online && (w.pid ?? null) === null && !w.forwarder_version && !w.cwd;
}

/** The badge for a worker at `now` (epoch seconds). */
export function stateBadge(w: Worker, now: number): Badge {
  if (neverConnected(w)) {
    return {
      label: 'never connected',
      tone: 'offline',
      title: 'no process has registered under this name; messages sent to it are queued on the hub',
    };
  }
  const presence = w.presence ?? (w.online ? 'online' : w.exited_cleanly ? 'exited' : 'offline');
  if (presence === 'exited') {
    return { label: 'exited', tone: 'exited', title: `said goodbye; last seen ${formatAgo(w.last_activity, now)}` };
  }
  const condition = conditionOf(w);
  if (condition) {
    const why = SIGNALS[w.state_reason?.signal ?? ''] ?? '';
    return { label: condition.label, tone: 'blocked', title: condition.detail ? `${why}\n${condition.detail}` : why };
  }
  if (presence === 'offline') {
    return {
      label: 'offline',
      tone: 'offline',
      title: `its stream is not connected; last seen ${formatAgo(w.last_activity, now)}`,
    };
  }
  const reason = w.state_reason;
  const why = reason ? (SIGNALS[reason.signal] ?? reason.signal.replace(/_/g, ' ')) : '';
  const since = reason && reason.since > 0 ? ` (since ${clock(reason.since)})` : '';
  const title = why ? `${why}${since}` : '';
  switch (w.state) {
    case 'busy': {
      const secs = reason && reason.since > 0 ? now - reason.since : null;
      return { label: secs === null ? 'busy' : `busy · ${formatDuration(secs)}`, tone: 'busy', title };
    }
    case 'waiting_permission':
      return { label: 'waiting_permission', tone: 'waiting', title };
    default:
      return { label: 'idle', tone: 'idle', title };
  }
}

/** The project a worker belongs to: its working directory's last segment. */
export function projectOf(w: Pick<Worker, 'cwd' | 'name'>): string {
  const parts = w.cwd.split(/[\\/]/).filter(Boolean);
  if (parts.length > 0) return parts[parts.length - 1];
  return w.name.replace(/(-[a-z0-9]+)?-tm$/i, '') || w.name;
}

export type SortKey = 'name' | 'state' | 'context' | 'activity' | 'version';

const STATE_RANK: Record<Tone, number> = { blocked: 0, waiting: 1, busy: 2, idle: 3, offline: 4, exited: 5 };

export function compareWorkers(a: Worker, b: Worker, key: SortKey, now: number): number {
  switch (key) {
    case 'state':
      return (
        STATE_RANK[stateBadge(a, now).tone] - STATE_RANK[stateBadge(b, now).tone] || a.name.localeCompare(b.name)
      );
    case 'context':
      return (a.context_pct ?? -1) - (b.context_pct ?? -1) || a.name.localeCompare(b.name);
    case 'activity':
      return a.last_activity - b.last_activity || a.name.localeCompare(b.name);
    case 'version':
      return a.forwarder_version.localeCompare(b.forwarder_version) || a.name.localeCompare(b.name);
    default:
      return a.name.localeCompare(b.name);
  }
}

export interface Group {
  project: string;
  workers: Worker[];
}

/** Rows grouped by project (groups by name), sorted inside each group. */
export function groupWorkers(
  workers: Iterable<Worker>,
  key: SortKey,
  desc: boolean,
  now: number,
  filter = '',
): Group[] {
  const needle = filter.trim().toLowerCase();
  const groups = new Map<string, Worker[]>();
  for (const w of workers) {
    if (w.name.endsWith('-manager')) continue;
    if (needle && !w.name.toLowerCase().includes(needle) && !w.cwd.toLowerCase().includes(needle)) continue;
    const p = projectOf(w);
    const list = groups.get(p);
    if (list) list.push(w);
    else groups.set(p, [w]);
  }
  const sign = desc ? -1 : 1;
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([project, list]) => ({
      project,
      workers: list.sort((a, b) => sign * compareWorkers(a, b, key, now)),
    }));
}

/** Context use as "42%", or "–" when unknown. */
export function formatContext(pct: number | null): string {
  return pct === null || pct === undefined ? '–' : `${pct}%`;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} B`;
}
