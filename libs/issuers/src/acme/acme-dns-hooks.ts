import { execFile } from 'node:child_process';
import { IssuerError } from '../issuer-connector';

export interface DnsChallengeEnv {
  /** The identifier being validated (for a wildcard, its base domain). */
  domain: string;
  token: string;
  /** The TXT record value: base64url(SHA-256(key authorization)). */
  value: string;
}

/**
 * The environment a hook sees: the four certctl variables and a fixed PATH, nothing of the server's own
 * environment (which holds the database URL and the encryption key).
 */
export function dnsHookEnvironment(c: DnsChallengeEnv): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CERTCTL_DNS_DOMAIN: c.domain,
    CERTCTL_DNS_FQDN: `_acme-challenge.${c.domain}.`,
    CERTCTL_DNS_TOKEN: c.token,
    CERTCTL_DNS_VALUE: c.value,
  };
}

const tail = (s: string, n = 400) => (s.length > n ? `…${s.slice(-n)}` : s).trim();

/**
 * Runs an operator's dns-01 hook (present or cleanup) directly, without a shell: argv is the script alone and
 * the challenge is passed in the environment. A missing or non-executable script is a config error
 * (permanent); a failing or hanging one may be a passing DNS-provider outage (transient).
 */
export function runDnsHook(script: string, challenge: DnsChallengeEnv, timeoutMs: number): Promise<void> {
  const env = dnsHookEnvironment(challenge);
  return new Promise((resolve, reject) => {
    execFile(script, [], { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, windowsHide: true }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: string | number | null; signal?: string | null };
      if (e.code === 'ENOENT' || e.code === 'EACCES') {
        return reject(new IssuerError('permanent', `dns hook ${script} cannot be run: ${e.code === 'ENOENT' ? 'no such file' : 'not executable'}`));
      }
      if (e.killed) return reject(new IssuerError('transient', `dns hook ${script} did not finish within ${Math.round(timeoutMs / 1000)} s`));
      const output = tail(String(stderr ?? ''));
      reject(new IssuerError('transient', `dns hook ${script} failed (exit ${e.code ?? e.signal})${output ? `: ${output}` : ''}`));
    });
  });
}
