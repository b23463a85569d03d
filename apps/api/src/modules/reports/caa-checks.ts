import { Injectable } from '@nestjs/common';

/** Whether CAA (RFC 8659) lets the certificate's issuer issue for each of its names. */
export interface CaaVerdict {
  /** allowed / forbidden: every name checked; unknown: DNS did not answer; not_checked: this build does not check CAA. */
  status: 'allowed' | 'forbidden' | 'unknown' | 'not_checked';
  detail?: string;
}

export interface CaaQuestion {
  names: string[];
  issuerId: string;
  issuerType: string;
}

/**
 * CAA verdicts of the report. The CAA check itself (libs/acme-server's checkCaa, helper 2's branch) is not in this
 * build yet, so every certificate is reported `not_checked`, saying so, rather than guessed.
 */
@Injectable()
export class CaaChecks {
  async verdicts(questions: CaaQuestion[]): Promise<CaaVerdict[]> {
    return questions.map(() => ({ status: 'not_checked', detail: 'CAA checking is not available in this build' }));
  }
}
