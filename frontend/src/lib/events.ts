// The hub's global event stream (`/api/events/stream`), kept alive with
// resume: every timeline event carries an id, and a reconnect asks for what
// came after the last one seen (`Last-Event-ID` on the browser's own retries,
// `?since=` when we open a new EventSource). Status notices (online/offline,
// context, activity) carry no id and are not replayed, so every (re)open
// asks the app to reconcile its snapshot (`onSync`). No polling.
//
// EventSource cannot set headers, so each open asks for a single-use stream
// ticket (`POST /api/stream-ticket`, with the bearer) and passes it as
// `?ticket=`: the secret never appears in a URL.

export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  addEventListener(name: string, fn: (ev: MessageEvent) => void): void;
  close(): void;
}

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface HubEventsOptions {
  /** A fresh single-use stream ticket (`POST /api/stream-ticket`). */
  ticket: () => Promise<string>;
  /** Event names to listen for. */
  names: readonly string[];
  onEvent: (name: string, data: Record<string, unknown>) => void;
  /** The stream (re)opened, or the hub said we missed notices: refetch. */
  onSync: () => void;
  onStatus?: (status: StreamStatus) => void;
  /** The stream closed for good (e.g. 401); the app checks why. */
  onClosed?: () => void;
  factory?: (url: string) => EventSourceLike;
  schedule?: (fn: () => void, ms: number) => unknown;
  cancel?: (handle: unknown) => void;
  base?: string;
}

const CLOSED = 2;

/** Reconnect delay after `failures` consecutive failures (ms). */
export function backoff(failures: number): number {
  return Math.min(15000, 1000 * 2 ** Math.max(0, failures - 1));
}

export function streamUrl(ticket: string, since: string | null, base = ''): string {
  const q = new URLSearchParams({ ticket });
  if (since) q.set('since', since);
  return `${base}/api/events/stream?${q.toString()}`;
}

export class HubEvents {
  lastEventId: string | null = null;
  private es: EventSourceLike | null = null;
  private failures = 0;
  private timer: unknown = null;
  private stopped = false;
  /** Counts opens, so a ticket that arrives after a newer open is dropped. */
  private opens = 0;
  private readonly opts: HubEventsOptions;

  constructor(opts: HubEventsOptions) {
    this.opts = opts;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) (this.opts.cancel ?? clearTimeout)(this.timer as number);
    this.timer = null;
    this.es?.close();
    this.es = null;
    this.opts.onStatus?.('stopped');
  }

  private open(): void {
    this.opts.onStatus?.(this.failures === 0 && this.lastEventId === null ? 'connecting' : 'reconnecting');
    const open = ++this.opens;
    const current = () => !this.stopped && open === this.opens;
    this.opts.ticket().then(
      (ticket) => {
        if (current()) this.connect(ticket);
      },
      () => {
        if (current()) this.retry();
      },
    );
  }

  /** The stream is gone (or could not start): open again after a backoff. */
  private retry(): void {
    this.failures += 1;
    // A resume point the hub no longer knows (data dir reset) fails every
    // time: after a few tries start fresh and reconcile instead.
    if (this.failures >= 3) this.lastEventId = null;
    this.opts.onStatus?.('reconnecting');
    this.opts.onClosed?.();
    this.timer = (this.opts.schedule ?? setTimeout)(() => {
      this.timer = null;
      if (!this.stopped) this.open();
    }, backoff(this.failures));
  }

  private connect(ticket: string): void {
    const factory = this.opts.factory ?? ((url: string) => new EventSource(url) as unknown as EventSourceLike);
    const es = factory(streamUrl(ticket, this.lastEventId, this.opts.base));
    this.es = es;
    es.onopen = () => {
      if (this.es !== es) return;
      this.failures = 0;
      this.opts.onStatus?.('live');
      this.opts.onSync();
    };
    es.onerror = () => {
      if (this.es !== es || this.stopped) return;
      if (es.readyState !== CLOSED) {
        // The browser retries by itself, sending Last-Event-ID (with the
        // used ticket the hub refuses it, and the source closes).
        this.opts.onStatus?.('reconnecting');
        return;
      }
      es.close();
      this.es = null;
      this.retry();
    };
    for (const name of this.opts.names) {
      es.addEventListener(name, (ev: MessageEvent) => {
        if (this.es !== es) return;
        if (ev.lastEventId) this.lastEventId = ev.lastEventId;
        let data: Record<string, unknown> = {};
        try {
          const parsed: unknown = JSON.parse(String(ev.data));
          if (parsed && typeof parsed === 'object') data = parsed as Record<string, unknown>;
        } catch {
          return;
        }
        if (name === 'resync') this.opts.onSync();
        else this.opts.onEvent(name, data);
      });
    }
  }
}

/** Every event the UI reacts to. */
export const EVENT_NAMES = [
  'channel_event',
  'outbound',
  'permission_request',
  'permission_response',
  'permissions_cleared',
  'interrupt',
  'context_pct',
  'active_state',
  'worker_condition',
  'worker_registered',
  'worker_online',
  'worker_offline',
  'worker_unregistered',
  'worker_exited',
  'worker_purged',
  'recording',
  'resync',
] as const;
