import { DEFAULT_OUTBOUND_POLICY, setOutboundPolicy } from '@certctl/config';

/**
 * Integration and e2e test processes dial their own peers on 127.0.0.1 (Pebble, nginx, Caddy, sshd) through the
 * same guarded code as the apps (servedFingerprint, connectors run in-process). The apps under test get
 * CERTCTL_OUTBOUND_ALLOW_LOOPBACK=true from createTestEnvironment and set their own policy when they boot; this is
 * the same for code the test runs itself. Metadata and link-local stay refused, and the unit tests keep the
 * production default.
 */
setOutboundPolicy({ ...DEFAULT_OUTBOUND_POLICY, allowLoopback: true });
