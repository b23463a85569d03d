import type { PolicyRuleType, PolicySeverity } from '@certctl/contracts';

/** What the rules look at: the certificate and the policy and profile it is bound to. */
export interface PolicySubject {
  common_name: string;
  sans: string[];
  environment: string;
  issuer_id: string;
  tags: Record<string, string>;
  renewal_window_days: number;
  profile_max_ttl_seconds: number | null;
}

export interface RuleLike {
  id: string;
  name: string;
  type: PolicyRuleType;
  config: Record<string, unknown>;
  severity: PolicySeverity;
}

export interface Finding {
  rule_id: string;
  severity: PolicySeverity;
  message: string;
}

/** Checks a rule's config has the shape its type needs; returns the problem or undefined. */
export function configProblem(type: PolicyRuleType, config: Record<string, unknown>): string | undefined {
  const list = (key: string) =>
    Array.isArray(config[key]) && (config[key] as unknown[]).every((v) => typeof v === 'string' && v.length > 0)
      ? undefined : `${type} needs config.${key}: a list of strings`;
  const days = (key: string) =>
    Number.isInteger(config[key]) && (config[key] as number) >= 0 ? undefined : `${type} needs config.${key}: a whole number of days`;
  switch (type) {
    case 'AllowedIssuers': return list('issuer_ids');
    case 'AllowedDomains': return list('domains');
    case 'RequiredMetadata': return list('keys');
    case 'AllowedEnvironments': return list('environments');
    case 'RenewalLeadTime': return days('min_days');
    case 'CertificateLifetime': return days('max_days');
  }
}

/** `example.com` allows it and its subdomains; `*.example.com` only its subdomains. */
export function domainAllowed(name: string, patterns: string[]): boolean {
  const host = name.toLowerCase().replace(/\.$/, '');
  return patterns.some((raw) => {
    const pattern = raw.toLowerCase();
    if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
    return host === pattern || host.endsWith(`.${pattern}`);
  });
}

/** Runs every enabled rule against a certificate; violations are findings, never a refusal (certctl semantics). */
export function evaluatePolicies(subject: PolicySubject, rules: RuleLike[]): Finding[] {
  const findings: Finding[] = [];
  const add = (rule: RuleLike, message: string) => findings.push({ rule_id: rule.id, severity: rule.severity, message });
  for (const rule of rules) {
    if (configProblem(rule.type, rule.config)) continue;
    const c = rule.config as Record<string, string[] & number>;
    switch (rule.type) {
      case 'AllowedIssuers':
        if (!c.issuer_ids.includes(subject.issuer_id)) add(rule, `issuer ${subject.issuer_id} is not allowed by ${rule.name}`);
        break;
      case 'AllowedDomains': {
        const names = [subject.common_name, ...subject.sans];
        const outside = names.filter((n) => !domainAllowed(n, c.domains));
        if (outside.length) add(rule, `names outside the allowed domains: ${[...new Set(outside)].join(', ')}`);
        break;
      }
      case 'RequiredMetadata': {
        const missing = c.keys.filter((k) => !subject.tags[k]);
        if (missing.length) add(rule, `missing required tags: ${missing.join(', ')}`);
        break;
      }
      case 'AllowedEnvironments':
        if (!c.environments.includes(subject.environment)) {
          add(rule, `environment "${subject.environment}" is not one of ${c.environments.join(', ')}`);
        }
        break;
      case 'RenewalLeadTime':
        if (subject.renewal_window_days < c.min_days) {
          add(rule, `renewal window of ${subject.renewal_window_days} days is shorter than ${c.min_days}`);
        }
        break;
      case 'CertificateLifetime':
        if (subject.profile_max_ttl_seconds && subject.profile_max_ttl_seconds > c.max_days * 86400) {
          add(rule, `profile allows ${Math.floor(subject.profile_max_ttl_seconds / 86400)} days, more than ${c.max_days}`);
        }
        break;
    }
  }
  return findings;
}
