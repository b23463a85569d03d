import { HttpStatus } from '@nestjs/common';

export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * A client-facing error with a stable machine `code` (STYLE C10). Services throw these; the exception
 * filter turns them into `{error, message, code, details, request_id}`.
 */
export class ApiError extends Error {
  constructor(
    readonly status: HttpStatus,
    readonly code: string,
    message: string,
    readonly details?: FieldProblem[],
    /** Extra fields of the error body where certctl's clients read them (e.g. an agent retire's `counts`). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static notFound(resource: string, id: string): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, `${codeOf(resource)}_NOT_FOUND`, `${resource} ${id} not found`);
  }

  static invalidField(field: string, message: string): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, 'VALIDATION_FAILED', `${field}: ${message}`, [{ field, message }]);
  }

  static missingReference(field: string, id: string): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, 'REFERENCE_NOT_FOUND', `${field}: ${id} does not exist`, [
      { field, message: `${id} does not exist` },
    ]);
  }

  static conflict(code: string, message: string, details?: FieldProblem[]): ApiError {
    return new ApiError(HttpStatus.CONFLICT, code, message, details);
  }
}

function codeOf(resource: string): string {
  return resource.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}
