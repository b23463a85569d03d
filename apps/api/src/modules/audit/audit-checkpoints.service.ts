import { createHmac, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '@certctl/config';

export interface CheckpointVerification {
  /** Checkpoints whose signature and row were checked. */
  checked: number;
  latest: { seq: number; row_hash: string; mac: string } | null;
  /** The first checkpoint that does not hold, if any. */
  first_break: { seq: number; id: string | null; reason: string } | null;
}

/**
 * Keyed checkpoints of the audit chain. The chain itself (seq, prev_hash, row_hash, sealed by the database at
 * commit) is an unkeyed SHA-256: it shows accidents, not a forger who can write the table. Every few seconds, when
 * the chain head has moved, this signs it: HMAC-SHA256 with CERTCTL_AUDIT_HMAC_KEY over (seq, row_hash), stored in
 * audit_checkpoints and written to the log (a copy outside the database). Because each row_hash covers every row
 * before it, a checkpoint vouches for the whole chain up to its seq; the key lives only in the apps.
 *
 * Threat model: a database superuser (or a stolen owner password) can still edit, delete or re-seal rows, but
 * cannot make a checkpoint, so /audit/verify reports any change to a row at or before a checkpoint. Not covered:
 * rows newer than the last checkpoint (at most one interval), and deleting the newest rows together with their
 * checkpoints, which only the logged checkpoints (or this process, while it runs) can reveal.
 */
@Injectable()
export class AuditCheckpointService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditCheckpointService.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** The newest checkpoint this process signed or saw: a later verify or sign finding less means some were removed. */
  private highestKnownSeq = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  get keyed(): boolean {
    return this.config.audit.hmacKey !== undefined;
  }

  onApplicationBootstrap(): void {
    if (!this.keyed) {
      this.logger.warn('CERTCTL_AUDIT_HMAC_KEY is not set: the audit chain is an unkeyed hash that anyone who can write the database can re-seal; set a key of at least 32 bytes to sign checkpoints');
      return;
    }
    this.timer = setInterval(() => void this.signInBackground(), this.config.audit.checkpointIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private signInBackground(): void {
    this.running = this.checkpoint().catch((err: unknown) => this.logger.error({ err: (err as Error).message }, 'audit checkpoint failed'));
  }

  /** Signs the current chain head unless it is already signed; returns the new checkpoint, if one was made. */
  async checkpoint(): Promise<{ seq: number; row_hash: string; mac: string } | undefined> {
    if (!this.keyed) return undefined;
    const [head] = await this.dataSource.query<Array<{ last_seq: string; last_hash: string; latest: string | null }>>(
      'SELECT h.last_seq, h.last_hash, (SELECT max(seq) FROM audit_checkpoints) AS latest FROM audit_chain_head h WHERE h.id = 1',
    );
    if (!head) return undefined;
    const seq = Number(head.last_seq);
    const latest = Number(head.latest ?? 0);
    if (latest < this.highestKnownSeq) {
      // Never sign over a trail whose newer checkpoints vanished: that would vouch for whatever replaced them.
      this.logger.error({ latest, expected: this.highestKnownSeq }, 'audit checkpoints were removed; not signing until verified');
      return undefined;
    }
    this.highestKnownSeq = latest;
    if (seq === 0 || seq <= latest) return undefined;
    const checkpoint = { seq, row_hash: head.last_hash, mac: this.mac(seq, head.last_hash) };
    await this.dataSource.query(
      'INSERT INTO audit_checkpoints (seq, row_hash, mac) VALUES ($1, $2, $3) ON CONFLICT (seq) DO NOTHING',
      [checkpoint.seq, checkpoint.row_hash, checkpoint.mac],
    );
    this.highestKnownSeq = seq;
    this.logger.log(checkpoint, 'audit checkpoint signed');
    return checkpoint;
  }

  /** Checks every checkpoint's signature, and that the row at its seq still has the hash it signed. */
  async verify(): Promise<CheckpointVerification> {
    const rows = await this.dataSource.query<Array<{ seq: string; row_hash: string; mac: string; id: string | null; current_hash: string | null }>>(
      `SELECT c.seq, c.row_hash, c.mac, e.id, e.row_hash AS current_hash
         FROM audit_checkpoints c LEFT JOIN audit_events e ON e.seq = c.seq ORDER BY c.seq`,
    );
    const result: CheckpointVerification = { checked: 0, latest: null, first_break: null };
    for (const row of rows) {
      const seq = Number(row.seq);
      result.checked += 1;
      result.latest = { seq, row_hash: row.row_hash, mac: row.mac };
      if (!this.signatureHolds(seq, row.row_hash, row.mac)) {
        result.first_break = { seq, id: row.id, reason: `checkpoint at seq ${seq} has an invalid signature (forged, or signed with another key)` };
        return result;
      }
      if (row.current_hash !== row.row_hash) {
        result.first_break = {
          seq, id: row.id,
          reason: row.id === null
            ? `the row signed by checkpoint ${seq} is gone`
            : `the chain up to seq ${seq} was rewritten after checkpoint ${seq} was signed`,
        };
        return result;
      }
    }
    if ((result.latest?.seq ?? 0) < this.highestKnownSeq) {
      result.first_break = { seq: this.highestKnownSeq, id: null, reason: `checkpoint ${this.highestKnownSeq}, signed by this api, is missing` };
    }
    return result;
  }

  private mac(seq: number, rowHash: string): string {
    return createHmac('sha256', this.config.audit.hmacKey!).update(`certctl-audit-checkpoint:v1:${seq}:${rowHash}`).digest('hex');
  }

  private signatureHolds(seq: number, rowHash: string, mac: string): boolean {
    const expected = Buffer.from(this.mac(seq, rowHash), 'hex');
    const given = Buffer.from(mac, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
