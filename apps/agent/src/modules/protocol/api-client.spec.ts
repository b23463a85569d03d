import { createServer, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, IDLE_SOCKET_TIMEOUT_MS } from './api-client';

/** Until `condition` holds (checked every 20 ms), or fails after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

describe('ApiClient keep-alive connections', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  /**
   * A real node:http server with the given idle timeout; records, per connection, who closed it: `client` when
   * the client's FIN arrived while the server still had it open, `server` when the server's timer closed it.
   */
  async function serverClosingIdleAfter(keepAliveTimeoutMs: number) {
    const closedBy: Array<'client' | 'server'> = [];
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"jobs":[]}');
    });
    server.keepAliveTimeout = keepAliveTimeoutMs;
    server.on('connection', (socket: Socket) => {
      let clientEnded = false;
      socket.on('end', () => (clientEnded = true));
      socket.on('close', () => closedBy.push(clientEnded ? 'client' : 'server'));
    });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', () => done()));
    const client = new ApiClient({ serverUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, agentId: 'a1', apiKey: 'k' });
    return { client, closedBy };
  }

  it('closes an idle connection itself before the server\'s keep-alive timeout (Node default 5 s), so no call races the server closing it', async () => {
    const { client, closedBy } = await serverClosingIdleAfter(5_000);
    await client.work();
    await waitFor(() => closedBy.length === 1, 7_000);
    expect(closedBy).toEqual(['client']);
    expect(IDLE_SOCKET_TIMEOUT_MS).toBeLessThan(5_000);
    client.close();
  }, 10_000);

  it('follows a shorter idle timeout the server announces (Keep-Alive: timeout=3 → closed by the client within 2 s)', async () => {
    const { client, closedBy } = await serverClosingIdleAfter(3_000);
    const started = Date.now();
    await client.work();
    await waitFor(() => closedBy.length === 1, 5_000);
    expect(closedBy).toEqual(['client']);
    expect(Date.now() - started).toBeLessThan(2_900);
    client.close();
  }, 10_000);
});
