import { HttpStatus, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError, FieldProblem } from './api-error';

/** Flattens class-validator's tree into `field.path: message` problems. */
export function fieldProblems(errors: ValidationError[], parent = ''): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    // One problem per field (the pipe stops at a field's first failed constraint), worded without the field's name,
    // which the answer already gives: "name: must be a string", not "name: name must be a string; name: name must be ...".
    for (const message of Object.values(error.constraints ?? {})) {
      const bare = message.startsWith(`${error.property} `) ? message.slice(error.property.length + 1) : message;
      problems.push({ field, message: bare.replace(/^property \S+ should not exist$/, 'unknown field') });
    }
    if (error.children?.length) problems.push(...fieldProblems(error.children, field));
  }
  return problems;
}

/**
 * Global validation: unknown fields are rejected, types coerced for query strings only, and every problem
 * names its field (STYLE C7).
 */
export function apiValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const details = fieldProblems(errors);
      const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
      return new ApiError(HttpStatus.BAD_REQUEST, 'VALIDATION_FAILED', summary || 'invalid request', details);
    },
  });
}
