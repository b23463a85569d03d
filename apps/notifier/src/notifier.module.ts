import { Module } from '@nestjs/common';
import { ClusterCounters } from '@certctl/observability';
import { ChannelRegistry } from './channels/channel-registry';
import { DeliveryService } from './delivery.service';
import { DigestScheduler } from './digest.scheduler';
import { NotificationRepository } from './notification.repository';
import { NotifyProcessor } from './notify.processor';
import { NotifyWorker } from './notify.worker';
import { NotificationReconciler } from './reconciler.service';

/** Alert delivery: the `notify` worker, its six channels, the reconciler and the digest schedule. */
@Module({
  providers: [
    ChannelRegistry, NotificationRepository, DeliveryService, NotifyProcessor, NotifyWorker, NotificationReconciler,
    DigestScheduler, ClusterCounters,
  ],
  exports: [NotificationReconciler, DigestScheduler],
})
export class NotifierModule {}
