// Browser tests of the web UI against a real hub with simulated workers.
// Screenshots of each tab go to target/ui-screenshots.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { browser, echoManager, Hub, screenshot, waitFor } from './support.mjs';

let hub;
let chrome;

before(async () => {
  hub = await Hub.start();
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  await hub?.stop();
});

// What the hub's Content-Security-Policy blocked, on every page opened, and
// the event stream URLs the pages asked for.
const cspViolations = [];
const streamUrls = [];

async function openApp(path = '/') {
  const page = await chrome.context.newPage();
  const apiCalls = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) apiCalls.push(`${r.method()} ${u.pathname}`);
    if (u.pathname === '/api/events/stream') streamUrls.push(u.search);
  });
  page.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) cspViolations.push(m.text());
  });
  await page.goto(hub.base + path);
  // On loopback the dev bootstrap signs the browser in.
  await page.getByRole('tab', { name: /Workers/ }).waitFor();
  await page.locator('[data-stream="live"]').waitFor();
  return { page, apiCalls };
}

describe('web UI', () => {
  test('the roster updates live when a worker registers and changes state', async () => {
    const { page, apiCalls } = await openApp('/workers');
    await page.getByText('No workers yet').waitFor();
    await screenshot(page, 'workers-empty');

    const alpha = await hub.worker('alpha-tm', { cwd: '/home/dev/shop' });
    const row = page.locator('tr[data-worker="alpha-tm"]');
    await row.waitFor();
    await row.locator('.badge', { hasText: 'idle' }).waitFor();
    assert.match(await page.locator('.group-row').first().innerText(), /shop/);

    await alpha.active(true);
    await row.locator('.badge', { hasText: /^busy · \d+s$/ }).waitFor();
    const first = await row.locator('.badge').innerText();
    // The busy time ticks by itself, without any event.
    await waitFor('the busy time to tick', async () => (await row.locator('.badge').innerText()) !== first);
    assert.match(await row.locator('.badge').getAttribute('title'), /manager sees claude working/);

    await alpha.context(42);
    await row.getByText('42%').waitFor();

    await hub.worker('beta-tm', { cwd: '/home/dev/shop' });
    await hub.worker('gamma-tm', { cwd: '/home/dev/api' });
    await page.locator('tr[data-worker="gamma-tm"]').waitFor();
    assert.equal(await page.locator('.group-row').count(), 2);

    alpha.close();
    await row.locator('.badge', { hasText: 'offline' }).waitFor();

    // Sorting by name descending puts beta before alpha within "shop".
    await page.getByRole('button', { name: /^Worker/ }).click();
    const names = await page.locator('tr.worker-row .name').allInnerTexts();
    assert.deepEqual(names, ['gamma-tm', 'beta-tm', 'alpha-tm']);
    await screenshot(page, 'workers');

    // Rec toggle, send, and a destructive action behind a confirmation.
    await page.getByLabel('Record beta-tm').check();
    await waitFor('recording on', async () => (await hub.call('GET', '/api/workers/beta-tm/recording')).enabled);
    await page.getByLabel('Record beta-tm').uncheck();
    await waitFor('recording off', async () => !(await hub.call('GET', '/api/workers/beta-tm/recording')).enabled);
    await page.locator('tr[data-worker="gamma-tm"]').getByRole('button', { name: 'Send' }).click();
    await page.getByLabel('Message', { exact: true }).fill('run the linters');
    await page.keyboard.press('Control+Enter');
    await waitFor('the message on the timeline', async () => {
      const t = await hub.call('GET', '/tubemail/gamma-tm/events?limit=10');
      return t.events.some((e) => e.kind === 'inbound' && e.content === 'run the linters');
    });
    await page.getByRole('button', { name: 'More actions for alpha-tm' }).click();
    await page.getByRole('menuitem', { name: 'Purge…' }).click();
    await page.getByRole('dialog').getByText('whole timeline are deleted').waitFor();
    await screenshot(page, 'workers-confirm');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await row.count(), 1);
    await page.getByRole('button', { name: 'More actions for alpha-tm' }).click();
    await page.getByRole('menuitem', { name: 'Purge…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Purge' }).click();
    await row.waitFor({ state: 'detached' });
    const left = await hub.call('GET', '/api/workers');
    assert.ok(!left.workers.some((w) => w.name === 'alpha-tm'));

    // Live, not polled: the list itself was fetched once per stream open.
    const listCalls = apiCalls.filter((c) => c === 'GET /api/workers').length;
    assert.ok(listCalls <= 2, `roster list fetched ${listCalls} times`);
    await page.close();
  });

  test('a permission is allowed by keyboard and disappears; one resolved elsewhere vanishes live', async () => {
    const w = await hub.worker('perm-tm', { cwd: '/home/dev/perm' });
    const { page } = await openApp('/permissions');
    await page.getByText('Nothing waiting for you').waitFor();
    await w.permission('abcde', 'Bash', 'Run the tests', 'cargo test --workspace');
    await w.permission('fghij', 'Edit', 'Edit src/lib.rs', '--- a/src/lib.rs');
    await page.locator('[data-request="abcde"]').waitFor();
    await page.locator('[data-request="fghij"]').waitFor();
    // The keys are on screen.
    await page.getByLabel('Keyboard shortcuts').getByText('a / y').waitFor();
    await screenshot(page, 'permissions');

    await page.keyboard.press('a');
    await page.locator('[data-request="abcde"]').waitFor({ state: 'detached' });
    const timeline = await hub.call('GET', '/tubemail/perm-tm/events?limit=50');
    const resp = timeline.events.find((e) => e.kind === 'permission_response');
    assert.equal(resp?.content, 'allow');
    assert.equal(resp?.meta?.request_id, 'abcde');

    // Answered elsewhere (another operator, the orchestrator): gone here too.
    await hub.call('POST', '/api/permissions/resolve', { worker: 'perm-tm', request_id: 'fghij', behavior: 'deny' });
    await page.locator('[data-request="fghij"]').waitFor({ state: 'detached' });
    await page.getByText('Nothing waiting for you').waitFor();

    // Bulk allow by tool name, one shot.
    await w.permission('kkkkk', 'Bash', 'one');
    await w.permission('mmmmm', 'Bash', 'two');
    await w.permission('ppppp', 'Read', 'three');
    await page.locator('[data-request="ppppp"]').waitFor();
    await page.getByRole('button', { name: /Allow all Bash/ }).click();
    await page.locator('[data-request="kkkkk"]').waitFor({ state: 'detached' });
    await page.locator('[data-request="mmmmm"]').waitFor({ state: 'detached' });
    const left = await hub.call('GET', '/api/permissions');
    assert.deepEqual(
      left.pending.map((p) => p.request_id),
      ['ppppp'],
    );
    await page.close();
  });

  test('a flow is saved and run, and its run log follows the worker', async () => {
    const w = await hub.worker('flow-tm', { cwd: '/home/dev/flows' });
    const { page } = await openApp('/flows');
    await page.getByLabel('Flow name').fill('nightly-review');
    await page.getByLabel('Flow message').fill('Review yesterday’s commits and report.');
    await page.getByLabel('Default worker').selectOption('flow-tm');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('.flow-item', { hasText: 'nightly-review' }).waitFor();
    const saved = await hub.call('GET', '/api/flows');
    assert.equal(saved.flows[0].name, 'nightly-review');
    assert.equal(saved.flows[0].default_worker, 'flow-tm');

    await page.getByRole('button', { name: 'Run', exact: true }).click();
    const log = page.getByLabel('Run log');
    await log.getByText('Review yesterday’s commits and report.').waitFor();
    const timeline = await hub.call('GET', '/tubemail/flow-tm/events?limit=10');
    const inbound = timeline.events.find((e) => e.kind === 'inbound');
    assert.equal(inbound.content, 'Review yesterday’s commits and report.');
    assert.equal(inbound.meta.flow_name, 'nightly-review');

    await w.outbound('All 12 commits look fine.');
    await log.getByText('All 12 commits look fine.').waitFor();
    await screenshot(page, 'saved-messages');
    await page.close();
  });

  test('settings save recording defaults; the bearer can be shown', async () => {
    const { page } = await openApp('/settings');
    await page.getByLabel('Max file size in MiB').fill('2');
    await page.getByLabel('Files kept per worker').fill('6');
    await page.getByLabel('Database size limit in MiB').fill('16');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Database size limit must be 0 (no limit)').waitFor();
    await page.getByLabel('Database size limit in MiB').fill('512');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Settings saved').waitFor();
    await page.getByText('the database kept under 512 MiB').waitFor();
    const s = await hub.call('GET', '/api/settings');
    assert.equal(s.recording_max_bytes_per_file, 2 * 1024 * 1024);
    assert.equal(s.recording_keep_files, 6);
    assert.equal(s.retention_max_database_mib, 512);
    assert.doesNotMatch(await page.getByLabel('Bearer secret').innerText(), new RegExp(hub.secret));
    await page.getByRole('button', { name: 'Show' }).click();
    assert.equal(await page.getByLabel('Bearer secret').innerText(), hub.secret);
    await page.getByRole('button', { name: 'Hide' }).click();
    await screenshot(page, 'settings');
    await page.getByRole('radio', { name: 'light' }).click();
    await screenshot(page, 'settings-light');
    await page.getByRole('radio', { name: 'dark' }).click();
    await page.close();
  });

  test('the terminal echoes typed text and zoom persists after reload', async (t) => {
    const probe = await fetch(`${hub.base}/api/pty-ticket`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${hub.secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ worker: 'term-tm' }),
    });
    if (probe.status === 404) {
      t.skip('this hub has no terminal bridge yet (POST /api/pty-ticket answers 404)');
      return;
    }
    await hub.worker('term-tm', { cwd: '/home/dev/term' });
    const mgr = await echoManager(hub, 'term-tm');
    const { page } = await openApp('/workers');
    await page.locator('tr[data-worker="term-tm"]').click();
    await page.getByLabel('Worker term-tm').getByRole('tab', { name: /Terminal/ }).click();
    const pane = page.getByLabel('Terminal of term-tm');
    await pane.locator('[data-status="live"]').waitFor();
    const screen = pane.locator('.xterm-rows');
    await waitFor('the prompt', async () => (await screen.innerText()).includes('sim$'));
    await pane.locator('.xterm-helper-textarea').focus();
    await page.keyboard.type('hello tubemail');
    await waitFor('the echo', async () => (await screen.innerText()).includes('hello tubemail'));
    assert.ok(mgr.seen.includes('pty_attach'));
    // Shift+Enter reaches claude as ESC CR (newline without submitting).
    await page.keyboard.press('Shift+Enter');
    await waitFor('ESC CR at the manager', async () => mgr.typed.some((h) => h.includes('1b0d')));
    // Ctrl+C without a selection is SIGINT (^C).
    await page.keyboard.press('Control+c');
    await waitFor('^C at the manager', async () => mgr.typed.some((h) => h.includes('03')));

    await page.keyboard.press('Control+=');
    await page.keyboard.press('Control+=');
    await pane.locator('[data-font-size="16"]').waitFor();
    await screenshot(page, 'terminal');
    await page.reload();
    await page.locator('tr[data-worker="term-tm"]').click();
    await page.getByLabel('Terminal of term-tm').locator('[data-font-size="16"]').waitFor();
    await page.keyboard.press('Control+0');
    await page.getByLabel('Terminal of term-tm').locator('[data-font-size="14"]').waitFor();

    // Pop out: the terminal in its own window, live.
    const [popup] = await Promise.all([
      page.waitForEvent('popup'),
      page.getByRole('button', { name: /Pop out/ }).click(),
    ]);
    await popup.getByLabel('Terminal of term-tm').locator('[data-status="live"]').waitFor();
    assert.match(popup.url(), /\/term\/term-tm$/);
    await popup.close();
    mgr.close();
    await page.close();
  });
});

