// HTTP client for the hub: bearer from localStorage, 401 sends the user back
// to the auth gate, errors carry the hub's `detail` / `error` text.

import type {
  EventsResponse,
  FlowRunResponse,
  FlowSave,
  FlowSaveResponse,
  FlowsResponse,
  Health,
  HubSettings,
  PermissionsResponse,
  PermissionRule,
  PurgeResponse,
  ResolveResponse,
  RuleDecision,
  RulesList,
  RuleTestRequest,
  RunResponse,
  SendReceipt,
  SettingsPatch,
  StreamTicket,
  TicketResponse,
  Worker,
  WorkersResponse,
  WorkerStatus,
} from './types';

export const BEARER_KEY = 'tubemail.bearer';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called when any API call answers 401 (the stored bearer is wrong). */
export function onUnauthorized(fn: Listener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export function getBearer(): string | null {
  try {
    return localStorage.getItem(BEARER_KEY);
  } catch {
    return null;
  }
}

export function setBearer(value: string | null): void {
  if (value === null) localStorage.removeItem(BEARER_KEY);
  else localStorage.setItem(BEARER_KEY, value);
}

function errorText(body: unknown, status: number): string {
  if (body && typeof body === 'object') {
    const b = body as { detail?: unknown; error?: unknown };
    if (typeof b.error === 'string') return b.error;
    if (typeof b.detail === 'string') return b.detail;
    if (Array.isArray(b.detail)) {
      return b.detail
        .map((d) => (d && typeof d === 'object' && 'msg' in d ? String((d as { msg: unknown }).msg) : String(d)))
        .join('; ');
    }
  }
  return `HTTP ${status}`;
}

/** One request with the bearer. Soft errors (`{ok:false,error}`) throw too. */
export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  bearer: string | null = getBearer(),
): Promise<T> {
  const headers: Record<string, string> = {};
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let parsed: unknown = null;
  const text = await res.text();
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (res.status === 401) {
    unauthorizedListeners.forEach((fn) => fn());
    throw new ApiError(errorText(parsed, 401), 401);
  }
  if (!res.ok) throw new ApiError(errorText(parsed, res.status), res.status);
  if (parsed && typeof parsed === 'object' && (parsed as { ok?: unknown }).ok === false) {
    throw new ApiError(errorText(parsed, res.status), res.status);
  }
  return parsed as T;
}

const w = (name: string) => `/api/workers/${encodeURIComponent(name)}`;

/** The secret for a browser on the hub's machine, or null elsewhere. */
export async function devBootstrap(): Promise<string | null> {
  try {
    const res = await fetch('/api/dev-bootstrap', { credentials: 'omit' });
    if (!res.ok) return null;
    const body = (await res.json()) as { bearer?: unknown };
    return typeof body.bearer === 'string' && body.bearer ? body.bearer : null;
  } catch {
    return null;
  }
}

/** Checks a secret without storing it: true when the hub accepts it. */
export async function checkBearer(bearer: string): Promise<boolean> {
  const res = await fetch('/api/settings', { headers: { Authorization: `Bearer ${bearer}` } });
  return res.ok;
}

export const api = {
  health: async (): Promise<Health> => (await fetch('/health')).json() as Promise<Health>,
  /** The whole roster, read a page at a time (`next` is the `after` of
   * the following page). */
  workers: async (): Promise<Worker[]> => {
    const all: Worker[] = [];
    let after: string | null | undefined = null;
    do {
      const q: string = after ? `?after=${encodeURIComponent(after)}` : '';
      const page = await call<WorkersResponse>('GET', `/api/workers${q}`);
      all.push(...page.workers);
      after = page.next;
    } while (after);
    return all;
  },
  worker: (name: string) => call<Worker>('GET', w(name)),
  purge: (name: string) => call<PurgeResponse>('DELETE', w(name)),
  send: (name: string, message: string) => call<SendReceipt>('POST', `${w(name)}/send`, { message }),
  status: (name: string) => call<WorkerStatus>('GET', `${w(name)}/status`),
  /** A timeline page, oldest first: the newest `limit`, or the newest
   * `limit` before the event `before` (paging back). */
  events: async (name: string, opts: { before?: string; limit: number }) => {
    const q = new URLSearchParams({ limit: String(opts.limit) });
    if (opts.before) q.set('before', opts.before);
    return (await call<EventsResponse>('GET', `${w(name)}/events?${q.toString()}`)).events;
  },
  interrupt: (name: string) => call('POST', `${w(name)}/interrupt`),
  restart: (name: string) => call('POST', `${w(name)}/restart`),
  stop: (name: string) => call('POST', `${w(name)}/stop`),
  updateManager: (name: string, force: boolean) =>
    call('POST', `${w(name)}/update-manager${force ? '?force=true' : ''}`),
  setRecording: (name: string, enabled: boolean) => call('POST', `${w(name)}/recording`, { enabled }),
  permissions: async () => (await call<PermissionsResponse>('GET', '/api/permissions')).pending,
  resolve: (worker: string, request_id: string, behavior: 'allow' | 'deny') =>
    call<ResolveResponse>('POST', '/api/permissions/resolve', { worker, request_id, behavior }),
  flows: async () => (await call<FlowsResponse>('GET', '/api/flows')).flows,
  saveFlow: (f: FlowSave) =>
    call<FlowSaveResponse>('POST', '/api/flows', f),
  deleteFlow: (name: string) => call('DELETE', `/api/flows/${encodeURIComponent(name)}`),
  runFlow: (name: string, worker: string | null) =>
    call<FlowRunResponse>('POST', `/api/flows/${encodeURIComponent(name)}/run`, { worker, meta: null }),
  run: async (runId: string) => (await call<RunResponse>('GET', `/api/flows/runs/${encodeURIComponent(runId)}`)).run,
  rules: async () => (await call<RulesList>('GET', '/api/rules')).rules,
  /** Replaces the whole ordered list (reordering). */
  setRules: async (rules: PermissionRule[]) => (await call<RulesList>('PUT', '/api/rules', { rules })).rules,
  addRule: (rule: PermissionRule) => call<PermissionRule>('POST', '/api/rules', rule),
  updateRule: (id: string, rule: PermissionRule) =>
    call<PermissionRule>('PUT', `/api/rules/${encodeURIComponent(id)}`, rule),
  deleteRule: (id: string) => call('DELETE', `/api/rules/${encodeURIComponent(id)}`),
  testRules: (t: RuleTestRequest) => call<RuleDecision>('POST', '/api/rules/test', t),
  settings: () => call<HubSettings>('GET', '/api/settings'),
  saveSettings: (s: SettingsPatch) => call<HubSettings>('PUT', '/api/settings', s),
  ptyTicket: async (worker: string) => (await call<TicketResponse>('POST', '/api/pty-ticket', { worker })).ticket,
  streamTicket: async (bearer: string) =>
    (await call<StreamTicket>('POST', '/api/stream-ticket', undefined, bearer)).ticket,
};
