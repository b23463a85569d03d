/**
 * Group commit: items handed in while a batch is being written wait and go together in the next one, so under
 * load one transaction (and one audit-chain seal lock, one WAL flush) serves as many jobs as arrived during the
 * previous one, and with a single job in flight nothing waits. Used for the claims and the completing writes. Each caller resolves only after the transaction holding
 * its item committed. When a batch fails, its items are retried one by one, so one bad item fails only itself.
 *
 * Unlike the MicroBatcher of @certctl/db (which gathers one event-loop turn and runs batches side by side),
 * this keeps one batch in flight and lets the next grow meanwhile: the point here is fewer transactions.
 */
export class GroupCommit<T, R> {
  private queued: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private writing = false;

  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch: number,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queued.length) {
      const batch = this.queued.splice(0, this.maxBatch);
      try {
        const results = await this.write(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(results[i]!));
      } catch (err) {
        if (batch.length === 1) batch[0]!.reject(err);
        else for (const entry of batch) await this.writeAlone(entry);
      }
    }
    this.writing = false;
  }

  private async writeAlone(entry: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }): Promise<void> {
    try {
      entry.resolve((await this.write([entry.item]))[0]!);
    } catch (err) {
      entry.reject(err);
    }
  }
}
