import { createServer } from 'node:http';
import type { Pool } from 'pg';

/**
 * The HTTP shell shared by the bench's api peers (pg-json-peer, pg-prepared-peer): `/ready`, the certificate list
 * answered by `page`, 404 for anything else, on PEER_PORT; SIGTERM closes the server and the pool.
 */
export function servePeer(pool: Pool, page: (url: URL) => Promise<string>): void {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://peer');
    if (url.pathname === '/ready') return void res.writeHead(200).end('ok');
    if (url.pathname !== '/api/v1/certificates') return void res.writeHead(404).end();
    page(url).then(
      (body) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  server.listen(Number(process.env.PEER_PORT), '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
}
