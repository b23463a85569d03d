/**
 * Group commit: items handed in while batches are being written wait and go together in the next one, so under
 * load one transaction (and one audit-chain seal lock, one WAL flush) serves as many jobs as arrived during the
 * previous one, and with a single job in flight nothing waits. At most `maxInFlight` batches are written at once.
 * Used for the claims and the completing writes of issuance and deployment jobs.
 *
 * Each caller resolves only after the write holding its item has finished (committed). When a batch fails, its items
 * are retried one by one, so one bad item fails only itself.
 *
 * Unlike MicroBatcher (which gathers one event-loop turn and runs any number of batches side by
 * side), this bounds the batches in flight and lets the next one grow meanwhile: the point here is fewer transactions.
 */
export class GroupCommit<T, R> {
  private queued: Entry<T, R>[] = [];
  private inFlight = 0;
  private scheduled = false;

  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    /** Writes the whole batch in one transaction; returns one result per item, in order. */
    private readonly write: (items: T[]) => Promise<R[]>,
    options: { maxBatch?: number; maxInFlight?: number } = {},
  ) {
    this.maxBatch = options.maxBatch ?? 200;
    this.maxInFlight = options.maxInFlight ?? 1;
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Starts a batch on the next turn (so items added in this one join it), when a write slot is free. */
  private schedule(): void {
    if (this.scheduled || !this.queued.length || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.writeBatch();
    });
  }

  private async writeBatch(): Promise<void> {
    if (!this.queued.length || this.inFlight >= this.maxInFlight) return;
    const batch = this.queued.splice(0, this.maxBatch);
    this.inFlight++;
    this.schedule(); // another slot may take what is left
    try {
      const results = await this.write(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch (err) {
      // Item by item, each in its own transaction, so the item that broke the batch fails alone.
      if (batch.length === 1) batch[0]!.reject(err);
      else await Promise.all(batch.map((entry) => this.writeAlone(entry)));
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }

  private async writeAlone(entry: Entry<T, R>): Promise<void> {
    try {
      entry.resolve((await this.write([entry.item]))[0]!);
    } catch (err) {
      entry.reject(err);
    }
  }
}

interface Entry<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}
