import { ReactNode } from 'react';
import { ApiRequestError } from '../api/client';

/** A labelled input whose error (the API's 400 for this field, by name) is shown under it and announced. */
export function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string; hint?: string; children: ReactNode }) {
  return (
    <div className={`field ${error ? 'field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && !error && <small className="muted">{hint}</small>}
      {error && (
        <small id={`${id}-error`} className="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

/** The per-field messages of a failed save, keyed by the API's field name ("name", "config.cert_path"). */
export function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiRequestError)) return {};
  return Object.fromEntries(err.details.map((d) => [d.field, d.message]));
}

/** The error of a save that no field explains (a 409, a 5xx, a problem with an unknown field). */
export function formError(err: unknown, fields: readonly string[]): string | undefined {
  if (!err) return undefined;
  if (err instanceof ApiRequestError && err.details.length > 0 && err.details.every((d) => fields.includes(d.field))) return undefined;
  return err instanceof Error ? err.message : String(err);
}
