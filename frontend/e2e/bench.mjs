// Web UI figures: initial JS size (gzipped) and a 500-worker roster in
// headless Chromium against a real hub. Run: `npm run bench` (after
// `npm run build` and `cargo build -p tubemail-hub`). Prints one line per
// figure; record them in BENCHMARKS.md with the machine's conditions.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { browser, FRONTEND, Hub } from './support.mjs';

const N = Number(process.env.WORKERS ?? 500);

function initialJsGzip() {
  const html = readFileSync(join(FRONTEND, 'dist', 'index.html'), 'utf8');
  const entry = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  let total = 0;
  for (const f of entry) total += gzipSync(readFileSync(join(FRONTEND, 'dist', f)), { level: 9 }).length;
  const all = readdirSync(join(FRONTEND, 'dist', 'assets')).filter((f) => f.endsWith('.js'));
  return { total, entry, lazy: all.filter((f) => !entry.some((e) => e.endsWith(f))) };
}

const hub = await Hub.start();
const chrome = await browser();
try {
  const js = initialJsGzip();
  console.log(`initial JS (gzip -9): ${(js.total / 1024).toFixed(1)} KiB in ${js.entry.join(', ')}; lazy: ${js.lazy.join(', ')}`);

  const t0 = Date.now();
  const workers = [];
  for (let i = 0; i < N; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 50); j++) {
      batch.push(hub.worker(`w${String(j).padStart(3, '0')}-tm`, { cwd: `/home/dev/project-${j % 25}` }));
    }
    workers.push(...(await Promise.all(batch)));
  }
  console.log(`registered ${N} streaming workers in ${Date.now() - t0} ms`);

  const page = await chrome.context.newPage();
  const nav = Date.now();
  await page.goto(hub.base + '/workers');
  await page.locator('tr.worker-row').nth(N - 1).waitFor();
  console.log(`page load → ${N} rows rendered: ${Date.now() - nav} ms`);

  // Long tasks (> 50 ms on the main thread) while the fleet changes.
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__long.push(e.duration);
    }).observe({ type: 'longtask', buffered: false });
  });
  const burst = Date.now();
  await Promise.all(workers.slice(0, 100).map((w, i) => (i % 2 ? w.active(true) : w.context(i % 100))));
  await page.locator('tr.worker-row .badge-busy').nth(49).waitFor();
  console.log(`100 status changes → 50 busy badges shown: ${Date.now() - burst} ms`);

  // Input latency, measured in the page: from the input event to the
  // first frame after React committed.
  const filterMs = async (value) =>
    page.evaluate(async (v) => {
      const input = document.querySelector('input[aria-label="Filter workers"]');
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
      const t = performance.now();
      setter.call(input, v);
      input.dispatchEvent(new Event('input', { bubbles: true }));
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      return [performance.now() - t, document.querySelectorAll('tr.worker-row').length];
    }, value);
  const [narrow, shown] = await filterMs('w49');
  const [widen, all] = await filterMs('');
  console.log(`filter ${N} → ${shown} rows: ${narrow.toFixed(0)} ms; clear filter → ${all} rows: ${widen.toFixed(0)} ms`);
  const sortMs = await page.evaluate(async () => {
    const btn = [...document.querySelectorAll('button.th-sort')].find((b) => b.textContent.startsWith('State'));
    const t = performance.now();
    btn.click();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - t;
  });
  console.log(`re-sort ${N} rows by state: ${sortMs.toFixed(0)} ms`);

  // A second of ticking with 50 busy badges: frame budget.
  const frames = await page.evaluate(
    () =>
      new Promise((res) => {
        const ts = [];
        const start = performance.now();
        const tick = (t) => {
          ts.push(t);
          if (t - start < 3000) requestAnimationFrame(tick);
          else res(ts);
        };
        requestAnimationFrame(tick);
      }),
  );
  const gaps = frames.slice(1).map((t, i) => t - frames[i]).sort((a, b) => a - b);
  const p99 = gaps[Math.floor(gaps.length * 0.99)];
  console.log(`3 s idle with live ticking: ${frames.length} frames, frame gap p50 ${gaps[Math.floor(gaps.length / 2)].toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${gaps.at(-1).toFixed(1)} ms`);
  const long = await page.evaluate(() => window.__long);
  console.log(`long tasks during the run: ${long.length} (max ${long.length ? Math.max(...long).toFixed(0) : 0} ms)`);
  const mem = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
  if (mem) console.log(`JS heap: ${(mem / 1048576).toFixed(1)} MiB`);
} finally {
  await chrome.close();
  await hub.stop();
}
