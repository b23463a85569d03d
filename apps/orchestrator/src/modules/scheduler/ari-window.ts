/**
 * The client side of ACME Renewal Information (RFC 9773) that does not talk to anyone: when to renew inside a
 * suggested window, and when the CA may be asked again.
 */

/** Asked again after this long when the CA gives no Retry-After. */
export const ARI_DEFAULT_POLL_MS = 6 * 3_600_000;
/** Asked again after this long when the CA failed to answer (and gave no Retry-After). */
export const ARI_ERROR_POLL_MS = 3_600_000;
/** A Retry-After is honoured but kept within these bounds: never sooner (no hammering), never blind for longer. */
export const ARI_MIN_POLL_MS = 60_000;
export const ARI_MAX_POLL_MS = 7 * 86_400_000;

export interface SuggestedWindow {
  start: Date;
  end: Date;
}

/** What is stored of the last answer for a certificate. */
export interface KnownWindow {
  versionId: string | null;
  start: Date | null;
  end: Date | null;
  selected: Date | null;
}

/** A moment drawn uniformly at random inside [start, end] (RFC 9773 §4.2, so a fleet does not renew at once). */
export function randomTimeInWindow(window: SuggestedWindow, random: () => number = Math.random): Date {
  const span = window.end.getTime() - window.start.getTime();
  return new Date(window.start.getTime() + Math.floor(random() * (span + 1)));
}

/**
 * The renewal time for `window`: the one chosen before when the CA still suggests the same window for the same
 * version (chosen once per window, not at every poll, or repeated polls would drift it towards the start), a
 * new random one when the window or the version changed.
 */
export function selectRenewalTime(known: KnownWindow | undefined, versionId: string, window: SuggestedWindow, random: () => number = Math.random): Date {
  const sameWindow = known?.versionId === versionId && known.selected
    && known.start?.getTime() === window.start.getTime() && known.end?.getTime() === window.end.getTime();
  return sameWindow ? known.selected! : randomTimeInWindow(window, random);
}

/** When to poll next: the CA's Retry-After within [ARI_MIN_POLL_MS, ARI_MAX_POLL_MS] of now, else `fallbackMs`. */
export function nextPollTime(now: Date, retryAfter: Date | undefined, fallbackMs: number): Date {
  const wanted = retryAfter ? retryAfter.getTime() - now.getTime() : fallbackMs;
  return new Date(now.getTime() + Math.min(Math.max(wanted, ARI_MIN_POLL_MS), ARI_MAX_POLL_MS));
}
