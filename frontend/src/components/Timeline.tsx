// One worker's conversation: every message to it, its replies, permission
// prompts and their answers, and live state changes, newest at the bottom,
// with a box to send from. The newest page is read when it opens; older
// pages as the reader scrolls up (`?before=`); new events come from the
// app's one global stream (fleet.subscribe). Only the rows near the
// viewport are in the DOM, so 10 000 events open and scroll like 10.

import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from 'react';
import { api } from '../lib/api';
import { useClock } from '../lib/clock';
import type { Fleet } from '../lib/fleet-hook';
import {
  deliveryOf,
  estimateHeight,
  eventFromStream,
  noticeFromStream,
  TimelineList,
  type Delivery,
  type TimelineItem,
} from '../lib/timeline';
import type { TimelineEvent, Worker, WorkerStatus } from '../lib/types';
import { HeightIndex, atBottom, visibleRange } from '../lib/virtual';
import { reachOf, reachText, sendOutcome } from '../lib/worker-view';
import { useToast } from './ui';

/** Events per page: the first page fills any screen; older ones come as
 * the reader nears the top. */
export const PAGE = 120;
const OLDER_PAGE = 500;
const OVERSCAN = 600;
/** Rows from the top at which the next older page is asked for. */
const PREFETCH_ROWS = 40;

type Older = 'idle' | 'loading' | 'done' | { error: string };

