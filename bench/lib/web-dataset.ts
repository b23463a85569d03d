import type { Client } from 'pg';
import { DATASET, seedCertificateInventory } from './bench-dataset';

/**
 * What the console's list pages show at scale, beside bench-dataset's 100,000 certificates: jobs, audit events,
 * targets, notifications, discovered certificates, network scan targets, agents, and short-lived certificates.
 * Set-based SQL, so it takes seconds; shared by bench:web and the Chromium 100,000-certificate pass, so the
 * test walks the inventory the bench times. Everything here is finished history (no Pending job, no pending
 * notification), so no worker picks any of it up.
 */
export const CONSOLE_LISTS = {
  jobs: 100_000, audit_events: 100_000, targets: 2_000, notifications: 20_000, discovered: 10_000, scan_targets: 50, agents: 1_000, short_lived: 2_000,
} as const;

/** The short-lived profile and its certificates' name prefix, for pages and assertions. */
export const SHORT_LIVED_PROFILE = { id: 'prof-bench-short', name: 'Bench short-lived (6 h)' } as const;

/** Seeds bench-dataset's certificate inventory, then the console's other lists. `db` is one connection (it runs a transaction). */
export async function seedConsoleDataset(db: Client, certificates: number = DATASET.certificates): Promise<Record<string, number>> {
  await seedCertificateInventory(db, certificates);
  await seedConsoleLists(db, certificates);
  return countConsoleLists(db);
}

