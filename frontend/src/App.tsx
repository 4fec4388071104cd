// The shell: auth, tabs, live fleet, terminal pane, theme.

import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { AuthGate, Logo } from './components/AuthGate';
import { FlowsTab } from './components/FlowsTab';
import { PermissionsTab } from './components/PermissionsTab';
import { RulesTab } from './components/RulesTab';
import { SettingsTab, type ThemeChoice } from './components/SettingsTab';
import { WebhooksTab } from './components/WebhooksTab';
import { ToastProvider } from './components/ui';
import { NoTerminal, WorkerPane } from './components/WorkerPane';
import { WorkersTab } from './components/WorkersTab';
import { api, checkBearer, devBootstrap, getBearer, onUnauthorized, setBearer } from './lib/api';
import { nowSeconds } from './lib/clock';
import { managerOf } from './lib/fleet';
import { useFleet } from './lib/fleet-hook';
import { inTextField } from './lib/keys';
import type { Worker } from './lib/types';
import { fleetCounts, terminalReach, type TerminalReach } from './lib/worker-view';

const TerminalView = lazy(() => import('./components/Terminal'));

type Tab = 'workers' | 'permissions' | 'rules' | 'flows' | 'webhooks' | 'settings';
const TABS: { id: Tab; label: string; path: string; key: string }[] = [
  { id: 'workers', label: 'Workers', path: '/workers', key: '1' },
  { id: 'permissions', label: 'Permissions', path: '/permissions', key: '2' },
  { id: 'flows', label: 'Saved Messages', path: '/flows', key: '3' },
  { id: 'settings', label: 'Settings', path: '/settings', key: '4' },
  { id: 'rules', label: 'Rules', path: '/rules', key: '5' },
  { id: 'webhooks', label: 'Webhooks', path: '/webhooks', key: '6' },
];

const THEME_KEY = 'tubemail.theme';
const NO_BOOTSTRAP = 'tubemail.noBootstrap';

function tabFromPath(path: string): Tab {
  return TABS.find((t) => path.startsWith(t.path))?.id ?? 'workers';
}

function useTheme(): [ThemeChoice, (t: ThemeChoice) => void, boolean] {
  const [choice, setChoice] = useState<ThemeChoice>(() => {
    const v = localStorage.getItem(THEME_KEY);
    return v === 'dark' || v === 'light' ? v : 'system';
  });
  const [systemDark, setSystemDark] = useState(() => window.matchMedia('(prefers-color-scheme: dark)').matches);
  useEffect(() => {
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    const on = () => setSystemDark(mq.matches);
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);
  const dark = choice === 'system' ? systemDark : choice === 'dark';
  useEffect(() => {
    document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  }, [dark]);
  const set = (t: ThemeChoice) => {
    setChoice(t);
    if (t === 'system') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, t);
  };
  return [choice, set, dark];
}

type Auth = { state: 'checking' } | { state: 'gate'; reason: string | null } | { state: 'in'; bearer: string };

function useAuth(): [Auth, (b: string) => void, () => void] {
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  useEffect(() => {
    let alive = true;
    void (async () => {
      const stored = getBearer();
      if (stored) {
        try {
          if (await checkBearer(stored)) return alive && setAuth({ state: 'in', bearer: stored });
        } catch {
          /* fall through to the gate */
        }
        setBearer(null);
        return alive && setAuth({ state: 'gate', reason: 'The hub refused the stored secret. Paste the current one.' });
      }
      if (!sessionStorage.getItem(NO_BOOTSTRAP)) {
        const b = await devBootstrap();
        if (b && (await checkBearer(b).catch(() => false))) {
          setBearer(b);
          return alive && setAuth({ state: 'in', bearer: b });
        }
      }
      if (alive) setAuth({ state: 'gate', reason: null });
    })();
    return () => {
      alive = false;
    };
  }, []);
  useEffect(
    () =>
      onUnauthorized(() => {
        setBearer(null);
        setAuth({ state: 'gate', reason: 'The hub refused the secret (it may have changed). Paste the current one.' });
      }),
    [],
  );
  const signIn = (b: string) => {
    setBearer(b);
    sessionStorage.removeItem(NO_BOOTSTRAP);
    setAuth({ state: 'in', bearer: b });
  };
  const forget = () => {
    setBearer(null);
    sessionStorage.setItem(NO_BOOTSTRAP, '1');
    setAuth({ state: 'gate', reason: null });
  };
  return [auth, signIn, forget];
}

export function App() {
  const [auth, signIn, forget] = useAuth();
  const [theme, setTheme, dark] = useTheme();
  const popout = window.location.pathname.startsWith('/term/')
    ? decodeURIComponent(window.location.pathname.slice('/term/'.length))
    : null;

  let body;
  if (auth.state === 'checking') body = <div className="splash">Connecting to the hub…</div>;
  else if (auth.state === 'gate') body = <AuthGate reason={auth.reason} onSignedIn={signIn} />;
  else if (popout)
    body = (
      <Suspense fallback={<div className="splash">Loading terminal…</div>}>
        <PopoutTerminal worker={popout} dark={dark} />
      </Suspense>
    );
  else body = <Console bearer={auth.bearer} onForget={forget} theme={theme} onTheme={setTheme} dark={dark} />;
  return <ToastProvider>{body}</ToastProvider>;
}

