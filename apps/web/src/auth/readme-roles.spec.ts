import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_ROLE_NAMES, BUILT_IN_ROLE_PERMISSIONS, PERMISSIONS } from '@certctl/contracts';

/**
 * The README's built-in roles table (Identity and access) states each role's permission count, which the console's
 * Access page also shows: it must match libs/contracts, the source the api seeds its roles from.
 */
describe('README roles table', () => {
  it('lists every built-in role with the number of permissions libs/contracts gives it', () => {
    const readme = readFileSync(resolve(__dirname, '../../../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Identity and access'), readme.indexOf('## Issuance and renewal'));
    const rows = [...section.matchAll(/^\| `([a-z]+)` \| .* \| (\d+)(?: \(all\))? \|$/gm)].map((m) => [m[1], Number(m[2])] as const);
    expect(rows.map(([name]) => name).sort()).toEqual([...BUILT_IN_ROLE_NAMES].sort());
    for (const [name, count] of rows) expect(count, name).toBe(BUILT_IN_ROLE_PERMISSIONS[name as keyof typeof BUILT_IN_ROLE_PERMISSIONS].length);
    expect(section).toContain(`| ${PERMISSIONS.length} (all) |`);
  });
});
