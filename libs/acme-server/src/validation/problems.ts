/** The outcome of one challenge validation, with an RFC 8555 §6.7 problem when it failed. */
export type AcmeProblemType =
  | 'urn:ietf:params:acme:error:connection'
  | 'urn:ietf:params:acme:error:unauthorized'
  | 'urn:ietf:params:acme:error:incorrectResponse'
  | 'urn:ietf:params:acme:error:dns'
  | 'urn:ietf:params:acme:error:tls'
  | 'urn:ietf:params:acme:error:malformed'
  | 'urn:ietf:params:acme:error:caa';

export interface ValidationProblem {
  type: AcmeProblemType;
  detail: string;
}

/**
 * `transient` marks a failure that says nothing about the client's answer (the deadline passed, the DNS server
 * failed): the validation worker may try again before it marks the challenge invalid.
 */
export type ValidationResult = { valid: true } | { valid: false; problem: ValidationProblem; transient?: true };

export const VALID: ValidationResult = Object.freeze({ valid: true });

export function invalid(kind: 'connection' | 'unauthorized' | 'incorrectResponse' | 'dns' | 'tls' | 'malformed' | 'caa', detail: string, transient = false): ValidationResult {
  const problem: ValidationProblem = { type: `urn:ietf:params:acme:error:${kind}`, detail };
  return transient ? { valid: false, problem, transient: true } : { valid: false, problem };
}
