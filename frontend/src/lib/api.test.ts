import { afterEach, describe, expect, it, vi } from 'vitest';
import { api } from './api';

afterEach(() => vi.unstubAllGlobals());

describe('api.workers', () => {
  it('follows the roster pages until next is null', async () => {
    const pages: Record<string, unknown> = {
      '/api/workers': { workers: [{ name: 'a' }, { name: 'b c' }], next: 'b c' },
      '/api/workers?after=b%20c': { workers: [{ name: 'd' }], next: null },
    };
    const seen: string[] = [];
    vi.stubGlobal('fetch', async (path: string) => {
      seen.push(path);
      return new Response(JSON.stringify(pages[path]), { status: 200 });
    });
    const names = (await api.workers()).map((w) => w.name);
    expect(names).toEqual(['a', 'b c', 'd']);
    expect(seen).toEqual(['/api/workers', '/api/workers?after=b%20c']);
  });

  it('reads a hub that does not page (no next) in one request', async () => {
    let calls = 0;
    vi.stubGlobal('fetch', async () => {
      calls += 1;
      return new Response(JSON.stringify({ workers: [{ name: 'a' }] }), { status: 200 });
    });
    expect((await api.workers()).length).toBe(1);
    expect(calls).toBe(1);
  });
});
