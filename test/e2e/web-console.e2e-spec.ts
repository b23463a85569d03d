import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { keyWithRole } from '../support/fixtures';
import { ensureWebBuild } from '../support/web-build';

/** The web console served by the api, and the dashboard's stats endpoints' input checks. */
describe('web console served by the api', () => {
  let api: ApiHarness;
  let indexHtml: string;

  beforeAll(async () => {
    ensureWebBuild();
    api = await startApi();
    indexHtml = (await api.http.get('/').expect(200)).text;
  });
  afterAll(async () => api?.close());

  const scriptSrc = (csp: string) => csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src'));

  it('serves index.html at / with no-cache, a CSP that allows no inline script, and no inline script in the page', async () => {
    const res = await api.http.get('/').expect(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    const csp = res.headers['content-security-policy'] as string;
    expect(scriptSrc(csp)).toBe("script-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.text).toContain('<div id="root"></div>');
    const scripts = [...res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/assets\/[^"]+\.js"/);
      expect(body!.trim()).toBe('');
    }
  });

  it('answers deep links into the console with index.html (SPA fallback)', async () => {
    for (const path of ['/certificates', '/certificates/mc-www?tab=versions', '/notifications', '/login']) {
      const res = await api.http.get(path).set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8').expect(200);
      expect(res.text, path).toBe(indexHtml);
      expect(res.headers['cache-control']).toBe('no-cache');
      // A client that does not navigate (no text/html in Accept) gets the API's JSON 404, not the page.
      const asClient = await api.http.get(path).set('Accept', 'application/json').expect(404);
      expect(asClient.headers['content-type'], path).toContain('application/json');
    }
  });

  it('serves hashed assets with an immutable year-long cache, gzipped when accepted; a missing asset is a 404, not the page', async () => {
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(indexHtml)![1]!;
    const plain = await api.http.get(script).set('Accept-Encoding', 'identity').expect(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gzipped = await api.http.get(script).set('Accept-Encoding', 'gzip').buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    }).expect(200);
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    // supertest may or may not have inflated it already; either way the bytes are the same script.
    const body = gzipped.body as Buffer;
    const text = body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body).toString('utf8') : body.toString('utf8');
    expect(text).toBe(plain.text);

    const missing = await api.http.get('/assets/index-doesnotexist.js').expect(404);
    expect(missing.text).not.toContain('<div id="root">');
    await api.http.get('/favicon.ico').expect(404);
  });

  it('never shadows the server paths: /api, /health, /ready, /metrics, /.well-known, /admin/queues', async () => {
    const unknownApi = await api.http.get('/api/v1/no-such-route').set(api.auth()).expect(404);
    expect(unknownApi.headers['content-type']).toContain('application/json');
    expect((await api.http.get('/health').expect(200)).headers['content-type']).toContain('application/json');
    expect((await api.http.get('/ready')).headers['content-type']).toContain('application/json');
    expect((await api.http.get('/metrics').expect(200)).text).toContain('# HELP');
    expect((await api.http.get('/api/docs/openapi.json').expect(200)).body.openapi).toBe('3.1.0');
    for (const path of ['/.well-known/acme-challenge/unknown-token', '/.well-known/pki/crl/nope', '/admin/queues', '/api', '/api/v1']) {
      const res = await api.http.get(path);
      expect(res.text, path).not.toContain('<div id="root">');
    }
    // A POST to a console path is not the console's either.
    const post = await api.http.post('/certificates').send({});
    expect(post.text).not.toContain('<div id="root">');
  });

  it('stats endpoints: days outside 1..365 is a 400 naming the field; an auditor may not read them', async () => {
    for (const days of ['0', '366', 'abc', '1.5']) {
      const res = await api.http.get(`/api/v1/stats/expiration-timeline?days=${days}`).set(api.auth()).expect(400);
      expect(res.body.message, days).toContain('days');
    }
    const ok = await api.http.get('/api/v1/stats/job-trends?days=7').set(api.auth()).expect(200);
    expect(ok.body).toHaveLength(7);
    expect(ok.body[6]).toEqual({ date: new Date().toISOString().slice(0, 10), completed_count: 0, failed_count: 0, success_rate: 0 });
    expect((await api.http.get('/api/v1/stats/issuance-rate').set(api.auth()).expect(200)).body).toHaveLength(30);
    expect((await api.http.get('/api/v1/stats/certificates-by-status').set(api.auth()).expect(200)).body).toEqual([]);
    const viewer = await keyWithRole(api, 'viewer');
    await api.http.get('/api/v1/stats/certificates-by-status').set(api.auth(viewer)).expect(200);
    const auditor = await keyWithRole(api, 'auditor');
    await api.http.get('/api/v1/stats/expiration-timeline').set(api.auth(auditor)).expect(403);
  });
});
