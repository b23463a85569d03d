import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedFingerprint } from '@certctl/deploy';
import { TestCa } from '../../libs/deploy/src/testing/material';
import { DovecotPeer, dovecotMissing } from '../../libs/deploy/src/testing/dovecot-peer';
import {
  ApachePeer, CaddyPeer, HaproxyPeer, missingPeer, PostfixPeer, servedAfterReload as servedSettled, SshNginxPeer, TlsPeer,
} from '../../libs/deploy/src/testing/peers';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

interface PeerKind {
  name: string;
  binaries: string[];
  /** When the binaries alone do not tell whether the peer can run. */
  missing?: () => string | undefined;
  start(initial: { certPem: string; chainPem: string; keyPem: string }): Promise<TlsPeer>;
}

const KINDS: PeerKind[] = [
  { name: 'Apache', binaries: ['apache2'], start: (i) => ApachePeer.start(i) },
  { name: 'HAProxy', binaries: ['haproxy'], start: (i) => HaproxyPeer.start(i) },
  { name: 'Caddy', binaries: ['caddy'], start: (i) => CaddyPeer.start(i) },
  // STARTTLS on a loopback smtpd port; the handshake goes through EHLO/STARTTLS.
  { name: 'Postfix', binaries: ['postfix'], start: (i) => PostfixPeer.start(i) },
  // IMAPS (implicit TLS) on a loopback port.
  { name: 'Dovecot', binaries: ['dovecot'], missing: dovecotMissing, start: (i) => DovecotPeer.start(i) },
  // Agentless over SSH: a throwaway sshd on a loopback port, deploying into the directory an nginx serves.
  { name: 'SSH', binaries: ['sshd', 'ssh-keygen', 'nginx'], start: (i) => SshNginxPeer.start(i) },
];

const whyMissing = (kind: PeerKind) => (kind.missing ? kind.missing() : missingPeer(...kind.binaries));

let p: PlatformHarness;
let inv: Inventory;
let ca: TestCa;
const ran: string[] = [];

beforeAll(async () => {
  p = await startPlatform();
  inv = await createInventory(p);
  ca = await TestCa.create();
});
afterAll(async () => p?.close());

/**
 * The same four steps against each real server, deployed by the orchestrator: a first deploy is served, the same
 * deploy again is skipped without a reload, a key that does not match fails validation with the old certificate
 * still served, and a failed reload is rolled back with the old certificate served.
 */
