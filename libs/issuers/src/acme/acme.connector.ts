import { generateKeyPairSync } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import { rootCertificates } from 'node:tls';
import type * as acme from 'acme-client';
import { Logger } from '@nestjs/common';
import { guardAgent } from '@certctl/config';
import { decryptSecret, encryptSecret, ParsedCsr, sanTypeOf, splitPemChain, x509 } from '@certctl/pki';
// The CAA checker is the ACME server's (libs/acme-server validation); the orchestrator applies it to the CAs it orders from.
import { CaaLookupError, checkCaa } from '../../../acme-server/src/validation/caa';
import { IssuedCertificate, IssueRequest, IssuerConnector, IssuerError, RenewalInfo } from '../issuer-connector';
import { profileViolation } from '../profile';
import type { AcmeAccountStore } from './acme-account-store';
import { ariCertId, parseRenewalInfo, parseRetryAfter } from './acme-ari';
import type { AcmeChallengeStore } from './acme-challenge-store';
import { runDnsHook } from './acme-dns-hooks';
import { AcmeProblem, classifyAcmeFailure, problemType } from './acme-errors';

/** An ACME issuer's config (validated by issuer-config.ts), secrets decrypted. */
export interface AcmeConfig {
  directory_url: string;
  email?: string;
  eab_kid?: string;
  /** base64url HMAC key of the external account binding. Secret: never logged. */
  eab_hmac_key?: string;
  challenge_type?: 'http-01' | 'dns-01';
  http_port?: number;
  dns_present_script?: string;
  dns_cleanup_script?: string;
  /** Seconds to wait after the present hooks before asking the CA to validate. */
  dns_propagation_wait?: number;
  /** PEM certificates trusted (in addition to the system roots) for the ACME server's HTTPS. */
  ca_bundle_pem?: string;
  /** Ask the CA for renewal windows (RFC 9773) when its directory offers renewalInfo; default true. */
  ari_enabled?: boolean;
  /**
   * The issuer domain names this CA recognises in CAA records (RFC 8659), e.g. `letsencrypt.org`; default: the
   * directory's `meta.caaIdentities`. With neither, CAA is not checked before ordering (the CA still checks it).
   */
  caa_identities?: string[];
  /** Check CAA for every name before ordering (default true). */
  caa_check?: boolean;
}

export interface AcmeDeps {
  accounts: AcmeAccountStore;
  challenges: AcmeChallengeStore;
  /** CERTCTL_CONFIG_ENCRYPTION_KEY: the account key is kept encrypted with it. */
  encryptionKey: string | undefined;
  /** http-01 port of issuers without http_port (CERTCTL_ACME_HTTP_PORT, else 80). */
  defaultHttpPort: number;
  /** Opens the http-01 responder on a port before an order needs it (the orchestrator); absent in the api. */
  ensureResponder?: (port: number) => Promise<void>;
  timing?: Partial<AcmeTiming>;
  /** `host:port` of the DNS server CAA is asked from (CERTCTL_CAA_RESOLVER); the system's resolvers when absent. */
  caaResolver?: string;
}

export interface AcmeTiming {
  /** Per HTTP request to the CA. */
  requestTimeoutMs: number;
  /** How long the CA may take to validate all authorizations. */
  validationTimeoutMs: number;
  /** First poll interval while waiting for the CA; doubles up to 5 s. */
  pollIntervalMs: number;
  /** Per dns-01 hook run. */
  dnsHookTimeoutMs: number;
}

const DEFAULT_TIMING: AcmeTiming = { requestTimeoutMs: 30_000, validationTimeoutMs: 180_000, pollIntervalMs: 500, dnsHookTimeoutMs: 120_000 };

export interface AcmeIdentifier {
  type: string;
  value: string;
}
/**
 * acme-client (with axios and node-forge, about 28 MiB of RSS) is loaded by the first ACME request, not by every
 * app that links the issuers (the api only validates ACME issuer configs), and configured as it loads.
 */
let acmeLibrary: typeof import('acme-client') | undefined;
function acmeClientLibrary(): typeof import('acme-client') {
  if (!acmeLibrary) {
    acmeLibrary = require('acme-client') as typeof import('acme-client');
    withoutLibraryRetries(acmeLibrary);
  }
  return acmeLibrary;
}

type AcmeChallenge = Parameters<acme.Client['completeChallenge']>[0];
type OrderRequest = Parameters<acme.Client['createOrder']>[0];

