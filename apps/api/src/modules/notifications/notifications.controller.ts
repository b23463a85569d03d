import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@certctl/config';
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
import { RequirePermission } from '../../common/auth/permission.decorator';

@ApiTags('notifications')
@ApiBearerAuth()
@Controller('notifications')
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService, @Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** Each notification carries the delivery budget it runs under, so "retry 2 of N" needs no guess. */
  private view(row: NotificationEventEntity): NotificationView {
    return Object.assign(row, { max_attempts: this.config.notifications.maxAttempts });
  }

  @Get()
  @Returns(pageOf(Schemas.Notification))
  @RequirePermission('notification.read', { scope: 'rows' })
  async list(@CurrentPrincipal() actor: Principal, @Query() query: NotificationQuery): Promise<Page<NotificationView>> {
    const page = await this.notifications.list(actor, query);
    return { ...page, data: page.data.map((row) => this.view(row)) };
  }

  @Post()
  @Returns(Schemas.Notification, 201)
  @RequirePermission('notification.edit', { scope: 'rows' })
  async create(@CurrentPrincipal() actor: Principal, @Body() body: CreateNotificationDto, @RequestId() requestId: string): Promise<NotificationView> {
    return this.view(await this.notifications.create(actor, body, requestId));
  }

  /** Requeues every dead notification matching the filter (all of them without one). */
  @Post('bulk-requeue')
  @HttpCode(200)
  @Returns(objectOf({ total_matched: int, total_requeued: int, total_skipped: int, notification_ids: strings }))
  @RequirePermission('notification.edit', { scope: 'rows' })
  bulkRequeue(@CurrentPrincipal() actor: Principal, @Body() body: BulkRequeueDto, @RequestId() requestId: string): Promise<BulkRequeueResult> {
    return this.notifications.bulkRequeue(actor, body, requestId);
  }

  @Get(':id')
  @Returns(Schemas.Notification)
  @RequirePermission('notification.read', { scope: 'rows' })
  async get(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<NotificationView> {
    return this.view(await this.notifications.get(actor, id));
  }

  @Post(':id/read')
  @HttpCode(200)
  @Returns(Schemas.Notification)
  @RequirePermission('notification.read', { scope: 'rows' })
  async read(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<NotificationView> {
    return this.view(await this.notifications.markRead(actor, id));
  }

  @Post(':id/requeue')
  @HttpCode(200)
  @Returns(Schemas.Notification)
  @RequirePermission('notification.edit', { scope: 'rows' })
  async requeue(@CurrentPrincipal() actor: Principal, @Param('id') id: string, @RequestId() requestId: string): Promise<NotificationView> {
    return this.view(await this.notifications.requeue(actor, id, requestId));
  }
}

/** A notification as the API shows it: its row plus the delivery budget (CERTCTL_NOTIFICATION_MAX_ATTEMPTS). */
export type NotificationView = NotificationEventEntity & { max_attempts: number };
