/**
 * How a delivery attempt failed. Permanent failures cannot get better by waiting (a 4xx other than 408/429,
 * a rejected recipient): they go to the dead letter at once. Everything else (timeouts, refused connections,
 * 5xx, 408, 429) is retried with backoff. A channel that is not configured here is neither: nothing was tried,
 * so the row is recorded as skipped with the reason, not counted as a failure and not dead-lettered.
 */
export class DeliveryError extends Error {
  constructor(message: string, readonly permanent: boolean, readonly notConfigured = false) {
    super(message);
    this.name = notConfigured ? 'ChannelNotConfigured' : permanent ? 'PermanentDeliveryError' : 'TransientDeliveryError';
  }

  static permanent(message: string): DeliveryError {
    return new DeliveryError(message, true);
  }

  /** The channel has no configuration in this notifier (e.g. Email without CERTCTL_SMTP_HOST). */
  static notConfigured(message: string): DeliveryError {
    return new DeliveryError(message, true, true);
  }

  static transient(message: string): DeliveryError {
    return new DeliveryError(message, false);
  }
}

/** An HTTP status a webhook answered with: retry 408, 429 and 5xx; anything else outside 2xx is final. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
