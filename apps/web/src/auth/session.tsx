import { createContext, ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import type { Permission } from '@certctl/contracts';
import { api, AuthCheck, setUnauthorizedHandler, storeApiKey, storedApiKey } from '../api/client';

/**
 * Where a permission must be held for a control to show, as the route behind it checks it (docs/permissions.md):
 * `global` (the default: routes whose effect is not confined to a team), `any` (routes that filter rows by the
 * caller's scopes, so a team-scoped grant is enough), or one issuer/profile (routes on `{id}`: globally or for it;
 * without an id, for some issuer/profile, when the control lets the caller pick one).
 * The server enforces all of it; the console only hides what would be refused.
 */
export type Where = 'global' | 'any' | { type: 'team' | 'issuer' | 'profile'; id?: string };

type EffectivePermission = { permission: string; scope_type: string; scope_id?: string };

interface Session {
  signedIn: boolean;
  /** The key's access is known (asked once per tab). */
  known: boolean;
  role?: string;
  actor?: string;
  /** The caller holds `permission` (any one of a list) where `where` asks. */
  can(permission: Permission | readonly Permission[], where?: Where): boolean;
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

/** What the caller holds, where (none until /auth/check has answered; an answer without the list holds nothing). */
function effectiveOf(check: AuthCheck | undefined): EffectivePermission[] {
  return Array.isArray(check?.effective_permissions) ? check.effective_permissions : [];
}

/** Whether `grants` hold one of `permissions` where `where` asks. */
export function holds(grants: readonly EffectivePermission[], permissions: Permission | readonly Permission[], where: Where = 'global'): boolean {
  const wanted = new Set<string>(typeof permissions === 'string' ? [permissions] : permissions);
  return grants.some((g) => wanted.has(g.permission) && (
    where === 'any' || g.scope_type === 'global'
    || (typeof where === 'object' && g.scope_type === where.type && (where.id === undefined || g.scope_id === where.id))
  ));
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
    const grants = effectiveOf(check);
    return {
      signedIn, known: check !== undefined, role: check?.role, actor: check?.actor,
      can: (permission, where) => holds(grants, permission, where), endedReason, signIn, signOut,
    };
  }, [check, signedIn, signIn, signOut, endedReason]);

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/**
 * The permissions behind a resource page's buttons: `edit` (create, edit, test) and `delete`, and where its routes
 * check them: globally (the default), per row's issuer/profile id (create stays global), or in any scope (`rows`).
 */
export interface ResourcePermissions {
  edit: Permission;
  delete: Permission;
  scoped?: 'issuer' | 'profile' | 'rows';
}

/** Where a resource's create button and one row's buttons need their permission. */
export function resourceWhere(permissions: ResourcePermissions, rowId?: string): Where {
  if (permissions.scoped === 'rows') return 'any';
  if (permissions.scoped && rowId !== undefined) return { type: permissions.scoped, id: rowId };
  return 'global';
}

/**
 * Renders its children only when the caller holds `permission` (any one of a list) where the route behind the
 * control checks it: globally unless `scope` says otherwise (see Where).
 */
export function Can({ permission, scope, children }: { permission: Permission | readonly Permission[]; scope?: Where; children: ReactNode }) {
  return useSession().can(permission, scope) ? <>{children}</> : null;
}
