import type { INestApplication } from '@nestjs/common';
import { freePort } from '@certctl/testing';
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
  /** An EAB key of the profile made through POST /api/v1/acme/eab-keys, for the inventory's team and owner. */
  eabKey(options?: { profileId?: string; expiresAt?: Date }): Promise<{ kid: string; hmacKey: string }>;
  /** Another ACME profile on the same issuer. */
  addProfile(fields: { mode: 'trust_authenticated' | 'challenge'; name?: string; description?: string; patterns?: string[]; eab?: boolean; extra?: Record<string, unknown> }): Promise<string>;
  close(): Promise<void>;
}

/**
 * The api and the orchestrator (startPlatform) and apps/responder with the ACME server on, in this process, on
 * this file's database and Redis, with one ACME profile on a Local CA issuer.
 */
export async function startAcmeServer(
  mode: 'trust_authenticated' | 'challenge', env: Record<string, string> = {}, beforeResponder?: (h: Pick<AcmeServerHarness, 'p' | 'profileId' | 'inv'>) => void,
): Promise<AcmeServerHarness> {
  const p = await startPlatform({ CERTCTL_READ_CACHE_TTL: '1ms', CERTCTL_ACME_SERVER_ENABLED: 'true', ...env });
  const inv = await createInventory(p);
  const addProfile: AcmeServerHarness['addProfile'] = async (f) => {
    const profile = await post(p, '/api/v1/profiles', {
      name: f.name ?? unique(`acme-${f.mode}`), description: f.description ?? '', ...(f.patterns ? { required_san_patterns: f.patterns } : {}),
      acme_auth_mode: f.mode, acme_issuer_id: inv.issuerId, acme_external_account_required: f.eab ?? false, ...f.extra,
    });
    return profile.id as string;
  };
  const profileId = await addProfile({ mode });
  beforeResponder?.({ p, profileId, inv });
  const responder = await createResponderApp();
  const port = await freePort();
  await responder.listen(port, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  return {
    p, responder, base, inv, profileId, addProfile,
    directoryUrl: `${base}/acme/profile/${profileId}/directory`,
    async eabKey(options = {}) {
      const created = await post(p, '/api/v1/acme/eab-keys', { profile_id: options.profileId ?? profileId, owner_id: inv.ownerId, team_id: inv.teamId });
      // The API refuses a past expiry; an expired key is made by moving it back.
      if (options.expiresAt) await p.db.query(`UPDATE acme_eab_keys SET expires_at = $2 WHERE id = $1`, [created.id, options.expiresAt]);
      return { kid: created.id as string, hmacKey: created.hmac_key as string };
    },
    async close() {
      await responder.close();
      await p.close();
    },
  };
}
