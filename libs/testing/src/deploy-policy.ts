import { tmpdir } from 'node:os';
import {
  ALLOWED_ROOTS_SETTING, COMMAND_ALLOWLIST_SETTING, DEFAULT_ALLOWED_ROOTS, DEFAULT_COMMAND_ALLOWLIST, deployPolicyOf, parseAllowedRoots,
  parseCommandAllowlist, useDeployPolicy,
} from '../../deploy/src/policy';

/**
 * The deploy policy tests run under: the defaults, plus what the test fixtures need. Tests write below the OS temp
 * directory, run scripts they wrote there, and run the real peers (nginx, Apache, Postfix, Dovecot) on
 * configurations in temp directories. This widens the settings the way an administrator would; the checks stay on.
 */
export const TEST_ALLOWED_ROOTS = `${DEFAULT_ALLOWED_ROOTS},${tmpdir()}`;

export const TEST_COMMAND_ALLOWLIST = [
  DEFAULT_COMMAND_ALLOWLIST,
  `${tmpdir()}/* ...`,
  'nginx -p {path} -e {path} -c {path} -t -q',
  'apache2 -f {path} -t', 'httpd -f {path} -t',
  'postfix -c {path} check',
  'doveconf -c {path} -n',
  'openssl x509 -noout -in {path}', 'openssl version',
  'grep -q * {path}', 'test -s {path}',
  'true', 'false',
].join('\n');

/** For apps under test (each test environment's variables carry it). */
export const TEST_DEPLOY_ENV: Record<string, string> = {
  [ALLOWED_ROOTS_SETTING]: TEST_ALLOWED_ROOTS,
  [COMMAND_ALLOWLIST_SETTING]: TEST_COMMAND_ALLOWLIST,
};

/** For unit tests that deploy through libs/deploy in the test's own process. */
export function useTestDeployPolicy(extraCommands: string[] = []): void {
  useDeployPolicy(deployPolicyOf({
    commandAllowlist: parseCommandAllowlist([TEST_COMMAND_ALLOWLIST, ...extraCommands].join('\n')),
    allowedRoots: parseAllowedRoots(TEST_ALLOWED_ROOTS),
  }));
}
