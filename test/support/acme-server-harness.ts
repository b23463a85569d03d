import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { freePort } from '@certctl/testing';
import { encryptSecret } from '@certctl/pki';
import { createResponderApp } from '../../apps/responder/src/app.factory';
import { createInventory, Inventory, post, unique } from './fixtures';
import { PlatformHarness, startPlatform } from './platform-harness';

export interface AcmeServerHarness {
  p: PlatformHarness;
  responder: INestApplication;
  base: string;
  inv: Inventory;
  profileId: string;
  directoryUrl: string;
  /** An EAB key of the profile (inserted as the api stores one), for the inventory's team and owner. */
  eabKey(options?: { profileId?: string; expiresAt?: Date }): Promise<{ kid: string; hmacKey: string }>;
  /** Another ACME profile on the same issuer. */
  addProfile(fields: { mode: 'trust_authenticated' | 'challenge'; name?: string; description?: string; patterns?: string[]; eab?: boolean }): Promise<string>;
  close(): Promise<void>;
}

/**
 * The api and the orchestrator (startPlatform) and apps/responder with the ACME server on, in this process, on
 * this file's database and Redis, with one ACME profile on a Local CA issuer.
 */
export async function startAcmeServer(
  mode: 'trust_authenticated' | 'challenge', env: Record<string, string> = {}, beforeResponder?: (h: Pick<AcmeServerHarness, 'p' | 'profileId'>) => void,
): Promise<AcmeServerHarness> {
  const p = await startPlatform({ CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_ACME_SERVER_ENABLED: 'true', ...env });
  const inv = await createInventory(p);
  const addProfile: AcmeServerHarness['addProfile'] = async (f) => {
    const profile = await post(p, '/api/v1/profiles', {
      name: f.name ?? unique(`acme-${f.mode}`), description: f.description ?? '', ...(f.patterns ? { required_san_patterns: f.patterns } : {}),
    });
    await p.db.query(`UPDATE certificate_profiles SET acme_auth_mode = $2, acme_issuer_id = $3, acme_external_account_required = $4 WHERE id = $1`,
      [profile.id, f.mode, inv.issuerId, f.eab ?? false]);
    return profile.id as string;
  };
  const profileId = await addProfile({ mode });
  beforeResponder?.({ p, profileId });
  const responder = await createResponderApp();
  const port = await freePort();
  await responder.listen(port, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  return {
    p, responder, base, inv, profileId, addProfile,
    directoryUrl: `${base}/acme/profile/${profileId}/directory`,
    async eabKey(options = {}) {
      const hmacKey = randomBytes(32).toString('base64url');
      const kid = unique('eab');
      await p.db.query(
        `INSERT INTO acme_eab_keys (id, profile_id, team_id, owner_id, encrypted_hmac, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [kid, options.profileId ?? profileId, inv.teamId, inv.ownerId, encryptSecret(hmacKey, process.env.CERTCTL_CONFIG_ENCRYPTION_KEY!), options.expiresAt ?? null],
      );
      return { kid, hmacKey };
    },
    async close() {
      await responder.close();
      await p.close();
    },
  };
}
