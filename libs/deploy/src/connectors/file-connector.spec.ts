import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDeployPolicy } from '@certctl/testing';
import { PlanInvalidError, ValidateFailedError } from '../errors';
import { TestCa } from '../testing/material';
import { connectorFor } from './registry';
import type { DeployMaterial } from './types';

let ca: TestCa;
let m: DeployMaterial;
beforeAll(async () => {
  // The tests' deploy policy: temp directories are allowed roots, and the few commands below are allowed.
  useTestDeployPolicy();
  ca = await TestCa.create();
  m = await ca.issue();
});
const scratch = () => mkdtempSync(join(tmpdir(), 'connector-'));

describe('file-based connectors', () => {
  it('File: validate_command runs against the new temp files ({cert_path}), before they go live', async () => {
    const dir = scratch();
    const config = { cert_path: join(dir, 'c.pem'), key_path: join(dir, 'k.pem'), validate_command: 'openssl x509 -noout -in {cert_path}' };
    const result = await connectorFor('File')!.deploy(config, m, {});
    expect(result).toMatchObject({ validateOk: true, skippedAsIdempotent: false, verification: { status: 'skipped' } });
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe(m.certPem + m.chainPem);
    expect(statSync(join(dir, 'k.pem')).mode & 0o777).toBe(0o600);

    const broken = { ...m, certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' };
    await expect(connectorFor('File')!.deploy({ ...config, key_path: undefined }, broken, {})).rejects.toBeInstanceOf(ValidateFailedError);
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe(m.certPem + m.chainPem);
    expect(readdirSync(dir).filter((n) => n.includes('.certctl-tmp.'))).toEqual([]);
  });

  it('refuses to write a key file when the key was made on an agent', async () => {
    const dir = scratch();
    await expect(connectorFor('File')!.deploy({ cert_path: join(dir, 'c.pem'), key_path: join(dir, 'k.pem') }, { ...m, keyPem: null }, {}))
      .rejects.toBeInstanceOf(PlanInvalidError);
  });

  it('Traefik: certificate and key in the watched directory, no commands', async () => {
    const dir = scratch();
    await connectorFor('Traefik')!.deploy({ cert_dir: dir, cert_file: 'site.crt', key_file: 'site.key' }, m, {});
    expect(readdirSync(dir).sort()).toEqual(['site.crt', 'site.key']);
    expect(readFileSync(join(dir, 'site.key'), 'utf8')).toBe(m.keyPem);
  });

  it('Envoy: separate chain file and an SDS document naming the files', async () => {
    const dir = scratch();
    await connectorFor('Envoy')!.deploy({ cert_dir: dir, chain_filename: 'chain.pem', sds_config: true }, m, {});
    expect(readdirSync(dir).sort()).toEqual(['cert.pem', 'chain.pem', 'key.pem', 'sds.json']);
    expect(readFileSync(join(dir, 'cert.pem'), 'utf8')).toBe(m.certPem);
    const sds = JSON.parse(readFileSync(join(dir, 'sds.json'), 'utf8'));
    expect(sds.resources[0].tls_certificate).toEqual({ certificate_chain: { filename: join(dir, 'cert.pem') }, private_key: { filename: join(dir, 'key.pem') } });
  });

  it('HAProxy: one combined PEM (leaf, chain, key) at 0600', async () => {
    const dir = scratch();
    await connectorFor('HAProxy')!.deploy({ pem_path: join(dir, 'site.pem'), reload_command: 'true' }, m, {});
    expect(readFileSync(join(dir, 'site.pem'), 'utf8')).toBe(m.certPem + m.chainPem + m.keyPem);
    expect(statSync(join(dir, 'site.pem')).mode & 0o777).toBe(0o600);
  });

  it('Dovecot: chain appended to the certificate when no chain_path; validate and reload are its commands', async () => {
    const dir = scratch();
    const config = { cert_path: join(dir, 'c.pem'), key_path: join(dir, 'k.pem'), validate_command: 'true', reload_command: 'true' };
    expect(await connectorFor('Dovecot')!.deploy(config, m, {})).toMatchObject({ validateOk: true, reloaded: true });
    expect(readFileSync(join(dir, 'c.pem'), 'utf8')).toBe(m.certPem + m.chainPem);
  });
});
