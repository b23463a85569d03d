/**
 * Gathers the calls made within one turn of the event loop (up to `maxSize`) into one call of `run`, and
 * answers each caller with its own result once that call has finished. With many deliveries in flight, one
 * query serves dozens of them, and a caller still resumes only after its own write has committed.
 */
export class MicroBatcher<K, R> {
  private pending: Array<{ key: K; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  constructor(private readonly run: (keys: K[]) => Promise<Map<K, R>>, private readonly maxSize = 200, private readonly missing?: R) {}

  add(key: K): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ key, resolve, reject });
      if (this.pending.length >= this.maxSize) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    this.run([...new Set(batch.map((b) => b.key))]).then(
      (results) => batch.forEach((b) => b.resolve(results.has(b.key) ? results.get(b.key)! : (this.missing as R))),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }
}
