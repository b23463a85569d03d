import { createContext, ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, AuthCheck, setUnauthorizedHandler, storeApiKey, storedApiKey } from '../api/client';

/**
 * What the signed-in key may do, from /auth/check: `read` (inventory), `write` (every change), `admin` (API
 * keys), `audit` (the audit trail). The server enforces all of it; the console only hides what would be refused.
 */
export type Access = 'read' | 'write' | 'admin' | 'audit';

interface Session {
  signedIn: boolean;
  /** The key's access is known (asked once per tab). */
  known: boolean;
  role?: string;
  actor?: string;
  can(access: Access): boolean;
  /** Why the tab was signed out without asking (its key stopped working), for the sign-in page to say. */
  endedReason?: string;
  signIn(key: string): Promise<void>;
  signOut(): void;
}

/** What the sign-in page says when the server stops accepting the tab's key mid-session. */
export function keyRefusedReason(serverMessage: string): string {
  return `You were signed out because the server no longer accepts this API key: it was revoked or has expired${
    serverMessage ? ` (server: "${serverMessage}")` : ''
  }. Sign in with a valid key.`;
}

const SessionContext = createContext<Session | null>(null);

/** Older servers send only the role; map it as the api's ROLE_ACCESS does. */
const ROLE_DEFAULT_ACCESS: Record<string, Access[]> = {
  admin: ['read', 'write', 'admin', 'audit'],
  operator: ['read', 'write', 'audit'],
  viewer: ['read', 'audit'],
  auditor: ['audit'],
};

function accessOf(check: AuthCheck | undefined): Set<string> {
  if (!check) return new Set();
  if (Array.isArray(check.access)) return new Set(check.access);
  return new Set(ROLE_DEFAULT_ACCESS[check.role ?? ''] ?? []);
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [check, setCheck] = useState<AuthCheck | undefined>();
  const [signedIn, setSignedIn] = useState(() => storedApiKey() !== null);
  // How this tab is signed in, read synchronously by the 401 handler: several requests refused at once must sign
  // out once, with the first one's reason, not overwrite it with another.
  const signedInWith = useRef<'key' | 'cookie' | null>(storedApiKey() !== null ? 'key' : null);
  const [endedReason, setEndedReason] = useState<string | undefined>();

  const forget = useCallback(() => {
    signedInWith.current = null;
    storeApiKey(null);
    setCheck(undefined);
    setSignedIn(false);
    setEndedReason(undefined);
    queryClient.clear();
  }, [queryClient]);

  // A key is simply forgotten; a session cookie (OpenID sign-in) is ended on the server, then at the provider.
  const signOut = useCallback(() => {
    if (storedApiKey()) return forget();
    api.logout().then((r) => {
      forget();
      if (r.redirect_to) window.location.assign(r.redirect_to);
    }, forget);
  }, [forget]);

  // A 401 while a key is stored means the key stopped working (revoked, expired); while a session cookie signed the
  // tab in, that the session ended (signed out elsewhere, expired, access removed). Sign out and say why. A 401 on
  // the sign-in page itself (nothing stored, not signed in) is that page's own error.
  useEffect(
    () =>
      setUnauthorizedHandler((serverMessage) => {
        const how = signedInWith.current;
        if (how === null) return; // already signed out, or the sign-in page's own check
        forget();
        setEndedReason(how === 'key'
          ? keyRefusedReason(serverMessage)
          : 'You were signed out because your session ended: it expired, was signed out elsewhere, or your access was removed. Sign in again.');
      }),
    [forget],
  );

  // A tab reloaded while signed in asks again what its key may do; without a key, whether a session cookie signs it in.
  useEffect(() => {
    const key = storedApiKey();
    if (key && !check) api.check(key).then(setCheck).catch(() => undefined);
    if (!key && !signedIn) {
      api.check(null).then((result) => {
        signedInWith.current = 'cookie';
        setCheck(result);
        setSignedIn(true);
      }, () => undefined);
    }
  }, [check, signedIn]);

  const signIn = useCallback(async (key: string) => {
    const result = await api.check(key);
    storeApiKey(key);
    signedInWith.current = 'key';
    setCheck(result);
    setEndedReason(undefined);
    setSignedIn(true);
  }, []);

  const value = useMemo<Session>(() => {
    const access = accessOf(check);
    return { signedIn, known: check !== undefined, role: check?.role, actor: check?.actor, can: (a) => access.has(a), endedReason, signIn, signOut };
  }, [check, signedIn, signIn, signOut, endedReason]);

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/** Renders its children only when the key may do `access`. */
export function Can({ access, children }: { access: Access; children: ReactNode }) {
  return useSession().can(access) ? <>{children}</> : null;
}
