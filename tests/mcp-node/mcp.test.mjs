// The hub's MCP endpoint (`/mcp/`, streamable HTTP) as the official
// TypeScript SDK sees it: a real `tubemail-hub` process on a loopback port,
// an SDK `Client` with the bearer secret, and plain HTTP for the worker side.
//
// Run: `npm ci && npm test` in this folder, after `cargo build` at the repo
// root (or point TUBEMAIL_HUB_BIN at a hub binary).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HUB_BIN = process.env.TUBEMAIL_HUB_BIN || join(REPO, 'target', 'debug', 'tubemail-hub');

/** Every wait in this file is bounded by this or less. */
const MAX_WAIT_MS = 20_000;
/** Bound for one ordinary MCP or HTTP request. */
const REQUEST_MS = 10_000;

const EXPECTED_TOOLS = [
  'tm_list_workers', 'tm_send', 'tm_receive', 'tm_status', 'tm_my_inbox',
  'tm_wait_for_activity', 'tm_pending_permissions', 'tm_respond_permission',
  'tm_sweep_stale_permissions', 'tm_interrupt', 'tm_restart', 'tm_stop',
  'tm_purge_worker', 'tm_keystroke', 'tm_update_manager', 'tm_clear_and_send',
  'tm_reconnect_mcp', 'tm_self_reconnect_mcp', 'tm_health',
  'tm_recording_toggle', 'tm_recording_status', 'tm_get_recording',
  'tm_screenshot', 'get_instructions', 'refresh_tools', 'tm_save_flow',
  'tm_list_flows', 'tm_run_flow', 'tm_get_run_log', 'tm_finish_run',
  'tm_delete_flow', 'server_info',
  'tm_rules_list', 'tm_rules_set', 'tm_rules_test',
  'tm_webhooks_list', 'tm_webhooks_add', 'tm_webhooks_remove', 'tm_webhooks_deliveries', 'tm_webhooks_test',
];

const show = (v) => JSON.stringify(v, null, 2);

/** A port that was free a moment ago (the hub binds it right after). */
function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** The running hub: child process, base URL, secret, captured stderr. */
const hub = {
  child: null,
  exited: null, // {code, signal} once the process is gone
  base: '',
  secret: randomBytes(24).toString('hex'),
  dataDir: '',
  stderr: '',
};

const clients = [];

function mcpUrl() {
  return new URL(`${hub.base}/mcp/`);
}

async function connect({ bearer = true } = {}) {
  const headers = bearer ? { Authorization: `Bearer ${hub.secret}` } : {};
  const transport = new StreamableHTTPClientTransport(mcpUrl(), {
    requestInit: { headers },
  });
  const client = new Client({ name: 'tubemail-mcp-node-test', version: '0.0.0' });
  clients.push(client);
  await client.connect(transport, { timeout: REQUEST_MS });
  return client;
}

