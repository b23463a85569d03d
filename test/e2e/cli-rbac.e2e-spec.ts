import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@certctl/testing';
import { startApi, type ApiHarness } from '../support/api-harness';
import { post, unique } from '../support/fixtures';
import { runBuiltCli, type CliResult } from '../support/surface-harness';

/**
 * The built CLI follows what the api says a key may do: `whoami` prints GET /auth/me (roles, where, permissions),
 * `keys grant/roles/ungrant` manage a key's roles and scopes, and a refusal is the api's 403 naming the permission.
 */
describe('certctl CLI: roles and what a key may do', () => {
  let api: ApiHarness;
  let home: string;
  let cli: (args: string[], key?: string) => Promise<CliResult>;

  beforeAll(async () => {
    api = await startApi();
    const port = await freePort();
    await api.app.listen(port, '127.0.0.1');
    home = mkdtempSync(join(tmpdir(), 'certctl-cli-rbac-'));
    cli = (args, key = api.adminKey) => runBuiltCli(args, {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CERTCTL_SERVER_URL: `http://127.0.0.1:${port}`, CERTCTL_API_KEY: key,
    });
  });
  afterAll(async () => {
    await api?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('grants a team-scoped role to a key, shows it in whoami and keys roles, and takes it back', async () => {
    const team = await post(api, '/api/v1/teams', { name: unique('cli-team') });
    const key = await post(api, '/api/v1/auth/keys', { name: unique('cli-scoped'), role: 'viewer' });

    const granted = await cli(['keys', 'grant', key.id, '--role', 'r-operator', '--scope', `team:${team.id}`]);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toBe(`granted r-operator to key ${key.id} (team ${team.id})\n`);

    const roles = await cli(['keys', 'roles', key.id]);
    expect(roles.code, roles.stderr).toBe(0);
    expect(roles.stdout).toMatch(new RegExp(`r-operator\\s+operator\\s+team:${team.id}`));
    expect(roles.stdout).toMatch(/r-viewer\s+viewer\s+global/);

    const me = await cli(['whoami'], key.key);
    expect(me.code, me.stderr).toBe(0);
    expect(me.stdout).toContain(`role r-operator (operator): team ${team.id}\n`);
    expect(me.stdout).toContain('role r-viewer (viewer): global\n');
    const json = JSON.parse((await cli(['whoami', '-o', 'json'], key.key)).stdout);
    expect(json.effective_permissions).toContainEqual({ permission: 'cert.issue', scope_type: 'team', scope_id: team.id });

    const ungranted = await cli(['keys', 'ungrant', key.id, 'r-operator']);
    expect(ungranted.code, ungranted.stderr).toBe(0);
    expect((await cli(['whoami'], key.key)).stdout).not.toContain('r-operator');
  });

  it('says what the api refuses: a bad scope is a usage error, an unknown role the api\'s 400, a missing permission its 403', async () => {
    const key = await post(api, '/api/v1/auth/keys', { name: unique('cli-viewer'), role: 'viewer' });
    const usage = await cli(['keys', 'grant', key.id, '--role', 'r-operator', '--scope', 'galaxy:1']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--scope must be');
    const unknown = await cli(['keys', 'grant', key.id, '--role', 'r-nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('role_id');
    const refused = await cli(['keys', 'list'], key.key);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('missing permission auth.key.list');
  });
});
