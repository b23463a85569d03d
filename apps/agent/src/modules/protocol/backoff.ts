/**
 * When to call the server next. A healthy agent polls every `intervalMs` with ±10 % jitter (a fleet started at
 * once spreads out); after consecutive failures it waits `baseMs × 2^(failures-1)`, capped at `maxMs`, with
 * "equal jitter" (half fixed, half random) so a restarted server is not hit by every agent in the same second.
 */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly settings: { intervalMs: number; baseMs: number; maxMs: number },
    private readonly random: () => number = Math.random,
  ) {}

  get consecutiveFailures(): number {
    return this.failures;
  }

  succeeded(): number {
    this.failures = 0;
    return this.nextDelay();
  }

  failed(): number {
    this.failures += 1;
    return this.nextDelay();
  }

  nextDelay(): number {
    if (this.failures === 0) {
      const { intervalMs } = this.settings;
      return Math.round(intervalMs * (0.9 + 0.2 * this.random()));
    }
    const exponent = Math.min(this.failures - 1, 30);
    const ceiling = Math.min(this.settings.maxMs, this.settings.baseMs * 2 ** exponent);
    return Math.round(ceiling / 2 + (ceiling / 2) * this.random());
  }
}
