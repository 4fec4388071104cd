import { describe, expect, it } from 'vitest';
import { PtyConnection, ptyUrl, type SocketLike, wsBaseOf } from './pty';

class FakeSocket implements SocketLike {
  binaryType = 'blob';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code?: number }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  sent: (string | Uint8Array)[] = [];
  constructor(readonly url: string) {}
  send(d: string | ArrayBufferLike | Uint8Array) {
    this.sent.push(typeof d === 'string' ? d : new Uint8Array(d as ArrayBuffer));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const bytes = (s: string) => new TextEncoder().encode(s).buffer;

function harness(ticket: () => Promise<string> = async () => 'T') {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const out: string[] = [];
  let resets = 0;
  const statuses: string[] = [];
  const c = new PtyConnection({
    worker: 'a b-tm',
    wsBase: 'ws://hub',
    getTicket: ticket,
    onData: (b) => out.push(new TextDecoder().decode(b)),
    onReset: () => resets++,
    onStatus: (s) => statuses.push(s),
    factory: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    schedule: (fn, ms) => timers.push({ fn, ms }),
    cancel: () => undefined,
  });
  return { c, sockets, timers, out, statuses, resets: () => resets };
}

describe('pty websocket', () => {
  it('builds urls', () => {
    expect(ptyUrl('ws://h', 'a b', 'T', null)).toBe('ws://h/ws/pty/a%20b?ticket=T');
    expect(ptyUrl('wss://h', 'a', 'T', 12)).toBe('wss://h/ws/pty/a?ticket=T&since=12');
    expect(ptyUrl('wss://h', 'a', 'T', 12, 'e1')).toBe('wss://h/ws/pty/a?ticket=T&since=12&epoch=e1');
    expect(ptyUrl('wss://h', 'a', 'T', null, 'e1')).toBe('wss://h/ws/pty/a?ticket=T');
    expect(wsBaseOf({ protocol: 'https:', host: 'x:1' })).toBe('wss://x:1');
    expect(wsBaseOf({ protocol: 'http:', host: 'x' })).toBe('ws://x');
  });

  it('counts bytes from hello, resets on snapshot, resumes with since', async () => {
    const t = harness();
    t.c.resize(100, 30);
    t.c.start();
    await flush();
    const s = t.sockets[0];
    expect(s.url).toBe('ws://hub/ws/pty/a%20b-tm?ticket=T');
    expect(s.binaryType).toBe('arraybuffer');
    s.open();
    expect(s.sent[0]).toBe('{"kind":"resize","cols":100,"rows":30}');
    s.onmessage?.({ data: '{"kind":"hello","seq":1000,"epoch":77}' });
    s.onmessage?.({ data: bytes('hello') });
    expect(t.c.seq).toBe(1005);
    s.onmessage?.({ data: '{"kind":"snapshot","seq":2000}' });
    s.onmessage?.({ data: bytes('SCREEN') });
    expect(t.resets()).toBe(1);
    // The repaint is not part of the byte stream.
    expect(t.c.seq).toBe(2000);
    s.onmessage?.({ data: bytes('!') });
    expect(t.resets()).toBe(1);
    expect(t.out).toEqual(['hello', 'SCREEN', '!']);

    t.c.send('ls\r');
    expect(new TextDecoder().decode(s.sent.at(-1) as Uint8Array)).toBe('ls\r');

    s.drop();
    expect(t.statuses.at(-1)).toBe('reconnecting');
    t.timers.find((x) => x.ms === 500)?.fn();
    await flush();
    expect(t.sockets[1].url).toBe('ws://hub/ws/pty/a%20b-tm?ticket=T&since=2001&epoch=77');
  });

  it('pings while open', async () => {
    const t = harness();
    t.c.start();
    await flush();
    t.sockets[0].open();
    const ping = t.timers.find((x) => x.ms === 20000);
    ping?.fn();
    expect(t.sockets[0].sent).toContain('{"kind":"ping"}');
  });

  it('says so when the hub has no bridge, and stops', async () => {
    const t = harness(() => Promise.reject(Object.assign(new Error('Not Found'), { status: 404 })));
    t.c.start();
    await flush();
    expect(t.statuses.at(-1)).toBe('unavailable');
    expect(t.sockets).toHaveLength(0);
    expect(t.timers).toHaveLength(0);
  });

  it('stop ends it for good', async () => {
    const t = harness();
    t.c.start();
    await flush();
    t.sockets[0].open();
    t.c.stop();
    t.sockets[0].drop();
    expect(t.statuses.at(-1)).toBe('closed');
  });
});
