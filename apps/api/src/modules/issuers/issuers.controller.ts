import { CrudController } from '../../common/crud.controller';
import { IssuerQuery } from './dto/issuer.dto';
import { CreateIssuerDto, UpdateIssuerDto } from './dto/issuer.dto';
import { IssuersService } from './issuers.service';

export class IssuersController extends CrudController({
  path: 'issuers', tag: 'issuers', service: IssuersService,
  createDto: CreateIssuerDto, updateDto: UpdateIssuerDto, queryDto: IssuerQuery,
}) {}