export function Timeline({ worker, fleet }: { worker: string; fleet: Fleet }) {
  const row = fleet.workers.get(worker);
  const list = useRef(new TimelineList());
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  const [first, setFirst] = useState<'loading' | 'ready' | { error: string }>('loading');
  const [older, setOlder] = useState<Older>('idle');
  const [status, setStatus] = useState<WorkerStatus | null>(null);
  const toast = useToast();

  // The hub's delivery cursor, refetched (debounced) when deliveries may
  // have moved: a message sent, the worker back online, a reply.
  const statusTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshStatus = useCallback(() => {
    if (statusTimer.current !== null) clearTimeout(statusTimer.current);
    statusTimer.current = setTimeout(() => {
      statusTimer.current = null;
      api.status(worker).then(setStatus, () => undefined);
    }, 150);
  }, [worker]);

  useEffect(() => {
    let alive = true;
    // Listen before reading, so nothing between the page and the stream is lost.
    const off = fleet.subscribe((name, data) => {
      const ev = eventFromStream(worker, name, data);
      if (ev) {
        if (list.current.add(ev)) bump();
        if (ev.kind === 'inbound' || ev.kind === 'outbound') refreshStatus();
        return;
      }
      const n = noticeFromStream(worker, name, data, Date.now() / 1000);
      if (n) {
        list.current.notice(n);
        bump();
        if (name === 'worker_online' || name === 'worker_registered') refreshStatus();
      }
    });
    api.events(worker, { limit: PAGE }).then(
      (events) => {
        if (!alive) return;
        list.current.prepend(events);
        if (events.length < PAGE) setOlder('done');
        setFirst('ready');
        bump();
      },
      (e: Error) => alive && setFirst({ error: e.message }),
    );
    api.status(worker).then((s) => alive && setStatus(s), () => undefined);
    return () => {
      alive = false;
      off();
      if (statusTimer.current !== null) clearTimeout(statusTimer.current);
    };
  }, [worker, fleet.subscribe, refreshStatus]);

  // The global stream resumes where it left off, so events are not missed
  // across a blip; when it had to start afresh (the hub lost our place),
  // the newest page fills what went past meanwhile.
  const wasLive = useRef(fleet.status === 'live');
  useEffect(() => {
    const live = fleet.status === 'live';
    if (live && !wasLive.current && first === 'ready') {
      api.events(worker, { limit: PAGE }).then(
        (events) => {
          let added = false;
          for (const e of events) added = list.current.add(e) || added;
          if (added) bump();
        },
        () => undefined,
      );
      refreshStatus();
    }
    wasLive.current = live;
  }, [fleet.status, worker, first, refreshStatus]);

  const loadOlder = useCallback(() => {
    const before = list.current.oldestId();
    if (!before) {
      setOlder('done');
      return;
    }
    setOlder('loading');
    api.events(worker, { before, limit: OLDER_PAGE }).then(
      (events) => {
        list.current.prepend(events);
        setOlder(events.length < OLDER_PAGE ? 'done' : 'idle');
        bump();
      },
      (e: Error) => setOlder({ error: e.message }),
    );
  }, [worker]);

  const pending = useMemo(
    () => new Set(fleet.permissions.filter((p) => p.worker === worker).map((p) => p.request_id)),
    [fleet.permissions, worker],
  );

  const onAnswer = useCallback(
    (requestId: string, behavior: 'allow' | 'deny') => {
      api.resolve(worker, requestId, behavior).then(
        () => fleet.dropPermission(worker, requestId),
        (e: Error) => toast('error', `Answer: ${e.message}`),
      );
    },
    [worker, fleet.dropPermission, toast],
  );

  const onSend = useCallback(
    async (text: string): Promise<boolean> => {
      try {
        const receipt = await api.send(worker, text);
        const out = sendOutcome(receipt, fleet.workers.get(worker), worker);
        if (receipt.worker === worker) {
          list.current.add({ event_id: receipt.event_id, ts: receipt.queued_at, kind: 'inbound', content: text, meta: {} });
        }
        if (out.queued) list.current.notice({ type: 'notice', ts: receipt.queued_at, tone: 'warn', text: out.text });
        bump();
        // Said on the timeline itself (the message, and a notice when it is
        // queued): a toast would only cover the box.
        refreshStatus();
        return true;
      } catch (e) {
        toast('error', `Send: ${(e as Error).message}`);
        return false;
      }
    },
    [worker, fleet.workers, toast, refreshStatus],
  );

  const reach = row ? reachOf(row) : 'never';
  return (
    <div className="timeline" aria-label={`Timeline of ${worker}`} data-reach={reach}>
      {row && <ReachBanner w={row} />}
      {first === 'loading' ? (
        <div className="loading tl-fill">Loading the timeline…</div>
      ) : typeof first === 'object' ? (
        <div className="tl-fill tl-error" role="alert">
          Could not read the timeline: {first.error}
        </div>
      ) : (
        <Windowed
          items={list.current.items}
          version={version}
          status={status}
          pending={pending}
          older={older}
          onNearTop={older === 'idle' ? loadOlder : null}
          onRetry={loadOlder}
          onAnswer={onAnswer}
        />
      )}
      <SendBox worker={worker} reach={reach} onSend={onSend} />
    </div>
  );
}

function ReachBanner({ w }: { w: Worker }) {
  // Re-rendered when the words change ("last seen 5m ago"), not every second.
  const key = useClock((now) => {
    const r = reachText(w, now);
    return r ? `${r.label}\u0000${r.text}` : '';
  });
  if (!key) return null;
  const [label, text] = key.split('\u0000');
  return (
    <div className={`tl-banner reach-${reachOf(w)}`} role="status" data-reach={reachOf(w)}>
      <b className="reach-label">{label}</b> · {text}
    </div>
  );
}

/** Height of the line above the first row ("Start of the timeline",
 * "Loading older events…"); fixed in CSS, so row offsets start below it. */
const MARKER_H = 32;

