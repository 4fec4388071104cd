// Web UI figures: initial JS size (gzipped), a 500-worker roster and a
// 10 000-event worker timeline in headless Chromium against a real hub.
// Run: `npm run bench` (after `npm run build` and `cargo build -p
// tubemail-hub`); `BENCH=roster` or `BENCH=timeline` runs one part,
// `WORKERS` and `TIMELINE_EVENTS` change the sizes. Prints one line per
// figure; record them in BENCHMARKS.md with the machine's conditions.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { browser, FRONTEND, Hub } from './support.mjs';

const N = Number(process.env.WORKERS ?? 500);
const EVENTS = Number(process.env.TIMELINE_EVENTS ?? 10_000);
const PART = process.env.BENCH ?? 'all';

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
  if (PART === 'all' || PART === 'roster') await roster();
  if (PART === 'all' || PART === 'timeline') await timeline();
} finally {
  await chrome.close();
  await hub.stop();
}

async function roster() {
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
  await page.close();
}

/** Frame gaps (ms) while `step` moves the list once per frame for `ms`. */
async function framesWhile(page, ms, step) {
  return page.evaluate(
    ([ms, step]) =>
      new Promise((res) => {
        const el = document.querySelector('.tl-scroll');
        const ts = [];
        let maxRows = 0;
        let blank = 0;
        const start = performance.now();
        const tick = (t) => {
          ts.push(t);
          const rows = el.querySelectorAll('[data-key]');
          maxRows = Math.max(maxRows, rows.length);
          // A frame where no rendered row covers the viewport's middle
          // showed an empty list (windowing fell behind the scroll).
          const view = el.getBoundingClientRect();
          const mid = view.top + view.height / 2;
          if (![...rows].some((r) => { const b = r.getBoundingClientRect(); return b.top <= mid && b.bottom >= mid; })) blank++;
          if (t - start >= ms) return res({ ts, maxRows, blank, top: el.scrollTop });
          el.scrollTop = Math.max(0, el.scrollTop - step);
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      }),
    [ms, step],
  );
}

function frameStats(ts) {
  const gaps = ts.slice(1).map((t, i) => t - ts[i]).sort((a, b) => a - b);
  const q = (p) => gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * p))];
  // A gap over 1.5 frames means at least one frame was missed.
  const missed = gaps.filter((g) => g > 25).length;
  const secs = (ts.at(-1) - ts[0]) / 1000;
  return `${gaps.length + 1} frames in ${secs.toFixed(1)} s (${((gaps.length + 1) / secs).toFixed(1)} fps), gap p50 ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${gaps.at(-1).toFixed(1)} ms, ${missed} gaps > 25 ms`;
}

