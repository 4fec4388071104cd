// Saved messages ("flows"): write once, send to any worker, follow the run.

import { useCallback, useEffect, useMemo, useState } from 'react';
import { api } from '../lib/api';
import { useNow } from '../lib/clock';
import type { Fleet } from '../lib/fleet-hook';
import { formatAgo } from '../lib/format';
import type { Flow, RunLog } from '../lib/types';
import { Confirm, useAction } from './ui';

const RUNS_KEY = 'tubemail.runs';
interface RunRef {
  run_id: string;
  flow: string;
  worker: string;
  at: number;
}

function loadRuns(): RunRef[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(RUNS_KEY) ?? '[]');
    return Array.isArray(v) ? (v as RunRef[]).slice(0, 20) : [];
  } catch {
    return [];
  }
}

interface Draft {
  original: string | null;
  name: string;
  body: string;
  default_worker: string;
  meta: string;
}

const blank: Draft = { original: null, name: '', body: '', default_worker: '', meta: '' };

export function FlowsTab({ fleet }: { fleet: Fleet }) {
  const run = useAction();
  const [flows, setFlows] = useState<Flow[] | null>(null);
  const [draft, setDraft] = useState<Draft>(blank);
  const [target, setTarget] = useState('');
  const [runs, setRuns] = useState<RunRef[]>(loadRuns);
  const [openRun, setOpenRun] = useState<string | null>(runs[0]?.run_id ?? null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const workers = useMemo(
    () => [...fleet.workers.values()].filter((w) => !w.name.endsWith('-manager')).map((w) => w.name).sort(),
    [fleet.workers],
  );

  const reload = useCallback(async () => {
    const f = await run('Load flows', () => api.flows());
    if (f) setFlows(f);
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);

  const edit = (f: Flow) => {
    setDraft({
      original: f.name,
      name: f.name,
      body: f.body,
      default_worker: f.default_worker ?? '',
      meta: Object.keys(f.meta ?? {}).length ? JSON.stringify(f.meta, null, 2) : '',
    });
    setTarget(f.default_worker ?? '');
  };

  const save = async () => {
    let meta: Record<string, unknown> | null = null;
    if (draft.meta.trim()) {
      try {
        const parsed: unknown = JSON.parse(draft.meta);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        meta = parsed as Record<string, unknown>;
      } catch {
        void run('Save', () => Promise.reject(new Error('meta must be a JSON object')));
        return;
      }
    }
    const r = await run(
      'Save',
      () => api.saveFlow({ name: draft.name.trim(), body: draft.body, default_worker: draft.default_worker || null, meta }),
      `Saved “${draft.name.trim()}”`,
    );
    if (!r) return;
    if (draft.original && draft.original !== r.flow.name) {
      await run('Rename', () => api.deleteFlow(draft.original as string));
    }
    edit(r.flow);
    void reload();
  };

  const remove = async () => {
    if (!draft.original) return;
    const name = draft.original;
    if (await run('Delete', () => api.deleteFlow(name), `Deleted “${name}”`)) {
      setDraft(blank);
      void reload();
    }
  };

  const start = async () => {
    if (!draft.original) return;
    const name = draft.original;
    const r = await run('Run', () => api.runFlow(name, target || null), `Sent “${name}”`);
    if (!r) return;
    const ref: RunRef = { run_id: r.run_id, flow: name, worker: r.worker, at: Date.now() / 1000 };
    const next = [ref, ...runs.filter((x) => x.run_id !== r.run_id)].slice(0, 20);
    setRuns(next);
    localStorage.setItem(RUNS_KEY, JSON.stringify(next));
    setOpenRun(r.run_id);
    void reload();
  };

  const dirty = draft.name.trim() !== '' && draft.body.trim() !== '';
  const savedAs = draft.original;

  return (
    <section className="tab flows" aria-label="Saved messages">
      <aside className="flow-list">
        <div className="flow-list-head">
          <h2>Saved messages</h2>
          <button className="btn btn-sm btn-primary" onClick={() => setDraft(blank)}>
            New
          </button>
        </div>
        {flows === null ? (
          <div className="loading">Loading…</div>
        ) : flows.length === 0 ? (
          <p className="muted small pad">
            None yet. Write a message you send often (a review checklist, “run the tests and report”) and save it.
          </p>
        ) : (
          <ul>
            {flows.map((f) => (
              <li key={f.name}>
                <button className={`flow-item${savedAs === f.name ? ' active' : ''}`} onClick={() => edit(f)}>
                  <span className="flow-name">{f.name}</span>
                  <span className="flow-preview">{f.body.slice(0, 80)}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </aside>
      <div className="flow-editor">
        <div className="form-grid">
          <label className="field">
            <span>Name</span>
            <input
              value={draft.name}
              onChange={(e) => setDraft({ ...draft, name: e.target.value })}
              placeholder="e.g. nightly-review"
              aria-label="Flow name"
            />
          </label>
          <label className="field">
            <span>Default worker</span>
            <select
              value={draft.default_worker}
              aria-label="Default worker"
              onChange={(e) => setDraft({ ...draft, default_worker: e.target.value })}
            >
              <option value="">(choose when running)</option>
              {[...new Set([...workers, draft.default_worker].filter(Boolean))].map((w) => (
                <option key={w} value={w}>
                  {w}
                </option>
              ))}
            </select>
          </label>
        </div>
        <label className="field">
          <span>Message</span>
          <textarea
            className="textarea"
            rows={8}
            value={draft.body}
            aria-label="Flow message"
            placeholder="The text the worker receives."
            onChange={(e) => setDraft({ ...draft, body: e.target.value })}
          />
        </label>
        <label className="field">
          <span>
            Meta <span className="muted">(optional JSON object sent with every run)</span>
          </span>
          <textarea
            className="textarea mono"
            rows={2}
            value={draft.meta}
            aria-label="Flow meta"
            placeholder='{"priority": "high"}'
            onChange={(e) => setDraft({ ...draft, meta: e.target.value })}
          />
        </label>
        <div className="row-actions">
          <button className="btn btn-primary" disabled={!dirty} onClick={() => void save()}>
            {savedAs ? 'Save changes' : 'Save'}
          </button>
          {savedAs && (
            <button className="btn btn-danger-ghost" onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          )}
          <span className="spacer" />
          <select value={target} onChange={(e) => setTarget(e.target.value)} aria-label="Run on worker" disabled={!savedAs}>
            <option value="">{draft.default_worker ? `default (${draft.default_worker})` : 'choose a worker'}</option>
            {workers.map((w) => (
              <option key={w} value={w}>
                {w}
              </option>
            ))}
          </select>
          <button
            className="btn btn-primary"
            disabled={!savedAs || (!target && !draft.default_worker)}
            onClick={() => void start()}
            title={savedAs ? undefined : 'Save the flow first'}
          >
            Run
          </button>
        </div>
        <RunsPanel fleet={fleet} runs={runs} open={openRun} onOpen={setOpenRun} />
      </div>
      {confirmDelete && savedAs && (
        <Confirm
          title={`Delete “${savedAs}”?`}
          body="The saved message goes; logs of its past runs stay."
          confirm="Delete"
          danger
          onConfirm={() => void remove()}
          onClose={() => setConfirmDelete(false)}
        />
      )}
    </section>
  );
}

function RunsPanel(props: { fleet: Fleet; runs: RunRef[]; open: string | null; onOpen: (id: string) => void }) {
  const [log, setLog] = useState<RunLog | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow();
  const { open, fleet } = props;

  useEffect(() => {
    if (!open) return;
    let alive = true;
    const load = () =>
      api.run(open).then(
        (r) => alive && (setLog(r), setError(null)),
        (e: Error) => alive && setError(e.message),
      );
    void load();
    // Follow the run: reload when its worker's timeline moves.
    const ref = props.runs.find((r) => r.run_id === open);
    const off = fleet.subscribe((_name, data) => {
      if (ref && data.worker === ref.worker) void load();
    });
    return () => {
      alive = false;
      off();
    };
  }, [open, fleet, props.runs]);

  if (props.runs.length === 0) {
    return (
      <div className="runs">
        <h3>Runs</h3>
        <p className="muted small">Runs you start from this browser show up here with the worker's replies.</p>
      </div>
    );
  }
  return (
    <div className="runs">
      <h3>Runs</h3>
      <div className="run-tabs" role="tablist">
        {props.runs.slice(0, 8).map((r) => (
          <button
            key={r.run_id}
            role="tab"
            aria-selected={open === r.run_id}
            className={`run-chip${open === r.run_id ? ' active' : ''}`}
            onClick={() => props.onOpen(r.run_id)}
          >
            {r.flow} → {r.worker} <span className="muted">{formatAgo(r.at, now)}</span>
          </button>
        ))}
      </div>
      {error && <p className="muted small">{error}</p>}
      {log && log.run_id === open && (
        <ol className="run-log" aria-label="Run log">
          {log.events.map((e) => (
            <li key={e.event_id} className={`ev ev-${e.kind}`}>
              <span className="ev-kind">{e.kind.replace('_', ' ')}</span>
              <span className="ev-time muted">{new Date(e.ts * 1000).toLocaleTimeString()}</span>
              <div className="ev-content">{e.content}</div>
            </li>
          ))}
          {log.finished_at === null && <li className="ev ev-waiting muted">waiting for the worker…</li>}
        </ol>
      )}
    </div>
  );
}
