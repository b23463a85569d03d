import { describe, expect, it } from 'vitest';
import { ApiError } from '../http/api-error';
import { authorize } from './auth.guard';
import { AUTHENTICATED, type PermissionRequirement } from './permission.decorator';
import { effectivePermissions, type Principal } from './principal';
import { visibilityOf, type Grant } from './visibility';

const principal = (grants: Grant[], extra: Partial<Principal> = {}): Principal => ({ actor: 'k', actor_type: 'APIKey', role: 'custom', grants, ...extra });
const global = (permission: string): Grant => ({ permission, scope_type: 'global', scope_id: null });
const scoped = (permission: string, scope_type: Grant['scope_type'], scope_id: string): Grant => ({ permission, scope_type, scope_id });

/** The status authorize answers: 'ok' or the ApiError's status. */
function outcome(p: Principal, requirement: PermissionRequirement, params: Record<string, string> = {}): 'ok' | number {
  try {
    authorize(p, requirement, params);
    return 'ok';
  } catch (err) {
    if (err instanceof ApiError) return err.status;
    throw err;
  }
}

describe('authorize', () => {
  it('needs the permission globally unless the route filters rows or names its issuer/profile', () => {
    const team = principal([scoped('cert.read', 'team', 'team-a')]);
    expect(outcome(team, { permission: 'cert.read' })).toBe(403);
    expect(outcome(team, { permission: 'cert.read', scope: 'rows' })).toBe('ok');
    expect(outcome(principal([global('cert.read')]), { permission: 'cert.read' })).toBe('ok');
    expect(outcome(principal([]), { permission: 'cert.read', scope: 'rows' })).toBe(403);
  });

  it('lets an issuer-scoped grant through for that issuer only', () => {
    const p = principal([scoped('issuer.read', 'issuer', 'iss-a')]);
    const requirement: PermissionRequirement = { permission: 'issuer.read', scope: { type: 'issuer', param: 'id' } };
    expect(outcome(p, requirement, { id: 'iss-a' })).toBe('ok');
    expect(outcome(p, requirement, { id: 'iss-b' })).toBe(403);
    expect(outcome(principal([scoped('issuer.read', 'team', 'iss-a')]), requirement, { id: 'iss-a' })).toBe(403);
  });

  it('accepts any one of several permissions, and any credential for AUTHENTICATED', () => {
    expect(outcome(principal([global('agent.heartbeat')]), { permission: ['agent.read', 'agent.heartbeat'] })).toBe('ok');
    expect(outcome(principal([]), { permission: AUTHENTICATED })).toBe('ok');
  });

  it('keeps an agent key to its own agent id', () => {
    const agent = principal([global('agent.heartbeat')], { actor_type: 'Agent', agent_id: 'agent-1' });
    const requirement: PermissionRequirement = { permission: 'agent.heartbeat', agentSelf: 'id' };
    expect(outcome(agent, requirement, { id: 'agent-1' })).toBe('ok');
    expect(outcome(agent, requirement, { id: 'agent-2' })).toBe(403);
    expect(outcome(principal([global('agent.heartbeat')]), requirement, { id: 'agent-2' })).toBe('ok');
  });

  it('names the missing permission in the 403', () => {
    expect(() => authorize(principal([]), { permission: 'cert.revoke' }, {})).toThrow('missing permission cert.revoke');
  });
});

describe('grants seen by the scope helper', () => {
  it('turns a team-scoped operator into a scoped visibility and dedupes /auth/me', () => {
    const p = principal([scoped('cert.read', 'team', 'team-a'), scoped('cert.read', 'team', 'team-a'), scoped('cert.read', 'profile', 'prof-1')]);
    expect(visibilityOf(p, 'cert.read')).toEqual({ kind: 'scoped', teamIds: ['team-a'], issuerIds: [], profileIds: ['prof-1'] });
    expect(visibilityOf(p, 'target.read')).toEqual({ kind: 'none' });
    expect(effectivePermissions(p)).toHaveLength(2);
  });
});
