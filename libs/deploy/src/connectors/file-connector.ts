import { join } from 'node:path';
import { apply, PlanFile } from '../apply';
import { runCommand } from '../command';
import { PlanInvalidError, TargetConfigError } from '../errors';
import { firstExistingGroup } from '../ownership';
import { keyMismatch, leafFingerprint, VerificationMismatch, verifyServedCertificate } from '../verify';
import {
  Config, fileName, optionalBoolean, optionalInteger, optionalLocalCommand, optionalLocalPath, optionalMode, optionalPrincipal, optionalString,
  PostVerifyConfig, postVerify, requiredLocalCommand, requiredLocalPath,
} from './config-fields';
import type { ConnectorContext, DeployMaterial, DeployOutcome, TargetConnector } from './types';

/** What goes into a file: the leaf, leaf + chain, the chain, the key, or leaf + chain + key (HAProxy). */
type Content = 'leaf' | 'fullchain' | 'chain' | 'key' | 'combined' | 'sds';

interface FileSlot {
  /** Placeholder name in validate_command ({cert_path}, {key_path}, {chain_path}, {pem_path}) and field prefix. */
  slot: 'cert' | 'key' | 'chain' | 'pem' | 'sds';
  path: string;
  content: Content;
  mode?: number;
  owner?: string;
  group?: string;
}

interface FileTarget {
  files: FileSlot[];
  validateCommand?: string;
  reloadCommand?: string;
  verify?: PostVerifyConfig;
  backupRetention?: number;
  /** Group for new files when the config names none (e.g. nginx, then www-data), if such a group exists. */
  defaultGroup?: string;
}

/** A target type made of local files plus optional commands: NGINX, Apache, HAProxy, Postfix, Dovecot, Traefik, Envoy, Caddy (file mode), File. */
export class FileTargetConnector implements TargetConnector {
  constructor(readonly type: string, private readonly describe: (config: Config) => FileTarget) {}

  validateConfig(config: Config): void {
    this.describe(config);
  }

  async validateOnly(config: Config, ctx: ConnectorContext): Promise<string> {
    const target = this.describe(config);
    if (!target.validateCommand) return 'config is valid; this target type has no validate command';
    await runCommand(target.validateCommand, { timeoutMs: ctx.commandTimeoutMs, placeholders: livePlaceholders(target) });
    return `config is valid; ${target.validateCommand} succeeded`;
  }

  async deploy(config: Config, material: DeployMaterial, ctx: ConnectorContext): Promise<DeployOutcome> {
    const target = this.describe(config);
    const files: PlanFile[] = target.files.map((f) => ({
      path: f.path, content: contentOf(f, material, target), secret: f.content === 'key' || f.content === 'combined',
      mode: f.mode, owner: f.owner, group: f.group,
    }));
    const slotOf = new Map(target.files.map((f) => [f.path, f.slot]));
    const verifiedAt: { at: Date | null; fingerprint: string | null } = { at: null, fingerprint: null };
    const result = await apply({
      files,
      defaults: { group: target.defaultGroup },
      backupRetention: target.backupRetention ?? ctx.backupRetention,
      force: ctx.force,
      crossProcessLock: ctx.crossProcessLock,
      fence: ctx.fence,
      preCommit: async (temps) => {
        const problem = keyProblem(material);
        if (problem) throw new Error(problem);
        if (target.validateCommand) {
          const placeholders: Record<string, string> = {};
          for (const [final, temp] of temps) placeholders[`${slotOf.get(final)}_path`] = temp;
          await runCommand(target.validateCommand, { timeoutMs: ctx.commandTimeoutMs, placeholders });
        }
      },
      postCommit: target.reloadCommand
        ? async () => void (await runCommand(target.reloadCommand!, { timeoutMs: ctx.commandTimeoutMs, placeholders: livePlaceholders(target) }))
        : undefined,
      verify: target.verify
        ? async () => {
            try {
              verifiedAt.fingerprint = await verifyServedCertificate({ ...target.verify!, expectedFingerprint: leafFingerprint(material.certPem) });
              verifiedAt.at = new Date();
            } catch (err) {
              throw Object.assign(err as Error, { servedFingerprint: (err as VerificationMismatch).servedFingerprint ?? null });
            }
          }
        : undefined,
    });
    return {
      skippedAsIdempotent: result.skippedAsIdempotent, backupPaths: result.backupPaths, validateOk: result.validateOk,
      reloaded: result.reloaded, durationMs: result.durationMs,
      verification: result.verified
        ? { status: 'success', fingerprint: verifiedAt.fingerprint, verifiedAt: verifiedAt.at }
        : { status: 'skipped', fingerprint: null, verifiedAt: null, note: target.verify ? 'content unchanged' : 'no post_deploy_verify endpoint configured' },
    };
  }
}