export async function seedConsoleLists(db: Client, certificates: number = DATASET.certificates): Promise<void> {
  const n = CONSOLE_LISTS;
  await db.query('BEGIN');
  try {
    await db.query('SELECT setseed(0.2424)');
    await db.query(`
      INSERT INTO agents (id, name, hostname, status, last_heartbeat_at, os, architecture, ip_address, version)
      SELECT 'agent-bench-' || lpad(g::text, 4, '0'), 'bench-agent-' || g, 'host-' || g || '.internal.example.com',
             (ARRAY['Online', 'Online', 'Online', 'Offline', 'Degraded'])[1 + g % 5],
             now() - (g % 600) * interval '1 second',
             (ARRAY['linux', 'linux', 'windows', 'darwin'])[1 + g % 4], (ARRAY['amd64', 'arm64'])[1 + g % 2],
             '10.' || (g / 256) % 256 || '.' || g % 256 || '.10', (ARRAY['1.4.0', '1.4.1', '1.5.0'])[1 + g % 3]
      FROM generate_series(1, ${n.agents}) AS g`);
    await db.query(`
      INSERT INTO deployment_targets (id, name, type, agent_id, config, test_status)
      SELECT 'tgt-bench-' || lpad(g::text, 5, '0'), 'bench-target-' || g,
             (ARRAY['NGINX', 'Apache', 'HAProxy', 'File'])[1 + g % 4],
             'agent-bench-' || lpad((1 + g % ${n.agents})::text, 4, '0'),
             jsonb_build_object('cert_path', '/etc/ssl/bench/' || g || '/cert.pem', 'key_path', '/etc/ssl/bench/' || g || '/key.pem'),
             (ARRAY['untested', 'success', 'success', 'failed'])[1 + g % 4]
      FROM generate_series(1, ${n.targets}) AS g`);
    // One finished job per certificate (its issuance or a renewal), spread over the year.
    await db.query(`
      INSERT INTO jobs (id, type, certificate_id, target_id, status, attempts, max_attempts, last_error, scheduled_at, started_at, completed_at,
                        created_at, updated_at, requested_by)
      SELECT 'job-bench-' || lpad(g::text, 6, '0'),
             (ARRAY['Issuance', 'Renewal', 'Renewal', 'Deployment'])[1 + g % 4],
             'mc-bench-' || lpad((1 + (g - 1) % ${certificates})::text, 6, '0'),
             CASE WHEN g % 4 = 3 THEN 'tgt-bench-' || lpad((1 + g % ${n.targets})::text, 5, '0') END,
             CASE WHEN r < 0.85 THEN 'Completed' WHEN r < 0.95 THEN 'Failed' ELSE 'Cancelled' END,
             1, 3,
             CASE WHEN r >= 0.85 AND r < 0.95 THEN 'bench: the CA refused the order' END,
             at, at, at + interval '2 seconds', at, at, 'bench'
      FROM (SELECT g, random() AS r, now() - random() * interval '365 days' AS at FROM generate_series(1, ${n.jobs}) AS g) AS d`);
    await db.query(`
      INSERT INTO notification_events (id, type, certificate_id, channel, recipient, message, sent_at, status, error, retry_count, last_error, created_at)
      SELECT 'notif-bench-' || lpad(g::text, 5, '0'),
             (ARRAY['ExpirationWarning', 'RenewalSuccess', 'RenewalFailure', 'DeploymentSuccess'])[1 + g % 4],
             'mc-bench-' || lpad((1 + (g * 7) % ${certificates})::text, 6, '0'),
             (ARRAY['Email', 'Webhook', 'Slack'])[1 + g % 3], 'ops@example.com', 'bench notification ' || g,
             CASE WHEN g % 20 <> 0 THEN at END,
             CASE WHEN g % 20 = 0 THEN 'dead' ELSE 'sent' END,
             CASE WHEN g % 20 = 0 THEN 'bench: connection refused' END,
             CASE WHEN g % 20 = 0 THEN 5 ELSE 0 END,
             CASE WHEN g % 20 = 0 THEN 'bench: connection refused' END,
             at
      FROM (SELECT g, now() - random() * interval '90 days' AS at FROM generate_series(1, ${n.notifications}) AS g) AS d`);
    await db.query(`
      INSERT INTO network_scan_targets (id, name, cidrs, ports, last_scan_at, last_scan_duration_ms, last_scan_certs_found, next_scan_at)
      SELECT 'nst-bench-' || lpad(g::text, 3, '0'), 'bench-range-' || g, ARRAY['10.' || g || '.0.0/24'], '{443}',
             now() - interval '2 hours', 4000 + g, g * 3, now() + interval '4 hours'
      FROM generate_series(1, ${n.scan_targets}) AS g`);
    await db.query(`
      INSERT INTO discovered_certificates (id, fingerprint_sha256, common_name, sans, serial_number, issuer_dn, subject_dn, not_before, not_after,
                                           key_algorithm, key_size, source_path, agent_id, status, first_seen_at, last_seen_at)
      SELECT 'disc-bench-' || lpad(g::text, 5, '0'), md5('disc1:' || g) || md5('disc2:' || g), 'found-' || g || '.example.com',
             ARRAY['found-' || g || '.example.com'], upper(substr(md5('dserial:' || g), 1, 32)), 'CN=Bench External CA',
             'CN=found-' || g || '.example.com', now() - interval '60 days', now() + (g % 400 - 30) * interval '1 day',
             'ECDSA', 256, '/etc/ssl/found/' || g || '.pem', 'agent-bench-' || lpad((1 + g % ${n.agents})::text, 4, '0'),
             (ARRAY['Unmanaged', 'Unmanaged', 'Unmanaged', 'Dismissed'])[1 + g % 4], now() - interval '30 days', now() - (g % 86400) * interval '1 second'
      FROM generate_series(1, ${n.discovered}) AS g`);
    // Short-lived: a profile allowing them (6 h at most) and the first certificates of the inventory under it, expiring within hours.
    await db.query(`
      INSERT INTO certificate_profiles (id, name, description, max_ttl_seconds, allow_short_lived)
      VALUES ('${SHORT_LIVED_PROFILE.id}', '${SHORT_LIVED_PROFILE.name}', 'benchmark fixture', 21600, true)`);
    await db.query(`
      UPDATE managed_certificates SET certificate_profile_id = '${SHORT_LIVED_PROFILE.id}', status = 'Active',
             expires_at = now() + (1 + id_n % 360) * interval '1 minute'
      FROM (SELECT id AS c_id, row_number() OVER (ORDER BY id) AS id_n FROM managed_certificates ORDER BY id LIMIT ${n.short_lived}) AS s
      WHERE id = s.c_id`);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK');
    throw err;
  }
  // The audit trail: pre-sealed rows with the seal trigger off for this session only (sealing 100,000 rows one
  // by one costs minutes and is not what the console is measured on). They follow whatever the trail holds.
  await db.query('SET session_replication_role = replica');
  try {
    await db.query(`
      INSERT INTO audit_events (id, seq, actor, actor_type, action, resource_type, resource_id, event_category, details, timestamp, prev_hash, row_hash)
      SELECT 'audit-bench-' || lpad(g::text, 6, '0'), base.seq + g,
             (ARRAY['bootstrap-admin', 'ops-key', 'system'])[1 + g % 3], (ARRAY['APIKey', 'APIKey', 'System'])[1 + g % 3],
             (ARRAY['certificate.create', 'certificate.renew', 'target.update', 'auth.key.create'])[1 + g % 4],
             (ARRAY['certificate', 'certificate', 'target', 'api_key'])[1 + g % 4],
             'mc-bench-' || lpad((1 + g % ${certificates})::text, 6, '0'),
             (ARRAY['cert_lifecycle', 'cert_lifecycle', 'config', 'auth'])[1 + g % 4],
             jsonb_build_object('bench', g), now() - (${n.audit_events} - g) * interval '5 seconds', 'unsealed', 'unsealed'
      FROM generate_series(1, ${n.audit_events}) AS g, (SELECT coalesce(max(seq), 0) AS seq FROM audit_events) AS base`);
  } finally {
    await db.query('SET session_replication_role = DEFAULT');
  }
  await db.query('VACUUM ANALYZE');
}

export async function countConsoleLists(db: Client): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['managed_certificates', 'jobs', 'audit_events', 'deployment_targets', 'notification_events', 'discovered_certificates', 'network_scan_targets', 'agents']) {
    counts[table] = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
  }
  counts.short_lived = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM managed_certificates WHERE certificate_profile_id = $1`, [SHORT_LIVED_PROFILE.id])).rows[0]?.n);
  return counts;
}