/** Plain HTTP to the hub with the bearer; answers {status, body}. */
async function http(method, path, body) {
  const r = await fetch(`${hub.base}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${hub.secret}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_MS),
  });
  const text = await r.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: r.status, body: parsed };
}

async function callTool(client, name, args, timeout = REQUEST_MS) {
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout });
  assert.ok(!result.isError, `${name} ${show(args)} answered an error: ${show(result)}`);
  return result;
}

/**
 * The list a tool answered: structuredContent `{"result": [...]}`, and a
 * text content holding the same list as JSON.
 */
function listOf(name, result) {
  const list = result.structuredContent?.result;
  assert.ok(Array.isArray(list), `${name}: structuredContent is not {"result": [...]}: ${show(result)}`);
  const text = (result.content || []).find((c) => c.type === 'text');
  assert.ok(text, `${name}: no text content in ${show(result)}`);
  let fromText;
  assert.doesNotThrow(() => {
    fromText = JSON.parse(text.text);
  }, `${name}: text content is not JSON: ${show(result)}`);
  assert.deepEqual(fromText, list, `${name}: text content is not the same JSON list: ${show(result)}`);
  return list;
}

describe('tubemail-hub /mcp/ with @modelcontextprotocol/sdk', { timeout: 120_000 }, () => {
  before(async () => {
    assert.ok(
      existsSync(HUB_BIN),
      `no hub binary at ${HUB_BIN}: run \`cargo build\` in ${REPO} or set TUBEMAIL_HUB_BIN`,
    );
    const port = await freePort();
    hub.base = `http://127.0.0.1:${port}`;
    hub.dataDir = mkdtempSync(join(tmpdir(), 'tubemail-mcp-node-'));
    hub.child = spawn(
      HUB_BIN,
      ['--bind', `127.0.0.1:${port}`, '--data-dir', hub.dataDir, '--log', 'warn'],
      {
        env: { ...process.env, TUBEMAIL_SECRET: hub.secret },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    hub.child.stderr.setEncoding('utf8');
    hub.child.stderr.on('data', (d) => {
      hub.stderr += d;
    });
    hub.child.on('exit', (code, signal) => {
      hub.exited = { code, signal };
    });
    hub.child.on('error', (e) => {
      hub.exited = { error: String(e) };
    });

    const deadline = Date.now() + MAX_WAIT_MS;
    let last = 'no answer yet';
    for (;;) {
      if (hub.exited) {
        assert.fail(`hub exited before answering /health: ${show(hub.exited)}\nstderr:\n${hub.stderr}`);
      }
      try {
        const r = await fetch(`${hub.base}/health`, { signal: AbortSignal.timeout(1_000) });
        if (r.status === 200) break;
        last = `HTTP ${r.status}: ${await r.text()}`;
      } catch (e) {
        last = String(e.cause ?? e);
      }
      if (Date.now() > deadline) {
        assert.fail(`/health not 200 within ${MAX_WAIT_MS} ms (last: ${last})\nstderr:\n${hub.stderr}`);
      }
      await sleep(100);
    }
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    if (hub.child && !hub.exited) {
      const gone = new Promise((res) => hub.child.once('exit', res));
      hub.child.kill('SIGTERM');
      const t = setTimeout(() => hub.child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(t);
    }
    if (hub.stderr.trim()) {
      console.error(`--- hub stderr ---\n${hub.stderr}--- end of hub stderr ---`);
    }
    if (hub.dataDir) rmSync(hub.dataDir, { recursive: true, force: true });
  });

  let client;

  it('initializes with the bearer; the server calls itself tubemail', async () => {
    client = await connect();
    const info = client.getServerVersion();
    assert.equal(info?.name, 'tubemail', `serverInfo: ${show(info)}`);
  });

  it('lists exactly the 40 tools', async () => {
    assert.ok(client, 'no client (initialize failed)');
    const names = [];
    let cursor;
    for (let page = 0; page < 20; page++) {
      const r = await client.listTools(cursor ? { cursor } : undefined, { timeout: REQUEST_MS });
      names.push(...r.tools.map((t) => t.name));
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    assert.ok(!cursor, `tools/list still paging after 20 pages: ${show(names)}`);
    const dupes = names.filter((n, i) => names.indexOf(n) !== i);
    const missing = EXPECTED_TOOLS.filter((n) => !names.includes(n));
    const extra = names.filter((n) => !EXPECTED_TOOLS.includes(n));
    assert.deepEqual(
      { missing, extra, dupes },
      { missing: [], extra: [], dupes: [] },
      `tools/list answered ${names.length} names: ${show(names)}`,
    );
    assert.equal(names.length, 40);
  });

  it('send → wait_for_activity → outbound → receive', async () => {
    assert.ok(client, 'no client (initialize failed)');
    const w = `node-${randomBytes(4).toString('hex')}`;

    const reg = await http('POST', `/tubemail/${w}/register`, { cwd: '/tmp/x', pid: 1 });
    assert.equal(reg.status, 200, `register: ${show(reg)}`);

    // Started first, awaited later: it must wake on the send below.
    const started = Date.now();
    const waiting = client
      .callTool(
        { name: 'tm_wait_for_activity', arguments: { worker: w, timeout_s: 20 } },
        undefined,
        { timeout: MAX_WAIT_MS + 5_000 },
      )
      .then((value) => ({ value }), (error) => ({ error }));
    // The wait reads "from now", so let its request reach the hub before
    // the send (both are separate POSTs that could otherwise race).
    await sleep(500);

    const sent = await callTool(client, 'tm_send', { worker: w, message: 'hello' });
    const eventId = sent.structuredContent?.event_id;
    assert.ok(
      typeof eventId === 'string' && eventId.length > 0,
      `tm_send: no event_id string in structuredContent: ${show(sent)}`,
    );

    const woke = await waiting;
    const tookMs = Date.now() - started;
    assert.ok(!woke.error, `tm_wait_for_activity failed after ${tookMs} ms: ${woke.error}`);
    assert.ok(!woke.value.isError, `tm_wait_for_activity answered an error: ${show(woke.value)}`);
    const activity = listOf('tm_wait_for_activity', woke.value);
    const hello = activity.find((e) => e.event_id === eventId);
    assert.ok(hello, `tm_wait_for_activity (after ${tookMs} ms) lacks event ${eventId}: ${show(woke.value)}`);
    assert.equal(hello.kind, 'inbound', `event: ${show(hello)}`);
    assert.equal(hello.content, 'hello', `event: ${show(hello)}`);
    assert.ok(tookMs < 15_000, `tm_wait_for_activity woke only after ${tookMs} ms (timeout was 20 s)`);

    const out = await http('POST', `/tubemail/${w}/outbound`, { text: 'pong', meta: {} });
    assert.equal(out.status, 200, `outbound: ${show(out)}`);

    const received = await callTool(client, 'tm_receive', { worker: w });
    const events = listOf('tm_receive', received);
    const summary = events.map((e) => [e.kind, e.content]);
    assert.deepEqual(
      summary,
      [
        ['inbound', 'hello'],
        ['outbound', 'pong'],
      ],
      `tm_receive: ${show(received)}`,
    );
    assert.equal(events[0].event_id, eventId, `tm_receive: ${show(received)}`);
  });

  it('refuses a client without the bearer', async () => {
    const transport = new StreamableHTTPClientTransport(mcpUrl());
    const anon = new Client({ name: 'tubemail-mcp-node-test-anon', version: '0.0.0' });
    clients.push(anon);
    await assert.rejects(
      anon.connect(transport, { timeout: REQUEST_MS }),
      (e) => {
        console.log(`# initialize without the bearer failed: ${e} (code ${e.code})`);
        assert.equal(e.code, 401, `initialize without the bearer: expected HTTP 401, got ${e}`);
        return true;
      },
      'initialize without the bearer succeeded',
    );

    const r = await fetch(mcpUrl(), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw-fetch', version: '0.0.0' },
        },
      }),
      signal: AbortSignal.timeout(REQUEST_MS),
    });
    const body = await r.text();
    assert.equal(r.status, 401, `POST /mcp/ without the bearer: HTTP ${r.status}: ${body}`);
  });
});

// If this process dies some other way, do not leave the hub running.
process.on('exit', () => {
  if (hub.child && !hub.exited) hub.child.kill('SIGKILL');
});
