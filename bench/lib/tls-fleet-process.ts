/**
 * A child process of bench:scan holding part of the TLS fleet: one node:tls listener per loopback address given,
 * all on one port, each with its own leaf certificate (from test/support/tls-fleet's PKI). Kept out of the bench's
 * own process so the plain `tls.connect` loop (which runs there) does not share an event loop with the servers.
 *
 * Protocol (IPC): the parent sends { addresses, port }; the child answers { fingerprints: { "addr:port": sha256 } }
 * once every listener is up, and exits on 'disconnect'.
 */
import type { Server } from 'node:net';
import { closeAll, startTlsListener, TestPki } from '../../test/support/tls-fleet';

interface FleetRequest {
  addresses: string[];
  port: number;
}

process.once('message', (request: FleetRequest) => {
  void (async () => {
    const pki = await TestPki.create();
    const servers: Server[] = [];
    const fingerprints: Record<string, string> = {};
    for (const address of request.addresses) {
      const identity = await pki.leaf(`${address.replace(/\./g, '-')}.scan.bench.test`);
      servers.push(await startTlsListener(address, request.port, identity));
      fingerprints[`${address}:${request.port}`] = identity.fingerprint;
    }
    process.send!({ fingerprints });
    process.once('disconnect', () => void closeAll(servers).finally(() => process.exit(0)));
  })().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
});