/** The virtualised list: marker, spacer, the rows near the viewport, spacer. */
function Windowed(props: {
  items: TimelineItem[];
  version: number;
  status: WorkerStatus | null;
  pending: Set<string>;
  older: Older;
  onNearTop: (() => void) | null;
  onRetry: () => void;
  onAnswer: (requestId: string, behavior: 'allow' | 'deny') => void;
}) {
  const { items } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const estimates = useRef(new Map<string, number>());
  const index = useRef(new HeightIndex());
  const positions = useRef(new Map<string, number>());
  const follow = useRef(true);
  const [following, setFollowing] = useState(true);
  const [view, setView] = useState({ top: 0, height: 600, width: 600 });
  const [, remeasured] = useReducer((n: number) => n + 1, 0);

  // Tool names of prompts, for the answers' labels.
  const tools = useMemo(() => {
    const m = new Map<string, string>();
    for (const it of items) {
      if (it.type === 'event' && it.event.kind === 'permission_request') {
        m.set(String(it.event.meta.request_id ?? ''), it.event.content);
      }
    }
    return m;
  }, [items]);

  // Heights for the current items: measured, else estimated.
  const charsPerLine = Math.max(20, (view.width - 40) / 7.4);
  useMemo(() => {
    const est = estimates.current;
    const pos = positions.current;
    pos.clear();
    const hs = new Float64Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      pos.set(it.key, i);
      let h = heights.current.get(it.key);
      if (h === undefined) {
        h = est.get(it.key);
        if (h === undefined) {
          h = estimateHeight(it, charsPerLine);
          est.set(it.key, h);
        }
      }
      hs[i] = h;
    }
    index.current.reset(hs);
  }, [items, charsPerLine]);

  const [firstRow, lastRow] = visibleRange(index.current, view.top - MARKER_H, view.height, OVERSCAN);
  const topPad = index.current.offsetOf(firstRow);
  const bottomPad = index.current.total() - index.current.offsetOf(lastRow + 1);

  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    const f = atBottom(el.scrollTop, el.clientHeight, el.scrollHeight);
    follow.current = f;
    setFollowing(f);
    setView((v) => (v.top === el.scrollTop ? v : { ...v, top: el.scrollTop }));
  }, []);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      setView((v) => {
        if (v.width !== el.clientWidth) {
          // Wrapping changed: measured heights no longer hold.
          heights.current.clear();
          estimates.current.clear();
        }
        return { top: el.scrollTop, height: el.clientHeight, width: el.clientWidth };
      });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Measure what was rendered and keep the reader's rows still: at the
  // bottom when following; otherwise content that grew above the viewport
  // (a page put on top, rows above measured taller or shorter than their
  // estimate) moves the scroll position by as much. Relative moves, so a
  // scroll the reader made meanwhile is kept, never undone.
  const topKey = useRef<string | null>(null);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const idx = index.current;
    const viewTop = el.scrollTop - MARKER_H;
    let adjust = 0;
    const oldTop = topKey.current;
    if (oldTop !== null && items.length > 0 && items[0].key !== oldTop) {
      const i = positions.current.get(oldTop);
      if (i !== undefined) adjust += idx.offsetOf(i);
    }
    topKey.current = items[0]?.key ?? null;
    let changed = false;
    for (const child of el.querySelectorAll<HTMLElement>('[data-key]')) {
      const key = child.dataset.key as string;
      const h = child.offsetHeight;
      heights.current.set(key, h);
      const i = positions.current.get(key);
      if (i === undefined) continue;
      const before = idx.height(i);
      if (before === h) continue;
      if (idx.offsetOf(i) < viewTop) adjust += h - before;
      idx.set(i, h);
      changed = true;
    }
    if (follow.current) {
      const bottom = el.scrollHeight - el.clientHeight;
      if (Math.abs(el.scrollTop - bottom) > 1) el.scrollTop = bottom;
    } else if (adjust !== 0) {
      el.scrollTop += adjust;
    }
    if (changed) remeasured();
    if (el.scrollTop !== view.top) setView((v) => ({ ...v, top: el.scrollTop }));
  });

  // Near the top, ask for the page above (measured from where the list
  // really is, not the first render's top).
  const { onNearTop } = props;
  useEffect(() => {
    const el = scroller.current;
    if (!onNearTop || !el) return;
    if (index.current.indexAt(el.scrollTop - MARKER_H) < PREFETCH_ROWS) onNearTop();
  }, [onNearTop, firstRow, props.version]);

  const jumpToEnd = () => {
    const el = scroller.current;
    if (!el) return;
    follow.current = true;
    setFollowing(true);
    el.scrollTop = el.scrollHeight;
  };

  return (
    <div className="tl-list">
      <div
        className="tl-scroll"
        ref={scroller}
        onScroll={onScroll}
        data-rows={items.length}
        // Focusable, so the arrow keys, Page Up/Down, Home and End scroll it.
        tabIndex={0}
        aria-label="Events, oldest first"
      >
        <OlderMarker older={props.older} empty={items.length === 0} onRetry={props.onRetry} />
        <div style={{ height: topPad }} />
        {items.slice(firstRow, lastRow + 1).map((it) =>
          it.type === 'notice' ? (
            <div key={it.key} data-key={it.key} className={`tl-notice tone-${it.tone}`} data-kind="notice">
              <span className="dot" aria-hidden />
              <span className="tl-notice-text">{it.text}</span>
              <Time ts={it.ts} />
            </div>
          ) : (
            <EventRow
              key={it.key}
              e={it.event}
              delivery={it.event.kind === 'inbound' ? deliveryOf(it.event.event_id, props.status) : null}
              pending={it.event.kind === 'permission_request' && props.pending.has(String(it.event.meta.request_id ?? ''))}
              tool={it.event.kind === 'permission_response' ? tools.get(String(it.event.meta.request_id ?? '')) : undefined}
              onAnswer={props.onAnswer}
            />
          ),
        )}
        <div style={{ height: bottomPad }} />
      </div>
      {!following && items.length > 0 && (
        <button className="btn btn-sm tl-jump" onClick={jumpToEnd}>
          ↓ Newest
        </button>
      )}
    </div>
  );
}

