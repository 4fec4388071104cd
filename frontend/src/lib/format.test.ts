import { describe, expect, it } from 'vitest';
import { conditionOf, formatAgo, formatContext, formatDuration, groupWorkers, projectOf, stateBadge } from './format';
import type { StateReason, Worker } from './types';

function worker(over: Partial<Worker> = {}): Worker {
  return {
    name: 'api-tm',
    cwd: '/home/dev/api',
    online: true,
    state: 'idle',
    last_activity: 1000,
    pending_count: 0,
    event_count: 0,
    forwarder_version: '0.1.0',
    exited_cleanly: false,
    recording_enabled: false,
    context_pct: null,
    registered_at: 0,
    presence: 'online',
    state_reason: { state: 'idle', signal: 'no_unanswered_inbound', since: 0 },
    ...over,
  };
}

describe('durations', () => {
  it('reads at a glance', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(47.9)).toBe('47s');
    expect(formatDuration(65)).toBe('1m 05s');
    expect(formatDuration(3725)).toBe('1h 02m');
    expect(formatDuration(2 * 86400 + 3 * 3600)).toBe('2d 03h');
    expect(formatDuration(-5)).toBe('0s');
  });
  it('says how long ago', () => {
    expect(formatAgo(0, 100)).toBe('never');
    expect(formatAgo(99.5, 100)).toBe('just now');
    expect(formatAgo(70, 100)).toBe('30s ago');
    expect(formatAgo(40, 100)).toBe('1m ago');
    expect(formatAgo(0.5, 3725)).toBe('1h 02m ago');
    expect(formatAgo(1, 200000)).toBe('2d ago');
  });
  it('context', () => {
    expect(formatContext(null)).toBe('–');
    expect(formatContext(42)).toBe('42%');
  });
});

describe('state badges', () => {
  it('busy ticks from the reason’s since', () => {
    const w = worker({ state: 'busy', state_reason: { state: 'busy', signal: 'observed_active', since: 1000 } });
    expect(stateBadge(w, 1047).label).toBe('busy · 47s');
    expect(stateBadge(w, 1047).tone).toBe('busy');
    expect(stateBadge(w, 1047).title).toMatch(/manager sees claude working/);
    expect(stateBadge(w, 1125).label).toBe('busy · 2m 05s');
  });
  it('busy without a known start shows no number', () => {
    const w = worker({ state: 'busy', state_reason: { state: 'busy', signal: 'unanswered_inbound', since: 0 } });
    expect(stateBadge(w, 5000).label).toBe('busy');
  });
  it('a condition shows with what the worker side saw, offline or not', () => {
    const reason: StateReason = {
      state: 'idle',
      signal: 'channel_unavailable',
      since: 1000,
      detail: 'Claude Code: channels feature is not currently available',
    };
    const b = stateBadge(worker({ state_reason: reason }), 1010);
    expect(b).toMatchObject({ label: 'channel unavailable', tone: 'blocked' });
    expect(b.title).toMatch(/did not take its channel[\s\S]*not currently available/);
    expect(stateBadge(worker({ online: false, presence: 'offline', state_reason: reason }), 1010).label).toBe(
      'channel unavailable',
    );
    const blocked: StateReason = { state: 'busy', signal: 'blocked', since: 1000, detail: 'Pick a theme\n❯ Dark' };
    expect(stateBadge(worker({ state: 'busy', state_reason: blocked }), 1010)).toMatchObject({
      label: 'blocked',
      tone: 'blocked',
    });
    expect(conditionOf(worker({ state_reason: blocked }))?.detail).toBe('Pick a theme\n❯ Dark');
    expect(conditionOf(worker())).toBeNull();
  });
  it('waiting, idle, offline and exited', () => {
    expect(stateBadge(worker({ state: 'waiting_permission' }), 0).label).toBe('waiting_permission');
    expect(stateBadge(worker(), 0)).toMatchObject({ label: 'idle', tone: 'idle' });
    expect(stateBadge(worker({ online: false, presence: 'offline', state: 'busy' }), 2000)).toMatchObject({
      label: 'offline',
      tone: 'offline',
    });
    expect(stateBadge(worker({ online: false, presence: 'exited', exited_cleanly: true }), 0).label).toBe('exited');
    // Rows from an original-shaped hub (no presence field).
    expect(stateBadge(worker({ online: false, presence: undefined, exited_cleanly: true }), 0).label).toBe('exited');
    expect(stateBadge(worker({ online: false, presence: undefined }), 0).label).toBe('offline');
  });
});

describe('grouping and sorting', () => {
  it('groups by project and hides managers', () => {
    const ws = [
      worker({ name: 'b-tm', cwd: '/x/shop' }),
      worker({ name: 'a-tm', cwd: '/x/shop' }),
      worker({ name: 'a-tm-manager', cwd: '/x/shop' }),
      worker({ name: 'c-tm', cwd: '/y/api/' }),
    ];
    const groups = groupWorkers(ws, 'name', false, 0);
    expect(groups.map((g) => g.project)).toEqual(['api', 'shop']);
    expect(groups[1].workers.map((w) => w.name)).toEqual(['a-tm', 'b-tm']);
    expect(groupWorkers(ws, 'name', true, 0)[1].workers.map((w) => w.name)).toEqual(['b-tm', 'a-tm']);
    expect(groupWorkers(ws, 'name', false, 0, 'API').flatMap((g) => g.workers.map((w) => w.name))).toEqual(['c-tm']);
  });
  it('sorts by state urgency and by context', () => {
    const ws = [
      worker({ name: 'idle-tm', context_pct: 10 }),
      worker({ name: 'wait-tm', state: 'waiting_permission', context_pct: 90 }),
      worker({ name: 'off-tm', online: false, presence: 'offline' }),
      worker({ name: 'busy-tm', state: 'busy', context_pct: 50 }),
    ];
    expect(groupWorkers(ws, 'state', false, 0)[0].workers.map((w) => w.name)).toEqual([
      'wait-tm',
      'busy-tm',
      'idle-tm',
      'off-tm',
    ]);
    expect(groupWorkers(ws, 'context', true, 0)[0].workers.map((w) => w.name)).toEqual([
      'wait-tm',
      'busy-tm',
      'idle-tm',
      'off-tm',
    ]);
  });
  it('projects fall back to the worker name without -tm', () => {
    expect(projectOf({ cwd: '', name: 'shop-review-tm' })).toBe('shop');
    expect(projectOf({ cwd: 'C:\\work\\shop', name: 'x' })).toBe('shop');
  });
});
