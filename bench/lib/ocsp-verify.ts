import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { LoadRunResult } from './load-generator';

const execFileAsync = promisify(execFile);

async function openssl(cwd: string, args: string[]): Promise<string> {
  return execFileAsync('openssl', args, { cwd }).then(
    ({ stdout, stderr }) => `${stdout}${stderr}`,
    (err: { stdout?: string; stderr?: string; message: string }) => `${err.message} ${err.stdout ?? ''} ${err.stderr ?? ''}`,
  );
}

/**
 * Checks sampled OCSP answers with OpenSSL, each against the serial that was asked for:
 * `openssl ocsp -respin <answer> -issuer <ca> -CAfile <ca> -serial <asked> -no_nonce` must say "Response verify OK"
 * (signed by the CA or a responder it delegated to) and "<serial>: good"; an answer to a POST is also checked
 * against the request that was sent (`-reqin`), so its nonce must be echoed. `dir` holds the CA as `caFile`.
 */
export async function verifyOcspAnswers(
  dir: string, caFile: string, samples: LoadRunResult['samples'], serialOf: (request: number) => string,
): Promise<{ verified: number; problem?: string }> {
  let verified = 0;
  let problem: string | undefined;
  for (const [k, sample] of samples.entries()) {
    const answer = join(dir, `answer-${k}.der`);
    writeFileSync(answer, Buffer.from(sample.body, 'base64'));
    const serial = `0x${serialOf(sample.request).toUpperCase()}`;
    const status = await openssl(dir, ['ocsp', '-respin', answer, '-issuer', caFile, '-CAfile', caFile, '-serial', serial, '-no_nonce']);
    let nonce = '';
    if (sample.sent) {
      const request = join(dir, `request-${k}.der`);
      writeFileSync(request, Buffer.from(sample.sent, 'base64'));
      nonce = await openssl(dir, ['ocsp', '-respin', answer, '-reqin', request, '-CAfile', caFile]);
    }
    const nonceOk = !sample.sent || (/Response verify OK/.test(nonce) && !/no nonce|Nonce Verify error/i.test(nonce));
    if (/Response verify OK/.test(status) && new RegExp(`^${serial}: good$`, 'mi').test(status) && nonceOk) verified++;
    else problem ??= `serial ${serial}: ${status.trim().slice(0, 300)}${nonceOk ? '' : ` / against the request: ${nonce.trim().slice(0, 200)}`}`;
  }
  return { verified, ...(problem ? { problem } : {}) };
}