function Console(props: {
  bearer: string;
  onForget: () => void;
  theme: ThemeChoice;
  onTheme: (t: ThemeChoice) => void;
  dark: boolean;
}) {
  const [tab, setTabState] = useState<Tab>(() => tabFromPath(window.location.pathname));
  const [terminal, setTerminal] = useState<string | null>(null);
  // A stream that closes for good may mean a changed secret: a cheap call
  // finds out (a 401 sends us to the gate).
  const onStreamClosed = useCallback(() => void api.settings().catch(() => undefined), []);
  const fleet = useFleet(props.bearer, onStreamClosed);

  const setTab = useCallback((t: Tab) => {
    setTabState(t);
    const path = TABS.find((x) => x.id === t)?.path ?? '/';
    if (window.location.pathname !== path) window.history.pushState(null, '', path);
  }, []);

  useEffect(() => {
    const onPop = () => setTabState(tabFromPath(window.location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (inTextField(e.target) || !e.altKey || e.ctrlKey || e.metaKey) return;
      const t = TABS.find((x) => x.key === e.key);
      if (t) {
        e.preventDefault();
        setTab(t.id);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [setTab]);

  const toggleTerminal = useCallback((w: string) => setTerminal((cur) => (cur === w ? null : w)), []);
  const pendingCount = fleet.permissions.length;
  useEffect(() => {
    document.title = pendingCount > 0 ? `(${pendingCount}) TubeMail` : 'TubeMail';
  }, [pendingCount]);

  // One count for the tab, the roster and Settings (managers excluded).
  // Tones do not depend on the clock (only busy labels do), so no ticking.
  const counts = useMemo(() => fleetCounts(fleet.workers.values(), nowSeconds()), [fleet.workers]);
  const workerCount = counts.total;

  return (
    <div className={`app${terminal ? ' with-terminal' : ''}`}>
      <header className="topbar">
        <div className="brand">
          <Logo /> TubeMail
        </div>
        <nav className="tabs" role="tablist" aria-label="Sections">
          {TABS.map((t) => (
            <button
              key={t.id}
              role="tab"
              aria-selected={tab === t.id}
              className={`tab-btn${tab === t.id ? ' active' : ''}`}
              onClick={() => setTab(t.id)}
              title={`Alt+${t.key}`}
            >
              {t.label}
              {t.id === 'workers' && workerCount > 0 && <span className="count">{workerCount}</span>}
              {t.id === 'permissions' && pendingCount > 0 && (
                <span className="count count-alert" aria-label={`${pendingCount} pending`}>
                  {pendingCount}
                </span>
              )}
            </button>
          ))}
        </nav>
        <span className="spacer" />
        <span className={`live live-${fleet.status}`} title={`event stream: ${fleet.status}`} data-stream={fleet.status}>
          <span className="dot" aria-hidden />
          {fleet.status === 'live' ? 'live' : fleet.status}
        </span>
        <button
          className="btn btn-sm btn-icon"
          aria-label={props.dark ? 'Switch to light theme' : 'Switch to dark theme'}
          onClick={() => props.onTheme(props.dark ? 'light' : 'dark')}
        >
          {props.dark ? '☀' : '☾'}
        </button>
      </header>
      <main className="main">
        <div className="content">
          {tab === 'workers' && (
            <WorkersTab
              fleet={fleet}
              selected={terminal}
              onOpen={toggleTerminal}
              hubVersion={fleet.health?.version ?? null}
              counts={counts}
            />
          )}
          {tab === 'permissions' && <PermissionsTab fleet={fleet} />}
          {tab === 'rules' && <RulesTab />}
          {tab === 'flows' && <FlowsTab fleet={fleet} />}
          {tab === 'webhooks' && <WebhooksTab />}
          {tab === 'settings' && (
            <SettingsTab
              bearer={props.bearer}
              onForget={props.onForget}
              theme={props.theme}
              onTheme={props.onTheme}
              health={fleet.health}
              counts={counts}
            />
          )}
        </div>
        {terminal && (
          <WorkerPane key={terminal} worker={terminal} fleet={fleet} dark={props.dark} onClose={() => setTerminal(null)} />
        )}
      </main>
    </div>
  );
}

/** The terminal in its own window (`/term/<worker>`), or why there is none:
 * this window has no roster, so it reads the two rows once. */
function PopoutTerminal(props: { worker: string; dark: boolean }) {
  const [reach, setReach] = useState<TerminalReach | null>(null);
  useEffect(() => {
    const row = (name: string) => api.worker(name).catch((e: { status?: number }) => {
      if (e.status === 404) return undefined;
      throw e;
    });
    Promise.all([row(props.worker), row(managerOf(props.worker))]).then(
      ([w, m]: (Worker | undefined)[]) => setReach(terminalReach(w, m, Date.now() / 1000)),
      // Unknown: try the terminal, which says what it finds.
      () => setReach({ ok: true }),
    );
  }, [props.worker]);
  if (reach === null) return <div className="splash">Loading terminal…</div>;
  if (!reach.ok) return <NoTerminal reach={reach} />;
  return <TerminalView worker={props.worker} dark={props.dark} popout />;
}
