// The browser side of the ticketed pty WebSocket, with resume.
//
// Protocol (hub `/ws/pty/{worker}?ticket=T[&since=N]`): binary frames are
// pty bytes both ways; text frames are JSON control. We send
// `{"kind":"resize","cols","rows"}` and `{"kind":"ping"}`; the hub sends
// `{"kind":"hello","seq":S,"epoch":E,...}` right after accept (the next
// binary frame starts at byte offset S), `{"kind":"snapshot","seq":S}`
// followed by one binary frame that repaints the whole screen (reset first;
// the repaint does not count towards offsets, which go on at S), and
// `{"kind":"size","cols","rows"}`. After a network blip we reconnect with a
// fresh ticket, `since=<offset>` and the hub run's `epoch`, so nothing is
// shown twice (a hub that cannot resume sends a snapshot instead).

export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code?: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string | ArrayBufferLike | Uint8Array): void;
  close(code?: number): void;
}

export type PtyStatus = 'connecting' | 'live' | 'reconnecting' | 'unavailable' | 'closed';

export interface PtyOptions {
  worker: string;
  /** `ws://host` or `wss://host`. */
  wsBase: string;
  getTicket: (worker: string) => Promise<string>;
  onData: (bytes: Uint8Array) => void;
  /** A full repaint follows: clear the terminal. */
  onReset: () => void;
  onSize?: (cols: number, rows: number) => void;
  onStatus?: (status: PtyStatus, detail?: string) => void;
  factory?: (url: string) => SocketLike;
  schedule?: (fn: () => void, ms: number) => unknown;
  cancel?: (handle: unknown) => void;
  pingMs?: number;
}

const OPEN = 1;

export function ptyUrl(
  wsBase: string,
  worker: string,
  ticket: string,
  since: number | null,
  epoch: string | null = null,
): string {
  const q = new URLSearchParams({ ticket });
  if (since !== null) q.set('since', String(since));
  if (since !== null && epoch !== null) q.set('epoch', epoch);
  return `${wsBase}/ws/pty/${encodeURIComponent(worker)}?${q.toString()}`;
}

export function wsBaseOf(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}`;
}

export class PtyConnection {
  /** Bytes of pty output seen so far (the hub's offset). */
  seq = 0;
  /** The hub run the offsets belong to (from `hello`). */
  epoch: string | null = null;
  private ws: SocketLike | null = null;
  private everConnected = false;
  private snapshotNext = false;
  private stopped = false;
  private failures = 0;
  private timer: unknown = null;
  private ping: unknown = null;
  private size: { cols: number; rows: number } | null = null;
  private readonly encoder = new TextEncoder();
  private readonly o: PtyOptions;

  constructor(opts: PtyOptions) {
    this.o = opts;
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.o.onStatus?.('closed');
  }

  /** Keystrokes or pasted text to the pty. */
  send(data: string | Uint8Array): void {
    if (this.ws?.readyState !== OPEN) return;
    this.ws.send(typeof data === 'string' ? this.encoder.encode(data) : data);
  }

  resize(cols: number, rows: number): void {
    this.size = { cols, rows };
    if (this.ws?.readyState === OPEN) this.ws.send(JSON.stringify({ kind: 'resize', cols, rows }));
  }

  private schedule(fn: () => void, ms: number): unknown {
    return (this.o.schedule ?? setTimeout)(fn, ms);
  }

  private clearTimers(): void {
    const cancel = this.o.cancel ?? ((h: unknown) => clearTimeout(h as number));
    if (this.timer !== null) cancel(this.timer);
    if (this.ping !== null) cancel(this.ping);
    this.timer = null;
    this.ping = null;
  }

  private async connect(): Promise<void> {
    this.o.onStatus?.(this.everConnected ? 'reconnecting' : 'connecting');
    let ticket: string;
    try {
      ticket = await this.o.getTicket(this.o.worker);
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 404 || status === 401) {
        this.o.onStatus?.(
          'unavailable',
          status === 404 ? 'this hub has no terminal bridge' : 'not signed in',
        );
        return;
      }
      this.retry();
      return;
    }
    if (this.stopped) return;
    const factory = this.o.factory ?? ((url: string) => new WebSocket(url) as unknown as SocketLike);
    const ws = factory(ptyUrl(this.o.wsBase, this.o.worker, ticket, this.everConnected ? this.seq : null, this.epoch));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.everConnected = true;
      this.failures = 0;
      this.o.onStatus?.('live');
      if (this.size) ws.send(JSON.stringify({ kind: 'resize', ...this.size }));
      this.keepAlive(ws);
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.handle(ev.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.stopped) this.retry();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private keepAlive(ws: SocketLike): void {
    this.ping = this.schedule(() => {
      if (this.ws !== ws || ws.readyState !== OPEN) return;
      ws.send(JSON.stringify({ kind: 'ping' }));
      this.keepAlive(ws);
    }, this.o.pingMs ?? 20000);
  }

  private retry(): void {
    this.clearTimers();
    this.failures += 1;
    this.o.onStatus?.('reconnecting');
    this.timer = this.schedule(
      () => {
        this.timer = null;
        if (!this.stopped) void this.connect();
      },
      Math.min(10000, 500 * 2 ** Math.min(this.failures - 1, 5)),
    );
  }

  /** One frame from the hub (exported for tests through `feed`). */
  handle(data: unknown): void {
    if (typeof data === 'string') {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(data) as Record<string, unknown>;
      } catch {
        return;
      }
      if ((msg.kind === 'hello' || msg.kind === 'snapshot') && typeof msg.seq === 'number') {
        this.seq = msg.seq;
        if (msg.kind === 'snapshot') this.snapshotNext = true;
      }
      if (msg.kind === 'hello' && (typeof msg.epoch === 'string' || typeof msg.epoch === 'number')) {
        this.epoch = String(msg.epoch);
      }
      if ((msg.kind === 'size' || msg.kind === 'hello') && typeof msg.cols === 'number' && typeof msg.rows === 'number') {
        this.o.onSize?.(msg.cols, msg.rows);
      }
      return;
    }
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (data instanceof Uint8Array) bytes = data;
    else return;
    if (this.snapshotNext) {
      // The repaint shows the screen at offset `seq`; it is not part of
      // the byte stream.
      this.snapshotNext = false;
      this.o.onReset();
      this.o.onData(bytes);
      return;
    }
    this.seq += bytes.length;
    this.o.onData(bytes);
  }
}
