import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { post, unique } from '../support/fixtures';

/** An agent heartbeats every 30-60 s: the audit trail keeps its status transitions, not every beat. */
describe('agent heartbeats in the audit trail', () => {
  let api: ApiHarness;

  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => api?.close());

  const auditOf = async (agentId: string) => {
    await api.flushAudit();
    return (await api.db.query(
      `SELECT action, actor, actor_type, event_category, details FROM audit_events
        WHERE (resource_type = 'agent' AND resource_id = $1) OR (resource_type = 'api' AND resource_id = $2) ORDER BY seq`,
      [agentId, `/api/v1/agents/${agentId}/heartbeat`],
    )).rows;
  };
  const beat = (agent: { id: string; api_key: string }, body: object = {}) =>
    api.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(api.auth(agent.api_key)).send(body);

  it('audits the first heartbeat, a return after Offline and a version change, and no routine heartbeat', async () => {
    const agent = await post(api, '/api/v1/agents', { name: unique('beating') }) as { id: string; api_key: string };
    for (let i = 0; i < 5; i += 1) await beat(agent, { version: '1.0.0', hostname: 'edge-1' }).expect(200);
    let rows = (await auditOf(agent.id)).filter((r) => r.action !== 'agent_registered');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'agent_first_heartbeat', actor_type: 'Agent', event_category: 'config', details: { version: '1.0.0', hostname: 'edge-1' } });
    expect(rows[0].actor).toBe(`agent:${(await api.db.query('SELECT name FROM agents WHERE id = $1', [agent.id])).rows[0].name}`);

    // The health sweep marked it Offline; it comes back: one event, however many heartbeats race for it.
    await api.db.query(`UPDATE agents SET status = 'Offline' WHERE id = $1`, [agent.id]);
    const racing = await Promise.all([1, 2, 3].map(() => beat(agent, { version: '1.0.0' })));
    expect(racing.map((r) => r.status)).toEqual([200, 200, 200]);
    await beat(agent, { version: '1.0.0' }).expect(200);
    rows = (await auditOf(agent.id)).filter((r) => r.action !== 'agent_registered');
    expect(rows.map((r) => r.action)).toEqual(['agent_first_heartbeat', 'agent_back_online']);
    expect(rows[1].details).toMatchObject({ previous_status: 'Offline' });

    // An upgrade is one event; the heartbeats after it are not.
    await beat(agent, { version: '1.1.0' }).expect(200);
    await beat(agent, { version: '1.1.0' }).expect(200);
    await beat(agent).expect(200); // no version in the body: nothing changed
    rows = (await auditOf(agent.id)).filter((r) => r.action !== 'agent_registered');
    expect(rows.map((r) => r.action)).toEqual(['agent_first_heartbeat', 'agent_back_online', 'agent_version_changed']);
    // The event names the agent's key too (issue 23: the audit names the key or the person behind every change).
    expect(rows[2].details).toEqual({ from: '1.0.0', to: '1.1.0', identity: { key_id: expect.stringMatching(/^ak-/), key_name: rows[2].actor } });
    expect(rows.filter((r) => r.action === 'api_post')).toEqual([]);
    expect((await api.http.get(`/api/v1/agents/${agent.id}`).set(api.auth()).expect(200)).body).toMatchObject({ status: 'Online', version: '1.1.0' });
  });

  it('still records refused heartbeats (another agent\'s key, a retired agent) as api calls', async () => {
    const agent = await post(api, '/api/v1/agents', { name: unique('refused') }) as { id: string; api_key: string };
    const other = await post(api, '/api/v1/agents', { name: unique('intruder') }) as { id: string; api_key: string };
    await beat({ id: agent.id, api_key: other.api_key }).expect(403);
    await api.http.delete(`/api/v1/agents/${agent.id}`).set(api.auth()).expect(200);
    await beat(agent, { version: '9.9.9' }).expect(410);
    const calls = (await auditOf(agent.id)).filter((r) => r.action === 'api_post');
    expect(calls.map((r) => [r.event_category, r.details.status])).toEqual([['auth', 403], ['config', 410]]);
    expect((await auditOf(agent.id)).map((r) => r.action)).not.toContain('agent_first_heartbeat');
  });
});
