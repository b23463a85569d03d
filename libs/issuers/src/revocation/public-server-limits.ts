import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { clientKeyOf } from './client-key';

const REQUEST_SEEN = Symbol('certctl.requestSeen');

/**
 * Limits of an HTTP server that serves the public, unauthenticated routes (the api and apps/responder):
 * - a connection must deliver its first request head within CERTCTL_HTTP_HEADERS_TIMEOUT, or it is closed (its
 *   own timer: Node checks server.headersTimeout and requestTimeout, set here too, only every 30 s);
 * - a whole request (head and body) within CERTCTL_HTTP_REQUEST_TIMEOUT (server.requestTimeout);
 * - with `capConnectionsPerClient` (the responder), at most CERTCTL_RESPONDER_MAX_CONNECTIONS_PER_CLIENT open
 *   connections per client (IPv4 address, IPv6 /64); the ones past it are closed as they arrive.
 * OCSP request bodies have their own, shorter limit (CERTCTL_OCSP_BODY_TIMEOUT) where they are read.
 */
export function limitPublicServer(app: INestApplication, options: { capConnectionsPerClient: boolean }): void {
  const server = app.getHttpServer() as Server;
  const limits = app.get<AppConfig>(APP_CONFIG).revocation;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  const cap = options.capConnectionsPerClient ? limits.responderMaxConnectionsPerClient : 0;
  const open = new Map<string, number>();

  server.on('connection', (socket: Socket & { [REQUEST_SEEN]?: boolean }) => {
    if (cap > 0) {
      const client = clientKeyOf(socket.remoteAddress);
      const count = (open.get(client) ?? 0) + 1;
      if (count > cap) {
        socket.destroy();
        return;
      }
      open.set(client, count);
      socket.once('close', () => {
        const left = (open.get(client) ?? 1) - 1;
        if (left > 0) open.set(client, left);
        else open.delete(client);
      });
    }
    const headDeadline = setTimeout(() => { if (!socket[REQUEST_SEEN]) socket.destroy(); }, limits.headersTimeoutMs).unref();
    socket.once('close', () => clearTimeout(headDeadline));
  });
  server.on('request', (req) => {
    (req.socket as Socket & { [REQUEST_SEEN]?: boolean })[REQUEST_SEEN] = true;
  });
}
