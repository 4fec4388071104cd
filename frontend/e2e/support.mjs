// Test support for the browser suite: a real tubemail-hub process on a
// loopback port, simulated workers speaking the forwarder protocol over
// HTTP + SSE (as the channel and manager do), and headless Chromium driven
// by playwright-core.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const FRONTEND = resolve(here, '..');
export const REPO = resolve(FRONTEND, '..');
export const SCREENSHOTS = resolve(process.env.TUBEMAIL_UI_SCREENSHOTS ?? join(REPO, 'target', 'ui-screenshots'));

/** Generous: the CI machine has 2 cores shared with other suites. */
export const WAIT_MS = 20_000;

export function hubBinary() {
  return process.env.TUBEMAIL_HUB_BIN ?? join(REPO, 'target', 'debug', 'tubemail-hub');
}

export function chromiumPath() {
  return process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export async function waitFor(what, fn, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

export class Hub {
  static async start({ env = {} } = {}) {
    const bin = hubBinary();
    if (!existsSync(bin)) throw new Error(`no hub binary at ${bin}: run cargo build -p tubemail-hub`);
    if (!existsSync(join(FRONTEND, 'dist', 'index.html'))) throw new Error('no frontend/dist: run npm run build');
    const dir = mkdtempSync(join(tmpdir(), 'tm-ui-'));
    const port = await freePort();
    const secret = randomBytes(24).toString('base64url');
    const log = openSync(join(dir, 'hub.log'), 'a');
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TUBEMAIL_')));
    const child = spawn(bin, [], {
      env: {
        ...clean,
        TUBEMAIL_BIND: `127.0.0.1:${port}`,
        TUBEMAIL_DATA_DIR: join(dir, 'data'),
        TUBEMAIL_SECRET: secret,
        TUBEMAIL_STATIC_DIR: join(FRONTEND, 'dist'),
        TUBEMAIL_LOG: 'warn',
        ...env,
      },
      stdio: ['ignore', log, log],
    });
    const hub = new Hub(child, dir, port, secret);
    await waitFor('the hub to answer /health', async () => (await fetch(`${hub.base}/health`)).ok);
    return hub;
  }

  constructor(child, dir, port, secret) {
    this.child = child;
    this.dir = dir;
    this.port = port;
    this.secret = secret;
    this.base = `http://127.0.0.1:${port}`;
    this.streams = [];
  }

  log() {
    try {
      return readFileSync(join(this.dir, 'hub.log'), 'utf8').slice(-4000);
    } catch {
      return '';
    }
  }

  async call(method, path, body) {
    const res = await fetch(this.base + path, {
      method,
      headers: {
        Authorization: `Bearer ${this.secret}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** A worker as its channel would be: registered, stream open (online). */
  async worker(name, { cwd = `/home/dev/${name.replace(/-tm$/, '')}`, version = '0.1.0' } = {}) {
    await this.call('POST', `/tubemail/${encodeURIComponent(name)}/register`, {
      cwd,
      pid: 4242,
      forwarder_version: version,
    });
    const ctrl = new AbortController();
    const res = await fetch(`${this.base}/tubemail/${encodeURIComponent(name)}/stream`, {
      headers: { Authorization: `Bearer ${this.secret}` },
      signal: ctrl.signal,
    });
    if (!res.ok) throw new Error(`stream for ${name}: ${res.status}`);
    const reader = res.body.getReader();
    // Keep reading so the hub sees a live subscriber.
    (async () => {
      try {
        for (;;) {
          const { done } = await reader.read();
          if (done) break;
        }
      } catch {
        /* aborted */
      }
    })();
    this.streams.push(ctrl);
    return {
      name,
      close: () => ctrl.abort(),
      active: (is_active) => this.call('POST', `/tubemail/${encodeURIComponent(name)}/active`, { is_active }),
      context: (pct) => this.call('POST', `/tubemail/${encodeURIComponent(name)}/context-pct`, { pct }),
      outbound: (text) => this.call('POST', `/tubemail/${encodeURIComponent(name)}/outbound`, { text, meta: {} }),
      permission: (request_id, tool_name, description = '', input_preview = '') =>
        this.call('POST', `/tubemail/${encodeURIComponent(name)}/permission-request`, {
          request_id,
          tool_name,
          description,
          input_preview,
        }),
    };
  }

  async stop() {
    for (const c of this.streams) c.abort();
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await Promise.race([
        new Promise((r) => this.child.once('exit', r)),
        new Promise((r) => setTimeout(r, 5000)),
      ]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function browser() {
  const profile = mkdtempSync(join(tmpdir(), 'tm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1360, height: 820 },
  });
  context.setDefaultTimeout(WAIT_MS);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/**
 * A simulated manager for `worker`: its own SSE stream as `<worker>-manager`;
 * on `pty_attach` it paints a prompt, and it echoes every keystroke batch
 * (`pty_data`) back as pty output, as a shell would.
 */
export async function echoManager(hub, worker) {
  const name = `${worker}-manager`;
  await hub.call('POST', `/tubemail/${encodeURIComponent(name)}/register`, { cwd: '/', pid: 4243, forwarder_version: '0.1.0' });
  const ctrl = new AbortController();
  const res = await fetch(`${hub.base}/tubemail/${encodeURIComponent(name)}/stream`, {
    headers: { Authorization: `Bearer ${hub.secret}` },
    signal: ctrl.signal,
  });
  const out = (bytes) =>
    fetch(`${hub.base}/tubemail/${encodeURIComponent(worker)}/pty-out`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${hub.secret}`, 'Content-Type': 'application/octet-stream' },
      body: bytes,
    }).catch(() => undefined);
  const seen = [];
  const typed = [];
  (async () => {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
          }
          seen.push(event);
          let payload = {};
          try {
            payload = data ? JSON.parse(data) : {};
          } catch {
            /* keepalive */
          }
          if (event === 'pty_attach') await out(Buffer.from('\x1b[2J\x1b[Hsim$ '));
          if (event === 'pty_data' && typeof payload.bytes_hex === 'string') {
            const bytes = Buffer.from(payload.bytes_hex, 'hex');
            typed.push(payload.bytes_hex);
            await out(Buffer.from(bytes.toString('latin1').replace(/\r/g, '\r\n'), 'latin1'));
          }
        }
      }
    } catch {
      /* aborted */
    }
  })();
  hub.streams.push(ctrl);
  return { seen, typed, close: () => ctrl.abort() };
}
