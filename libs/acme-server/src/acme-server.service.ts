import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import type { JWK } from 'jose';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AcmeIdentifier, enqueueNotifications, JobProducer, newId, OPEN_JOB_STATUSES, recordNotifications, REDIS, REVOKE_AT_CA_JOB_OPTIONS } from '@certctl/db';
import { DEFAULT_JOB_OPTIONS, Queue, queueJobId } from '@certctl/contracts';
import { clientKeyOf, CRL_CAPABLE_ISSUER_TYPES, CrlService, OcspService, profileViolation, SharedRateLimit } from '@certctl/issuers';
import { decryptSecret, EKU_OIDS, keySize, parseCsr, ParsedCsr, PkiError, reasonName, splitPemChain, x509 } from '@certctl/pki';
import { identifierNames, normaliseIdentifiers } from './identifiers';
import { checkAccountAlgorithm, parseEab, parseJws, ParsedJws, publicJwk, thumbprint, verifyEab, verifyJws } from './jws';
import { NonceStore } from './nonce-store';
import { AcmeProblem, ProblemDocument, subproblem } from './problem';
import { CaaLookupError, checkCaa } from './validation';

/** Where a request arrived: the origin and route prefix every URL in the answer is built on, and its profile. */
export interface AcmeContext {
  /** e.g. http://127.0.0.1:8084 */
  origin: string;
  /** `/acme/profile/{id}` or `/acme` (the default profile). */
  prefix: string;
  profileId: string;
  /** The full URL of this request, as the JWS `url` must name it. */
  url: string;
  clientIp: string;
}

/** What the controller writes: status, headers and a JSON (or PEM) body. */
export interface AcmeAnswer {
  status: number;
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

interface Profile {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  acme_auth_mode: 'trust_authenticated' | 'challenge';
  acme_issuer_id: string | null;
  acme_external_account_required: boolean;
  allowed_key_algorithms: Array<{ algorithm: string; min_size: number }>;
  allowed_ekus: string[];
  required_san_patterns: string[];
  max_ttl_seconds: number;
  must_staple: boolean;
}

interface Account {
  id: string;
  profile_id: string;
  jwk: JWK;
  jwk_thumbprint: string;
  contact: string[];
  status: 'valid' | 'deactivated' | 'revoked';
  eab_key_id: string | null;
  team_id: string | null;
  owner_id: string | null;
}

interface Order {
  id: string;
  account_id: string;
  profile_id: string;
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  identifiers: AcmeIdentifier[];
  not_before: Date | null;
  not_after: Date | null;
  expires_at: Date;
  certificate_id: string | null;
  job_id: string | null;
  certificate_version_id: string | null;
  replaces_version_id: string | null;
  error: Record<string, unknown> | null;
}

interface Authorization {
  id: string;
  order_id: string;
  account_id: string;
  identifier: AcmeIdentifier;
  status: string;
  wildcard: boolean;
  expires_at: Date;
}

interface Challenge {
  id: string;
  authorization_id: string;
  type: string;
  status: string;
  token: string;
  validated_at: Date | null;
  error: Record<string, unknown> | null;
}

/** A verified request: the payload (undefined for POST-as-GET) and the account (kid) or the key (jwk) that signed it. */
interface Authenticated {
  payload: Record<string, unknown> | undefined;
  account?: Account;
  jwk: JWK;
  jws: ParsedJws;
}

const PROFILE_COLUMNS = `id, name, description, enabled, acme_auth_mode, acme_issuer_id, acme_external_account_required,
  allowed_key_algorithms, allowed_ekus, required_san_patterns, max_ttl_seconds, must_staple`;

/**
 * The ACME server (RFC 8555, RFC 8737/8738 identifiers, RFC 9773 renewal info) over certctl's tables. Stateless
 * between requests: Postgres holds accounts, orders, authorizations and challenges, Redis the nonces and rate
 * counters. Finalize hands the CSR to the orchestrator as an issuance job (the row is written before the job is
 * queued, and the reconciler re-queues it), so an order is valid once that job has stored its certificate version.
 */
@Injectable()
export class AcmeServerService {
  private readonly logger = new Logger(AcmeServerService.name);
  readonly nonces: NonceStore;
  private readonly rlPrefix: string;
  /** Per client address, shared by the replicas: new-nonce and every JWS signed by a `jwk` (no account behind it). */
  private readonly publicLimit: SharedRateLimit;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly producer: JobProducer,
    private readonly ocsp: OcspService,
    private readonly crl: CrlService,
  ) {
    this.nonces = new NonceStore(redis, `${config.redis.queuePrefix}:acme-nonce`, this.nonceKeys(), () => config.acmeServer.nonceTtlMs);
    this.rlPrefix = `${config.redis.queuePrefix}:acme-rl`;
    this.publicLimit = new SharedRateLimit(redis, `${config.redis.queuePrefix}:acme-public-rl`, () => config.acmeServer.publicRequestsPerIpPerMinute);
  }

  /**
   * The nonce MAC keys every replica shares: CERTCTL_ACME_SERVER_NONCE_KEYS, else derived from
   * CERTCTL_CONFIG_ENCRYPTION_KEY; with neither, a key of this process (its nonces are good only here).
   */
  private nonceKeys(): Buffer[] {
    const { nonceKeys } = this.config.acmeServer;
    if (nonceKeys.length) return nonceKeys.map((k) => NonceStore.deriveKey(k));
    if (this.config.pki.encryptionKey) return [NonceStore.deriveKey(this.config.pki.encryptionKey)];
    if (this.config.acmeServer.enabled) {
      this.logger.warn('neither CERTCTL_ACME_SERVER_NONCE_KEYS nor CERTCTL_CONFIG_ENCRYPTION_KEY is set: ACME nonces are good only on the replica that issued them');
    }
    return [randomBytes(32)];
  }

  /**
   * Counts a request no account stands behind against its client address (fixed one-minute window shared by the
   * replicas); past CERTCTL_ACME_SERVER_PUBLIC_REQUESTS_PER_IP_MIN, `rateLimited` with Retry-After, before anything is written.
   */
  async limitPublicRequest(ctx: AcmeContext): Promise<void> {
    if (!(await this.publicLimit.hit(clientKeyOf(ctx.clientIp)))) return;
    const retry = Math.max(1, Math.ceil((60_000 - (Date.now() % 60_000)) / 1000));
    throw new AcmeProblem('rateLimited', `too many requests without an account from this address: at most ${this.config.acmeServer.publicRequestsPerIpPerMinute} a minute`)
      .withHeader('Retry-After', String(retry));
  }

  // ---- URLs ----

  private url(ctx: AcmeContext, path: string): string {
    return `${ctx.origin}${ctx.prefix}/${path}`;
  }

  // ---- profiles and the directory ----

  async profile(id: string): Promise<Profile> {
    const rows: Profile[] = await this.db.query(`SELECT ${PROFILE_COLUMNS} FROM certificate_profiles WHERE id = $1`, [id]);
    const profile = rows[0];
    if (!profile || !profile.enabled || !profile.acme_issuer_id) throw AcmeProblem.notFound(`ACME profile ${id}`);
    return profile;
  }

  /** Profiles new-nonce has looked up lately (or found missing), so a flood of it costs no query per request. */
  private readonly knownProfiles = new Map<string, { exists: boolean; until: number }>();