function OlderMarker(props: { older: Older; empty: boolean; onRetry: () => void }) {
  const o = props.older;
  return (
    <div className="tl-older muted small" data-older={typeof o === 'string' ? o : 'error'}>
      {o === 'loading' && 'Loading older events…'}
      {o === 'done' && (props.empty ? 'Nothing on this timeline yet. Send a message below.' : 'Start of the timeline')}
      {o === 'idle' && ' '}
      {typeof o === 'object' && (
        <>
          Could not read older events: {o.error}{' '}
          <button className="btn btn-sm" onClick={props.onRetry}>
            Retry
          </button>
        </>
      )}
    </div>
  );
}

const KIND_LABEL: Record<string, string> = {
  inbound: 'Message',
  outbound: 'Reply',
  permission_request: 'Permission asked',
  permission_response: 'Permission answered',
  interrupt: 'Interrupt',
};

const EventRow = memo(function EventRow(props: {
  e: TimelineEvent;
  delivery: Delivery | null;
  pending: boolean;
  tool?: string;
  onAnswer: (requestId: string, behavior: 'allow' | 'deny') => void;
}) {
  const { e } = props;
  const meta = e.meta;
  const requestId = typeof meta.request_id === 'string' ? meta.request_id : '';
  const sub = typeof meta.kind === 'string' && meta.kind !== 'reply' ? meta.kind : null;
  const flow = typeof meta.flow_name === 'string' ? meta.flow_name : null;
  return (
    <div
      data-key={e.event_id}
      className={`tl-ev ev-${e.kind}`}
      data-kind={e.kind}
      data-event-id={e.event_id}
      data-request={requestId || undefined}
      data-delivery={props.delivery ?? undefined}
    >
      <div className="tl-head">
        <span className="tl-kind">{KIND_LABEL[e.kind] ?? e.kind}</span>
        {sub && <span className="tl-tag">{sub}</span>}
        {flow && <span className="tl-tag">flow {flow}</span>}
        {props.delivery === 'queued' && (
          <span className="tl-tag tag-queued" title="stored on the hub; not handed to the worker's session yet">
            queued
          </span>
        )}
        {props.delivery === 'delivered' && (
          <span className="tl-tag tag-delivered" title="handed to the worker's session">
            delivered
          </span>
        )}
        <span className="spacer" />
        <Time ts={e.ts} />
      </div>
      {e.kind === 'permission_request' ? (
        <div className="tl-body">
          <div>
            <b className="perm-tool">{e.content}</b> {String(meta.description ?? '')}
          </div>
          {meta.input_preview ? <pre className="tl-pre">{String(meta.input_preview)}</pre> : null}
          {props.pending && (
            <div className="tl-perm-actions">
              <button className="btn btn-sm btn-allow" onClick={() => props.onAnswer(requestId, 'allow')}>
                Allow
              </button>
              <button className="btn btn-sm btn-deny" onClick={() => props.onAnswer(requestId, 'deny')}>
                Deny
              </button>
            </div>
          )}
        </div>
      ) : e.kind === 'permission_response' ? (
        <div className="tl-body">
          <b className={e.content === 'allow' ? 'ans-allow' : 'ans-deny'}>{e.content === 'allow' ? 'Allowed' : 'Denied'}</b>{' '}
          {props.tool ?? 'the prompt'} <span className="muted small">({requestId})</span>
          {decidedBy(meta) && (
            <span className="muted small" data-decided-by={String(meta.decided_by)}>
              {' '}
              — {decidedBy(meta)}
            </span>
          )}
        </div>
      ) : e.kind === 'interrupt' ? (
        <div className="tl-body muted">Asked to stop what it was doing (Esc).</div>
      ) : (
        <div className="tl-body tl-text">{e.content}</div>
      )}
    </div>
  );
});

