import { canonicalTargetType } from '@certctl/contracts';
import { TargetConfigError } from '../errors';
import { CaddyConnector } from './caddy-admin-connector';
import { fileConnectors } from './file-connector';
import { KubernetesSecretConnector } from './kubernetes-connector';
import { SshConnector } from './ssh-connector';
import type { TargetConnector } from './types';

const connectors = new Map<string, TargetConnector>([...fileConnectors, new CaddyConnector(), new SshConnector(), new KubernetesSecretConnector()].map((c) => [c.type, c]));

/** Adds a connector (SSH, Kubernetes) to the registry; the last registration of a type wins. */
export function registerConnector(connector: TargetConnector): void {
  connectors.set(connector.type, connector);
}

export function connectorFor(type: string): TargetConnector | undefined {
  return connectors.get(canonicalTargetType(type));
}

export function supportedTargetTypes(): string[] {
  return [...connectors.keys()].sort();
}

/** Checks a target's config for its type; throws TargetConfigError naming the field. */
export function validateTargetConfig(type: string, config: Record<string, unknown>): void {
  const connector = connectors.get(canonicalTargetType(type));
  if (!connector) throw new TargetConfigError('type', `target type ${type} has no connector in this build`);
  connector.validateConfig(config);
}
