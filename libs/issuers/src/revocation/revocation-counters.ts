/**
 * certctl's OCSP and CRL counter families (spec §8, §9): one series per label, all present from the first
 * scrape, in certctl's order. Kept in Redis by ClusterCounters so every replica counts into the same values.
 */
export const OCSP_COUNTER = 'certctl_ocsp_counter_total';
export const OCSP_COUNTER_LABELS = [
  'request_get', 'request_post', 'request_success', 'request_invalid', 'issuer_not_found', 'cert_not_found', 'signing_failed',
  'nonce_echoed', 'nonce_malformed', 'rate_limited',
] as const;
export type OcspCounterLabel = (typeof OCSP_COUNTER_LABELS)[number];

export const CRL_COUNTER = 'certctl_crl_counter_total';
export const CRL_COUNTER_LABELS = ['generated', 'served', 'not_modified', 'generation_failed', 'rate_limited'] as const;
export type CrlCounterLabel = (typeof CRL_COUNTER_LABELS)[number];
