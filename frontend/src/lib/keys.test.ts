import { describe, expect, it } from 'vitest';
import { loadZoom, permissionKey, saveZoom, terminalKey, zoomed, zoomKey } from './keys';

const key = (k: string, mods: Partial<{ ctrlKey: boolean; shiftKey: boolean; altKey: boolean; metaKey: boolean }> = {}) => ({
  key: k,
  ctrlKey: false,
  shiftKey: false,
  altKey: false,
  metaKey: false,
  ...mods,
});

describe('terminal keys', () => {
  it('Shift+Enter inserts a newline without submitting', () => {
    expect(terminalKey(key('Enter', { shiftKey: true }), false)).toEqual({ kind: 'send', data: '\x1b\r' });
    expect(terminalKey(key('Enter'), false)).toEqual({ kind: 'default' });
  });
  it('Ctrl+C copies a selection, else interrupts', () => {
    expect(terminalKey(key('c', { ctrlKey: true }), true)).toEqual({ kind: 'copy' });
    expect(terminalKey(key('c', { ctrlKey: true }), false)).toEqual({ kind: 'send', data: '\x03' });
    expect(terminalKey(key('C', { ctrlKey: true, shiftKey: true }), false)).toEqual({ kind: 'copy' });
  });
  it('Ctrl+V pastes through the browser', () => {
    expect(terminalKey(key('v', { ctrlKey: true }), false)).toEqual({ kind: 'paste' });
  });
  it('zoom keys', () => {
    expect(terminalKey(key('=', { ctrlKey: true }), false)).toEqual({ kind: 'zoom', step: 1 });
    expect(terminalKey(key('+', { ctrlKey: true, shiftKey: true }), false)).toEqual({ kind: 'zoom', step: 1 });
    expect(terminalKey(key('-', { ctrlKey: true }), false)).toEqual({ kind: 'zoom', step: -1 });
    expect(terminalKey(key('0', { ctrlKey: true }), false)).toEqual({ kind: 'zoom', step: 0 });
  });
  it('everything else goes to the terminal', () => {
    expect(terminalKey(key('a'), false)).toEqual({ kind: 'default' });
    expect(terminalKey(key('d', { ctrlKey: true }), false)).toEqual({ kind: 'default' });
    expect(terminalKey(key('c', { ctrlKey: true, altKey: true }), true)).toEqual({ kind: 'default' });
  });
  it('zoom stays in bounds and persists per worker', () => {
    expect(zoomed(14, 1)).toBe(15);
    expect(zoomed(32, 1)).toBe(32);
    expect(zoomed(8, -1)).toBe(8);
    expect(zoomed(20, 0)).toBe(14);
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
    };
    saveZoom('a-tm', 18, storage);
    expect(store.get(zoomKey('a-tm'))).toBe('18');
    expect(loadZoom('a-tm', storage)).toBe(18);
    expect(loadZoom('b-tm', storage)).toBe(14);
    store.set(zoomKey('b-tm'), 'huge');
    expect(loadZoom('b-tm', storage)).toBe(14);
    saveZoom('a-tm', 14, storage);
    expect(store.has(zoomKey('a-tm'))).toBe(false);
  });
});

describe('permission keys', () => {
  it('maps the documented keys', () => {
    expect(permissionKey(key('a'))).toBe('allow');
    expect(permissionKey(key('y'))).toBe('allow');
    expect(permissionKey(key('d'))).toBe('deny');
    expect(permissionKey(key('n'))).toBe('deny');
    expect(permissionKey(key('j'))).toBe('next');
    expect(permissionKey(key('ArrowDown'))).toBe('next');
    expect(permissionKey(key('k'))).toBe('prev');
    expect(permissionKey(key('ArrowUp'))).toBe('prev');
    expect(permissionKey(key('A', { shiftKey: true }))).toBe('allowTool');
  });
  it('leaves modified keys to the browser', () => {
    expect(permissionKey(key('a', { ctrlKey: true }))).toBeNull();
    expect(permissionKey(key('d', { metaKey: true }))).toBeNull();
    expect(permissionKey(key('x'))).toBeNull();
  });
});
