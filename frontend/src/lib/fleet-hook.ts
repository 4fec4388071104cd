// The live fleet: roster and pending prompts, loaded when the global stream
// opens and kept current from its events (rows are refetched one by one
// when an event touches them; nothing polls).

import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from './api';
import { EVENT_NAMES, HubEvents, type StreamStatus } from './events';
import { eventWorker, mergeRoster, patchWorker, permissionsAfter, sameWorker } from './fleet';
import type { Health, PendingPermission, Worker } from './types';

export type FleetListener = (name: string, data: Record<string, unknown>) => void;

export interface Fleet {
  workers: Map<string, Worker>;
  permissions: PendingPermission[];
  status: StreamStatus;
  health: Health | null;
  loaded: boolean;
  /** Optimistic removal after answering a prompt here. */
  dropPermission: (worker: string, requestId: string) => void;
  refreshWorker: (name: string) => void;
  removeWorker: (name: string) => void;
  /** Every stream event, for views that follow a worker (run logs). */
  subscribe: (fn: FleetListener) => () => void;
}

export function useFleet(bearer: string, onStreamClosed: () => void): Fleet {
  const [workers, setWorkers] = useState<Map<string, Worker>>(() => new Map());
  const [permissions, setPermissions] = useState<PendingPermission[]>([]);
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const [health, setHealth] = useState<Health | null>(null);
  const [loaded, setLoaded] = useState(false);
  const pending = useRef(new Set<string>());
  const flush = useRef<ReturnType<typeof setTimeout> | null>(null);
  const listeners = useRef(new Set<FleetListener>());
  const closedRef = useRef(onStreamClosed);
  closedRef.current = onStreamClosed;

  const loadAll = useCallback(async () => {
    try {
      const [ws, ps] = await Promise.all([api.workers(), api.permissions()]);
      setWorkers((prev) => mergeRoster(prev, ws));
      setPermissions(ps);
      setLoaded(true);
    } catch {
      /* 401 goes to the gate; other failures wait for the next sync */
    }
    api.health().then(setHealth, () => undefined);
  }, []);

  const fetchRows = useCallback(() => {
    flush.current = null;
    const names = [...pending.current];
    pending.current.clear();
    if (names.length > 25) {
      void loadAll();
      return;
    }
    for (const name of names) {
      api.worker(name).then(
        (w) => setWorkers((m) => {
          const old = m.get(w.name);
          return old && sameWorker(old, w) ? m : new Map(m).set(w.name, w);
        }),
        (e: { status?: number }) => {
          if (e.status === 404)
            setWorkers((m) => {
              if (!m.has(name)) return m;
              const n = new Map(m);
              n.delete(name);
              return n;
            });
        },
      );
    }
  }, [loadAll]);

  const refreshWorker = useCallback(
    (name: string) => {
      pending.current.add(name);
      if (flush.current === null) flush.current = setTimeout(fetchRows, 120);
    },
    [fetchRows],
  );

  useEffect(() => {
    const events = new HubEvents({
      ticket: () => api.streamTicket(bearer),
      names: EVENT_NAMES,
      onStatus: setStatus,
      onSync: () => void loadAll(),
      onClosed: () => closedRef.current(),
      onEvent: (name, data) => {
        const worker = eventWorker(data);
        setPermissions((list) => permissionsAfter(list, name, data));
        if (name === 'worker_online') {
          api.permissions().then(setPermissions, () => undefined);
        }
        if (worker) {
          if (name === 'worker_purged') {
            setWorkers((m) => {
              const n = new Map(m);
              n.delete(worker);
              return n;
            });
          } else {
            setWorkers((m) => {
              const w = m.get(worker);
              return w ? new Map(m).set(worker, patchWorker(w, name, data)) : m;
            });
            refreshWorker(worker);
          }
        }
        listeners.current.forEach((fn) => fn(name, data));
      },
    });
    events.start();
    return () => events.stop();
  }, [bearer, loadAll, refreshWorker]);

  const dropPermission = useCallback((worker: string, requestId: string) => {
    setPermissions((list) => list.filter((p) => !(p.worker === worker && p.request_id === requestId)));
  }, []);

  const removeWorker = useCallback((name: string) => {
    setWorkers((m) => {
      const n = new Map(m);
      n.delete(name);
      return n;
    });
  }, []);

  const subscribe = useCallback((fn: FleetListener) => {
    listeners.current.add(fn);
    return () => {
      listeners.current.delete(fn);
    };
  }, []);

  return { workers, permissions, status, health, loaded, dropPermission, refreshWorker, removeWorker, subscribe };
}
