import { CrudController } from '../../common/crud.controller';
import { SearchPageQuery } from '../../common/http/list-query';
import { CreateProfileDto, UpdateProfileDto } from './dto/profile.dto';
import { ProfilesService } from './profiles.service';

export class ProfilesController extends CrudController({
  path: 'profiles', tag: 'profiles', service: ProfilesService,
  createDto: CreateProfileDto, updateDto: UpdateProfileDto, queryDto: SearchPageQuery,
}) {}
