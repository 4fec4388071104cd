// The roster: grouped by project, sortable, live.

import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type RefObject } from 'react';
import { api } from '../lib/api';
import { useClock } from '../lib/clock';
import { managerOf } from '../lib/fleet';
import type { Fleet } from '../lib/fleet-hook';
import { conditionOf, formatAgo, formatContext, groupWorkers, stateBadge, type SortKey } from '../lib/format';
import type { Worker } from '../lib/types';
import { columnsOutOfView, neverConnected, sendOutcome, type FleetCounts } from '../lib/worker-view';
import { Confirm, Empty, Modal, useAction, useToast } from './ui';

interface Props {
  fleet: Fleet;
  selected: string | null;
  onOpen: (worker: string) => void;
  hubVersion: string | null;
  counts: FleetCounts;
}

type Pending =
  | { kind: 'send'; worker: string }
  | { kind: 'confirm'; worker: string; action: 'restart' | 'stop' | 'purge' | 'update' | 'update-force'; note?: string };

const COLUMNS: { key: SortKey | null; label: string; cls?: string }[] = [
  { key: 'name', label: 'Worker' },
  { key: 'state', label: 'State' },
  { key: null, label: 'Manager', cls: 'col-narrow' },
  { key: 'version', label: 'Version' },
  { key: 'context', label: 'Context' },
  { key: 'activity', label: 'Last activity' },
  { key: null, label: 'Rec', cls: 'col-narrow' },
  { key: null, label: 'Actions', cls: 'col-actions' },
];

