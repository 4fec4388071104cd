// Pure roster/permission bookkeeping driven by the global stream.

import type { PendingPermission, Worker } from './types';

export const isManager = (name: string) => name.endsWith('-manager');
export const managerOf = (name: string) => `${name}-manager`;

/** Permission list after one stream event. */
export function permissionsAfter(
  list: PendingPermission[],
  name: string,
  data: Record<string, unknown>,
): PendingPermission[] {
  const worker = typeof data.worker === 'string' ? data.worker : '';
  switch (name) {
    case 'permission_request': {
      const request_id = String(data.request_id ?? '');
      if (!worker || !request_id || list.some((p) => p.worker === worker && p.request_id === request_id)) {
        return list;
      }
      return [
        ...list,
        {
          worker,
          request_id,
          tool_name: String(data.tool_name ?? ''),
          description: String(data.description ?? ''),
          input_preview: String(data.input_preview ?? ''),
          event_id: typeof data.event_id === 'string' ? data.event_id : null,
          requested_at: typeof data.ts === 'number' ? data.ts : Date.now() / 1000,
          // A prompt arrives only through a connected channel.
          online: true,
          deadline: typeof data.deadline === 'number' ? data.deadline : null,
        },
      ];
    }
    case 'permission_response': {
      const id = String(data.request_id ?? '');
      return list.filter((p) => !(p.worker === worker && p.request_id === id));
    }
    case 'permissions_cleared': {
      const ids = Array.isArray(data.request_ids) ? data.request_ids.map(String) : null;
      return list.filter((p) => !(p.worker === worker && (ids === null || ids.includes(p.request_id))));
    }
    case 'worker_offline':
    case 'worker_exited':
    case 'worker_purged':
    case 'worker_unregistered':
    case 'worker_registered':
      // The hub lists prompts of online workers only; registering clears them.
      return list.some((p) => p.worker === worker) ? list.filter((p) => p.worker !== worker) : list;
    default:
      return list;
  }
}

/** A roster row patched right away from a notice (the refetch follows). */
export function patchWorker(w: Worker, name: string, data: Record<string, unknown>): Worker {
  switch (name) {
    case 'context_pct':
      return { ...w, context_pct: typeof data.context_pct === 'number' ? data.context_pct : null };
    case 'active_state':
      return { ...w, observed_active: Boolean(data.is_active) };
    case 'worker_online':
      return { ...w, online: true, presence: 'online', exited_cleanly: false };
    case 'worker_offline':
      return { ...w, online: false, presence: w.exited_cleanly ? 'exited' : 'offline' };
    case 'worker_exited':
      return { ...w, online: false, presence: 'exited', exited_cleanly: true };
    case 'recording':
      return typeof data.enabled === 'boolean' ? { ...w, recording_enabled: data.enabled } : w;
    default:
      return w;
  }
}

/** Field-by-field equality of two rows (keeps unchanged rows' identity). */
export function sameWorker(a: Worker, b: Worker): boolean {
  for (const k of Object.keys(b) as (keyof Worker)[]) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (k === 'state_reason' && x && y && typeof x === 'object' && typeof y === 'object') {
      const r = x as Worker['state_reason'] & object;
      const s = y as Worker['state_reason'] & object;
      if (r.state === s.state && r.signal === s.signal && r.since === s.since && r.detail === s.detail) continue;
    }
    return false;
  }
  return Object.keys(a).length === Object.keys(b).length;
}

/** The roster after a full reload: unchanged rows keep their objects, so
 * memoised rows do not re-render. */
export function mergeRoster(prev: Map<string, Worker>, rows: Worker[]): Map<string, Worker> {
  const next = new Map<string, Worker>();
  for (const w of rows) {
    const old = prev.get(w.name);
    next.set(w.name, old && sameWorker(old, w) ? old : w);
  }
  return next;
}

/** Which worker row an event concerns (its row is refetched). */
export function eventWorker(data: Record<string, unknown>): string | null {
  return typeof data.worker === 'string' && data.worker ? data.worker : null;
}
