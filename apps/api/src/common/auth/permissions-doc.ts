import { BUILT_IN_ROLE_NAMES, BUILT_IN_ROLE_PERMISSIONS, PERMISSION_CATALOGUE, PERMISSIONS } from '@certctl/contracts';
import { describeRequirement } from './permission.decorator';
import type { RouteEntry } from './route-table';

/** Routes served outside Nest's controllers (checked by their own code), listed by hand. */
export const EXTRA_ROUTES: Array<{ method: string; path: string; permission: string; scope: string }> = [
  { method: 'GET', path: '/admin/queues/{path}', permission: 'queue.admin', scope: 'global only' },
  { method: 'POST', path: '/admin/queues/session', permission: 'queue.admin', scope: 'global only' },
  { method: 'PUT', path: '/admin/queues/api/queues/{queue}/{job}/{retry|promote}', permission: 'queue.admin', scope: 'global only' },
];

/**
 * docs/permissions.md from the code: each route's permission and scope (read from the @RequirePermission
 * metadata by routeTable), the built-in roles and the catalogue. `npm run docs:permissions` writes it; a test
 * fails when the committed file differs or when a route declares nothing.
 */
export function renderPermissionsDoc(routes: RouteEntry[]): string {
  const lines: string[] = [
    '# Permissions',
    '',
    'Generated from the code by `npm run docs:permissions` (apps/api/src/common/auth/permissions-doc.ts); do not edit by hand.',
    '',
    'Every route declares the permission it needs (`@RequirePermission`). A caller holds permissions through roles granted to',
    'its API key, to its user, or to one of its provider groups (`group_role_mappings`), globally or within one team, issuer',
    'or profile, optionally until an expiry. No credentials: 401. A credential without the permission: 403 naming it.',
    '',
    'Scope column: **any (rows filtered)**: a grant in any scope lets the call through and the list/read returns only the',
    'rows of the caller\'s teams, issuers and profiles; **any (reference data, listed whole)**: a grant in any scope lets the',
    'call through and the answer is not narrowed (issuers and profiles a scoped operator picks from when it creates a',
    'certificate); **issuer {id}** / **profile {id}**: the permission must be held',
    'globally or for that issuer/profile; **agent keys: own {id} only**: an agent key may call it only for its own agent.',
    '',
    '## Routes',
    '',
    '| Method | Path | Permission | Scope |',
    '|---|---|---|---|',
  ];
  for (const route of routes) {
    const { permission, scope } = route.requirement === 'public' ? { permission: '(public)', scope: '-' }
      : route.requirement ? describeRequirement(route.requirement) : { permission: '**NONE**', scope: '-' };
    lines.push(`| ${route.method} | \`${route.path}\` | ${permission} | ${scope} |`);
  }
  for (const route of EXTRA_ROUTES) lines.push(`| ${route.method} | \`${route.path}\` | ${route.permission} | ${route.scope} |`);
  lines.push('', '## Built-in roles', '', '| Role | Id | Permissions |', '|---|---|---|');
  for (const name of BUILT_IN_ROLE_NAMES) {
    const permissions = name === 'admin' ? 'every permission' : BUILT_IN_ROLE_PERMISSIONS[name].join(', ');
    lines.push(`| ${name} | \`r-${name}\` | ${permissions} |`);
  }
  lines.push('', '## Catalogue', '', '| Permission | What it allows |', '|---|---|');
  for (const permission of PERMISSIONS) lines.push(`| ${permission} | ${PERMISSION_CATALOGUE[permission]} |`);
  return `${lines.join('\n')}\n`;
}
