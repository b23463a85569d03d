/**
 * The parts of libs/deploy that run on the agent's host: Apply through the file-based connectors and the Caddy
 * admin-API connector, TLS verification, the result types. Imported file by file rather than through
 * `@certctl/deploy`, whose index also loads the SSH and Kubernetes clients: those targets are deployed by the
 * orchestrator, and leaving them out keeps the bundled agent small (and its memory at idle low).
 */
export { fileConnectors } from '../../../../../libs/deploy/src/connectors/file-connector';
export { CaddyConnector } from '../../../../../libs/deploy/src/connectors/caddy-admin-connector';
export type { DeployMaterial, DeployOutcome, TargetConnector } from '../../../../../libs/deploy/src/connectors/types';
export { DeployError, messageOf, PostVerifyFailedError, TargetConfigError } from '../../../../../libs/deploy/src/errors';
export { keyMismatch, leafFingerprint } from '../../../../../libs/deploy/src/verify';
export { DEFAULT_COMMAND_TIMEOUT_MS } from '../../../../../libs/deploy/src/command';
export { useDeployPolicy } from '../../../../../libs/deploy/src/policy';
export type { DeployPolicy } from '../../../../../libs/deploy/src/policy';