/** Who answered a prompt when nobody clicked: a rule, or its deadline. */
function decidedBy(meta: Record<string, unknown>): string | null {
  const rule = meta.rule as { name?: unknown; index?: unknown } | undefined;
  const which =
    rule && typeof rule === 'object'
      ? typeof rule.name === 'string' && rule.name
        ? `rule “${rule.name}”`
        : `rule ${Number(rule.index ?? 0) + 1}`
      : null;
  if (meta.decided_by === 'rule') return `by ${which ?? 'a rule'}`;
  if (meta.decided_by === 'expiry') return `nobody answered in time${which ? ` (${which})` : ''}`;
  return null;
}

function timeText(ts: number, now: number): string {
  const d = new Date(ts * 1000);
  const sameDay = new Date(now * 1000).toDateString() === d.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

function Time({ ts }: { ts: number }) {
  // Whether the date shows changes at midnight only.
  const text = useClock((now) => timeText(ts, now));
  return (
    <time className="tl-time muted small" dateTime={new Date(ts * 1000).toISOString()} title={new Date(ts * 1000).toISOString()}>
      {text}
    </time>
  );
}

function SendBox(props: { worker: string; reach: string; onSend: (text: string) => Promise<boolean> }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const send = async () => {
    if (!text.trim() || busy) return;
    setBusy(true);
    const ok = await props.onSend(text);
    setBusy(false);
    if (ok) setText('');
  };
  const queued = props.reach !== 'online';
  return (
    <form
      className="tl-send"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <textarea
        className="textarea"
        rows={2}
        aria-label={`Message to ${props.worker}`}
        placeholder={
          queued
            ? `${props.worker} is not connected: a message waits on the hub until it is`
            : `Message ${props.worker} (Ctrl+Enter to send; /compact and other slash commands go to its manager)`
        }
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void send();
          }
        }}
      />
      <button className="btn btn-primary" type="submit" disabled={!text.trim() || busy}>
        {queued ? 'Queue' : 'Send'}
      </button>
    </form>
  );
}
