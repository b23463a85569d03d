import { Body, Param, Put, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Principal } from '../../common/auth/principal';
import { RequirePermission } from '../../common/auth/permission.decorator';
import { CrudController } from '../../common/crud.controller';
import { SearchPageQuery } from '../../common/http/list-query';
import { CurrentPrincipal } from '../../common/http/request';
import { Returns } from '../../common/openapi/response-schemas';
import { Schemas } from '../../common/openapi/resources';
import { ApprovalSchema } from '../approvals/approvals.controller';
import { CreateProfileDto, UpdateProfileDto } from './dto/profile.dto';
import { ProfilesService } from './profiles.service';

export class ProfilesController extends CrudController({
  path: 'profiles', tag: 'profiles', service: ProfilesService,
  createDto: CreateProfileDto, updateDto: UpdateProfileDto, queryDto: SearchPageQuery, resource: Schemas.CertificateProfile,
  permissions: { read: 'profile.read', edit: 'profile.edit', delete: 'profile.delete' }, scope: 'profile', referenceList: true,
}) {
  /**
   * certctl's answer to an edit of an approval-gated profile (`edits_require_approval`): 202 with the
   * `profile_edit` approval request; the profile changes only when someone other than the editor approves.
   */
  @Put(':id')
  @Returns(Schemas.CertificateProfile)
  @Returns(ApprovalSchema, 202)
  @RequirePermission('profile.edit', { scope: { type: 'profile', param: 'id' } })
  async update(
    @CurrentPrincipal() actor: Principal, @Param('id') id: string, @Body() body: UpdateProfileDto, @Res({ passthrough: true }) res?: Response,
  ): Promise<object> {
    const outcome = await (this.service as ProfilesService).updateOrRequest(actor, id, body);
    if (outcome.approval) res?.status(202);
    return outcome.approval ?? outcome.profile!;
  }
}
