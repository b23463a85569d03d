import { CrudController } from '../../common/crud.controller';
import { SearchPageQuery } from '../../common/http/list-query';
import { CreateTeamDto, UpdateTeamDto } from './dto/team.dto';
import { TeamsService } from './teams.service';
import { Schemas } from '../../common/openapi/resources';

export class TeamsController extends CrudController({
  path: 'teams', tag: 'teams', service: TeamsService,
  createDto: CreateTeamDto, updateDto: UpdateTeamDto, queryDto: SearchPageQuery, resource: Schemas.Team,
  permissions: { read: 'team.read', edit: 'team.edit', delete: 'team.delete' }, rows: 'read',
}) {}
