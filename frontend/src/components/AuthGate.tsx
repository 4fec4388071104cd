// Paste the hub's secret; on the hub's own machine the dev bootstrap fills
// it in.

import { useState } from 'react';
import { checkBearer, devBootstrap } from '../lib/api';

export function AuthGate(props: { reason: string | null; onSignedIn: (bearer: string) => void }) {
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string | null>(props.reason);
  const [busy, setBusy] = useState(false);

  const submit = async (value: string) => {
    const v = value.trim();
    if (!v) {
      setError('Paste the secret first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (await checkBearer(v)) props.onSignedIn(v);
      else setError('The hub refused this secret. Check it and try again.');
    } catch {
      setError('Could not reach the hub.');
    } finally {
      setBusy(false);
    }
  };

  const bootstrap = async () => {
    setBusy(true);
    const b = await devBootstrap();
    setBusy(false);
    if (b) void submit(b);
    else setError('The hub only hands out its secret to browsers on its own machine (loopback).');
  };

  return (
    <div className="gate">
      <form
        className="gate-card"
        onSubmit={(e) => {
          e.preventDefault();
          void submit(secret);
        }}
      >
        <div className="brand brand-large">
          <Logo /> TubeMail
        </div>
        <p className="muted">
          Paste the hub's secret to open the control room. It is the <code>TUBEMAIL_SECRET</code> the hub runs
          with, or the <code>secret</code> file in its data dir.
        </p>
        <label className="field">
          <span>Secret</span>
          <input
            type="password"
            autoFocus
            autoComplete="current-password"
            value={secret}
            onChange={(e) => setSecret(e.target.value)}
            placeholder="paste the bearer secret"
            aria-label="Secret"
          />
        </label>
        {error && (
          <div className="gate-error" role="alert">
            {error}
          </div>
        )}
        <div className="gate-actions">
          <button type="button" className="btn" onClick={() => void bootstrap()} disabled={busy}>
            Use this machine's secret
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            Sign in
          </button>
        </div>
        <p className="muted small">Stored in this browser only (localStorage). Forget it any time in Settings.</p>
      </form>
    </div>
  );
}

export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" aria-hidden>
      <rect width="32" height="32" rx="7" fill="var(--accent)" />
      <path d="M7 11h18v11a2 2 0 0 1-2 2H9a2 2 0 0 1-2-2z" fill="#fff" />
      <path d="M7 11l9 7 9-7" fill="none" stroke="var(--accent)" strokeWidth="2" />
    </svg>
  );
}
