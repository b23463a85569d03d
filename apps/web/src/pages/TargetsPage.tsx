import type { ConfigFieldSpec } from '../components/typed-form';
import { TypedResourcePage } from '../components/TypedResourcePage';

const FILE_FIELDS: ConfigFieldSpec[] = [
  { name: 'cert_path', label: 'Certificate path', required: true, hint: 'Absolute path' },
  { name: 'key_path', label: 'Private key path', hint: 'Absolute path' },
  { name: 'chain_path', label: 'Chain path' },
  { name: 'validate_command', label: 'Validate command', hint: 'Run without a shell, e.g. nginx -t' },
  { name: 'reload_command', label: 'Reload command' },
];

/** Target types and the config fields each one reads (the API checks them and names a bad one). */
export const TARGET_TYPE_FIELDS: Record<string, ConfigFieldSpec[]> = {
  File: FILE_FIELDS,
  NGINX: FILE_FIELDS,
  Apache: FILE_FIELDS,
  HAProxy: [
    { name: 'pem_path', label: 'Combined PEM path', required: true },
    { name: 'validate_command', label: 'Validate command' },
    { name: 'reload_command', label: 'Reload command' },
  ],
  SSH: [
    { name: 'host', label: 'Host', required: true },
    { name: 'port', label: 'Port', kind: 'number' },
    { name: 'user', label: 'User', required: true },
    { name: 'auth_method', label: 'Auth method', hint: 'key or password' },
    { name: 'private_key', label: 'Private key', kind: 'textarea' },
    { name: 'password', label: 'Password', kind: 'password' },
    { name: 'host_key_fingerprint', label: 'Host key fingerprint' },
    { name: 'cert_path', label: 'Certificate path', required: true },
    { name: 'key_path', label: 'Private key path', required: true },
    { name: 'reload_command', label: 'Reload command' },
  ],
  KubernetesSecrets: [
    { name: 'namespace', label: 'Namespace', required: true },
    { name: 'secret_name', label: 'Secret name', required: true },
    { name: 'kubeconfig_path', label: 'Kubeconfig path' },
    { name: 'context', label: 'Context' },
  ],
};

export default function TargetsPage() {
  return <TypedResourcePage title="Deployment targets" path="/targets" kind="target" types={TARGET_TYPE_FIELDS} testLabel="Dry run" detailPath="/targets" permissions={{ edit: 'target.edit', delete: 'target.delete', scoped: 'rows' }} />;
}
