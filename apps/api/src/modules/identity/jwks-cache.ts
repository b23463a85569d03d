import { createLocalJWKSet, JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { outboundFetch } from './outbound-fetch';

/** A provider's key set is read again after this long even when every kid is known (certctl: jwks_cache_ttl_seconds 3600). */
const MAX_AGE_MS = 3_600_000;

type KeyArgs = Parameters<JWTVerifyGetKey>;

interface Entry {
  jwksUri: string;
  fetchedAt: number;
  keys: JWTVerifyGetKey;
}

/**
 * Each provider's signing keys (its jwks_uri, under the outbound policy), cached per process and read again when
 * a token names a kid the cached set lacks — a provider that rotates its key keeps signing people in. A kid still
 * unknown after that read is refused. Concurrent reads of one provider share one fetch. `refetchCooldownMs`
 * bounds how often a token can force a read: none for id_tokens (they come from the token endpoint, over the
 * back channel), some for logout tokens (anyone can post one).
 */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry>>();

  async key(providerId: string, jwksUri: string, args: KeyArgs, options: { refetchCooldownMs: number }): Promise<Awaited<ReturnType<JWTVerifyGetKey>>> {
    let entry = this.entries.get(providerId);
    if (!entry || entry.jwksUri !== jwksUri || Date.now() - entry.fetchedAt > MAX_AGE_MS) entry = await this.fetch(providerId, jwksUri);
    try {
      return await entry.keys(...args);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || Date.now() - entry.fetchedAt < options.refetchCooldownMs) throw err;
      const fresh = await this.fetch(providerId, jwksUri, entry);
      return fresh.keys(...args);
    }
  }

  /** Forgets a provider's keys (its row changed or went away). */
  forget(providerId: string): void {
    this.entries.delete(providerId);
  }

  /** One read at a time per provider; a caller that saw `stale` waits for a read that started after it. */
  private fetch(providerId: string, jwksUri: string, stale?: Entry): Promise<Entry> {
    const running = this.inFlight.get(providerId);
    if (running) return running;
    const current = this.entries.get(providerId);
    if (stale && current && current !== stale && current.jwksUri === jwksUri) return Promise.resolve(current);
    const read = (async () => {
      const res = await outboundFetch(jwksUri);
      if (!res.ok) throw new Error(`jwks_uri answered ${res.status}`);
      const entry: Entry = { jwksUri, fetchedAt: Date.now(), keys: createLocalJWKSet((await res.json()) as JSONWebKeySet) };
      this.entries.set(providerId, entry);
      return entry;
    })().finally(() => this.inFlight.delete(providerId));
    this.inFlight.set(providerId, read);
    return read;
  }
}
