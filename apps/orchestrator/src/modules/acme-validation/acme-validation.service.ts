import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { AcmeMetrics, CaaLookupError, checkCaa, validateChallenge, ValidationProblem, type ChallengeType } from '@certctl/acme-server';

/** Problems worth another attempt: the client's server or DNS may just not be up yet. */
const RETRYABLE = new Set(['urn:ietf:params:acme:error:connection', 'urn:ietf:params:acme:error:dns']);

interface ChallengeToValidate {
  id: string;
  type: ChallengeType;
  status: string;
  token: string;
  authorization_id: string;
  identifier: { type: 'dns' | 'ip'; value: string };
  wildcard: boolean;
  authz_status: string;
  jwk_thumbprint: string;
  /** The account URL the client was given (null for accounts older than the column): RFC 8657 accounturi. */
  account_url: string | null;
}

/** Thrown to have BullMQ try the validation again (with its backoff); the attempt row says why. */
export class RetryValidation extends Error {}

/**
 * Validates one ACME challenge the client said is ready (RFC 8555 §7.5.1), off the request path: the validators
 * (libs/acme-server/src/validation) reach the client on the configured ports and DNS server, CAA is checked for
 * DNS identifiers (RFC 8659, our meta.caaIdentities; RFC 8657 accounturi and validationmethods), each attempt is a row of acme_validation_attempts, and
 * connection or DNS failures are retried until the queue's attempts are spent. Then the challenge and its
 * authorization become valid or invalid; the order follows when it is next read.
 */
@Injectable()
export class AcmeValidationService {
  private readonly logger = new Logger(AcmeValidationService.name);

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: AcmeMetrics,
  ) {}

  async validate(challengeId: string, attempt: number, maxAttempts: number): Promise<void> {
    const rows: ChallengeToValidate[] = await this.db.query(
      `SELECT c.id, c.type, c.status, c.token, c.authorization_id, a.identifier, a.wildcard, a.status AS authz_status, acc.jwk_thumbprint, acc.url AS account_url
         FROM acme_challenges c
         JOIN acme_authorizations a ON a.id = c.authorization_id
         JOIN acme_accounts acc ON acc.id = a.account_id
        WHERE c.id = $1`, [challengeId],
    );
    const challenge = rows[0];
    if (!challenge || challenge.status !== 'processing' || challenge.authz_status !== 'pending') return;
    const [{ id: attemptId }]: Array<{ id: string }> = await this.db.query(
      `INSERT INTO acme_validation_attempts (challenge_id, attempt) VALUES ($1, $2) RETURNING id`, [challengeId, attempt],
    );
    const problem = await this.check(challenge);
    if (!problem) {
      await this.finish(challenge, attemptId, 'valid', null);
      this.metrics.count('challenge_validate', true);
      return;
    }
    if (RETRYABLE.has(problem.type) && attempt < maxAttempts) {
      await this.db.query(`UPDATE acme_validation_attempts SET finished_at = now(), outcome = 'retry', error = $2 WHERE id = $1`, [attemptId, problem]);
      throw new RetryValidation(`${problem.type}: ${problem.detail}`);
    }
    await this.finish(challenge, attemptId, 'invalid', problem);
    this.metrics.count('challenge_validate', false);
  }

  /** The validator's verdict, then CAA for a DNS name; undefined when the identifier is proven and CAA allows us. */
  private async check(c: ChallengeToValidate): Promise<ValidationProblem | undefined> {
    const s = this.config.acmeServer;
    const identifier = { type: c.identifier.type, value: c.identifier.value };
    const result = await validateChallenge({
      type: c.type, identifier, token: c.token, keyAuthorization: `${c.token}.${c.jwk_thumbprint}`,
      options: { http01Port: s.http01Port, tlsAlpn01Port: s.tlsAlpn01Port, dnsResolver: s.dnsResolver, outboundPolicy: this.config.outbound },
    }).catch((err: unknown): { valid: false; problem: ValidationProblem } => ({
      valid: false, problem: { type: 'urn:ietf:params:acme:error:connection', detail: `validation failed: ${(err as Error).message}` },
    }));
    if (!result.valid) return result.problem;
    if (c.identifier.type !== 'dns') return undefined;
    try {
      const caa = await checkCaa({
        name: c.identifier.value, wildcard: c.wildcard, caaIdentities: s.caaIdentities, validationMethod: c.type, resolver: s.dnsResolver,
        accountUri: c.account_url ?? undefined,
      });
      return caa.allowed ? undefined : { type: 'urn:ietf:params:acme:error:caa', detail: `CAA records at ${caa.checkedAt} do not allow this CA to issue for ${c.identifier.value}` };
    } catch (err) {
      if (err instanceof CaaLookupError) return { type: 'urn:ietf:params:acme:error:dns', detail: err.message };
      throw err;
    }
  }

  private async finish(c: ChallengeToValidate, attemptId: string, outcome: 'valid' | 'invalid', problem: ValidationProblem | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(`UPDATE acme_validation_attempts SET finished_at = now(), outcome = $2, error = $3 WHERE id = $1`, [attemptId, outcome, problem]);
      await tx.query(
        `UPDATE acme_challenges SET status = $2, error = $3, validated_at = CASE WHEN $2 = 'valid' THEN now() END, updated_at = now() WHERE id = $1 AND status = 'processing'`,
        [c.id, outcome, problem ? { ...problem, status: 403 } : null],
      );
      await tx.query(`UPDATE acme_authorizations SET status = $2, updated_at = now() WHERE id = $1 AND status = 'pending'`, [c.authorization_id, outcome]);
    });
    this.logger.log({ challengeId: c.id, type: c.type, outcome, problem: problem?.type }, 'ACME challenge validated');
  }
}