export function WorkersTab({ fleet, selected, onOpen, hubVersion, counts }: Props) {
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'name', desc: false });
  const [filter, setFilter] = useState('');
  const [pending, setPending] = useState<Pending | null>(null);
  const run = useAction();
  // Sorting by state or activity follows the clock; by name it does not.
  const sortNow = Math.floor(Date.now() / 1000);
  const groups = useMemo(
    () => groupWorkers(fleet.workers.values(), sort.key, sort.desc, sortNow, filter),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [fleet.workers, sort, filter],
  );
  const total = groups.reduce((n, g) => n + g.workers.length, 0);
  const toast = useToast();
  const wrap = useRef<HTMLDivElement>(null);
  const hidden = useHiddenColumns(wrap, total);

  const { refreshWorker } = fleet;
  const onRecord = useCallback(
    async (worker: string, on: boolean) => {
      const done = await run(
        'Recording',
        async () => {
          await api.setRecording(worker, on);
          refreshWorker(worker);
          return true;
        },
        on ? `Recording ${worker}` : `Stopped recording ${worker}`,
      );
      return done === true;
    },
    [run, refreshWorker],
  );
  const onInterrupt = useCallback(
    (worker: string) => void run('Interrupt', () => api.interrupt(worker), `Interrupted ${worker}`),
    [run],
  );

  const act = (worker: string, action: Pending & { kind: 'confirm' }) => {
    const a = action.action;
    if (a === 'restart') void run('Restart', () => api.restart(worker), `Restarting ${worker}`);
    if (a === 'stop') void run('Stop', () => api.stop(worker), `Stopping ${worker}`);
    if (a === 'purge')
      void run('Purge', async () => {
        await api.purge(worker);
        fleet.removeWorker(worker);
      }, `Purged ${worker}`);
    if (a === 'update' || a === 'update-force') {
      void (async () => {
        try {
          await api.updateManager(worker, a === 'update-force');
          run('Update', async () => undefined, `Asked ${worker}'s manager to update`);
        } catch (e) {
          const msg = (e as Error).message;
          if (a === 'update' && msg.includes('not idle')) {
            setPending({ kind: 'confirm', worker, action: 'update-force', note: msg });
          } else {
            void run('Update manager', () => Promise.reject(e as Error));
          }
        }
      })();
    }
  };

  return (
    <section className="tab workers-tab" aria-label="Workers">
      <div className="toolbar">
        <input
          className="search"
          type="search"
          placeholder="Filter by name or directory"
          aria-label="Filter workers"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        <div className="summary">
          <span>
            <b>{counts.online}</b> online
          </span>
          <span className="dot-sep">
            <b>{counts.busy}</b> busy
          </span>
          <span className="dot-sep">
            <b>{counts.waiting}</b> waiting
          </span>
          {counts.blocked > 0 && (
            <span className="dot-sep">
              <b>{counts.blocked}</b> blocked
            </span>
          )}
          {counts.offline + counts.exited > 0 && (
            <span className="dot-sep">
              <b>{counts.offline + counts.exited}</b> offline
            </span>
          )}
          {counts.never > 0 && (
            <span className="dot-sep">
              <b>{counts.never}</b> never connected
            </span>
          )}
        </div>
        <span className="spacer" />
        {hidden.right.length > 0 && (
          <button
            className="btn btn-sm scroll-hint"
            data-hidden={hidden.right.join(',')}
            title={`Scroll the table sideways (Shift+wheel) for: ${hidden.right.join(', ')}`}
            onClick={() => wrap.current?.scrollBy({ left: wrap.current.clientWidth * 0.8, behavior: 'smooth' })}
          >
            {hidden.right.length} more column{hidden.right.length > 1 ? 's' : ''} →
          </button>
        )}
        {hidden.right.length === 0 && hidden.left.length > 0 && (
          <button
            className="btn btn-sm scroll-hint"
            data-hidden={hidden.left.join(',')}
            onClick={() => wrap.current?.scrollTo({ left: 0, behavior: 'smooth' })}
          >
            ← {hidden.left.length} column{hidden.left.length > 1 ? 's' : ''}
          </button>
        )}
      </div>
      {!fleet.loaded ? (
        <div className="loading">Loading the roster…</div>
      ) : total === 0 ? (
        <Empty title={filter ? 'No worker matches' : 'No workers yet'} icon="◎">
          {filter ? (
            <p>Clear the filter to see every worker.</p>
          ) : (
            <>
              <p>
                Start one in any project with <code>claude-tm</code> (it registers with this hub through{' '}
                <code>TUBEMAIL_HUB_URL</code> and <code>TUBEMAIL_SECRET</code>).
              </p>
              <p>Workers appear here the moment they connect.</p>
            </>
          )}
        </Empty>
      ) : (
        <div
          className={`table-wrap${hidden.right.length ? ' more-right' : ''}${hidden.left.length ? ' more-left' : ''}`}
          ref={wrap}
        >
          <table className="roster">
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th
                    key={c.label}
                    className={c.cls}
                    data-col={c.label}
                    aria-sort={
                      c.key && sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : undefined
                    }
                  >
                    {c.key ? (
                      <button
                        className="th-sort"
                        onClick={() =>
                          setSort((s) => ({ key: c.key as SortKey, desc: s.key === c.key ? !s.desc : false }))
                        }
                      >
                        {c.label}
                        <span className="sort-arrow">{sort.key === c.key ? (sort.desc ? '▾' : '▴') : ''}</span>
                      </button>
                    ) : (
                      c.label
                    )}
                  </th>
                ))}
              </tr>
            </thead>
            {groups.map((g) => (
              <tbody key={g.project}>
                <tr className="group-row">
                  <th colSpan={COLUMNS.length} scope="rowgroup">
                    {g.project} <span className="muted">· {g.workers.length}</span>
                  </th>
                </tr>
                {g.workers.map((w) => (
                  <Row
                    key={w.name}
                    w={w}
                    manager={fleet.workers.get(managerOf(w.name))}
                    selected={selected === w.name}
                    hubVersion={hubVersion}
                    onOpen={onOpen}
                    onAsk={setPending}
                    onRecord={onRecord}
                    onInterrupt={onInterrupt}
                  />
                ))}
              </tbody>
            ))}
          </table>
        </div>
      )}
      {pending?.kind === 'send' && (
        <SendDialog
          worker={pending.worker}
          onClose={() => setPending(null)}
          onSend={(text) => {
            const name = pending.worker;
            void run('Send', async () => {
              const receipt = await api.send(name, text);
              const out = sendOutcome(receipt, fleet.workers.get(name), name);
              toast(out.tone, out.text);
            });
          }}
        />
      )}
      {pending?.kind === 'confirm' && (
        <Confirm
          title={CONFIRM[pending.action].title(pending.worker)}
          body={pending.note ? `${pending.note}. ${CONFIRM[pending.action].body}` : CONFIRM[pending.action].body}
          confirm={CONFIRM[pending.action].button}
          danger={pending.action !== 'update'}
          onClose={() => setPending(null)}
          onConfirm={() => act(pending.worker, pending)}
        />
      )}
    </section>
  );
}

