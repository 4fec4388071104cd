// The pane beside the roster for one worker: its timeline or its terminal.
// A worker whose terminal cannot exist (no manager, manager gone, never
// connected) gets the reason instead of an empty screen.

import { lazy, Suspense, useState } from 'react';
import { useClock } from '../lib/clock';
import { managerOf } from '../lib/fleet';
import type { Fleet } from '../lib/fleet-hook';
import { stateBadge } from '../lib/format';
import { reachOf, terminalReach, type TerminalReach } from '../lib/worker-view';
import { Timeline } from './Timeline';

const TerminalView = lazy(() => import('./Terminal'));

export type PaneView = 'timeline' | 'terminal';
const VIEW_KEY = 'tubemail.pane';

export function loadPaneView(): PaneView {
  try {
    return localStorage.getItem(VIEW_KEY) === 'terminal' ? 'terminal' : 'timeline';
  } catch {
    return 'timeline';
  }
}

export function WorkerPane(props: { worker: string; fleet: Fleet; dark: boolean; onClose: () => void }) {
  const { worker, fleet } = props;
  const [view, setViewState] = useState<PaneView>(loadPaneView);
  const setView = (v: PaneView) => {
    setViewState(v);
    try {
      localStorage.setItem(VIEW_KEY, v);
    } catch {
      /* private mode: not remembered */
    }
  };
  const w = fleet.workers.get(worker);
  const manager = fleet.workers.get(managerOf(worker));
  // Re-evaluated when the words change ("disconnected 2m ago").
  const reachKey = useClock((now) => JSON.stringify(terminalReach(w, manager, now)));
  const term = JSON.parse(reachKey) as TerminalReach;
  const badgeKey = useClock((now) => {
    const b = w ? stateBadge(w, now) : null;
    return b ? `${b.tone}\u0000${b.label}\u0000${b.title}` : '';
  });
  const [tone, label, title] = badgeKey.split('\u0000');
  const badge = badgeKey ? { tone, label, title } : null;
  const reach = w ? reachOf(w) : 'never';

  return (
    <div className="worker-pane" aria-label={`Worker ${worker}`}>
      <div className="pane-bar">
        <span className="term-title">{worker}</span>
        {badge && (
          <span className={`badge badge-${badge.tone}`} title={badge.title}>
            {reach === 'never' ? 'never connected' : badge.label}
          </span>
        )}
        <div className="pane-tabs" role="tablist" aria-label="View">
          <button role="tab" aria-selected={view === 'timeline'} className={view === 'timeline' ? 'on' : ''} onClick={() => setView('timeline')}>
            Timeline
          </button>
          <button
            role="tab"
            aria-selected={view === 'terminal'}
            className={view === 'terminal' ? 'on' : ''}
            onClick={() => setView('terminal')}
            title={term.ok ? undefined : term.title}
          >
            Terminal{!term.ok && <span className="tab-off" aria-label="(unavailable)"> ⊘</span>}
          </button>
        </div>
        <span className="spacer" />
        <button className="btn btn-sm btn-icon" onClick={props.onClose} aria-label="Close">
          ✕
        </button>
      </div>
      {view === 'timeline' ? (
        <Timeline key={worker} worker={worker} fleet={fleet} />
      ) : term.ok ? (
        <Suspense fallback={<div className="term-pane splash">Loading terminal…</div>}>
          <TerminalView key={worker} worker={worker} dark={props.dark} embedded />
        </Suspense>
      ) : (
        <NoTerminal reach={term} onTimeline={() => setView('timeline')} />
      )}
    </div>
  );
}

export function NoTerminal(props: { reach: TerminalReach & { ok: false }; onTimeline?: () => void }) {
  return (
    <div className="no-terminal" role="status" data-testid="no-terminal">
      <div className="empty-icon" aria-hidden>
        ⊘
      </div>
      <h3>{props.reach.title}</h3>
      <p>{props.reach.why}</p>
      {props.onTimeline && (
        <button className="btn btn-sm" onClick={props.onTimeline}>
          Show its timeline
        </button>
      )}
    </div>
  );
}
