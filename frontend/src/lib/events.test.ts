import { describe, expect, it } from 'vitest';
import { backoff, type EventSourceLike, HubEvents, streamUrl } from './events';

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  listeners = new Map<string, (ev: MessageEvent) => void>();
  closed = false;
  constructor(readonly url: string) {}
  addEventListener(name: string, fn: (ev: MessageEvent) => void) {
    this.listeners.set(name, fn);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  emit(name: string, data: unknown, id = '') {
    this.listeners.get(name)?.({ data: JSON.stringify(data), lastEventId: id } as MessageEvent);
  }
  fail(closed: boolean) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.({});
  }
}

/** Lets the ticket promise settle (the source opens after it). */
const settle = () => new Promise((r) => setTimeout(r, 0));

function harness(tickets: () => Promise<string> = (() => {
  let n = 0;
  return async () => `t${++n}`;
})()) {
  const sources: FakeSource[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const events: [string, Record<string, unknown>][] = [];
  let syncs = 0;
  const statuses: string[] = [];
  const h = new HubEvents({
    ticket: tickets,
    names: ['outbound', 'context_pct', 'resync'],
    onEvent: (n, d) => events.push([n, d]),
    onSync: () => syncs++,
    onStatus: (s) => statuses.push(s),
    factory: (url) => {
      const s = new FakeSource(url);
      sources.push(s);
      return s;
    },
    schedule: (fn, ms) => timers.push({ fn, ms }),
    cancel: () => undefined,
  });
  return { h, sources, timers, events, statuses, syncs: () => syncs };
}

describe('global stream resume', () => {
  it('urls carry a ticket, never the secret, and the resume point', () => {
    expect(streamUrl('a b', null)).toBe('/api/events/stream?ticket=a+b');
    expect(streamUrl('t', '00000042')).toBe('/api/events/stream?ticket=t&since=00000042');
  });

  it('reconciles on every open and remembers the last event id', async () => {
    const t = harness();
    t.h.start();
    await settle();
    expect(t.sources[0].url).toBe('/api/events/stream?ticket=t1');
    t.sources[0].open();
    expect(t.syncs()).toBe(1);
    t.sources[0].emit('outbound', { worker: 'a', content: 'hi' }, '17');
    t.sources[0].emit('context_pct', { worker: 'a', context_pct: 5 }); // notice: no id
    expect(t.h.lastEventId).toBe('17');
    expect(t.events.map(([n]) => n)).toEqual(['outbound', 'context_pct']);
    // The browser's own retry (not closed) keeps the same source.
    t.sources[0].fail(false);
    expect(t.sources).toHaveLength(1);
    t.sources[0].open();
    expect(t.syncs()).toBe(2);
  });

  it('reopens with a new ticket and since= after the hub closed the stream, with backoff', async () => {
    const t = harness();
    t.h.start();
    await settle();
    t.sources[0].open();
    t.sources[0].emit('outbound', { worker: 'a' }, '99');
    t.sources[0].fail(true);
    expect(t.sources[0].closed).toBe(true);
    expect(t.timers).toHaveLength(1);
    expect(t.timers[0].ms).toBe(1000);
    t.timers[0].fn();
    await settle();
    expect(t.sources[1].url).toBe('/api/events/stream?ticket=t2&since=99');
    // Events from the stale source are ignored.
    t.sources[0].emit('outbound', { worker: 'old' }, '5');
    expect(t.h.lastEventId).toBe('99');
    t.sources[1].fail(true);
    expect(t.timers[1].ms).toBe(2000);
    t.timers[1].fn();
    await settle();
    t.sources[2].fail(true);
    // After three failures the resume point is dropped: start fresh.
    t.timers[2].fn();
    await settle();
    expect(t.sources[3].url).toBe('/api/events/stream?ticket=t4');
    t.sources[3].open();
    expect(t.statuses.at(-1)).toBe('live');
  });

  it('a resync event asks for a reconcile', async () => {
    const t = harness();
    t.h.start();
    await settle();
    t.sources[0].open();
    t.sources[0].emit('resync', { skipped_notices: 3 });
    expect(t.syncs()).toBe(2);
    expect(t.events).toHaveLength(0);
  });

  it('stop closes and never reconnects', async () => {
    const t = harness();
    t.h.start();
    await settle();
    t.sources[0].open();
    t.h.stop();
    expect(t.sources[0].closed).toBe(true);
    t.sources[0].fail(true);
    expect(t.timers).toHaveLength(0);
  });

  it('a ticket that cannot be had is retried with backoff', async () => {
    let calls = 0;
    const t = harness(async () => {
      calls += 1;
      if (calls === 1) throw new Error('hub down');
      return 'late';
    });
    t.h.start();
    await settle();
    expect(t.sources).toHaveLength(0);
    expect(t.timers).toHaveLength(1);
    expect(t.timers[0].ms).toBe(1000);
    t.timers[0].fn();
    await settle();
    expect(t.sources[0].url).toBe('/api/events/stream?ticket=late');
  });

  it('stopped while a ticket is on its way, it opens nothing', async () => {
    const t = harness();
    t.h.start();
    t.h.stop();
    await settle();
    expect(t.sources).toHaveLength(0);
  });

  it('backoff grows to a cap', () => {
    expect([1, 2, 3, 4, 5, 6, 9].map(backoff)).toEqual([1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });
});
