import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { ApiHarness } from './api-harness';

/** Small request-body factories and helpers that create the rows a certificate needs, through the API. */
export const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

export interface Inventory {
  teamId: string;
  ownerId: string;
  issuerId: string;
}

export async function createInventory(api: ApiHarness): Promise<Inventory> {
  const team = await post(api, '/api/v1/teams', { name: unique('team') });
  const owner = await post(api, '/api/v1/owners', { name: unique('owner'), email: 'owner@example.com', team_id: team.id });
  const issuer = await post(api, '/api/v1/issuers', { name: unique('issuer'), type: 'GenericCA' });
  return { teamId: team.id as string, ownerId: owner.id as string, issuerId: issuer.id as string };
}

export function certificateBody(inv: Inventory, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const name = unique('svc');
  return {
    name: `${name}.example.com`,
    common_name: `${name}.example.com`,
    sans: [`${name}.example.com`],
    environment: 'prod',
    owner_id: inv.ownerId,
    team_id: inv.teamId,
    issuer_id: inv.issuerId,
    ...overrides,
  };
}

/** POSTs as admin and expects 201; returns the body. */
export async function post(api: ApiHarness, path: string, body: object, key?: string): Promise<Record<string, any>> {
  const res = await api.http.post(path).set(api.auth(key)).send(body);
  expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(201);
  return res.body as Record<string, any>;
}

/** Creates a named API key of a role and returns its secret. */
export async function keyWithRole(api: ApiHarness, role: string): Promise<string> {
  const created = await post(api, '/api/v1/auth/keys', { name: unique(role), role });
  return created.key as string;
}