describe('worker timeline', () => {
  async function openTimeline(page, worker) {
    await page.locator(`tr[data-worker="${worker}"]`).click();
    const pane = page.getByLabel(`Worker ${worker}`);
    await pane.getByRole('tab', { name: 'Timeline' }).click();
    const timeline = pane.getByLabel(`Timeline of ${worker}`);
    await timeline.locator('[data-older]').waitFor();
    return timeline;
  }

  test('a reply posted through the worker API appears in the open timeline within 1 s', async () => {
    const w = await hub.worker('chat-tm', { cwd: '/home/dev/chat' });
    await hub.call('POST', '/api/workers/chat-tm/send', { message: 'earlier question' });
    const { page } = await openApp('/workers');
    const timeline = await openTimeline(page, 'chat-tm');
    await timeline.locator('[data-kind="inbound"]', { hasText: 'earlier question' }).waitFor();

    // Sent from the box: on the hub and in the timeline, delivered to the online worker.
    await timeline.getByLabel('Message to chat-tm').fill('what is 6 × 7?\nanswer in full');
    await timeline.getByRole('button', { name: 'Send' }).click();
    const mine = timeline.locator('[data-kind="inbound"]', { hasText: 'what is 6 × 7?' });
    await mine.waitFor();
    await waitFor('the message marked delivered', async () => (await mine.getAttribute('data-delivery')) === 'delivered');
    const stored = await hub.call('GET', '/api/workers/chat-tm/events?limit=5');
    assert.ok(stored.events.some((e) => e.kind === 'inbound' && e.content === 'what is 6 × 7?\nanswer in full'));

    const reply = 'It is 42.\nSecond line of the reply, shown in full.';
    const t0 = Date.now();
    await w.outbound(reply);
    const row = timeline.locator('[data-kind="outbound"]', { hasText: 'It is 42.' });
    await row.waitFor({ timeout: 1000 });
    const ms = Date.now() - t0;
    assert.ok(ms <= 1000, `reply shown after ${ms} ms`);
    // Full text and a time.
    assert.equal(await row.locator('.tl-text').innerText(), reply);
    assert.match(await row.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
    await screenshot(page, 'timeline');
    await page.close();
  });

  test('a long timeline opens at its newest event and pages back to its first', async () => {
    const w = await hub.worker('long-tm', { cwd: '/home/dev/long' });
    const jobs = Array.from({ length: 700 }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (jobs.length) {
          const i = jobs.shift();
          await hub.call('POST', '/api/workers/long-tm/send', { message: `note ${i}` + '\nmore'.repeat(i % 4) });
        }
      }),
    );
    const { page, apiCalls } = await openApp('/workers');
    const timeline = await openTimeline(page, 'long-tm');
    const scroller = timeline.locator('.tl-scroll');
    const stored = await hub.call('GET', '/api/workers/long-tm/events?limit=1');
    const newest = timeline.locator(`[data-event-id="${stored.events[0].event_id}"]`);
    await newest.waitFor();
    assert.ok(await newest.isVisible());
    // Only the rows near the viewport are in the page.
    assert.ok((await timeline.locator('[data-event-id]').count()) < 100);

    // Up to the top: older pages come in, the first message is there.
    await waitFor('the start of the timeline', async () => {
      await scroller.evaluate((el) => (el.scrollTop = 0));
      return (await timeline.locator('[data-older="done"]').count()) === 1 && (await scroller.evaluate((el) => el.scrollTop)) === 0;
    });
    await timeline.locator('[data-kind="inbound"] .tl-text', { hasText: /^note 0$/ }).waitFor();
    assert.equal(await scroller.getAttribute('data-rows'), '700');
    assert.ok(apiCalls.some((c) => c === 'GET /api/workers/long-tm/events'));

    // Reading old messages, a new reply does not pull the view away; the
    // button to the newest does.
    const before = await scroller.evaluate((el) => el.scrollTop);
    await w.outbound('a reply while you read');
    await timeline.getByRole('button', { name: /Newest/ }).waitFor();
    assert.equal(await scroller.evaluate((el) => el.scrollTop), before);
    await timeline.getByRole('button', { name: /Newest/ }).click();
    await timeline.locator('[data-kind="outbound"]', { hasText: 'a reply while you read' }).waitFor();
    await page.close();
  });

  test('a permission prompt and its answer appear in order', async () => {
    const w = await hub.worker('ask-tm', { cwd: '/home/dev/ask' });
    const { page } = await openApp('/workers');
    const timeline = await openTimeline(page, 'ask-tm');
    await w.permission('qwert', 'Bash', 'Run the test suite', 'cargo test --workspace');
    const ask = timeline.locator('[data-kind="permission_request"][data-request="qwert"]');
    await ask.getByText('cargo test --workspace').waitFor();
    await ask.getByRole('button', { name: 'Allow' }).click();
    const answer = timeline.locator('[data-kind="permission_response"][data-request="qwert"]');
    await answer.getByText('Allowed').waitFor();
    await ask.getByRole('button', { name: 'Allow' }).waitFor({ state: 'detached' });
    const order = await timeline.locator('[data-event-id]').evaluateAll((els) =>
      els.map((e) => `${e.getAttribute('data-kind')}:${e.getAttribute('data-request') ?? ''}`),
    );
    assert.deepEqual(order.slice(-2), ['permission_request:qwert', 'permission_response:qwert']);
    const stored = await hub.call('GET', '/api/workers/ask-tm/events?limit=5');
    const resp = stored.events.find((e) => e.kind === 'permission_response');
    assert.equal(resp?.content, 'allow');
    // The idle/busy report is a state change on the timeline.
    await w.active(true);
    await timeline.locator('[data-kind="notice"]', { hasText: 'busy' }).waitFor();
    await screenshot(page, 'timeline-permission');
    await page.close();
  });

  test('never-connected and offline workers are labelled on the row and in the timeline; sends to them are queued', async () => {
    await hub.call('POST', '/api/workers/ghost-tm/send', { message: 'for when you start' });
    const gone = await hub.worker('gone-tm', { cwd: '/home/dev/gone' });
    gone.close();
    const { page } = await openApp('/workers');
    const ghostRow = page.locator('tr[data-worker="ghost-tm"]');
    await ghostRow.locator('.badge', { hasText: 'never connected' }).waitFor();
    assert.equal(await ghostRow.getAttribute('data-reach'), 'never');
    await page.locator('tr[data-worker="gone-tm"] .badge', { hasText: 'offline' }).waitFor();

    const timeline = await openTimeline(page, 'ghost-tm');
    await timeline.locator('.tl-banner', { hasText: 'never connected' }).waitFor();
    const first = timeline.locator('[data-kind="inbound"]', { hasText: 'for when you start' });
    await waitFor('the queued tag', async () => (await first.getAttribute('data-delivery')) === 'queued');
    await first.getByText('queued', { exact: true }).waitFor();
    await timeline.getByLabel('Message to ghost-tm').fill('second note');
    await timeline.getByRole('button', { name: 'Queue' }).click();
    await timeline.locator('[data-kind="notice"]', { hasText: 'Queued for ghost-tm: it has never connected' }).waitFor();
    const second = timeline.locator('[data-kind="inbound"]', { hasText: 'second note' });
    await waitFor('the second queued', async () => (await second.getAttribute('data-delivery')) === 'queued');
    await screenshot(page, 'timeline-never-connected');

    const offline = await openTimeline(page, 'gone-tm');
    await offline.locator('.tl-banner', { hasText: 'offline' }).waitFor();
    await offline.getByLabel('Message to gone-tm').fill('are you there?');
    await offline.getByRole('button', { name: 'Queue' }).click();
    await offline.locator('[data-kind="notice"]', { hasText: 'Queued for gone-tm: it is offline' }).waitFor();
    // From the roster's Send too.
    await page.locator('tr[data-worker="gone-tm"]').getByRole('button', { name: 'Send' }).click();
    await page.getByLabel('Message', { exact: true }).fill('from the roster');
    await page.keyboard.press('Control+Enter');
    await page.locator('.toast', { hasText: 'Queued for gone-tm: it is offline' }).waitFor();
    await offline.locator('[data-kind="inbound"]', { hasText: 'from the roster' }).waitFor();

    // One count everywhere: the tab, the rows, Settings.
    const rows = await page.locator('tr.worker-row').count();
    const tab = await page.getByRole('tab', { name: /Workers/ }).locator('.count').innerText();
    assert.equal(Number(tab), rows);
    await page.getByRole('tab', { name: 'Settings' }).click();
    const facts = await page.locator('[data-counts]').innerText();
    assert.match(facts, new RegExp(`^${rows} known`));
    assert.match(facts, /1 never connected/);
    await page.close();
  });

  test('a worker without a manager says why it has no terminal', async () => {
    await hub.worker('bare-tm', { cwd: '/home/dev/bare' });
    const { page } = await openApp('/workers');
    await page.locator('tr[data-worker="bare-tm"] .mgr', { hasText: 'none' }).waitFor();
    await page.locator('tr[data-worker="bare-tm"]').click();
    const pane = page.getByLabel('Worker bare-tm');
    await pane.getByRole('tab', { name: /Terminal/ }).click();
    await pane.getByTestId('no-terminal').getByText('No manager has registered for bare-tm').waitFor();
    assert.equal(await pane.locator('.term-host').count(), 0);
    assert.equal(await pane.locator('[data-status="live"]').count(), 0);
    await screenshot(page, 'no-terminal');
    // The popped-out window says the same instead of an empty terminal.
    const popout = await chrome.context.newPage();
    await popout.goto(`${hub.base}/term/bare-tm`);
    await popout.getByTestId('no-terminal').getByText('No manager has registered for bare-tm').waitFor();
    assert.equal(await popout.locator('.term-host').count(), 0);
    await popout.close();

    // A manager that goes away: the terminal gives way to the reason.
    await hub.worker('mgr-tm', { cwd: '/home/dev/mgr' });
    const mgr = await echoManager(hub, 'mgr-tm');
    await page.locator('tr[data-worker="mgr-tm"]').click();
    const other = page.getByLabel('Worker mgr-tm');
    await other.getByRole('tab', { name: /Terminal/ }).click();
    await other.locator('[data-status="live"]').waitFor();
    mgr.close();
    await other.getByTestId('no-terminal').getByText('mgr-tm-manager disconnected').waitFor();
    await page.close();
  });

  test('at 800 px the roster keeps every column reachable, with the pane open too', async () => {
    for (const n of ['narrow-a-tm', 'narrow-b-tm']) await hub.worker(n, { cwd: `/home/dev/a-rather-long-project-name/${n}` });
    const page = await chrome.context.newPage();
    await page.setViewportSize({ width: 800, height: 700 });
    await page.goto(hub.base + '/workers');
    await page.locator('[data-stream="live"]').waitFor();
    await page.locator('tr[data-worker="narrow-b-tm"]').waitFor();

    const check = async (label) => {
      const wrap = page.locator('.table-wrap');
      const overflow = await wrap.evaluate((el) => el.scrollWidth > el.clientWidth + 1);
      if (overflow) {
        // Columns off the edge are named, never silently cut.
        await page.locator('.scroll-hint').waitFor();
      }
      const cols = await page.locator('.roster thead th[data-col]').evaluateAll((ths) => ths.map((t) => t.dataset.col));
      assert.equal(cols.length, 8);
      for (const col of cols) {
        const th = page.locator(`.roster thead th[data-col="${col}"]`);
        await th.scrollIntoViewIfNeeded();
        const box = await th.boundingBox();
        const frame = await wrap.boundingBox();
        assert.ok(box && box.width > 0, `${label}: ${col} has a size`);
        assert.ok(box.x >= frame.x - 1 && box.x + box.width <= frame.x + frame.width + 1, `${label}: ${col} inside the table (${JSON.stringify(box)} in ${JSON.stringify(frame)})`);
        assert.ok(box.x + box.width <= 800, `${label}: ${col} on screen`);
      }
      // The last column works once scrolled to.
      const send = page.locator('tr[data-worker="narrow-a-tm"]').getByRole('button', { name: 'Send' });
      await send.scrollIntoViewIfNeeded();
      await send.click();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      await wrap.evaluate((el) => el.scrollTo({ left: 0 }));
      return overflow;
    };
    await check('roster alone');
    await screenshot(page, 'workers-800');
    await page.locator('tr[data-worker="narrow-b-tm"]').click();
    await page.getByLabel('Worker narrow-b-tm').waitFor();
    // Half of 800 px cannot hold eight columns: the hint must have shown.
    assert.ok(await check('pane open'), 'the table overflows beside the pane');
    await screenshot(page, 'workers-800-pane');
    await page.close();
  });
});

