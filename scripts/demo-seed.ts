import { join } from 'node:path';
import { Client } from 'pg';

/**
 * A small demo inventory for a first look: two teams, three owners, a local CA issuer, a profile, a few
 * certificates in different states and two targets: a `File` target writing into `deployDir` (so the demo's
 * renewals deploy for real) and a Kubernetes Secret target (which needs a cluster). Idempotent: a second run
 * changes nothing.
 */
export async function seedDemoInventory(databaseUrl: string, deployDir: string): Promise<number> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query('BEGIN');
    await db.query(`
      INSERT INTO teams (id, name, description) VALUES
        ('team-platform', 'Platform', 'Ingress, service mesh and shared infrastructure'),
        ('team-payments', 'Payments', 'Checkout and payment APIs')
      ON CONFLICT DO NOTHING;
      INSERT INTO owners (id, name, email, team_id) VALUES
        ('owner-alice', 'Alice Martin', 'alice@example.com', 'team-platform'),
        ('owner-bob', 'Bob Chen', 'bob@example.com', 'team-platform'),
        ('owner-carol', 'Carol Diaz', 'carol@example.com', 'team-payments')
      ON CONFLICT DO NOTHING;
      INSERT INTO issuers (id, name, type, config) VALUES
        ('iss-local', 'Local CA', 'GenericCA', '{"validity_days": 90}')
      ON CONFLICT DO NOTHING;
      INSERT INTO certificate_profiles (id, name, description, max_ttl_seconds) VALUES
        ('prof-web', 'Web server', 'TLS server certificates, ECDSA P-256 or RSA 2048+, 90 days at most', 7776000)
      ON CONFLICT DO NOTHING;
      INSERT INTO deployment_targets (id, name, type, config) VALUES
        ('target-payments-k8s', 'payments-k8s', 'KubernetesSecrets', '{"namespace": "payments", "secret_name": "api-tls"}')
      ON CONFLICT DO NOTHING;
    `);
    await db.query(
      `INSERT INTO deployment_targets (id, name, type, config) VALUES ('target-edge-files', 'edge-files', 'File', $1) ON CONFLICT DO NOTHING`,
      [{ cert_path: join(deployDir, 'cert.pem'), key_path: join(deployDir, 'key.pem'), chain_path: join(deployDir, 'chain.pem') }],
    );
    const certificates: Array<[string, string, string[], string, string, string, string, number | null]> = [
      ['mc-www', 'www.example.com', ['www.example.com', 'example.com'], 'prod', 'owner-alice', 'team-platform', 'Active', 62],
      ['mc-api', 'api.example.com', ['api.example.com'], 'prod', 'owner-bob', 'team-platform', 'Expiring', 9],
      ['mc-checkout', 'checkout.example.com', ['checkout.example.com'], 'prod', 'owner-carol', 'team-payments', 'Active', 140],
      ['mc-legacy', 'legacy.example.com', [], 'staging', 'owner-bob', 'team-platform', 'Expired', -3],
      ['mc-new', 'new-service.example.com', ['new-service.example.com'], 'dev', 'owner-alice', 'team-platform', 'Pending', null],
    ];
    let inserted = 0;
    for (const [id, cn, sans, env, owner, team, status, days] of certificates) {
      const result = await db.query(
        `INSERT INTO managed_certificates (id, name, common_name, sans, environment, owner_id, team_id, issuer_id,
            renewal_policy_id, certificate_profile_id, status, expires_at, tags)
         VALUES ($1, $2, $2, $3, $4, $5, $6, 'iss-local', 'rp-default', 'prof-web', $7,
            CASE WHEN $8::int IS NULL THEN NULL ELSE now() + make_interval(days => $8::int) END, $9)
         ON CONFLICT DO NOTHING`,
        [id, cn, sans, env, owner, team, status, days, JSON.stringify({ service: cn.split('.')[0] })],
      );
      inserted += result.rowCount ?? 0;
    }
    await db.query(`
      INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES
        ('mc-www', 'target-edge-files'), ('mc-api', 'target-edge-files'), ('mc-checkout', 'target-payments-k8s')
      ON CONFLICT DO NOTHING;
    `);
    await db.query('COMMIT');
    return inserted;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await db.end();
  }
}
