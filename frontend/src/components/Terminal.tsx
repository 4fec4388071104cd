// A worker's terminal in the browser: xterm.js over the ticketed WebSocket.
// Loaded on demand (its own chunk), so the roster loads fast.

import { FitAddon } from '@xterm/addon-fit';
import { Terminal as XTerm, type ITheme } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { api } from '../lib/api';
import { FONT_DEFAULT, loadZoom, saveZoom, terminalKey, zoomed } from '../lib/keys';
import { PtyConnection, wsBaseOf, type PtyStatus } from '../lib/pty';

const DARK: ITheme = {
  background: '#0d1117',
  foreground: '#d6dde6',
  cursor: '#7aa2f7',
  selectionBackground: '#2f4a77',
};
const LIGHT: ITheme = {
  background: '#fbfcfd',
  foreground: '#1f2328',
  cursor: '#2563eb',
  selectionBackground: '#bcd3f7',
  black: '#1f2328',
  white: '#6e7781',
  brightWhite: '#8c959f',
  yellow: '#9a6700',
  brightYellow: '#7d4e00',
};

const STATUS_TEXT: Record<PtyStatus, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  unavailable: 'unavailable',
  closed: 'closed',
};

export default function TerminalView(props: {
  worker: string;
  dark: boolean;
  onClose?: () => void;
  popout?: boolean;
  /** Inside the worker pane, which shows the name and the close button. */
  embedded?: boolean;
}) {
  const host = useRef<HTMLDivElement>(null);
  const termRef = useRef<XTerm | null>(null);
  const fitRef = useRef<FitAddon | null>(null);
  const [status, setStatus] = useState<{ s: PtyStatus; detail?: string }>({ s: 'connecting' });
  const [fontSize, setFontSize] = useState(() => loadZoom(props.worker));
  const zoomHandler = useRef<((step: 1 | -1 | 0) => void) | null>(null);
  const { worker } = props;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const term = new XTerm({
      fontSize: loadZoom(worker),
      fontFamily: 'ui-monospace, "JetBrains Mono", "Cascadia Code", Menlo, Consolas, monospace',
      cursorBlink: true,
      scrollback: 5000,
      theme: props.dark ? DARK : LIGHT,
      allowProposedApi: false,
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    termRef.current = term;
    fitRef.current = fit;

    const conn = new PtyConnection({
      worker,
      wsBase: wsBaseOf(window.location),
      getTicket: api.ptyTicket,
      onData: (b) => term.write(b),
      onReset: () => term.reset(),
      onSize: (cols, rows) => {
        if (cols > 0 && rows > 0 && (cols !== term.cols || rows !== term.rows)) term.resize(cols, rows);
      },
      onStatus: (s, detail) => setStatus({ s, detail }),
    });

    const refit = () => {
      const dims = fit.proposeDimensions();
      if (!dims || !dims.cols || !dims.rows) return;
      if (dims.cols !== term.cols || dims.rows !== term.rows) term.resize(dims.cols, dims.rows);
      conn.resize(dims.cols, dims.rows);
    };

    const setZoom = (step: 1 | -1 | 0) => {
      const size = zoomed(term.options.fontSize ?? FONT_DEFAULT, step);
      term.options.fontSize = size;
      saveZoom(worker, size);
      setFontSize(size);
      refit();
    };
    zoomHandler.current = setZoom;

    term.attachCustomKeyEventHandler((ev) => {
      const action = terminalKey(ev, term.hasSelection());
      switch (action.kind) {
        case 'default':
          return true;
        case 'paste':
          // Let the browser paste into xterm's textarea; xterm brackets it.
          return false;
        case 'send':
          if (ev.type === 'keydown') {
            ev.preventDefault();
            conn.send(action.data);
          }
          return false;
        case 'copy':
          if (ev.type === 'keydown') {
            ev.preventDefault();
            const text = term.getSelection();
            void navigator.clipboard?.writeText(text).catch(() => undefined);
            term.clearSelection();
          }
          return false;
        case 'zoom':
          if (ev.type === 'keydown') {
            ev.preventDefault();
            setZoom(action.step);
          }
          return false;
      }
    });
    const onData = term.onData((d) => conn.send(d));
    const onBinary = term.onBinary((d) => conn.send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
    const ro = new ResizeObserver(() => refit());
    ro.observe(el);
    refit();
    conn.start();
    term.focus();
    return () => {
      ro.disconnect();
      onData.dispose();
      onBinary.dispose();
      conn.stop();
      term.dispose();
      termRef.current = null;
      zoomHandler.current = null;
    };
    // The theme is applied below without reconnecting.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [worker]);

  useEffect(() => {
    if (termRef.current) termRef.current.options.theme = props.dark ? DARK : LIGHT;
  }, [props.dark]);

  const popOut = () => {
    window.open(
      `/term/${encodeURIComponent(worker)}`,
      `tubemail-term-${worker}`,
      'popup,width=960,height=640',
    );
    props.onClose?.();
  };

  return (
    <div
      className={`term-pane${props.popout ? ' popout' : ''}${props.embedded ? ' embedded' : ''}`}
      aria-label={`Terminal of ${worker}`}
    >
      <div className="term-bar">
        {!props.embedded && <span className="term-title">{worker}</span>}
        <span className={`term-status st-${status.s}`} data-status={status.s}>
          <span className="dot" aria-hidden /> {STATUS_TEXT[status.s]}
          {status.detail ? ` · ${status.detail}` : ''}
        </span>
        <span className="spacer" />
        <span className="term-hint muted small" title="Shift+Enter: newline · Ctrl+C: copy selection or interrupt · Ctrl+V: paste">
          Shift+Enter newline · Ctrl+C copy/SIGINT
        </span>
        <div className="zoom" role="group" aria-label="Zoom">
          <button className="btn btn-sm btn-icon" onClick={() => zoomHandler.current?.(-1)} aria-label="Zoom out (Ctrl+-)">
            −
          </button>
          <button className="btn btn-sm zoom-level" onClick={() => zoomHandler.current?.(0)} aria-label="Reset zoom (Ctrl+0)" data-font-size={fontSize}>
            {fontSize}px
          </button>
          <button className="btn btn-sm btn-icon" onClick={() => zoomHandler.current?.(1)} aria-label="Zoom in (Ctrl+=)">
            +
          </button>
        </div>
        {!props.popout && (
          <button className="btn btn-sm" onClick={popOut} title="Open in its own window to tile several workers">
            Pop out ↗
          </button>
        )}
        {props.onClose && (
          <button className="btn btn-sm btn-icon" onClick={props.onClose} aria-label="Close terminal">
            ✕
          </button>
        )}
      </div>
      <div className="term-host" ref={host} />
    </div>
  );
}
