import { FormEvent, useState } from 'react';
import { Field, fieldErrors, formError } from './form';

/** One config field of an issuer or target type; `name` is the key under `config` the API validates. */
export interface ConfigFieldSpec {
  name: string;
  label: string;
  kind?: 'text' | 'number' | 'password' | 'textarea' | 'checkbox';
  required?: boolean;
  hint?: string;
}

export interface TypedFormValue {
  name: string;
  type: string;
  config: Record<string, unknown>;
}

/**
 * A create/edit form whose config fields follow the chosen type. A 400 from the API names the field
 * ("name", "config.cert_path"), and the message is shown under that field.
 */
export function TypedForm({ kind, types, initial, error, busy, onSubmit, onCancel, typeLocked }: {
  kind: string;
  types: Record<string, ConfigFieldSpec[]>;
  initial?: TypedFormValue;
  error: unknown;
  busy: boolean;
  onSubmit(value: TypedFormValue): void;
  onCancel(): void;
  typeLocked?: boolean;
}) {
  const [name, setName] = useState(initial?.name ?? '');
  const [type, setType] = useState(initial?.type ?? Object.keys(types)[0]!);
  const [config, setConfig] = useState<Record<string, unknown>>(initial?.config ?? {});
  const specs = types[type] ?? [];
  const errors = fieldErrors(error);
  const known = ['name', 'type', 'config', ...specs.map((s) => `config.${s.name}`)];
  const prefix = `${kind}-form`;

  function submit(e: FormEvent) {
    e.preventDefault();
    // Empty optional fields are left out rather than sent as "".
    const cleaned = Object.fromEntries(Object.entries(config).filter(([k, v]) => v !== '' && v !== undefined && specs.some((s) => s.name === k)));
    onSubmit({ name, type, config: cleaned });
  }

  return (
    <form className="card form" onSubmit={submit} aria-label={initial ? `Edit ${kind}` : `New ${kind}`} noValidate>
      <Field id={`${prefix}-name`} label="Name" error={errors.name}>
        <input id={`${prefix}-name`} value={name} onChange={(e) => setName(e.target.value)} required aria-invalid={!!errors.name || undefined} />
      </Field>
      <Field id={`${prefix}-type`} label="Type" error={errors.type}>
        <select id={`${prefix}-type`} value={type} onChange={(e) => setType(e.target.value)} disabled={typeLocked}>
          {Object.keys(types).map((t) => <option key={t}>{t}</option>)}
        </select>
      </Field>
      {specs.map((spec) => {
        const id = `${prefix}-${spec.name}`;
        const fieldError = errors[`config.${spec.name}`];
        const value = config[spec.name];
        const set = (v: unknown) => setConfig({ ...config, [spec.name]: v });
        return (
          <Field key={spec.name} id={id} label={`${spec.label}${spec.required ? '' : ' (optional)'}`} error={fieldError} hint={spec.hint}>
            {spec.kind === 'textarea' ? (
              <textarea id={id} value={String(value ?? '')} onChange={(e) => set(e.target.value)} rows={4} aria-invalid={!!fieldError || undefined} />
            ) : spec.kind === 'checkbox' ? (
              <input id={id} type="checkbox" checked={value === true} onChange={(e) => set(e.target.checked)} />
            ) : (
              <input
                id={id}
                type={spec.kind === 'number' ? 'number' : spec.kind === 'password' ? 'password' : 'text'}
                value={value === undefined ? '' : String(value)}
                onChange={(e) => set(spec.kind === 'number' ? (e.target.value === '' ? '' : Number(e.target.value)) : e.target.value)}
                aria-invalid={!!fieldError || undefined}
                autoComplete="off"
              />
            )}
          </Field>
        );
      })}
      {formError(error, known) && <p className="field-error" role="alert">{formError(error, known)}</p>}
      <div className="form-actions">
        <button type="button" onClick={onCancel}>Cancel</button>
        <button type="submit" className="primary" disabled={busy}>{initial ? 'Save' : 'Create'}</button>
      </div>
    </form>
  );
}
