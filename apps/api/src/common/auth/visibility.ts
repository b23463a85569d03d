import type { Principal } from './principal';

/** Where a grant applies: everywhere, or to the rows of one team, one issuer or one certificate profile. */
export type ScopeType = 'global' | 'team' | 'issuer' | 'profile';

/** One permission a caller holds, through a role granted to it (or to one of its groups), within one scope. */
export interface Grant {
  permission: string;
  scope_type: ScopeType;
  /** null for `global`. */
  scope_id: string | null;
}

/**
 * What a caller may see or touch for one permission: everything, or only rows belonging to these teams, issuers
 * or profiles (a row qualifies when any of its team, issuer or profile is listed). `none` when it holds the
 * permission nowhere. Services turn this into a SQL condition, so scoping is a join or an `= ANY`, not a filter
 * in Node.
 */
export type Visibility =
  | { kind: 'all' }
  | { kind: 'scoped'; teamIds: string[]; issuerIds: string[]; profileIds: string[] }
  | { kind: 'none' };

/**
 * The caller's visibility for `permission`. A principal without a `grants` list (the system, demo mode, callers
 * authenticated before grants existed) is judged by its role alone and sees everything its role may read.
 */
export function visibilityOf(principal: Principal | undefined, permission: string): Visibility {
  if (!principal?.grants) return { kind: 'all' };
  const teamIds = new Set<string>();
  const issuerIds = new Set<string>();
  const profileIds = new Set<string>();
  for (const grant of principal.grants) {
    if (grant.permission !== permission) continue;
    if (grant.scope_type === 'global') return { kind: 'all' };
    if (grant.scope_id === null) continue;
    if (grant.scope_type === 'team') teamIds.add(grant.scope_id);
    else if (grant.scope_type === 'issuer') issuerIds.add(grant.scope_id);
    else profileIds.add(grant.scope_id);
  }
  if (teamIds.size + issuerIds.size + profileIds.size === 0) return { kind: 'none' };
  return { kind: 'scoped', teamIds: [...teamIds], issuerIds: [...issuerIds], profileIds: [...profileIds] };
}

/** True when a row with these owners falls inside `visibility`. For checks on one row; lists filter in SQL. */
export function isVisible(visibility: Visibility, row: { team_id?: string | null; issuer_id?: string | null; profile_id?: string | null }): boolean {
  if (visibility.kind === 'all') return true;
  if (visibility.kind === 'none') return false;
  return (
    (row.team_id != null && visibility.teamIds.includes(row.team_id)) ||
    (row.issuer_id != null && visibility.issuerIds.includes(row.issuer_id)) ||
    (row.profile_id != null && visibility.profileIds.includes(row.profile_id))
  );
}

/** The columns (qualified as the query needs them) that hold a row's team, issuer and profile; a missing one never matches. */
export interface OwnerColumns {
  team?: string;
  issuer?: string;
  profile?: string;
}

/**
 * `visibility` as a SQL condition on `columns`: undefined for `all` (no condition), `FALSE` for `none` or for a
 * scope none of the columns can match, else `col = ANY(…)` terms joined by OR. `bind` adds one parameter and
 * returns its placeholder, so the same helper serves positional (`$n`) and TypeORM's named parameters. A single id
 * is bound as plain equality, which an index on (column, sort key) can walk in order.
 */
export function visibilitySql(visibility: Visibility, columns: OwnerColumns, bind: (value: unknown) => string): string | undefined {
  if (visibility.kind === 'all') return undefined;
  if (visibility.kind === 'none') return 'FALSE';
  const terms: string[] = [];
  const term = (column: string | undefined, ids: string[]) => {
    if (!column || !ids.length) return;
    terms.push(ids.length === 1 ? `${column} = ${bind(ids[0])}` : `${column} = ANY(CAST(${bind(ids)} AS text[]))`);
  };
  term(columns.team, visibility.teamIds);
  term(columns.issuer, visibility.issuerIds);
  term(columns.profile, visibility.profileIds);
  if (!terms.length) return 'FALSE';
  return terms.length === 1 ? terms[0] : `(${terms.join(' OR ')})`;
}

/** A `bind` for visibilitySql that appends to a positional parameter list (`$1`, `$2`, …). */
export function positionalBinder(params: unknown[]): (value: unknown) => string {
  return (value) => {
    params.push(value);
    return `$${params.length}`;
  };
}

/** A `bind` for visibilitySql that fills TypeORM named parameters (`:vis_0`, …) into `params`. */
export function namedBinder(params: Record<string, unknown>, prefix = 'vis'): (value: unknown) => string {
  let n = Object.keys(params).length;
  return (value) => {
    const name = `${prefix}_${n++}`;
    params[name] = value;
    return `:${name}`;
  };
}

/**
 * The field a 403 names when a row would land outside the caller's write scope: the first owner field the
 * caller's grants are about (team before issuer before profile).
 */
export function scopeFieldOf(visibility: Visibility, fields: { team: string; issuer?: string; profile?: string }): string {
  if (visibility.kind !== 'scoped' || visibility.teamIds.length || (!fields.issuer && !fields.profile)) return fields.team;
  if (visibility.issuerIds.length && fields.issuer) return fields.issuer;
  return fields.profile ?? fields.issuer ?? fields.team;
}
