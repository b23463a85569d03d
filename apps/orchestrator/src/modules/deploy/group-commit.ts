/**
 * Group commit: items submitted while a batch is being written wait and go together in the next batch, so the
 * number of transactions (and audit-chain seals) follows the database's pace, not the number of jobs. An idle
 * committer writes a lone item on the next turn of the event loop, so a single job waits for no timer.
 *
 * When a batch fails, every item of it is written again on its own: one bad row fails only its own caller.
 * Unlike MicroBatcher (which flushes every tick), at most `maxInFlight` batches are written at once.
 */
export class GroupCommitter<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /** Writes the whole batch in one transaction; returns one result per item, in order. */
    private readonly writeBatch: (items: T[]) => Promise<R[]>,
    /** Writes one item in its own transaction (the fall-back after a failed batch). */
    private readonly writeOne: (item: T) => Promise<R>,
    private readonly options: { maxSize?: number; maxInFlight?: number } = {},
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || !this.queue.length || this.inFlight >= (this.options.maxInFlight ?? 1)) return;
    this.scheduled = true;
    // One turn of the event loop gathers what concurrent jobs submit together.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (!this.queue.length || this.inFlight >= (this.options.maxInFlight ?? 1)) return;
    const batch = this.queue.splice(0, this.options.maxSize ?? 200);
    this.inFlight++;
    try {
      if (batch.length === 1) {
        await this.writeOne(batch[0]!.item).then(batch[0]!.resolve, batch[0]!.reject);
        return;
      }
      let results: R[];
      try {
        results = await this.writeBatch(batch.map((b) => b.item));
      } catch {
        // Per item, so the row that broke the batch fails alone.
        await Promise.all(batch.map((b) => this.writeOne(b.item).then(b.resolve, b.reject)));
        return;
      }
      batch.forEach((b, i) => b.resolve(results[i]!));
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}
