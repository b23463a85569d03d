/** Set by the bundler (npm run build:agent) from package.json; "dev" when run from the TypeScript sources. */
declare const CERTCTL_AGENT_VERSION: string | undefined;

export const AGENT_VERSION: string = typeof CERTCTL_AGENT_VERSION === 'string' ? CERTCTL_AGENT_VERSION : 'dev';
