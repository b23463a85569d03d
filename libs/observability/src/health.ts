import { Controller, Get, HttpStatus, Inject, Module, Res, SetMetadata } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Response } from 'express';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { migrationsApplied, REDIS } from '@certctl/db';

type CheckResult = 'ok' | string;

/** Route metadata key an app's auth guard reads; 'public' routes need no credentials. */
export const ACCESS_METADATA = 'certctl:access';
export const PublicRoute = () => SetMetadata(ACCESS_METADATA, 'public');

/** `/health`: the process is alive. `/ready`: Postgres and Redis answer and every migration is applied. */
@PublicRoute()
@Controller()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get('health')
  health(): { status: 'healthy' } {
    return { status: 'healthy' };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) res: Response): Promise<{ status: string; checks: Record<string, CheckResult> }> {
    const [database, migrations, redis] = await Promise.all([
      this.check(async () => void (await this.dataSource.query('SELECT 1'))),
      this.check(async () => {
        if (!(await migrationsApplied(this.dataSource))) throw new Error('pending migrations');
      }),
      this.check(async () => void (await this.redis.ping())),
    ]);
    const checks = { database, migrations, redis };
    const ok = Object.values(checks).every((c) => c === 'ok');
    res.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ok ? 'ready' : 'not_ready', checks };
  }

  private async check(probe: () => Promise<void>): Promise<CheckResult> {
    try {
      await withTimeout(probe(), 2000);
      return 'ok';
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}

@Module({ controllers: [HealthController] })
export class HealthModule {}
