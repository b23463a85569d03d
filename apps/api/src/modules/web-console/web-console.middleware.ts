import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { NextFunction, Request, Response } from 'express';

/** Paths the console never answers, even when nothing else matches: they belong to the API and the operators. */
const SERVER_PREFIXES = ['/api', '/health', '/ready', '/metrics', '/.well-known', '/admin/queues', '/auth'];

/**
 * Scripts only from this origin (no inline script, no eval); inline styles are allowed because the chart
 * library positions its SVG with style attributes. The console talks only to its own origin.
 */
export const WEB_CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

interface StaticFile {
  body: Buffer;
  gzipped?: Buffer;
  contentType: string;
  cacheControl: string;
}

/**
 * Where the build is: dist/web next to the compiled api (dist/apps/api/src/modules/web-console), or, when the
 * api runs from its TypeScript sources (tests, dev), <root>/dist/web.
 */
export function findWebConsoleDir(): string | undefined {
  const root = resolve(__dirname, '..', '..', '..', '..', '..');
  return [join(root, 'web'), join(root, 'dist', 'web')].find((dir) => existsSync(join(dir, 'index.html')));
}

/** True for /api, /api/..., not for /apiary. */
export function isServerPath(path: string): boolean {
  return SERVER_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/**
 * Serves the built console from memory (it is a few hundred kilobytes, and immutable while the process runs):
 * hashed assets with a year-long immutable cache, index.html revalidated on every load, gzip when accepted,
 * and index.html for any other browser navigation (Accept: text/html) outside the server's own paths, so deep links
 * into the SPA work.
 */
export function webConsoleMiddleware(dir: string): (req: Request, res: Response, next: NextFunction) => void {
  const files = loadFiles(dir);
  const index = files.get('/index.html')!;
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || isServerPath(req.path)) return next();
    const file = files.get(req.path) ?? (req.path === '/' ? index : undefined);
    if (file) return send(req, res, file);
    // Deep links get the page only when a browser navigates (it asks for HTML). A missing asset, or a client that
    // wants JSON, falls through to the API's JSON 404, never the HTML page under a script's or a client's URL.
    const asset = req.path.startsWith('/assets/') || extname(req.path) !== '';
    if (asset || !String(req.headers.accept ?? '').includes('text/html')) return next();
    send(req, res, index);
  };
}

function send(req: Request, res: Response, file: StaticFile): void {
  const gzip = file.gzipped && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gzip ? file.gzipped! : file.body;
  res.setHeader('Content-Type', file.contentType);
  res.setHeader('Cache-Control', file.cacheControl);
  res.setHeader('Content-Security-Policy', WEB_CONSOLE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Vary', 'Accept-Encoding');
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  res.setHeader('Content-Length', String(body.length));
  res.status(200).end(req.method === 'HEAD' ? undefined : body);
}

function loadFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (current: string): void => {
    for (const name of readdirSync(current)) {
      const full = join(current, name);
      if (statSync(full).isDirectory()) {
        walk(full);
        continue;
      }
      const urlPath = `/${relative(dir, full).split(sep).join('/')}`;
      const body = readFileSync(full);
      const contentType = CONTENT_TYPES[extname(name)] ?? 'application/octet-stream';
      const compressible = /^(text\/|application\/json|image\/svg)/.test(contentType) && body.length > 1024;
      files.set(urlPath, {
        body,
        gzipped: compressible ? gzipSync(body, { level: 9 }) : undefined,
        contentType,
        // Vite names everything under assets/ by content hash: a new build means new names.
        cacheControl: urlPath.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      });
    }
  };
  walk(dir);
  return files;
}
