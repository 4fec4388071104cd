// Browser test of the Webhooks tab against a real hub and a real
// receiver on loopback.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { browser, Hub, screenshot, waitFor } from './support.mjs';

let hub;
let chrome;
let receiver;
const got = [];

before(async () => {
  hub = await Hub.start();
  chrome = await browser();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
});

after(async () => {
  await chrome?.close();
  await hub?.stop();
  receiver?.close();
});

describe('webhooks tab', () => {
  test('a webhook is added, test-sent, edited without its URL, and deleted', async () => {
    const page = await chrome.context.newPage();
    await page.goto(`${hub.base}/webhooks`);
    await page.getByRole('tab', { name: /Webhooks/ }).waitFor();
    await page.getByText('None yet.').waitFor();

    const url = `http://127.0.0.1:${receiver.address().port}/services/T0/B0/UiPathSecret`;
    await page.getByLabel('Webhook URL').fill(url);
    await page.getByLabel('Format').selectOption('slack');
    await page.getByLabel('Worker glob').fill('proj-*');
    await page.getByLabel('Signing secret').fill('ui-sign');
    await page.getByLabel('Worker replied').check();
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const item = page.locator('.flow-item', { hasText: `http://127.0.0.1:${receiver.address().port}/…` });
    await item.waitFor();
    assert.doesNotMatch(await page.locator('.flow-list').innerText(), /UiPathSecret/);
    const [hook] = (await hub.call('GET', '/api/webhooks')).webhooks;
    assert.deepEqual(hook.events, ['permission_waiting', 'reply']);
    assert.equal(hook.format, 'slack');
    assert.equal(hook.worker_glob, 'proj-*');
    assert.equal(hook.has_secret, true);

    await page.getByRole('button', { name: 'Send test' }).click();
    await waitFor('the receiver to get the test', async () => got.length === 1);
    assert.equal(got[0].headers['x-tubemail-event'], 'test');
    assert.match(got[0].headers['x-tubemail-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(got[0].body), { text: 'TubeMail: test notification' });
    const deliveries = page.getByRole('table', { name: 'Deliveries' });
    await deliveries.locator('tr[data-status="delivered"]').waitFor();
    await screenshot(page, 'webhooks');

    // Edit with the URL and the secret left empty: both are kept.
    await page.getByLabel('Worker exited').check();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await waitFor('the edit to reach the hub', async () =>
      (await hub.call('GET', '/api/webhooks')).webhooks[0].events.includes('worker_exited'),
    );
    const [edited] = (await hub.call('GET', '/api/webhooks')).webhooks;
    assert.deepEqual(edited.events, ['permission_waiting', 'reply', 'worker_exited']);
    assert.equal(edited.has_secret, true);
    assert.equal(edited.url, hook.url);

    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('None yet.').waitFor();
    assert.equal((await hub.call('GET', '/api/webhooks')).webhooks.length, 0);
    await page.close();
  });
});
