/**
 * The api's second reference point, written as a careful engineer would write the endpoint with no framework:
 * bare node:http + pg, one named (server-side prepared) statement per filter shape, PostgreSQL building the page
 * with json_agg, the total reused for 5 s per filter as the api's CERTCTL_READ_CACHE_TTL does. No auth, no
 * validation beyond what the queries need. Same pool size and the same client behaviour as the api in api.bench.
 * Run as a child process: `node dist/bench/lib/pg-prepared-peer.js` with PEER_DATABASE_URL, PEER_PORT, PEER_POOL.
 */
import { Pool } from 'pg';
import { servePeer } from './peer-server';

const COLUMNS = [
  'id', 'name', 'common_name', 'sans', 'environment', 'owner_id', 'team_id', 'issuer_id', 'renewal_policy_id',
  'certificate_profile_id', 'status', 'expires_at', 'tags', 'last_renewal_at', 'last_deployment_at', 'revoked_at',
  'revocation_reason', 'source', 'created_at', 'updated_at',
];
const TOTAL_TTL_MS = 5_000;
const ROW_JSON = `json_build_object(${COLUMNS.map((c) => `'${c}', c.${c}`).join(', ')})`;

const pool = new Pool({ connectionString: process.env.PEER_DATABASE_URL, max: Number(process.env.PEER_POOL ?? 20) });
const totals = new Map<string, { at: number; value: Promise<number> }>();

/** A filter shape: which optional conditions are present decides the statement (and its name). */
function shapeOf(q: URLSearchParams): { key: string; where: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const names: string[] = [];
  const add = (name: string, sql: string, value: unknown) => {
    params.push(value);
    names.push(name);
    clauses.push(sql.replace('?', `$${params.length}`));
  };
  if (q.get('status')) add('s', 'status = ?', q.get('status'));
  if (q.get('expires_before')) add('e', 'expires_at < ?::timestamptz', q.get('expires_before'));
  if (q.get('search')) add('q', 'search_text LIKE ?', `%${q.get('search')!.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%`);
  return { key: names.join('') || 'all', where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

function total(shape: ReturnType<typeof shapeOf>): Promise<number> {
  const cacheKey = JSON.stringify([shape.key, shape.params]);
  const hit = totals.get(cacheKey);
  if (hit && Date.now() - hit.at < TOTAL_TTL_MS) return hit.value;
  const value = pool
    .query<{ n: string }>({ name: `count_${shape.key}`, text: `SELECT count(*) AS n FROM managed_certificates ${shape.where}`, values: shape.params })
    .then((r) => Number(r.rows[0]!.n));
  totals.set(cacheKey, { at: Date.now(), value });
  return value;
}

async function page(url: URL): Promise<string> {
  const q = url.searchParams;
  const perPage = Math.min(500, Math.max(1, Number(q.get('per_page') ?? 50) || 50));
  const pageNo = Math.max(1, Number(q.get('page') ?? 1) || 1);
  const shape = shapeOf(q);
  const n = shape.params.length;
  const [rows, count] = await Promise.all([
    pool.query<{ data: string }>({
      name: `page_${shape.key}`,
      text: `SELECT coalesce(json_agg(${ROW_JSON} ORDER BY c.created_at, c.id), '[]'::json)::text AS data
               FROM (SELECT id FROM managed_certificates ${shape.where} ORDER BY created_at, id LIMIT $${n + 1} OFFSET $${n + 2}) p
               JOIN managed_certificates c ON c.id = p.id`,
      values: [...shape.params, perPage, (pageNo - 1) * perPage],
    }),
    total(shape),
  ]);
  return `{"data":${rows.rows[0]!.data},"total":${count},"page":${pageNo},"per_page":${perPage}}`;
}

servePeer(pool, page);
