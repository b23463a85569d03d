import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { JobStatusReport, WorkItem } from '@certctl/contracts';

/**
 * One job of this agent that is not finished on the server yet.
 * - `deploy`: a claimed Deployment; `phase` "deploying" until the outcome is known, then "reporting".
 * - `csr_rejected`: an issuance job whose CSR the server refused (422); kept so the CSR is not sent again.
 */
export interface JournalEntry {
  kind: 'deploy' | 'csr_rejected';
  jobId: string;
  item: WorkItem;
  phase: 'deploying' | 'reporting';
  /** How many times a restarted agent has picked this deployment up again. */
  resumes: number;
  report?: JobStatusReport;
  updatedAt: string;
}

/**
 * Work in flight, on disk: one JSON file per job, written atomically (temp file, fsync, rename, fsync of the
 * directory). A claimed deployment is written before anything is deployed, so an agent killed mid-deploy finds
 * it again at start and finishes it; a known outcome is written before it is reported, so it is reported once
 * the server answers again. Entries hold target configs, never keys.
 */
export class Journal {
  constructor(private readonly dir: string) {}

  prepare(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  entries(): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as JournalEntry);
      } catch {
        // A file that is not an entry (cut short by a full disk) cannot be acted on; it is left for an operator.
      }
    }
    return out.sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
  }

  get(jobId: string): JournalEntry | undefined {
    try {
      return JSON.parse(readFileSync(this.file(jobId), 'utf8')) as JournalEntry;
    } catch {
      return undefined;
    }
  }

  has(jobId: string): boolean {
    return this.get(jobId) !== undefined;
  }

  /** Writes several entries, then syncs the directory once (a poll can claim up to 100 deployments). */
  putAll(entries: JournalEntry[]): void {
    for (const entry of entries) this.writeEntry({ ...entry, updatedAt: new Date().toISOString() });
    this.syncDir();
  }

  put(entry: JournalEntry): void {
    this.putAll([entry]);
  }

  remove(jobId: string): void {
    try {
      unlinkSync(this.file(jobId));
      this.syncDir();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private writeEntry(entry: JournalEntry): void {
    const final = this.file(entry.jobId);
    const temp = `${final}.tmp`;
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(entry));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, final);
  }

  private syncDir(): void {
    const fd = openSync(this.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private file(jobId: string): string {
    return join(this.dir, `${encodeURIComponent(jobId)}.json`);
  }
}
