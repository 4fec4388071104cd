// Keyboard handling, as pure decisions the components carry out.

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
  metaKey: boolean;
}

export type TerminalAction =
  | { kind: 'default' }
  | { kind: 'send'; data: string }
  | { kind: 'copy' }
  | { kind: 'paste' }
  | { kind: 'zoom'; step: 1 | -1 | 0 };

/**
 * What a key in the terminal does. Shift+Enter sends ESC CR, which Claude
 * Code takes as a newline without submitting; Ctrl+C copies when text is
 * selected and is SIGINT (^C) otherwise; Ctrl+V is left to the browser's
 * paste (xterm brackets it); Ctrl+= / Ctrl+- / Ctrl+0 zoom.
 */
export function terminalKey(ev: KeyLike, hasSelection: boolean): TerminalAction {
  const ctrl = ev.ctrlKey || ev.metaKey;
  if (ev.key === 'Enter' && ev.shiftKey && !ctrl && !ev.altKey) return { kind: 'send', data: '\x1b\r' };
  if (!ctrl || ev.altKey) return { kind: 'default' };
  const k = ev.key.toLowerCase();
  if (k === 'c' && !ev.shiftKey) return hasSelection ? { kind: 'copy' } : { kind: 'send', data: '\x03' };
  if (k === 'c' && ev.shiftKey) return { kind: 'copy' };
  if (k === 'v') return { kind: 'paste' };
  if (ev.key === '=' || ev.key === '+') return { kind: 'zoom', step: 1 };
  if (ev.key === '-' || ev.key === '_') return { kind: 'zoom', step: -1 };
  if (ev.key === '0') return { kind: 'zoom', step: 0 };
  return { kind: 'default' };
}

export const FONT_DEFAULT = 14;
export const FONT_MIN = 8;
export const FONT_MAX = 32;

export function zoomed(size: number, step: 1 | -1 | 0): number {
  if (step === 0) return FONT_DEFAULT;
  return Math.min(FONT_MAX, Math.max(FONT_MIN, size + step));
}

/** localStorage key of a worker's terminal font size. */
export const zoomKey = (worker: string) => `tubemail.terminal.fontSize.${worker}`;

export function loadZoom(worker: string, storage: Pick<Storage, 'getItem'> = localStorage): number {
  const raw = Number(storage.getItem(zoomKey(worker)));
  return Number.isFinite(raw) && raw >= FONT_MIN && raw <= FONT_MAX ? raw : FONT_DEFAULT;
}

export function saveZoom(worker: string, size: number, storage: Pick<Storage, 'setItem' | 'removeItem'> = localStorage) {
  if (size === FONT_DEFAULT) storage.removeItem(zoomKey(worker));
  else storage.setItem(zoomKey(worker), String(size));
}

export type PermissionAction = 'allow' | 'deny' | 'next' | 'prev' | 'allowTool' | null;

/** Keys of the permission inbox (shown on screen). */
export const PERMISSION_KEYS: { keys: string; what: string }[] = [
  { keys: 'j / ↓', what: 'next' },
  { keys: 'k / ↑', what: 'previous' },
  { keys: 'a / y', what: 'allow' },
  { keys: 'd / n', what: 'deny' },
  { keys: 'Shift+A', what: 'allow every pending prompt for this tool' },
];

export function permissionKey(ev: KeyLike): PermissionAction {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return null;
  switch (ev.key) {
    case 'j':
    case 'ArrowDown':
      return 'next';
    case 'k':
    case 'ArrowUp':
      return 'prev';
    case 'a':
    case 'y':
      return ev.shiftKey ? null : 'allow';
    case 'A':
      return 'allowTool';
    case 'd':
    case 'n':
      return 'deny';
    default:
      return null;
  }
}

/** Whether a key event comes from a text field (global shortcuts stay off). */
export function inTextField(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== 'string') return false;
  return el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable;
}
