import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentConfig } from './config';
import type { Logger } from './logger';
import type { Deployer } from './modules/deploy/deployer';
import { discoverCertificates } from './modules/discovery/filesystem-discovery';
import { hostReport } from './modules/host/host-info';
import { Journal, JournalEntry } from './modules/journal/journal';
import { KeyStore } from './modules/keys/key-store';
import type { WorkItem } from '@certctl/contracts';
import { AgentRejectedError, ApiClient, ApiResponseError } from './modules/protocol/api-client';
import { Backoff } from './modules/protocol/backoff';
import { AGENT_VERSION } from './version';

/** How the agent ended: asked to stop, or the server no longer accepts it (the message says why). */
export type AgentExit = { reason: 'stopped' } | { reason: 'rejected'; message: string };

/** After a CSR went out, the certificate is usually signed within a second or two: look again soon. */
const AFTER_CSR_POLL_MS = 2_000;
/**
 * Between a long-poll that brought work and the next one: work the agent could not act on (a CSR it cannot
 * send just now) would otherwise come back at once, again and again.
 */
const AFTER_WORK_LONG_POLL_PAUSE_MS = 1_000;

/**
 * The agent's loops: heartbeat, work polling (with backoff and jitter while the server fails), filesystem
 * discovery. Work is done one item at a time: a CSR for a key made here, or a deployment through the target's
 * connector, whose outcome is journaled on disk before it is reported (see Journal).
 * Several agents can run in one process (the bench does); each has its own client, journal and key store.
 */
/** How many reported deployments an agent remembers, to recognise a stale resume answer. */
const REPORTED_MEMORY = 1000;

export class CertctlAgent {
  readonly api: ApiClient;
  private readonly keys: KeyStore;
  private readonly journal: Journal;
  /** Loaded with the first deployment (libs/deploy and its connectors are not needed by an idle agent). */
  private deployer: Promise<Deployer> | undefined;
  private readonly pollBackoff: Backoff;
  private readonly stopping = new AbortController();
  private exit: AgentExit | undefined;
  /** Jobs being worked on now, so the journal drain does not start the same one twice. */
  private readonly inFlight = new Set<string>();
  /**
   * Deployments this process deployed and reported (the most recent ones). A resume answer fetched before the report
   * landed (the poll and the long-poll both ask to resume at start) can still carry such a job as Running: it is
   * done, not handed back again.
   */
  private readonly reported = new Set<string>();
  /**
   * Until a work answer has reached the journal, the server may hold deployments Running for this agent that
   * the agent knows nothing of (a kill -9 between the server's claim and the journal write, an answer lost on
   * the way): polls ask for those again until one answer arrives.
   */
  private resumeRunning = true;
  /** Polls and long-poll answers are handled one at a time (journal, resume flag, CSRs). */
  private handling: Promise<unknown> = Promise.resolve();
  /**
   * Issuance jobs this process has sent a CSR for. A poll and the long-poll may both carry the same AwaitingCSR
   * job (one answer read before the other's CSR went in): a second CSR would replace the pending key with one
   * the certificate was not issued for.
   */
  private readonly csrSent = new Set<string>();

  constructor(private readonly config: AgentConfig, private readonly log: Logger, api?: ApiClient) {
    this.api = api ?? new ApiClient({
      serverUrl: config.serverUrl, agentId: config.agentId, apiKey: config.apiKey, caPem: config.caPem, timeoutMs: config.requestTimeoutMs,
    });
    this.keys = new KeyStore(config.keyDir);
    this.journal = new Journal(`${config.stateDir}/journal`);
    this.pollBackoff = new Backoff({ intervalMs: config.pollIntervalMs, baseMs: config.backoffBaseMs, maxMs: config.maxBackoffMs });
  }

  /** Runs until stop() or until the server rejects the agent. `once`: one heartbeat and one round of work. */
  async run(options: { once?: boolean } = {}): Promise<AgentExit> {
    this.keys.prepare();
    this.journal.prepare();
    this.log.info('agent starting', { agent_id: this.config.agentId, server: this.config.serverUrl, version: AGENT_VERSION, key_dir: this.config.keyDir });
    await this.guard(() => this.heartbeat());
    if (this.exit) return this.finish();
    await this.guard(() => this.resumeInterrupted());
    if (options.once) {
      await this.guard(async () => void (await this.pollOnce()));
      return this.finish();
    }
    await Promise.all([this.pollLoop(), this.longPollLoop(), this.heartbeatLoop(), this.discoveryLoop()]);
    return this.finish();
  }

