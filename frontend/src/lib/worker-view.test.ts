import { describe, expect, it } from 'vitest';
import type { SendReceipt, Worker } from './types';
import { columnsOutOfView, fleetCounts, neverConnected, reachOf, reachText, sendOutcome, terminalReach } from './worker-view';

const row = (name: string, over: Partial<Worker> = {}): Worker => ({
  name,
  cwd: '/home/dev/p',
  online: true,
  state: 'idle',
  last_activity: 100,
  pending_count: 0,
  event_count: 0,
  forwarder_version: '0.1.0',
  exited_cleanly: false,
  recording_enabled: false,
  context_pct: null,
  registered_at: 0,
  presence: 'online',
  pid: 42,
  state_reason: { state: 'idle', signal: 'no_unanswered_inbound', since: 100 },
  ...over,
});
// What the hub makes of a name it was only sent messages for.
const ghost = (name: string) =>
  row(name, { cwd: '', forwarder_version: '', pid: null, online: false, presence: 'offline', state: 'busy' });

const receipt = (over: Partial<SendReceipt> = {}): SendReceipt => ({
  event_id: '0000000007',
  queued_at: 1,
  routed_to: 'worker (tubemail channel)',
  worker: 'a-tm',
  duplicate: false,
  ...over,
});

describe('reach', () => {
  it('tells never-connected from offline and exited', () => {
    expect(neverConnected(ghost('g'))).toBe(true);
    expect(neverConnected(row('a', { online: false, presence: 'offline' }))).toBe(false);
    expect(reachOf(ghost('g'))).toBe('never');
    expect(reachOf(row('a', { online: false, presence: 'offline' }))).toBe('offline');
    expect(reachOf(row('a', { online: false, presence: 'exited', exited_cleanly: true }))).toBe('exited');
    expect(reachOf(row('a'))).toBe('online');
    expect(reachText(row('a'), 200)).toBeNull();
    expect(reachText(ghost('g'), 200)?.label).toBe('never connected');
    expect(reachText(row('a', { online: false, presence: 'offline' }), 200)?.text).toMatch(/queued/);
  });
});

describe('terminal', () => {
  it('is there only with a connected manager, and says why not', () => {
    expect(terminalReach(row('a'), row('a-manager'), 200)).toEqual({ ok: true });
    const none = terminalReach(row('a'), undefined, 200);
    expect(none.ok).toBe(false);
    expect(!none.ok && none.why).toMatch(/No manager has registered for a \(a-manager\)/);
    const gone = terminalReach(row('a'), row('a-manager', { online: false, presence: 'offline', last_activity: 180 }), 200);
    expect(!gone.ok && gone.why).toMatch(/^a-manager disconnected 20s ago/);
    const stopped = terminalReach(row('a'), row('a-manager', { online: false, presence: 'exited', exited_cleanly: true }), 200);
    expect(!stopped.ok && stopped.why).toMatch(/^a-manager stopped/);
    const never = terminalReach(ghost('g'), undefined, 200);
    expect(!never.ok && never.title).toBe('No terminal: never connected');
  });
});

describe('send outcome', () => {
  it('says queued for a worker that cannot take it now', () => {
    expect(sendOutcome(receipt(), row('a-tm'), 'a-tm')).toEqual({ tone: 'ok', text: 'Sent to a-tm', queued: false });
    expect(sendOutcome(receipt(), row('a-tm', { online: false, presence: 'offline' }), 'a-tm')).toMatchObject({
      tone: 'warn',
      queued: true,
      text: 'Queued for a-tm: it is offline; delivered when it reconnects',
    });
    expect(sendOutcome(receipt(), ghost('a-tm'), 'a-tm').text).toMatch(/never connected/);
    expect(sendOutcome(receipt(), undefined, 'a-tm').queued).toBe(true);
    const warned = sendOutcome(receipt({ warning: 'stored, but it cannot be delivered yet: x' }), row('a-tm'), 'a-tm');
    expect(warned).toMatchObject({ tone: 'warn', queued: true });
    expect(warned.text).toMatch(/cannot be delivered yet/);
    expect(sendOutcome(receipt({ worker: 'a-tm-manager' }), row('a-tm'), 'a-tm').text).toMatch(/manager types it/);
    expect(sendOutcome(receipt({ duplicate: true }), row('a-tm'), 'a-tm').text).toMatch(/Already sent/);
  });
});

describe('fleet counts', () => {
  it('count workers once, managers never, by the badge each row shows', () => {
    const now = 200;
    const c = fleetCounts(
      [
        row('a'),
        row('a-manager'),
        row('b', { state: 'busy', state_reason: { state: 'busy', signal: 'observed_active', since: 150 } }),
        row('c', { state: 'waiting_permission', state_reason: { state: 'waiting_permission', signal: 'pending_permission', since: 1 } }),
        row('d', { state_reason: { state: 'busy', signal: 'blocked', since: 1, detail: 'dialog' }, state: 'busy' }),
        row('e', { online: false, presence: 'offline' }),
        row('f', { online: false, presence: 'exited', exited_cleanly: true }),
        ghost('g'),
      ],
      now,
    );
    expect(c).toEqual({ total: 7, online: 4, busy: 1, waiting: 1, blocked: 1, offline: 1, exited: 1, never: 1 });
    expect(c.online + c.offline + c.exited + c.never).toBe(c.total);
  });
});

describe('columns out of view', () => {
  const cols = [
    { label: 'State', left: 200, right: 300 },
    { label: 'Version', left: 300, right: 400 },
    { label: 'Actions', left: 400, right: 600 },
  ];
  it('names columns cut on either side of a scrolled table', () => {
    expect(columnsOutOfView(cols, 0, 650, 200)).toEqual({ left: [], right: [] });
    expect(columnsOutOfView(cols, 0, 450, 200)).toEqual({ left: [], right: ['Actions'] });
    // Scrolled by 150 with a 200 px sticky name column: State and half of
    // Version are under it.
    expect(columnsOutOfView(cols, 150, 450, 200)).toEqual({ left: ['State', 'Version'], right: [] });
  });
});
