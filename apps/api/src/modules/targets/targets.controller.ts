import { CrudController } from '../../common/crud.controller';
import { TargetQuery } from './dto/target.dto';
import { CreateTargetDto, UpdateTargetDto } from './dto/target.dto';
import { TargetsService } from './targets.service';

export class TargetsController extends CrudController({
  path: 'targets', tag: 'targets', service: TargetsService,
  createDto: CreateTargetDto, updateDto: UpdateTargetDto, queryDto: TargetQuery,
}) {}