interface Account {
  keyPem: string;
  url: string | null;
}

/** An HTTP agent that remembers the last socket error (acme-client hides why a request got no response). */
function trackingAgent<T extends http.Agent>(agent: T): T & { lastError?: NodeJS.ErrnoException } {
  const tracked = agent as T & { lastError?: NodeJS.ErrnoException; createConnection: http.Agent['createConnection'] };
  const create = tracked.createConnection.bind(tracked);
  tracked.createConnection = (options, callback) => {
    // An error handed to the callback (the outbound policy's refusal) is remembered like a socket error.
    const socket = create(options, (err, stream) => {
      if (err) tracked.lastError = err;
      callback?.(err, stream);
    }) as Duplex | null | undefined;
    socket?.once('error', (e: NodeJS.ErrnoException) => (tracked.lastError = e));
    return socket;
  };
  return tracked;
}

/**
 * The transport of one operation: its own agents, and a record of the CA's last error answer and the last
 * socket error, so failures can be classified (acme-client itself keeps only the problem's detail text).
 */
class Session {
  problem: AcmeProblem | undefined;
  // Every request (the directory, and each URL the CA answers with) is dialled under the outbound policy.
  private readonly httpAgent = trackingAgent(guardAgent(new http.Agent({ keepAlive: true })));
  private readonly httpsAgent: https.Agent & { lastError?: NodeJS.ErrnoException };

  constructor(ca: string[] | undefined, private readonly timeoutMs: number) {
    this.httpsAgent = trackingAgent(guardAgent(new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) })));
  }

  /** An acme-client Client whose requests go through this session. */
  client(opts: acme.ClientOptions): acme.Client {
    const client = new (acmeClientLibrary().Client)({ backoffAttempts: 30, backoffMin: 250, backoffMax: 3000, ...opts });
    type Request = (url: string, method: string, opts?: Record<string, unknown>) => Promise<{ status: number; data: unknown }>;
    const transport = (client as unknown as { http: { request: Request } }).http;
    const send = transport.request.bind(transport);
    transport.request = async (url, method, requestOpts = {}) => this.track(() => send(url, method, { ...requestOpts, ...this.requestOptions() }));
    return client;
  }

  /** A plain GET through this session (directory, renewalInfo). */
  get(url: string): Promise<{ status: number; data: unknown; headers: Record<string, unknown> }> {
    return this.track(() => acmeClientLibrary().axios.get(url, { ...this.requestOptions(), validateStatus: () => true }));
  }

  private requestOptions() {
    return { httpAgent: this.httpAgent, httpsAgent: this.httpsAgent, timeout: this.timeoutMs };
  }

  private async track<R extends { status: number; data: unknown }>(send: () => Promise<R>): Promise<R> {
    this.httpAgent.lastError = this.httpsAgent.lastError = undefined;
    this.problem = undefined;
    const response = await send();
    const body = response.data as { type?: unknown; detail?: unknown } | null;
    if (response.status >= 400) {
      this.problem = {
        status: response.status,
        type: typeof body?.type === 'string' ? body.type : undefined,
        detail: typeof body?.detail === 'string' ? body.detail : undefined,
      };
    }
    return response;
  }

  get socketError(): NodeJS.ErrnoException | undefined {
    return this.httpsAgent.lastError ?? this.httpAgent.lastError;
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * acme-client retries unanswered requests, 5xx and 429 itself (up to 5 times, sleeping up to a Retry-After of
 * any length) inside the job. Retrying is the issuance job's business (attempts, backoff, recorded in
 * Postgres), so the library's own retries are switched off; its bad-nonce retries stay.
 */