describe('auth gate', () => {
  test('refuses a wrong secret and accepts the right one', async () => {
    const locked = await Hub.start({ env: { TUBEMAIL_DISABLE_DEV_BOOTSTRAP: '1' } });
    try {
      const page = await chrome.context.newPage();
      await page.goto(locked.base + '/');
      await page.getByLabel('Secret').waitFor();
      await page.getByLabel('Secret').fill('not-the-secret');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').getByText('The hub refused this secret').waitFor();
      assert.equal(await page.getByRole('tab', { name: /Workers/ }).count(), 0);
      await screenshot(page, 'auth-gate');
      await page.getByLabel('Secret').fill(locked.secret);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('tab', { name: /Workers/ }).waitFor();
      // Forget: back to the gate, and the stored secret is gone.
      await page.getByRole('tab', { name: 'Settings' }).click();
      await page.getByRole('button', { name: 'Forget in this browser' }).click();
      await page.getByLabel('Secret').waitFor();
      assert.equal(await page.evaluate(() => localStorage.getItem('tubemail.bearer')), null);
      await page.close();
    } finally {
      await locked.stop();
    }
  });
});

describe('policy', () => {
  // Runs after the tests above: their pages (roster, timeline, terminal,
  // settings) ran under the hub's CSP too.
  test('the app runs under the Content-Security-Policy and opens its stream with a ticket', async () => {
    const { page } = await openApp('/');
    const res = await page.request.get(hub.base + '/');
    assert.match(res.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers()['x-frame-options'], 'DENY');
    await page.close();
    assert.deepEqual(cspViolations, []);
    assert.ok(streamUrls.length > 0, 'no event stream opened');
    for (const search of streamUrls) {
      assert.match(search, /[?&]ticket=/);
      assert.doesNotMatch(search, /token=/);
      assert.ok(!search.includes(hub.secret), 'the secret is in a stream URL');
    }
  });
});

