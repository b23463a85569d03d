import { Controller, Get, Global, Header, Inject, Injectable, Module, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { APP_CONFIG, AppConfig } from '@certctl/config';
import { PublicRoute } from './health';

/** The app's own prom-client registry (process, Node, HTTP, queue and job metrics). */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/** The label every app's own metrics carry with the app's name (api, orchestrator, notifier, scanner). */
export const APP_LABEL = 'app';

/** The HTTP duration histogram, one per registry (a provider, since Nest builds middleware more than once). */
@Injectable()
export class HttpMetrics {
  readonly duration: Histogram<'method' | 'route' | 'status_code'>;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }
}

/**
 * Leaves a request out of http_request_duration_seconds: a held long-poll lasts its wait by design, and would
 * otherwise make the api's latency p99 (and its alert) the agents' wait time.
 */
export function excludeFromLatency(res: Response): void {
  res.locals.excludeFromLatency = true;
}

@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: HttpMetrics) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const stop = this.metrics.duration.startTimer();
    res.on('finish', () => {
      if (res.locals.excludeFromLatency) return;
      // The route pattern, not the path: ids in labels would explode cardinality.
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      stop({ method: req.method, route, status_code: String(res.statusCode) });
    });
    next();
  }
}

@PublicRoute()
@Controller()
export class MetricsController {
  constructor(@Inject(METRICS_REGISTRY) private readonly registry: Registry) {}

  /** Prometheus scrape endpoint of this process. */
  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: METRICS_REGISTRY,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const registry = new Registry();
        // `app`, not `service`: the Prometheus Operator sets its own `service` target label, which would rename
        // ours to exported_service and empty every query on it. Every metric of this registry inherits it.
        registry.setDefaultLabels({ [APP_LABEL]: config.serviceName });
        collectDefaultMetrics({ register: registry });
        return registry;
      },
    },
    HttpMetrics,
  ],
  controllers: [MetricsController],
  exports: [METRICS_REGISTRY, HttpMetrics],
})
export class MetricsModule {}
