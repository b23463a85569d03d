import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { post, unique } from '../support/fixtures';

/**
 * A fleet's steady state is an empty work poll every 30 s and a routine heartbeat every 60 s per agent; on
 * loopback the api's CPU per call is mostly the write of each statement to PostgreSQL (bench:agents profile), so
 * each must be one statement once the agent's key is resolved (cached for 5 s).
 */
describe('agent protocol round trips to PostgreSQL', () => {
  let api: ApiHarness;

  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(async () => api?.close());

  /** The SQL statements the api sends while `call` runs. */
  async function statementsOf(call: () => Promise<unknown>): Promise<string[]> {
    const spy = vi.spyOn(PostgresQueryRunner.prototype, 'query');
    try {
      await call();
      return spy.mock.calls.map(([sql]) => String(sql).replace(/\s+/g, ' ').slice(0, 60));
    } finally {
      spy.mockRestore();
    }
  }

  it('answers an empty work poll with one statement, and still 404/410 for an unknown or retired agent', async () => {
    const agent = await post(api, '/api/v1/agents', { name: unique('rt-poll') }) as { id: string; api_key: string };
    await api.http.get(`/api/v1/agents/${agent.id}/work`).set(api.auth(agent.api_key)).expect(200); // resolves the key
    const statements = await statementsOf(async () => {
      const res = await api.http.get(`/api/v1/agents/${agent.id}/work`).set(api.auth(agent.api_key)).expect(200);
      expect(res.body).toEqual({ jobs: [], count: 0 });
    });
    expect(statements).toHaveLength(1);

    await api.db.query('UPDATE agents SET retired_at = now() WHERE id = $1', [agent.id]);
    expect((await api.http.get(`/api/v1/agents/${agent.id}/work`).set(api.auth(agent.api_key)).expect(410)).body.code).toBe('AGENT_RETIRED');
    expect((await api.http.get(`/api/v1/agents/${agent.id}/work?wait=5`).set(api.auth(agent.api_key)).expect(410)).body.code).toBe('AGENT_RETIRED');
    await api.db.query('DELETE FROM agents WHERE id = $1', [agent.id]);
    await api.http.get(`/api/v1/agents/${agent.id}/work`).set(api.auth(agent.api_key)).expect(404);
  });

  it('records a routine heartbeat with one statement; the first one (audited) takes the full transaction', async () => {
    const agent = await post(api, '/api/v1/agents', { name: unique('rt-beat') }) as { id: string; api_key: string };
    const beat = (body: object) => api.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(api.auth(agent.api_key)).send(body).expect(200);
    const first = await statementsOf(() => beat({ version: '1.0.0', hostname: 'edge-1' }));
    expect(first.length).toBeGreaterThan(2);
    const before = (await api.db.query('SELECT last_heartbeat_at FROM agents WHERE id = $1', [agent.id])).rows[0].last_heartbeat_at as Date;
    let answer: { body: Record<string, unknown> } | undefined;
    const routine = await statementsOf(async () => {
      answer = await beat({ version: '1.0.0', hostname: 'edge-2', os: 'linux' });
    });
    expect(routine).toHaveLength(1);
    expect(answer!.body).toMatchObject({ id: agent.id, status: 'Online', version: '1.0.0', hostname: 'edge-2', os: 'linux' });
    const row = (await api.db.query('SELECT hostname, os, status, last_heartbeat_at, updated_at FROM agents WHERE id = $1', [agent.id])).rows[0];
    expect(row).toMatchObject({ hostname: 'edge-2', os: 'linux', status: 'Online' });
    expect(row.last_heartbeat_at.getTime()).toBeGreaterThanOrEqual(before.getTime());
    // A new version is audited: the full path.
    expect((await statementsOf(() => beat({ version: '1.1.0' }))).length).toBeGreaterThan(2);
  });
});