const CONFIRM = {
  restart: {
    title: (w: string) => `Restart ${w}?`,
    body: 'The manager restarts claude with --continue. Work in progress in the current turn is lost.',
    button: 'Restart',
  },
  stop: {
    title: (w: string) => `Stop ${w}?`,
    body: 'The manager ends claude and exits; the worker goes offline until someone starts it again.',
    button: 'Stop',
  },
  purge: {
    title: (w: string) => `Purge ${w}?`,
    body: 'The worker and its whole timeline are deleted from the hub. A running worker registers again on its next connect.',
    button: 'Purge',
  },
  update: {
    title: (w: string) => `Update ${w}'s manager?`,
    body: 'The manager updates itself and restarts.',
    button: 'Update',
  },
  'update-force': {
    title: (w: string) => `Update ${w}'s manager anyway?`,
    body: 'Updating now interrupts what it is doing.',
    button: 'Update now',
  },
};

const Row = memo(function Row(props: {
  w: Worker;
  manager: Worker | undefined;
  selected: boolean;
  hubVersion: string | null;
  onOpen: (w: string) => void;
  onAsk: (p: Pending) => void;
  onRecord: (worker: string, on: boolean) => Promise<boolean>;
  onInterrupt: (worker: string) => void;
}) {
  const { w, manager } = props;
  // The switch moves at once; the row's refetch confirms it.
  const [recording, setRecording] = useState<boolean | null>(null);
  useEffect(() => setRecording(null), [w.recording_enabled]);
  const managerUp = Boolean(manager?.online);
  const version = manager?.forwarder_version || w.forwarder_version;
  const condition = conditionOf(w);
  const stale = Boolean(props.hubVersion && manager?.forwarder_version && manager.forwarder_version !== props.hubVersion);
  const stop = (e: { stopPropagation: () => void }) => e.stopPropagation();
  return (
    <tr
      className={`worker-row${props.selected ? ' selected' : ''}${w.online ? '' : ' is-offline'}`}
      data-worker={w.name}
      data-reach={neverConnected(w) ? 'never' : (w.presence ?? (w.online ? 'online' : 'offline'))}
      tabIndex={0}
      aria-selected={props.selected}
      onClick={() => props.onOpen(w.name)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && e.target === e.currentTarget) props.onOpen(w.name);
      }}
    >
      <td className="cell-name">
        <div className="name">{w.name}</div>
        <div className="cwd" title={w.cwd}>
          {w.cwd || '—'}
        </div>
      </td>
      <td>
        <StateBadge w={w} />
        {w.pending_count > 0 && w.online && <span className="pill pill-warn">{w.pending_count} pending</span>}
        {w.permission_mode && (
          <span className="mode" title="the Claude Code permission mode it runs in">
            {w.permission_mode}
          </span>
        )}
        {condition?.detail && (
          <div className="condition-detail" data-condition={condition.label} title={condition.detail}>
            {condition.detail.split('\n')[0]}
          </div>
        )}
      </td>
      <td className="col-narrow">
        <span
          className={`mgr ${managerUp ? 'mgr-up' : manager ? 'mgr-down' : 'mgr-none'}`}
          title={
            manager
              ? managerUp
                ? 'manager connected: the terminal is available'
                : 'manager not connected: no terminal until it is back'
              : 'no manager has registered (no <name>-manager): this worker has no terminal'
          }
        >
          <span className="mgr-dot" aria-hidden />
          {managerUp ? 'up' : manager ? 'down' : 'none'}
        </span>
      </td>
      <td>
        <span className={stale ? 'version stale' : 'version'} title={stale ? `hub runs ${props.hubVersion}` : undefined}>
          {version || '—'}
        </span>
      </td>
      <td>
        <ContextBar pct={w.context_pct ?? null} />
      </td>
      <td>
        <Ago ts={w.last_activity} />
      </td>
      <td className="col-narrow" onClick={stop}>
        <label className="switch" title={w.recording_enabled ? 'recording: click to stop' : 'not recording: click to start'}>
          <input
            type="checkbox"
            checked={recording ?? w.recording_enabled}
            aria-label={`Record ${w.name}`}
            onChange={(e) => {
              const on = e.target.checked;
              setRecording(on);
              void props.onRecord(w.name, on).then((ok) => !ok && setRecording(null));
            }}
          />
          <span className="switch-track" />
        </label>
      </td>
      <td className="col-actions" onClick={stop}>
        <div className="actions">
          <button className="btn btn-sm" onClick={() => props.onAsk({ kind: 'send', worker: w.name })}>
            Send
          </button>
          <button className="btn btn-sm" onClick={() => props.onInterrupt(w.name)} title="Interrupt the current turn (Esc)">
            Interrupt
          </button>
          <RowMenu worker={w.name} onAsk={props.onAsk} />
        </div>
      </td>
    </tr>
  );
});

