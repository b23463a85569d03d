import { Inject, Injectable } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { AnyJob, Queue } from '@certctl/contracts';
import { BaseProcessor, METRICS_REGISTRY } from '@certctl/observability';
import { DeliveryService } from './delivery.service';

/**
 * The `notify` queue's processor: timing, logging and job metrics come from BaseProcessor, the work from
 * DeliveryService. Its BullMQ worker is started by NotifyWorker (see there for why not @Processor).
 */
@Injectable()
export class NotifyProcessor extends BaseProcessor<typeof Queue.Notify> {
  constructor(private readonly delivery: DeliveryService, @Inject(METRICS_REGISTRY) registry: Registry) {
    super(Queue.Notify, registry);
  }

  protected handle(job: AnyJob<typeof Queue.Notify>): Promise<void> {
    switch (job.name) {
      case 'notification.send':
        return this.delivery.deliver(job);
    }
  }
}
