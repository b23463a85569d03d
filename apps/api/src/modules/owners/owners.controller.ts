import { CrudController } from '../../common/crud.controller';
import { OwnerQuery } from './dto/owner.dto';
import { CreateOwnerDto, UpdateOwnerDto } from './dto/owner.dto';
import { OwnersService } from './owners.service';
import { Schemas } from '../../common/openapi/resources';

export class OwnersController extends CrudController({
  path: 'owners', tag: 'owners', service: OwnersService,
  createDto: CreateOwnerDto, updateDto: UpdateOwnerDto, queryDto: OwnerQuery, resource: Schemas.Owner,
  permissions: { read: 'owner.read', edit: 'owner.edit', delete: 'owner.delete' }, rows: 'read',
}) {}
