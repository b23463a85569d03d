import type { CrossProcessLock } from '../locks';

/** What is deployed: the leaf, its chain (may be empty) and the private key (null when the key lives elsewhere). */
export interface DeployMaterial {
  certPem: string;
  chainPem: string;
  keyPem: string | null;
  certificateId?: string;
}

export interface ConnectorContext {
  commandTimeoutMs?: number;
  backupRetention?: number;
  crossProcessLock?: CrossProcessLock;
  /** The deploy lock's fencing check, asked right before a change is committed (see Plan.fence). */
  fence?: () => Promise<void>;
  /** Deploy even when the destination already holds the same content. */
  force?: boolean;
}

export interface Verification {
  status: 'success' | 'skipped';
  fingerprint: string | null;
  verifiedAt: Date | null;
  note?: string;
}

export interface DeployOutcome {
  skippedAsIdempotent: boolean;
  backupPaths: string[];
  validateOk: boolean;
  reloaded: boolean;
  verification: Verification;
  durationMs: number;
}

/** A deployment target type (spec §5.2). Config is the target's JSON config, already checked by validateConfig. */
export interface TargetConnector {
  readonly type: string;
  /** Throws TargetConfigError naming the first bad field. */
  validateConfig(config: Record<string, unknown>): void;
  deploy(config: Record<string, unknown>, material: DeployMaterial, ctx: ConnectorContext): Promise<DeployOutcome>;
  /** Dry run behind POST /targets/{id}/test: runs the validate step without changing anything. */
  validateOnly(config: Record<string, unknown>, ctx: ConnectorContext): Promise<string>;
}
