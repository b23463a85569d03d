#!/usr/bin/env node
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CertctlClient, CertctlConfigError, resolveSettings } from '@certctl/client';
import { buildMcpServer } from './server';

/**
 * stdio MCP server. stdout carries the protocol only: everything for humans goes to stderr. Settings come from
 * CERTCTL_SERVER_URL / CERTCTL_API_KEY, or a config file only when CERTCTL_CONFIG names one (never the CLI's default
 * file: another user's key must not be picked up by accident); without a key, or with an empty CERTCTL_API_KEY, it
 * stops at once, saying so.
 */
async function main(): Promise<void> {
  let client: CertctlClient;
  try {
    const settings = resolveSettings({ env: process.env, namedOnly: true });
    if (!settings.apiKey) throw new CertctlConfigError('no API key: set CERTCTL_API_KEY in the MCP server\'s environment');
    if (settings.keySource) process.stderr.write(`certctl-mcp: using the API key from ${settings.keySource} (CERTCTL_CONFIG)\n`);
    for (const warning of settings.warnings ?? []) process.stderr.write(`certctl-mcp: warning: ${warning}\n`);
    client = new CertctlClient(settings);
  } catch (err) {
    process.stderr.write(`certctl-mcp: ${(err as Error).message}\n`);
    process.exitCode = 3;
    return;
  }
  const server = buildMcpServer(client);
  const transport = new StdioServerTransport();
  await server.connect(transport);
  // The client hung up: nothing more can be asked or answered.
  process.stdin.once('end', () => process.exit(0));
  process.stderr.write(`certctl-mcp: serving certctl at ${client.serverUrl} over stdio\n`);
}

void main();
