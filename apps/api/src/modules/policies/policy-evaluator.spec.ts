import { describe, expect, it } from 'vitest';
import { configProblem, domainAllowed, evaluatePolicies, PolicySubject, RuleLike } from './policy-evaluator';

const subject: PolicySubject = {
  common_name: 'www.example.com', sans: ['www.example.com', 'api.example.com'], environment: 'prod', issuer_id: 'iss-local',
  tags: { team: 'web' }, renewal_window_days: 14, profile_max_ttl_seconds: 397 * 86400,
};
const rule = (type: RuleLike['type'], config: Record<string, unknown>): RuleLike => ({ id: `pr-${type}`, name: type, type, config, severity: 'Warning' });

describe('policy evaluation', () => {
  it('matches domains and their subdomains, wildcards only subdomains', () => {
    expect(domainAllowed('www.example.com', ['example.com'])).toBe(true);
    expect(domainAllowed('example.com', ['example.com'])).toBe(true);
    expect(domainAllowed('example.com', ['*.example.com'])).toBe(false);
    expect(domainAllowed('badexample.com', ['example.com'])).toBe(false);
    expect(domainAllowed('WWW.EXAMPLE.COM.', ['example.com'])).toBe(true);
  });

  it('passes a compliant certificate', () => {
    const rules = [
      rule('AllowedIssuers', { issuer_ids: ['iss-local'] }), rule('AllowedDomains', { domains: ['example.com'] }),
      rule('RequiredMetadata', { keys: ['team'] }), rule('AllowedEnvironments', { environments: ['prod'] }),
      rule('RenewalLeadTime', { min_days: 7 }), rule('CertificateLifetime', { max_days: 398 }),
    ];
    expect(evaluatePolicies(subject, rules)).toEqual([]);
  });

  it('reports each broken rule with its severity', () => {
    const findings = evaluatePolicies(subject, [
      rule('AllowedIssuers', { issuer_ids: ['iss-acme'] }), rule('AllowedDomains', { domains: ['corp.example'] }),
      rule('RequiredMetadata', { keys: ['team', 'cost_center'] }), rule('AllowedEnvironments', { environments: ['staging'] }),
      rule('RenewalLeadTime', { min_days: 30 }), { ...rule('CertificateLifetime', { max_days: 90 }), severity: 'Critical' },
    ]);
    expect(findings.map((f) => f.rule_id)).toEqual([
      'pr-AllowedIssuers', 'pr-AllowedDomains', 'pr-RequiredMetadata', 'pr-AllowedEnvironments', 'pr-RenewalLeadTime', 'pr-CertificateLifetime',
    ]);
    expect(findings[2]!.message).toContain('cost_center');
    expect(findings[5]!.severity).toBe('Critical');
  });

  it('validates rule configs by type', () => {
    expect(configProblem('AllowedDomains', { domains: ['a.com'] })).toBeUndefined();
    expect(configProblem('AllowedDomains', { domains: 'a.com' })).toMatch(/config.domains/);
    expect(configProblem('RenewalLeadTime', { min_days: -1 })).toMatch(/min_days/);
    expect(configProblem('CertificateLifetime', {})).toMatch(/max_days/);
  });
});
