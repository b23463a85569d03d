import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CORE_SCHEMA, load, loadAll, mergeTag } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { APP_DATABASE_ROLE } from '@certctl/db';

const ROOT = resolve(__dirname, '..', '..');
const INIT_SCRIPT = 'packaging/postgres/10-certctl-app-role.sh';
const userOf = (url: string) => new URL(url.replace(/\$\{[^}]*\}/g, 'x')).username;

/**
 * Compose and k8s run the apps as the append-only role (certctl_app) and give the schema owner's credentials only
 * to the migrate job (static checks: no container engine or cluster runs here; kubectl kustomize renders k8s/).
 */
describe('database roles in docker-compose.yml and k8s/', () => {
  it('compose: the apps connect as certctl_app, only migrate holds the owner URL, postgres creates the login role', () => {
    const compose = load(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'), { schema: CORE_SCHEMA.withTags(mergeTag) }) as any;
    const services = compose.services as Record<string, any>;
    for (const name of ['api', 'orchestrator', 'notifier', 'scanner']) {
      expect(userOf(services[name].environment.CERTCTL_DATABASE_URL), name).toBe(APP_DATABASE_ROLE);
      expect(services[name].environment.CERTCTL_MIGRATE_DATABASE_URL, name).toBeUndefined();
      expect(JSON.stringify(services[name].environment), name).not.toContain('POSTGRES_PASSWORD');
      expect(services[name].environment.CERTCTL_AUDIT_HMAC_KEY, name).toMatch(/CERTCTL_AUDIT_HMAC_KEY/);
    }
    expect(userOf(services.migrate.environment.CERTCTL_MIGRATE_DATABASE_URL)).toBe(services.postgres.environment.POSTGRES_USER);
    expect(services.postgres.environment.POSTGRES_USER).not.toBe(APP_DATABASE_ROLE);
    expect(services.postgres.volumes).toContain('./packaging/postgres:/docker-entrypoint-initdb.d:ro');
    expect(services.postgres.environment.POSTGRES_APP_PASSWORD).toBeDefined();
    const example = readFileSync(resolve(ROOT, '.env.example'), 'utf8');
    for (const key of ['CERTCTL_AUDIT_HMAC_KEY', 'POSTGRES_APP_PASSWORD']) expect(example).toMatch(new RegExp(`^${key}=`, 'm'));
  });

  it('the init script is valid shell and creates the app role as a plain login role', () => {
    execFileSync('sh', ['-n', resolve(ROOT, INIT_SCRIPT)]);
    const script = readFileSync(resolve(ROOT, INIT_SCRIPT), 'utf8');
    expect(script).toContain(`CREATE ROLE ${APP_DATABASE_ROLE} LOGIN`);
    expect(script).toMatch(/NOSUPERUSER NOCREATEDB NOCREATEROLE/);
  });

  it('k8s: the apps read certctl-secrets (app role), only the migrate Job reads certctl-migrate-secrets (owner)', () => {
    const render = (overlay: string) =>
      (loadAll(execFileSync('kubectl', ['kustomize', resolve(ROOT, 'k8s/overlays', overlay)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as any[]).filter(Boolean);
    for (const overlay of ['dev', 'prod']) {
      const objects = render(overlay);
      const pods = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job')
        .map((o) => [o.kind as string, o.metadata.name as string, o.spec.template.spec.containers.flatMap((c: any) => (c.envFrom ?? []).map((e: any) => e.secretRef?.name).filter(Boolean))] as const);
      expect(pods.length, overlay).toBeGreaterThan(5);
      for (const [kind, name, secrets] of pods) {
        expect(secrets, `${overlay} ${name}`).toContain('certctl-secrets');
        expect(secrets.includes('certctl-migrate-secrets'), `${overlay} ${name}`).toBe(kind === 'Job');
      }
      if (overlay !== 'dev') continue;
      const secret = (name: string) => objects.find((o) => o.kind === 'Secret' && o.metadata.name === name)?.stringData as Record<string, string>;
      expect(userOf(secret('certctl-secrets').CERTCTL_DATABASE_URL)).toBe(APP_DATABASE_ROLE);
      // No owner credentials where the apps can read them.
      expect(secret('certctl-secrets').CERTCTL_MIGRATE_DATABASE_URL).toBeUndefined();
      expect(secret('certctl-secrets').POSTGRES_PASSWORD).toBeUndefined();
      expect(Buffer.byteLength(secret('certctl-secrets').CERTCTL_AUDIT_HMAC_KEY)).toBeGreaterThanOrEqual(32);
      const postgres = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'postgres');
      const ownerUser = postgres.spec.template.spec.containers[0].env.find((e: any) => e.name === 'POSTGRES_USER').value;
      expect(userOf(secret('certctl-migrate-secrets').CERTCTL_MIGRATE_DATABASE_URL)).toBe(ownerUser);
      // The StatefulSet runs the same init script as compose, from a ConfigMap.
      const initdb = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'postgres-initdb');
      expect(initdb.data['10-certctl-app-role.sh']).toBe(readFileSync(resolve(ROOT, INIT_SCRIPT), 'utf8'));
      expect(postgres.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: 'initdb', mountPath: '/docker-entrypoint-initdb.d', readOnly: true });
    }
  });
});
