import { describe, expect, it } from 'vitest';
import { channelsFor, severityTier } from './notifications';

describe('severityTier', () => {
  const map = { '30': 'info', '14': 'warning', '7': 'critical', '0': 'critical' };

  it('takes the tier of the smallest threshold at or above the one crossed', () => {
    expect(severityTier('ExpirationWarning', 30, map)).toBe('info');
    expect(severityTier('ExpirationWarning', 10, map)).toBe('warning');
    expect(severityTier('ExpirationWarning', 7, map)).toBe('critical');
    expect(severityTier('ExpirationWarning', 0, map)).toBe('critical');
  });

  it('uses the largest entry beyond every threshold, and a default without a map', () => {
    expect(severityTier('ExpirationWarning', 60, map)).toBe('info');
    expect(severityTier('ExpirationWarning', 5, {})).toBe('critical');
    expect(severityTier('ExpirationWarning', 21, {})).toBe('warning');
  });

  it('derives the tier from the event type otherwise', () => {
    expect(severityTier('RenewalFailure', undefined, map)).toBe('critical');
    expect(severityTier('RenewalSuccess', undefined, map)).toBe('info');
    expect(severityTier('PolicyViolation', undefined)).toBe('warning');
  });
});

describe('channelsFor', () => {
  it("uses the tier's channels, then the policy's default entry, then the environment's", () => {
    const channels = { critical: ['PagerDuty', 'Email', 'PagerDuty'], default: ['Slack'] };
    expect(channelsFor('critical', channels, ['Email'])).toEqual(['PagerDuty', 'Email']);
    expect(channelsFor('warning', channels, ['Email'])).toEqual(['Slack']);
    expect(channelsFor('warning', {}, ['Email', 'Webhook'])).toEqual(['Email', 'Webhook']);
  });

  it('drops unknown names and never returns an empty list', () => {
    expect(channelsFor('critical', { critical: ['Pager', 42] }, ['Email'])).toEqual(['Email']);
    expect(channelsFor('critical', { critical: [] }, ['Email'])).toEqual(['Email']);
  });
});
