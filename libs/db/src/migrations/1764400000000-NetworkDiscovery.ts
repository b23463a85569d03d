import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Network discovery (certctl M21 and the discovery pipeline of 006/007):
 *  - network_scan_targets: CIDR/port sweeps with their own interval (next_scan_at), SNI names and rate limit;
 *  - discovery_scans: one run each, with live progress (addresses, shards, certificates, errors); at most one
 *    Pending/Running scan per target, enforced by a partial unique index;
 *  - discovered_certificates: upserted on (fingerprint, agent, source_path);
 *  - the sentinel agent `server-scanner` that the scanner's results are recorded under.
 */
export class NetworkDiscovery1764400000000 implements MigrationInterface {
  name = 'NetworkDiscovery1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE network_scan_targets (
        id text PRIMARY KEY,
        name text NOT NULL,
        cidrs text[] NOT NULL,
        ports integer[] NOT NULL DEFAULT '{443}',
        sni_hostnames text[] NOT NULL DEFAULT '{}',
        enabled boolean NOT NULL DEFAULT true,
        scan_interval_hours integer NOT NULL DEFAULT 6 CHECK (scan_interval_hours >= 1),
        timeout_ms integer NOT NULL DEFAULT 5000 CHECK (timeout_ms > 0),
        rate_limit_per_second integer CHECK (rate_limit_per_second > 0),
        last_scan_at timestamptz,
        last_scan_duration_ms integer,
        last_scan_certs_found integer,
        next_scan_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_network_scan_targets_name UNIQUE (name)
      );
      CREATE INDEX idx_network_scan_targets_due ON network_scan_targets (next_scan_at) WHERE enabled;

      CREATE TABLE discovery_scans (
        id text PRIMARY KEY,
        agent_id text NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        network_scan_target_id text REFERENCES network_scan_targets(id) ON DELETE SET NULL,
        source text NOT NULL CHECK (source IN ('network', 'agent')),
        status text NOT NULL DEFAULT 'Pending' CHECK (status IN ('Pending', 'Running', 'Completed', 'Cancelled', 'Failed')),
        directories text[] NOT NULL DEFAULT '{}',
        ports integer[] NOT NULL DEFAULT '{}',
        sni_hostnames text[] NOT NULL DEFAULT '{}',
        timeout_ms integer NOT NULL DEFAULT 5000,
        rate_limit_per_second integer NOT NULL DEFAULT 0,
        addresses_total integer NOT NULL DEFAULT 0,
        addresses_done integer NOT NULL DEFAULT 0,
        shards_total integer NOT NULL DEFAULT 0,
        shards_done integer NOT NULL DEFAULT 0,
        shard_progress jsonb NOT NULL DEFAULT '{}',
        certificates_found integer NOT NULL DEFAULT 0,
        certificates_new integer NOT NULL DEFAULT 0,
        errors_count integer NOT NULL DEFAULT 0,
        error_summary jsonb NOT NULL DEFAULT '{}',
        last_error text,
        scan_duration_ms integer,
        started_at timestamptz,
        completed_at timestamptz,
        cancelled_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX idx_discovery_scans_agent ON discovery_scans (agent_id);
      CREATE INDEX idx_discovery_scans_status ON discovery_scans (status);
      CREATE INDEX idx_discovery_scans_target ON discovery_scans (network_scan_target_id);
      CREATE INDEX idx_discovery_scans_created ON discovery_scans (created_at);
      -- A target is never scanned twice at once.
      CREATE UNIQUE INDEX uq_discovery_scans_active_target ON discovery_scans (network_scan_target_id)
        WHERE status IN ('Pending', 'Running');

      CREATE TABLE discovered_certificates (
        id text PRIMARY KEY,
        fingerprint_sha256 text NOT NULL,
        common_name text NOT NULL DEFAULT '',
        sans text[] NOT NULL DEFAULT '{}',
        serial_number text NOT NULL DEFAULT '',
        issuer_dn text NOT NULL DEFAULT '',
        subject_dn text NOT NULL DEFAULT '',
        not_before timestamptz,
        not_after timestamptz,
        key_algorithm text NOT NULL DEFAULT '',
        key_size integer NOT NULL DEFAULT 0,
        is_ca boolean NOT NULL DEFAULT false,
        pem_data text NOT NULL DEFAULT '',
        pem_chain text NOT NULL DEFAULT '',
        chain_length integer NOT NULL DEFAULT 1,
        source_path text NOT NULL,
        source_format text NOT NULL DEFAULT 'PEM' CHECK (source_format IN ('PEM', 'DER', 'network')),
        agent_id text NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        discovery_scan_id text REFERENCES discovery_scans(id) ON DELETE SET NULL,
        managed_certificate_id text REFERENCES managed_certificates(id) ON DELETE SET NULL,
        mismatched_certificate_id text REFERENCES managed_certificates(id) ON DELETE SET NULL,
        status text NOT NULL DEFAULT 'Unmanaged' CHECK (status IN ('Unmanaged', 'Managed', 'Dismissed')),
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        dismissed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_discovered_certificates_fingerprint_agent_source UNIQUE (fingerprint_sha256, agent_id, source_path)
      );
      CREATE INDEX idx_discovered_certificates_status ON discovered_certificates (status);
      CREATE INDEX idx_discovered_certificates_agent_source ON discovered_certificates (agent_id, source_path);
      CREATE INDEX idx_discovered_certificates_not_after ON discovered_certificates (not_after);
      CREATE INDEX idx_discovered_certificates_scan ON discovered_certificates (discovery_scan_id);
      CREATE INDEX idx_discovered_certificates_managed ON discovered_certificates (managed_certificate_id);
      CREATE INDEX idx_discovered_certificates_mismatched ON discovered_certificates (mismatched_certificate_id);
      CREATE INDEX idx_discovered_certificates_created ON discovered_certificates (created_at);

      INSERT INTO agents (id, name, hostname, status)
        VALUES ('server-scanner', 'Network Scanner (Server-Side)', 'server', 'Online')
        ON CONFLICT (id) DO NOTHING;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE discovered_certificates;
      DROP TABLE discovery_scans;
      DROP TABLE network_scan_targets;
      DELETE FROM agents WHERE id = 'server-scanner';
    `);
  }
}
