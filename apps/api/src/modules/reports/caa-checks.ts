import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { CaaLookupError, checkCaa } from '../../../../../libs/acme-server/src/validation/caa';

/** Whether CAA (RFC 8659) lets the certificate's issuer issue for each of its names. */
export interface CaaVerdict {
  /**
   * allowed / forbidden: every name checked (forbidden names the record); unknown: DNS did not answer;
   * not_checked: the issuer's CAA identities are not known (or its caa_check is off); not_applicable: a private CA.
   */
  status: 'allowed' | 'forbidden' | 'unknown' | 'not_checked' | 'not_applicable';
  detail?: string;
}

export interface CaaQuestion {
  names: string[];
  issuerId: string;
  issuerType: string;
}

/** CAs outside the Web PKI: CAA does not govern what they issue. */
const PRIVATE_CA_TYPES = new Set(['GenericCA', 'local', 'StepCA', 'OpenSSL', 'Vault', 'GoogleCAS', 'AWSACMPCA', 'EJBCA']);
/** The CAA issuer domains of public CAs, when the issuer's config names none. */
const CAA_IDENTITIES_BY_TYPE: Readonly<Record<string, string[]>> = {
  DigiCert: ['digicert.com'], Sectigo: ['sectigo.com'], GlobalSign: ['globalsign.com'], Entrust: ['entrust.net'],
};
/** ACME directories of well-known public CAs (by host suffix) and their CAA identities. */
const CAA_IDENTITIES_BY_ACME_HOST: ReadonlyArray<[string, string[]]> = [
  ['letsencrypt.org', ['letsencrypt.org']], ['zerossl.com', ['sectigo.com']], ['pki.goog', ['pki.goog']],
  ['buypass.com', ['buypass.com']], ['ssl.com', ['ssl.com']], ['digicert.com', ['digicert.com']],
];
/** A failed lookup is remembered for less time than an answer, so DNS coming back is seen soon. */
const FAILURE_TTL_MS = 30_000;
/** After this many failed lookups in a row, DNS is taken as unreachable for FAILURE_TTL_MS: the rest are `unknown` at once. */
const BREAKER_THRESHOLD = 3;
const LOOKUP_TIMEOUT_MS = 3000;
const PARALLEL_LOOKUPS = 16;

type NameVerdict = { status: 'allowed' } | { status: 'forbidden'; record: string } | { status: 'unknown'; reason: string };

/**
 * CAA verdicts of the readiness report, through libs/acme-server's checkCaa (the same check the orchestrator makes
 * before ordering) and CERTCTL_CAA_RESOLVER. Answers are cached per name and CA for CERTCTL_CAA_CACHE_TTL, shared
 * by concurrent reports, at most PARALLEL_LOOKUPS at a time, and a DNS that stops answering trips a short breaker,
 * so a report of thousands of certificates neither hammers DNS nor waits on it name by name.
 */
