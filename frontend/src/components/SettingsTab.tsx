// Hub settings (recording defaults, retention, permission expiry) and this browser's bearer and theme.

import { useEffect, useState } from 'react';
import { api } from '../lib/api';
import { formatBytes } from '../lib/format';
import type { Health, HubSettings } from '../lib/types';
import type { FleetCounts } from '../lib/worker-view';
import { useAction, useToast } from './ui';

export type ThemeChoice = 'system' | 'dark' | 'light';

export function SettingsTab(props: {
  bearer: string;
  onForget: () => void;
  theme: ThemeChoice;
  onTheme: (t: ThemeChoice) => void;
  health: Health | null;
  /** The roster's counts (managers excluded; the hub's /health counts them). */
  counts: FleetCounts;
}) {
  const run = useAction();
  const toast = useToast();
  const [settings, setSettings] = useState<HubSettings | null>(null);
  const [draft, setDraft] = useState<{
    on: boolean;
    mib: string;
    keep: string;
    days: string;
    events: string;
    dbMib: string;
    timeout: string;
    answer: 'allow' | 'deny';
  } | null>(null);
  const [show, setShow] = useState(false);

  useEffect(() => {
    void run('Load settings', () => api.settings()).then((s) => {
      if (!s) return;
      setSettings(s);
      setDraft({
        on: s.recording_enabled_by_default,
        mib: String(Math.round((s.recording_max_bytes_per_file / 1024 / 1024) * 100) / 100),
        keep: String(s.recording_keep_files),
        days: String(s.retention_max_age_days),
        events: String(s.retention_max_events_per_worker),
        dbMib: String(s.retention_max_database_mib),
        timeout: String(s.permission_timeout_secs ?? 0),
        answer: s.permission_default_answer ?? 'deny',
      });
    });
  }, [run]);

  const save = async () => {
    if (!draft) return;
    const bytes = Math.round(Number(draft.mib) * 1024 * 1024);
    const keep = Number(draft.keep);
    if (!Number.isFinite(bytes) || bytes < 65536) {
      toast('error', 'Max file size must be at least 0.0625 MiB (64 KiB).');
      return;
    }
    if (!Number.isInteger(keep) || keep < 1 || keep > 64) {
      toast('error', 'Files kept must be a whole number from 1 to 64.');
      return;
    }
    const days = Number(draft.days);
    const events = Number(draft.events);
    if (!Number.isInteger(days) || days < 0 || days > 36500) {
      toast('error', 'Days to keep events must be a whole number from 0 (forever) to 36500.');
      return;
    }
    if (!Number.isInteger(events) || (events !== 0 && events < 100)) {
      toast('error', 'Events kept per worker must be 0 (no limit) or a whole number of at least 100.');
      return;
    }
    const dbMib = Number(draft.dbMib);
    if (!Number.isInteger(dbMib) || (dbMib !== 0 && (dbMib < 32 || dbMib > 1048576))) {
      toast('error', 'Database size limit must be 0 (no limit) or a whole number of MiB from 32 to 1048576.');
      return;
    }
    const timeout = Number(draft.timeout);
    if (!Number.isInteger(timeout) || timeout < 0 || timeout > 604800) {
      toast('error', 'Permission timeout must be a whole number of seconds from 0 (never) to 604800.');
      return;
    }
    const s = await run(
      'Save settings',
      () =>
        api.saveSettings({
          recording_enabled_by_default: draft.on,
          recording_max_bytes_per_file: bytes,
          recording_keep_files: keep,
          retention_max_age_days: days,
          retention_max_events_per_worker: events,
          retention_max_database_mib: dbMib,
          permission_timeout_secs: timeout,
          permission_default_answer: draft.answer,
        }),
      'Settings saved',
    );
    if (s) setSettings(s);
  };

  // Nothing of the secret shows until asked (screens get shared).
  const masked = '•'.repeat(24);

  return (
    <section className="tab settings" aria-label="Settings">
      <div className="card">
        <h2>Recording and retention</h2>
        <p className="muted small">
          New workers start recording their terminal when this is on. Each recording rotates at the size limit; the
          newest files are kept.
        </p>
        {draft ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void save();
            }}
          >
            <label className="check">
              <input type="checkbox" checked={draft.on} onChange={(e) => setDraft({ ...draft, on: e.target.checked })} />
              Record new workers by default
            </label>
            <div className="form-grid">
              <label className="field">
                <span>Max file size (MiB)</span>
                <input
                  type="number"
                  min={0.0625}
                  step="any"
                  value={draft.mib}
                  aria-label="Max file size in MiB"
                  onChange={(e) => setDraft({ ...draft, mib: e.target.value })}
                />
              </label>
              <label className="field">
                <span>Files kept per worker</span>
                <input
                  type="number"
                  min={1}
                  max={64}
                  value={draft.keep}
                  aria-label="Files kept per worker"
                  onChange={(e) => setDraft({ ...draft, keep: e.target.value })}
                />
              </label>
            </div>
            {settings && (
              <p className="muted small">
                Now: {settings.recording_enabled_by_default ? 'on' : 'off'}, {formatBytes(settings.recording_max_bytes_per_file)} ×{' '}
                {settings.recording_keep_files} files.
              </p>
            )}
            <h3>Retention</h3>
            <p className="muted small">
              Old timeline events are deleted in the background, about once a minute (the size limit is checked every
              few seconds; past 90 % of it the oldest events go until the database is under 80 %). Recordings follow
              the age limit too. 0 keeps everything. A pending permission request and each worker's newest event are
              always kept.
            </p>
            <div className="form-grid">
              <label className="field">
                <span>Delete events older than (days)</span>
                <input
                  type="number"
                  min={0}
                  max={36500}
                  value={draft.days}
                  aria-label="Delete events older than days"
                  onChange={(e) => setDraft({ ...draft, days: e.target.value })}
                />
              </label>
              <label className="field">
                <span>Events kept per worker</span>
                <input
                  type="number"
                  min={0}
                  value={draft.events}
                  aria-label="Events kept per worker"
                  onChange={(e) => setDraft({ ...draft, events: e.target.value })}
                />
              </label>
              <label className="field">
                <span>Database size limit (MiB)</span>
                <input
                  type="number"
                  min={0}
                  value={draft.dbMib}
                  aria-label="Database size limit in MiB"
                  onChange={(e) => setDraft({ ...draft, dbMib: e.target.value })}
                />
              </label>
            </div>
            {settings && (
              <p className="muted small">
                Now:{' '}
                {settings.retention_max_age_days ? `events older than ${settings.retention_max_age_days} days go` : 'no age limit'},{' '}
                {settings.retention_max_events_per_worker
                  ? `at most ${settings.retention_max_events_per_worker} events per worker`
                  : 'no count limit'}
                ,{' '}
                {settings.retention_max_database_mib
                  ? `the database kept under ${settings.retention_max_database_mib} MiB`
                  : 'no size limit'}
                .
              </p>
            )}
            <h3>Permission prompts</h3>
            <p className="muted small">
              A prompt nobody answers within the timeout gets the default answer (0 never expires). A rule sending a
              prompt to a person may set its own (see Rules). The clock survives a hub restart.
            </p>
            <div className="form-grid">
              <label className="field">
                <span>Answer unanswered prompts after (s)</span>
                <input
                  type="number"
                  min={0}
                  max={604800}
                  value={draft.timeout}
                  aria-label="Permission timeout in seconds"
                  onChange={(e) => setDraft({ ...draft, timeout: e.target.value })}
                />
              </label>
              <label className="field">
                <span>Default answer</span>
                <select
                  value={draft.answer}
                  aria-label="Default answer on expiry"
                  onChange={(e) => setDraft({ ...draft, answer: e.target.value as 'allow' | 'deny' })}
                >
                  <option value="deny">deny</option>
                  <option value="allow">allow</option>
                </select>
              </label>
            </div>
            <button className="btn btn-primary" type="submit">
              Save
            </button>
          </form>
        ) : (
          <div className="loading">Loading…</div>
        )}
      </div>

      <div className="card">
        <h2>Access</h2>
        <p className="muted small">This browser signs in with the hub's bearer secret, kept in localStorage.</p>
        <div className="secret-row">
          <code className="secret" aria-label="Bearer secret">
            {show ? props.bearer : masked}
          </code>
          <button className="btn btn-sm" onClick={() => setShow((s) => !s)}>
            {show ? 'Hide' : 'Show'}
          </button>
          <button
            className="btn btn-sm"
            onClick={() =>
              navigator.clipboard.writeText(props.bearer).then(
                () => toast('ok', 'Secret copied'),
                () => toast('error', 'The browser refused clipboard access'),
              )
            }
          >
            Copy
          </button>
          <button className="btn btn-sm btn-danger-ghost" onClick={props.onForget}>
            Forget in this browser
          </button>
        </div>
      </div>

      <div className="card">
        <h2>Appearance</h2>
        <div className="segmented" role="radiogroup" aria-label="Theme">
          {(['system', 'dark', 'light'] as const).map((t) => (
            <button key={t} role="radio" aria-checked={props.theme === t} className={props.theme === t ? 'on' : ''} onClick={() => props.onTheme(t)}>
              {t}
            </button>
          ))}
        </div>
      </div>

      {props.health && (
        <div className="card">
          <h2>Hub</h2>
          <dl className="facts">
            <dt>Version</dt>
            <dd>
              {props.health.version}
              {props.health.git_sha ? ` (${props.health.git_sha})` : ''}
            </dd>
            <dt>Uptime</dt>
            <dd>{props.health.uptime}</dd>
            <dt>Workers</dt>
            <dd data-counts>
              <b>{props.counts.total}</b> known · {props.counts.online} online
              {props.counts.offline + props.counts.exited > 0 && ` · ${props.counts.offline + props.counts.exited} offline`}
              {props.counts.never > 0 && ` · ${props.counts.never} never connected`}
            </dd>
          </dl>
        </div>
      )}
    </section>
  );
}
