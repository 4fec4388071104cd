import { describe, expect, it } from 'vitest';
import {
  compareIds,
  deliveryOf,
  estimateHeight,
  eventFromStream,
  noticeFromStream,
  TimelineList,
  type TimelineItem,
} from './timeline';
import type { EventKind, TimelineEvent } from './types';

const ev = (n: number, kind: EventKind = 'inbound', content = `m${n}`): TimelineEvent => ({
  event_id: String(n).padStart(10, '0'),
  ts: 1000 + n,
  kind,
  content,
  meta: {},
});
const keys = (items: TimelineItem[]) => items.map((i) => (i.type === 'event' ? i.event.content : `[${i.text}]`));

describe('event ids', () => {
  it('order by value, also past the padding', () => {
    expect(compareIds('0000000009', '0000000010')).toBeLessThan(0);
    expect(compareIds('99999999999', '0000000010')).toBeGreaterThan(0);
    expect(compareIds('0000000042', '0000000042')).toBe(0);
  });
});

describe('stream messages as timeline events', () => {
  it('maps each kind the way the events route names it', () => {
    const base = { worker: 'a-tm', event_id: '0000000005', ts: 12.5 };
    expect(eventFromStream('a-tm', 'channel_event', { ...base, content: 'hi', meta: { flow_name: 'f' } })).toEqual({
      event_id: '0000000005',
      ts: 12.5,
      kind: 'inbound',
      content: 'hi',
      meta: { flow_name: 'f' },
    });
    expect(eventFromStream('a-tm', 'outbound', { ...base, content: 'yo' })?.kind).toBe('outbound');
    expect(
      eventFromStream('a-tm', 'permission_request', {
        ...base,
        tool_name: 'Bash',
        request_id: 'abcde',
        description: 'run',
        input_preview: 'ls',
      }),
    ).toMatchObject({ kind: 'permission_request', content: 'Bash', meta: { request_id: 'abcde', description: 'run', input_preview: 'ls' } });
    expect(eventFromStream('a-tm', 'permission_response', { ...base, behavior: 'deny', request_id: 'abcde' })).toMatchObject({
      kind: 'permission_response',
      content: 'deny',
      meta: { request_id: 'abcde' },
    });
    expect(eventFromStream('a-tm', 'interrupt', base)?.kind).toBe('interrupt');
  });

  it('ignores other workers, notices and messages without an id', () => {
    expect(eventFromStream('a-tm', 'outbound', { worker: 'b-tm', event_id: '1', content: 'x' })).toBeNull();
    expect(eventFromStream('a-tm', 'outbound', { worker: 'a-tm', content: 'x' })).toBeNull();
    expect(eventFromStream('a-tm', 'worker_online', { worker: 'a-tm' })).toBeNull();
  });
});

describe('status notices', () => {
  it('says what changed for the worker and its manager, nothing for others', () => {
    expect(noticeFromStream('a-tm', 'worker_offline', { worker: 'a-tm' }, 5)?.text).toMatch(/^offline/);
    expect(noticeFromStream('a-tm', 'active_state', { worker: 'a-tm', is_active: true }, 5)?.text).toMatch(/^busy/);
    expect(noticeFromStream('a-tm', 'active_state', { worker: 'a-tm', is_active: false }, 5)?.text).toMatch(/^idle/);
    expect(
      noticeFromStream('a-tm', 'worker_condition', { worker: 'a-tm', signal: 'blocked', detail: 'Trust this folder?\nmore' }, 5)
        ?.text,
    ).toBe('blocked: Trust this folder?');
    expect(noticeFromStream('a-tm', 'worker_condition', { worker: 'a-tm', signal: null }, 5)?.text).toBe('condition cleared');
    expect(noticeFromStream('a-tm', 'worker_offline', { worker: 'a-tm-manager' }, 5)?.text).toMatch(/^manager disconnected/);
    expect(
      noticeFromStream('a-tm', 'channel_event', { worker: 'a-tm-manager', content: '/compact', meta: { kind: 'type:/compact' } }, 5)
        ?.text,
    ).toBe('to its manager: typed /compact');
    expect(noticeFromStream('a-tm', 'context_pct', { worker: 'a-tm', context_pct: 40 }, 5)).toBeNull();
    expect(noticeFromStream('a-tm', 'worker_offline', { worker: 'b-tm' }, 5)).toBeNull();
  });
});

describe('the ordered list', () => {
  it('puts older pages on top and reports how many were added', () => {
    const l = new TimelineList();
    expect(l.prepend([ev(8), ev(9)])).toBe(2);
    expect(l.prepend([ev(5), ev(6), ev(7)])).toBe(3);
    expect(keys(l.items)).toEqual(['m5', 'm6', 'm7', 'm8', 'm9']);
    expect(l.oldestId()).toBe('0000000005');
    expect(l.prepend([ev(5)])).toBe(0);
  });

  it('drops duplicates from the stream and a page that overlaps it', () => {
    const l = new TimelineList();
    // The stream delivered 10 while the first page (…9, 10) was in flight.
    expect(l.add(ev(10))).toBe(true);
    expect(l.add(ev(10))).toBe(false);
    l.prepend([ev(8), ev(9), ev(10)]);
    expect(keys(l.items)).toEqual(['m8', 'm9', 'm10']);
  });

  it('keeps stored events in id order and notices where they came', () => {
    const l = new TimelineList();
    l.prepend([ev(1), ev(2)]);
    l.notice({ type: 'notice', ts: 0, tone: 'warn', text: 'offline' });
    l.add(ev(4));
    // A late event older than the newest goes before it, after the notice.
    l.add(ev(3));
    expect(keys(l.items)).toEqual(['m1', 'm2', '[offline]', 'm3', 'm4']);
    // One older than everything after the notice goes above it.
    l.add(ev(0));
    expect(keys(l.items)[0]).toBe('m0');
    const noticeKeys = l.items.filter((i) => i.type === 'notice').map((i) => i.key);
    expect(new Set(noticeKeys).size).toBe(noticeKeys.length);
  });
});

describe('delivery', () => {
  it('is queued until the hub has handed the event over', () => {
    expect(deliveryOf('0000000005', null)).toBe('queued');
    expect(deliveryOf('0000000005', { delivered_through: null })).toBe('queued');
    expect(deliveryOf('0000000005', { delivered_through: '0000000004' })).toBe('queued');
    expect(deliveryOf('0000000005', { delivered_through: '0000000005' })).toBe('delivered');
    expect(deliveryOf('0000000005', { delivered_through: '0000000099' })).toBe('delivered');
  });
});

describe('height estimates', () => {
  it('grow with wrapped and explicit lines', () => {
    const one = estimateHeight({ type: 'event', key: 'a', event: ev(1, 'outbound', 'short') }, 80);
    const wrapped = estimateHeight({ type: 'event', key: 'b', event: ev(2, 'outbound', 'x'.repeat(400)) }, 80);
    const lines = estimateHeight({ type: 'event', key: 'c', event: ev(3, 'outbound', 'a\nb\nc\nd\ne') }, 80);
    expect(wrapped - one).toBe(4 * 20);
    expect(lines - one).toBe(4 * 20);
    expect(estimateHeight({ type: 'notice', key: 'n', ts: 0, tone: 'info', text: 'x' }, 80)).toBeLessThan(one);
  });
});
