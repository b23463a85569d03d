import { readFileSync } from 'node:fs';
import { Returns, objectOf, str } from '../../common/openapi/response-schemas';
import { dirname, join } from 'node:path';
import { Controller, Get, Module } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from '../../common/auth/access.decorator';

export interface VersionInfo {
  /** The release (package.json's version). */
  version: string;
  /** The runtime, where certctl reports `go_version`. */
  node_version: string;
  api_version: 'v1';
}

/** The package.json above this file, whether it runs from the sources or from dist/. */
function packageVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'certctl' && pkg.version) return pkg.version;
    } catch {
      // not here: keep walking up
    }
  }
  return 'dev';
}

const VERSION: VersionInfo = { version: packageVersion(), node_version: process.version, api_version: 'v1' };

/** GET /api/v1/version: what build answers, without a key (rollout checks poll it; it is not audited). */
@ApiTags('meta')
@Controller('version')
export class VersionController {
  @Get()
  @Public()
  @Returns(objectOf({ version: str, node_version: str, api_version: { const: 'v1' } }))
  version(): VersionInfo {
    return VERSION;
  }
}

@Module({ controllers: [VersionController] })
export class VersionModule {}