/** keyMismatch parses the certificate and the key: done once per material (the orchestrator shares one per version). */
const keyProblems = new WeakMap<DeployMaterial, string | undefined>();

function keyProblem(material: DeployMaterial): string | undefined {
  if (!material.keyPem) return undefined;
  if (!keyProblems.has(material)) keyProblems.set(material, keyMismatch(material.certPem, material.keyPem));
  return keyProblems.get(material);
}

function livePlaceholders(target: FileTarget): Record<string, string> {
  return Object.fromEntries(target.files.map((f) => [`${f.slot}_path`, f.path]));
}

function contentOf(f: FileSlot, m: DeployMaterial, target: FileTarget): string {
  const needKey = () => {
    if (!m.keyPem) throw new PlanInvalidError('no private key is available here for this certificate (it was generated on an agent): deploy it through that agent');
    return m.keyPem;
  };
  const nl = (s: string) => (s && !s.endsWith('\n') ? `${s}\n` : s);
  switch (f.content) {
    case 'leaf': return nl(m.certPem);
    case 'fullchain': return nl(m.certPem) + nl(m.chainPem);
    case 'chain':
      if (!m.chainPem.trim()) throw new PlanInvalidError(`the certificate has no chain to write to ${f.path}`);
      return nl(m.chainPem);
    case 'key': return nl(needKey());
    case 'combined': return nl(m.certPem) + nl(m.chainPem) + nl(needKey());
    case 'sds': return sdsDocument(target);
  }
}

/** Envoy SDS: a file-based DiscoveryResponse naming the certificate files, watched by Envoy. */
function sdsDocument(target: FileTarget): string {
  const cert = target.files.find((f) => f.slot === 'cert')!.path;
  const key = target.files.find((f) => f.slot === 'key')!.path;
  return `${JSON.stringify({
    resources: [{
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      name: 'server_cert',
      tls_certificate: { certificate_chain: { filename: cert }, private_key: { filename: key } },
    }],
  }, null, 2)}\n`;
}

function slot(config: Config, slotName: FileSlot['slot'], path: string, content: Content): FileSlot {
  const secret = content === 'key' || content === 'combined';
  return {
    slot: slotName, path, content,
    mode: optionalMode(config, `${slotName}_file_mode`, secret),
    owner: optionalPrincipal(config, `${slotName}_file_owner`),
    group: optionalPrincipal(config, `${slotName}_file_group`),
  };
}

function common(config: Config): Pick<FileTarget, 'verify' | 'backupRetention'> {
  return { verify: postVerify(config), backupRetention: optionalInteger(config, 'backup_retention', -1, 100) };
}

/** cert_path (+ chain_path, key_path): without a chain_path, the chain follows the leaf in cert_path. */
function certKeyChain(config: Config, opts: { chainRequired?: boolean; keyRequired?: boolean; defaults?: { cert: string; key: string } } = {}): FileSlot[] {
  const certPath = opts.defaults ? (optionalLocalPath(config, 'cert_path') ?? opts.defaults.cert) : requiredLocalPath(config, 'cert_path');
  const keyPath = opts.defaults ? (optionalLocalPath(config, 'key_path') ?? opts.defaults.key)
    : opts.keyRequired ? requiredLocalPath(config, 'key_path') : optionalLocalPath(config, 'key_path');
  const chainPath = opts.chainRequired ? requiredLocalPath(config, 'chain_path') : optionalLocalPath(config, 'chain_path');
  const files = [slot(config, 'cert', certPath, chainPath ? 'leaf' : 'fullchain')];
  if (chainPath) files.push(slot(config, 'chain', chainPath, 'chain'));
  if (keyPath) files.push(slot(config, 'key', keyPath, 'key'));
  return files;
}