  /** new-nonce's check that the profile is served: answered from a 2-second cache, found or not (a negative cache). */
  async assertProfileServed(id: string): Promise<void> {
    const now = Date.now();
    let known = this.knownProfiles.get(id);
    if (!known || known.until <= now) {
      const exists = await this.profile(id).then(() => true, (err: unknown) => {
        if (err instanceof AcmeProblem) return false;
        throw err;
      });
      if (this.knownProfiles.size >= 1000) this.knownProfiles.clear();
      known = { exists, until: now + 2000 };
      this.knownProfiles.set(id, known);
    }
    if (!known.exists) throw AcmeProblem.notFound(`ACME profile ${id}`);
  }

  private eabRequired(profile: Profile): boolean {
    return profile.acme_external_account_required || profile.acme_auth_mode === 'trust_authenticated';
  }

  async directory(ctx: AcmeContext): Promise<AcmeAnswer> {
    const profile = await this.profile(ctx.profileId);
    const served: Array<Pick<Profile, 'id' | 'name' | 'description'>> = await this.db.query(
      `SELECT id, name, description FROM certificate_profiles WHERE enabled AND acme_issuer_id IS NOT NULL ORDER BY name, id`,
    );
    const profiles: Record<string, string> = {};
    for (const p of served) profiles[p.name] = p.description || p.name;
    return {
      status: 200,
      body: {
        newNonce: this.url(ctx, 'new-nonce'),
        newAccount: this.url(ctx, 'new-account'),
        newOrder: this.url(ctx, 'new-order'),
        revokeCert: this.url(ctx, 'revoke-cert'),
        keyChange: this.url(ctx, 'key-change'),
        renewalInfo: this.url(ctx, 'renewal-info'),
        meta: {
          externalAccountRequired: this.eabRequired(profile),
          caaIdentities: this.config.acmeServer.caaIdentities,
          profiles,
        },
      },
    };
  }

  // ---- authentication (RFC 8555 §6.2–6.5) ----

  /**
   * Verifies a POST: flattened JWS, supported algorithm, a nonce with our MAC still within its lifetime, `url` equal
   * to the request URL, then either the account named by `kid` (its URL on this profile, valid) or the `jwk` carried
   * (where `keyMode` allows it, counted per client address), the signature, and last the nonce's single use.
   */
  async authenticate(ctx: AcmeContext, body: Buffer, keyMode: 'kid' | 'jwk' | 'either'): Promise<Authenticated> {
    const jws = parseJws(body);
    checkAccountAlgorithm(jws.header.alg);
    // Forged, expired and made-up nonces are refused from the MAC and the time in them, before any lookup.
    const nonce = typeof jws.header.nonce === 'string' ? this.nonces.check(jws.header.nonce) : { ok: false as const, reason: 'missing' };
    if (!nonce.ok) throw new AcmeProblem('badNonce', `the nonce is unknown, expired or already used (${nonce.reason})`);
    if (jws.header.url !== ctx.url) throw new AcmeProblem('unauthorized', `the JWS "url" (${jws.header.url}) is not this request's URL`);
    let account: Account | undefined;
    let jwk: JWK;
    if (jws.header.jwk !== undefined) {
      if (keyMode === 'kid') throw new AcmeProblem('malformed', 'this request must be signed by an account key ("kid"), not a "jwk"');
      jwk = publicJwk(jws.header.jwk);
      // Anyone can make a key: what a jwk-signed request writes (its used nonce, an account) is limited per address.
      await this.limitPublicRequest(ctx);
    } else {
      if (keyMode === 'jwk') throw new AcmeProblem('malformed', 'this request must carry the key as "jwk", not a "kid"');
      const prefix = this.url(ctx, 'account/');
      const kid = jws.header.kid!;
      const id = kid.startsWith(prefix) ? kid.slice(prefix.length) : '';
      const rows: Account[] = id && !id.includes('/') ? await this.db.query(`SELECT * FROM acme_accounts WHERE id = $1 AND profile_id = $2`, [id, ctx.profileId]) : [];
      account = rows[0];
      if (!account) throw new AcmeProblem('accountDoesNotExist', `no account ${kid} on this profile`);
      jwk = account.jwk;
    }
    const text = await verifyJws(jws, jwk);
    // Single use, recorded only now that a key signed the request: unsigned junk writes nothing.
    if (!(await this.nonces.markUsed(nonce))) throw new AcmeProblem('badNonce', 'the nonce is unknown, expired or already used (already used)');
    if (account && account.status !== 'valid') throw new AcmeProblem('unauthorized', `account is ${account.status}`);
    let payload: Record<string, unknown> | undefined;
    if (text !== '') {
      try {
        payload = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new AcmeProblem('malformed', 'JWS payload is not JSON');
      }
      if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new AcmeProblem('malformed', 'JWS payload is not a JSON object');
    }
    return { payload, account, jwk, jws };
  }

  // ---- accounts ----

  private accountBody(ctx: AcmeContext, a: Account): Record<string, unknown> {
    return { status: a.status, contact: a.contact, orders: this.url(ctx, `account/${a.id}/orders`), ...(a.eab_key_id ? { externalAccountBinding: { kid: a.eab_key_id } } : {}) };
  }

  async newAccount(ctx: AcmeContext, body: Buffer): Promise<AcmeAnswer> {
    const profile = await this.profile(ctx.profileId);
    const { payload = {}, jwk } = await this.authenticate(ctx, body, 'jwk');
    const print = await thumbprint(jwk);
    const existing: Account[] = await this.db.query(`SELECT * FROM acme_accounts WHERE profile_id = $1 AND jwk_thumbprint = $2`, [profile.id, print]);
    if (existing[0]) {
      // RFC 8555 §7.3.1: an existing key returns its account (200), whatever else the request says.
      return { status: 200, body: this.accountBody(ctx, existing[0]), headers: { Location: this.url(ctx, `account/${existing[0].id}`) } };
    }
    if (payload.onlyReturnExisting === true) throw new AcmeProblem('accountDoesNotExist', 'no account exists for this key');
    const contact = this.contacts(payload.contact);
    let eab: { id: string; team_id: string | null; owner_id: string } | undefined;
    if (payload.externalAccountBinding !== undefined) eab = await this.checkEab(ctx, profile, payload.externalAccountBinding, jwk);
    else if (this.eabRequired(profile)) throw new AcmeProblem('externalAccountRequired', 'this profile requires an external account binding');
    await this.rateLimit('account-ip', ctx.clientIp, this.config.acmeServer.accountsPerIpPerHour, 'new accounts from this address');
    const id = newId('acmeAccount');
    const created = await this.db.transaction(async (tx) => {
      if (eab) {
        const [, bound]: [unknown, number] = await tx.query(`UPDATE acme_eab_keys SET account_id = $2 WHERE id = $1 AND account_id IS NULL`, [eab.id, id]);
        if (!bound) throw new AcmeProblem('unauthorized', 'the external account binding key is already bound to an account');
      }
      const rows: Account[] = await tx.query(
        `INSERT INTO acme_accounts (id, profile_id, jwk_thumbprint, jwk, contact, eab_key_id, team_id, owner_id, url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (profile_id, jwk_thumbprint) DO NOTHING RETURNING *`,
        [id, profile.id, print, jwk, contact, eab?.id ?? null, eab?.team_id ?? null, eab?.owner_id ?? null, this.url(ctx, `account/${id}`)],
      );
      if (!rows[0]) throw new AcmeProblem('malformed', 'an account for this key was created concurrently; retry', { status: 409 });
      return rows[0];
    });
    return { status: 201, body: this.accountBody(ctx, created), headers: { Location: this.url(ctx, `account/${created.id}`) } };
  }

