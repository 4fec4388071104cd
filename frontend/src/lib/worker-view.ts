// What the operator is told about one worker: whether it ever connected,
// whether a terminal can exist, what happened to a message just sent, and
// the fleet's counts (one function, so the roster, the tabs and Settings
// cannot disagree).

import { formatAgo, neverConnected, stateBadge } from './format';
import { isManager } from './fleet';
import type { SendReceipt, Worker } from './types';

export { neverConnected };

export type Reach = 'online' | 'offline' | 'exited' | 'never';

export function reachOf(w: Worker): Reach {
  if (neverConnected(w)) return 'never';
  return w.presence ?? (w.online ? 'online' : w.exited_cleanly ? 'exited' : 'offline');
}

/** A label and a line for a worker that cannot take a message now, or null. */
export function reachText(w: Worker, now: number): { label: string; text: string } | null {
  switch (reachOf(w)) {
    case 'never':
      return {
        label: 'never connected',
        text: 'no process has registered under this name; messages wait on the hub until one does',
      };
    case 'offline':
      return {
        label: 'offline',
        text: `last seen ${formatAgo(w.last_activity, now)}; messages are queued and delivered when it reconnects`,
      };
    case 'exited':
      return {
        label: 'exited',
        text: `said goodbye ${formatAgo(w.last_activity, now)}; messages are queued until it starts again`,
      };
    default:
      return null;
  }
}

export type TerminalReach = { ok: true } | { ok: false; title: string; why: string };

/** Whether the worker's terminal can be shown, and if not, why. The
 * terminal is its manager's (`<worker>-manager`, claude-tm's manager): the
 * channel alone has none. */
export function terminalReach(w: Worker | undefined, manager: Worker | undefined, now: number): TerminalReach {
  const name = w?.name ?? 'this worker';
  if (w && neverConnected(w) && !manager) {
    return {
      ok: false,
      title: 'No terminal: never connected',
      why: `${name} has never connected to this hub, so there is no terminal to show. Start it with claude-tm in its project; messages sent meanwhile are queued.`,
    };
  }
  if (!manager) {
    return {
      ok: false,
      title: 'No terminal: no manager',
      why: `No manager has registered for ${name} (${name}-manager). The terminal is served by claude-tm's manager, which runs claude in a pty; a worker started without it (the original Python channel, or claude with only the TubeMail channel) has its messages and timeline here but no terminal.`,
    };
  }
  if (!manager.online) {
    const left = manager.exited_cleanly || manager.presence === 'exited' ? 'stopped' : 'disconnected';
    return {
      ok: false,
      title: 'No terminal: manager not connected',
      why: `${manager.name} ${left} ${formatAgo(manager.last_activity, now)}. The terminal comes back when the manager reconnects (claude-tm restarts it by itself unless the worker was stopped).`,
    };
  }
  return { ok: true };
}

export interface SendOutcome {
  tone: 'ok' | 'warn';
  text: string;
  queued: boolean;
}

/** What to tell the operator after a send, from the receipt and the row. */
export function sendOutcome(receipt: SendReceipt, worker: Worker | undefined, target: string): SendOutcome {
  if (receipt.duplicate) return { tone: 'ok', text: `Already sent to ${target} (same idempotency key)`, queued: false };
  if (receipt.worker !== target) {
    return { tone: 'ok', text: `Sent to ${receipt.worker}: its manager types it into the terminal`, queued: false };
  }
  if (receipt.warning) return { tone: 'warn', text: `Queued for ${target}: ${receipt.warning}`, queued: true };
  const reach = worker ? reachOf(worker) : 'never';
  if (reach === 'never') {
    return { tone: 'warn', text: `Queued for ${target}: it has never connected; delivered when it does`, queued: true };
  }
  if (reach !== 'online') {
    return { tone: 'warn', text: `Queued for ${target}: it is ${reach}; delivered when it reconnects`, queued: true };
  }
  return { tone: 'ok', text: `Sent to ${target}`, queued: false };
}

export interface FleetCounts {
  /** Workers, managers excluded. */
  total: number;
  online: number;
  busy: number;
  waiting: number;
  blocked: number;
  offline: number;
  exited: number;
  never: number;
}

/** Counts by the same badge the rows show, so every place agrees. */
export function fleetCounts(workers: Iterable<Worker>, now: number): FleetCounts {
  const c: FleetCounts = { total: 0, online: 0, busy: 0, waiting: 0, blocked: 0, offline: 0, exited: 0, never: 0 };
  for (const w of workers) {
    if (isManager(w.name)) continue;
    c.total++;
    const reach = reachOf(w);
    if (reach === 'never') c.never++;
    else if (reach === 'offline') c.offline++;
    else if (reach === 'exited') c.exited++;
    else {
      c.online++;
      const tone = stateBadge(w, now).tone;
      if (tone === 'busy') c.busy++;
      else if (tone === 'waiting') c.waiting++;
      else if (tone === 'blocked') c.blocked++;
    }
  }
  return c;
}

/** Columns (by label) not fully inside the visible part of a scrolled
 * table: `cols` are the header cells' left/right edges in the scroller's
 * content coordinates. */
export function columnsOutOfView(
  cols: { label: string; left: number; right: number }[],
  scrollLeft: number,
  viewWidth: number,
  stickyWidth = 0,
): { left: string[]; right: string[] } {
  const left: string[] = [];
  const right: string[] = [];
  const from = scrollLeft + stickyWidth;
  const to = scrollLeft + viewWidth;
  for (const c of cols) {
    // A pixel of slack for sub-pixel layout.
    if (c.right > to + 1) right.push(c.label);
    else if (c.left < from - 1 && c.left >= stickyWidth - 1) left.push(c.label);
  }
  return { left, right };
}
