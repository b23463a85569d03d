import { X509Certificate } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { DiscoveryReport } from '../protocol/api-client';

const PEM_EXTENSIONS = new Set(['.pem', '.crt', '.cer', '.cert']);
const DER_EXTENSIONS = new Set(['.der']);
/** Certificate files are small; a larger file with a certificate extension is not one worth reading. */
const MAX_FILE_BYTES = 1024 * 1024;
const MAX_CERTIFICATES = 5000;
const MAX_ERRORS = 1000;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Walks the configured directories (not following symbolic links, so a link cannot lead the walk in circles or
 * out of them) and collects every certificate in .pem/.crt/.cer/.cert (PEM, each block of a bundle) and .der
 * files, as the server's discovery report wants them. Private keys are never read: only certificate blocks are kept.
 */
export async function discoverCertificates(agentId: string, directories: string[]): Promise<DiscoveryReport> {
  const started = Date.now();
  const report: DiscoveryReport = { agent_id: agentId, directories, certificates: [], errors: [], scan_duration_ms: 0 };
  const addError = (message: string) => {
    if (report.errors.length < MAX_ERRORS) report.errors.push(message.slice(0, 4096));
  };

  const visit = async (path: string, depth: number): Promise<void> => {
    if (report.certificates.length >= MAX_CERTIFICATES || depth > 32) return;
    let info;
    try {
      info = await lstat(path);
    } catch (err) {
      addError(`${path}: ${(err as Error).message}`);
      return;
    }
    if (info.isDirectory()) {
      let names: string[];
      try {
        names = (await readdir(path)).sort();
      } catch (err) {
        addError(`${path}: ${(err as Error).message}`);
        return;
      }
      for (const name of names) await visit(join(path, name), depth + 1);
      return;
    }
    if (!info.isFile() || info.size > MAX_FILE_BYTES) return;
    const ext = extname(path).toLowerCase();
    if (!PEM_EXTENSIONS.has(ext) && !DER_EXTENSIONS.has(ext)) return;
    try {
      const bytes = await readFile(path);
      for (const pem of certificatesIn(bytes, DER_EXTENSIONS.has(ext))) {
        if (report.certificates.length >= MAX_CERTIFICATES) break;
        report.certificates.push({ pem_data: pem, source_path: path, source_format: DER_EXTENSIONS.has(ext) ? 'DER' : 'PEM' });
      }
    } catch (err) {
      addError(`${path}: ${(err as Error).message}`);
    }
  };

  for (const dir of directories) await visit(dir, 0);
  report.scan_duration_ms = Date.now() - started;
  return report;
}

/** PEM certificate blocks of a file (each checked to parse), or the one DER certificate as PEM. */
function certificatesIn(bytes: Buffer, der: boolean): string[] {
  if (der) return [new X509Certificate(bytes).toString()];
  const blocks = bytes.toString('utf8').match(PEM_BLOCK) ?? [];
  return blocks.filter((block) => {
    try {
      new X509Certificate(block);
      return true;
    } catch {
      return false;
    }
  }).map((block) => `${block}\n`);
}
