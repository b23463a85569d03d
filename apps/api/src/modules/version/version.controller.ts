import { readFileSync } from 'node:fs';
import { Returns, bool, objectOf, str } from '../../common/openapi/response-schemas';
import { dirname, join } from 'node:path';
import { Controller, Get, Module } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from '../../common/auth/access.decorator';

export interface VersionInfo {
  /** The release (package.json's version). */
  version: string;
  /** The git commit built (certctl's `commit`); empty for a build outside a git checkout. */
  commit: string;
  /** Whether the build had uncommitted changes to tracked files (certctl's `modified`). */
  modified: boolean;
  /** When `npm run build` ran, RFC 3339 (certctl's `build_time`); empty when unknown. */
  build_time: string;
  /** The runtime that runs this build, where certctl reports `go_version` (e.g. "v22.12.0"). */
  runtime_version: string;
  /** The same Node.js version, under the name this API has always used. */
  node_version: string;
  api_version: 'v1';
}

/** The nearest file `name` above this file that `accept` takes, whether it runs from the sources or from dist/. */
function findUp<T>(name: string, accept: (content: string) => T | undefined): T | undefined {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const found = accept(readFileSync(join(dir, name), 'utf8'));
      if (found !== undefined) return found;
    } catch {
      // not here: keep walking up
    }
  }
  return undefined;
}

function packageVersion(): string {
  return findUp('package.json', (text) => {
    const pkg = JSON.parse(text) as { name?: string; version?: string };
    return pkg.name === 'certctl' && pkg.version ? pkg.version : undefined;
  }) ?? 'dev';
}

/** dist/build-info.json, written by the build (scripts/build-info.ts); absent when running from the sources. */
function buildInfo(): Pick<VersionInfo, 'commit' | 'modified' | 'build_time'> {
  const info = findUp('build-info.json', (text) => JSON.parse(text) as Partial<VersionInfo>);
  return {
    commit: typeof info?.commit === 'string' ? info.commit : '',
    modified: info?.modified === true,
    build_time: typeof info?.build_time === 'string' ? info.build_time : '',
  };
}

const VERSION: VersionInfo = {
  version: packageVersion(), ...buildInfo(), runtime_version: process.version, node_version: process.version, api_version: 'v1',
};

/** GET /api/v1/version: what build answers, without a key (rollout checks poll it; it is not audited). */
@ApiTags('meta')
@Controller('version')
export class VersionController {
  @Get()
  @Public()
  @Returns(objectOf({
    version: str, commit: str, modified: bool, build_time: { type: 'string', description: 'RFC 3339, or empty when unknown' },
    runtime_version: str, node_version: str, api_version: { const: 'v1' },
  }))
  version(): VersionInfo {
    return VERSION;
  }
}

@Module({ controllers: [VersionController] })
export class VersionModule {}
