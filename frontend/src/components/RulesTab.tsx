// Permission rules: the ordered list that answers prompts before a person
// sees them (first match wins), and a dry run of it.

import { useCallback, useEffect, useState } from 'react';
import { api } from '../lib/api';
import type { PermissionRule, RuleDecision, RuleVerdict } from '../lib/types';
import { Confirm, Empty, useAction, useToast } from './ui';

interface Draft {
  /** The rule being edited (null: a new one). */
  id: string | null;
  name: string;
  worker: string;
  project: string;
  tool: string;
  input: string;
  verdict: RuleVerdict;
  timeout: string;
  answer: '' | 'allow' | 'deny';
}

const blank: Draft = {
  id: null,
  name: '',
  worker: '*',
  project: '',
  tool: '*',
  input: '',
  verdict: 'allow',
  timeout: '',
  answer: '',
};

function toDraft(r: PermissionRule): Draft {
  return {
    id: r.id,
    name: r.name,
    worker: r.worker,
    project: r.project ?? '',
    tool: r.tool,
    input: r.input ?? '',
    verdict: r.verdict,
    timeout: r.timeout_secs == null ? '' : String(r.timeout_secs),
    answer: r.default_answer ?? '',
  };
}

/** The rule a draft describes, or why it cannot be one. */
function fromDraft(d: Draft): PermissionRule | string {
  let timeout: number | null = null;
  if (d.timeout.trim() !== '') {
    timeout = Number(d.timeout);
    if (!Number.isInteger(timeout) || timeout < 0) return 'Timeout must be a whole number of seconds (0 = never).';
  }
  return {
    id: d.id ?? '',
    name: d.name.trim(),
    worker: d.worker.trim() || '*',
    project: d.project.trim() || null,
    tool: d.tool.trim() || '*',
    input: d.input === '' ? null : d.input,
    verdict: d.verdict,
    timeout_secs: d.verdict === 'ask' ? timeout : null,
    default_answer: d.verdict === 'ask' && d.answer ? d.answer : null,
  };
}

function describeDecision(d: RuleDecision): string {
  const by = d.rule ? `rule ${d.rule.index + 1}${d.rule.name ? ` (“${d.rule.name}”)` : ''}` : 'no rule';
  if (d.verdict !== 'ask') return `${d.verdict} — by ${by}`;
  const expiry = d.timeout_secs > 0 ? `${d.default_answer} after ${d.timeout_secs} s` : 'never expires';
  return `ask a person — by ${by}; ${expiry}`;
}

