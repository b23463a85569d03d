import { CrudController } from '../../common/crud.controller';
import { SearchPageQuery } from '../../common/http/list-query';
import { CreateProfileDto, UpdateProfileDto } from './dto/profile.dto';
import { ProfilesService } from './profiles.service';
import { Schemas } from '../../common/openapi/resources';

export class ProfilesController extends CrudController({
  path: 'profiles', tag: 'profiles', service: ProfilesService,
  createDto: CreateProfileDto, updateDto: UpdateProfileDto, queryDto: SearchPageQuery, resource: Schemas.CertificateProfile,
  permissions: { read: 'profile.read', edit: 'profile.edit', delete: 'profile.delete' }, scope: 'profile', rows: 'list',
}) {}
