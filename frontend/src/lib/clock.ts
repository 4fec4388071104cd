// One shared 1 s clock for everything that ticks (busy time, "ago").

import { useSyncExternalStore } from 'react';

let now = Date.now() / 1000;
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  if (timer === null) {
    timer = setInterval(() => {
      now = Date.now() / 1000;
      listeners.forEach((l) => l());
    }, 1000);
  }
  return () => {
    listeners.delete(fn);
    if (listeners.size === 0 && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/**
 * A value derived from the clock; the component re-renders only when the
 * derived value changes (e.g. a label that changes once a minute).
 */
export function useClock<T>(derive: (now: number) => T): T {
  return useSyncExternalStore(subscribe, () => derive(now));
}

/** Epoch seconds, updated every second while someone shows a clock. */
export function useNow(): number {
  return useSyncExternalStore(subscribe, () => now);
}

export function nowSeconds(): number {
  return Date.now() / 1000;
}