function RowMenu({ worker, onAsk }: { worker: string; onAsk: (p: Pending) => void }) {
  const [open, setOpen] = useState(false);
  const item = (action: 'restart' | 'stop' | 'purge' | 'update', label: string, danger = false) => (
    <button
      role="menuitem"
      className={danger ? 'menu-item danger' : 'menu-item'}
      onClick={() => {
        setOpen(false);
        onAsk({ kind: 'confirm', worker, action });
      }}
    >
      {label}
    </button>
  );
  return (
    <div className="menu" onBlur={(e) => !e.currentTarget.contains(e.relatedTarget) && setOpen(false)}>
      <button
        className="btn btn-sm btn-icon"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`More actions for ${worker}`}
        onClick={() => setOpen((o) => !o)}
      >
        ⋯
      </button>
      {open && (
        <div className="menu-pop" role="menu">
          {item('restart', 'Restart…')}
          {item('update', 'Update manager…')}
          {item('stop', 'Stop…', true)}
          {item('purge', 'Purge…', true)}
        </div>
      )}
    </div>
  );
}

function StateBadge({ w }: { w: Worker }) {
  // Re-render only when the label or tooltip text changes (busy ticks).
  const key = useClock((now) => {
    const b = stateBadge(w, now);
    return `${b.tone}\u0000${b.label}\u0000${b.title}`;
  });
  const [tone, label, title] = key.split('\u0000');
  const b = { tone, label, title };
  return (
    <span className={`badge badge-${b.tone}`} title={b.title}>
      {b.label}
    </span>
  );
}

function Ago({ ts }: { ts: number }) {
  const text = useClock((now) => formatAgo(ts, now));
  return (
    <span className="muted ago" title={text}>
      {text}
    </span>
  );
}

function ContextBar({ pct }: { pct: number | null }) {
  const level = pct === null ? '' : pct >= 85 ? ' hot' : pct >= 60 ? ' warm' : '';
  return (
    <span className="ctx" title={pct === null ? 'not reported yet' : `${pct}% of the context window used`}>
      <span className="ctx-bar">
        <span className={`ctx-fill${level}`} style={{ width: `${pct ?? 0}%` }} />
      </span>
      <span className="ctx-num">{formatContext(pct)}</span>
    </span>
  );
}

function SendDialog(props: { worker: string; onClose: () => void; onSend: (text: string) => void }) {
  const [text, setText] = useState('');
  const send = () => {
    if (!text.trim()) return;
    props.onSend(text);
    props.onClose();
  };
  return (
    <Modal
      title={`Message ${props.worker}`}
      onClose={props.onClose}
      footer={
        <>
          <span className="muted small">Ctrl+Enter to send</span>
          <button className="btn" onClick={props.onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" onClick={send} disabled={!text.trim()}>
            Send
          </button>
        </>
      }
    >
      <textarea
        className="textarea"
        autoFocus
        rows={6}
        aria-label="Message"
        placeholder="What should this worker do? Slash commands like /compact go to its manager."
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            send();
          }
        }}
      />
    </Modal>
  );
}

/** Which columns the table's scroller hides right now (left and right of
 * what shows), kept current on resize and scroll. */
function useHiddenColumns(wrap: RefObject<HTMLDivElement | null>, rows: number): { left: string[]; right: string[] } {
  const [hidden, setHidden] = useState<{ left: string[]; right: string[] }>({ left: [], right: [] });
  const measure = useCallback(() => {
    const el = wrap.current;
    if (!el) return;
    const ths = [...el.querySelectorAll<HTMLElement>('thead th[data-col]')];
    const cols = ths.map((th) => ({ label: th.dataset.col ?? '', left: th.offsetLeft, right: th.offsetLeft + th.offsetWidth }));
    const next = columnsOutOfView(cols, el.scrollLeft, el.clientWidth);
    setHidden((h) => (h.left.join() === next.left.join() && h.right.join() === next.right.join() ? h : next));
  }, [wrap]);
  useLayoutEffect(() => {
    const el = wrap.current;
    if (!el) return;
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    const table = el.querySelector('table');
    if (table) ro.observe(table);
    el.addEventListener('scroll', measure, { passive: true });
    return () => {
      ro.disconnect();
      el.removeEventListener('scroll', measure);
    };
  }, [wrap, measure, rows > 0]);
  return hidden;
}
