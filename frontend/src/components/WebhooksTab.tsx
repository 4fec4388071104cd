// Webhooks: notifications to Slack, Discord or any HTTP receiver, with
// their recent deliveries. URLs come back redacted and secrets never.

import { useCallback, useEffect, useState } from 'react';
import { useNow } from '../lib/clock';
import { formatAgo } from '../lib/format';
import { EVENTS, webhooks, type Delivery, type Webhook, type WebhookEvent, type WebhookFormat } from '../lib/webhooks';
import { Confirm, useAction } from './ui';

interface Draft {
  id: string | null;
  url: string;
  events: WebhookEvent[];
  format: WebhookFormat;
  waiting: string;
  glob: string;
  secret: string;
  enabled: boolean;
}

const blank: Draft = {
  id: null,
  url: '',
  events: ['permission_waiting'],
  format: 'json',
  waiting: '60',
  glob: '',
  secret: '',
  enabled: true,
};

export function WebhooksTab() {
  const run = useAction();
  const now = useNow();
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [draft, setDraft] = useState<Draft>(blank);
  const [open, setOpen] = useState<string | null>(null);
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);

  const reload = useCallback(async () => {
    const h = await run('Load webhooks', () => webhooks.list());
    if (h) setHooks(h);
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);

  const loadDeliveries = useCallback(
    async (id: string) => {
      const d = await run('Load deliveries', () => webhooks.deliveries(id));
      if (d) setDeliveries(d);
    },
    [run],
  );
  useEffect(() => {
    if (!open) return;
    void loadDeliveries(open);
    const t = setInterval(() => void loadDeliveries(open), 5000);
    return () => clearInterval(t);
  }, [open, loadDeliveries]);

  const edit = (h: Webhook) => {
    setDraft({
      id: h.id,
      url: '',
      events: h.events,
      format: h.format,
      waiting: String(h.waiting_secs),
      glob: h.worker_glob ?? '',
      secret: '',
      enabled: h.enabled,
    });
    setOpen(h.id);
  };

  const save = async () => {
    const waiting = Number(draft.waiting);
    const body = {
      url: draft.url.trim(),
      events: draft.events,
      format: draft.format,
      waiting_secs: Number.isFinite(waiting) ? Math.max(0, Math.round(waiting)) : 60,
      worker_glob: draft.glob.trim() || null,
      // Left empty: none for a new webhook, the current one on edit.
      secret: draft.secret || null,
      enabled: draft.enabled,
    };
    const id = draft.id;
    const r = await run('Save', () => (id ? webhooks.update(id, body) : webhooks.add(body)), 'Webhook saved');
    if (!r) return;
    edit(r);
    void reload();
  };

  const remove = async () => {
    const id = draft.id;
    if (!id) return;
    if (await run('Delete', () => webhooks.remove(id), 'Webhook deleted')) {
      setDraft(blank);
      setOpen(null);
      setDeliveries(null);
      void reload();
    }
  };

  const test = async () => {
    const id = draft.id;
    if (!id) return;
    if (await run('Test', () => webhooks.test(id), 'Test notification queued')) {
      setTimeout(() => void loadDeliveries(id), 800);
    }
  };

  const toggle = (e: WebhookEvent) =>
    setDraft({
      ...draft,
      events: draft.events.includes(e) ? draft.events.filter((x) => x !== e) : [...draft.events, e],
    });

  const canSave = draft.events.length > 0 && (draft.id !== null || draft.url.trim() !== '');

  return (
    <section className="tab flows webhooks" aria-label="Webhooks">
      <aside className="flow-list">
        <div className="flow-list-head">
          <h2>Webhooks</h2>
          <button
            className="btn btn-sm btn-primary"
            onClick={() => {
              setDraft(blank);
              setOpen(null);
              setDeliveries(null);
            }}
          >
            New
          </button>
        </div>
        {hooks === null ? (
          <div className="loading">Loading…</div>
        ) : hooks.length === 0 ? (
          <p className="muted small pad">
            None yet. Add a Slack or Discord incoming-webhook URL (or your own receiver) to hear about prompts that
            wait, workers that exit, replies.
          </p>
        ) : (
          <ul>
            {hooks.map((h) => (
              <li key={h.id}>
                <button className={`flow-item${draft.id === h.id ? ' active' : ''}`} onClick={() => edit(h)}>
                  <span className="flow-name">
                    {h.url} {h.enabled ? '' : '(paused)'}
                  </span>
                  <span className="flow-preview">
                    {h.format} · {h.events.join(', ')}
                    {h.worker_glob ? ` · ${h.worker_glob}` : ''}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </aside>
      <div className="flow-editor">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <div className="form-grid">
            <label className="field">
              <span>URL</span>
              <input
                type="text"
                inputMode="url"
                spellCheck={false}
                value={draft.url}
                aria-label="Webhook URL"
                placeholder={draft.id ? 'unchanged (hidden: it may hold a secret)' : 'https://hooks.slack.com/services/…'}
                onChange={(e) => setDraft({ ...draft, url: e.target.value })}
              />
            </label>
            <label className="field">
              <span>Format</span>
              <select
                value={draft.format}
                aria-label="Format"
                onChange={(e) => setDraft({ ...draft, format: e.target.value as WebhookFormat })}
              >
                <option value="json">TubeMail JSON</option>
                <option value="slack">Slack</option>
                <option value="discord">Discord</option>
              </select>
            </label>
            <label className="field">
              <span>Workers (glob, empty = all)</span>
              <input
                value={draft.glob}
                aria-label="Worker glob"
                placeholder="proj-*"
                onChange={(e) => setDraft({ ...draft, glob: e.target.value })}
              />
            </label>
            <label className="field">
              <span>Prompt waiting after (s)</span>
              <input
                type="number"
                min={0}
                value={draft.waiting}
                aria-label="Waiting seconds"
                onChange={(e) => setDraft({ ...draft, waiting: e.target.value })}
              />
            </label>
            <label className="field">
              <span>Signing secret</span>
              <input
                type="password"
                autoComplete="new-password"
                value={draft.secret}
                aria-label="Signing secret"
                placeholder={draft.id ? 'unchanged' : 'optional'}
                onChange={(e) => setDraft({ ...draft, secret: e.target.value })}
              />
            </label>
          </div>
          <fieldset className="webhook-events">
            <legend>Events</legend>
            {EVENTS.map((e) => (
              <label className="check" key={e.id}>
                <input type="checkbox" checked={draft.events.includes(e.id)} onChange={() => toggle(e.id)} />
                {e.label}
              </label>
            ))}
          </fieldset>
          <label className="check">
            <input
              type="checkbox"
              checked={draft.enabled}
              onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })}
            />
            Enabled
          </label>
          <div className="actions">
            <button className="btn btn-primary" type="submit" disabled={!canSave}>
              {draft.id ? 'Save' : 'Add webhook'}
            </button>
            {draft.id && (
              <>
                <button className="btn" type="button" onClick={() => void test()}>
                  Send test
                </button>
                <button className="btn btn-danger-ghost" type="button" onClick={() => setConfirmDelete(true)}>
                  Delete
                </button>
              </>
            )}
          </div>
        </form>
        {open && (
          <div className="deliveries">
            <h3>Deliveries</h3>
            {deliveries === null ? (
              <div className="loading">Loading…</div>
            ) : deliveries.length === 0 ? (
              <p className="muted small">Nothing sent yet.</p>
            ) : (
              <div className="table-wrap">
                <table className="roster" aria-label="Deliveries">
                  <thead>
                    <tr>
                      <th>Id</th>
                      <th>Event</th>
                      <th>Worker</th>
                      <th>Status</th>
                      <th>Tries</th>
                      <th>Last</th>
                      <th>Queued</th>
                    </tr>
                  </thead>
                  <tbody>
                    {deliveries.map((d) => (
                      <tr key={d.id} data-status={d.status}>
                        <td>{d.id}</td>
                        <td>{d.event}</td>
                        <td>{d.worker || '—'}</td>
                        <td>{d.status}</td>
                        <td>{d.attempts}</td>
                        <td>{d.last_error ?? (d.last_status ? `HTTP ${d.last_status}` : '—')}</td>
                        <td>{formatAgo(d.created_at, now)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </div>
        )}
      </div>
      {confirmDelete && (
        <Confirm
          title="Delete this webhook?"
          confirm="Delete"
          danger
          onConfirm={() => {
            setConfirmDelete(false);
            void remove();
          }}
          onClose={() => setConfirmDelete(false)}
          body="Its undelivered notifications are dropped."
        />
      )}
    </section>
  );
}
