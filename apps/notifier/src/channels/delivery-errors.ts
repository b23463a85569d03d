/**
 * How a delivery attempt failed. Permanent failures cannot get better by waiting (a 4xx other than 408/429,
 * a rejected recipient, a channel that is not configured): they go to the dead letter at once. Everything
 * else (timeouts, refused connections, 5xx, 408, 429) is retried with backoff.
 */
export class DeliveryError extends Error {
  constructor(message: string, readonly permanent: boolean) {
    super(message);
    this.name = permanent ? 'PermanentDeliveryError' : 'TransientDeliveryError';
  }

  static permanent(message: string): DeliveryError {
    return new DeliveryError(message, true);
  }

  static transient(message: string): DeliveryError {
    return new DeliveryError(message, false);
  }
}

/** An HTTP status a webhook answered with: retry 408, 429 and 5xx; anything else outside 2xx is final. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
