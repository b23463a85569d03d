import { join } from 'node:path';
import { Client } from 'pg';

/** The demo's renewal policy: no automatic renewal, so the inventory keeps showing its states after boot. */
export const DEMO_POLICY_ID = 'rp-demo';

/**
 * A small demo inventory for a first look: two teams, three owners, a local CA issuer, a profile, certificates in
 * the states worth seeing (active, expiring, expired, failed, pending), each `File` target under `deployRoot` used
 * by one certificate only (so the demo's renewals deploy for real, and never overwrite each other), and a Kubernetes
 * Secret target whose name says it needs a cluster. The demo policy does not renew by itself: renewing is a click
 * (POST /certificates/{id}/renew), and the states stay visible until then. Its alerts go to the Webhook channel,
 * which `npm start` points at a local sink. Idempotent: a second run changes nothing.
 */
export async function seedDemoInventory(databaseUrl: string, deployRoot: string): Promise<number> {
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
        ('target-payments-k8s', 'payments-k8s (needs a Kubernetes cluster)', 'KubernetesSecrets', '{"namespace": "payments", "secret_name": "api-tls"}')
      ON CONFLICT DO NOTHING;
      INSERT INTO renewal_policies (id, name, renewal_window_days, auto_renew, alert_channels) VALUES
        ('${DEMO_POLICY_ID}', 'Demo (renew by hand, alerts to the local webhook)', 30, false,
         '{"critical": ["Webhook"], "warning": ["Webhook"], "info": ["Webhook"]}')
      ON CONFLICT DO NOTHING;
    `);
    for (const [id, name, dir] of [['target-edge-files', 'edge-files', 'edge'], ['target-api-files', 'api-files', 'api']]) {
      const deployDir = join(deployRoot, dir!);
      await db.query(
        `INSERT INTO deployment_targets (id, name, type, config) VALUES ($1, $2, 'File', $3) ON CONFLICT DO NOTHING`,
        [id, name, { cert_path: join(deployDir, 'cert.pem'), key_path: join(deployDir, 'key.pem'), chain_path: join(deployDir, 'chain.pem') }],
      );
    }
    const certificates: Array<[string, string, string[], string, string, string, string, number | null]> = [
      ['mc-www', 'www.example.com', ['www.example.com', 'example.com'], 'prod', 'owner-alice', 'team-platform', 'Active', 62],
      ['mc-api', 'api.example.com', ['api.example.com'], 'prod', 'owner-bob', 'team-platform', 'Expiring', 9],
      ['mc-checkout', 'checkout.example.com', ['checkout.example.com'], 'prod', 'owner-carol', 'team-payments', 'Active', 140],
      ['mc-legacy', 'legacy.example.com', [], 'staging', 'owner-bob', 'team-platform', 'Expired', -3],
      ['mc-reports', 'reports.example.com', ['reports.example.com'], 'prod', 'owner-carol', 'team-payments', 'Failed', 4],
      ['mc-new', 'new-service.example.com', ['new-service.example.com'], 'dev', 'owner-alice', 'team-platform', 'Pending', null],
    ];
    let inserted = 0;
    for (const [id, cn, sans, env, owner, team, status, days] of certificates) {
      const result = await db.query(
        `INSERT INTO managed_certificates (id, name, common_name, sans, environment, owner_id, team_id, issuer_id,
            renewal_policy_id, certificate_profile_id, status, expires_at, tags)
         VALUES ($1, $2, $2, $3, $4, $5, $6, 'iss-local', '${DEMO_POLICY_ID}', 'prof-web', $7,
            CASE WHEN $8::int IS NULL THEN NULL ELSE now() + make_interval(days => $8::int) END, $9)
         ON CONFLICT DO NOTHING`,
        [id, cn, sans, env, owner, team, status, days, JSON.stringify({ service: cn.split('.')[0] })],
      );
      inserted += result.rowCount ?? 0;
    }
    await db.query(`
      INSERT INTO certificate_target_mappings (certificate_id, target_id) VALUES
        ('mc-www', 'target-edge-files'), ('mc-api', 'target-api-files'), ('mc-checkout', 'target-payments-k8s')
      ON CONFLICT DO NOTHING;
      -- why mc-reports is Failed: its last renewal gave up
      INSERT INTO jobs (id, type, certificate_id, status, attempts, max_attempts, last_error, completed_at) VALUES
        ('job-demo-reports-failed', 'Renewal', 'mc-reports', 'Failed', 4, 4,
         'CA refused the order: rateLimited (demo: a failure to look at; renew it to retry)', now() - interval '2 hours')
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
