/** A PKI input that is wrong for a reason the caller can report (malformed PEM, bad signature, policy breach). */
export class PkiError extends Error {
  constructor(readonly code: 'MALFORMED' | 'BAD_SIGNATURE' | 'POLICY' | 'CHAIN', message: string) {
    super(message);
    this.name = 'PkiError';
  }
}
