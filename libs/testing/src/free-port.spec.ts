import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { freePort } from './local-services';

describe('freePort', () => {
  it('gives ports below the ephemeral range (never a future outbound source port) that a listener can take on every address', async () => {
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(1024);
      expect(port).toBeLessThan(ephemeralLow);
    }
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(ports[0], resolve));
    expect((server.address() as { port: number }).port).toBe(ports[0]);
    await new Promise((resolve) => server.close(resolve));
  });

  it('passes over a port a listener holds and tries another', async () => {
    const heldPort = await freePort();
    const held = createServer();
    await new Promise<void>((resolve) => held.listen(heldPort, '127.0.0.1', resolve));
    try {
      // The first pick lands on the held port (random() is chosen to hit it), the second anywhere.
      const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
      const low = Math.min(20000, ephemeralLow - 2000);
      const random = vi.spyOn(Math, 'random').mockReturnValueOnce((heldPort - low + 0.5) / (ephemeralLow - low));
      const port = await freePort();
      expect(random).toHaveBeenCalledTimes(2);
      expect(port).not.toBe(heldPort);
    } finally {
      vi.restoreAllMocks();
      await new Promise((resolve) => held.close(resolve));
    }
  });
});
