import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { Schemas } from '../../common/openapi/resources';
import { Returns, int, objectOf, pageOf, strings } from '../../common/openapi/response-schemas';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { NotificationEventEntity } from '@certctl/db';
import type { Principal } from '../../common/auth/principal';
import type { Page } from '../../common/http/pagination';
import { CurrentPrincipal, RequestId } from '../../common/http/request';
import type { BulkRequeueResult } from './dto/bulk-requeue-result';
import { BulkRequeueDto, CreateNotificationDto, NotificationQuery } from './dto/notification.dto';
import { NotificationsService } from './notifications.service';

@ApiTags('notifications')
@ApiBearerAuth()
@Controller('notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  @Returns(pageOf(Schemas.Notification))
  list(@Query() query: NotificationQuery): Promise<Page<NotificationEventEntity>> {
    return this.notifications.list(query);
  }

  @Post()
  @Returns(Schemas.Notification, 201)
  create(@CurrentPrincipal() actor: Principal, @Body() body: CreateNotificationDto, @RequestId() requestId: string): Promise<NotificationEventEntity> {
    return this.notifications.create(actor, body, requestId);
  }

  /** Requeues every dead notification matching the filter (all of them without one). */
  @Post('bulk-requeue')
  @HttpCode(200)
  @Returns(objectOf({ total_matched: int, total_requeued: int, total_skipped: int, notification_ids: strings }))
  bulkRequeue(@CurrentPrincipal() actor: Principal, @Body() body: BulkRequeueDto, @RequestId() requestId: string): Promise<BulkRequeueResult> {
    return this.notifications.bulkRequeue(actor, body, requestId);
  }

  @Get(':id')
  @Returns(Schemas.Notification)
  get(@Param('id') id: string): Promise<NotificationEventEntity> {
    return this.notifications.get(id);
  }

  @Post(':id/read')
  @HttpCode(200)
  @Returns(Schemas.Notification)
  read(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<NotificationEventEntity> {
    return this.notifications.markRead(actor, id);
  }

  @Post(':id/requeue')
  @HttpCode(200)
  @Returns(Schemas.Notification)
  requeue(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @RequestId() requestId: string): Promise<NotificationEventEntity> {
    return this.notifications.requeue(actor, id, requestId);
  }
}
