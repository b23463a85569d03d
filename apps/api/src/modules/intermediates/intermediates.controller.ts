import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Principal } from '../../common/auth/principal';
import { CurrentPrincipal } from '../../common/http/request';
import { CreateIntermediateDto } from './dto/intermediate.dto';
import { IntermediateCa, IntermediatesService } from './intermediates.service';

@ApiTags('intermediates')
@ApiBearerAuth()
@Controller()
export class IntermediatesController {
  constructor(private readonly intermediates: IntermediatesService) {}

  /** A CA under the issuer's root (or under `parent_ca_id`), signed now; 400 naming the field a tree rule refuses. */
  @Post('issuers/:id/intermediates')
  create(@CurrentPrincipal() actor: Principal, @Param('id') issuerId: string, @Body() body: CreateIntermediateDto): Promise<IntermediateCa> {
    return this.intermediates.create(actor, issuerId, body);
  }

  @Get('issuers/:id/intermediates')
  list(@Param('id') issuerId: string): Promise<{ data: IntermediateCa[]; total: number }> {
    return this.intermediates.list(issuerId);
  }

  @Get('intermediates/:id')
  get(@Param('id') id: string): Promise<IntermediateCa> {
    return this.intermediates.get(id);
  }

  @Post('intermediates/:id/retire')
  @HttpCode(200)
  retire(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<IntermediateCa> {
    return this.intermediates.retire(actor, id);
  }
}
