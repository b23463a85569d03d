import { describe, expect, it } from 'vitest';
import { ARI_MAX_POLL_MS, ARI_MIN_POLL_MS, nextPollTime, randomTimeInWindow, selectRenewalTime } from './ari-window';

const window = { start: new Date('2030-03-01T00:00:00Z'), end: new Date('2030-03-03T00:00:00Z') };

describe('ARI renewal time (RFC 9773 §4.2)', () => {
  it('draws inside the window, from its start to its end', () => {
    expect(randomTimeInWindow(window, () => 0)).toEqual(window.start);
    expect(randomTimeInWindow(window, () => 0.999_999_999)).toEqual(window.end);
    expect(randomTimeInWindow(window, () => 0.5)).toEqual(new Date('2030-03-02T00:00:00Z'));
    for (let i = 0; i < 200; i++) {
      const t = randomTimeInWindow(window).getTime();
      expect(t).toBeGreaterThanOrEqual(window.start.getTime());
      expect(t).toBeLessThanOrEqual(window.end.getTime());
    }
    const instant = { start: window.start, end: window.start };
    expect(randomTimeInWindow(instant, () => 0.7)).toEqual(window.start);
  });

  it('keeps the time chosen for the same window and version; chooses again when either changes', () => {
    const chosen = new Date('2030-03-02T10:00:00Z');
    const known = { versionId: 'v1', start: window.start, end: window.end, selected: chosen };
    const never = () => { throw new Error('must not draw again for the same window'); };
    expect(selectRenewalTime(known, 'v1', { start: new Date(window.start), end: new Date(window.end) }, never)).toBe(chosen);

    const moved = { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-02T00:00:00Z') };
    expect(selectRenewalTime(known, 'v1', moved, () => 0.25)).toEqual(new Date('2026-01-01T06:00:00Z'));
    expect(selectRenewalTime(known, 'v2', window, () => 0)).toEqual(window.start); // renewed: a new serial, a new draw
    expect(selectRenewalTime(undefined, 'v1', window, () => 0)).toEqual(window.start);
    expect(selectRenewalTime({ ...known, selected: null }, 'v1', window, () => 0)).toEqual(window.start);
  });
});

describe('ARI poll time (Retry-After)', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  it('honours Retry-After, else the fallback', () => {
    expect(nextPollTime(now, new Date('2030-01-01T05:00:00Z'), 3_600_000)).toEqual(new Date('2030-01-01T05:00:00Z'));
    expect(nextPollTime(now, undefined, 6 * 3_600_000)).toEqual(new Date('2030-01-01T06:00:00Z'));
  });

  it('never polls sooner than a minute (a zero or past Retry-After) nor later than a week', () => {
    expect(nextPollTime(now, new Date('2029-12-31T00:00:00Z'), 3_600_000).getTime()).toBe(now.getTime() + ARI_MIN_POLL_MS);
    expect(nextPollTime(now, now, 3_600_000).getTime()).toBe(now.getTime() + ARI_MIN_POLL_MS);
    expect(nextPollTime(now, new Date('2031-01-01T00:00:00Z'), 3_600_000).getTime()).toBe(now.getTime() + ARI_MAX_POLL_MS);
  });
});