for (const kind of KINDS) {
  const missing = whyMissing(kind);
  if (missing && process.env.CI !== 'true') console.warn(`[deploy-servers.e2e-spec] ${kind.name} skipped: ${missing}`);
  const suite = missing && process.env.CI !== 'true' ? describe.skip : describe;

  suite(`deploying to ${kind.name}`, () => {
    let peer: TlsPeer;
    let certId: string;
    // Handshakes send the certificate's name as SNI, as clients do (Caddy picks its certificate by SNI).
    let commonName: string;
    let targetId: string;
    const fingerprints: string[] = [];
    const versionIds: string[] = [];

    beforeAll(async () => {
      if (missing) throw new Error(`CI=true and ${kind.name} cannot run: ${missing}`);
      const placeholder = await ca.issue();
      peer = await kind.start({ certPem: placeholder.certPem, chainPem: placeholder.chainPem, keyPem: placeholder.keyPem! });
    });
    afterAll(() => peer?.stop());

    const served = () => servedFingerprint({ host: '127.0.0.1', port: peer.port, servername: commonName, starttls: peer.starttls });
    const servedAfterReload = (expected: string) => servedSettled(served, expected);
    const issue = async () => {
      const renewal = await p.http.post(`/api/v1/certificates/${certId}/renew`).set(p.auth()).send({}).expect(202);
      await p.waitForJob(renewal.body.job_id, ['Completed']);
      const v = (await p.db.query('SELECT id, fingerprint_sha256 FROM certificate_versions WHERE certificate_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [certId])).rows[0];
      versionIds.push(v.id);
      fingerprints.push(v.fingerprint_sha256);
    };
    const deploy = async () => {
      const res = await p.http.post(`/api/v1/certificates/${certId}/deploy`).set(p.auth()).send({}).expect(202);
      return p.waitForJob(res.body.jobs[0].job_id, ['Completed', 'Failed']);
    };

    it('first deploy: the server serves the new certificate', async () => {
      const body = certificateBody(inv);
      commonName = body.common_name as string;
      const target = await post(p, '/api/v1/targets', {
        name: unique(kind.name.toLowerCase()), type: peer.targetType,
        config: {
          ...peer.targetConfig(), post_deploy_verify_attempts: 10, post_deploy_verify_backoff: '100ms',
          post_deploy_verify: { endpoint: `127.0.0.1:${peer.port}`, server_name: commonName, starttls: peer.starttls },
        },
      });
      targetId = target.id as string;
      certId = (await post(p, '/api/v1/certificates', { ...body, target_ids: [targetId] })).id as string;
      await issue();
      const job = await p.waitForJob((await p.db.query(`SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`, [certId])).rows[0].id, ['Completed', 'Failed']);
      expect(job, job.last_error).toMatchObject({ status: 'Completed', verification_status: 'success', verification_fingerprint: fingerprints[0] });
      expect(await servedAfterReload(fingerprints[0]!)).toBe(fingerprints[0]);
      expect(peer.scratch.reloads()).toBe(1);
    });

    it('the same deploy again is an idempotent skip without a reload', async () => {
      const job = await deploy();
      expect(job.deployment_result).toMatchObject({ outcome: 'idempotent_skip', reloaded: false });
      expect(peer.scratch.reloads()).toBe(1);
    });

    it('a mismatched key fails validation; the old certificate is still served', async () => {
      await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled: false }).expect(200);
      await issue();
      await p.db.query(
        `UPDATE certificate_versions SET encrypted_private_key = (SELECT encrypted_private_key FROM certificate_versions WHERE id = $1) WHERE id = $2`,
        [versionIds[0], versionIds[1]],
      );
      await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled: true }).expect(200);
      const job = await deploy();
      expect(job).toMatchObject({ status: 'Failed', deployment_result: { failed_stage: 'validate' } });
      expect(await servedAfterReload(fingerprints[0]!)).toBe(fingerprints[0]);
      expect(peer.scratch.reloads()).toBe(1);
    });

    it('a failed reload is rolled back; the old certificate is still served', async () => {
      // A third version with its own, matching key.
      await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled: false }).expect(200);
      await issue();
      await p.http.put(`/api/v1/targets/${targetId}`).set(p.auth()).send({ enabled: true }).expect(200);
      peer.scratch.failNextReload();
      const job = await deploy();
      expect(job).toMatchObject({ status: 'Failed', deployment_result: { failed_stage: 'reload', rollback: 'restored' } });
      expect(peer.scratch.reloads()).toBe(3);
      expect(await servedAfterReload(fingerprints[0]!)).toBe(fingerprints[0]);
      ran.push(peer.targetType);
    });
  });
}

describe('deploy counters', () => {
  it('count every target type deployed to above', async () => {
    const text = (await p.http.get('/api/v1/metrics/prometheus').set(p.auth()).expect(200)).text;
    for (const type of ran) {
      expect(text).toContain(`certctl_deploy_attempts_total{target_type="${type}",result="success"} 2`);
      expect(text).toContain(`certctl_deploy_validate_failures_total{target_type="${type}"} 1`);
      expect(text).toContain(`certctl_deploy_rollback_total{target_type="${type}",outcome="restored"} 1`);
      expect(text).toContain(`certctl_deploy_idempotent_skip_total{target_type="${type}"} 1`);
    }
    const attemptLines = text.split('\n').filter((l) => l.startsWith('certctl_deploy_attempts_total{'));
    const types = attemptLines.map((l) => /target_type="([^"]+)"/.exec(l)![1]!);
    expect(types).toEqual([...types].sort());
    expect(ran.length + (process.env.CI === 'true' ? 0 : KINDS.filter(whyMissing).length)).toBe(KINDS.length);
  });
});