describe('permission rules', () => {
  test('a rule edited in the Rules tab decides the next prompt', async () => {
    const w = await hub.worker('rules-tm', { cwd: '/home/dev/rules' });
    const { page } = await openApp('/rules');
    await page.getByText('No rules yet').waitFor();
    const form = page.getByRole('form', { name: 'Rule' });

    // Two rules, added through the form.
    await form.getByLabel('Rule name').fill('git reads');
    await form.getByLabel('Worker pattern').fill('rules-*');
    await form.getByLabel('Tool pattern').fill('Bash');
    await form.getByLabel('Input regex').fill('^git status$');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await page.locator('tr[data-rule]').first().waitFor();
    await form.getByLabel('Worker pattern').fill('rules-tm');
    await form.getByLabel('Tool pattern').fill('Edit');
    await form.getByLabel('Verdict').selectOption('deny');
    await form.getByRole('button', { name: 'Add rule' }).click();
    await waitFor('two rules listed', async () => (await page.locator('tr[data-rule]').count()) === 2);

    // A bad regex is refused with what is wrong, and changes nothing.
    await page.getByRole('button', { name: 'Edit rule 1' }).click();
    await form.getByLabel('Input regex').fill('^git (status');
    await form.getByRole('button', { name: 'Save rule' }).click();
    await page.locator('.toast-error', { hasText: 'rule 0 (input): invalid regex' }).waitFor();
    let stored = await hub.call('GET', '/api/rules');
    assert.equal(stored.rules[0].input, '^git status$');

    // Edited: git diff is allowed too. Then moved below the deny rule.
    await form.getByLabel('Input regex').fill('^git (status|diff)$');
    await form.getByRole('button', { name: 'Save rule' }).click();
    await waitFor('the edit stored', async () => (await hub.call('GET', '/api/rules')).rules[0].input === '^git (status|diff)$');
    await page.getByRole('button', { name: 'Move rule 1 down' }).click();
    await waitFor('the order stored', async () => (await hub.call('GET', '/api/rules')).rules[0].tool === 'Edit');
    stored = await hub.call('GET', '/api/rules');
    assert.deepEqual(
      stored.rules.map((r) => [r.name, r.verdict]),
      [
        ['', 'deny'],
        ['git reads', 'allow'],
      ],
    );
    await page.locator('tr[data-rule]').nth(1).getByText('git reads').waitFor();
    await screenshot(page, 'rules');

    // The dry run names the rule.
    const probe = page.getByRole('form', { name: 'Try the rules' });
    await probe.getByLabel('Test worker').fill('rules-tm');
    await probe.getByLabel('Test input').fill('{"command":"git diff"}');
    await probe.getByRole('button', { name: 'Test' }).click();
    await probe.locator('[data-decision="allow"]', { hasText: 'rule 2 (“git reads”)' }).waitFor();

    // The next prompt is decided by the edited rule: nobody is asked.
    await w.permission('rdiff', 'Bash', 'diff', '{"command":"git diff","description":"diff"}');
    const pending = await hub.call('GET', '/api/permissions');
    assert.ok(!pending.pending.some((p) => p.request_id === 'rdiff'), JSON.stringify(pending));
    const timeline = await hub.call('GET', '/tubemail/rules-tm/events?limit=50');
    const resp = timeline.events.find((e) => e.kind === 'permission_response' && e.meta?.request_id === 'rdiff');
    assert.equal(resp?.content, 'allow');
    assert.equal(resp?.meta?.decided_by, 'rule');
    assert.equal(resp?.meta?.rule?.id, stored.rules[1].id);
    // An Edit prompt is denied by the first rule.
    await w.permission('redit', 'Edit', 'edit', '{"file_path":"a.rs"}');
    const after = await hub.call('GET', '/tubemail/rules-tm/events?limit=50');
    const denied = after.events.find((e) => e.kind === 'permission_response' && e.meta?.request_id === 'redit');
    assert.equal(denied?.content, 'deny');

    // Deleted through the UI, behind a confirmation.
    for (let i = 0; i < 2; i++) {
      await page.getByRole('button', { name: 'Delete rule 1' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await waitFor('the rule gone', async () => (await page.locator('tr[data-rule]').count()) === 1 - i);
    }
    await page.getByText('No rules yet').waitFor();
    assert.deepEqual((await hub.call('GET', '/api/rules')).rules, []);
    w.close();
    await page.close();
  });

  test('a prompt with a deadline shows the time left, live', async () => {
    const w = await hub.worker('expiry-tm', { cwd: '/home/dev/expiry' });
    await hub.call('PUT', '/api/rules', {
      rules: [{ worker: 'expiry-tm', tool: 'Read', verdict: 'ask', timeout_secs: 90, default_answer: 'deny' }],
    });
    const { page } = await openApp('/permissions');
    await w.permission('rread', 'Read', 'read a file', '{"file_path":"a.rs"}');
    const left = page.locator('[data-request="rread"] [data-deadline]');
    await left.waitFor();
    assert.match(await left.innerText(), /default answer in (8[89]|9[01]) s/);
    const first = await left.innerText();
    await waitFor('the time left to tick', async () => (await left.innerText()) !== first);
    await hub.call('POST', '/api/permissions/resolve', { worker: 'expiry-tm', request_id: 'rread', behavior: 'allow' });
    await page.locator('[data-request="rread"]').waitFor({ state: 'detached' });
    await hub.call('PUT', '/api/rules', { rules: [] });
    w.close();
    await page.close();
  });
});
