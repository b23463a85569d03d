/** A field the api named in a 400 (`details: [{field, message}]`). */
export interface FieldProblem {
  field: string;
  message: string;
}

/** The api answered with an error status; carries its `{error, message, code, request_id, details}`. */
export class CertctlApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly details: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'CertctlApiError';
  }

  /** One line for a terminal or a tool result: the api's message, the fields it named, status and code. */
  oneLine(): string {
    const fields = this.details.length ? ` (${this.details.map((d) => `${d.field}: ${d.message}`).join('; ')})` : '';
    const status = this.message.startsWith(`HTTP ${this.status}`) ? this.code : `HTTP ${this.status} ${this.code}`;
    return `${this.message}${fields} [${status}]`;
  }
}

/** The api could not be reached, or did not answer in time. */
export class CertctlConnectionError extends Error {
  constructor(readonly serverUrl: string, cause: string) {
    super(`cannot reach certctl at ${serverUrl}: ${cause}`);
    this.name = 'CertctlConnectionError';
  }
}

/** No API key, an unreadable config file or a malformed server URL: nothing was sent. */
export class CertctlConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertctlConfigError';
  }
}
