/**
 * The api as `node dist/apps/api/src/main.js` runs it, plus a STAND-IN for the scoped grants the auth guard will
 * load (issue 23): after the real guard has authenticated a request, a key whose name starts with
 * BENCH_SCOPED_ACTOR_PREFIX gets the grants of BENCH_SCOPED_GRANTS (JSON), as the guard will set `principal.grants`
 * from the key's roles. Used by bench:api's team-scoped scenario only; once grants are loaded for real, the bench
 * grants a scoped role to its key through the API and runs the shipped main instead.
 */
import 'reflect-metadata';
import type { ExecutionContext } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { exitOnSignals, PinoNestLogger, runMain } from '@certctl/observability';
import { createApiApp } from '../../apps/api/src/app.factory';
import { AuthGuard } from '../../apps/api/src/common/auth/auth.guard';
import type { Grant } from '../../apps/api/src/common/auth/visibility';
import type { ApiRequest } from '../../apps/api/src/common/http/request';

const prefix = process.env.BENCH_SCOPED_ACTOR_PREFIX ?? '';
const grants = JSON.parse(process.env.BENCH_SCOPED_GRANTS ?? '[]') as Grant[];

runMain(async () => {
  if (!prefix) throw new Error('BENCH_SCOPED_ACTOR_PREFIX is not set');
  const app = await createApiApp();
  const guard = app.get(AuthGuard);
  const authenticate = guard.canActivate.bind(guard);
  guard.canActivate = async (context: ExecutionContext) => {
    const allowed = await authenticate(context);
    const req = context.switchToHttp().getRequest<ApiRequest>();
    if (req.principal?.actor.startsWith(prefix)) req.principal = { ...req.principal, grants };
    return allowed;
  };
  exitOnSignals(app);
  const config = app.get<AppConfig>(APP_CONFIG);
  await app.listen(config.server.port, config.server.host);
  app.get(PinoNestLogger).log(`api (bench, scoped grants for ${prefix}*) listening on http://${config.server.host}:${config.server.port}`);
}, 'api');