  private contacts(raw: unknown): string[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw) || raw.length > 10) throw new AcmeProblem('malformed', 'contact must be an array of at most 10 URLs');
    return raw.map((c) => {
      if (typeof c !== 'string') throw new AcmeProblem('invalidContact', 'a contact is not a string');
      if (!c.startsWith('mailto:')) throw new AcmeProblem('unsupportedContact', `contact ${c} is not a mailto: URL`);
      if (!/^mailto:[^\s@,?]+@[^\s@,?]+$/.test(c)) throw new AcmeProblem('invalidContact', `contact ${c} is not one e-mail address`);
      return c;
    });
  }

  private async checkEab(ctx: AcmeContext, profile: Profile, raw: unknown, jwk: JWK): Promise<{ id: string; team_id: string | null; owner_id: string }> {
    const { parsed, kid } = parseEab(raw, ctx.url);
    const rows: Array<{ id: string; profile_id: string; team_id: string | null; owner_id: string; encrypted_hmac: Buffer; expires_at: Date | null; revoked_at: Date | null; account_id: string | null }> =
      await this.db.query(`SELECT * FROM acme_eab_keys WHERE id = $1`, [kid]);
    const key = rows[0];
    if (!key || key.profile_id !== profile.id) throw new AcmeProblem('unauthorized', `external account binding key ${kid} is unknown on this profile`);
    if (key.revoked_at) throw new AcmeProblem('unauthorized', `external account binding key ${kid} is revoked`);
    if (key.expires_at && key.expires_at.getTime() <= Date.now()) throw new AcmeProblem('unauthorized', `external account binding key ${kid} has expired`);
    if (key.account_id) throw new AcmeProblem('unauthorized', `external account binding key ${kid} is already bound to an account`);
    const secret = this.config.pki.encryptionKey;
    if (!secret) throw new AcmeProblem('serverInternal', 'external account binding keys cannot be read: CERTCTL_CONFIG_ENCRYPTION_KEY is not set');
    const hmac = Buffer.from(decryptSecret(key.encrypted_hmac, secret).toString('utf8'), 'base64url');
    await verifyEab(parsed, hmac, jwk);
    return key;
  }

  async account(ctx: AcmeContext, id: string, body: Buffer): Promise<AcmeAnswer> {
    await this.profile(ctx.profileId);
    const auth = await this.authenticate(ctx, body, 'kid');
    const account = auth.account!;
    if (account.id !== id) throw new AcmeProblem('unauthorized', 'an account can only read or change itself');
    const payload = auth.payload;
    let updated = account;
    if (payload?.status !== undefined) {
      if (payload.status !== 'deactivated') throw new AcmeProblem('malformed', 'an account may only set its status to "deactivated"');
      [updated] = (await this.db.query(`UPDATE acme_accounts SET status = 'deactivated', updated_at = now() WHERE id = $1 RETURNING *`, [id]))[0];
      // RFC 8555 §7.3.6: its pending authorizations go with it.
      await this.db.query(`UPDATE acme_authorizations SET status = 'deactivated', updated_at = now() WHERE account_id = $1 AND status = 'pending'`, [id]);
    } else if (payload?.contact !== undefined) {
      const contact = this.contacts(payload.contact);
      [updated] = (await this.db.query(`UPDATE acme_accounts SET contact = $2, updated_at = now() WHERE id = $1 RETURNING *`, [id, contact]))[0];
    }
    return { status: 200, body: this.accountBody(ctx, updated!), headers: { Location: this.url(ctx, `account/${id}`) } };
  }

  async accountOrders(ctx: AcmeContext, id: string, body: Buffer): Promise<AcmeAnswer> {
    const auth = await this.authenticate(ctx, body, 'kid');
    if (auth.account!.id !== id) throw new AcmeProblem('unauthorized', 'an account can only list its own orders');
    const rows: Array<{ id: string }> = await this.db.query(
      `SELECT id FROM acme_orders WHERE account_id = $1 AND status IN ('pending', 'ready', 'processing', 'valid') ORDER BY created_at DESC LIMIT 1000`, [id],
    );
    return { status: 200, body: { orders: rows.map((r) => this.url(ctx, `order/${r.id}`)) } };
  }

  /** RFC 8555 §7.3.5: the inner JWS, signed by the new key, names the account and its old key. */
  async keyChange(ctx: AcmeContext, body: Buffer): Promise<AcmeAnswer> {
    await this.profile(ctx.profileId);
    const auth = await this.authenticate(ctx, body, 'kid');
    const account = auth.account!;
    if (!auth.payload) throw new AcmeProblem('malformed', 'key-change needs an inner JWS as its payload');
    const inner = parseJws(JSON.stringify(auth.payload));
    if (!inner.header.jwk || inner.header.kid !== undefined) throw new AcmeProblem('malformed', 'the inner JWS must carry the new key as "jwk"');
    if (inner.header.nonce !== undefined) throw new AcmeProblem('malformed', 'the inner JWS must not carry a nonce');
    if (inner.header.url !== ctx.url) throw new AcmeProblem('malformed', 'the inner JWS "url" differs from the outer one');
    const newKey = publicJwk(inner.header.jwk);
    const text = await verifyJws(inner, newKey);
    let change: { account?: unknown; oldKey?: JWK };
    try {
      change = JSON.parse(text) as typeof change;
    } catch {
      throw new AcmeProblem('malformed', 'the inner JWS payload is not JSON');
    }
    if (change.account !== this.url(ctx, `account/${account.id}`)) throw new AcmeProblem('unauthorized', 'the inner JWS names another account');
    if (!change.oldKey || (await thumbprint(publicJwk(change.oldKey))) !== account.jwk_thumbprint) throw new AcmeProblem('unauthorized', '"oldKey" is not the account key');
    const print = await thumbprint(newKey);
    const taken: Array<{ id: string }> = await this.db.query(`SELECT id FROM acme_accounts WHERE profile_id = $1 AND jwk_thumbprint = $2`, [ctx.profileId, print]);
    const conflict = () => new AcmeProblem('malformed', 'the new key is already in use by an account', { status: 409 }).withHeader('Location', this.url(ctx, `account/${taken[0]?.id ?? ''}`));
    if (taken[0]) throw conflict();
    try {
      const [[updated]]: [[Account]] = await this.db.query(
        `UPDATE acme_accounts SET jwk = $2, jwk_thumbprint = $3, updated_at = now() WHERE id = $1 RETURNING *`, [account.id, newKey, print],
      );
      return { status: 200, body: this.accountBody(ctx, updated), headers: { Location: this.url(ctx, `account/${account.id}`) } };
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new AcmeProblem('malformed', 'the new key is already in use by an account', { status: 409 });
      throw err;
    }
  }

  // ---- orders ----

  async newOrder(ctx: AcmeContext, body: Buffer): Promise<AcmeAnswer> {
    const directoryProfile = await this.profile(ctx.profileId);
    const auth = await this.authenticate(ctx, body, 'kid');
    const account = auth.account!;
    const payload = auth.payload ?? {};
    const profile = payload.profile === undefined ? directoryProfile : await this.orderProfile(payload.profile);
    if (this.eabRequired(profile) && !account.eab_key_id) {
      throw new AcmeProblem('unauthorized', `profile ${profile.name} issues only to accounts bound by an external account binding`);
    }
    const identifiers = normaliseIdentifiers(payload.identifiers, profile.required_san_patterns ?? []);
    const trusted = profile.acme_auth_mode === 'trust_authenticated';
    if (!trusted) {
      for (const i of identifiers) if (i.type === 'ip' && i.value.startsWith('*')) throw new AcmeProblem('rejectedIdentifier', 'IP identifiers cannot be wildcards');
    }
    const notBefore = this.optionalDate(payload.notBefore, 'notBefore');
    const notAfter = this.optionalDate(payload.notAfter, 'notAfter');
    if (notBefore || notAfter) throw new AcmeProblem('malformed', 'notBefore and notAfter are not supported; the profile sets the validity');
    if (payload.replaces !== undefined && (typeof payload.replaces !== 'string' || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(payload.replaces))) {
      throw new AcmeProblem('malformed', '"replaces" is not an ARI certificate identifier');
    }
    // RFC 9773 §5: the replaced certificate must be one this account ordered; kept so a re-issue drill sees the renewal.
    const replacesVersionId = typeof payload.replaces === 'string' ? await this.replacedVersion(account, payload.replaces, identifierNames(identifiers)) : null;
    await this.rateLimit('orders', account.id, this.config.acmeServer.ordersPerAccountPerHour, 'new orders by this account');
    const orderId = newId('acmeOrder');
    const expiresAt = new Date(Date.now() + this.config.acmeServer.orderTtlMs);
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO acme_orders (id, account_id, profile_id, status, identifiers, expires_at, replaces, replaces_version_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [orderId, account.id, profile.id, trusted ? 'ready' : 'pending', JSON.stringify(identifiers), expiresAt, payload.replaces ?? null, replacesVersionId],
      );
      for (const identifier of identifiers) {
        const wildcard = identifier.value.startsWith('*.');
        const authzId = newId('acmeAuthorization');
        const value = wildcard ? identifier.value.slice(2) : identifier.value;
        await tx.query(
          `INSERT INTO acme_authorizations (id, order_id, account_id, identifier, status, wildcard, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [authzId, orderId, account.id, { type: identifier.type, value }, trusted ? 'valid' : 'pending', wildcard, expiresAt],
        );
        if (trusted) continue;
        // Wildcards only by dns-01; IP addresses never by dns-01 (RFC 8738 §7).
        const types = wildcard ? ['dns-01'] : identifier.type === 'ip' ? ['http-01', 'tls-alpn-01'] : ['http-01', 'dns-01', 'tls-alpn-01'];
        for (const type of types) {
          await tx.query(`INSERT INTO acme_challenges (id, authorization_id, type, token) VALUES ($1, $2, $3, $4)`,
            [newId('acmeChallenge'), authzId, type, randomBytes(32).toString('base64url')]);
        }
      }
    });
    const order = await this.loadOrder(orderId);
    return { status: 201, body: await this.orderBody(ctx, order), headers: { Location: this.url(ctx, `order/${orderId}`) } };
  }

  private async orderProfile(name: unknown): Promise<Profile> {
    if (typeof name !== 'string') throw new AcmeProblem('malformed', '"profile" must be a string');
    const rows: Array<{ id: string }> = await this.db.query(
      `SELECT id FROM certificate_profiles WHERE (name = $1 OR id = $1) AND enabled AND acme_issuer_id IS NOT NULL ORDER BY (id = $1) DESC LIMIT 1`, [name],
    );
    if (!rows[0]) throw new AcmeProblem('malformed', `profile "${name}" is not offered (see meta.profiles in the directory)`);
    return this.profile(rows[0].id);
  }

  private optionalDate(raw: unknown, field: string): Date | undefined {
    if (raw === undefined) return undefined;
    const date = typeof raw === 'string' ? new Date(raw) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw new AcmeProblem('malformed', `${field} is not an RFC 3339 date`);
    return date;
  }

  private async loadOrder(id: string): Promise<Order> {
    const rows: Order[] = await this.db.query(`SELECT * FROM acme_orders WHERE id = $1`, [id]);
    if (!rows[0]) throw AcmeProblem.notFound(`order ${id}`);
    return rows[0];
  }

  /**
   * Brings the order's status up to date from the rows it depends on: its authorizations (pending → ready or
   * invalid), its expiry, and at processing the issuance job (valid once the job stored a version, invalid when
   * the job failed or was cancelled).
   */
  private async refreshOrder(order: Order): Promise<Order> {
    if (order.status === 'pending') {
      const authzs: Array<{ status: string }> = await this.db.query(`SELECT status FROM acme_authorizations WHERE order_id = $1`, [order.id]);
      const next = order.expires_at.getTime() <= Date.now() ? 'invalid'
        : authzs.some((a) => a.status !== 'valid' && a.status !== 'pending') ? 'invalid'
          : authzs.every((a) => a.status === 'valid') ? 'ready' : 'pending';
      if (next !== 'pending') {
        const error = next === 'invalid' ? { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'an authorization of the order failed or expired' } : null;
        const rows: Order[] = (await this.db.query(`UPDATE acme_orders SET status = $2, error = $3, updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING *`, [order.id, next, error]))[0];
        return rows[0] ?? this.loadOrder(order.id);
      }
    } else if (order.status === 'ready' && order.expires_at.getTime() <= Date.now()) {
      const rows: Order[] = (await this.db.query(`UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now() WHERE id = $1 AND status = 'ready' RETURNING *`,
        [order.id, { type: 'urn:ietf:params:acme:error:malformed', detail: 'the order expired before it was finalized' }]))[0];
      return rows[0] ?? this.loadOrder(order.id);
    } else if (order.status === 'processing' && order.job_id) {
      const rows: Array<{ status: string; last_error: string | null; version_id: string | null }> = await this.db.query(
        `SELECT j.status, j.last_error, (SELECT v.id FROM certificate_versions v WHERE v.job_id = j.id) AS version_id FROM jobs j WHERE j.id = $1`, [order.job_id],
      );
      const job = rows[0];
      if (job?.version_id) {
        const updated: Order[] = (await this.db.query(
          `UPDATE acme_orders SET status = 'valid', certificate_version_id = $2, updated_at = now() WHERE id = $1 AND status = 'processing' RETURNING *`, [order.id, job.version_id],
        ))[0];
        return updated[0] ?? this.loadOrder(order.id);
      }
      if (!job || job.status === 'Failed' || job.status === 'Cancelled') {
        const error = { type: 'urn:ietf:params:acme:error:serverInternal', detail: `issuance failed: ${job?.last_error ?? 'the job is gone'}` };
        const updated: Order[] = (await this.db.query(
          `UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now() WHERE id = $1 AND status = 'processing' RETURNING *`, [order.id, error],
        ))[0];
        return updated[0] ?? this.loadOrder(order.id);
      }
    }
    return order;
  }

  private async orderBody(ctx: AcmeContext, order: Order): Promise<Record<string, unknown>> {
    const authzs: Array<{ id: string }> = await this.db.query(`SELECT id FROM acme_authorizations WHERE order_id = $1 ORDER BY id`, [order.id]);
    return {
      status: order.status,
      expires: order.expires_at.toISOString(),
      identifiers: order.identifiers,
      authorizations: authzs.map((a) => this.url(ctx, `authz/${a.id}`)),
      finalize: this.url(ctx, `order/${order.id}/finalize`),
      ...(order.certificate_version_id ? { certificate: this.url(ctx, `cert/${order.certificate_version_id}`) } : {}),
      ...(order.error ? { error: order.error } : {}),
    };
  }

  private async ownedOrder(account: Account, id: string): Promise<Order> {
    const order = await this.loadOrder(id);
    if (order.account_id !== account.id) throw new AcmeProblem('unauthorized', `order ${id} belongs to another account`);
    return this.refreshOrder(order);
  }

  private orderAnswer(ctx: AcmeContext, order: Order, body: Record<string, unknown>, status = 200): AcmeAnswer {
    const headers: Record<string, string> = { Location: this.url(ctx, `order/${order.id}`) };
    if (order.status === 'processing') headers['Retry-After'] = String(this.config.acmeServer.retryAfterSeconds);
    return { status, body, headers };
  }

  async order(ctx: AcmeContext, id: string, body: Buffer): Promise<AcmeAnswer> {
    const auth = await this.authenticate(ctx, body, 'kid');
    const order = await this.ownedOrder(auth.account!, id);
    return this.orderAnswer(ctx, order, await this.orderBody(ctx, order));
  }

  /**
   * Checks the CSR against the order (its names exactly the identifiers) and the profile (key algorithm and size,
   * name patterns), then, in one transaction, writes the managed certificate (source ACME, the account's team and
   * owner), its issuance job carrying the CSR, and the order as processing; the job is queued after commit.
   */
  async finalize(ctx: AcmeContext, id: string, body: Buffer): Promise<AcmeAnswer> {
    const auth = await this.authenticate(ctx, body, 'kid');
    const account = auth.account!;
    const order = await this.ownedOrder(account, id);
    if (order.status !== 'ready') {
      if (order.status === 'processing' || order.status === 'valid') return this.orderAnswer(ctx, order, await this.orderBody(ctx, order));
      throw new AcmeProblem('orderNotReady', `order is ${order.status}, not ready`);
    }
    const profile = await this.profile(order.profile_id);
    const csrText = auth.payload?.csr;
    if (typeof csrText !== 'string' || !/^[A-Za-z0-9_-]+$/.test(csrText)) throw new AcmeProblem('malformed', '"csr" must be a base64url-encoded DER CSR');
    const csr = await this.parseOrderCsr(csrText);
    const wanted = new Set(identifierNames(order.identifiers).map((n) => n.toLowerCase()));
    const got = new Set([...csr.sans, ...(csr.commonName ? [csr.commonName] : [])].map((n) => n.toLowerCase()));
    const extra = [...got].filter((n) => !wanted.has(n));
    const missing = [...wanted].filter((n) => !got.has(n));
    if (extra.length || missing.length) {
      throw new AcmeProblem('badCSR', `the CSR's names must be exactly the order's identifiers${extra.length ? `; not in the order: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`);
    }
    this.checkCsrAgainstProfile(csr, profile);
    if (profile.acme_auth_mode === 'trust_authenticated') await this.checkCaaBeforeIssuing(ctx, order, account);
    // An EAB-bound account's certificates belong to the key's owner and team; others to the configured default owner.
    let ownerId = account.owner_id;
    let teamId = account.team_id;
    if (!ownerId && this.config.acmeServer.defaultOwnerId) {
      const [owner]: Array<{ id: string; team_id: string | null }> = await this.db.query(`SELECT id, team_id FROM owners WHERE id = $1`, [this.config.acmeServer.defaultOwnerId]);
      ownerId = owner?.id ?? null;
      teamId = owner?.team_id ?? null;
    }
    if (!ownerId) throw new AcmeProblem('unauthorized', 'the account has no owner: bind it with an external account binding key to issue');

    const names = identifierNames(order.identifiers);
    const commonName = csr.commonName ? csr.commonName.toLowerCase() : names[0]!;
    const jobId = newId('job');
    const alreadyTaken = Symbol('order already finalized');
    const claimed = await this.db.transaction(async (tx) => {
      // A renewal (same account, profile and names; not an ARI `replaces`, which gets its own certificate for the
      // re-issue drill to revoke the old one) is a new version of the same managed certificate.
      const [renewed]: Array<{ id: string }> = order.replaces_version_id ? [] : await tx.query(
        `SELECT c.id FROM managed_certificates c
          WHERE c.source = 'ACME' AND c.tags->>'acme_account' = $1 AND c.certificate_profile_id = $2 AND c.status NOT IN ('Revoked', 'Archived')
            AND (SELECT array_agg(lower(x) ORDER BY lower(x)) FROM unnest(c.sans) x) = $3::text[]
            AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.certificate_id = c.id AND j.status = ANY($4))
          ORDER BY c.created_at DESC, c.id LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [account.id, profile.id, names.map((n) => n.toLowerCase()).sort(), [...OPEN_JOB_STATUSES]],
      );
      const certificateId = renewed?.id ?? newId('certificate');
      if (renewed) {
        await tx.query(`UPDATE managed_certificates SET common_name = $2, updated_at = now() WHERE id = $1`, [certificateId, commonName]);
      } else {
        await tx.query(
          `INSERT INTO managed_certificates (id, name, common_name, sans, owner_id, team_id, issuer_id, renewal_policy_id, certificate_profile_id, status, tags, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'rp-default', $8, 'Pending', $9, 'ACME')`,
          [certificateId, `acme-${order.id}`, commonName, names, ownerId, teamId, profile.acme_issuer_id, profile.id,
            { acme_account: account.id, acme_order: order.id }],
        );
      }
      await tx.query(
        `INSERT INTO jobs (id, type, certificate_id, status, max_attempts, csr_pem, requested_by) VALUES ($1, $2, $3, 'Pending', 3, $4, $5)`,
        [jobId, renewed ? 'Renewal' : 'Issuance', certificateId, csr.pem, `acme:${account.id}`],
      );
      const [rows]: [Array<{ id: string }>, number] = await tx.query(
        `UPDATE acme_orders SET status = 'processing', csr_pem = $2, certificate_id = $3, job_id = $4, updated_at = now()
          WHERE id = $1 AND status = 'ready' RETURNING id`, [order.id, csr.pem, certificateId, jobId],
      );
      // A concurrent finalize won: roll back this one's certificate and job.
      if (!rows.length) throw alreadyTaken;
      return true;
    }).catch((err: unknown) => {
      if (err === alreadyTaken || (err as { code?: string }).code === '23505') return false;
      throw err;
    });
    if (claimed) {
      // After commit; were this lost, the reconciler queues the Pending job again.
      await this.producer.enqueue('csr.sign', { jobId }, jobId).catch((err: unknown) =>
        this.logger.warn({ jobId, err: (err as Error).message }, 'queueing the ACME issuance failed; the reconciler will'));
    }
    const current = await this.refreshOrder(await this.loadOrder(order.id));
    return this.orderAnswer(ctx, current, await this.orderBody(ctx, current));
  }

  private async parseOrderCsr(b64: string): Promise<ParsedCsr> {
    const der = Buffer.from(b64, 'base64url');
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE REQUEST-----\n`;
    try {
      return await parseCsr(pem);
    } catch (err) {
      if (err instanceof PkiError && (err as PkiError & { code?: string }).code !== 'MALFORMED' && (err as PkiError & { code?: string }).code !== 'BAD_SIGNATURE') {
        throw new AcmeProblem('badPublicKey', err.message);
      }
      if (err instanceof PkiError) throw new AcmeProblem('badCSR', err.message);
      // keySpecOf refuses keys it cannot use (RSA < 2048, unknown curves).
      throw new AcmeProblem('badPublicKey', `the CSR's key is not accepted: ${(err as Error).message}`);
    }
  }

  /**
   * The CSR against the order's certificate profile: its key algorithm and size, its names' patterns, and any
   * extended key usage it asks for (the Local CA signs the profile's EKUs; a CSR asking for another is refused
   * rather than silently given something else). A key we cannot use at all is badPublicKey (parseOrderCsr); a key
   * this profile does not allow is badCSR. The validity is the profile's (notAfter capped at its max TTL) when signed.
   */
  private checkCsrAgainstProfile(csr: ParsedCsr, profile: Profile): void {
    const allowedEkus = profile.allowed_ekus?.length ? profile.allowed_ekus : ['serverAuth'];
    const allowedOids = new Set(allowedEkus.map((e) => EKU_OIDS[e] ?? e));
    const asked = ekuOidsOf(csr.pem);
    const outside = asked.filter((oid) => !allowedOids.has(oid));
    if (outside.length) {
      const names = outside.map((oid) => Object.keys(EKU_OIDS).find((k) => EKU_OIDS[k] === oid) ?? oid);
      throw new AcmeProblem('badCSR', `the CSR asks for extended key usage ${names.join(', ')}, outside the profile's (${allowedEkus.join(', ')})`);
    }
    const violation = profileViolation(csr, profile);
    if (violation) throw new AcmeProblem('badCSR', violation.startsWith('key ') ? `the CSR's ${violation} (${csr.keySpec.algorithm} ${keySize(csr.keySpec)})` : violation);
  }

  /**
   * RFC 8659 for an order issued without challenges (trust_authenticated): CAA must still allow this CA (and,
   * with RFC 8657 `accounturi`, this account; a `validationmethods` list names no method we used, so it refuses)
   * for every DNS identifier. Refused: the order turns invalid with a `caa` problem and a subproblem per name.
   * A failed lookup forbids issuing too (RFC 8659 §3) but leaves the order ready for a retry (`dns`).
   */
  private async checkCaaBeforeIssuing(ctx: AcmeContext, order: Order, account: Account): Promise<void> {
    const s = this.config.acmeServer;
    const refused: ProblemDocument[] = [];
    for (const identifier of order.identifiers) {
      if (identifier.type !== 'dns') continue;
      try {
        const caa = await checkCaa({ name: identifier.value, caaIdentities: s.caaIdentities, accountUri: this.url(ctx, `account/${account.id}`), resolver: s.dnsResolver });
        if (!caa.allowed) refused.push(subproblem('caa', `CAA records at ${caa.checkedAt} do not allow this CA to issue for ${identifier.value}${caa.record ? ` (${caa.record})` : ''}`, identifier));
      } catch (err) {
        if (err instanceof CaaLookupError) throw new AcmeProblem('dns', err.message, { identifier });
        throw err;
      }
    }
    if (!refused.length) return;
    const problem = new AcmeProblem('caa', `CAA forbids issuing for ${refused.map((r) => r.identifier!.value).join(', ')}`, { status: 403, subproblems: refused });
    await this.db.query(`UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now() WHERE id = $1 AND status = 'ready'`, [order.id, problem.toDocument()]);
    throw problem;
  }

  // ---- authorizations and challenges ----

  private async ownedAuthz(account: Account, id: string): Promise<Authorization> {
    const rows: Authorization[] = await this.db.query(`SELECT * FROM acme_authorizations WHERE id = $1`, [id]);
    const authz = rows[0];
    if (!authz) throw AcmeProblem.notFound(`authorization ${id}`);
    if (authz.account_id !== account.id) throw new AcmeProblem('unauthorized', `authorization ${id} belongs to another account`);
    if (authz.status === 'pending' && authz.expires_at.getTime() <= Date.now()) {
      await this.db.query(`UPDATE acme_authorizations SET status = 'expired', updated_at = now() WHERE id = $1 AND status = 'pending'`, [id]);
      authz.status = 'expired';
    }
    return authz;
  }

  private challengeBody(ctx: AcmeContext, c: Challenge): Record<string, unknown> {
    return {
      type: c.type, url: this.url(ctx, `challenge/${c.id}`), status: c.status, token: c.token,
      ...(c.validated_at ? { validated: c.validated_at.toISOString() } : {}), ...(c.error ? { error: c.error } : {}),
    };
  }

  private async authzBody(ctx: AcmeContext, authz: Authorization): Promise<Record<string, unknown>> {
    const challenges: Challenge[] = await this.db.query(`SELECT * FROM acme_challenges WHERE authorization_id = $1 ORDER BY type`, [authz.id]);
    return {
      identifier: authz.identifier, status: authz.status, expires: authz.expires_at.toISOString(),
      challenges: challenges.map((c) => this.challengeBody(ctx, c)), ...(authz.wildcard ? { wildcard: true } : {}),
    };
  }

  async authz(ctx: AcmeContext, id: string, body: Buffer): Promise<AcmeAnswer> {
    const auth = await this.authenticate(ctx, body, 'kid');
    let authz = await this.ownedAuthz(auth.account!, id);
    if (auth.payload?.status !== undefined) {
      if (auth.payload.status !== 'deactivated') throw new AcmeProblem('malformed', 'an authorization may only be set to "deactivated"');
      if (authz.status !== 'pending' && authz.status !== 'valid') throw new AcmeProblem('malformed', `an authorization that is ${authz.status} cannot be deactivated`);
      [authz] = (await this.db.query(`UPDATE acme_authorizations SET status = 'deactivated', updated_at = now() WHERE id = $1 RETURNING *`, [id]))[0];
    }
    return { status: 200, body: await this.authzBody(ctx, authz) };
  }

  async challenge(ctx: AcmeContext, id: string, body: Buffer): Promise<AcmeAnswer> {
    const auth = await this.authenticate(ctx, body, 'kid');
    const rows: Challenge[] = await this.db.query(`SELECT * FROM acme_challenges WHERE id = $1`, [id]);
    let challenge = rows[0];
    if (!challenge) throw AcmeProblem.notFound(`challenge ${id}`);
    const authz = await this.ownedAuthz(auth.account!, challenge.authorization_id);
    const headers: Record<string, string> = { Link: `<${this.url(ctx, `authz/${authz.id}`)}>;rel="up"` };
    if (auth.payload !== undefined) {
      // RFC 8555 §7.5.1: the client says it is ready; validation runs on the orchestrator's acme-validation queue.
      if (authz.status !== 'pending') throw new AcmeProblem('malformed', `the authorization is ${authz.status}`);
      if (challenge.status === 'pending') {
        const [updated]: [Challenge[], number] = await this.db.query(
          `UPDATE acme_challenges SET status = 'processing', updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING *`, [id],
        );
        if (updated[0]) {
          challenge = updated[0];
          await this.producer.enqueue('acme.validate', { challengeId: id }, id).catch((err: unknown) =>
            this.logger.warn({ challengeId: id, err: (err as Error).message }, 'queueing the ACME validation failed; the reconciler will'));
        }
      }
    }
    // RFC 8555 §8.2: tell the client when to look again; lego sleeps 5 s before polling when there is none.
    if (challenge.status === 'processing') headers['Retry-After'] = String(this.config.acmeServer.retryAfterSeconds);
    return { status: 200, body: this.challengeBody(ctx, challenge), headers };
  }

  // ---- certificates, revocation, renewal info ----

  /**
   * RFC 8555 §7.4.2: the PEM chain. When the stored chain ends in a self-signed root there is a second chain, the
   * same without the root (what a TLS server should send: clients hold the root), at `cert/{id}/1`; each answer
   * names the other with `Link: rel="alternate"`. A chain that stops below its root has no alternate.
   */
  async certificate(ctx: AcmeContext, versionId: string, body: Buffer, chainIndex = '0'): Promise<AcmeAnswer> {
    const auth = await this.authenticate(ctx, body, 'kid');
    const rows: Array<{ account_id: string; pem_chain: string }> = await this.db.query(
      `SELECT o.account_id, v.pem_chain FROM acme_orders o JOIN certificate_versions v ON v.id = o.certificate_version_id WHERE o.certificate_version_id = $1`, [versionId],
    );
    if (!rows[0]) throw AcmeProblem.notFound(`certificate ${versionId}`);
    if (rows[0].account_id !== auth.account!.id) throw new AcmeProblem('unauthorized', 'the certificate belongs to another account');
    const chains = chainsOf(splitPemChain(rows[0].pem_chain).map((p) => p.trim()));
    const index = /^\d{1,2}$/.test(chainIndex) ? Number(chainIndex) : -1;
    if (!chains[index]) throw AcmeProblem.notFound(`certificate ${versionId} chain ${chainIndex}`);
    // The client has its certificate: a re-issue drill may now revoke the one it replaces.
    await this.db.query(`UPDATE acme_orders SET downloaded_at = now() WHERE certificate_version_id = $1 AND downloaded_at IS NULL`, [versionId]);
    const links = chains.map((_, i) => i).filter((i) => i !== index)
      .map((i) => `<${this.url(ctx, i === 0 ? `cert/${versionId}` : `cert/${versionId}/${i}`)}>;rel="alternate"`);
    return {
      status: 200, body: chains[index]!.join('\n') + '\n', contentType: 'application/pem-certificate-chain',
      ...(links.length ? { headers: { Link: links.join(', ') } } : {}),
    };
  }

  /**
   * RFC 8555 §7.6: revocation signed by the account that ordered the certificate, or by the certificate's own key,
   * like a revocation through the REST API: the serial goes on the issuer's CRL (and its CRL partition) and its
   * OCSP answer turns revoked (another CA is told by the orchestrator), an audit event and a Revocation
   * notification are written. The managed certificate turns Revoked (its open jobs cancelled) when the serial is
   * its current version; an older version of a renewed certificate is revoked alone.
   */
  async revokeCert(ctx: AcmeContext, body: Buffer): Promise<AcmeAnswer> {
    await this.profile(ctx.profileId);
    const auth = await this.authenticate(ctx, body, 'either');
    const raw = auth.payload?.certificate;
    if (typeof raw !== 'string') throw new AcmeProblem('malformed', '"certificate" must be the base64url DER certificate');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(raw, 'base64url'));
    } catch {
      throw new AcmeProblem('malformed', '"certificate" is not a DER certificate');
    }
    const reasonCode = auth.payload?.reason ?? 0;
    const reason = typeof reasonCode === 'number' && reasonCode !== 7 ? reasonName(reasonCode) : undefined;
    if (!reason || reason === 'removeFromCRL' as string) throw new AcmeProblem('badRevocationReason', `revocation reason ${String(reasonCode)} is not allowed`);
    const serial = cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
    const fingerprint = createHash('sha256').update(cert.raw).digest('hex');
    const rows: Array<{
      certificate_id: string; name: string; common_name: string; issuer_id: string; issuer_type: string; status: string; serial_number: string;
      fingerprint_sha256: string; crl_shard: number | null; current: boolean; account_id: string | null;
    }> = await this.db.query(
      `SELECT v.certificate_id, c.name, c.common_name, c.issuer_id, i.type AS issuer_type, c.status, v.serial_number, v.fingerprint_sha256, v.crl_shard,
              v.id = (SELECT v2.id FROM certificate_versions v2 WHERE v2.certificate_id = c.id ORDER BY v2.created_at DESC, v2.id DESC LIMIT 1) AS current,
              COALESCE((SELECT o.account_id FROM acme_orders o WHERE o.certificate_version_id = v.id LIMIT 1),
                       (SELECT o.account_id FROM acme_orders o WHERE o.certificate_id = c.id LIMIT 1)) AS account_id
         FROM certificate_versions v JOIN managed_certificates c ON c.id = v.certificate_id JOIN issuers i ON i.id = c.issuer_id
        WHERE v.serial_number = $1`, [serial],
    );
    const version = rows.find((r) => r.fingerprint_sha256.replace(/:/g, '').toLowerCase() === fingerprint);
    if (!version) throw AcmeProblem.notFound('certificate');
    if (auth.account) {
      if (version.account_id !== auth.account.id) throw new AcmeProblem('unauthorized', 'the account did not order this certificate');
    } else {
      const certKey = publicJwk(cert.publicKey.export({ format: 'jwk' }) as JWK);
      if ((await thumbprint(certKey)) !== (await thumbprint(auth.jwk))) throw new AcmeProblem('unauthorized', 'the request is not signed by the certificate\'s key');
    }
    const capable = CRL_CAPABLE_ISSUER_TYPES.includes(version.issuer_type);
    const actor = auth.account ? `acme:${auth.account.id}` : 'acme:certificate-key';
    const revoked = await this.db.transaction(async (tx) => {
      const [{ now }] = await tx.query(`SELECT now() AS now`);
      const inserted: unknown[] = await tx.query(
        `INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_number, reason, revoked_by, revoked_at, issuer_notified, crl_shard)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (issuer_id, serial_number) DO NOTHING RETURNING id`,
        [`rev-${randomBytes(12).toString('hex')}`, version.certificate_id, version.issuer_id, version.serial_number, reason, actor, now, capable, version.crl_shard],
      );
      if (!inserted.length) return undefined;
      let cancelled: Array<{ id: string }> = [];
      if (version.current) {
        await tx.query(
          `UPDATE managed_certificates SET status = 'Revoked', revoked_at = $2, revocation_reason = $3, updated_at = now() WHERE id = $1 AND status NOT IN ('Revoked', 'Archived')`,
          [version.certificate_id, now, reason],
        );
        [cancelled] = await tx.query(`UPDATE jobs SET status = 'Cancelled', completed_at = now(), last_error = 'certificate revoked' WHERE certificate_id = $1 AND status = ANY($2) RETURNING id`,
          [version.certificate_id, [...OPEN_JOB_STATUSES]]);
      }
      await tx.query(
        `INSERT INTO audit_events (id, actor, actor_type, action, resource_type, resource_id, event_category, details)
         VALUES ($1, $2, 'Anonymous', 'certificate_revoked', 'certificate', $3, 'cert_lifecycle', $4)`,
        [newId('audit'), actor, version.certificate_id, {
          reason, via: 'acme', signed_by: auth.account ? 'account' : 'certificate_key', ...(auth.account ? { acme_account: auth.account.id } : {}),
          previous_status: version.status, serials: [version.serial_number], current_version: version.current, cancelled_job_ids: cancelled.map((j) => j.id),
        }],
      );
      const notificationIds = await recordNotifications(tx, {
        type: 'Revocation', certificate_id: version.certificate_id,
        message: `certificate ${version.name} (${version.common_name}) was revoked through ACME: ${reason}${version.current ? '' : ` (serial ${version.serial_number}, not its current version)`}`,
      });
      return { notificationIds };
    });
    if (!revoked) throw new AcmeProblem('alreadyRevoked', 'the certificate is already revoked');
    await enqueueNotifications(this.producer, revoked.notificationIds).catch((err: unknown) =>
      this.logger.warn({ err: (err as Error).message }, 'queueing the revocation notification failed; the notifier sweep sends it'));
    if (capable) {
      await this.ocsp.revoked(version.issuer_id, [version.serial_number]);
      for (const shard of [undefined, ...(version.crl_shard === null ? [] : [version.crl_shard])]) {
        await this.crl.generate(version.issuer_id, shard).catch((err: unknown) => this.logger.warn({ err: (err as Error).message, shard }, 'CRL rebuild after ACME revocation failed'));
      }
    } else {
      // Another CA: the orchestrator tells it, retried until it answers (as a REST revocation).
      await this.producer.queue(Queue.Issuance).add('certificate.revoke', { certificateId: version.certificate_id, correlationId: `acme-revoke-${version.serial_number}` },
        { ...DEFAULT_JOB_OPTIONS[Queue.Issuance], ...REVOKE_AT_CA_JOB_OPTIONS, jobId: queueJobId('certificate.revoke', version.certificate_id) });
    }
    return { status: 200 };
  }

  /**
   * RFC 9773: the renewal window of a certificate named by base64url(AKI keyIdentifier).base64url(serial): the
   * middle third of its last third of lifetime; "now" once it is revoked; and a window already open once a re-issue
   * drill (or a "renew early") of its issuer marked the version (`renewal_requested_at`).
   */
  async renewalInfo(ctx: AcmeContext, certId: string): Promise<AcmeAnswer> {
    await this.profile(ctx.profileId);
    const version = await this.versionByCertId(certId);
    if (!version) throw AcmeProblem.notFound('certificate');
    const now = Date.now();
    let start: Date;
    let end: Date;
    let retryAfter = 21600;
    if (version.revoked || version.status === 'Revoked') {
      // Renew at once: a window already open.
      start = new Date(now - 3_600_000);
      end = new Date(now);
    } else if (version.renewal_requested_at) {
      // Open from the request for an hour (and at least a minute ahead, so start <= now < end holds whenever the
      // client asks): a client past a window's start renews at once (RFC 9773 §4.2).
      start = new Date(Math.min(version.renewal_requested_at.getTime(), now));
      end = new Date(Math.max(version.renewal_requested_at.getTime() + 3_600_000, now + 60_000));
      retryAfter = 300;
    } else {
      const nb = version.not_before.getTime();
      const life = version.not_after.getTime() - nb;
      start = new Date(nb + (life * 2) / 3);
      end = new Date(nb + (life * 5) / 6);
    }
    const explanation = version.renewal_requested_at && this.config.acmeServer.renewEarlyExplanationUrl
      ? { explanationURL: this.config.acmeServer.renewEarlyExplanationUrl } : {};
    return {
      status: 200, body: { suggestedWindow: { start: start.toISOString(), end: end.toISOString() }, ...explanation },
      headers: { 'Retry-After': String(retryAfter) },
    };
  }

  /** The certificate version an ARI certificate identifier names (AKI and serial), or undefined. */
  private async versionByCertId(certId: string): Promise<{
    id: string; certificate_id: string; pem_chain: string; not_before: Date; not_after: Date; revoked: boolean; status: string;
    renewal_requested_at: Date | null; account_id: string | null; sans: string[];
  } | undefined> {
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(certId);
    if (!match) throw new AcmeProblem('malformed', 'the certificate identifier must be base64url(AKI).base64url(serial)');
    const aki = Buffer.from(match[1]!, 'base64url').toString('hex');
    const serial = Buffer.from(match[2]!, 'base64url').toString('hex').replace(/^(00)+(?=.)/, '');
    const rows: Array<{ id: string; certificate_id: string; pem_chain: string; not_before: Date; not_after: Date; revoked: boolean; status: string; renewal_requested_at: Date | null; account_id: string | null; sans: string[] }> = await this.db.query(
      `SELECT v.id, v.certificate_id, v.pem_chain, v.not_before, v.not_after, c.status, v.renewal_requested_at, c.sans,
              EXISTS (SELECT 1 FROM certificate_revocations r WHERE r.issuer_id = c.issuer_id AND r.serial_number = v.serial_number) AS revoked,
              (SELECT o.account_id FROM acme_orders o WHERE o.certificate_id = c.id LIMIT 1) AS account_id
         FROM certificate_versions v JOIN managed_certificates c ON c.id = v.certificate_id WHERE v.serial_number = $1`, [serial],
    );
    return rows.find((r) => akiOf(splitPemChain(r.pem_chain)[0]!) === aki);
  }

  /**
   * RFC 9773 §5: `replaces` names a certificate of this account, sharing an identifier with the order, that no other
   * live order already replaces (409 alreadyReplaced).
   */
  private async replacedVersion(account: Account, certId: string, names: string[]): Promise<string> {
    const version = await this.versionByCertId(certId);
    if (!version) throw new AcmeProblem('malformed', `"replaces" names no certificate this server issued`);
    if (version.account_id !== account.id) throw new AcmeProblem('unauthorized', '"replaces" names a certificate another account ordered');
    const old = new Set(version.sans.map((n) => n.toLowerCase()));
    if (!names.some((n) => old.has(n.toLowerCase()))) throw new AcmeProblem('malformed', '"replaces" names a certificate that shares no identifier with this order');
    const [taken]: Array<{ id: string }> = await this.db.query(
      `SELECT id FROM acme_orders WHERE replaces_version_id = $1 AND status <> 'invalid' AND (status = 'valid' OR expires_at > now()) LIMIT 1`, [version.id],
    );
    if (taken) throw new AcmeProblem('alreadyReplaced', `the certificate is already replaced by order ${taken.id}`, { status: 409 });
    return version.id;
  }

  // ---- rate limits ----

  /** A fixed one-hour window per key in Redis, shared by every replica; past it, `rateLimited` with Retry-After. */
  private async rateLimit(kind: string, who: string, limit: number, what: string): Promise<void> {
    if (limit <= 0) return;
    const hour = Math.floor(Date.now() / 3_600_000);
    const key = `${this.rlPrefix}:${kind}:${who}:${hour}`;
    const [[, count]] = (await this.redis.multi().incr(key).pexpire(key, 3_600_000).exec()) as [[Error | null, number]];
    if (count > limit) {
      const retry = Math.ceil(((hour + 1) * 3_600_000 - Date.now()) / 1000);
      throw new AcmeProblem('rateLimited', `too many ${what}: at most ${limit} an hour`).withHeader('Retry-After', String(retry));
    }
  }
}

/** The extended key usage OIDs a CSR asks for (its extensionRequest), none when it asks for none. */
function ekuOidsOf(csrPem: string): string[] {
  const csr = new x509.Pkcs10CertificateRequest(csrPem.trim());
  const ext = csr.extensions.find((e) => e.type === '2.5.29.37');
  return ext ? new x509.ExtendedKeyUsageExtension(ext.rawData).usages.map(String) : [];
}

/** The chains a certificate is served with: as stored, and without its trust anchor when it ends in one (RFC 8555 §7.4.2 alternates). */
function chainsOf(pems: string[]): string[][] {
  if (pems.length < 2) return [pems];
  const last = new X509Certificate(pems[pems.length - 1]!);
  const selfSigned = last.checkIssued(last) && last.verify(last.publicKey);
  return selfSigned ? [pems, pems.slice(0, -1)] : [pems];
}

function akiOf(pem: string): string | undefined {
  return new x509.X509Certificate(pem).getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
}