@Injectable()
export class CaaChecks {
  private readonly cache = new Map<string, { expires: number; verdict: Promise<NameVerdict> }>();
  private failuresInARow = 0;
  private dnsDownUntil = 0;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(@InjectDataSource() private readonly dataSource: DataSource, @Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async verdicts(questions: CaaQuestion[]): Promise<CaaVerdict[]> {
    const issuerIds = [...new Set(questions.map((q) => q.issuerId))];
    const issuers: Array<{ id: string; type: string; config: Record<string, unknown> }> = issuerIds.length
      ? await this.dataSource.query('SELECT id, type, config FROM issuers WHERE id = ANY($1::text[])', [issuerIds])
      : [];
    const identitiesOf = new Map(issuers.map((i) => [i.id, this.identities(i)]));
    return Promise.all(questions.map(async (q) => {
      const identities = identitiesOf.get(q.issuerId) ?? { verdict: { status: 'not_checked', detail: 'issuer not found' } as CaaVerdict };
      if ('verdict' in identities) return identities.verdict;
      const names = [...new Set(q.names.map((n) => n.trim().toLowerCase()).filter(Boolean))];
      const verdicts = await Promise.all(names.map(async (name) => [name, await this.nameVerdict(name, identities.ids)] as const));
      const forbidden = verdicts.find(([, v]) => v.status === 'forbidden');
      if (forbidden) return { status: 'forbidden', detail: `${forbidden[0]}: ${(forbidden[1] as { record: string }).record}` };
      const unknown = verdicts.find(([, v]) => v.status === 'unknown');
      if (unknown) return { status: 'unknown', detail: `${unknown[0]}: ${(unknown[1] as { reason: string }).reason}` };
      return { status: 'allowed', detail: `CAA allows ${identities.ids.join(', ')}` };
    }));
  }

  /** The CAA identities the issuer's CA answers to, or why CAA is not checked for it. */
  private identities(issuer: { type: string; config: Record<string, unknown> }): { ids: string[] } | { verdict: CaaVerdict } {
    if (issuer.config?.caa_check === false) return { verdict: { status: 'not_checked', detail: 'the issuer has caa_check off' } };
    const configured = issuer.config?.caa_identities;
    if (Array.isArray(configured) && configured.length) return { ids: configured.map(String) };
    if (PRIVATE_CA_TYPES.has(issuer.type)) return { verdict: { status: 'not_applicable', detail: 'a private CA: CAA governs public CAs only' } };
    const known = CAA_IDENTITIES_BY_TYPE[issuer.type];
    if (known) return { ids: known };
    if (issuer.type === 'ACME') {
      const url = typeof issuer.config?.directory_url === 'string' ? issuer.config.directory_url : '';
      let host = '';
      try {
        host = new URL(url).hostname.toLowerCase();
      } catch { /* no directory: not checked */ }
      const match = CAA_IDENTITIES_BY_ACME_HOST.find(([suffix]) => host === suffix || host.endsWith(`.${suffix}`));
      if (match) return { ids: match[1] };
    }
    return { verdict: { status: 'not_checked', detail: 'the CA\'s CAA identities are unknown: set the issuer\'s config.caa_identities' } };
  }

  private nameVerdict(name: string, identities: string[]): Promise<NameVerdict> {
    const key = `${name}\0${identities.join(',')}`;
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && cached.expires > now) return cached.verdict;
    if (this.dnsDownUntil > now) return Promise.resolve({ status: 'unknown', reason: 'DNS did not answer (recent lookups failed)' });
    const verdict = this.limited(() => this.lookup(name, identities));
    this.cache.set(key, { expires: now + this.config.reports.caaCacheTtlMs, verdict });
    void verdict.then((v) => {
      if (v.status === 'unknown') this.cache.set(key, { expires: Date.now() + Math.min(FAILURE_TTL_MS, this.config.reports.caaCacheTtlMs), verdict });
    });
    if (this.cache.size > 100_000) this.prune();
    return verdict;
  }

  private async lookup(name: string, identities: string[]): Promise<NameVerdict> {
    if (this.dnsDownUntil > Date.now()) return { status: 'unknown', reason: 'DNS did not answer (recent lookups failed)' };
    try {
      const result = await checkCaa({ name, caaIdentities: identities, resolver: this.config.acme.caaResolver, timeoutMs: LOOKUP_TIMEOUT_MS });
      this.failuresInARow = 0;
      return result.allowed ? { status: 'allowed' } : { status: 'forbidden', record: result.record ?? `CAA at ${result.checkedAt}` };
    } catch (err) {
      if (++this.failuresInARow >= BREAKER_THRESHOLD) this.dnsDownUntil = Date.now() + FAILURE_TTL_MS;
      // Only a DNS failure is expected here; anything else is still no answer, not a failed report.
      return { status: 'unknown', reason: err instanceof CaaLookupError ? err.message : `CAA lookup for ${name} failed` };
    }
  }

  /** Runs `task` when fewer than PARALLEL_LOOKUPS lookups are in flight. */
  private async limited<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= PARALLEL_LOOKUPS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private prune(): void {
    const now = Date.now();
    for (const [key, entry] of this.cache) if (entry.expires <= now) this.cache.delete(key);
  }
}
