import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLE_PERMISSIONS, isPermission, PERMISSIONS } from '@certctl/contracts';
import { ApiModule } from '../../api.module';
import { API_PREFIX, GLOBAL_PREFIX_OPTIONS } from '../../app.factory';
import { requiredPermissions } from './permission.decorator';
import { renderPermissionsDoc } from './permissions-doc';
import { routeTable, type RouteEntry } from './route-table';

/** Every route declares a permission from the catalogue, and docs/permissions.md is the table the code gives. */
describe('route permissions', () => {
  let app: INestApplication;
  let routes: RouteEntry[];

  beforeAll(async () => {
    app = await NestFactory.create(ApiModule, { preview: true, logger: false, abortOnError: false });
    routes = routeTable(app, { prefix: API_PREFIX, exclude: GLOBAL_PREFIX_OPTIONS.exclude });
  }, 60_000);
  afterAll(async () => app?.close());

  it('finds the whole api (not an empty walk)', () => {
    expect(routes.length).toBeGreaterThan(150);
    expect(routes).toContainEqual(expect.objectContaining({ method: 'GET', path: '/api/v1/certificates' }));
    expect(routes).toContainEqual(expect.objectContaining({ method: 'DELETE', path: '/api/v1/auth/roles/{id}' }));
  });

  it('has no route without a permission (or an explicit public/authenticated marker)', () => {
    const undeclared = routes.filter((r) => !r.requirement).map((r) => `${r.method} ${r.path}`);
    expect(undeclared).toEqual([]);
  });

  it('names only permissions of the catalogue', () => {
    const unknown = routes.flatMap((r) => (r.requirement && r.requirement !== 'public' ? requiredPermissions(r.requirement) : []))
      .filter((p) => !isPermission(p));
    expect(unknown).toEqual([]);
  });

  it('keeps docs/permissions.md in step with the code (npm run docs:permissions)', () => {
    const committed = readFileSync(resolve(__dirname, '../../../../../docs/permissions.md'), 'utf8');
    expect(committed).toBe(renderPermissionsDoc(routes));
  });
});

describe('built-in roles (certctl-spec §2.2)', () => {
  it('gives admin everything and keeps access management from operator, viewer and mcp', () => {
    expect(BUILT_IN_ROLE_PERMISSIONS.admin).toEqual(PERMISSIONS);
    for (const role of ['operator', 'viewer', 'mcp'] as const) {
      expect(BUILT_IN_ROLE_PERMISSIONS[role].filter((p) => p.startsWith('auth.'))).toEqual([]);
    }
  });

  it('makes viewer read-only, mcp the operator minus destructive verbs, cli the operator plus keys', () => {
    expect(BUILT_IN_ROLE_PERMISSIONS.viewer.filter((p) => !p.endsWith('.read') && p !== 'audit.export')).toEqual([]);
    const operator = new Set(BUILT_IN_ROLE_PERMISSIONS.operator);
    expect(BUILT_IN_ROLE_PERMISSIONS.mcp.every((p) => operator.has(p))).toBe(true);
    expect(BUILT_IN_ROLE_PERMISSIONS.mcp).not.toContain('cert.revoke');
    expect(BUILT_IN_ROLE_PERMISSIONS.mcp).not.toContain('cert.delete');
    expect(BUILT_IN_ROLE_PERMISSIONS.mcp).toContain('cert.issue');
    expect(BUILT_IN_ROLE_PERMISSIONS.cli.filter((p) => !operator.has(p))).toEqual(['auth.key.create', 'auth.key.delete', 'auth.key.list', 'auth.key.rotate']);
  });

  it('gives auditor the audit trail and the user list, agent its protocol', () => {
    expect(BUILT_IN_ROLE_PERMISSIONS.auditor).toEqual(['audit.export', 'audit.read', 'auth.user.read']);
    expect(BUILT_IN_ROLE_PERMISSIONS.agent).toEqual(['agent.heartbeat', 'agent.job.complete', 'agent.job.poll', 'agent.job.report', 'discovery.run']);
  });
});