export function RulesTab() {
  const run = useAction();
  const toast = useToast();
  const [rules, setRules] = useState<PermissionRule[] | null>(null);
  const [draft, setDraft] = useState<Draft>(blank);
  const [confirmDelete, setConfirmDelete] = useState<PermissionRule | null>(null);
  const [probe, setProbe] = useState({ worker: '', tool: 'Bash', input: '' });
  const [decision, setDecision] = useState<RuleDecision | null>(null);

  const reload = useCallback(async () => {
    const r = await run('Load rules', () => api.rules());
    if (r) setRules(r);
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);

  const save = async () => {
    const rule = fromDraft(draft);
    if (typeof rule === 'string') {
      toast('error', rule);
      return;
    }
    const id = draft.id;
    const saved = await run(
      'Save rule',
      () => (id ? api.updateRule(id, rule) : api.addRule(rule)),
      id ? 'Rule saved' : 'Rule added',
    );
    if (!saved) return;
    setDraft(blank);
    void reload();
  };

  const move = async (from: number, to: number) => {
    if (!rules || to < 0 || to >= rules.length) return;
    const next = [...rules];
    const [r] = next.splice(from, 1);
    next.splice(to, 0, r);
    const saved = await run('Reorder', () => api.setRules(next));
    if (saved) setRules(saved);
  };

  const remove = async (r: PermissionRule) => {
    if (await run('Delete rule', () => api.deleteRule(r.id), 'Rule deleted')) {
      if (draft.id === r.id) setDraft(blank);
      void reload();
    }
  };

  const test = async () => {
    const d = await run('Test', () =>
      api.testRules({ worker: probe.worker.trim(), tool_name: probe.tool.trim(), input_preview: probe.input }),
    );
    if (d) setDecision(d);
  };

  const set = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });

  return (
    <section className="tab settings rules" aria-label="Permission rules">
      <div className="card">
        <h2>Permission rules</h2>
        <p className="muted small">
          Each permission prompt is checked against these rules in order; the first that matches decides it. Allow and
          deny answer at once, with nobody asked; ask leaves it to a person, with an optional timeout after which the
          default answer is given. A prompt no rule matches waits for a person (see Settings for the global timeout).
        </p>
        {rules === null ? (
          <div className="loading">Loading…</div>
        ) : rules.length === 0 ? (
          <Empty title="No rules yet" icon="⚖">
            Every prompt waits for a person. Add a rule below, e.g. allow <code>Bash</code> when the input matches{' '}
            <code>^git (status|diff|log)$</code>.
          </Empty>
        ) : (
          <div className="table-wrap">
            <table className="roster rules-table">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Name</th>
                  <th>Worker</th>
                  <th>Project</th>
                  <th>Tool</th>
                  <th>Input regex</th>
                  <th>Verdict</th>
                  <th>Expiry</th>
                  <th className="col-actions" aria-label="Actions" />
                </tr>
              </thead>
              <tbody>
                {rules.map((r, i) => (
                  <tr key={r.id} data-rule={r.id} className={draft.id === r.id ? 'active' : ''}>
                    <td>{i + 1}</td>
                    <td>{r.name || <span className="muted">—</span>}</td>
                    <td className="mono">{r.worker}</td>
                    <td className="mono">{r.project ?? <span className="muted">any</span>}</td>
                    <td className="mono">{r.tool}</td>
                    <td className="mono">{r.input ?? <span className="muted">any</span>}</td>
                    <td>
                      <span className={`badge badge-rule-${r.verdict}`}>{r.verdict}</span>
                    </td>
                    <td className="small">
                      {r.verdict === 'ask'
                        ? `${r.timeout_secs == null ? 'global' : r.timeout_secs === 0 ? 'never' : `${r.timeout_secs} s`}${
                            r.default_answer ? ` → ${r.default_answer}` : ''
                          }`
                        : ''}
                    </td>
                    <td className="col-actions">
                      <div className="actions">
                        <button
                          className="btn btn-sm btn-icon"
                          aria-label={`Move rule ${i + 1} up`}
                          disabled={i === 0}
                          onClick={() => void move(i, i - 1)}
                        >
                          ↑
                        </button>
                        <button
                          className="btn btn-sm btn-icon"
                          aria-label={`Move rule ${i + 1} down`}
                          disabled={i === rules.length - 1}
                          onClick={() => void move(i, i + 1)}
                        >
                          ↓
                        </button>
                        <button className="btn btn-sm" aria-label={`Edit rule ${i + 1}`} onClick={() => setDraft(toDraft(r))}>
                          Edit
                        </button>
                        <button
                          className="btn btn-sm btn-danger-ghost"
                          aria-label={`Delete rule ${i + 1}`}
                          onClick={() => setConfirmDelete(r)}
                        >
                          Delete
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>

      <div className="card">
        <h2>{draft.id ? 'Edit rule' : 'New rule'}</h2>
        <form
          aria-label="Rule"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <div className="form-grid">
            <label className="field">
              <span>Name</span>
              <input value={draft.name} aria-label="Rule name" onChange={(e) => set({ name: e.target.value })} />
            </label>
            <label className="field">
              <span>Verdict</span>
              <select
                value={draft.verdict}
                aria-label="Verdict"
                onChange={(e) => set({ verdict: e.target.value as RuleVerdict })}
              >
                <option value="allow">allow</option>
                <option value="deny">deny</option>
                <option value="ask">ask a person</option>
              </select>
            </label>
            <label className="field">
              <span>Worker (name or glob)</span>
              <input
                className="mono"
                value={draft.worker}
                aria-label="Worker pattern"
                placeholder="build-*"
                onChange={(e) => set({ worker: e.target.value })}
              />
            </label>
            <label className="field">
              <span>Tool (name or glob)</span>
              <input
                className="mono"
                value={draft.tool}
                aria-label="Tool pattern"
                placeholder="Bash"
                onChange={(e) => set({ tool: e.target.value })}
              />
            </label>
            <label className="field">
              <span>Project directory (glob, optional)</span>
              <input
                className="mono"
                value={draft.project}
                aria-label="Project pattern"
                placeholder="/src/shop/*"
                onChange={(e) => set({ project: e.target.value })}
              />
            </label>
            <label className="field">
              <span>Input regex (optional)</span>
              <input
                className="mono"
                value={draft.input}
                aria-label="Input regex"
                placeholder="^git (status|diff|log)$"
                onChange={(e) => set({ input: e.target.value })}
              />
            </label>
            {draft.verdict === 'ask' && (
              <>
                <label className="field">
                  <span>Timeout (s; empty = global, 0 = never)</span>
                  <input
                    type="number"
                    min={0}
                    value={draft.timeout}
                    aria-label="Timeout in seconds"
                    onChange={(e) => set({ timeout: e.target.value })}
                  />
                </label>
                <label className="field">
                  <span>Default answer</span>
                  <select
                    value={draft.answer}
                    aria-label="Default answer"
                    onChange={(e) => set({ answer: e.target.value as Draft['answer'] })}
                  >
                    <option value="">global</option>
                    <option value="deny">deny</option>
                    <option value="allow">allow</option>
                  </select>
                </label>
              </>
            )}
          </div>
          <p className="muted small">
            The regex is searched in the tool's main argument (a Bash command, a file_path, a url; else the input
            text). Anchor both ends for allow rules: <code>^git status</code> alone also matches{' '}
            <code>git status; rm -rf ~</code>.
          </p>
          <div className="row-actions">
            <button className="btn btn-primary" type="submit">
              {draft.id ? 'Save rule' : 'Add rule'}
            </button>
            {draft.id && (
              <button className="btn" type="button" onClick={() => setDraft(blank)}>
                Cancel
              </button>
            )}
          </div>
        </form>
      </div>

      <div className="card">
        <h2>Try the rules</h2>
        <form
          aria-label="Try the rules"
          onSubmit={(e) => {
            e.preventDefault();
            void test();
          }}
        >
          <div className="form-grid">
            <label className="field">
              <span>Worker</span>
              <input value={probe.worker} aria-label="Test worker" onChange={(e) => setProbe({ ...probe, worker: e.target.value })} />
            </label>
            <label className="field">
              <span>Tool</span>
              <input value={probe.tool} aria-label="Test tool" onChange={(e) => setProbe({ ...probe, tool: e.target.value })} />
            </label>
            <label className="field">
              <span>Input</span>
              <input
                className="mono"
                value={probe.input}
                aria-label="Test input"
                placeholder='{"command":"git status"}'
                onChange={(e) => setProbe({ ...probe, input: e.target.value })}
              />
            </label>
          </div>
          <div className="row-actions">
            <button className="btn" type="submit">
              Test
            </button>
            {decision && (
              <span className="small" data-decision={decision.verdict}>
                {describeDecision(decision)}
              </span>
            )}
          </div>
        </form>
      </div>

      {confirmDelete && (
        <Confirm
          title="Delete rule?"
          body={
            <>
              Prompts it matched go to the next matching rule, or to a person. (
              {confirmDelete.name || `${confirmDelete.tool} on ${confirmDelete.worker}`})
            </>
          }
          confirm="Delete"
          danger
          onConfirm={() => void remove(confirmDelete)}
          onClose={() => setConfirmDelete(null)}
        />
      )}
    </section>
  );
}