  /** Stops taking work; the item being worked on is finished (its report journaled) first. */
  stop(): void {
    if (!this.stopping.signal.aborted) this.log.info('agent stopping');
    this.exit ??= { reason: 'stopped' };
    this.stopping.abort();
  }

  private finish(): AgentExit {
    this.api.close();
    const exit = this.exit ?? { reason: 'stopped' };
    if (exit.reason === 'rejected') this.log.error('agent stopped: the server rejected it', { reason: exit.message });
    else this.log.info('agent stopped');
    return exit;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Runs a step; a rejection by the server ends the agent, anything else is the caller's to retry. */
  private async guard(step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      if (err instanceof AgentRejectedError) {
        this.exit = { reason: 'rejected', message: err.message };
        this.stopping.abort();
        return false;
      }
      this.log.warn('call to the server failed', { err: (err as Error).message });
      return false;
    }
  }

  private async pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.stopping.signal });
    } catch {
      // stopped while waiting
    }
  }

  private async heartbeat(): Promise<void> {
    await this.api.heartbeat(hostReport(AGENT_VERSION));
  }

  private async heartbeatLoop(): Promise<void> {
    const backoff = new Backoff({ intervalMs: this.config.heartbeatIntervalMs, baseMs: this.config.backoffBaseMs, maxMs: this.config.heartbeatIntervalMs });
    let delay = backoff.nextDelay();
    while (!this.stopped) {
      await this.pause(delay);
      if (this.stopped) break;
      delay = (await this.guard(() => this.heartbeat())) ? backoff.succeeded() : backoff.failed();
    }
  }

  private async pollLoop(): Promise<void> {
    // A fleet restarted together should not poll in step: the first poll comes after up to 10 % of an interval.
    await this.pause(Math.round(Math.random() * this.config.pollIntervalMs * 0.1));
    while (!this.stopped) {
      let submittedCsr = false;
      const ok = await this.guard(async () => {
        submittedCsr = await this.pollOnce();
      });
      if (this.stopped) break;
      const delay = ok ? this.pollBackoff.succeeded() : this.pollBackoff.failed();
      if (!ok) this.log.info('next poll after backoff', { delay_ms: delay, failures: this.pollBackoff.consecutiveFailures });
      await this.pause(submittedCsr ? Math.min(delay, AFTER_CSR_POLL_MS) : delay);
    }
  }

  /**
   * One held work request after another (GET /work?wait=N): the server answers as soon as work for this agent
   * appears, so the ordinary poll is only the fallback. Failures back off like polls; a server that does not know
   * long-polls (400) leaves the agent polling.
   */
  private async longPollLoop(): Promise<void> {
    const waitSeconds = Math.round(this.config.longPollWaitMs / 1000);
    if (!waitSeconds) return;
    const backoff = new Backoff({ intervalMs: 0, baseMs: this.config.backoffBaseMs, maxMs: this.config.maxBackoffMs });
    while (!this.stopped) {
      let brought = 0;
      const ok = await this.guard(async () => {
        const resumed = this.resumeRunning;
        // stop() aborts the held request: that is no failure to report.
        const items = await this.fetchWork({ resume: resumed, waitSeconds, signal: this.stopping.signal }).catch((err: unknown) => {
          if (this.stopped) return [];
          throw err;
        });
        brought = items.length;
        if (items.length) await this.serially(() => this.takeWork(items, resumed));
      });
      if (this.stopped) break;
      if (!ok && this.longPollRefused) {
        this.log.warn('the server does not take long-polls; polling only', { poll_interval_ms: this.config.pollIntervalMs });
        return;
      }
      if (!ok) await this.pause(backoff.failed());
      else {
        backoff.succeeded();
        if (brought) await this.pause(AFTER_WORK_LONG_POLL_PAUSE_MS);
      }
    }
  }

  /** Set when the server refused a long-poll as bad input (a server from before long-polls). */
  private longPollRefused = false;

  /** The server's work; a lost answer (which may have claimed deployments) makes the next ask a resume. */
  private async fetchWork(options: { resume: boolean; waitSeconds?: number; signal?: AbortSignal }): Promise<WorkItem[]> {
    try {
      return await this.api.work(options);
    } catch (err) {
      this.resumeRunning = true;
      if (options.waitSeconds && err instanceof ApiResponseError && err.status === 400) this.longPollRefused = true;
      throw err;
    }
  }

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.handling.then(step, step);
    this.handling = run.catch(() => undefined);
    return run;
  }

  /** Reports and deployments left from earlier rounds, then the server's work. True when a CSR was sent. */
  private pollOnce(): Promise<boolean> {
    return this.serially(async () => {
      await this.drainJournal();
      const resumed = this.resumeRunning;
      const items = await this.fetchWork({ resume: resumed });
      return this.takeWork(items, resumed);
    });
  }

  /** Journals the deployments of a work answer, sends CSRs, then works through the journal. True when a CSR was sent. */
  private async takeWork(items: WorkItem[], resumed: boolean): Promise<boolean> {
    if (items.length) this.log.info('work received', { count: items.length });
    // A deployment handed out again that is already in the journal (or being deployed) is that entry's: it is
    // deployed and reported once, whatever the number of answers that carried it.
    const deployments = items.filter((i) => i.type === 'Deployment' && !this.inFlight.has(i.id) && !this.journal.has(i.id)
      && !(i.redelivered === true && this.reported.has(i.id)));
    // Every deployment comes Running (claimed by this poll); only those re-sent on a resume poll were claimed before.
    const recovered = deployments.filter((i) => i.redelivered === true);
    if (recovered.length) this.log.warn('the server handed back deployments claimed earlier but never journaled here', { job_ids: recovered.map((i) => i.id) });
    // The server claimed these for us (Running): on disk first, so a crash from here on cannot strand them.
    this.journal.putAll(deployments.map((item) => ({ kind: 'deploy', jobId: item.id, item, phase: 'deploying', resumes: 0, updatedAt: '' })));
    if (resumed) this.resumeRunning = false;
    let submittedCsr = false;
    for (const item of items.filter((i) => i.status === 'AwaitingCSR')) {
      if (this.stopped) break;
      submittedCsr = (await this.submitCsr(item)) || submittedCsr;
    }
    await this.drainJournal();
    return submittedCsr;
  }

  /** A key made here, its CSR sent. A CSR the server refuses (422) is reported once and never sent again. */
  private async submitCsr(item: WorkItem): Promise<boolean> {
    if (this.journal.has(item.id)) return false; // refused before: its report is on its way
    if (this.csrSent.has(item.id)) return false; // answered already; this was a stale copy of the work
    const csr = await this.keys.newCsr(item.certificate_id, item.common_name, item.sans ?? []);
    try {
      await this.api.submitCsr(item.certificate_id, csr);
      this.rememberCsrSent(item.id);
      this.log.info('CSR submitted; the key stays on this host', { job_id: item.id, certificate_id: item.certificate_id });
      return true;
    } catch (err) {
      if (!(err instanceof ApiResponseError) || err.retryable) throw err;
      if (err.status === 409) return false; // nothing waits for a CSR any more (another agent answered, or it was cancelled)
      this.log.error('the server refused the CSR; not sending it again', { job_id: item.id, certificate_id: item.certificate_id, status: err.status, err: err.message });
      const entry: JournalEntry = {
        kind: 'csr_rejected', jobId: item.id, item, phase: 'reporting', resumes: 0, updatedAt: '',
        report: { status: 'Failed', error: `the server refused the agent's CSR: ${err.message}`.slice(0, 4000) },
      };
      this.journal.put(entry);
      await this.sendReport(entry);
      return false;
    }
  }

  private rememberCsrSent(jobId: string): void {
    this.csrSent.add(jobId);
    // Bounded: only the latest answers can still be in flight.
    if (this.csrSent.size > 1_000) this.csrSent.delete(this.csrSent.values().next().value!);
  }

  /**
   * At start: deployments a killed agent left half done are run again, once (Apply is idempotent, so files
   * already in place are a skip); one that was already resumed and interrupted again is reported failed rather
   * than tried forever. Outcomes not yet reported are reported.
   */
  private async resumeInterrupted(): Promise<void> {
    for (const entry of this.journal.entries()) {
      if (entry.kind !== 'deploy' || entry.phase !== 'deploying') continue;
      if (entry.resumes >= 1) {
        this.journal.put({ ...entry, phase: 'reporting', report: { status: 'Failed', failed_stage: 'other', error: 'the agent was interrupted twice while deploying this job; not retried' } });
        continue;
      }
      this.log.warn('resuming a deployment interrupted by a restart', { job_id: entry.jobId, target_type: entry.item.target_type });
      this.journal.put({ ...entry, resumes: entry.resumes + 1 });
    }
    await this.drainJournal();
  }

  /** Everything in the journal not being worked on now: deployments to run, outcomes to report. */
  private async drainJournal(): Promise<void> {
    for (const entry of this.journal.entries()) {
      if (this.stopped || this.inFlight.has(entry.jobId)) continue;
      if (entry.phase === 'deploying') await this.runDeployment(entry);
      else if (entry.kind === 'deploy') await this.sendReport(entry);
    }
    // Refused CSRs whose report did not go out yet are retried here too.
    for (const entry of this.journal.entries()) {
      if (entry.kind === 'csr_rejected' && entry.report && !this.stopped) await this.sendReport(entry).catch(() => undefined);
    }
  }

  private async runDeployment(entry: JournalEntry): Promise<void> {
    this.inFlight.add(entry.jobId);
    try {
      let report;
      try {
        report = await (await this.loadDeployer()).deploy(entry.item);
      } catch (err) {
        // The certificate could not be fetched. A refusal (404: no longer mapped here; 409: not issued) is final.
        if (err instanceof ApiResponseError && !err.retryable) report = { status: 'Failed' as const, failed_stage: 'other' as const, error: err.message };
        else throw err;
      }
      const done: JournalEntry = { ...entry, phase: 'reporting', report };
      this.journal.put(done);
      this.log[report.status === 'Completed' ? 'info' : 'warn']('deployment finished', {
        job_id: entry.jobId, target_type: entry.item.target_type, status: report.status, failed_stage: report.failed_stage, rollback: report.rollback,
        idempotent: report.skipped_as_idempotent, error: report.error,
      });
      await this.sendReport(done);
    } finally {
      this.inFlight.delete(entry.jobId);
    }
  }

  private loadDeployer(): Promise<Deployer> {
    this.deployer ??= import('./modules/deploy/deployer.js').then(({ Deployer }) => new Deployer(this.api, this.keys, {
      commandTimeoutMs: this.config.commandTimeoutMs, backupRetention: this.config.backupRetention, policy: this.config.deployPolicy,
    }));
    return this.deployer;
  }

  private async sendReport(entry: JournalEntry): Promise<void> {
    try {
      await this.api.reportStatus(entry.jobId, entry.report!);
    } catch (err) {
      if (!(err instanceof ApiResponseError) || err.retryable) throw err;
      // 404/409: the server has finished with this job (it timed out, was cancelled, or this report already arrived).
      if (entry.kind === 'csr_rejected') {
        this.log.warn('the server did not take the report of a refused CSR; keeping it so the CSR is not sent again', { job_id: entry.jobId, err: err.message });
        this.journal.put({ ...entry, report: undefined });
        return;
      }
      this.log.warn('the server did not take the report; dropping it', { job_id: entry.jobId, err: err.message });
    }
    if (entry.kind === 'csr_rejected' && entry.report) {
      // Kept (without a report) as the memory that this job's CSR was refused.
      this.journal.put({ ...entry, report: undefined });
      return;
    }
    this.journal.remove(entry.jobId);
    if (entry.kind === 'deploy') {
      this.reported.add(entry.jobId);
      if (this.reported.size > REPORTED_MEMORY) this.reported.delete(this.reported.values().next().value!);
    }
  }

  private async discoveryLoop(): Promise<void> {
    if (!this.config.discoveryDirs.length) return;
    let delay = Math.round(Math.random() * Math.min(this.config.pollIntervalMs, 10_000));
    while (!this.stopped) {
      await this.pause(delay);
      if (this.stopped) break;
      const ok = await this.guard(async () => {
        const report = await discoverCertificates(this.config.agentId, this.config.discoveryDirs);
        await this.api.reportDiscoveries(report);
        this.log.info('discovery reported', { certificates: report.certificates.length, errors: report.errors.length });
      });
      delay = ok ? this.config.discoveryIntervalMs : Math.min(this.config.discoveryIntervalMs, this.config.maxBackoffMs);
    }
  }
}
