import type { JobStatusReport, WorkItem } from '@certctl/contracts';
import type { ApiClient } from '../protocol/api-client';
import type { KeyStore } from '../keys/key-store';
import {
  CaddyConnector, DeployError, DeployOutcome, DeployPolicy, fileConnectors, messageOf, PostVerifyFailedError, TargetConnector, useDeployPolicy,
} from './deploy-lib';

/** Target types this agent deploys itself: files on this host plus commands, and Caddy's admin API. */
const HOST_CONNECTORS = new Map<string, TargetConnector>([...fileConnectors, new CaddyConnector()].map((c) => [c.type, c]));

export function hostTargetTypes(): string[] {
  return [...HOST_CONNECTORS.keys()].sort();
}

export interface DeployerSettings {
  commandTimeoutMs: number;
  backupRetention?: number;
  /** This host's allow-list, destination directories and command user (the agent's own settings, not the server's). */
  policy?: DeployPolicy;
}

/**
 * One Deployment work item, start to finish on this host: fetch the current certificate and chain, find this
 * host's key for it, and run the target type's connector (the same Apply as the orchestrator: lock, idempotent
 * skip, backup, atomic write, validate, reload, verify, rollback). Returns the report for the server, with the
 * failed stage and the rollback result, so the server's certctl_deploy_* counters count it.
 * Only transport failures (the server did not answer) are thrown: the item is then tried again later.
 */
export class Deployer {
  /** One deployment per target at a time on this host (a target may appear in two polls' work). */
  private readonly targetChains = new Map<string, Promise<unknown>>();

  constructor(private readonly api: ApiClient, private readonly keys: KeyStore, private readonly settings: DeployerSettings) {
    if (settings.policy) useDeployPolicy(settings.policy);
  }

  async deploy(item: WorkItem): Promise<JobStatusReport> {
    const previous = this.targetChains.get(item.target_id ?? item.id) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.deployNow(item));
    this.targetChains.set(item.target_id ?? item.id, run);
    try {
      return await run;
    } finally {
      if (this.targetChains.get(item.target_id ?? item.id) === run) this.targetChains.delete(item.target_id ?? item.id);
    }
  }

  private async deployNow(item: WorkItem): Promise<JobStatusReport> {
    const connector = item.target_type ? HOST_CONNECTORS.get(item.target_type) : undefined;
    if (!connector) {
      return failed('other', `this agent cannot deploy target type ${item.target_type ?? '(none)'} (it deploys ${hostTargetTypes().join(', ')})`);
    }
    const config = item.target_config ?? {};
    try {
      connector.validateConfig(config);
    } catch (err) {
      return failureReport(err);
    }
    // Thrown on purpose when the server cannot be reached: the caller keeps the job and asks again.
    const issued = await this.api.certificate(item.certificate_id);
    let outcome: DeployOutcome;
    try {
      const [leaf = '', ...chain] = splitPemChain(issued.certificate_pem);
      const keyPem = this.keys.keyFor(item.certificate_id, leaf);
      outcome = await connector.deploy(config, { certPem: leaf, chainPem: chain.join(''), keyPem, certificateId: item.certificate_id }, {
        commandTimeoutMs: this.settings.commandTimeoutMs, backupRetention: this.settings.backupRetention,
      });
    } catch (err) {
      return failureReport(err);
    }
    return {
      status: 'Completed',
      skipped_as_idempotent: outcome.skippedAsIdempotent,
      backup_paths: outcome.backupPaths.slice(0, 50),
      verification_status: outcome.verification.status,
      ...(outcome.verification.fingerprint ? { verification_fingerprint: outcome.verification.fingerprint } : {}),
    };
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, leaf first (libs/pki's splitPemChain, without loading libs/pki at idle). */
function splitPemChain(bundle: string): string[] {
  return (bundle.match(PEM_CERTIFICATE) ?? []).map((block) => `${block}\n`);
}

function failed(stage: NonNullable<JobStatusReport['failed_stage']>, error: string): JobStatusReport {
  return { status: 'Failed', failed_stage: stage, error: error.slice(0, 4000) };
}

/** A connector's error as the report: which step failed, and what the rollback of the live files did. */
export function failureReport(err: unknown): JobStatusReport {
  const message = messageOf(err).slice(0, 4000);
  if (!(err instanceof DeployError)) return failed('other', message);
  // A bad target config counts as "other", as the orchestrator counts it.
  const stage = err.stage === 'validate' || err.stage === 'reload' || err.stage === 'post_verify' ? err.stage : 'other';
  const report: JobStatusReport = { ...failed(stage, message), backup_paths: err.backupPaths.slice(0, 50) };
  if (err.rollback) report.rollback = err.rollback;
  if (stage === 'post_verify') {
    report.verification_status = 'failed';
    report.verification_error = message;
    const served = err instanceof PostVerifyFailedError ? err.servedFingerprint : null;
    if (served) report.verification_fingerprint = served;
  }
  return report;
}
