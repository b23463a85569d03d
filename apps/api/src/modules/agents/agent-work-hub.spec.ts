import { describe, expect, it } from 'vitest';
import { HeldPoll } from './agent-work-hub';

describe('a held work request (HeldPoll)', () => {
  it('keeps a wake-up that came while it was reading the database, so the next wait returns at once', async () => {
    const poll = new HeldPoll('ag-1');
    poll.wake(); // work appeared between registering and the first read's end
    const started = Date.now();
    expect(await poll.next(60_000)).toBe('work');
    expect(Date.now() - started).toBeLessThan(100);
  });

  it('wakes a wait in progress, times out without one, and stays ended once ended', async () => {
    const poll = new HeldPoll('ag-1');
    const waiting = poll.next(60_000);
    poll.wake();
    expect(await waiting).toBe('work');
    expect(await poll.next(30)).toBe('timeout');
    const held = poll.next(60_000);
    poll.end('replaced');
    expect(await held).toBe('replaced');
    poll.wake();
    expect(await poll.next(60_000)).toBe('replaced');
  });
});
