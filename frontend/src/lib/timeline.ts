// A worker's conversation as one ordered list: the stored timeline (pages
// read from `/api/workers/{w}/events`, newest first, then older pages as
// the reader scrolls up) plus what the global stream says live. Stored
// events keep the hub's order (ids are ordered); status notices (online,
// busy, a condition) are not stored by the hub, so they are kept where they
// arrived and shown only while the timeline is open.

import { managerOf } from './fleet';
import type { TimelineEvent, WorkerStatus } from './types';

export interface EventItem {
  type: 'event';
  key: string;
  event: TimelineEvent;
}

export interface NoticeItem {
  type: 'notice';
  key: string;
  ts: number;
  tone: 'info' | 'warn' | 'ok';
  text: string;
}

export type TimelineItem = EventItem | NoticeItem;

/** Event ids are ordered strings ("0000000042"); longer means later once
 * the counter outgrows its padding. Negative: a before b. */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The stored event a global-stream message carries for `worker`, if any.
 * The stream names kinds differently from the events route and spreads
 * the meta of permission prompts into the payload. */
export function eventFromStream(worker: string, name: string, data: Record<string, unknown>): TimelineEvent | null {
  if (data.worker !== worker || typeof data.event_id !== 'string' || !data.event_id) return null;
  const ts = typeof data.ts === 'number' ? data.ts : Date.now() / 1000;
  const meta = data.meta && typeof data.meta === 'object' ? (data.meta as Record<string, unknown>) : {};
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  switch (name) {
    case 'channel_event':
      return { event_id: data.event_id, ts, kind: 'inbound', content: str(data.content), meta };
    case 'outbound':
      return { event_id: data.event_id, ts, kind: 'outbound', content: str(data.content), meta };
    case 'permission_request':
      return {
        event_id: data.event_id,
        ts,
        kind: 'permission_request',
        content: str(data.tool_name),
        meta: {
          request_id: str(data.request_id),
          description: str(data.description),
          input_preview: str(data.input_preview),
        },
      };
    case 'permission_response':
      return {
        event_id: data.event_id,
        ts,
        kind: 'permission_response',
        content: str(data.behavior),
        meta: { request_id: str(data.request_id) },
      };
    case 'interrupt':
      return { event_id: data.event_id, ts, kind: 'interrupt', content: '', meta: {} };
    default:
      return null;
  }
}

/** A status notice for `worker`'s timeline, or null when the message is
 * not about it (or not worth a line: context use moves all the time). */
export function noticeFromStream(
  worker: string,
  name: string,
  data: Record<string, unknown>,
  now: number,
): Omit<NoticeItem, 'key'> | null {
  if (data.worker === managerOf(worker)) {
    switch (name) {
      case 'worker_online':
      case 'worker_registered':
        return { type: 'notice', ts: now, tone: 'ok', text: 'manager connected: the terminal is available' };
      case 'worker_offline':
      case 'worker_exited':
      case 'worker_unregistered':
        return { type: 'notice', ts: now, tone: 'warn', text: 'manager disconnected: no terminal until it is back' };
      case 'channel_event': {
        const kind = data.meta && typeof data.meta === 'object' ? (data.meta as { kind?: unknown }).kind : null;
        const what = typeof kind === 'string' && kind.startsWith('type:') ? `typed ${kind.slice(5)}` : String(data.content ?? '');
        return { type: 'notice', ts: now, tone: 'info', text: `to its manager: ${what}` };
      }
      default:
        return null;
    }
  }
  if (data.worker !== worker) return null;
  switch (name) {
    case 'worker_registered':
      return { type: 'notice', ts: now, tone: 'ok', text: 'registered (a new session started)' };
    case 'worker_online':
      return { type: 'notice', ts: now, tone: 'ok', text: 'online: its stream connected; queued messages are delivered now' };
    case 'worker_offline':
      return { type: 'notice', ts: now, tone: 'warn', text: 'offline: its stream disconnected; messages are queued' };
    case 'worker_exited':
      return { type: 'notice', ts: now, tone: 'warn', text: 'exited (said goodbye); messages are queued' };
    case 'worker_unregistered':
      return { type: 'notice', ts: now, tone: 'warn', text: 'unregistered' };
    case 'active_state':
      return { type: 'notice', ts: now, tone: 'info', text: data.is_active ? 'busy: claude is working' : 'idle: claude is at its prompt' };
    case 'worker_condition': {
      const signal = typeof data.signal === 'string' ? data.signal : null;
      const detail = typeof data.detail === 'string' && data.detail ? `: ${data.detail.split('\n')[0]}` : '';
      return signal
        ? { type: 'notice', ts: now, tone: 'warn', text: `${signal.replace(/_/g, ' ')}${detail}` }
        : { type: 'notice', ts: now, tone: 'ok', text: 'condition cleared' };
    }
    default:
      return null;
  }
}