async function timeline() {
  const name = 'long-tm';
  const w = await hub.worker(name, { cwd: '/home/dev/long' });
  // A conversation: messages, replies of 1-12 lines, now and then a prompt
  // and its answer. 16 requests in flight.
  const t0 = Date.now();
  // Units run in order (a prompt, then its answer); 16 units in flight.
  const units = [];
  let planned = 0;
  for (let i = 0; planned < EVENTS; i++) {
    if (i % 40 === 39) {
      const id = `p${String(i).padStart(6, '0')}`;
      units.push([
        () => w.permission(id, 'Bash', `step ${i}`, `cargo test -p crate${i % 9}`),
        () => hub.call('POST', '/api/permissions/resolve', { worker: name, request_id: id, behavior: i % 80 === 79 ? 'deny' : 'allow' }),
      ]);
      planned += 2;
    } else if (i % 2 === 0) {
      units.push([() => hub.call('POST', `/api/workers/${name}/send`, { message: `Task ${i}: look at module ${i % 37} and report.` })]);
      planned += 1;
    } else {
      const lines = 1 + (i % 12);
      const text = Array.from({ length: lines }, (_, k) => `reply ${i} line ${k}: ${'lorem ipsum '.repeat(1 + ((i + k) % 9))}`).join('\n');
      units.push([() => w.outbound(text)]);
      planned += 1;
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < units.length) {
        const unit = units[next++];
        for (const step of unit) await step();
      }
    }),
  );
  const total = (await hub.call('GET', `/api/workers/${name}`)).event_count;
  console.log(`timeline: ${total} events on ${name} in ${Date.now() - t0} ms`);
  const newest = (await hub.call('GET', `/api/workers/${name}/events?limit=1`)).events[0].event_id;

  const page = await chrome.context.newPage();
  await page.goto(hub.base + '/workers');
  await page.locator(`tr[data-worker="${name}"]`).waitFor();
  await page.evaluate(() => localStorage.setItem('tubemail.pane', 'timeline'));

  // Open: click on the row → the newest event on screen at the bottom,
  // measured in the page up to the next frame. Five times (closing between).
  const opens = [];
  for (let k = 0; k < 5; k++) {
    opens.push(
      await page.evaluate(
        ([name, newest]) =>
          new Promise((res) => {
            const row = document.querySelector(`tr[data-worker="${name}"]`);
            const t = performance.now();
            row.click();
            const poll = () => {
              const el = document.querySelector('.tl-scroll');
              const last = el?.querySelector(`[data-key="${newest}"]`);
              if (last && el.scrollTop > 0 && last.getBoundingClientRect().bottom <= el.getBoundingClientRect().bottom + 1) {
                requestAnimationFrame(() => res(performance.now() - t));
              } else requestAnimationFrame(poll);
            };
            poll();
          }),
        [name, newest],
      ),
    );
    await page.getByRole('button', { name: 'Close' }).click();
    await page.locator('.tl-scroll').waitFor({ state: 'detached' });
  }
  const sorted = [...opens].sort((a, b) => a - b);
  console.log(`timeline of ${total} events: click → newest event shown: median ${sorted[2].toFixed(0)} ms, max ${sorted[4].toFixed(0)} ms (${opens.map((x) => x.toFixed(0)).join(', ')})`);

  await page.locator(`tr[data-worker="${name}"]`).click();
  await page.locator(`.tl-scroll [data-key="${newest}"]`).waitFor();
  // The pointer over the list, as for a reader scrolling it with the wheel
  // (left on the clicked row, every frame's hover check would hit the roster).
  const box = await page.locator('.tl-scroll').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__long.push(e.duration);
    }).observe({ type: 'longtask', buffered: false });
  });
  // Reading up, about one screen a second (older pages load on the way).
  const read = await framesWhile(page, 5000, 12);
  console.log(`scroll up 12 px/frame for 5 s: ${frameStats(read.ts)}; at most ${read.maxRows} rows in the DOM, ${read.blank} blank frames`);
  // Flinging up, 20 screens a second.
  const fling = await framesWhile(page, 5000, 240);
  console.log(`scroll up 240 px/frame for 5 s: ${frameStats(fling.ts)}; at most ${fling.maxRows} rows in the DOM, ${fling.blank} blank frames`);
  // To the very top: every page of the timeline read.
  const topMs = await page.evaluate(
    () =>
      new Promise((res) => {
        const el = document.querySelector('.tl-scroll');
        const t = performance.now();
        const tick = () => {
          if (document.querySelector('[data-older="done"]') && el.scrollTop === 0) return res(performance.now() - t);
          if (performance.now() - t > 20000) {
            const m = document.querySelector('[data-older]');
            return res(`stuck: ${m?.dataset.older} ${m?.textContent} top ${el.scrollTop} of ${el.scrollHeight}`);
          }
          el.scrollTop = 0;
          requestAnimationFrame(tick);
        };
        tick();
      }),
  );
  const rows = await page.locator('.tl-scroll').getAttribute('data-rows');
  if (typeof topMs === 'string') throw new Error(topMs);
  console.log(`jump to the top (the rest of the ${rows} events paged in): ${topMs.toFixed(0)} ms`);
  // And back down through everything, now loaded.
  const down = await page.evaluate(
    () =>
      new Promise((res) => {
        const el = document.querySelector('.tl-scroll');
        const ts = [];
        const start = performance.now();
        const tick = (t) => {
          ts.push(t);
          if (t - start >= 5000) return res(ts);
          el.scrollTop += 240;
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      }),
  );
  console.log(`scroll down 240 px/frame for 5 s through the loaded timeline: ${frameStats(down)}`);
  const long = await page.evaluate(() => window.__long);
  console.log(`long tasks while scrolling: ${long.length} (max ${long.length ? Math.max(...long).toFixed(0) : 0} ms)`);
  const mem = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
  if (mem) console.log(`JS heap with ${rows} events loaded: ${(mem / 1048576).toFixed(1)} MiB`);
  await page.close();
}