function withoutLibraryRetries(library: typeof import('acme-client')): void {
  const settings = (library.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings;
  settings.retryMaxAttempts = 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * ACME issuer (RFC 8555) on acme-client: one account per issuer kept in Postgres (key encrypted) and reused by
 * every process; orders for the CSR's names; http-01 answered from Redis by any replica's responder, or
 * dns-01 through the operator's hook scripts; the CSR from our pipeline is finalized as is (no key made here).
 */
export class AcmeConnector implements IssuerConnector {
  private readonly log = new Logger('AcmeConnector');
  private readonly timing: AcmeTiming;
  private readonly ca: string[] | undefined;
  private account: Promise<Account> | undefined;
  private directory: { value: Promise<Record<string, unknown>>; at: number } | undefined;

  constructor(
    private readonly issuerId: string,
    private readonly config: AcmeConfig,
    private readonly deps: AcmeDeps,
  ) {
    this.timing = { ...DEFAULT_TIMING, ...deps.timing };
    this.ca = config.ca_bundle_pem ? [...rootCertificates, ...splitPemChain(config.ca_bundle_pem)] : undefined;
  }

  private get challengeType(): 'http-01' | 'dns-01' {
    return this.config.challenge_type ?? 'http-01';
  }

  async issue(request: IssueRequest): Promise<IssuedCertificate> {
    const violation = profileViolation(request.csr, request.profile);
    if (violation) throw new IssuerError('permanent', violation);
    const identifiers = identifiersOf(request.csr);

    return this.withSession('registering the account', async (session, step) => {
      let client = await this.registeredClient(session);
      step('checking CAA');
      await this.checkCaaBeforeOrdering(identifiers, client.getAccountUrl());
      step('creating the order');
      const replaces = await this.replacesValue(request.replacesCertificatePem);
      let order: acme.Order;
      try {
        order = await this.createOrder(client, session, identifiers, replaces);
      } catch (err) {
        client = await this.reRegisterIfForgotten(session, err);
        order = await this.createOrder(client, session, identifiers, replaces);
      }
      step('validating the authorizations');
      await this.authorize(client, order);
      step('finalizing the order');
      order = await client.finalizeOrder(order, request.csr.pem);
      step('downloading the certificate');
      const [leafPem, ...chainPems] = splitPemChain(await client.getCertificate(order));
      if (!leafPem) throw new IssuerError('permanent', 'the CA returned no certificate');
      checkLeaf(leafPem, request.csr);
      this.log.log(`issuer ${this.issuerId}: job ${request.jobId} issued by ACME for ${identifiers.map((i) => i.value).join(', ')}`);
      return { leafPem, chainPems };
    });
  }

  /** RFC 8555 §7.6 revokeCert, signed with the account key. A certificate the CA already revoked counts as done. */
  async revoke(certificatePem: string, reasonCode: number): Promise<void> {
    await this.withSession('registering the account', async (session, step) => {
      const client = await this.registeredClient(session);
      step('revoking the certificate');
      try {
        await client.revokeCertificate(certificatePem, { reason: reasonCode });
      } catch (err) {
        if (problemType(session.problem) === 'alreadyRevoked' || /already revoked/i.test((err as Error).message)) return;
        throw err;
      }
      this.log.log(`issuer ${this.issuerId}: certificate revoked at the CA (reason ${reasonCode})`);
    });
  }

  async test(): Promise<string> {
    const directory = await this.fetchDirectory(true);
    const url = await this.withSession('checking the account', async (session) => {
      let client = await this.registeredClient(session);
      let state: Awaited<ReturnType<acme.Client['updateAccount']>>;
      try {
        state = await client.updateAccount({});
      } catch (err) {
        client = await this.reRegisterIfForgotten(session, err);
        state = await client.updateAccount({});
      }
      if (state.status !== 'valid') throw new IssuerError('permanent', `the ACME account is ${state.status}`);
      return client.getAccountUrl();
    });
    const ari = typeof directory.renewalInfo === 'string' && this.config.ari_enabled !== false;
    return `ACME directory ${this.config.directory_url} reachable; account ${url} valid; ${this.challengeType}; ARI ${ari ? 'offered' : 'not offered'}`;
  }

  /**
   * The CA's suggested renewal window for a certificate it issued (RFC 9773), or null when the CA's directory
   * has no renewalInfo or ari_enabled is false. The request is an unauthenticated GET.
   */
  async renewalInfo(certificatePem: string): Promise<RenewalInfo | null> {
    if (this.config.ari_enabled === false) return null;
    const base = (await this.fetchDirectory()).renewalInfo;
    if (typeof base !== 'string') return null;
    const url = `${base.replace(/\/$/, '')}/${ariCertId(certificatePem)}`;
    let retryAfter: Date | undefined;
    try {
      return await this.withSession('fetching renewal information', async (session) => {
        const response = await session.get(url);
        const header = response.headers['retry-after'] as string | undefined;
        if (response.status >= 400) {
          retryAfter = parseRetryAfter(header);
          throw new Error(`renewalInfo answered HTTP ${response.status}`);
        }
        return parseRenewalInfo(response.data, header);
      });
    } catch (err) {
      // A busy CA (429/503) says when to come back; the caller must not ask before then (see retryAfterOf).
      throw retryAfter ? Object.assign(err as Error, { retryAfter }) : err;
    }
  }

  /**
   * The RFC 9773 §5 `replaces` value for an order that renews `certificatePem`: its ARI identifier, when the CA
   * offers renewalInfo (a CA without ARI may refuse the unknown field) and the certificate has one.
   */
  private async replacesValue(certificatePem: string | undefined): Promise<string | undefined> {
    if (!certificatePem || this.config.ari_enabled === false) return undefined;
    if (typeof (await this.fetchDirectory()).renewalInfo !== 'string') return undefined;
    try {
      return ariCertId(certificatePem);
    } catch {
      return undefined; // no authority key identifier: order without `replaces`
    }
  }

  /**
   * Creates the order, naming the certificate it replaces when there is one. A CA that answers alreadyReplaced
   * (another order already replaced it, e.g. a retried job) gets the same order without `replaces`: the renewal
   * must still happen.
   */
  private async createOrder(client: acme.Client, session: Session, identifiers: AcmeIdentifier[], replaces: string | undefined): Promise<acme.Order> {
    if (!replaces) return client.createOrder({ identifiers });
    try {
      // acme-client sends the payload as given; its OrderCreateRequest type predates RFC 9773's `replaces`.
      return await client.createOrder({ identifiers, replaces } as OrderRequest);
    } catch (err) {
      if (problemType(session.problem) !== 'alreadyReplaced') throw err;
      this.log.warn(`issuer ${this.issuerId}: the CA says the certificate ${replaces} was already replaced; ordering without replaces`);
      return client.createOrder({ identifiers });
    }
  }

  // ---- the order ----

  /**
   * RFC 8659 before ordering: every DNS name's CAA record set must let this CA (its caa_identities, else the
   * directory's meta.caaIdentities) issue, for this account (RFC 8657 accounturi) and challenge type
   * (validationmethods). A refusal is permanent and names the record; a failed lookup is transient.
   */
  private async checkCaaBeforeOrdering(identifiers: AcmeIdentifier[], accountUri: string): Promise<void> {
    if (this.config.caa_check === false) return;
    const identities = this.config.caa_identities ?? caaIdentitiesOf(await this.fetchDirectory());
    if (!identities.length) {
      this.log.debug(`issuer ${this.issuerId}: no caa_identities and none in the directory's meta; CAA left to the CA`);
      return;
    }
    for (const identifier of identifiers) {
      if (identifier.type !== 'dns') continue; // IP addresses have no CAA
      let result: Awaited<ReturnType<typeof checkCaa>>;
      try {
        result = await checkCaa({ name: identifier.value, caaIdentities: identities, accountUri, validationMethod: this.challengeType, resolver: this.deps.caaResolver });
      } catch (err) {
        if (err instanceof CaaLookupError) throw new IssuerError('transient', `${err.message}; not ordering until CAA can be read`, { cause: err });
        throw err;
      }
      if (!result.allowed) {
        throw new IssuerError('permanent', `CAA forbids ${identities.join(', ')} to issue for ${identifier.value}: ${result.record} (caa)`);
      }
    }
  }

  /**
   * When the CA no longer knows the stored account (a test CA restarted, an account removed out of band),
   * registers the same key again and returns a client on the new account; rethrows anything else.
   */
  private async reRegisterIfForgotten(session: Session, err: unknown): Promise<acme.Client> {
    if (problemType(session.problem) !== 'accountDoesNotExist') throw err;
    this.log.warn(`issuer ${this.issuerId}: the CA no longer knows the stored ACME account; registering it again`);
    return this.registeredClient(session, true);
  }

  /** Proves control of every pending authorization with the configured challenge, then waits for the CA. */
  private async authorize(client: acme.Client, order: acme.Order): Promise<void> {
    const authorizations = await client.getAuthorizations(order);
    const cleanups: Array<() => Promise<void>> = [];
    try {
      const started: AcmeChallenge[] = [];
      for (const authz of authorizations) {
        if (authz.status === 'valid') continue; // reused from an earlier order
        const name = authz.identifier.value;
        if (authz.status !== 'pending') throw new IssuerError('permanent', `the CA's authorization for ${name} is ${authz.status}`);
        const challenge = authz.challenges.find((c) => c.type === this.challengeType);
        if (!challenge) {
          const offered = authz.challenges.map((c) => c.type).join(', ');
          throw new IssuerError('permanent', `the CA offers no ${this.challengeType} challenge for ${authz.wildcard ? '*.' : ''}${name} (offered: ${offered})`);
        }
        const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
        if (this.challengeType === 'http-01') {
          await this.deps.ensureResponder?.(this.config.http_port ?? this.deps.defaultHttpPort);
          cleanups.push(() => this.deps.challenges.remove(challenge.token));
          await this.deps.challenges.put(challenge.token, keyAuthorization);
        } else {
          const hook = { domain: name, token: challenge.token, value: keyAuthorization };
          // Cleanup is registered before present runs, so it runs even when present fails halfway.
          cleanups.push(() => runDnsHook(this.config.dns_cleanup_script!, hook, this.timing.dnsHookTimeoutMs));
          await runDnsHook(this.config.dns_present_script!, hook, this.timing.dnsHookTimeoutMs);
        }
        started.push(challenge);
      }
      if (!started.length) return;
      if (this.challengeType === 'dns-01' && this.config.dns_propagation_wait) await sleep(this.config.dns_propagation_wait * 1000);
      for (const challenge of started) await client.completeChallenge(challenge);
      await this.waitForAuthorizations(client, order);
    } finally {
      for (const cleanup of cleanups) {
        await cleanup().catch((err: unknown) => this.log.warn(`issuer ${this.issuerId}: challenge cleanup failed: ${(err as Error).message}`));
      }
    }
  }

  /** Polls the order's authorizations until all are valid; an invalid one fails with the CA's reason. */
  private async waitForAuthorizations(client: acme.Client, order: acme.Order): Promise<void> {
    const deadline = Date.now() + this.timing.validationTimeoutMs;
    let interval = this.timing.pollIntervalMs;
    for (;;) {
      const authorizations = await client.getAuthorizations(order);
      const failed = authorizations.find((a) => a.status !== 'valid' && a.status !== 'pending');
      if (failed) {
        const challenge = failed.challenges.find((c) => c.type === this.challengeType);
        const error = challenge?.error as { type?: string; detail?: string } | undefined;
        const type = error?.type ? ` (${problemType({ status: 0, type: error.type })})` : '';
        throw new IssuerError('permanent', `the CA could not validate ${failed.identifier.value} with ${this.challengeType}: ${error?.detail ?? failed.status}${type}`);
      }
      if (authorizations.every((a) => a.status === 'valid')) return;
      if (Date.now() > deadline) {
        const waiting = authorizations.filter((a) => a.status !== 'valid').map((a) => a.identifier.value).join(', ');
        throw new IssuerError('transient', `the CA had not validated ${waiting} after ${Math.round(this.timing.validationTimeoutMs / 1000)} s`);
      }
      await sleep(interval);
      interval = Math.min(interval * 2, 5000);
    }
  }

  // ---- account, directory, sessions ----

  /** Runs one operation with its own transport; any failure comes out as an IssuerError naming the step. */
  private async withSession<T>(firstStep: string, fn: (session: Session, step: (s: string) => void) => Promise<T>): Promise<T> {
    let current = firstStep;
    const session = new Session(this.ca, this.timing.requestTimeoutMs);
    try {
      return await fn(session, (s) => (current = s));
    } catch (err) {
      throw classifyAcmeFailure(err, { step: current, directoryUrl: this.config.directory_url, problem: session.problem, socketError: session.socketError });
    } finally {
      session.close();
    }
  }

  /**
   * A client on the issuer's account: the key comes from Postgres (or is made and stored there once); the
   * account is registered with the CA (with EAB when configured) the first time, and its URL stored.
   */
  private async registeredClient(session: Session, reRegister = false): Promise<acme.Client> {
    this.account ??= this.loadAccount().catch((err: unknown) => {
      this.account = undefined;
      throw err;
    });
    const account = await this.account;
    if (account.url && !reRegister) return session.client({ directoryUrl: this.config.directory_url, accountKey: account.keyPem, accountUrl: account.url });

    const eab = this.config.eab_kid && this.config.eab_hmac_key ? { kid: this.config.eab_kid, hmacKey: this.config.eab_hmac_key } : undefined;
    const client = session.client({ directoryUrl: this.config.directory_url, accountKey: account.keyPem, ...(eab ? { externalAccountBinding: eab } : {}) });
    await client.createAccount({ termsOfServiceAgreed: true, ...(this.config.email ? { contact: [`mailto:${this.config.email}`] } : {}) });
    const url = client.getAccountUrl();
    await this.deps.accounts.saveAccountUrl(this.issuerId, this.config.directory_url, url);
    this.account = Promise.resolve({ keyPem: account.keyPem, url });
    this.log.log(`issuer ${this.issuerId}: ACME account registered at ${url}${eab ? ' with external account binding' : ''}`);
    return client;
  }

  private async loadAccount(): Promise<Account> {
    const key = this.deps.encryptionKey;
    if (!key) throw new IssuerError('permanent', 'CERTCTL_CONFIG_ENCRYPTION_KEY is not set: the ACME account key cannot be stored');
    let stored = await this.deps.accounts.load(this.issuerId);
    if (!stored || stored.directory_url !== this.config.directory_url) {
      stored = await this.deps.accounts.saveKeyIfAbsent(this.issuerId, this.config.directory_url, encryptSecret(newAccountKeyPem(), key));
    }
    try {
      return { keyPem: decryptSecret(stored.encrypted_account_key, key).toString(), url: stored.account_url };
    } catch {
      throw new IssuerError('permanent', 'the stored ACME account key cannot be decrypted (was CERTCTL_CONFIG_ENCRYPTION_KEY changed?)');
    }
  }

  /** The CA's directory, cached for an hour (`fresh` reads it again). */
  private fetchDirectory(fresh = false): Promise<Record<string, unknown>> {
    if (fresh || !this.directory || Date.now() - this.directory.at > 3_600_000) {
      const url = this.config.directory_url;
      const value = this.withSession('fetching the directory', async (session) => {
        const response = await session.get(url);
        if (response.status >= 400) throw new Error(`the directory answered HTTP ${response.status}`);
        const body = response.data as Record<string, unknown> | null;
        if (!body || typeof body !== 'object' || typeof body.newOrder !== 'string' || typeof body.newAccount !== 'string') {
          throw new IssuerError('permanent', `${url} is not an ACME directory (no newAccount/newOrder)`);
        }
        return body;
      });
      const entry = { value, at: Date.now() };
      this.directory = entry;
      value.catch(() => {
        if (this.directory === entry) this.directory = undefined;
      });
    }
    return this.directory.value;
  }
}

/** The CA's CAA identities from its directory (RFC 8555 §7.1.1 meta.caaIdentities); empty when it names none. */
export function caaIdentitiesOf(directory: Record<string, unknown>): string[] {
  const meta = directory.meta as { caaIdentities?: unknown } | undefined;
  const ids = meta?.caaIdentities;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string' && id.length > 0) : [];
}

/** ECDSA P-256 account key (ES256), PKCS#8 PEM. */
function newAccountKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** ACME identifiers for the CSR's names: DNS names and IP addresses; other SAN types cannot be validated. */
export function identifiersOf(csr: Pick<ParsedCsr, 'commonName' | 'sans'>): AcmeIdentifier[] {
  const names = [...new Set([csr.commonName, ...csr.sans].filter(Boolean).map((n) => n.toLowerCase()))];
  if (!names.length) throw new IssuerError('permanent', 'the CSR names nothing to certify');
  return names.map((value) => {
    const type = sanTypeOf(value);
    if (type === 'dns') return { type: 'dns', value };
    if (type === 'ip') return { type: 'ip', value };
    throw new IssuerError('permanent', `ACME cannot certify ${value}: only DNS names and IP addresses can be validated`);
  });
}

/** The CA must have certified the CSR's key; anything else is refused rather than stored. */
function checkLeaf(leafPem: string, csr: ParsedCsr): void {
  let leaf: x509.X509Certificate;
  try {
    leaf = new x509.X509Certificate(leafPem.trim());
  } catch {
    throw new IssuerError('permanent', 'the CA returned a certificate that cannot be parsed');
  }
  if (!Buffer.from(leaf.publicKey.rawData).equals(Buffer.from(csr.publicKey.rawData))) {
    throw new IssuerError('permanent', `the CA returned a certificate (serial ${leaf.serialNumber}) for another key than the CSR's`);
  }
}
