import { describe, expect, it } from 'vitest';
import { positionalBinder, visibilitySql } from './auth/visibility';
import { rowCondition } from './scope';

const columns = { team: 'c.team_id', issuer: 'c.issuer_id', profile: 'c.certificate_profile_id' };

describe('visibility as a SQL condition', () => {
  it('adds nothing for a global grant and FALSE for none', () => {
    expect(visibilitySql({ kind: 'all' }, columns, positionalBinder([]))).toBeUndefined();
    expect(visibilitySql({ kind: 'none' }, columns, positionalBinder([]))).toBe('FALSE');
  });

  it('binds one id as equality (index-ordered) and several as = ANY, OR-ing the scope kinds', () => {
    const params: unknown[] = ['first'];
    const sql = visibilitySql({ kind: 'scoped', teamIds: ['t1'], issuerIds: ['i1', 'i2'], profileIds: [] }, columns, positionalBinder(params));
    expect(sql).toBe('(c.team_id = $2 OR c.issuer_id = ANY(CAST($3 AS text[])))');
    expect(params).toEqual(['first', 't1', ['i1', 'i2']]);
  });

  it('is FALSE when the grants name only scopes the row has no column for (a target under an issuer grant)', () => {
    expect(visibilitySql({ kind: 'scoped', teamIds: [], issuerIds: ['i1'], profileIds: [] }, { team: 't.team_id' }, positionalBinder([]))).toBe('FALSE');
  });

  it('names TypeORM parameters without clashing with the ones already given', () => {
    const condition = rowCondition({ kind: 'scoped', teamIds: ['a', 'b'], issuerIds: [], profileIds: ['p'] }, columns);
    expect(condition).toEqual({ sql: '(c.team_id = ANY(CAST(:vis_0 AS text[])) OR c.certificate_profile_id = :vis_1)', params: { vis_0: ['a', 'b'], vis_1: 'p' } });
  });
});
