import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiHarness, startApi } from '../support/api-harness';
import { certificateBody, createInventory, Inventory, post } from '../support/fixtures';

/** certctl's cursor mode on GET /certificates: keyset pages in created_at order, next to page/per_page. */
describe('certificate list: cursor pagination', () => {
  let api: ApiHarness;
  let inv: Inventory;
  const ids: string[] = [];

  beforeAll(async () => {
    api = await startApi();
    inv = await createInventory(api);
    for (let i = 0; i < 7; i++) ids.push((await post(api, '/api/v1/certificates', certificateBody(inv, { environment: i % 2 ? 'odd' : 'even' }))).id);
    // Two rows with the same created_at: the id breaks the tie, and no row is skipped or repeated.
    await api.db.query(`UPDATE managed_certificates SET created_at = (SELECT created_at FROM managed_certificates WHERE id = $1) WHERE id = $2`, [ids[2], ids[3]]);
  });
  afterAll(async () => api?.close());

  const get = (query: string) => api.http.get(`/api/v1/certificates?${query}`).set(api.auth());

  async function walk(query: string): Promise<{ ids: string[]; pages: number }> {
    const seen: string[] = [];
    let cursor = '';
    let pages = 0;
    do {
      const res = await get(`${query}&cursor=${cursor}`).expect(200);
      expect(Object.keys(res.body).sort()).toEqual(['data', 'next_cursor', 'page_size', 'total']);
      seen.push(...res.body.data.map((c: { id: string }) => c.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    return { ids: seen, pages };
  }

  it('walks every row once, in the order of page mode sorted by created_at', async () => {
    const byPage = (await get('per_page=500&sort=created_at').expect(200)).body.data.map((c: { id: string }) => c.id);
    const walked = await walk('per_page=3');
    expect(walked.ids).toEqual(byPage);
    expect(walked.pages).toBe(Math.ceil(byPage.length / 3));
    const first = (await get('per_page=3&cursor=').expect(200)).body;
    expect(first).toMatchObject({ page_size: 3, total: byPage.length });
    expect(Buffer.from(first.next_cursor, 'base64url').toString()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z:mc-/);
  });

  it('applies filters in cursor mode', async () => {
    const odd = (await get('per_page=500&environment=odd&sort=created_at').expect(200)).body.data.map((c: { id: string }) => c.id);
    expect(odd.length).toBe(3);
    expect((await walk('per_page=2&environment=odd')).ids).toEqual(odd);
  });

  it('400 naming cursor for a forged cursor, a cursor with page, or another sort order', async () => {
    for (const query of ['cursor=bm90LWEtY3Vyc29y', 'cursor=&page=2', 'cursor=&sort=-name', 'cursor=a%20b']) {
      const res = await get(query).expect(400);
      expect(res.body.details.map((d: { field: string }) => d.field), query).toEqual(['cursor']);
    }
  });
});
