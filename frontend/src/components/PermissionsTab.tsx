// Every pending prompt across workers, answered from the keyboard.

import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../lib/api';
import { useClock } from '../lib/clock';
import type { Fleet } from '../lib/fleet-hook';
import { inTextField, PERMISSION_KEYS, permissionKey } from '../lib/keys';
import type { PendingPermission } from '../lib/types';
import { Empty, Kbd, useAction } from './ui';

const keyOf = (p: PendingPermission) => `${p.worker}\u0000${p.request_id}`;

export function PermissionsTab({ fleet }: { fleet: Fleet }) {
  const run = useAction();
  const [cursor, setCursor] = useState<string | null>(null);
  const listRef = useRef<HTMLDivElement>(null);

  // Grouped by worker, in a stable order; the cursor walks the flat list.
  const groups = useMemo(() => {
    const m = new Map<string, PendingPermission[]>();
    for (const p of fleet.permissions) {
      const l = m.get(p.worker);
      if (l) l.push(p);
      else m.set(p.worker, [p]);
    }
    return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [fleet.permissions]);
  const flat = useMemo(() => groups.flatMap(([, l]) => l), [groups]);
  const tools = useMemo(() => {
    const m = new Map<string, number>();
    for (const p of fleet.permissions) m.set(p.tool_name, (m.get(p.tool_name) ?? 0) + 1);
    return [...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  }, [fleet.permissions]);

  const index = Math.max(
    0,
    flat.findIndex((p) => keyOf(p) === cursor),
  );
  const current = flat[index] ?? null;

  // When the selected prompt disappears (answered here or elsewhere), keep
  // the cursor at the same position.
  const lastIndex = useRef(0);
  useEffect(() => {
    if (flat.length === 0) return;
    if (!cursor || !flat.some((p) => keyOf(p) === cursor)) {
      setCursor(keyOf(flat[Math.min(lastIndex.current, flat.length - 1)]));
    }
  }, [flat, cursor]);
  useEffect(() => {
    lastIndex.current = index;
  }, [index]);

  const answer = async (p: PendingPermission, behavior: 'allow' | 'deny') => {
    const r = await run(`${behavior === 'allow' ? 'Allow' : 'Deny'} ${p.tool_name}`, () =>
      api.resolve(p.worker, p.request_id, behavior),
    );
    if (r) fleet.dropPermission(p.worker, p.request_id);
  };

  const allowTool = async (tool: string) => {
    const targets = fleet.permissions.filter((p) => p.tool_name === tool);
    let ok = 0;
    for (const p of targets) {
      const r = await run(`Allow ${tool} on ${p.worker}`, () => api.resolve(p.worker, p.request_id, 'allow'));
      if (r) {
        ok++;
        fleet.dropPermission(p.worker, p.request_id);
      }
    }
    if (ok > 0) run('', async () => undefined, `Allowed ${ok} × ${tool}`);
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (inTextField(e.target) || document.querySelector('dialog[open]')) return;
      const action = permissionKey(e);
      if (!action || flat.length === 0) return;
      e.preventDefault();
      if (action === 'next') setCursor(keyOf(flat[Math.min(flat.length - 1, index + 1)]));
      if (action === 'prev') setCursor(keyOf(flat[Math.max(0, index - 1)]));
      if (!current) return;
      if (action === 'allow') void answer(current, 'allow');
      if (action === 'deny') void answer(current, 'deny');
      if (action === 'allowTool') void allowTool(current.tool_name);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  useEffect(() => {
    listRef.current?.querySelector('.perm.current')?.scrollIntoView({ block: 'nearest' });
  }, [cursor]);

  return (
    <section className="tab" aria-label="Permissions">
      <div className="keys-legend" aria-label="Keyboard shortcuts">
        {PERMISSION_KEYS.map((k) => (
          <span key={k.keys}>
            <Kbd>{k.keys}</Kbd> {k.what}
          </span>
        ))}
      </div>
      {flat.length === 0 ? (
        <Empty title="Nothing waiting for you" icon="✓">
          <p>When a worker asks to run a tool, the prompt shows up here at once.</p>
          <p>
            Answer with <Kbd>a</Kbd> or <Kbd>d</Kbd>; prompts answered elsewhere vanish by themselves.
          </p>
        </Empty>
      ) : (
        <>
          {tools.length > 0 && (
            <div className="bulk" aria-label="Allow by tool">
              <span className="muted">Allow all by tool:</span>
              {tools.map(([tool, n]) => (
                <button key={tool} className="btn btn-sm" onClick={() => void allowTool(tool)}>
                  Allow all {tool} <span className="count">{n}</span>
                </button>
              ))}
            </div>
          )}
          <div className="perm-list" ref={listRef} role="listbox" aria-label="Pending permission prompts">
            {groups.map(([worker, list]) => (
              <div key={worker} className="perm-group">
                <h3 className="perm-worker">
                  {worker} <span className="muted">· {list.length}</span>
                </h3>
                {list.map((p) => {
                  const isCurrent = current !== null && keyOf(p) === keyOf(current);
                  return (
                    <div
                      key={p.request_id}
                      className={`perm${isCurrent ? ' current' : ''}`}
                      role="option"
                      aria-selected={isCurrent}
                      data-request={p.request_id}
                      onClick={() => setCursor(keyOf(p))}
                    >
                      <div className="perm-main">
                        <div className="perm-tool">{p.tool_name}</div>
                        {p.description && <div className="perm-desc">{p.description}</div>}
                        {p.input_preview && <pre className="perm-input">{p.input_preview}</pre>}
                        {p.deadline != null && <Expiry deadline={p.deadline} />}
                      </div>
                      <div className="perm-actions">
                        <button className="btn btn-allow" onClick={() => void answer(p, 'allow')}>
                          Allow <Kbd>a</Kbd>
                        </button>
                        <button className="btn btn-deny" onClick={() => void answer(p, 'deny')}>
                          Deny <Kbd>d</Kbd>
                        </button>
                      </div>
                    </div>
                  );
                })}
              </div>
            ))}
          </div>
        </>
      )}
    </section>
  );
}

/** Time left before the hub gives the prompt its default answer. */
function Expiry({ deadline }: { deadline: number }) {
  const left = useClock((now) => Math.max(0, Math.ceil(deadline - now)));
  const text = left >= 120 ? `${Math.round(left / 60)} min` : `${left} s`;
  return (
    <div className="muted small" data-deadline={deadline} title="Then the hub answers with the default answer (Settings, Rules)">
      {left > 0 ? `default answer in ${text}` : 'default answer due'}
    </div>
  );
}
