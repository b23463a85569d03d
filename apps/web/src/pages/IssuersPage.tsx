import type { ConfigFieldSpec } from '../components/typed-form';
import { TypedResourcePage } from '../components/TypedResourcePage';

/** The issuer types this server runs, with the config fields each one reads. */
export const ISSUER_TYPE_FIELDS: Record<string, ConfigFieldSpec[]> = {
  GenericCA: [
    { name: 'ca_common_name', label: 'CA common name', hint: 'Default: certctl Local CA' },
    { name: 'validity_days', label: 'Validity (days)', kind: 'number', hint: '1 to 825' },
    { name: 'crl_url', label: 'CRL URL' },
  ],
  ACME: [
    { name: 'directory_url', label: 'Directory URL', required: true },
    { name: 'email', label: 'Account email' },
    { name: 'challenge_type', label: 'Challenge type', hint: 'http-01 or dns-01' },
    { name: 'http_port', label: 'HTTP-01 port', kind: 'number' },
    { name: 'eab_kid', label: 'EAB key id' },
    { name: 'eab_hmac_key', label: 'EAB HMAC key', kind: 'password' },
    { name: 'dns_present_script', label: 'DNS present script' },
    { name: 'dns_cleanup_script', label: 'DNS cleanup script' },
    { name: 'ca_bundle_pem', label: 'CA bundle (PEM) for the ACME server', kind: 'textarea' },
    { name: 'ari_enabled', label: 'Use ARI (renewal information)', kind: 'checkbox' },
  ],
};

export default function IssuersPage() {
  return <TypedResourcePage title="Issuers" path="/issuers" kind="issuer" types={ISSUER_TYPE_FIELDS} testLabel="Test" detailPath="/issuers" permissions={{ edit: 'issuer.edit', delete: 'issuer.delete', scoped: 'issuer' }} />;
}