/** An ordered list of stored events and notices with duplicate-free merging. */
export class TimelineList {
  items: TimelineItem[] = [];
  private ids = new Set<string>();
  private notices = 0;

  get size(): number {
    return this.items.length;
  }

  /** The oldest stored event's id (where the next older page ends). */
  oldestId(): string | null {
    for (const it of this.items) if (it.type === 'event') return it.event.event_id;
    return null;
  }

  /** A page older than everything held, oldest first. Returns how many
   * items were added at the top. */
  prepend(events: TimelineEvent[]): number {
    const fresh = events.filter((e) => !this.ids.has(e.event_id));
    const oldest = this.oldestId();
    const above = oldest === null ? fresh : fresh.filter((e) => compareIds(e.event_id, oldest) < 0);
    for (const e of above) this.ids.add(e.event_id);
    this.items = [...above.map(toItem), ...this.items];
    // Any that are not older (a race with the live stream) go in order.
    for (const e of fresh) if (!above.includes(e)) this.add(e);
    return above.length;
  }

  /** One event (from the stream or a page); false if already held. It
   * goes right before the first held event with a greater id, so stored
   * events stay in the hub's order and notices that came after the last
   * older event stay above it. */
  add(e: TimelineEvent): boolean {
    if (this.ids.has(e.event_id)) return false;
    this.ids.add(e.event_id);
    let i = this.items.length;
    for (let j = this.items.length - 1; j >= 0; j--) {
      const it = this.items[j];
      if (it.type !== 'event') continue;
      if (compareIds(it.event.event_id, e.event_id) < 0) break;
      i = j;
    }
    this.items = [...this.items.slice(0, i), toItem(e), ...this.items.slice(i)];
    return true;
  }

  notice(n: Omit<NoticeItem, 'key'>): void {
    this.notices += 1;
    this.items = [...this.items, { ...n, key: `n${this.notices}` }];
  }
}

function toItem(event: TimelineEvent): EventItem {
  return { type: 'event', key: event.event_id, event };
}

export type Delivery = 'queued' | 'delivered';

/** Whether a message to the worker has been handed to its session, from
 * the hub's delivery cursor (`delivered_through` of its status). */
export function deliveryOf(eventId: string, status: Pick<WorkerStatus, 'delivered_through'> | null): Delivery {
  const through = status?.delivered_through;
  return through && compareIds(eventId, through) <= 0 ? 'delivered' : 'queued';
}

/** Estimated pixel height of an item not yet measured: a header line plus
 * its text wrapped at `charsPerLine`. */
export function estimateHeight(item: TimelineItem, charsPerLine: number): number {
  if (item.type === 'notice') return 30;
  const text = item.event.kind === 'permission_request' ? String(item.event.meta.input_preview ?? '') : item.event.content;
  const per = Math.max(10, Math.floor(charsPerLine));
  let lines = 0;
  for (const line of text.split('\n')) lines += Math.max(1, Math.ceil(line.length / per));
  if (!text) lines = 0;
  return 44 + Math.min(lines, 4000) * 20;
}
