import { FormEvent, useEffect, useState } from 'react';
import { Navigate, useLocation } from 'react-router';
import { api, ApiRequestError, AuthInfo } from '../api/client';
import { useDocumentTitle } from '../components/title';
import { useSession } from './session';

/** Why the OpenID provider's sign-in was refused, by the api's error code (the details are in the audit trail). */
const SIGN_IN_ERRORS: Record<string, string> = {
  OIDC_EMAIL_DOMAIN_REFUSED: 'Your e-mail address is not in a domain allowed to sign in.',
  OIDC_NO_ROLE: 'None of your groups has access to certctl. Ask an administrator.',
  USER_DEACTIVATED: 'Your account has been deactivated. Ask an administrator.',
  OIDC_STATE_INVALID: 'The sign-in expired or was already used. Please try again.',
};

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
  useDocumentTitle('Sign in');
  const signInError = new URLSearchParams(location.search).get('sign_in_error');

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
        {session.endedReason && !error && (
          <p className="state-warning" role="alert" data-testid="signed-out-reason">
            {session.endedReason}
          </p>
        )}
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
        {signInError && (
          <p id="sign-in-error" className="field-error" role="alert">
            {SIGN_IN_ERRORS[signInError] ?? `The sign-in was refused (${signInError}).`}
          </p>
        )}
        {providers.map((p) => (
          <a key={p.id} className="login-provider" href={p.login_url}>
            Sign in with {p.name}
          </a>
        ))}
      </form>
    </main>
  );
}