function directoryFiles(config: Config, dirField: string, names: { cert: [string, string]; key: [string, string]; chain?: [string, string] }): FileSlot[] {
  const dir = requiredLocalPath(config, dirField);
  const chainName = names.chain ? optionalString(config, names.chain[0]) : undefined;
  const files = [slot(config, 'cert', join(dir, fileName(config, names.cert[0], names.cert[1])), chainName ? 'leaf' : 'fullchain')];
  if (chainName) files.push(slot(config, 'chain', join(dir, fileName(config, names.chain![0], names.chain![1])), 'chain'));
  files.push(slot(config, 'key', join(dir, fileName(config, names.key[0], names.key[1])), 'key'));
  return files;
}

const groupOf = (...candidates: string[]) => firstExistingGroup(candidates);

export const fileConnectors: TargetConnector[] = [
  new FileTargetConnector('File', (c) => ({
    files: certKeyChain(c), validateCommand: optionalLocalCommand(c, 'validate_command'), reloadCommand: optionalLocalCommand(c, 'reload_command'), ...common(c),
  })),
  new FileTargetConnector('NGINX', (c) => ({
    files: certKeyChain(c), validateCommand: requiredLocalCommand(c, 'validate_command'), reloadCommand: requiredLocalCommand(c, 'reload_command'),
    defaultGroup: groupOf('nginx', 'www-data'), ...common(c),
  })),
  new FileTargetConnector('Apache', (c) => ({
    files: certKeyChain(c, { chainRequired: true, keyRequired: true }), validateCommand: requiredLocalCommand(c, 'validate_command'),
    reloadCommand: requiredLocalCommand(c, 'reload_command'), defaultGroup: groupOf('apache', 'www-data', 'httpd'), ...common(c),
  })),
  new FileTargetConnector('HAProxy', (c) => ({
    files: [slot(c, 'pem', requiredLocalPath(c, 'pem_path'), 'combined')], validateCommand: optionalLocalCommand(c, 'validate_command'),
    reloadCommand: requiredLocalCommand(c, 'reload_command'), defaultGroup: groupOf('haproxy'), ...common(c),
  })),
  ...(['postfix', 'dovecot'] as const).map((kind) => new FileTargetConnector(kind === 'postfix' ? 'Postfix' : 'Dovecot', (c) => {
    const mode = optionalString(c, 'mode') ?? kind;
    if (mode !== 'postfix' && mode !== 'dovecot') throw new TargetConfigError('mode', 'must be "postfix" or "dovecot"');
    return {
      files: certKeyChain(c, { defaults: { cert: `/etc/${mode}/certs/cert.pem`, key: `/etc/${mode}/certs/key.pem` } }),
      validateCommand: optionalLocalCommand(c, 'validate_command') ?? (mode === 'postfix' ? 'postfix check' : 'doveconf -n'),
      reloadCommand: optionalLocalCommand(c, 'reload_command') ?? (mode === 'postfix' ? 'postfix reload' : 'doveadm reload'),
      defaultGroup: groupOf(mode), ...common(c),
    };
  })),
  new FileTargetConnector('Traefik', (c) => ({
    files: directoryFiles(c, 'cert_dir', { cert: ['cert_file', 'cert.pem'], key: ['key_file', 'key.pem'] }), ...common(c),
  })),
  new FileTargetConnector('Envoy', (c) => {
    const files = directoryFiles(c, 'cert_dir', { cert: ['cert_filename', 'cert.pem'], key: ['key_filename', 'key.pem'], chain: ['chain_filename', 'chain.pem'] });
    if (optionalBoolean(c, 'sds_config')) files.push({ slot: 'sds', path: join(requiredLocalPath(c, 'cert_dir'), 'sds.json'), content: 'sds' });
    return { files, ...common(c) };
  }),
];

/**
 * Caddy in file mode: a directory Caddy loads with `tls <cert> <key>`, reloaded with `reload_command`
 * (e.g. `caddy reload --config ...`). The admin-API mode (certctl's default) is caddy-admin-connector.ts, which
 * hands `mode: "file"` configs to this one.
 */
export const caddyConnector = new FileTargetConnector('Caddy', (c) => {
  const mode = optionalString(c, 'mode');
  if (mode !== 'file') throw new TargetConfigError('mode', 'must be "file" here (the admin-API mode is the Caddy admin connector)');
  return {
    files: directoryFiles(c, 'cert_dir', { cert: ['cert_file', 'cert.pem'], key: ['key_file', 'key.pem'] }),
    reloadCommand: optionalLocalCommand(c, 'reload_command'), ...common(c),
  };
});
