import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RenewalSweepService } from '../../apps/orchestrator/src/modules/scheduler/renewal-sweep.service';
import { certificateBody, createInventory, Inventory, post, unique } from '../support/fixtures';
import { PlatformHarness, startPlatform } from '../support/platform-harness';

/**
 * Renewal policies scoped to an agent group, as the orchestrator's sweep applies them: a scoped policy governs
 * the certificates deployed through the group's member agents (criteria plus manual include, minus manual
 * exclude) and beats the certificate's own unscoped policy; it governs nothing else.
 */
describe('renewal policies scoped to an agent group', () => {
  let p: PlatformHarness;
  let inv: Inventory;

  beforeAll(async () => {
    p = await startPlatform();
    inv = await createInventory(p);
  });
  afterAll(async () => p?.close());

  const agent = (os: string, ip: string, version: string) =>
    post(p, '/api/v1/agents', { name: unique('host'), os, architecture: 'amd64', ip_address: ip, version });

  /** A certificate deployed through `agentId` (or through no agent), issued and expiring in `days`. */
  async function certificateOn(agentId: string | null, days: number, renewalPolicyId: string): Promise<string> {
    const target = await post(p, '/api/v1/targets', { name: unique('t'), type: 'File', ...(agentId ? { agent_id: agentId } : {}) });
    const cert = await post(p, '/api/v1/certificates', certificateBody(inv, { target_ids: [target.id], renewal_policy_id: renewalPolicyId }));
    // Stands in for a finished issuance: no open job, Active, expiring in `days`.
    await p.db.query(`UPDATE jobs SET status = 'Cancelled' WHERE certificate_id = $1 AND status NOT IN ('Completed', 'Failed', 'Cancelled')`, [cert.id]);
    await p.db.query(`UPDATE managed_certificates SET status = 'Active', expires_at = now() + make_interval(days => $2) WHERE id = $1`, [cert.id, days]);
    return cert.id as string;
  }

  /** The policy named by each sweep-opened renewal of the certificate (from the audit trail). */
  const renewalsBy = async (certId: string): Promise<string[]> =>
    (await p.db.query(
      `SELECT details->>'renewal_policy_id' AS policy FROM audit_events WHERE action = 'renewal_job_created' AND resource_id = $1 ORDER BY timestamp`,
      [certId],
    )).rows.map((r) => r.policy as string);
  const renewalJobs = async (certId: string) =>
    (await p.db.query(`SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Renewal'`, [certId])).rows;
  const warnings = async (certId: string) =>
    (await p.db.query(`SELECT id FROM notification_events WHERE certificate_id = $1 AND type = 'ExpirationWarning'`, [certId])).rows;

  it('renews certificates on member agents by the group policy, and not those on other agents; a manual exclude wins over the criteria', async () => {
    const group = await post(p, '/api/v1/agent-groups', { name: unique('edge'), match_os: 'linux', match_ip_cidr: '10.20.0.0/16', match_version: '2.*' });
    const member = await agent('Linux', '10.20.1.5', '2.3.0');
    const included = await agent('windows', '192.0.2.7', '1.0.0'); // matches nothing, named by a manual include
    const excluded = await agent('linux', '10.20.9.9', '2.0.1'); // matches every criterion, excluded by hand
    const outsider = await agent('linux', '10.30.0.1', '2.3.0'); // outside the CIDR
    await p.http.put(`/api/v1/agent-groups/${group.id}/overrides`).set(p.auth()).send({ agent_id: included.id }).expect(200);
    await p.http.put(`/api/v1/agent-groups/${group.id}/overrides`).set(p.auth()).send({ agent_id: excluded.id, membership_type: 'exclude' }).expect(200);

    const groupPolicy = await post(p, '/api/v1/renewal-policies', { name: unique('edge-rp'), agent_group_id: group.id, renewal_window_days: 45, alert_thresholds_days: [40] });
    const narrow = await post(p, '/api/v1/renewal-policies', { name: unique('narrow'), renewal_window_days: 10, alert_thresholds_days: [5] });
    const wide = await post(p, '/api/v1/renewal-policies', { name: unique('wide'), renewal_window_days: 60, alert_thresholds_days: [5] });

    // Inside the group's 45 days, outside their own 10.
    const onMember = await certificateOn(member.id, 30, narrow.id);
    const onIncluded = await certificateOn(included.id, 30, narrow.id);
    const onExcluded = await certificateOn(excluded.id, 30, narrow.id);
    const onOutsider = await certificateOn(outsider.id, 30, narrow.id);
    const agentless = await certificateOn(null, 30, narrow.id);
    // Inside their own 60 days, outside the group's 45: the group policy is the more specific one, so it governs.
    const memberWide = await certificateOn(member.id, 50, wide.id);
    // Assigned the group policy, but deployed through a non-member: the scoped policy does not reach it.
    const strayAssigned = await certificateOn(outsider.id, 30, groupPolicy.id);

    await p.orchestrator.get(RenewalSweepService).sweep();

    expect(await renewalsBy(onMember)).toEqual([groupPolicy.id]);
    expect(await renewalsBy(onIncluded)).toEqual([groupPolicy.id]);
    for (const cert of [onExcluded, onOutsider, agentless, memberWide, strayAssigned]) {
      expect(await renewalJobs(cert), cert).toHaveLength(0);
    }
    // Expiry warnings follow the governing policy too (the group's 40 days, not their own 5)...
    expect(await warnings(onMember)).toHaveLength(1);
    expect(await warnings(onOutsider)).toHaveLength(0);
    // ...and a certificate whose own group policy does not reach it still gets its own policy's warnings.
    expect(await warnings(strayAssigned)).toHaveLength(1);

    // Their own unscoped policy still renews the others once inside its window.
    await p.db.query(`UPDATE managed_certificates SET expires_at = now() + interval '5 days' WHERE id = ANY($1)`, [[onExcluded, onOutsider, agentless]]);
    await p.orchestrator.get(RenewalSweepService).sweep();
    for (const cert of [onExcluded, onOutsider, agentless]) expect(await renewalsBy(cert), cert).toEqual([narrow.id]);
  });

  it('a disabled group scopes nobody in; enabled again, its policy governs its members', async () => {
    const group = await post(p, '/api/v1/agent-groups', { name: unique('arm'), match_architecture: 'ARM64', enabled: false });
    const member = await post(p, '/api/v1/agents', { name: unique('pi'), os: 'linux', architecture: 'arm64', ip_address: '10.1.1.1', version: '1.0.0' });
    const groupPolicy = await post(p, '/api/v1/renewal-policies', { name: unique('arm-rp'), agent_group_id: group.id, renewal_window_days: 90 });
    const own = await post(p, '/api/v1/renewal-policies', { name: unique('own'), renewal_window_days: 7 });
    const cert = await certificateOn(member.id, 60, own.id);
    const sweep = p.orchestrator.get(RenewalSweepService);

    await sweep.sweep();
    expect(await renewalJobs(cert)).toHaveLength(0);
    await p.http.put(`/api/v1/agent-groups/${group.id}`).set(p.auth()).send({ enabled: true }).expect(200);
    await sweep.sweep();
    expect(await renewalsBy(cert)).toEqual([groupPolicy.id]);
  });
});
