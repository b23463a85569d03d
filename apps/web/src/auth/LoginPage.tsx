import { FormEvent, useEffect, useState } from 'react';
import { Navigate, useLocation } from 'react-router';
import { api, ApiRequestError, AuthInfo } from '../api/client';
import { useSession } from './session';

/** Sign-in with an API key. The key is kept for this tab only (sessionStorage) and never put in a URL. */
export function LoginPage() {
  const session = useSession();
  const location = useLocation();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [providers, setProviders] = useState<NonNullable<AuthInfo['oidc_providers']>>([]);
  useEffect(() => {
    api.info().then((info) => setProviders(info.oidc_providers ?? []), () => undefined);
  }, []);
  const from = (location.state as { from?: string } | null)?.from ?? '/';

  if (session.signedIn) return <Navigate to={from} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.signIn(key.trim());
    } catch (err) {
      setError(err instanceof ApiRequestError && err.status === 401 ? 'That API key was not accepted.' : `Could not sign in: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form onSubmit={submit} className="card login-card" aria-labelledby="login-title">
        <h1 id="login-title">certctl</h1>
        <p className="muted">Sign in with an API key. It is kept for this browser tab only.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'login-error' : undefined}
        />
        {error && (
          <p id="login-error" className="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || !key.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {providers.map((p) => (
          <a key={p.id} className="login-provider" href={p.login_url}>
            Sign in with {p.name}
          </a>
        ))}
      </form>
    </main>
  );
}
