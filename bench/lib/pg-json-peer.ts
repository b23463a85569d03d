/**
 * The read path's reference point ("the machine's limit"): a bare node:http server answering the certificate list
 * with PostgreSQL building the whole JSON body, no framework, no auth, no validation. `api.bench` runs it beside
 * the api on the same database and load, so the api's figures read as a fraction of what this machine can do.
 * Run as a child process: `node dist/bench/lib/pg-json-peer.js` with PEER_DATABASE_URL and PEER_PORT.
 * Totals are reused for 5 s per filter, as the api's CERTCTL_READ_CACHE_TTL does.
 */
import { Pool } from 'pg';
import { servePeer } from './peer-server';

const COLUMNS = [
  'id', 'name', 'common_name', 'sans', 'environment', 'owner_id', 'team_id', 'issuer_id', 'renewal_policy_id',
  'certificate_profile_id', 'status', 'expires_at', 'tags', 'last_renewal_at', 'last_deployment_at', 'revoked_at',
  'revocation_reason', 'source', 'created_at', 'updated_at',
];
const TOTAL_TTL_MS = 5_000;

const pool = new Pool({ connectionString: process.env.PEER_DATABASE_URL, max: 20 });
const totals = new Map<string, { at: number; value: Promise<number> }>();

function total(where: string, params: unknown[]): Promise<number> {
  const key = JSON.stringify([where, params]);
  const hit = totals.get(key);
  if (hit && Date.now() - hit.at < TOTAL_TTL_MS) return hit.value;
  const value = pool.query<{ n: string }>(`SELECT count(*) AS n FROM managed_certificates ${where}`, params).then((r) => Number(r.rows[0]!.n));
  totals.set(key, { at: Date.now(), value });
  return value;
}

async function page(url: URL): Promise<string> {
  const q = url.searchParams;
  const perPage = Number(q.get('per_page') ?? 50);
  const pageNo = Number(q.get('page') ?? 1);
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replace('?', `$${params.length}`));
  };
  if (q.get('status')) add('status = ?', q.get('status'));
  if (q.get('expires_before')) add('expires_at < ?', q.get('expires_before'));
  if (q.get('search')) add('search_text LIKE ?', `%${q.get('search')!.toLowerCase()}%`);
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  const rows = await pool.query<{ body: string }>(
    `SELECT json_build_object('data', coalesce(json_agg(json_build_object(${COLUMNS.map((c) => `'${c}', c.${c}`).join(', ')})
              ORDER BY c.created_at, c.id), '[]'::json))::text AS body
       FROM (SELECT id FROM managed_certificates ${where} ORDER BY created_at, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}) p
       JOIN managed_certificates c ON c.id = p.id`,
    [...params, perPage, (pageNo - 1) * perPage],
  );
  const n = await total(where, params);
  // The envelope's tail is spliced in as text: PostgreSQL built the rows, nothing here parses them.
  return `${rows.rows[0]!.body.slice(0, -1)},"total":${n},"page":${pageNo},"per_page":${perPage}}`;
}

servePeer(pool, page);
