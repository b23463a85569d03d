import 'reflect-metadata';
import { StreamableFile } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import '@certctl/db'; // registers the entities' column metadata (which fields are JSON)
import { omitUnset } from './omit-unset.interceptor';

describe('omitUnset', () => {
  it('leaves out null fields of resources, list items and nested views', () => {
    const when = new Date('2026-01-01T00:00:00Z');
    expect(omitUnset({ id: 'a', revoked_at: null, expires_at: when, n: 0, empty: '', ok: false })).toEqual({ id: 'a', expires_at: when, n: 0, empty: '', ok: false });
    expect(omitUnset({ data: [{ id: 'a', last_error: null }], total: 1 })).toEqual({ data: [{ id: 'a' }], total: 1 });
    expect(omitUnset({ first_break: { seq: null, reason: 'x' } })).toEqual({ first_break: { reason: 'x' } });
    expect(omitUnset([{ agent_id: null, id: 'j' }])).toEqual([{ id: 'j' }]);
  });

  it('sends JSON values (config, details, tags, target_config) as stored, nulls included', () => {
    const row = { id: 't', agent_id: null, config: { chain_path: null, nested: { a: null } }, details: { error: null }, tags: {}, target_config: { x: null } };
    expect(omitUnset(row)).toEqual({ id: 't', config: { chain_path: null, nested: { a: null } }, details: { error: null }, tags: {}, target_config: { x: null } });
  });

  it('sends the fields a route names (SendNullAs) as null, and still leaves out the other unset ones', () => {
    const page = { data: [{ id: 't', agent_id: null, last_tested_at: null }, { id: 'u', agent_id: 'agent-1', last_tested_at: null }], total: 2 };
    expect(omitUnset(page, new Set(['agent_id']))).toEqual({ data: [{ id: 't', agent_id: null }, { id: 'u', agent_id: 'agent-1' }], total: 2 });
  });

  it('passes files, buffers and scalars through', () => {
    const file = new StreamableFile(Buffer.from('x'));
    expect(omitUnset(file)).toBe(file);
    const buffer = Buffer.from('y');
    expect(omitUnset(buffer)).toBe(buffer);
    expect(omitUnset('text')).toBe('text');
    expect(omitUnset(undefined)).toBeUndefined();
  });
});
