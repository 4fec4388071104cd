import { describe, expect, it } from 'vitest';
import { mergeRoster, patchWorker, permissionsAfter, sameWorker } from './fleet';
import type { PendingPermission, Worker } from './types';

const p = (worker: string, request_id: string, tool_name = 'Bash'): PendingPermission => ({
  worker,
  request_id,
  tool_name,
  description: '',
  input_preview: '',
  online: true,
  requested_at: 0,
});

describe('permission list from stream events', () => {
  it('adds once, removes on answer, clears by id or wholesale', () => {
    let list: PendingPermission[] = [];
    list = permissionsAfter(list, 'permission_request', { worker: 'a', request_id: 'x', tool_name: 'Bash' });
    list = permissionsAfter(list, 'permission_request', { worker: 'a', request_id: 'x', tool_name: 'Bash' });
    list = permissionsAfter(list, 'permission_request', { worker: 'b', request_id: 'y', tool_name: 'Edit' });
    expect(list.map((x) => x.request_id)).toEqual(['x', 'y']);
    expect(permissionsAfter(list, 'permission_response', { worker: 'a', request_id: 'x' })).toEqual([list[1]]);
    // Same id on another worker stays.
    expect(permissionsAfter(list, 'permission_response', { worker: 'b', request_id: 'x' })).toHaveLength(2);
    expect(permissionsAfter(list, 'permissions_cleared', { worker: 'b', request_ids: ['y'] })).toEqual([list[0]]);
    expect(permissionsAfter(list, 'worker_offline', { worker: 'a' })).toEqual([list[1]]);
    expect(permissionsAfter(list, 'outbound', { worker: 'a' })).toBe(list);
  });
});

describe('row patches', () => {
  const w = { name: 'a', online: true, presence: 'online', context_pct: null, exited_cleanly: false } as Worker;
  it('applies notices at once', () => {
    expect(patchWorker(w, 'context_pct', { context_pct: 33 }).context_pct).toBe(33);
    expect(patchWorker(w, 'worker_offline', {})).toMatchObject({ online: false, presence: 'offline' });
    expect(patchWorker(w, 'worker_exited', {})).toMatchObject({ online: false, presence: 'exited' });
    expect(patchWorker({ ...w, online: false }, 'worker_online', {})).toMatchObject({ online: true });
    expect(patchWorker(w, 'outbound', {})).toBe(w);
  });
  it('keeps the worker list stable for p()', () => {
    expect(p('a', 'b').tool_name).toBe('Bash');
  });
});

describe('roster reloads keep unchanged rows', () => {
  const row = (name: string, since = 0) =>
    ({ name, online: true, state: 'idle', state_reason: { state: 'idle', signal: 'x', since } }) as unknown as Worker;
  it('reuses equal rows and replaces changed ones', () => {
    const a = row('a');
    const b = row('b');
    const prev = new Map([
      ['a', a],
      ['b', b],
    ]);
    const next = mergeRoster(prev, [row('a'), row('b', 5), row('c')]);
    expect(next.get('a')).toBe(a);
    expect(next.get('b')).not.toBe(b);
    expect([...next.keys()]).toEqual(['a', 'b', 'c']);
    expect(sameWorker(row('a'), { ...row('a'), extra: 1 } as unknown as Worker)).toBe(false);
  });
});
