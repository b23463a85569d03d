import { describe, expect, it } from 'vitest';
import { ConfigError, loadObservabilityLinks } from './config';

describe('CERTCTL_GRAFANA_URL / CERTCTL_PROMETHEUS_URL', () => {
  it('are absent when unset or empty', () => {
    expect(loadObservabilityLinks({})).toEqual({ grafanaUrl: undefined, prometheusUrl: undefined });
    expect(loadObservabilityLinks({ CERTCTL_GRAFANA_URL: '', CERTCTL_PROMETHEUS_URL: '' })).toEqual({ grafanaUrl: undefined, prometheusUrl: undefined });
  });

  it('keep an http(s) URL as given', () => {
    expect(loadObservabilityLinks({ CERTCTL_GRAFANA_URL: 'https://grafana.example.com/d/certctl', CERTCTL_PROMETHEUS_URL: 'http://prometheus:9090/' }))
      .toEqual({ grafanaUrl: 'https://grafana.example.com/d/certctl', prometheusUrl: 'http://prometheus:9090/' });
  });

  it.each([
    ['CERTCTL_GRAFANA_URL', 'grafana.example.com', /must be a URL/],
    ['CERTCTL_GRAFANA_URL', 'javascript:alert(1)', /must use http: or https:/],
    ['CERTCTL_PROMETHEUS_URL', 'ftp://prometheus.example.com/', /must use http: or https:/],
    ['CERTCTL_PROMETHEUS_URL', 'https://admin:secret@prometheus.example.com/', /must not carry credentials/],
  ])('%s=%s stops the process naming the variable', (name, value, message) => {
    let error: unknown;
    try {
      loadObservabilityLinks({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(name);
    expect((error as ConfigError).message).toMatch(message);
    expect((error as ConfigError).message).not.toContain('secret');
  });
});
